"""A deterministic, realistic event stream (fixed ids and times) for replay tests and snapshots."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rlm_tui.engine import events as ev

T0 = 1_767_000_000.0


def sample_events(question: str = "What does this project do?") -> list[ev.Event]:
    out: list[ev.Event] = []
    t = [T0]

    def at(dt: float) -> float:
        t[0] += dt
        return t[0]

    R = dict(run_id="run1")
    out.append(ev.Status(**R, call_id="sess", message="Sandbox ready", ts=at(0)))
    out.append(ev.RunStarted(**R, call_id="run1", task=question, inputs={"question": question},
                             model="openai/gpt-4o-mini", sub_model="openai/gpt-4o-mini",
                             project="/project", ts=at(0.01)))
    # iteration 1: list files
    out.append(ev.IterationStarted(**R, call_id="it1", parent_id="run1", iteration=1, ts=at(0.01)))
    out.append(ev.LMCallStarted(**R, call_id="lm1", parent_id="it1", model="openai/gpt-4o-mini",
                                role="root", prompt=f"Question: {question}", ts=at(0.01)))
    code1 = "import os\nfiles = sorted(os.listdir('/project'))\nprint(files)"
    out.append(ev.LMCallFinished(**R, call_id="lm1", parent_id="it1", model="openai/gpt-4o-mini",
                                 role="root", response=f"List the files.\n```python\n{code1}\n```",
                                 prompt_tokens=812, completion_tokens=64, cost_usd=0.00016,
                                 latency_s=1.2, ts=at(1.2)))
    out.append(ev.CodeCell(**R, call_id="it1", parent_id="run1", iteration=1,
                           reasoning="I'll start by listing the project files.", code=code1,
                           ts=at(0.01)))
    out.append(ev.CellOutput(**R, call_id="it1", parent_id="run1", iteration=1,
                             stdout="['README.md', 'docs', 'src']\n", stderr="", error=None,
                             duration_s=0.02, ts=at(0.02)))
    out.append(ev.VariablesChanged(**R, call_id="it1", parent_id="run1", variables=[
        dict(name="files", type="list", size=3, preview="['README.md', 'docs', 'src']")], ts=at(0)))
    # iteration 2: batched sub-calls and a child rlm_query run
    out.append(ev.IterationStarted(**R, call_id="it2", parent_id="run1", iteration=2, ts=at(0.01)))
    out.append(ev.LMCallStarted(**R, call_id="lm2", parent_id="it2", model="openai/gpt-4o-mini",
                                role="root", prompt="['README.md', 'docs', 'src']", ts=at(0.01)))
    code2 = ("texts = [open(f'/project/{f}').read() for f in ['README.md', 'src/app.py']]\n"
             "notes = llm_query_batched([f'Summarise:\\n{t}' for t in texts])\n"
             "deep = rlm_query('How is src/ organised?')\nprint(notes, deep)")
    out.append(ev.LMCallFinished(**R, call_id="lm2", parent_id="it2", model="openai/gpt-4o-mini",
                                 role="root", response=code2, prompt_tokens=1040,
                                 completion_tokens=120, cost_usd=0.00023, latency_s=2.0,
                                 ts=at(2.0)))
    out.append(ev.CodeCell(**R, call_id="it2", parent_id="run1", iteration=2,
                           reasoning="Summarise the key files in parallel, and ask a child RLM "
                                     "about the layout of src/.", code=code2, ts=at(0.01)))
    out.append(ev.SubCallStarted(**R, call_id="b1", parent_id="it2", function="llm_query_batched",
                                 model="openai/gpt-4o-mini", prompt="2 prompts", ts=at(0.01)))
    for i, name in enumerate(["README", "app"]):
        out.append(ev.SubCallStarted(**R, call_id=f"q{i}", parent_id="b1", function="llm_query",
                                     model="openai/gpt-4o-mini", prompt=f"Summarise: {name}",
                                     ts=at(0.001)))
    for i, name in enumerate(["A tiny demo project.", "Prints a greeting."]):
        out.append(ev.SubCallFinished(**R, call_id=f"q{i}", parent_id="b1", function="llm_query",
                                      model="openai/gpt-4o-mini", response=name, duration_s=0.8,
                                      prompt_tokens=300, completion_tokens=12, cost_usd=0.00005,
                                      ts=at(0.8)))
    out.append(ev.SubCallFinished(**R, call_id="b1", parent_id="it2", function="llm_query_batched",
                                  model="openai/gpt-4o-mini", response="2 answers", duration_s=0.85,
                                  ts=at(0.01)))
    out.append(ev.SubCallStarted(**R, call_id="rq", parent_id="it2", function="rlm_query",
                                 model="openai/gpt-4o-mini", prompt="How is src/ organised?",
                                 ts=at(0.01)))
    out.append(ev.RunStarted(**R, call_id="child", parent_id="rq", task="How is src/ organised?",
                             inputs={"question": "How is src/ organised?"},
                             model="openai/gpt-4o-mini", sub_model="openai/gpt-4o-mini",
                             project="/project", depth=1, ts=at(0.01)))
    out.append(ev.IterationStarted(**R, call_id="cit1", parent_id="child", iteration=1, ts=at(0.01)))
    out.append(ev.LMCallStarted(**R, call_id="clm1", parent_id="cit1", model="openai/gpt-4o-mini",
                                role="root@1", prompt="How is src/ organised?", ts=at(0.01)))
    out.append(ev.LMCallFinished(**R, call_id="clm1", parent_id="cit1", model="openai/gpt-4o-mini",
                                 role="root@1", response="SUBMIT(answer='one module')",
                                 prompt_tokens=400, completion_tokens=30, cost_usd=0.00008,
                                 latency_s=0.9, ts=at(0.9)))
    out.append(ev.CodeCell(**R, call_id="cit1", parent_id="child", iteration=1, reasoning="",
                           code="SUBMIT(answer='one module')", ts=at(0.01)))
    out.append(ev.CellOutput(**R, call_id="cit1", parent_id="child", iteration=1, stdout="",
                             stderr="", error=None, duration_s=0.01, ts=at(0.01)))
    out.append(ev.RunFinished(**R, call_id="child", parent_id="rq", outputs={"answer": "one module"},
                              partial=False, usage={}, duration_s=0.95, ts=at(0.01)))
    out.append(ev.SubCallFinished(**R, call_id="rq", parent_id="it2", function="rlm_query",
                                  model="openai/gpt-4o-mini", response="one module",
                                  duration_s=0.97, ts=at(0.01)))
    out.append(ev.CellOutput(**R, call_id="it2", parent_id="run1", iteration=2,
                             stdout="['A tiny demo project.', 'Prints a greeting.'] one module\n",
                             stderr="", error=None, duration_s=1.9, ts=at(0.01)))
    out.append(ev.VariablesChanged(**R, call_id="it2", parent_id="run1", variables=[
        dict(name="files", type="list", size=3, preview="['README.md', 'docs', 'src']"),
        dict(name="texts", type="list", size=2, preview="['# Demo project\\n…', 'def main…']"),
        dict(name="notes", type="list", size=2, preview="['A tiny demo project.', …]"),
        dict(name="deep", type="str", size=10, preview="'one module'")], ts=at(0)))
    answer = ("It is a **tiny demo project**:\n\n- `src/app.py:1-40` prints a greeting\n"
              "- `docs/` holds a stub guide\n\nAll code lives in one module.")
    out.append(ev.Submitted(**R, call_id="it2", parent_id="run1", outputs={"answer": answer},
                            ts=at(0.01)))
    out.append(ev.RunFinished(**R, call_id="run1", outputs={"answer": answer}, partial=False,
                              usage={"prompt_tokens": 2852, "completion_tokens": 238,
                                     "cost_usd": 0.00057}, duration_s=5.2, ts=at(0.01)))
    return out


def write_trace(path: Path, events: list[ev.Event] | None = None, project: Path | None = None) -> Path:
    """The events as a trace file; `project`: the folder its runs say they ran over."""
    events = events or sample_events()
    if project is not None:
        events = [replace(e, project=str(project)) if isinstance(e, ev.RunStarted) else e for e in events]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_json() + "\n" for e in events))
    return path
