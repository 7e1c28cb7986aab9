"""Skills: instructions, sandbox modules, host tools and packages, bundled under a name.

Defined in Python (`Skill(...)`) or on disk: a folder with `SKILL.md` (YAML front matter with
`name`, `description`, optional `packages`: loose requirements resolved by `skill_packages`; the
body is the instructions), `*.py` modules beside
it, and an optional `tools.py` whose public functions become host tools. Discovery looks in the
built-in `skills/`, then `~/.config/rlm-tui/skills/`, then the project's `.rlm/skills/`; the
nearer one wins a name clash.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlm_tui.paths import config_dir, package_data
from rlm_tui.skill_packages import PackageError, SkillPackages, install, parse_requirements

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.DOTALL)


class SkillError(ValueError):
    """A skill is malformed, missing, or clashes with another; the message names the sources."""


@dataclass(frozen=True)
class Skill:
    """One skill. `modules` maps import names to .py files (or package folders)."""

    name: str
    instructions: str
    description: str = ""
    modules: Mapping[str, Path] = field(default_factory=dict)
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    packages: Sequence[str] = ()
    source: str = "python"
    folder: Path | None = None  # where SKILL.md is (its packages' lock goes beside it)

    def summary(self) -> str:
        return f"`{self.name}`: {self.description or self.instructions.strip().splitlines()[0][:100]}"


def load_skill_dir(folder: Path, origin: str = "") -> Skill:
    """A skill from a folder with SKILL.md."""
    doc = folder / "SKILL.md"
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError as e:
        raise SkillError(f"cannot read {doc}: {e.strerror or e}") from None
    match = _FRONT_MATTER.match(text)
    meta: dict[str, Any] = {}
    body = text
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as e:
            raise SkillError(f"{doc}: front matter is not valid YAML ({e})") from None
        if not isinstance(meta, dict):
            raise SkillError(f"{doc}: front matter must be a mapping")
        body = match.group(2)
    name = str(meta.get("name") or folder.name)
    packages = meta.get("packages") or []
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise SkillError(f"{doc}: `packages` must be a list of requirement strings like 'python-docx>=1.1'")
    try:
        parse_requirements(packages, str(doc))
    except PackageError as e:
        raise SkillError(str(e)) from None
    modules = {p.stem: p for p in sorted(folder.glob("*.py")) if p.name != "tools.py" and not p.name.startswith("_")}
    tools = _load_tools(folder / "tools.py", name) if (folder / "tools.py").is_file() else {}
    return Skill(name, body.strip(), str(meta.get("description") or ""), modules, tools, tuple(packages),
                 source=f"{origin}{folder}", folder=folder)


def _load_tools(path: Path, skill: str) -> dict[str, Callable[..., Any]]:
    spec = importlib.util.spec_from_file_location(f"rlm_tui_skill_tools.{skill}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise SkillError(f"{path}: failed to import ({type(e).__name__}: {e})") from None
    return {name: fn for name, fn in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__}


def search_path(project: Path | None) -> list[tuple[str, Path]]:
    """Where skills are looked for, farthest first (a later one wins a clash)."""
    places = [("built-in", package_data("skills")), ("user", config_dir() / "skills")]
    if project is not None:
        places.append(("project", project / ".rlm" / "skills"))
    return places


@dataclass
class Catalogue:
    """Every skill found, by name, and which ones nearer definitions shadowed."""

    skills: dict[str, Skill] = field(default_factory=dict)
    shadowed: list[tuple[Skill, Skill]] = field(default_factory=list)  # (hidden, winner)


def discover(project: Path | None = None, extra: Iterable[Skill] = ()) -> Catalogue:
    catalogue = Catalogue()
    found: list[Skill] = []
    for origin, root in search_path(project):
        if root.is_dir():
            found += [load_skill_dir(d, f"{origin}: ") for d in sorted(root.iterdir()) if (d / "SKILL.md").is_file()]
    for skill in [*found, *extra]:
        if skill.name in catalogue.skills:
            catalogue.shadowed.append((catalogue.skills[skill.name], skill))
        catalogue.skills[skill.name] = skill
    return catalogue


@dataclass(frozen=True)
class SkillSet:
    """Enabled skills merged into one prompt section, one module folder and one tool table."""

    enabled: tuple[Skill, ...]
    available: tuple[Skill, ...]
    modules: Mapping[str, Path]
    tools: Mapping[str, Callable[..., Any]]
    packages: tuple[str, ...]

    def prompt(self, tools: Mapping[str, Callable[..., Any]] | None = None) -> str:
        """Enabled skills in full, host tools with signatures, other skills one line each."""
        parts = [f"## Skill: {s.name}\n{s.instructions.strip()}" for s in self.enabled]
        tools = self.tools if tools is None else tools
        if tools:
            parts.append("Host tools (call them like functions):\n" + "\n".join(
                f"- `{name}{_signature(fn)}`: {inspect.getdoc(fn) or ''}".rstrip(": ") for name, fn in tools.items()))
        if self.available:
            parts.append("More skills (call `load_skill(name)` to read one):\n"
                         + "\n".join(f"- {s.summary()}" for s in self.available))
        return "\n\n".join(parts)


def select(catalogue: Catalogue, enable: Iterable[str], disable: Iterable[str] = (),
           extra: Iterable[Skill] = ()) -> SkillSet:
    """Merge the enabled skills; clashes between modules or tools are errors naming both sources."""
    skills = dict(catalogue.skills)
    skills.update({s.name: s for s in extra})
    off = set(disable)
    wanted = [n for n in dict.fromkeys([*enable, *(s.name for s in extra)]) if n not in off]
    unknown = [n for n in wanted if n not in skills]
    if unknown:
        raise SkillError(f"unknown skill(s) {', '.join(unknown)}; available: {', '.join(sorted(skills)) or 'none'}")
    enabled = [skills[n] for n in wanted]
    modules: dict[str, tuple[Path, Skill]] = {}
    tools: dict[str, tuple[Callable[..., Any], Skill]] = {}
    for skill in enabled:
        for kind, table, items in (("module", modules, skill.modules), ("tool", tools, skill.tools)):
            for name, value in items.items():
                if name in table and table[name][1] is not skill:
                    other = table[name][1]
                    raise SkillError(f"{kind} {name!r} is defined by skill {other.name!r} ({other.source}) "
                                     f"and by skill {skill.name!r} ({skill.source})")
                table[name] = (value, skill)
    packages = tuple(dict.fromkeys(p for s in enabled for p in s.packages))
    available = tuple(s for n, s in sorted(skills.items()) if n not in wanted)
    return SkillSet(tuple(enabled), available, {k: v for k, (v, _) in modules.items()},
                    {k: v for k, (v, _) in tools.items()}, packages)


def stage(skills: SkillSet, folder: Path, image_zip: Path | None = None) -> list[str]:
    """Fill `folder` (mounted read-only at /skills) with modules and packages; returns the guest
    sys.path entries to add."""
    modules_dir, packages_dir = folder / "modules", folder / "packages"
    for d in (modules_dir, packages_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for name, path in skills.modules.items():
        target = modules_dir / (f"{name}.py" if path.is_file() else name)
        if path.is_dir():
            shutil.copytree(path, target, symlinks=False)
        else:
            shutil.copyfile(path, target)
    try:
        install([SkillPackages(s.name, tuple(s.packages), s.folder) for s in skills.enabled], packages_dir, image_zip)
    except PackageError as e:
        raise SkillError(str(e)) from None
    return ["/skills/modules", "/skills/packages"]


def _signature(fn: Callable[..., Any]) -> str:
    for eval_str in (True, False):  # string annotations (PEP 563) resolved where possible
        try:
            return str(inspect.signature(fn, eval_str=eval_str))
        except (TypeError, ValueError, NameError):
            continue
    return "(...)"
