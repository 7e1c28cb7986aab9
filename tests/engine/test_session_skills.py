"""`ChatSession.set_skills`: a skill switched on or off mid-session counts from the next turn, in
the prompt, under /skills and in the host tools, with the sandbox and its variables kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.config import Settings
from rlm_tui.engine.session import ChatSession
from rlm_tui.skills import SkillError
from tests.engine.test_engine import Recorder, code
from tests.skills.test_skills import write_skill


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write_skill(root / ".rlm" / "skills", "greeter", body="Greet with greeter_lib.hello().",
                modules={"greeter_lib": "def hello():\n    return 'hi from the skill'\n"})
    return root


async def test_a_skill_switched_on_counts_from_the_next_turn(scripted_server, project):
    settings = Settings(model="openai/root", api_base=scripted_server.url, skills=[])
    scripted_server.script(
        "root",
        code("kept = 1\ntry:\n    import greeter_lib\n    SUBMIT(answer='loaded')\n"
             "except ImportError:\n    SUBMIT(answer='missing')"),
        code("import greeter_lib\nSUBMIT(answer=greeter_lib.hello() + f' {kept}')"),
    )
    session = ChatSession(settings, project, Recorder())
    await session.start()
    try:
        assert (await session.ask("before")).answer == "missing"
        with pytest.raises(SkillError, match="nope"):
            session.set_skills(["greeter", "nope"])
        assert session.settings.skills == []  # a failed switch changes nothing
        session.set_skills(["greeter"])
        session.set_models(sub_model="openai/sub")  # a rebuild for other reasons keeps them
        assert (await session.ask("after")).answer == "hi from the skill 1"  # variables kept
        session.set_skills([])
    finally:
        await session.close()
    first, second = (r.prompt_text for r in scripted_server.chat_requests("root"))
    assert "Greet with greeter_lib.hello()." not in first
    assert "Greet with greeter_lib.hello()." in second
