"""Optimisation: `RLM.named_predictors()` are the root instructions and the enabled skills' text;
the system prompt can be replaced; `save`/`load` keep them; `dspy.GEPA` optimises an RLM end to end
against the scripted server (a scripted reflection LM proposes the better instructions)."""

from __future__ import annotations

import json

import dspy

from rlm_tui.engine.rlm import RLM
from tests.engine.test_engine import code, make_rlm

BETTER = "Answer with the question's text in UPPERCASE letters."


def first_user_text(request: dict) -> str:
    return next(str(m.get("content")) for m in request["messages"] if m.get("role") == "user")


def system_text(request: dict) -> str:
    return str(request["messages"][0].get("content"))


def replies(request: dict) -> str:
    """The root LM follows the instructions it is given; the reflection LM proposes BETTER."""
    if request.get("model") == "reflect":
        return json.dumps({"new_instruction": BETTER})  # GEPA's proposer reads JSON (DSPy's JSONAdapter)
    if "UPPERCASE" in first_user_text(request):
        return code("SUBMIT(answer=question.upper())")
    return code("SUBMIT(answer=question)")


def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
    score = float(pred.answer == gold.answer)
    feedback = "Correct." if score else f"Expected {gold.answer!r}, got {pred.answer!r}."
    return dspy.Prediction(score=score, feedback=feedback)


def score(program: RLM, examples: list[dspy.Example]) -> float:
    return sum(metric(ex, program(**ex.inputs())).score for ex in examples) / len(examples)


def test_the_components_are_the_root_instructions_and_skills_text(scripted_server, project):
    rlm, _ = make_rlm(scripted_server, project, signature="question -> answer", skills=["codebase"])
    names = [name for name, _ in rlm.named_predictors()]
    assert names == ["root", "skill_texts['codebase']"]
    skill = dict(rlm.named_predictors())["skill_texts['codebase']"]
    assert "codebase" in skill.signature.instructions
    skill.signature = skill.signature.with_instructions("Use find() from the codebase module. SKILL-MARK")
    assert "SKILL-MARK" in rlm.new_context().skills_text  # the prompt takes the rewritten text


def test_rewritten_root_instructions_reach_the_root_lm(scripted_server, project):
    scripted_server.default(replies)
    rlm, _ = make_rlm(scripted_server, project)
    assert rlm(question="abc").answer == "abc"
    rlm.root.signature = rlm.root.signature.with_instructions(BETTER)
    assert rlm.signature.instructions == BETTER
    assert rlm(question="abc").answer == "ABC"
    assert f"Task: {BETTER}" in first_user_text(scripted_server.chat_requests("root")[-1].body)


def test_the_system_prompt_can_be_replaced_and_save_load_keep_everything(scripted_server, project, tmp_path):
    scripted_server.default(replies)
    template = "You are terse. Reply with one python block. Finish with SUBMIT({outputs}); output cut at {output_limit:,}. {not a field}"
    rlm, _ = make_rlm(scripted_server, project, system_prompt=template, skills=["codebase"])
    rlm.root.signature = rlm.root.signature.with_instructions(BETTER)
    rlm.skill_texts["codebase"].signature = rlm.skill_texts["codebase"].signature.with_instructions("SKILL-MARK")
    assert rlm(question="abc").answer == "ABC"
    sent = system_text(scripted_server.chat_requests("root")[-1].body)
    assert sent == "You are terse. Reply with one python block. Finish with SUBMIT(answer=str); output cut at 4,000. {not a field}\n"

    path = tmp_path / "program.json"
    rlm.save(path)
    fresh, _ = make_rlm(scripted_server, project, skills=["codebase"])
    assert fresh(question="abc").answer == "abc"
    fresh.load(path)
    assert fresh.signature.instructions == BETTER
    assert fresh.skill_texts["codebase"].signature.instructions == "SKILL-MARK"
    assert fresh.system_prompt == template
    assert fresh(question="xyz").answer == "XYZ"


def test_a_finished_run_is_in_the_dspy_trace_for_optimisers(scripted_server, project):
    scripted_server.default(replies)
    rlm, _ = make_rlm(scripted_server, project)
    with dspy.context(trace=[]):
        rlm(question="abc")
        trace = dspy.settings.trace
    assert len(trace) == 1
    predictor, inputs, outputs = trace[0]
    assert predictor is rlm.root and inputs["question"] == "abc" and outputs.answer == "abc"
    assert inputs["trajectory"][0]["code"] == "SUBMIT(answer=question)"


def test_gepa_optimises_an_rlm_end_to_end(scripted_server, project):
    scripted_server.default(replies)
    train = [dspy.Example(question=q, answer=q.upper()).with_inputs("question") for q in ("abc", "hello")]
    student, _ = make_rlm(scripted_server, project)
    reflection = dspy.LM("openai/reflect", api_base=scripted_server.url, api_key="test-key", cache=False)
    optimiser = dspy.GEPA(metric=metric, reflection_lm=reflection, max_metric_calls=12, reflection_minibatch_size=2,
                          use_merge=False, num_threads=1, track_stats=True)
    before = score(student, train)
    optimised = optimiser.compile(student, trainset=train, valset=train)
    after = score(optimised, train)

    assert (before, after) == (0.0, 1.0)
    assert optimised.signature.instructions == BETTER
    assert student.signature.instructions != BETTER  # the student is left as it was
    assert any(r.model == "reflect" for r in scripted_server.chat_requests())
    assert optimised.detailed_results.val_aggregate_scores[optimised.detailed_results.best_idx] == 1.0
