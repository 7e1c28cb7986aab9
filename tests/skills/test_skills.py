"""Skills: discovery and precedence, merging, progressive disclosure, modules, packages, tools."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rlm_tui import trust
from rlm_tui.engine.events import SubCallFinished
from rlm_tui.engine.rlm import RLM
from rlm_tui.skills import Skill, SkillError, discover, select
from tests.engine.test_engine import Recorder, code
from tests.support.scripted_server import last_user_text


def write_skill(root: Path, name: str, body: str = "Do the thing.", description: str = "a skill",
                modules: dict[str, str] | None = None, tools: str | None = None, extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n{extra}---\n{body}\n")
    for module, source in (modules or {}).items():
        (folder / f"{module}.py").write_text(source)
    if tools is not None:
        (folder / "tools.py").write_text(tools)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text("alpha beta gamma\n")
    return root


def test_builtin_skills_are_found(project):
    names = set(discover(project).skills)
    assert {"long-text", "tables", "data"} <= names


def test_nearer_skill_wins_and_the_clash_is_reported(project, monkeypatch, tmp_path):
    user = tmp_path / "config"
    monkeypatch.setenv("RLM_TUI_CONFIG_DIR", str(user))
    write_skill(user / "skills", "tables", body="user tables")
    write_skill(project / ".rlm" / "skills", "tables", body="project tables")
    catalogue = discover(project)
    assert catalogue.skills["tables"].instructions == "project tables"
    hidden = [(h.source, w.source) for h, w in catalogue.shadowed if w.name == "tables"]
    assert len(hidden) == 2 and "project:" in hidden[-1][1]


def test_merge_rules_and_clash_errors(tmp_path):
    a = Skill("a", "A text", modules={"util": tmp_path / "a.py"}, packages=("six==1.16.0",), source="here")
    b = Skill("b", "B text", modules={"other": tmp_path / "b.py"}, packages=("six==1.16.0",), source="there")
    merged = select(discover(None, [a, b]), ["a", "b"])
    assert merged.packages == ("six==1.16.0",)
    assert "## Skill: a\nA text" in merged.prompt() and "## Skill: b\nB text" in merged.prompt()
    c = Skill("c", "C", modules={"util": tmp_path / "c.py"}, source="elsewhere")
    with pytest.raises(SkillError, match=r"module 'util' is defined by skill 'a' \(here\) and by skill 'c' \(elsewhere\)"):
        select(discover(None, [a, c]), ["a", "c"])
    t1 = Skill("t1", "x", tools={"lookup": lambda: 1}, source="s1")
    t2 = Skill("t2", "y", tools={"lookup": lambda: 2}, source="s2")
    with pytest.raises(SkillError, match="tool 'lookup'"):
        select(discover(None, [t1, t2]), ["t1", "t2"])
    with pytest.raises(SkillError, match="unknown skill"):
        select(discover(None), ["nope"])


def test_bad_skill_files_get_clear_errors(tmp_path):
    from rlm_tui.skills import load_skill_dir

    folder = write_skill(tmp_path, "broken", extra="packages: nope\n")
    with pytest.raises(SkillError, match="packages"):
        load_skill_dir(folder)
    bad_yaml = tmp_path / "bad"
    bad_yaml.mkdir()
    (bad_yaml / "SKILL.md").write_text("---\nname: [unclosed\n---\nbody\n")
    with pytest.raises(SkillError, match="not valid YAML"):
        load_skill_dir(bad_yaml)
    tools = write_skill(tmp_path, "badtools", tools="raise RuntimeError('boom')\n")
    with pytest.raises(SkillError, match="boom"):
        load_skill_dir(tools)


def make(server, project, **kwargs):
    rec = Recorder()
    rlm = RLM(lm="openai/root", sub_lm="openai/sub", api_base=server.url, project=project, on_event=rec, **kwargs)
    return rlm, rec


async def test_progressive_disclosure_and_module_import(scripted_server, project):
    skills_root = project / ".rlm" / "skills"
    write_skill(skills_root, "greeter", body="Use greet(name) from the greeting module.",
                description="says hello", modules={"greeting": "def greet(name):\n    return f'hello {name}'\n"})
    scripted_server.script(
        "root",
        code("from greeting import greet\nprint(greet('rlm'))\nprint(load_skill('tables')[:40])"),
        code("SUBMIT(answer=greet('done'))"),
    )
    rlm, _ = make(scripted_server, project, skills=["greeter"])
    prediction = await rlm.aforward(question="greet")
    assert prediction.answer == "hello done"
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert "## Skill: greeter\nUse greet(name)" in prompt
    assert "`tables`: Build clean Markdown and CSV tables" in prompt  # available: one line
    assert "write_csv" not in prompt  # ...but not its full text
    assert "hello rlm" in prediction.trajectory[0]["output"]
    assert "## Skill: tables" in prediction.trajectory[0]["output"]


async def test_host_tools_sync_async_timeout_and_errors(scripted_server, project):
    def lookup(key: str) -> str:
        """Look a key up in the host's table."""
        return {"a": "apple"}[key]

    async def slow_double(x: int) -> int:
        """Double x, slowly."""
        await asyncio.sleep(0.05)
        return 2 * x

    async def stuck() -> None:
        await asyncio.sleep(30)

    scripted_server.script("root", code(
        "out = [lookup('a'), slow_double(21)]\n"
        "for fn in (lambda: lookup('zzz'), stuck):\n"
        "    try:\n        fn()\n    except Exception as e:\n        out.append(type(e).__name__ + ': ' + str(e))\n"
        "SUBMIT(answer=repr(out))"))
    rlm, rec = make(scripted_server, project, tools={"lookup": lookup, "slow_double": slow_double, "stuck": stuck},
                    tool_timeout_s=0.5)
    prediction = await rlm.aforward(question="tools")
    out = eval(prediction.answer)
    assert out[:2] == ["apple", 42]
    assert out[2].startswith("KeyError") and "zzz" in out[2]
    assert out[3].startswith("TimeoutError") and "0.5 s" in out[3]
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert "lookup(key: str) -> str" in prompt and "Look a key up" in prompt
    tool_calls = [e for e in rec.of(SubCallFinished) if e.function == "tool"]
    assert [e.model for e in tool_calls] == ["lookup", "slow_double", "lookup", "stuck"]
    assert tool_calls[-1].duration_s < 5, "the stuck tool was cut off at its timeout"


async def test_skill_tools_from_tools_py(scripted_server, project):
    write_skill(project / ".rlm" / "skills", "units", tools="def to_celsius(f: float) -> float:\n"
                "    '''Fahrenheit to Celsius.'''\n    return round((f - 32) * 5 / 9, 1)\n\n"
                "def _private():\n    pass\n")
    trust.trust(trust.host_code(project))  # a project's host tools run only once it is trusted
    scripted_server.script("root", code("SUBMIT(answer=str(to_celsius(212)))"))
    rlm, _ = make(scripted_server, project, skills=["units"])
    assert (await rlm.aforward(question="boil")).answer == "100.0"
    assert "_private" not in scripted_server.chat_requests("root")[0].prompt_text


async def test_pure_python_package_is_fetched_and_importable(scripted_server, project):
    write_skill(project / ".rlm" / "skills", "toml-out", extra="packages: ['tomli-w==1.2.0']\n")
    scripted_server.script("root", code("import tomli_w\nSUBMIT(answer=tomli_w.dumps({'a': 1}).strip())"))
    rlm, _ = make(scripted_server, project, skills=["toml-out"])
    assert (await rlm.aforward(question="toml")).answer == "a = 1"


def test_compiled_package_is_refused_with_a_clear_message(project):
    from rlm_tui.engine.skill_setup import prepare_skills

    write_skill(project / ".rlm" / "skills", "fast-json", extra="packages: ['ujson==5.10.0']\n")
    with pytest.raises(SkillError, match="compiled code"):
        prepare_skills(project, ["fast-json"], {})


def test_loose_requirement_is_resolved_from_the_index_and_locked(project):
    from rlm_tui.engine.skill_setup import prepare_skills

    folder = write_skill(project / ".rlm" / "skills", "loose", extra="packages: ['python-docx>=1.1']\n")
    prepared = prepare_skills(project, ["loose"], {})
    assert (prepared.folder / "packages" / "docx" / "__init__.py").is_file()
    lock = (folder / "pylock.toml").read_text()
    assert 'name = "python-docx"' in lock and "sha256" in lock
    assert '"lxml" = "6.1.3"' in lock and '"typing-extensions" = "4.16.0"' in lock  # from the image


async def test_long_text_skill_maps_and_reduces(scripted_server, project):
    def sub(request):
        prompt = last_user_text(request)
        if "Notes from parts" in prompt:
            return "The needle is 7 [chars 0-120]."
        return "needle=7" if "needle=7" in prompt else "NONE"

    scripted_server.default(sub)
    scripted_server.script("root", code(
        "from longtext import chunk, map_chunks, reduce_answers\n"
        "text = 'x' * 500 + ' needle=7 ' + 'y' * 500\n"
        "notes = map_chunks('Find the needle.', chunk(text, size=300, overlap=20))\n"
        "SUBMIT(answer=reduce_answers('What is the needle?', notes) + f' ({len(notes)} notes)')"))
    rlm, _ = make(scripted_server, project, skills=["long-text"])
    prediction = await rlm.aforward(question="needle")
    assert prediction.answer == "The needle is 7 [chars 0-120]. (1 notes)"


async def test_tables_skill_renders_markdown_and_csv(scripted_server, project):
    scripted_server.script("root", code(
        "from tables import clean_rows, markdown_table, write_csv\n"
        "rows = clean_rows([{'name': ' a  b ', 'n': 2}, {'name': 'c', 'n': 10}, {'name': None, 'n': 1}])\n"
        "md = markdown_table(rows, sort_by='n', descending=True)\n"
        "path = write_csv(rows, '/workspace/t.csv')\n"
        "SUBMIT(answer=md + '\\n' + open(path).read())"))
    rlm, _ = make(scripted_server, project, skills=["tables"])
    answer = (await rlm.aforward(question="table")).answer
    assert answer.splitlines()[:3] == ["| name | n |", "| --- | ---: |", "| c | 10 |"]
    assert "a b,2" in answer


async def test_data_skill_profiles_with_pandas(scripted_server, project):
    (project / "sales.csv").write_text("region,amount\nnorth,10\nsouth,5\nnorth,7\n")
    scripted_server.script("root", code(
        "from datatools import load_table, profile\n"
        "df = load_table('sales.csv')\nprint(profile(df))\n"
        "SUBMIT(answer=str(df.groupby('region')['amount'].sum().to_dict()))"))
    rlm, _ = make(scripted_server, project, skills=["data"])
    prediction = await rlm.aforward(question="sales")
    assert prediction.answer == "{'north': 17, 'south': 5}"
    assert "shape: 3 rows x 2 columns" in prediction.trajectory[0]["output"]
