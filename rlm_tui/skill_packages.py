"""Skill packages: pure-Python wheels fetched by exact pin, checked by sha256, unpacked once.

A skill's `packages:` entry is `name==version`, optionally followed by one or more
`--hash=sha256:<hex>` (pip's syntax): then only a wheel with one of those hashes is accepted.
An entry without a hash is trusted on first use: the first fetch records the wheel's sha256
in `skill-packages.lock` in the user's data folder (beside sessions, so clearing the cache
keeps it) and warns; every later fetch of that name and version must match the recorded hash.
The unpacked copy in the cache remembers the hash of the wheel it came from and is used only
while that hash is still the accepted one. (Its files are not re-hashed at each start: they
run only inside the sandbox.)
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlm_tui.download import DownloadError, move_into_place, parse_exact_pin, pip_download, sha256_file
from rlm_tui.paths import cache_dir, data_dir

LOCK_NAME = "skill-packages.lock"

Warn = Callable[[str], None]


class PackageError(ValueError):
    """A package pin is malformed, cannot be fetched, or fails its hash check."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """`name==version` with the name normalised (PEP 503): the lock's key."""
        from packaging.utils import canonicalize_name

        return f"{canonicalize_name(self.name)}=={self.version}"

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def parse_pin(text: str) -> Pin:
    try:
        pin = parse_exact_pin(text)
    except ValueError as e:
        raise PackageError(f"package {text!r} must be pinned exactly, like 'name==1.2.3' "
                           f"(optionally followed by --hash=sha256:<64 hex digits>): {e}") from None
    return Pin(pin.name, pin.version, pin.hashes)


def lock_file() -> Path:
    return data_dir() / LOCK_NAME


def read_lock() -> dict[str, str]:
    """Recorded hashes: normalised `name==version` -> sha256."""
    try:
        lines = lock_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    recorded = {}
    for line in lines:
        try:
            pin = parse_exact_pin(line)
        except ValueError:
            continue  # the header, a blank or a damaged line
        if len(pin.hashes) == 1:
            recorded[Pin(pin.name, pin.version).key] = pin.hashes[0]
    return recorded


def _record(pin: Pin, digest: str) -> None:
    recorded = read_lock()
    recorded[pin.key] = digest
    target = lock_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    header = "# sha256 of each skill package wheel, recorded on first use; later fetches must match\n"
    try:
        staged.write_text(header + "".join(f"{k} --hash=sha256:{v}\n" for k, v in sorted(recorded.items())),
                          encoding="utf-8")
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def fetch_package(text: str, warn: Warn = lambda _m: None) -> Path:
    """The `site` folder of a pinned pure-Python package, from the cache or the package index."""
    pin = parse_pin(text)
    target = cache_dir() / "packages" / f"{pin.name.lower()}-{pin.version}"
    cached = _cached_hash(target)
    if cached is not None and _accepted(pin, cached, warn) is None:
        return target / "site"
    download = target.with_name(f"{target.name}.download-{uuid.uuid4().hex[:8]}")
    download.mkdir(parents=True)
    try:
        wheel = _download(pin, download)
        digest = sha256_file(wheel)
        problem = _accepted(pin, digest, warn)
        if problem:
            raise PackageError(f"refusing package {pin}: {wheel.name} has sha256 {digest}, {problem}")
        staged = target.with_name(f"{target.name}.staged-{uuid.uuid4().hex[:8]}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(staged / "site")
            (staged / ".complete").write_text(json.dumps({"wheel": wheel.name, "sha256": digest}))
            move_into_place(staged, target)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    finally:
        shutil.rmtree(download, ignore_errors=True)
    return target / "site"


def _cached_hash(target: Path) -> str | None:
    try:
        record = json.loads((target / ".complete").read_text())
        return str(record["sha256"]) if (target / "site").is_dir() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or unpacked before hashes were recorded: fetch again


def _accepted(pin: Pin, digest: str, warn: Warn) -> str | None:
    """None when `digest` is the accepted wheel for `pin` (recording it on first use), else
    why not."""
    if pin.hashes:
        return None if digest in pin.hashes else f"not the --hash the skill pins ({', '.join(pin.hashes)})"
    recorded = read_lock().get(pin.key)
    if recorded is None:
        _record(pin, digest)
        warn(f"skill package {pin} has no --hash: recorded sha256 {digest} in {lock_file()} on first use "
             f"(later fetches must match); pin it with '{pin} --hash=sha256:{digest}'")
        return None
    if recorded != digest:
        return (f"but {lock_file()} recorded sha256 {recorded} when it was first fetched "
                "(if the new wheel is genuine, delete that line)")
    return None


def _download(pin: Pin, folder: Path) -> Path:
    """One wheel of `pin` from the package index, into `folder`; pure-Python only."""
    try:
        pip_download(["--only-binary=:all:", str(pin)], folder, timeout=600)
    except DownloadError as e:
        raise PackageError(f"could not fetch package {pin}: {e.last(str(e))} "
                           "(only pure-Python wheels can be used in the sandbox)") from None
    wheels = list(folder.glob("*.whl"))
    if not wheels:
        raise PackageError(f"could not fetch package {pin}: no wheel found "
                           "(only pure-Python wheels can be used in the sandbox)")
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    wheel = wheels[0]
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename as e:
        raise PackageError(f"package {pin}: pip fetched {wheel.name}, not a wheel name: {e}") from None
    if not all(tag.abi == "none" and tag.platform == "any" for tag in tags):
        raise PackageError(f"package {pin} has compiled code ({wheel.name}); the sandbox image cannot load it. "
                           "Use a pure-Python package, or one the image already carries (numpy, pandas, scipy, ...)")
    return wheel
