"""What a DSPy optimiser may change in an `RLM`: its root instructions and its enabled skills' text.

Each is a `dspy.Predict` that holds text and is never called itself: `root` holds the task's
signature (its instructions open the root LM's task, "Task: ..."), `skill_texts['name']` a
skill's instructions (the system prompt's skill section is built from them). So
`named_predictors()`, `GEPA`'s `with_instructions` rewrites, `save` and `load` work as on any DSPy
program; `save`/`load` also keep the `system_prompt` template. A finished run is recorded in
`dspy.settings.trace` against each component, as a `Predict` call would be, so that GEPA has the
run's inputs, steps and outputs to reflect on.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import dspy

from rlm_tui.engine.skill_setup import PreparedSkills

SYSTEM_PROMPT_KEY = "system_prompt"


class Components:
    """Mixed into `RLM` (a `dspy.Module`): the optimisable parts and how they are copied and saved."""

    root: dspy.Predict
    skill_texts: dict[str, dspy.Predict]
    system_prompt: str | None
    skills: PreparedSkills

    @property
    def signature(self) -> type[dspy.Signature]:
        """The task's signature, with the root instructions an optimiser may have rewritten."""
        return self.root.signature

    @signature.setter
    def signature(self, value: type[dspy.Signature]) -> None:
        if "root" in self.__dict__:
            self.root.signature = value
        else:
            self.root = dspy.Predict(value)

    def _init_components(self, system_prompt: str | None) -> None:
        """The skills' components (after `self.skills` is prepared) and the system prompt template."""
        self.system_prompt = system_prompt
        self.skill_texts = {
            skill.name: dspy.Predict(self.signature.with_instructions(skill.instructions))
            for skill in self.skills.selected.enabled if skill.instructions.strip()
        }

    def _skills_text(self) -> str:
        """The system prompt's skill section, with each skill's current text."""
        selected = self.skills.selected
        enabled = tuple(
            dataclasses.replace(s, instructions=self.skill_texts[s.name].signature.instructions)
            if s.name in self.skill_texts else s
            for s in selected.enabled
        )
        return dataclasses.replace(selected, enabled=enabled).prompt(self.skills.tools)

    def deepcopy(self) -> Any:
        """A copy with its own components, sharing the rest (LMs, skills, event sinks), as DSPy's
        `Module.deepcopy` promises: optimisers copy a program once per candidate."""
        new = copy.copy(self)
        new.root = copy.deepcopy(self.root)
        new.skill_texts = {name: copy.deepcopy(p) for name, p in self.skill_texts.items()}
        return new

    def dump_state(self, json_mode: bool = True) -> dict[str, Any]:
        state = super().dump_state(json_mode=json_mode)  # type: ignore[misc]
        state[SYSTEM_PROMPT_KEY] = self.system_prompt
        return state

    def load_state(self, state: dict[str, Any], **kwargs: Any) -> Any:
        super().load_state(state, **kwargs)  # type: ignore[misc]
        self.system_prompt = state.get(SYSTEM_PROMPT_KEY, self.system_prompt)
        return self

    def _record_run(self, inputs: dict[str, Any], prediction: dspy.Prediction) -> dspy.Prediction:
        """Put the run in `dspy.settings.trace` (when one is kept) against every component."""
        trace = dspy.settings.trace
        if trace is not None:
            outputs = dspy.Prediction(**{name: prediction[name] for name in self.signature.output_fields})
            seen = {**inputs, "trajectory": prediction.trajectory}
            for predictor in (self.root, *self.skill_texts.values()):
                trace.append((predictor, seen, outputs))
        return prediction
