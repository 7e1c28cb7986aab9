"""Host side of the WASM sandbox: CPython on WASI under wasmtime."""

from rlm_tui.sandbox.disk_quota import DiskQuota
from rlm_tui.sandbox.image import ImageError
from rlm_tui.sandbox.sandbox import CellResult, Sandbox, SandboxError, SandboxRestarted, VarInfo

__all__ = ["CellResult", "DiskQuota", "ImageError", "Sandbox", "SandboxError", "SandboxRestarted", "VarInfo",
           "WasmInterpreter"]


def __getattr__(name: str):  # the DSPy adapter imports dspy: load it only when asked for
    if name == "WasmInterpreter":
        from rlm_tui.sandbox.interop import WasmInterpreter

        return WasmInterpreter
    raise AttributeError(name)
