"""`python -m rlm_tui.local.setup`: build progress read off pip's output, failures that say how to retry."""

from __future__ import annotations

import io
import sys
import textwrap

from rlm_tui.local import setup
from rlm_tui.local.setup import Bar, BuildProgress

# Excerpts of a real `pip install -v llama-cpp-python==0.3.36` (scikit-build-core, ninja).
PIP_LINES = """\
Collecting llama-cpp-python==0.3.36
  Downloading llama_cpp_python-0.3.36.tar.gz (76.6 MB)
  Installing build dependencies: started
  *** scikit-build-core 1.1.2 using CMake 3.25.1 (wheel)
  *** Configuring CMake...
  -- The C compiler identification is GNU 12.2.0
  *** Building project with Ninja...
  [1/140] /usr/bin/g++ -DGGML_BUILD -O3 -c ggml.cpp
  [70/140] /usr/bin/gcc -O3 -c ggml-cpu.c
  [140/140] Linking CXX shared library vendor/llama.cpp/src/libllama.so
  *** Installing project into wheel...
Installing collected packages: llama-cpp-python
Successfully installed llama-cpp-python-0.3.36
"""


def test_build_progress_follows_the_phases_and_the_step_counts():
    progress = BuildProgress()
    states = [progress.feed(line) for line in PIP_LINES.splitlines()]
    assert states[1].phase == "downloading the llama.cpp sources" and states[1].detail == "76.6 MB"
    assert states[4].phase == "configuring llama.cpp"
    assert states[5] == states[4]  # cmake's chatter changes nothing
    compile_steps = [s for s in states if s.phase == "compiling llama.cpp" and s.fraction is not None]
    assert [s.fraction for s in compile_steps] == [1 / 140, 0.5, 1.0]
    assert compile_steps[1].detail == "70/140"
    assert states[-2].phase == "installing llama-cpp-python"
    assert BuildProgress().feed("[ 45%] Building C object ggml.c.o").fraction == 0.45  # make


def test_bar_prints_a_line_per_tenth_when_not_a_terminal():
    err = io.StringIO()
    bar = Bar(err)
    for n in range(1, 141):
        bar.show("compiling llama.cpp", n / 140, f"{n}/140")
    lines = err.getvalue().splitlines()
    assert 10 <= len(lines) <= 11
    assert lines[-1].startswith("compiling llama.cpp [########################] 100% 140/140")


def _fake_pip(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_install_runtime_shows_the_build_and_succeeds():
    script = f"import sys\nsys.stdout.write({PIP_LINES!r})\n"
    err = io.StringIO()
    assert setup.install_llama(Bar(err), err, command=_fake_pip(script))
    text = err.getvalue()
    assert "compiling llama.cpp [" in text and "140/140" in text
    assert "llama.cpp runtime installed" in text


def test_a_failed_build_shows_pips_last_lines_and_how_to_retry():
    script = """
        print("  *** Building project with Ninja...")
        print("  FAILED: ggml.o")
        print("  cc1: error: unrecognized command-line option")
        raise SystemExit(1)
    """
    err = io.StringIO()
    assert not setup.install_llama(Bar(err), err, command=_fake_pip(script))
    text = err.getvalue()
    assert "cc1: error: unrecognized command-line option" in text
    assert "pip exit 1" in text and "C/C++ compiler" in text and "CMAKE_ARGS=" in text


def test_runtime_command_uses_the_hashed_lock_when_there_is_one(tmp_path):
    lock = tmp_path / "requirements-local.lock"
    assert setup.llama_command(lock)[-1] == setup.RUNTIME_REQUIREMENT  # no lock file: the pin
    lock.write_text("llama-cpp-python==0.3.36 --hash=sha256:" + "0" * 64 + "\n")
    command = setup.llama_command(lock)
    assert command[-4:] == ["--no-build-isolation", "--require-hashes", "-r", str(lock)] and "--no-cache-dir" in command


def test_setup_stops_at_the_first_failed_step(monkeypatch):
    pulled = []
    monkeypatch.setattr(setup, "llama_available", lambda: False)
    monkeypatch.setattr(setup, "install_llama", lambda bar, err: False)
    monkeypatch.setattr(setup, "pull_model", lambda name, out, err: pulled.append(name) or 0)
    assert setup.setup(out=io.StringIO(), err=io.StringIO()) == 1
    assert pulled == []


def test_setup_runs_every_step_then_says_how_to_open_it(monkeypatch):
    done = []
    monkeypatch.setattr(setup, "llama_available", lambda: True)
    monkeypatch.setattr(setup, "pull_model", lambda name, out, err: done.append(("pull", name)) or 0)
    monkeypatch.setattr(setup, "prepare_sandbox", lambda bar, err: done.append(("sandbox",)) or True)
    out, err = io.StringIO(), io.StringIO()
    assert setup.setup(out=out, err=err) == 0
    assert done == [("pull", setup.DEFAULT_OFFLINE_MODEL), ("sandbox",)]
    assert "already installed" in err.getvalue() and "no key" in out.getvalue()
    assert setup.setup("no-such-model", out=out, err=err) == 1
