"""Build the C++ extension on first use, cache it on disk, and say why when it cannot be built.

The source is one translation unit, ``lstm_fused.cpp``, compiled by
``torch.utils.cpp_extension.load`` (ninja and the system C++ compiler) into a cache folder:
``$LSTMKIT_EXTENSIONS_DIR`` if set, else ``$TORCH_EXTENSIONS_DIR/lstmkit``, else
``~/.cache/lstmkit/extensions``. The module name carries a digest of the source, the flags,
the build lock protocol, the torch version and where torch and Python's headers are
installed, and the CPU, so a changed source or another machine builds anew, a cached build is
never stale, and two environments sharing the cache folder each keep a build of their own
(ninja's build file names their include folders: with one folder between them, each rebuilt
it after the other had used it). Within a process the module is loaded once.

``LSTMKIT_DISABLE_FUSED=1`` marks the kernel unavailable (for testing the fallback, or for a
machine whose compiler should not be used).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("lstm_fused.cpp")
# -ffast-math lets GCC call glibc's vector exp in the `omp simd` loops; -fopenmp makes
# at::parallel_for (an inline OpenMP region) parallel. The kernel is built on the machine that
# runs it, hence -march=native.
CFLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")
LDFLAGS = ("-fopenmp",)
# how builds take turns in a folder (see _build_lock); part of the folder's name, so that
# versions that take turns differently never share one
LOCK_PROTOCOL = b"flock-1"


class ExtensionUnavailableError(RuntimeError):
    """The fused kernel cannot be built here; the message says which condition failed."""


def cache_dir() -> Path:
    if os.environ.get("LSTMKIT_EXTENSIONS_DIR"):
        return Path(os.environ["LSTMKIT_EXTENSIONS_DIR"])
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"]) / "lstmkit"
    return Path.home() / ".cache" / "lstmkit" / "extensions"


def _cpu_identity(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model and instruction set (the first core's ``model name`` and ``flags``
    lines, ``Features`` on ARM): a ``-march=native`` build is only for CPUs that match both."""
    keys = ("model name", "flags", "Features")
    found: dict[str, str] = {}
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key in keys:
                    found.setdefault(key, line.strip())
    except OSError:
        pass
    if found:
        return "\n".join(found[k] for k in keys if k in found)
    return platform.processor() or platform.machine()


def module_name() -> str:
    digest = hashlib.sha1()
    for part in (SOURCE.read_bytes(), " ".join(CFLAGS + LDFLAGS).encode(), LOCK_PROTOCOL,
                 torch.__version__.encode(), sys.version.encode(), _cpu_identity().encode(),
                 *(str(place).encode() for place in _include_roots())):
        digest.update(part)
    return f"lstmkit_cpu_{digest.hexdigest()[:12]}"


def _include_roots() -> tuple[str, str]:
    """Where the build's headers and libraries come from: torch's package folder and Python's
    include folder (another environment of the same versions has other ones)."""
    return os.path.dirname(os.path.abspath(torch.__file__)), sysconfig.get_paths()["include"]


_module: ModuleType | None = None  # the loaded extension, once built or loaded
_build_failure: str | None = None  # why the last build in this process failed
_load_seconds = 0.0  # spent in load_extension's builds and loads (see load_seconds)


def unavailable_reason(build: bool = False) -> str | None:
    """Why the extension cannot be used here, or None when it can.

    The cheap checks (``LSTMKIT_DISABLE_FUSED``, a compiler, ninja) always run. With
    ``build=True`` the extension is also built or loaded now, and a build that fails (a compiler
    error, a cache folder that cannot be written) is the reason. The failure is remembered, so
    the dispatcher does not retry a broken toolchain on every call; an explicit
    :func:`load_extension` tries again.
    """
    off = _switched_off()
    if off is not None:
        return off
    if _module is not None:
        return None
    if _build_failure is not None:
        return _build_failure
    reason = _toolchain_reason()
    if reason is None and build:
        try:
            load_extension()
        except Exception:  # any failure (compiler, cache folder) is the reason, kept by load
            return _build_failure
    return reason


def _switched_off() -> str | None:
    if os.environ.get("LSTMKIT_DISABLE_FUSED", "") not in ("", "0"):
        return "LSTMKIT_DISABLE_FUSED is set"
    return None


def _toolchain_reason() -> str | None:
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler found (looked for {compiler!r} on PATH; set CXX to choose one)"
    _put_ninja_on_path()
    if not cpp_extension.is_ninja_available():
        return ("ninja is not on PATH, and the ninja package (an lstmkit dependency) is not "
                "installed: pip install ninja")
    return None


def _put_ninja_on_path() -> None:
    """torch runs ``ninja`` from PATH; the ninja package that lstmkit installs is in the
    environment's bin folder, which is not on PATH when Python runs from it directly (a
    Jupyter kernel, an IDE, cron): put that folder at PATH's end."""
    if shutil.which("ninja") is not None:
        return
    try:
        import ninja
    except ImportError:
        return
    folder = getattr(ninja, "BIN_DIR", None)
    if folder and shutil.which("ninja", path=folder) is not None:
        os.environ["PATH"] = os.pathsep.join(filter(None, (os.environ.get("PATH"), folder)))


def load_extension(verbose: bool = False) -> ModuleType:
    """The compiled module; builds it on first use (tens of seconds) and reuses the cache after.

    Raises :class:`ExtensionUnavailableError` when the kernel is switched off or no compiler or
    ninja is found. Otherwise it builds (again, after an earlier failure in this process: the
    cause may be fixed), and a build that fails raises its own error, whose first line is kept
    as the reason the dispatcher gives.
    """
    global _module, _build_failure, _load_seconds
    reason = _switched_off()
    if reason is None and _module is not None:
        return _module
    reason = reason or _toolchain_reason()
    if reason is not None:
        raise ExtensionUnavailableError(f"the fused CPU kernel cannot be built: {reason}")
    start = time.perf_counter()
    try:
        _module = _build(verbose)
    except Exception as err:
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        _build_failure = (f"its build failed with {type(err).__name__}: {first_line} (run "
                          "lstmkit.kernels.cpu.loader.load_extension(verbose=True) for the log)")
        raise
    finally:
        _load_seconds += time.perf_counter() - start
    _build_failure = None
    return _module


def load_seconds() -> float:
    """Seconds this process has spent building or loading the extension (a first build is
    about a minute): training clocks leave them out."""
    return _load_seconds


def _build(verbose: bool) -> ModuleType:
    from torch.utils import cpp_extension

    name = module_name()
    build_dir = cache_dir() / name
    build_dir.mkdir(parents=True, exist_ok=True)

    def built() -> bool:
        return any((build_dir / f"{name}{suffix}").exists() for suffix in (".so", ".pyd"))

    # (another process's load of a finished build holds the lock too, briefly: no word then)
    with _build_lock(build_dir, quiet=built()):
        if not verbose and not built():
            # a silent minute looks like a hang (or like slow training, whose timer it joins)
            print(f"lstmkit: building the fused CPU kernel into {build_dir} (about a minute; "
                  "later processes load the build)", file=sys.stderr, flush=True)
        # compiled from a copy in the folder: ninja's build file names the source's path, and
        # with the package's own, another checkout or environment of the same source (the
        # same folder) rebuilt it, each in turn, for every process that loads it
        source = build_dir / SOURCE.name
        if not source.exists() or source.read_bytes() != SOURCE.read_bytes():
            shutil.copyfile(SOURCE, source)
        return cpp_extension.load(
            name=name,
            sources=[str(source)],
            extra_cflags=list(CFLAGS),
            extra_ldflags=list(LDFLAGS),
            build_directory=str(build_dir),
            verbose=verbose,
        )


@contextmanager
def _build_lock(build_dir: Path, quiet: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``build_dir`` while torch builds or loads the extension
    (saying so when it waits for another process, unless ``quiet``).

    torch guards the folder with a ``lock`` file that it deletes when done; a build killed
    mid-way leaves it behind, and every later load then waits for it forever. The lock taken
    here (``fcntl.flock`` on ``lstmkit.lock``) is released by the system when its holder dies,
    and every build of this lstmkit takes it first (older versions, which did not, build in
    other folders: :data:`LOCK_PROTOCOL` is part of the folder name), so a ``lock`` file found
    while holding it is such a leftover and is removed. Where the lock cannot be taken (no
    ``fcntl`` on Windows, a file system without locks, a lock file this user cannot open),
    torch's file alone guards the folder, as before.
    """
    handle = _flock(build_dir / "lstmkit.lock", waiting=None if quiet else (
        f"lstmkit: waiting for another process's build of the fused CPU kernel in {build_dir} "
        "(about a minute)"))
    if handle is None:
        yield
        return
    try:
        (build_dir / "lock").unlink(missing_ok=True)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def _flock(path: Path, waiting: str | None = None) -> int | None:
    """A descriptor of ``path`` holding an exclusive ``flock`` (blocking until it is free, and
    first printing ``waiting`` to stderr when another holds it: a silent wait looks like a
    hang), or None when such a lock cannot be had here."""
    try:
        import fcntl
    except ImportError:
        return None
    try:  # flock needs no write access: read-only, so another user's lock file serves too
        handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # (held by another process)
            if waiting is not None:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:  # ENOLCK, EOPNOTSUPP: some network file systems
        os.close(handle)
        return None
    except BaseException:  # (Ctrl-C while waiting: the descriptor is not left open)
        os.close(handle)
        raise
    return handle
