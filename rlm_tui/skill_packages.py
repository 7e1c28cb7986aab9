"""Skill packages: loose pure-Python requirements, resolved for the sandbox image and locked.

A skill names what it needs loosely (`packages: ["python-docx>=1.1"]`), optionally with pip's
`--hash=sha256:<hex>` after a requirement (then only a wheel with one of those hashes is taken
for it). For the image's Python
(CPython 3.15 on WASI, see `GUEST_ENVIRONMENT`) the requirements are resolved transitively with
`resolvelib` over pure-Python wheels only; a package the image already carries (numpy, lxml,
typing_extensions, ...) is taken from the image and never fetched. The result is written beside
the skill as `pylock.toml` (PEP 751: exact versions, wheel URLs, sha256) and reused while the
requirements and the image stay the same. Wheels are cached by file name, checked against the
lock's sha256 on every use, and unpacked once.

Where wheels come from: folders named in `RLM_TUI_SKILL_WHEELS` (os.pathsep-separated), the wheel
cache, and the configured package index (`RLM_TUI_INDEX_URL`, else `PIP_INDEX_URL`, else pip's
`global.index-url`, else PyPI) through its simple API (PEP 691 JSON or PEP 503 HTML). With
`RLM_TUI_OFFLINE=1` the index is never asked: a lock plus a wheel folder is enough.

Beyond the lock, every wheel's hash is recorded by `name==version` in `skill-packages.lock` in
the user's data folder on first use (with a warning, for wheels that no `--hash` named); a later
resolution that brings other bytes for the same name and version is refused.

Every failure is a `PackageError` naming the package and the skill that asked for it.
"""

from __future__ import annotations

import dataclasses
import email.parser
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import resolvelib
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from rlm_tui.download import sha256_file as _sha256
from rlm_tui.paths import cache_dir, data_dir

LOCK_NAME = "pylock.toml"
RECORD_NAME = "skill-packages.lock"
DEFAULT_INDEX = "https://pypi.org/simple"
# The image's marker environment, measured in the guest (`packaging.markers.default_environment()`);
# tests/skills/test_skill_packages.py checks it against the live interpreter.
GUEST_ENVIRONMENT: dict[str, str] = {
    "implementation_name": "cpython", "implementation_version": "3.15.0", "os_name": "posix",
    "platform_machine": "wasm32", "platform_release": "0.0.0", "platform_system": "wasi",
    "platform_version": "0.0.0", "python_full_version": "3.15.0",
    "platform_python_implementation": "CPython", "python_version": "3.15", "sys_platform": "wasi",
}
HTTP_TIMEOUT_S = 60.0
MAX_WHEEL_BYTES = 64 << 20
_HASH = re.compile(r"\s+--hash=sha256:([0-9a-fA-F]{64})\s*$")
Warn = Callable[[str], None]


class PackageError(ValueError):
    """A skill's packages cannot be resolved, fetched or installed; the message names them."""


def split_hashes(text: str) -> tuple[str, tuple[str, ...]]:
    """('name>=1', (sha256, ...)) from 'name>=1 --hash=sha256:<hex> ...'."""
    hashes: list[str] = []
    while match := _HASH.search(text):
        hashes.insert(0, match.group(1).lower())
        text = text[:match.start()]
    if "--hash" in text:
        raise PackageError(f"package {text!r}: a hash must be written --hash=sha256:<64 hex digits>")
    return text.strip(), tuple(hashes)


def parse_requirements(texts: Sequence[str], where: str) -> list[Requirement]:
    """PEP 508 requirements (no direct URLs; `--hash`es split off); PackageError naming `where`."""
    parsed = []
    for text in texts:
        try:
            requirement = Requirement(split_hashes(text)[0])
        except (InvalidRequirement, PackageError) as e:
            raise PackageError(f"{where}: package {text!r} is not a requirement like 'python-docx>=1.1' ({e})") from None
        if requirement.url:
            raise PackageError(f"{where}: package {text!r} names a URL; name a package from the index instead")
        parsed.append(requirement)
    return parsed


def pinned_hashes(texts: Iterable[str]) -> dict[str, set[str]]:
    """Canonical name -> the sha256 values its `--hash`es allow."""
    allowed: dict[str, set[str]] = {}
    for text in texts:
        requirement, hashes = split_hashes(text)
        if hashes:
            allowed.setdefault(canonicalize_name(Requirement(requirement).name), set()).update(hashes)
    return allowed


# -- the target: the sandbox image ------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What the wheels must run on, and what the image already carries (canonical name -> version)."""

    image: Mapping[str, Version]
    image_id: str = ""
    environment: Mapping[str, str] = field(default_factory=lambda: dict(GUEST_ENVIRONMENT))

    @cached_property
    def python(self) -> Version:
        return Version(self.environment["python_full_version"])

    @cached_property
    def tags(self) -> frozenset[Tag]:
        major, minor = (int(p) for p in self.environment["python_version"].split("."))
        return frozenset(compatible_tags((major, minor), f"cp{major}{minor}", ["any"]))

    def marker_ok(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        if marker is None:
            return True
        return any(marker.evaluate({**self.environment, "extra": extra}) for extra in (*extras, ""))

    def lock_environment(self) -> str:
        env = self.environment
        return (f"sys_platform == '{env['sys_platform']}' and platform_machine == '{env['platform_machine']}' "
                f"and python_full_version == '{env['python_full_version']}'")


def image_target(image_zip: Path | None) -> Target:
    """The image's packages, read from the `*.dist-info` folders in its stdlib zip."""
    carried: dict[str, Version] = {}
    image_id = ""
    if image_zip is not None and image_zip.is_file():
        image_id = image_zip.parent.parent.name  # the image folder is named by the wheel's sha256
        with zipfile.ZipFile(image_zip) as archive:
            for top in {n.split("/", 1)[0] for n in archive.namelist() if "/" in n}:
                if top.endswith(".dist-info") and "-" in top:
                    name, _, version = top[: -len(".dist-info")].rpartition("-")
                    try:
                        carried[canonicalize_name(name)] = Version(version)
                    except InvalidVersion:
                        continue
    return Target(carried, image_id)


# -- wheels and where they come from -----------------------------------------------------------

@dataclass(frozen=True)
class Wheel:
    """One wheel file on an index or in a folder."""

    filename: str
    url: str  # https://..., file://..., or "" for a file in a wheel folder (see `path`)
    sha256: str | None = None
    requires_python: str | None = None
    yanked: bool = False
    metadata_url: str | None = None
    metadata_sha256: str | None = None
    path: Path | None = None

    @cached_property
    def parsed(self) -> tuple[str, Version, frozenset[Tag]]:
        name, version, _build, tags = parse_wheel_filename(self.filename)
        return canonicalize_name(name), version, tags


def _wheel_or_none(filename: str, **kwargs: Any) -> Wheel | None:
    if not filename.endswith(".whl"):
        return None
    wheel = Wheel(filename, **kwargs)
    try:
        _ = wheel.parsed  # parsing the name is the check
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return wheel


class _Links(html.parser.HTMLParser):
    """Anchors of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def wheel_folders() -> list[Path]:
    folders = [Path(p).expanduser() for p in os.environ.get("RLM_TUI_SKILL_WHEELS", "").split(os.pathsep) if p]
    return [*folders, wheel_cache()]


def wheel_cache() -> Path:
    return cache_dir() / "skill-wheels"


def configured_index() -> str | None:
    """The index to ask (None when offline)."""
    if os.environ.get("RLM_TUI_OFFLINE", "").strip() not in ("", "0"):
        return None
    for variable in ("RLM_TUI_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(variable):
            return os.environ[variable].rstrip("/")
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip().rstrip("/")
    return DEFAULT_INDEX


class Finder:
    """Wheels by project name from the wheel folders and the index; their metadata; the files."""

    def __init__(self, index: str | None, folders: Sequence[Path]) -> None:
        self.index = index
        self.folders = list(folders)
        self._listings: dict[str, list[Wheel]] = {}
        self._missing: dict[str, str] = {}  # name -> why the index had nothing
        self._metadata: dict[str, tuple[list[str], str | None]] = {}
        self._client: Any = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def wheels(self, name: str) -> list[Wheel]:
        name = canonicalize_name(name)
        if name not in self._listings:
            found: dict[str, Wheel] = {}
            for folder in self.folders:
                if folder.is_dir():
                    for path in folder.glob("*.whl"):
                        wheel = _wheel_or_none(path.name, url="", path=path)
                        if wheel is not None and wheel.parsed[0] == name:
                            found.setdefault(wheel.filename, wheel)
            for wheel in self._index_wheels(name):  # the index's URL and hash, a local copy if there is one
                local = found.get(wheel.filename)
                found[wheel.filename] = wheel if local is None else dataclasses.replace(wheel, path=local.path)
            self._listings[name] = list(found.values())
        return self._listings[name]

    def other_files(self, name: str) -> str:
        """Why the index had no usable wheel ('' when it was not asked or had some)."""
        return self._missing.get(canonicalize_name(name), "")

    def _http(self) -> Any:
        if self._client is None:
            import httpx2

            self._client = httpx2.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=True)
        return self._client

    def _get(self, url: str, accept: str = "*/*") -> tuple[bytes, str]:
        """The body and content type at `url`; FileNotFoundError for a 404."""
        if url.startswith("file://"):
            path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
            if path.is_dir():
                path = path / "index.html"
            try:
                return path.read_bytes(), "text/html"
            except OSError:
                raise FileNotFoundError(url) from None
        import httpx2

        try:
            response = self._http().get(url, headers={"Accept": accept})
        except httpx2.HTTPError as e:
            raise PackageError(f"cannot reach the package index at {url} ({type(e).__name__}: {e}); "
                               "offline, put the wheels in a folder named by RLM_TUI_SKILL_WHEELS") from None
        if response.status_code == 404:
            raise FileNotFoundError(url)
        if response.status_code >= 400:
            raise PackageError(f"the package index answered {response.status_code} for {url}")
        return response.content, response.headers.get("content-type", "")

    def _index_wheels(self, name: str) -> list[Wheel]:
        if self.index is None:
            self._missing[name] = "the index was not asked (offline)"
            return []
        page = f"{self.index}/{name}/"
        try:
            body, kind = self._get(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
        except FileNotFoundError:
            self._missing[name] = f"not found on the package index {self.index}"
            return []
        files = _json_files(body) if "json" in kind else _html_files(body, page)
        wheels = [w for w in (_wheel_or_none(f.pop("filename"), **f) for f in files) if w is not None]
        if not wheels:
            others = sorted({f for f in _filenames(body, kind, page)})
            self._missing[name] = (f"the index has no wheel of it, only {', '.join(others[-3:])}" if others
                                   else f"the index lists no files for it ({self.index})")
        return wheels

    def metadata(self, wheel: Wheel) -> tuple[list[str], str | None]:
        """(Requires-Dist lines, Requires-Python) of a wheel, from PEP 658 metadata or the wheel."""
        if wheel.filename not in self._metadata:
            text = None
            if wheel.metadata_url and wheel.path is None:
                body, _ = self._get(wheel.metadata_url)
                if wheel.metadata_sha256 and hashlib.sha256(body).hexdigest() != wheel.metadata_sha256:
                    raise PackageError(f"the metadata of {wheel.filename} does not match its sha256 on the index")
                text = body.decode("utf-8", "replace")
            if text is None:
                path = self.fetch(wheel)
                text = _wheel_metadata(path)
            message = email.parser.HeaderParser().parsestr(text)
            self._metadata[wheel.filename] = (message.get_all("Requires-Dist") or [], message.get("Requires-Python"))
        return self._metadata[wheel.filename]

    def fetch(self, wheel: Wheel, sha256: str | None = None) -> Path:
        """The wheel file, checked against `sha256` (or the index's); cached by file name."""
        expected = sha256 or wheel.sha256
        for candidate in ([wheel.path] if wheel.path else []) + [f / wheel.filename for f in self.folders]:
            if candidate.is_file() and (expected is None or _sha256(candidate) == expected):
                return candidate
        if not wheel.url:
            raise PackageError(f"wheel {wheel.filename} is not in the wheel folders "
                               f"({', '.join(map(str, self.folders))}) and has no URL to fetch it from")
        if self.index is None and not wheel.url.startswith("file://"):
            raise PackageError(f"wheel {wheel.filename} is not in the wheel folders and rlm-tui is offline; "
                               "put it in a folder named by RLM_TUI_SKILL_WHEELS")
        body, _ = self._get(wheel.url)
        if len(body) > MAX_WHEEL_BYTES:
            raise PackageError(f"wheel {wheel.filename} is over {MAX_WHEEL_BYTES >> 20} MB")
        digest = hashlib.sha256(body).hexdigest()
        if expected is not None and digest != expected:
            raise PackageError(f"wheel {wheel.filename} from {wheel.url} has sha256 {digest}, "
                               f"but {expected} was expected: refused")
        target = wheel_cache() / wheel.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as out:
            out.write(body)
        os.replace(out.name, target)
        return target


def _json_files(body: bytes) -> list[dict[str, Any]]:
    files = []
    for item in json.loads(body).get("files", []):
        metadata = item.get("core-metadata", item.get("data-dist-info-metadata"))
        files.append({
            "filename": item["filename"], "url": item["url"], "sha256": (item.get("hashes") or {}).get("sha256"),
            "requires_python": item.get("requires-python"), "yanked": bool(item.get("yanked")),
            "metadata_url": item["url"] + ".metadata" if metadata else None,
            "metadata_sha256": metadata.get("sha256") if isinstance(metadata, dict) else None,
        })
    return files


def _html_files(body: bytes, page: str) -> list[dict[str, Any]]:
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    files = []
    for link in parser.links:
        href = link.get("href")
        if not href:
            continue
        url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        metadata = link.get("data-core-metadata") or link.get("data-dist-info-metadata")
        files.append({
            "filename": filename, "url": url, "sha256": sha256,
            "requires_python": link.get("data-requires-python"), "yanked": "data-yanked" in link,
            "metadata_url": url + ".metadata" if metadata else None,
            "metadata_sha256": metadata.removeprefix("sha256=") if metadata and metadata.startswith("sha256=") else None,
        })
    return files


def _filenames(body: bytes, kind: str, page: str) -> list[str]:
    files = _json_files(body) if "json" in kind else _html_files(body, page)
    return [f["filename"] for f in files]


def _wheel_metadata(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise PackageError(f"wheel {path.name} has no METADATA")
        return archive.read(names[0]).decode("utf-8", "replace")




# -- resolution ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Req:
    name: str
    specifier: SpecifierSet
    extras: frozenset[str]
    text: str
    origin: str  # "skill 'docx'" or "python-docx 1.2.0"

    @property
    def key(self) -> str:
        return self.name if not self.extras else f"{self.name}[{','.join(sorted(self.extras))}]"


@dataclass(frozen=True)
class _Cand:
    name: str
    version: Version
    wheel: Wheel | None  # None: carried by the image
    extras: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.name if not self.extras else f"{self.name}[{','.join(sorted(self.extras))}]"

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _req(requirement: Requirement, origin: str) -> _Req:
    return _Req(canonicalize_name(requirement.name), requirement.specifier, frozenset(requirement.extras),
                str(requirement), origin)


class _Provider(resolvelib.AbstractProvider):
    """resolvelib's provider over a Finder and the image."""

    def __init__(self, finder: Finder, target: Target) -> None:
        self.finder, self.target = finder, target

    def identify(self, requirement_or_candidate: _Req | _Cand) -> str:
        return requirement_or_candidate.key

    def get_preference(self, identifier: str, resolutions: Any, candidates: Any, information: Any,
                       backtrack_causes: Any) -> tuple[bool, str]:
        return (identifier.split("[")[0] not in self.target.image, identifier)

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[_Req]],
                     incompatibilities: Mapping[str, Iterator[_Cand]]) -> list[_Cand]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        name, extras = reqs[0].name, reqs[0].extras
        if name in self.target.image:
            version = self.target.image[name]
            ok = version not in bad and all(r.specifier.contains(version, prereleases=True) for r in reqs)
            return [_Cand(name, version, None, extras)] if ok else []
        best: dict[Version, Wheel] = {}
        for wheel in self._pure_wheels(name, reqs[0]):
            version = wheel.parsed[1]
            if version in bad or not all(r.specifier.contains(version) for r in reqs):
                continue
            if wheel.yanked and not any(str(s.operator) == "==" for r in reqs for s in r.specifier):
                continue
            requires_python = wheel.requires_python
            if requires_python is None and wheel.path is not None:  # a local wheel: from its METADATA
                requires_python = self.finder.metadata(wheel)[1]
            if requires_python and not SpecifierSet(requires_python).contains(self.target.python, True):
                continue
            best.setdefault(version, wheel)
        return [_Cand(name, v, best[v], extras) for v in sorted(best, reverse=True)]

    def _pure_wheels(self, name: str, req: _Req) -> list[Wheel]:
        wheels = self.finder.wheels(name)
        pure = [w for w in wheels if w.parsed[2] & self.target.tags]
        if pure:
            return pure
        asked = f"{req.text} (asked for by {req.origin})"
        if wheels:
            examples = ", ".join(sorted(w.filename for w in wheels)[-2:])
            raise PackageError(f"package {asked} has compiled code (only {examples}); the sandbox image cannot "
                               f"load it. Do that work in a host tool (tools.py in the skill) instead, or use a "
                               f"package the image already carries (numpy, pandas, scipy, lxml, ...)")
        why = self.finder.other_files(name) or "no wheel found"
        if "only" in why:
            raise PackageError(f"package {asked} has no wheel ({why}); the sandbox installs pure-Python wheels only. "
                               "Do that work in a host tool (tools.py in the skill) instead")
        raise PackageError(f"package {asked} was not found: {why}; wheel folders: "
                           f"{', '.join(str(f) for f in self.finder.folders)}. Check its name in the skill's SKILL.md")

    def is_satisfied_by(self, requirement: _Req, candidate: _Cand) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: _Cand) -> list[_Req]:
        deps = []
        if candidate.extras:  # name[extra] pins its base name to the same version
            deps.append(_Req(candidate.name, SpecifierSet(f"=={candidate.version}"), frozenset(),
                             f"{candidate.name}=={candidate.version}", str(candidate)))
        if candidate.wheel is None:
            return deps
        requires_dist, _ = self.finder.metadata(candidate.wheel)
        for line in requires_dist:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                raise PackageError(f"{candidate.wheel.filename} has a bad requirement {line!r}") from None
            if self.target.marker_ok(requirement.marker, candidate.extras):
                requirement.marker = None
                deps.append(_req(requirement, str(candidate)))
        return deps


def resolve(requirements: Sequence[tuple[str, Requirement]], target: Target, finder: Finder) -> list[_Cand]:
    """Candidates for `(origin, requirement)` pairs, transitively; PackageError when impossible."""
    roots = [_req(r, origin) for origin, r in requirements if target.marker_ok(r.marker)]
    resolver = resolvelib.Resolver(_Provider(finder, target), resolvelib.BaseReporter())
    try:
        result = resolver.resolve(roots, max_rounds=2000)
    except resolvelib.ResolutionImpossible as e:
        raise PackageError(_conflict(e.causes, target)) from None
    except resolvelib.ResolutionTooDeep:
        raise PackageError("the skills' packages could not be resolved in 2000 rounds; pin them more tightly") from None
    return sorted((c for c in result.mapping.values() if not c.extras), key=lambda c: c.name)


def _conflict(causes: Collection[Any], target: Target) -> str:
    lines, names = [], []
    for cause in causes:
        req = cause.requirement
        names.append(req.name)
        by = req.origin if cause.parent is None else str(cause.parent)
        lines.append(f"{req.text} (asked for by {by})")
    name = names[0] if names else "?"
    note = f"; the sandbox image carries {name} {target.image[name]} and it cannot be replaced" if name in target.image else ""
    return f"conflicting requirements for package {name}: {'; '.join(dict.fromkeys(lines))}{note}"


# -- locks -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pin:
    """One locked wheel."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Lock:
    requirements: tuple[str, ...]
    image_id: str
    pins: tuple[Pin, ...]
    from_image: Mapping[str, str]

    def fits(self, requirements: Sequence[str], target: Target) -> bool:
        return (tuple(requirements) == self.requirements and self.image_id == target.image_id
                and all(str(target.image.get(n)) == v for n, v in self.from_image.items()))


def read_pylock(path: Path) -> Lock | None:
    """A lock written by rlm-tui, or None when there is none (PackageError when it is damaged)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PackageError(f"{path}: not a readable lock ({e}); delete it to resolve again") from None
    try:
        tool = data["tool"]["rlm-tui"]
        pins = tuple(Pin(p["name"], p["version"], w["name"], w.get("url", ""), w["hashes"]["sha256"])
                     for p in data.get("packages", []) for w in p["wheels"][:1])
        return Lock(tuple(tool["requirements"]), tool["image"], pins, dict(tool.get("from-image", {})))
    except (KeyError, TypeError, IndexError) as e:
        raise PackageError(f"{path}: not a lock written by rlm-tui (missing {e}); delete it to resolve again") from None


def write_pylock(path: Path, lock: Lock, target: Target) -> None:
    q = json.dumps  # a JSON string is a TOML basic string
    lines = ["# Written by rlm-tui: the skill's packages resolved for the sandbox image (pure-Python wheels).",
             'lock-version = "1.0"', 'created-by = "rlm-tui"',
             f"requires-python = {q('==' + str(target.python))}", f"environments = [{q(target.lock_environment())}]", ""]
    for pin in lock.pins:
        lines += ["[[packages]]", f"name = {q(pin.name)}", f"version = {q(pin.version)}",
                  f"wheels = [{{ name = {q(pin.filename)}, url = {q(pin.url)}, hashes = {{ sha256 = {q(pin.sha256)} }} }}]",
                  ""]
    lines += ["[tool.rlm-tui]", f"requirements = [{', '.join(q(r) for r in lock.requirements)}]",
              f"image = {q(lock.image_id)}",
              "from-image = { " + ", ".join(f"{q(n)} = {q(v)}" for n, v in sorted(lock.from_image.items())) + " }", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as out:
        out.write("\n".join(lines))
    os.replace(out.name, path)


def lock_from(requirements: Sequence[str], candidates: Sequence[_Cand], target: Target, finder: Finder) -> Lock:
    pins, carried = [], {}
    for c in candidates:
        if c.wheel is None:
            carried[c.name] = str(c.version)
            continue
        sha256 = c.wheel.sha256 or _sha256(finder.fetch(c.wheel))
        pins.append(Pin(c.name, str(c.version), c.wheel.filename, c.wheel.url, sha256))
    return Lock(tuple(requirements), target.image_id, tuple(pins), carried)


# -- per skill, and installing -----------------------------------------------------------------------

@dataclass(frozen=True)
class SkillPackages:
    """One skill's requirements and where its lock lives."""

    skill: str
    requirements: tuple[str, ...]
    folder: Path | None  # the skill's folder (lock beside SKILL.md), None for a Python-defined skill

    @property
    def lock_path(self) -> Path:
        if self.folder is not None and os.access(self.folder, os.W_OK):
            return self.folder / LOCK_NAME
        if self.folder is not None and (self.folder / LOCK_NAME).is_file():
            return self.folder / LOCK_NAME  # a read-only install with its lock committed
        key = hashlib.sha256(json.dumps([self.skill, self.requirements]).encode()).hexdigest()[:16]
        return cache_dir() / "skill-locks" / f"{self.skill}-{key}.toml"


def locked(skill: SkillPackages, target: Target, finder: Finder) -> tuple[Lock, bool]:
    """The skill's lock, and whether it was resolved just now (else reused because it fits)."""
    path = skill.lock_path
    lock = read_pylock(path)
    if lock is not None and lock.fits(skill.requirements, target):
        return lock, False
    reqs = parse_requirements(skill.requirements, f"skill {skill.skill!r}")
    candidates = resolve([(f"skill {skill.skill!r}", r) for r in reqs], target, finder)
    lock = lock_from(skill.requirements, candidates, target, finder)
    _check_hashes(lock.pins, pinned_hashes(skill.requirements))
    try:
        write_pylock(path, lock, target)
    except OSError:
        pass  # a read-only skill folder and cache: the resolution still holds for this run
    return lock, True


def merged(skills: Sequence[SkillPackages], locks: Sequence[Lock], target: Target,
           finder: Finder) -> tuple[list[Pin], bool]:
    """One set of pins for all skills (their locks when they agree, else one joint resolution),
    and whether a resolution was made just now."""
    chosen: dict[str, Pin] = {}
    agree = True
    for skill_lock in locks:
        for pin in skill_lock.pins:
            if pin.name in chosen and chosen[pin.name].version != pin.version:
                agree = False
            chosen.setdefault(pin.name, pin)
    if agree:
        return list(chosen.values()), False
    requirements = [(f"skill {s.skill!r}", r) for s in skills
                    for r in parse_requirements(s.requirements, f"skill {s.skill!r}")]
    key = hashlib.sha256(json.dumps(sorted(str(r) for _, r in requirements)).encode()).hexdigest()[:16]
    path = cache_dir() / "skill-locks" / f"joint-{key}.toml"
    texts = tuple(sorted(str(r) for _, r in requirements))
    lock = read_pylock(path)
    if lock is not None and lock.fits(texts, target):
        return list(lock.pins), False
    lock = lock_from(texts, resolve(requirements, target, finder), target, finder)
    try:
        write_pylock(path, lock, target)
    except OSError:
        pass
    return list(lock.pins), True


def install(skills: Sequence[SkillPackages], packages_dir: Path, image_zip: Path | None,
            warn: Warn = lambda _m: None) -> list[Pin]:
    """Resolve (or reuse the locks of) the skills' packages and unpack them into `packages_dir`;
    `warn` hears about wheels trusted on first use."""
    wanted = [s for s in skills if s.requirements]
    if not wanted:
        return []
    target = image_target(image_zip)
    finder = Finder(configured_index(), wheel_folders())
    try:
        locks = [locked(s, target, finder) for s in wanted]
        pins, joint = merged(wanted, [lock for lock, _ in locks], target, finder)
        hashed = pinned_hashes(r for s in wanted for r in s.requirements)
        _check_hashes(pins, hashed)
        _check_record(pins, hashed, joint or any(fresh for _, fresh in locks), warn)
        for pin in pins:
            wheel = Wheel(pin.filename, pin.url, pin.sha256)
            shutil.copytree(_unpacked(finder.fetch(wheel, pin.sha256), pin), packages_dir, dirs_exist_ok=True)
    finally:
        finder.close()
    return pins


def _check_hashes(pins: Iterable[Pin], allowed: Mapping[str, set[str]]) -> None:
    for pin in pins:
        if pin.name in allowed and pin.sha256 not in allowed[pin.name]:
            raise PackageError(f"refusing package {pin.name}=={pin.version}: {pin.filename} has sha256 {pin.sha256}, "
                               f"not the --hash the skill pins ({', '.join(sorted(allowed[pin.name]))})")


def lock_file() -> Path:
    """Where every skill wheel's sha256 is recorded on first use (outlives the cache)."""
    return data_dir() / RECORD_NAME


def read_record() -> dict[str, str]:
    """Recorded hashes: `name==version` (name canonical) -> sha256."""
    try:
        lines = lock_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    recorded = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and (match := _HASH.fullmatch(" " + parts[1])):
            name, _, version = parts[0].partition("==")
            recorded[f"{canonicalize_name(name)}=={version}"] = match.group(1).lower()
    return recorded


def _check_record(pins: Sequence[Pin], hashed: Mapping[str, set[str]], fresh: bool, warn: Warn) -> None:
    """Each pin's hash against the first-use record; new ones recorded (and, when just resolved
    with no --hash naming them, reported)."""
    recorded = read_record()
    new = {}
    for pin in pins:
        if pin.name in hashed:
            continue  # a --hash in the skill decides
        key = f"{pin.name}=={pin.version}"
        if key not in recorded:
            new[key] = pin.sha256
            if fresh:
                warn(f"skill package {key} has no --hash: recorded sha256 {pin.sha256} in {lock_file()} on first use "
                     f"(later fetches must match); pin it with '{key} --hash=sha256:{pin.sha256}'")
        elif recorded[key] != pin.sha256:
            raise PackageError(f"refusing package {key}: {pin.filename} has sha256 {pin.sha256}, but {lock_file()} "
                               f"recorded sha256 {recorded[key]} when it was first fetched (if the new wheel is "
                               "genuine, delete that line)")
    if new:
        recorded.update(new)
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


def _unpacked(wheel: Path, pin: Pin) -> Path:
    """The wheel's files, unpacked once into the cache (its .data/purelib merged into the root)."""
    if _sha256(wheel) != pin.sha256:
        raise PackageError(f"wheel {wheel} does not match the locked sha256 of {pin.name} {pin.version}: refused")
    target = cache_dir() / "skill-packages" / pin.sha256[:24]
    if (target / ".complete").is_file():
        return target / "site"
    shutil.rmtree(target, ignore_errors=True)
    site = target / "site"
    site.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # zipfile drops absolute paths and '..' components
    for data in site.glob("*.data"):
        for scheme in ("purelib", "platlib"):
            if (data / scheme).is_dir():
                shutil.copytree(data / scheme, site, dirs_exist_ok=True)
        shutil.rmtree(data)
    (target / ".complete").write_text(pin.filename)
    return site
