"""A real, pinned open-source codebase for the eval: a source distribution from the package index,
fetched with pip, verified by sha256, unpacked once into the cache."""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rlm_tui.download import DownloadError, move_into_place, pip_download, sha256_file
from rlm_tui.paths import cache_dir


class CodebaseUnavailable(RuntimeError):
    """The sdist could not be fetched (no network, index down) or did not verify."""


@dataclass(frozen=True)
class Pinned:
    name: str
    version: str
    sha256: str
    package_dir: str  # the importable package inside the sdist, e.g. "src/click"

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


CLICK = Pinned("click", "8.1.8", "ed53c9d8990d83c2a27deae68e4ee337473f6330c040a31d4225c9574d16096a", "src/click")


def fetch(pin: Pinned = CLICK, cache: Path | None = None) -> Path:
    """The unpacked sdist's root folder (fetched and verified on first use)."""
    base = (cache or cache_dir()) / "eval" / "codebases"
    root = base / pin.label
    marker = base / f"{pin.label}.verified"
    if marker.is_file() and root.is_dir():
        return root
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        download = Path(tmp)
        try:
            pip_download(["--no-binary", ":all:", f"{pin.name}=={pin.version}"], download, timeout=300)
        except DownloadError as e:
            raise CodebaseUnavailable(f"could not fetch the {pin.label} sdist from the package index: "
                                      f"{e.last(str(e))}") from None
        archives = sorted(download.glob("*.tar.gz"))
        if not archives:
            raise CodebaseUnavailable(f"could not fetch the {pin.label} sdist from the package index: "
                                      "no sdist downloaded")
        archive = archives[0]
        digest = sha256_file(archive)
        if digest != pin.sha256:
            raise CodebaseUnavailable(f"{archive.name}: sha256 {digest} does not match the pinned {pin.sha256}")
        unpack = download / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpack, filter="data")
        tops = [p for p in unpack.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise CodebaseUnavailable(f"{archive.name}: expected one top folder, found {len(tops)}")
        move_into_place(tops[0], root)
    marker.write_text(f"{pin.sha256}\n")
    return root
