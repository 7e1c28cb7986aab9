"""Themes from TOML files: the built-ins in `themes/` plus the user's `<config dir>/themes/`.

A theme file has `name`, `dark`, an optional pygments `syntax` style, a `[colors]` table with
Textual's theme colours (primary, secondary, accent, foreground, background, surface, panel,
success, warning, error, luminosity_spread, text_alpha) and an optional `[variables]` table of
Textual CSS variables.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.theme import Theme

from rlm_tui.paths import config_dir, package_data

COLOR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
              "background", "surface", "panel", "boost")


class ThemeFileError(ValueError):
    """A theme file cannot be used; the message names the file and the problem."""


@dataclass
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)
    syntax: dict[str, str] = field(default_factory=dict)  # theme name -> pygments style
    errors: list[str] = field(default_factory=list)


def load_theme_file(path: Path) -> tuple[Theme, str | None]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ThemeFileError(f"{path}: {e}") from None
    colors = data.get("colors", {})
    if not isinstance(colors, dict) or "primary" not in colors:
        raise ThemeFileError(f"{path}: needs a [colors] table with at least `primary`")
    unknown = set(colors) - set(COLOR_KEYS) - {"luminosity_spread", "text_alpha"}
    if unknown:
        raise ThemeFileError(f"{path}: unknown colour keys {sorted(unknown)}")
    variables = {str(k): str(v) for k, v in data.get("variables", {}).items()}
    try:
        theme = Theme(name=str(data.get("name") or path.stem), dark=bool(data.get("dark", True)),
                      variables=variables, **colors)
        theme.to_color_system()  # validates every colour
    except Exception as e:  # textual raises ColorParseError and friends
        raise ThemeFileError(f"{path}: {e}") from None
    syntax = data.get("syntax")
    return theme, str(syntax) if syntax else None


def theme_dirs() -> list[Path]:
    dirs = []
    try:
        dirs.append(package_data("themes"))
    except FileNotFoundError:
        pass
    dirs.append(config_dir() / "themes")
    return dirs


def discover(dirs: list[Path] | None = None) -> ThemeSet:
    """Every loadable theme; later folders (the user's) override earlier ones by name."""
    found = ThemeSet()
    for folder in dirs if dirs is not None else theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme, syntax = load_theme_file(path)
            except ThemeFileError as e:
                found.errors.append(str(e))
                continue
            found.themes[theme.name] = theme
            if syntax:
                found.syntax[theme.name] = syntax
    return found


def syntax_style(theme_name: str, dark: bool, known: dict[str, str]) -> str:
    return known.get(theme_name) or ("one-dark" if dark else "friendly")
