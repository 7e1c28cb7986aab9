"""predict-rlm style code on the engine: top-level `await` with parallel host calls, typed
`predict` (Literal, REPL dataclasses, images), and File inputs and outputs. Real litellm HTTP
to the scripted server, real WASM sandbox."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from rlm_tui.engine.events import SubCallFinished, SubmitRejected
from tests.engine.test_engine import Recorder, make_rlm
from tests.support.projects import write_project
from tests.support.scripted_server import RecordedRequest, Reply, last_user_text

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def code(body: str) -> str:
    return f"Let me work.\n```python\n{body}\n```"


def chat(**fields: object) -> str:
    """A reply in DSPy's ChatAdapter format."""
    return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in fields.items()) + "[[ ## completed ## ]]"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"hello.txt": "hello\n", "pic.png": PNG})


def max_overlap(requests: list[RecordedRequest]) -> int:
    edges = sorted([(r.start, 1) for r in requests] + [(r.end, -1) for r in requests])
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def labelled(request: dict) -> Reply:
    """Sub-LM: label each `item N` by parity, 300 ms per call."""
    number = int(re.search(r"item (\d+)", last_user_text(request)).group(1))
    return Reply(chat(label="even" if number % 2 == 0 else "odd", n=number), latency_s=0.3)


# -- top-level await ------------------------------------------------------------------------------


async def test_gathered_predicts_run_in_parallel(scripted_server, project):
    scripted_server.default(labelled)
    scripted_server.script("root", code(
        "import asyncio\n"
        "rs = await asyncio.gather(*[predict(\"text -> label: Literal['even', 'odd'], n: int\", text=f'item {i}')"
        " for i in range(8)])\n"
        "print([(r['label'], r['n']) for r in rs])"
    ), code("SUBMIT(answer=str([r['n'] for r in rs]))"))
    rlm, rec = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="label them")

    assert prediction.answer == str(list(range(8)))
    expected = [("even" if i % 2 == 0 else "odd", i) for i in range(8)]
    assert str(expected) in prediction.trajectory[0]["output"]
    subs = scripted_server.chat_requests("sub")
    assert len(subs) == 8
    assert max_overlap(subs) == 8, "all eight calls were in flight at once"
    span = max(r.end for r in subs) - min(r.start for r in subs)
    assert span < 8 * 0.3 / 2, span
    assert [e.function for e in rec.of(SubCallFinished)].count("predict") == 8
    assert prediction.usage.lm_calls == 2 + 8  # every sub-call counts against the budget


async def test_sync_forms_still_work_and_run_one_by_one(scripted_server, project):
    scripted_server.default(labelled)
    scripted_server.script("root", code(
        "rs = [predict(\"text -> label: Literal['even', 'odd'], n: int\", text=f'item {i}') for i in range(3)]\n"
        "print([r['label'] for r in rs])"
    ), code("SUBMIT(answer=','.join(r['label'] for r in rs))"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="label them")
    assert prediction.answer == "even,odd,even"
    assert max_overlap(scripted_server.chat_requests("sub")) == 1


async def test_awaited_llm_query_and_gathered_tools(scripted_server, project):
    seen: list[int] = []
    lock = threading.Lock()
    inside = [0]

    def double(x: int) -> int:
        """Double a number (slowly)."""
        import time

        with lock:
            inside[0] += 1
            seen.append(inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        return 2 * x

    scripted_server.default(lambda request: Reply(f"echo: {last_user_text(request)}", latency_s=0.2))
    scripted_server.script("root", code(
        "import asyncio\n"
        "one = await llm_query('ping')\n"
        "many = await asyncio.gather(*(llm_query(f'q{i}') for i in range(4)))\n"
        "doubled = await asyncio.gather(*(double(x) for x in range(5)))\n"
        "print(one, many, doubled)"
    ), code("SUBMIT(answer=str(sum(doubled)))"))
    rlm, _ = make_rlm(scripted_server, project, tools={"double": double})
    prediction = await rlm.aforward(question="go")
    assert prediction.answer == "20"
    assert "echo: ping ['echo: q0', 'echo: q1', 'echo: q2', 'echo: q3'] [0, 2, 4, 6, 8]" in prediction.trajectory[0]["output"]
    assert max(seen) == 5, "the five tool calls overlapped"
    assert max_overlap(scripted_server.chat_requests("sub")[1:]) == 4


# -- typed predict ---------------------------------------------------------------------------------


async def test_predict_with_literal_and_a_repl_dataclass(scripted_server, project):
    def sub(request: dict) -> str:
        return chat(people='[{"name": "Ann", "age": 31}, {"name": "Bo", "age": 7, "tags": ["kid"]}]',
                    mood="up")

    scripted_server.default(sub)
    scripted_server.script("root", code(
        "from dataclasses import dataclass, field\n"
        "from typing import Literal\n"
        "@dataclass\n"
        "class Person:\n"
        "    '''Someone named in the text.'''\n"
        "    name: str\n"
        "    age: int\n"
        "    tags: list[str] = field(default_factory=list)\n"
        "r = predict(\"text -> people: list[Person], mood: Literal['up', 'down']\", text='Ann (31) and her son Bo (7)')\n"
        "print(type(r['people'][0]).__name__, r['people'], r['mood'])"
    ), code("SUBMIT(answer=' '.join(f'{p.name}:{p.age}' for p in r['people']))"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="who?")
    assert prediction.answer == "Ann:31 Bo:7"
    out = prediction.trajectory[0]["output"]
    assert "Person [Person(name='Ann', age=31, tags=[]), Person(name='Bo', age=7, tags=['kid'])] up" in out
    system = scripted_server.chat_requests("sub")[0].prompt_text
    assert "Someone named in the text." in system or '"age"' in system  # the class's schema reached the sub-LM
    assert "up" in system and "down" in system


async def test_a_literal_the_sub_model_breaks_is_an_error_for_the_root_model(scripted_server, project):
    scripted_server.default(lambda request: chat(mood="sideways"))
    scripted_server.script("root", code(
        "try:\n"
        "    predict(\"text -> mood: Literal['up', 'down']\", text='meh')\n"
        "except Exception as e:\n"
        "    print('failed:', type(e).__name__)"
    ), code("SUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="mood?")
    assert "failed:" in prediction.trajectory[0]["output"]


async def test_unknown_types_are_refused_without_touching_the_host(scripted_server, project):
    scripted_server.script("root", code(
        "for sig in ['text -> x: Nope', 'text -> x: os.system', \"text -> x: __import__('os')\", 'text -> x: antigravity']:\n"
        "    try:\n"
        "        predict(sig, text='a')\n"
        "    except ValueError as e:\n"
        "        print('refused:', str(e)[:40])"
    ), code("SUBMIT(answer='done')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert prediction.trajectory[0]["output"].count("refused:") == 4
    assert "antigravity" not in __import__("sys").modules
    assert not scripted_server.chat_requests("sub")


async def test_images_reach_a_multimodal_sub_model(scripted_server, project):
    scripted_server.default(lambda request: chat(caption="a single pixel"))
    scripted_server.script("root", code(
        "r = predict('photo: Image, question -> caption', photo=Image('/project/pic.png'), question='what?')\n"
        "r2 = predict('photo -> caption', photo=Image(open('/project/pic.png', 'rb').read()))\n"
        "print(r['caption'], r2['caption'])"
    ), code("SUBMIT(answer=r['caption'])"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="describe")
    assert prediction.answer == "a single pixel"
    for request in scripted_server.chat_requests("sub"):
        parts = [p for m in request.messages if isinstance(m.get("content"), list) for p in m["content"]]
        urls = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
        assert urls and urls[0].startswith("data:image/png;base64,"), request.messages


# -- File inputs and outputs -----------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOP-SECRET host file")
    (folder / "notes.txt").write_text("notes for the model\n")
    (folder / "other").mkdir()
    (folder / "other" / "notes.txt").write_text("other notes\n")
    return folder


async def test_file_inputs_are_staged_read_only_under_inputs(scripted_server, project, outside):
    scripted_server.script("root", code(
        "print(doc, refs)\n"
        "print(open(doc).read().strip(), [open(r).read().strip() for r in refs])\n"
        "try:\n"
        "    open(doc, 'a')\n"
        "except OSError as e:\n"
        "    print('read-only:', type(e).__name__)"
    ), code("SUBMIT(answer=open(doc).read().strip())"))
    rlm, _ = make_rlm(scripted_server, project, "doc: File, refs: list[File], question -> answer")
    before = (outside / "notes.txt").read_text()
    prediction = await rlm.aforward(doc=str(outside / "notes.txt"),
                                    refs=[outside / "notes.txt", outside / "other" / "notes.txt"], question="read")
    assert prediction.answer == "notes for the model"
    out = prediction.trajectory[0]["output"]
    assert "/inputs/doc/notes.txt ['/inputs/refs/notes.txt', '/inputs/refs/notes-2.txt']" in out
    assert "notes for the model ['notes for the model', 'other notes']" in out
    assert "read-only:" in out
    assert (outside / "notes.txt").read_text() == before
    first = scripted_server.chat_requests("root")[0].prompt_text
    assert "/inputs/doc/notes.txt" in first and "read-only files under /inputs" in first


async def test_file_outputs_are_copied_out_as_host_paths(scripted_server, project, tmp_path):
    scripted_server.script("root", code(
        "import os\n"
        "os.makedirs('/workspace/out', exist_ok=True)\n"
        "open('/workspace/out/report.md', 'w').write('# Report\\nall good\\n')\n"
        "open('/workspace/a.csv', 'w').write('x\\n1\\n')\n"
        "SUBMIT(report='/workspace/out/report.md', tables=['/workspace/a.csv'])"
    ))
    rlm, _ = make_rlm(scripted_server, project, "question -> report: File, tables: list[File]")
    prediction = await rlm.aforward(question="write it")
    report = prediction.report
    assert isinstance(report, Path) and report.is_file()
    assert report.read_text() == "# Report\nall good\n"
    assert [t.read_text() for t in prediction.tables] == ["x\n1\n"]
    assert "/workspace" not in str(report)  # a host path that outlives the run's workspace
    first = scripted_server.chat_requests("root")[0].prompt_text
    assert "write each file under /workspace/" in first


async def test_file_outputs_never_follow_links_the_guest_made(scripted_server, project, outside):
    secret = outside / "secret.txt"
    up = "../" * 40  # far enough up from any workspace to reach / on the host
    scripted_server.script(
        "root",
        code(f"import os\nos.symlink({up + str(secret).lstrip('/')!r}, '/workspace/link.md')\n"
             "SUBMIT(report='/workspace/link.md')"),
        code(f"os.symlink({up + str(outside).lstrip('/')!r}, '/workspace/d')\n"
             "SUBMIT(report='/workspace/d/secret.txt')"),
        code("SUBMIT(report='/workspace/../project/hello.txt')"),
        code("SUBMIT(report='hello.txt')"),
        code("open('/workspace/real.md', 'w').write('real')\nSUBMIT(report='/workspace/real.md')"),
    )
    rlm, rec = make_rlm(scripted_server, project, "question -> report: File")
    prediction = await rlm.aforward(question="write it")
    assert prediction.report.read_text() == "real"
    errors = [e.error for e in rec.of(SubmitRejected)]
    assert len(errors) == 4, errors
    assert "links are not followed" in errors[0] and "links are not followed" in errors[1]
    assert "not under /workspace/" in errors[2] and "not an absolute path" in errors[3]
    copied = list(prediction.report.parent.parent.rglob("*"))
    assert all("TOP-SECRET" not in p.read_text() for p in copied if p.is_file())


async def test_missing_file_inputs_and_child_file_fields_are_clear_errors(scripted_server, project, tmp_path):
    rlm, _ = make_rlm(scripted_server, project, "doc: File -> answer")
    with pytest.raises(ValueError, match="is not a file"):
        await rlm.aforward(doc=str(tmp_path / "missing.txt"))
    scripted_server.script("root", code(
        "try:\n"
        "    rlm_query('q', signature='doc: File -> answer', doc='/etc/passwd')\n"
        "except Exception as e:\n"
        "    print('refused:', e)"
    ), code("SUBMIT(answer='ok')"))
    rlm, _ = make_rlm(scripted_server, project)
    prediction = await rlm.aforward(question="q")
    assert "File fields are for the top-level call only" in prediction.trajectory[0]["output"]


# -- cancellation ----------------------------------------------------------------------------------


async def test_cancelling_a_turn_that_awaits_sub_calls_keeps_the_session(scripted_server, project):
    import asyncio
    import time

    from rlm_tui.config import Settings
    from rlm_tui.engine.session import ChatSession

    settings = Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url, api_key="x")
    scripted_server.script(
        "root",
        code("kept = 'yes'\nSUBMIT(answer=kept)"),
        code("import asyncio\nrs = await asyncio.gather(*[llm_query(f'slow {i}') for i in range(4)])"),
        code("SUBMIT(answer=kept + str('rs' in globals()))"),
    )
    scripted_server.script("sub", Reply("late", latency_s=30, times=4))
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        assert (await session.ask("first")).answer == "yes"
        turn = asyncio.create_task(session.ask("slow one"))
        while len(scripted_server.chat_requests("sub")) < 4:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        session.cancel()
        cancelled = await asyncio.wait_for(turn, 10)
        assert cancelled.cancelled
        assert time.monotonic() - started < 5
        third = await session.ask("again")
    finally:
        await session.close()
    assert third.answer == "yesFalse"
