"""Extra read-only mounts (`mounts={"/inputs": folder}`) and matplotlib's data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox_helpers import fingerprint

from rlm_tui.sandbox import Sandbox, SandboxError


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    (folder / "doc").mkdir(parents=True)
    (folder / "doc" / "a.txt").write_text("input text\n")
    return folder


def test_an_extra_mount_is_readable_and_read_only(project: Path, inputs: Path) -> None:
    before = fingerprint(inputs / "doc")
    with Sandbox(project, mounts={"/inputs": inputs}) as sandbox:
        assert sandbox.run("print(open('/inputs/doc/a.txt').read(), end='')").stdout == "input text\n"
        for attempt in (
            "open('/inputs/doc/a.txt', 'w')",
            "open('/inputs/new.txt', 'x')",
            "import os; os.remove('/inputs/doc/a.txt')",
            "import os; os.mkdir('/inputs/d')",
            "import os; os.rename('/inputs/doc/a.txt', '/inputs/b.txt')",
        ):
            result = sandbox.run(attempt)
            assert result.error_type in ("PermissionError", "OSError", "FileNotFoundError"), (attempt, result.error)
        # files staged after the start are visible: the mount is the live folder
        (inputs / "late.txt").write_text("late")
        assert sandbox.run("open('/inputs/late.txt').read()").stdout == "'late'\n"
    (inputs / "late.txt").unlink()
    assert fingerprint(inputs / "doc") == before


@pytest.mark.parametrize("guest", ["inputs", "/", "/project", "/project/x", "/workspace", "/tmp/x", "/usr",
                                   "/usr/local/lib/python315.zip", "/skills", "/a/../b", "/inputs/", "//inputs"])
def test_bad_mount_points_are_refused(project: Path, inputs: Path, guest: str) -> None:
    with pytest.raises(SandboxError, match="mount point"):
        Sandbox(project, mounts={guest: inputs})


def test_overlapping_extra_mounts_and_missing_folders_are_refused(project: Path, inputs: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="overlaps '/inputs'"):
        Sandbox(project, mounts={"/inputs": inputs, "/inputs/more": inputs})
    with pytest.raises(SandboxError, match="does not exist"):
        Sandbox(project, mounts={"/inputs": tmp_path / "nope"})


def test_matplotlib_plots_with_agg_and_saves_a_png(project: Path) -> None:
    with Sandbox(project, timeout_s=60) as sandbox:
        result = sandbox.run(
            "import matplotlib\n"
            "matplotlib.use('Agg')\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots()\n"
            "ax.plot([1, 2, 3], [1, 4, 9])\n"
            "ax.set_title('squares')\n"
            "fig.savefig('/workspace/a.png')\n"
            "print(matplotlib.get_backend())"
        )
        assert result.error is None, result.error
        assert result.stdout.lower() == "agg\n"
        png = (sandbox.workspace / "a.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
        # matplotlib's data is there read-only
        result = sandbox.run("open(matplotlib.get_data_path() + '/matplotlibrc', 'a')")
        assert result.error_type in ("PermissionError", "OSError")


def test_an_image_cached_before_matplotlib_data_gets_it_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil

    from rlm_tui.sandbox.image import ensure_image
    from rlm_tui.sandbox.wasm_module import shared_module

    source = shared_module().image.folder
    monkeypatch.setenv("RLM_TUI_HOME", str(tmp_path / "home"))
    target = tmp_path / "home" / "cache" / "image" / source.name
    (target / "lib").mkdir(parents=True)
    for name in ("manifest.json", "python-snapshot.wasm", "lib/python315.zip"):  # no mpl-data/
        try:
            os.link(source / name, target / name)
        except OSError:
            shutil.copy2(source / name, target / name)
    image = ensure_image()
    assert image.mpl_data == target / "mpl-data"
    assert (image.mpl_data / "matplotlibrc").is_file()
    assert (image.mpl_data / "fonts" / "ttf").is_dir()
    assert not [p for p in target.iterdir() if p.name.startswith(".mpl-data-")]  # no staging left behind


@pytest.mark.parametrize("name", ["../evil.txt", "/abs.txt", "a/../../b.txt"])
def test_matplotlib_data_with_unsafe_names_is_refused(tmp_path: Path, name: str) -> None:
    import io
    import zipfile

    from rlm_tui.sandbox.image import ImageError, _extract_mpl_data

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("matplotlibrc", "backend: Agg\n")
        z.writestr(name, "x")
    outer = tmp_path / "python315.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("matplotlib/mpl-data.zip", inner.getvalue())
    with pytest.raises(ImageError, match="unsafe name"):
        _extract_mpl_data(outer, tmp_path / "staged")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "b.txt").exists()
