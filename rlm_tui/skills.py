"""Skills: instructions, sandbox modules, host tools and packages, bundled under a name.

Defined in Python (`Skill(...)`) or on disk: a folder with `SKILL.md` (YAML front matter with
`name`, `description`, optional `packages`: loose requirements that `skill_packages` resolves and
locks beside the skill; the body is the instructions), `*.py` modules beside
it, and an optional `tools.py` whose public functions become host tools. Discovery looks in the
built-in `skills/`, then `~/.config/rlm-tui/skills/`, then the project's `.rlm/skills/`; the
nearer one wins a name clash.

A project skill's `tools.py` runs on the host, so it is imported only when the user trusts
the project (`rlm_tui.trust`); until then the skill loads without its host tools and the
model is told why. A project skill's files must be regular files inside the project: a link
that leads out of it (to `~/.ssh/...`) is refused, never read into the prompt or the sandbox.
"""

from __future__ import annotations

import inspect
import re
import shutil
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlm_tui import trust
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
    untrusted_tools: Path | None = None  # a tools.py left unimported: its project is not trusted
    folder: Path | None = None  # where SKILL.md is (its packages' lock goes beside it)

    def __post_init__(self) -> None:  # `modules={"name": "file.py"}`: str paths as well as Paths
        object.__setattr__(self, "modules", {name: Path(p) for name, p in self.modules.items()})

    def summary(self) -> str:
        return f"`{self.name}`: {self.description or self.instructions.strip().splitlines()[0][:100]}"


def load_skill_dir(folder: Path, origin: str = "", *, load_tools: bool = True,
                   tools_source: bytes | None = None, within: Path | None = None) -> Skill:
    """A skill from a folder with SKILL.md.

    `load_tools=False` leaves tools.py unimported (an untrusted project); `tools_source` is
    the tools.py content to run (the bytes the trust check hashed). With `within`, every file
    must be a regular file inside that folder (a project skill)."""
    doc = _inside(folder / "SKILL.md", within)
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError as e:
        raise SkillError(f"cannot read {doc}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SkillError(f"{doc} is not UTF-8 text ({e.reason} at byte {e.start})") from None
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
    modules = {p.stem: _inside(p, within) for p in sorted(folder.glob("*.py"))
               if p.name != "tools.py" and not p.name.startswith("_") and p.is_file()}
    tools_file = folder / "tools.py"
    tools: dict[str, Callable[..., Any]] = {}
    untrusted = None
    if tools_file.is_file():
        _inside(tools_file, within)
        if load_tools:
            tools = _load_tools(tools_file, name, tools_source)
        else:
            untrusted = tools_file
    return Skill(name, body.strip(), str(meta.get("description") or ""), modules, tools, tuple(packages),
                 source=f"{origin}{folder}", untrusted_tools=untrusted, folder=doc.parent)


def _inside(path: Path, root: Path | None) -> Path:
    """`path` itself, or (for a project skill) its resolved form, which must be a regular
    file inside `root`."""
    if root is None:
        return path
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise SkillError(f"{path} leads outside the project (to {resolved}); a project skill's files "
                         "must be inside the project")
    if not resolved.is_file():
        raise SkillError(f"{path} is not a regular file")
    return resolved


def _load_tools(path: Path, skill: str, source: bytes | None = None) -> dict[str, Callable[..., Any]]:
    """Run tools.py from its source (never from a cached .pyc, which could differ from the
    source that was checked) and take its public functions."""
    module = types.ModuleType(f"rlm_tui_skill_tools.{skill}")
    module.__file__ = str(path)
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # its own imports leave the folder as it was trusted
    try:
        code = compile(path.read_bytes() if source is None else source, str(path), "exec")
        exec(code, module.__dict__)
    except Exception as e:
        raise SkillError(f"{path}: failed to import ({type(e).__name__}: {e})") from None
    finally:
        sys.dont_write_bytecode = writes_bytecode
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
    """Every skill found, by name, which ones nearer definitions shadowed, and the project's
    host code with whether it is trusted."""

    skills: dict[str, Skill] = field(default_factory=dict)
    shadowed: list[tuple[Skill, Skill]] = field(default_factory=list)  # (hidden, winner)
    host_code: trust.HostCode | None = None
    trusted: bool = True

    @property
    def untrusted_tools(self) -> list[Path]:
        """tools.py files left unimported because the project is not trusted."""
        return [] if self.trusted or self.host_code is None else list(self.host_code.tools)


def discover(project: Path | None = None, extra: Iterable[Skill] = (), *, host_tools: bool = True) -> Catalogue:
    """Every skill on the search path. A project's host tools are imported only when the
    project is trusted; `host_tools=False` imports none (to check names without running code)."""
    catalogue = Catalogue()
    found: list[Skill] = []
    for origin, root in search_path(project):
        if not root.is_dir():
            continue
        folders = [d for d in sorted(root.iterdir()) if (d / "SKILL.md").is_file()]
        if origin != "project" or project is None:
            found += [load_skill_dir(d, f"{origin}: ", load_tools=host_tools) for d in folders]
            continue
        code = catalogue.host_code = trust.host_code(project)
        catalogue.trusted = trust.is_trusted(code)
        found += [load_skill_dir(d, "project: ", load_tools=host_tools and catalogue.trusted,
                                 tools_source=code.sources.get(d.name), within=project)
                  for d in folders]
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
        blocked = [s.name for s in self.enabled if s.untrusted_tools is not None]
        if blocked:
            parts.append(f"The host tools of skill(s) {', '.join(f'`{n}`' for n in blocked)} are disabled until "
                         "the user trusts this project (`rlm-tui trust`); their instructions and modules work. "
                         "If you need those tools, say so in your answer.")
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


def stage(skills: SkillSet, folder: Path, image_zip: Path | None = None,
          warn: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Fill `folder` (mounted read-only at /skills) with modules and packages; returns the guest
    sys.path entries to add. `warn` hears about packages trusted on first use."""
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
        install([SkillPackages(s.name, tuple(s.packages), s.folder) for s in skills.enabled], packages_dir,
                image_zip, warn)
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
