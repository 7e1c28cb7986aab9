"""Turn the skills a run asks for into what the sandbox and the prompt need."""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.folders import make_private
from rlm_tui.sandbox.image import image_dir
from rlm_tui.skills import Catalogue, Skill, SkillError, SkillSet, discover, select, stage


@dataclass
class PreparedSkills:
    """Staged modules (mounted at /skills), prompt text, host tools, `load_skill`, and notes
    for the user (host tools left off in an untrusted project, packages trusted on first use)."""

    catalogue: Catalogue
    selected: SkillSet
    folder: Path
    sys_path: list[str]
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.selected.prompt(self.tools)

    def load(self, name: str) -> str:
        """The full instructions of a skill (for `load_skill(name)` in the guest)."""
        skill = self.catalogue.skills.get(name)
        if skill is None:
            raise KeyError(f"no skill {name!r}; known: {', '.join(sorted(self.catalogue.skills))}")
        note = ""
        if skill.untrusted_tools is not None:
            note = "\n\n(Its host tools are disabled until the user trusts this project: `rlm-tui trust`.)"
        if skill not in self.selected.enabled and (skill.modules or skill.tools):
            note = "\n\n(Its modules and tools are not loaded in this session; enable the skill to use them.)"
        return f"## Skill: {skill.name}\n{skill.instructions}{note}"


def prepare_skills(project: Path, wanted: Iterable[str | Skill],
                   tools: Mapping[str, Callable[..., Any]]) -> PreparedSkills:
    names = [w for w in wanted if isinstance(w, str)]
    objects = [w for w in wanted if isinstance(w, Skill)]
    catalogue = discover(project, objects)
    selected = select(catalogue, [*names, *(s.name for s in objects)])
    clash = set(selected.tools) & set(tools)
    if clash:
        raise SkillError(f"tool(s) {', '.join(sorted(clash))} defined both by a skill and by tools=")
    notes = [untrusted_note(catalogue)] if catalogue.untrusted_tools else []
    folder = make_private("skills")  # swept at a later start if this process is killed
    atexit.register(shutil.rmtree, folder, True)
    sys_path = stage(selected, folder, image_dir() / "lib" / "python315.zip", warn=notes.append)
    return PreparedSkills(catalogue, selected, folder, sys_path, {**selected.tools, **tools}, notes)


def untrusted_note(catalogue: Catalogue) -> str:
    code = catalogue.host_code
    files = ", ".join(code.relative(p) for p in catalogue.untrusted_tools) if code else ""
    why = "too large to check" if code is not None and code.too_large else "the project is not trusted"
    return (f"project skill host tools not loaded ({why}): {files}. "
            "Trust the project to allow them: --trust, or `rlm-tui trust`")
