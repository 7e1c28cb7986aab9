"""Where rlm-tui keeps its files: user cache, config and data directories.

`RLM_TUI_HOME` puts all three under one folder (and then wins, so one variable isolates a
whole installation); otherwise `RLM_TUI_CACHE_DIR`, `RLM_TUI_CONFIG_DIR` and `RLM_TUI_DATA_DIR`
move one of them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "rlm-tui"
# Linux's XDG layout, as platformdirs computes it, without importing platformdirs (~6 ms of
# every start): an absolute $XDG_*_HOME, else the default under an absolute $HOME.
_XDG = {"cache": ("XDG_CACHE_HOME", ".cache"), "config": ("XDG_CONFIG_HOME", ".config"),
        "data": ("XDG_DATA_HOME", ".local/share")}


def _base(kind: str) -> Path:
    home = os.environ.get("RLM_TUI_HOME")
    if home:
        return Path(home) / kind
    own = os.environ.get(f"RLM_TUI_{kind.upper()}_DIR")
    if own:
        return Path(own)
    if sys.platform.startswith("linux"):
        variable, default = _XDG[kind]
        xdg, user_home = os.environ.get(variable, ""), os.environ.get("HOME", "")
        if xdg.startswith("/"):
            return Path(xdg) / APP
        if user_home.startswith("/"):
            return Path(user_home) / default / APP
    import platformdirs  # other systems, or no usable $HOME

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP))


def cache_dir() -> Path:
    """Compiled modules and the extracted interpreter image."""
    return _base("cache")


def config_dir() -> Path:
    """`config.toml`, user skills and themes."""
    return _base("config")


def data_dir() -> Path:
    """Sessions and traces."""
    return _base("data")


def package_data(name: str) -> Path:
    """A data folder shipped with rlm-tui (`sandbox`, `skills`, `themes`).

    Installed wheels carry them under `rlm_tui/_data/`; a source checkout has them at the
    repository root.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"rlm-tui's {name}/ folder is missing from the installation ({here})")
