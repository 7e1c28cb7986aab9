"""Trust: a project's skill host code (tools.py) never runs on the host until the user trusts
the project; a changed file asks again; user skills are the user's own; links out are refused."""

from __future__ import annotations

import os
import py_compile
import sys
import threading
from pathlib import Path

import pytest

from rlm_tui import trust
from rlm_tui.cli import EXIT_OK, EXIT_USAGE, main
from rlm_tui.engine.skill_setup import prepare_skills
from rlm_tui.skills import SkillError, discover
from tests.engine.test_engine import code

TOOLS = """\
import pathlib
pathlib.Path({marker!r}).write_text("ran")

def shout(text: str) -> str:
    '''Upper-case text on the host.'''
    return text.upper() + "!"
"""


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture
def hostile(tmp_path: Path, marker: Path) -> Path:
    """A cloned project whose skill's tools.py writes a marker file when it is imported."""
    root = tmp_path / "cloned"
    folder = root / ".rlm" / "skills" / "loud"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: loud\ndescription: shouts\n---\nUse shout(text).\n")
    (folder / "tools.py").write_text(TOOLS.format(marker=str(marker)))
    (folder / "helper.py").write_text("VALUE = 1\n")  # a guest module
    (root / "app.py").write_text("print('hi')\n")
    return root


def ask(server, project: Path, *extra: str) -> list[str]:
    return ["ask", "Shout hi", "--project", str(project), "--model", "openai/root", "--sub-model", "openai/sub",
            "--api-base", server.url, *extra]


@pytest.mark.parametrize("flags", [["--skill", "loud"], ["--no-skill", "loud"], []])
def test_opening_an_untrusted_project_never_runs_its_tools(scripted_server, hostile, marker, capsys, flags):
    enabled = flags[:1] == ["--skill"]
    scripted_server.script("root", code("from helper import VALUE\nSUBMIT(answer=f'value {VALUE}')" if enabled
                                        else "SUBMIT(answer='value 1')"))
    assert main(ask(scripted_server, hostile, *flags)) == EXIT_OK
    out, err = capsys.readouterr()
    assert not marker.exists(), "tools.py ran on the host of an untrusted project"
    assert "host tools not loaded" in err and ".rlm/skills/loud/tools.py" in err and "--trust" in err
    if flags[:1] == ["--skill"]:
        assert out.strip() == "value 1"  # its guest module still loads
        prompt = scripted_server.chat_requests("root")[0].prompt_text
        assert "host tools of skill(s) `loud` are disabled until the user trusts this project" in prompt
        assert "shout(text: str)" not in prompt and "Host tools (call them" not in prompt


def test_trust_flag_loads_the_tools_and_a_changed_file_asks_again(scripted_server, hostile, marker, capsys):
    scripted_server.script("root", code("SUBMIT(answer=shout('hi'))"))
    assert main(ask(scripted_server, hostile, "--skill", "loud", "--trust")) == EXIT_OK
    assert capsys.readouterr().out.strip() == "HI!"
    assert marker.read_text() == "ran"
    marker.unlink()

    scripted_server.script("root", code("SUBMIT(answer='still trusted')"))
    assert main(ask(scripted_server, hostile, "--skill", "loud")) == EXIT_OK  # recorded: no flag needed
    assert marker.exists()
    marker.unlink()

    tools = hostile / ".rlm" / "skills" / "loud" / "tools.py"
    tools.write_text(tools.read_text() + "\n# changed\n")
    scripted_server.script("root", code("SUBMIT(answer='changed')"))
    assert main(ask(scripted_server, hostile, "--skill", "loud")) == EXIT_OK
    assert not marker.exists(), "a changed tools.py ran without being trusted again"
    assert "host tools not loaded" in capsys.readouterr().err


def test_the_digest_covers_every_file_tools_py_could_import(hostile):
    folder = hostile / ".rlm" / "skills" / "loud"
    trust.trust(trust.host_code(hostile))
    assert trust.is_trusted(trust.host_code(hostile))
    for change in (lambda: (folder / "helper.py").write_text("VALUE = 2\n"),
                   lambda: (folder / "sub").mkdir() or (folder / "sub" / "x.py").write_text(""),
                   lambda: (folder / "__pycache__").mkdir() or (folder / "__pycache__" / "h.pyc").write_bytes(b"1"),
                   lambda: (folder / "link.py").symlink_to(folder / "helper.py")):
        change()
        assert not trust.is_trusted(trust.host_code(hostile))
        trust.trust(trust.host_code(hostile))
    (hostile / "app.py").write_text("changed outside the skill folders\n")
    assert trust.is_trusted(trust.host_code(hostile))


def test_the_record_is_keyed_by_the_resolved_path(hostile, tmp_path, marker):
    trust.trust(trust.host_code(hostile))
    copy = tmp_path / "copy"
    os.system(f"cp -a {hostile} {copy}")
    assert not trust.is_trusted(trust.host_code(copy)), "another folder with the same files is another project"
    link = tmp_path / "link"
    link.symlink_to(hostile)
    assert trust.is_trusted(trust.host_code(link))


def test_a_special_file_in_the_skill_folder_is_hashed_without_opening_it(hostile):
    fifo = hostile / ".rlm" / "skills" / "loud" / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()
    result: list[trust.HostCode] = []
    threading.Thread(target=lambda: (result.append(trust.host_code(hostile)), done.set()), daemon=True).start()
    assert done.wait(10), "hashing blocked on a FIFO"
    assert fifo in result[0].files


def test_tools_run_from_the_checked_source_never_from_a_planted_pyc(tmp_path, hostile, marker):
    folder = hostile / ".rlm" / "skills" / "loud"
    evil = tmp_path / "evil.py"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('pyc')\n")
    cached = folder / "__pycache__" / f"tools.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(evil), cfile=str(cached), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    trust.trust(trust.host_code(hostile))
    prepared = prepare_skills(hostile, ["loud"], {})
    assert prepared.tools["shout"]("a") == "A!"
    assert marker.read_text() == "ran"


def test_user_skills_are_trusted(tmp_path, monkeypatch, marker):
    user = tmp_path / "config"
    monkeypatch.setenv("RLM_TUI_CONFIG_DIR", str(user))
    folder = user / "skills" / "mine"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: mine\n---\nmine\n")
    (folder / "tools.py").write_text(TOOLS.format(marker=str(marker)))
    project = tmp_path / "plain"
    project.mkdir()
    assert "shout" in prepare_skills(project, ["mine"], {}).tools
    assert marker.exists()


def test_trust_command_records_lists_and_forgets(hostile, marker, capsys):
    assert main(["trust", str(hostile)]) == EXIT_OK
    out = capsys.readouterr().out
    assert ".rlm/skills/loud/tools.py" in out and "trusted" in out
    assert not marker.exists(), "trusting does not run anything"
    assert main(["trust", "--list"]) == EXIT_OK
    assert str(hostile) in capsys.readouterr().out
    assert main(["trust", str(hostile), "--untrust"]) == EXIT_OK
    assert "no longer trusted" in capsys.readouterr().out
    assert not trust.is_trusted(trust.host_code(hostile))
    assert main(["trust", str(hostile / "missing")]) == EXIT_USAGE


def test_a_project_skill_cannot_read_files_outside_the_project(tmp_path, monkeypatch):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    project = tmp_path / "proj"
    folder = project / ".rlm" / "skills" / "leak"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").symlink_to(secret)
    with pytest.raises(SkillError, match="leads outside the project"):
        discover(project)
    (folder / "SKILL.md").unlink()
    (folder / "SKILL.md").write_text("---\nname: leak\n---\nx\n")
    (folder / "key.py").symlink_to(secret)
    with pytest.raises(SkillError, match="leads outside the project"):
        discover(project)
    (folder / "key.py").unlink()
    (project / "src.py").write_text("X = 1\n")
    (folder / "key.py").symlink_to(project / "src.py")  # a link inside the project is fine
    assert "key" in discover(project).skills["leak"].modules


def test_the_package_lock_rlm_tui_writes_beside_a_skill_keeps_the_trust(hostile):
    folder = hostile / ".rlm" / "skills" / "loud"
    trust.trust(trust.host_code(hostile))
    (folder / "pylock.toml").write_text('lock-version = "1.0"\n')  # written when the skill's packages resolve
    assert trust.is_trusted(trust.host_code(hostile))
    (folder / "pylock.py").write_text("")  # any other new file still asks again
    assert not trust.is_trusted(trust.host_code(hostile))
