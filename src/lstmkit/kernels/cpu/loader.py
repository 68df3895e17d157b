"""Build the C++ extension on first use, cache it on disk, and say why when it cannot be built.

The source is one translation unit, ``lstm_fused.cpp``, compiled by
``torch.utils.cpp_extension.load`` (ninja and the system C++ compiler) into a cache folder:
``$LSTMKIT_EXTENSIONS_DIR`` if set, else ``$TORCH_EXTENSIONS_DIR/lstmkit``, else
``~/.cache/lstmkit/extensions``. The module name carries a digest of the source, the flags,
the torch version and the CPU, so a changed source or another machine builds anew and a
cached build is never stale. Within a process the module is loaded once.

``LSTMKIT_DISABLE_FUSED=1`` marks the kernel unavailable (for testing the fallback, or for a
machine whose compiler should not be used).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import sys
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("lstm_fused.cpp")
# -ffast-math lets GCC call glibc's vector exp/tanh in the `omp simd` loops; -fopenmp makes
# at::parallel_for (an inline OpenMP region) parallel. The kernel is built on the machine that
# runs it, hence -march=native.
CFLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")
LDFLAGS = ("-fopenmp",)


class ExtensionUnavailableError(RuntimeError):
    """The fused kernel cannot be built here; the message says which condition failed."""


def cache_dir() -> Path:
    if os.environ.get("LSTMKIT_EXTENSIONS_DIR"):
        return Path(os.environ["LSTMKIT_EXTENSIONS_DIR"])
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"]) / "lstmkit"
    return Path.home() / ".cache" / "lstmkit" / "extensions"


def _cpu_identity() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def module_name() -> str:
    digest = hashlib.sha1()
    for part in (SOURCE.read_bytes(), " ".join(CFLAGS + LDFLAGS).encode(),
                 torch.__version__.encode(), sys.version.encode(), _cpu_identity().encode()):
        digest.update(part)
    return f"lstmkit_cpu_{digest.hexdigest()[:12]}"


_build_failure: str | None = None


def unavailable_reason(build: bool = False) -> str | None:
    """Why the extension cannot be used here, or None when it can.

    The cheap checks (``LSTMKIT_DISABLE_FUSED``, a compiler, ninja) always run. With
    ``build=True`` the extension is also built or loaded now, and a build that fails (a compiler
    error, a cache folder that cannot be written) is the reason, remembered for the rest of the
    process so a broken toolchain is not retried on every call.
    """
    if os.environ.get("LSTMKIT_DISABLE_FUSED", "") not in ("", "0"):
        return "LSTMKIT_DISABLE_FUSED is set"
    if _load.cache_info().currsize:
        return None
    if _build_failure is not None:
        return _build_failure
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler found (looked for {compiler!r} on PATH; set CXX to choose one)"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja, or lstmkit[kernels])"
    if build:
        try:
            load_extension()
        except Exception as err:  # any failure (compiler, cache folder) is the reason
            _remember_failure(err)
            return _build_failure
    return None


def _remember_failure(err: Exception) -> None:
    global _build_failure
    _build_failure = (f"its build failed with {type(err).__name__}: {err} (build with "
                      "lstmkit.kernels.cpu.loader.load_extension(verbose=True) to see the log)")


def load_extension(verbose: bool = False) -> ModuleType:
    """The compiled module; builds it on first use (tens of seconds) and reuses the cache after.

    Raises :class:`ExtensionUnavailableError` when no compiler or ninja is found or an earlier
    build in this process failed; a build that fails here raises its own error.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise ExtensionUnavailableError(f"the fused CPU kernel cannot be built: {reason}")
    return _load(verbose)


@functools.lru_cache(maxsize=1)
def _load(verbose: bool) -> ModuleType:
    from torch.utils import cpp_extension

    name = module_name()
    build_dir = cache_dir() / name
    build_dir.mkdir(parents=True, exist_ok=True)
    return cpp_extension.load(
        name=name,
        sources=[str(SOURCE)],
        extra_cflags=list(CFLAGS),
        extra_ldflags=list(LDFLAGS),
        build_directory=str(build_dir),
        verbose=verbose,
    )
