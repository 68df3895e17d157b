"""LSTM(backend="fused") against backend="reference": whole stacks, and the dispatch rules."""

from __future__ import annotations

import os
import re
import warnings

import pytest
import torch

from lstmkit.kernels import dispatch
from lstmkit.nn import LSTM

T, B, I, H = 4, 3, 5, 6
VARIANTS = {
    "plain": {},
    "peephole": {"peephole": True},
    "coupled": {"coupled_gates": True},
    "layer_norm": {"layer_norm": True},
    "zoneout": {"zoneout": (0.3, 0.2)},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "weight_drop": {"weight_drop": 0.3},
    "everything": {"peephole": True, "coupled_gates": True, "layer_norm": True,
                   "zoneout": 0.2, "recurrent_dropout": 0.2, "weight_drop": 0.2,
                   "proj_size": 4, "dropout": 0.2},
}


def outputs_and_grads(model: LSTM, x: torch.Tensor, seed: int, **call) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)  # the same dropout/zoneout masks on both backends
    x = x.clone().requires_grad_()
    out, (h_n, c_n) = model(x, **call)
    gen = torch.Generator().manual_seed(2)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum()
               for t in (out, h_n, c_n))
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [x, *params])
    result = {"output": out, "h_n": h_n, "c_n": c_n, "grad x": grads[0]}
    result.update({f"grad {n}": g for n, g in zip(names, grads[1:], strict=True)})
    return result


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_stack_matches_reference(fused_ext, variant, training):
    kwargs = {"num_layers": 2, "bidirectional": True, **VARIANTS[variant]}
    ref = LSTM(I, H, backend="reference", **kwargs).double()
    fused = LSTM(I, H, backend="fused", **kwargs).double()
    fused.load_state_dict(ref.state_dict())
    ref.train(training)
    fused.train(training)
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([T, 2, 3])
    reset = torch.rand(T, B) < 0.3
    a = outputs_and_grads(ref, x, seed=5, lengths=lengths, reset=reset)
    b = outputs_and_grads(fused, x, seed=5, lengths=lengths, reset=reset)
    assert fused.last_backend.name == "fused"
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-10, msg=key)


@pytest.mark.parametrize("variant", ["plain", "peephole", "coupled"])
def test_saturated_gates_stay_finite_and_nan_input_stays_nan(fused_ext, variant):
    # gate pre-activations far below -88: exp(-x) overflows float32, and the kernel's
    # -ffast-math build had turned that into NaN where the reference saturates the gate to 0
    kwargs = VARIANTS[variant]
    ref = LSTM(I, H, backend="reference", **kwargs)
    fused = LSTM(I, H, backend="fused", **kwargs)
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, I) * 1000
    with torch.no_grad():
        expected, got = ref(x), fused(x)
        step_out, _ = fused.step(x[0])
    assert torch.isfinite(expected[0]).all()
    for e, g in zip([expected[0], *expected[1]], [got[0], *got[1]], strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(step_out, expected[0][0], rtol=1e-5, atol=1e-5)
    x = torch.randn(T, B, I)
    x[1, 0, 0] = float("nan")
    with torch.no_grad():
        out, _ = fused(x)
    assert out[1:, 0].isnan().all() and not out[:, 1:].isnan().any()


def test_auto_picks_fused_for_variants_and_lengths(fused_ext):
    x = torch.randn(T, B, I)
    variant = LSTM(I, H, peephole=True)
    variant(x)
    assert variant.last_backend.name == "fused"
    assert "peephole" in variant.last_backend.reason
    # the reason reads as a sentence (README prints it): "cannot serve reset= is given" did not
    variant(x, reset=torch.zeros(T, B, dtype=torch.bool))
    assert variant.last_backend.reason.startswith(
        "torch's fused op computes only the plain LSTM (here: peephole, reset= is given); ")
    plain = LSTM(I, H)
    plain(x)
    assert plain.last_backend.name == "torch"
    plain(x, lengths=torch.tensor([T, 2, 1]))
    assert plain.last_backend.name == "fused"
    assert "lengths" in plain.last_backend.reason


def test_fused_path_under_mixed_precision_computes_in_the_input_dtype(fused_ext):
    model = LSTM(I, H, peephole=True)
    x, lengths = torch.randn(T, B, I), torch.tensor([T, 2, 1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = model(x, lengths=lengths)
    assert model.last_backend.name == "fused" and out.dtype == torch.float32
    torch.testing.assert_close(out, model(x, lengths=lengths)[0], rtol=0, atol=0)


def test_second_derivatives_are_refused_not_lost(fused_ext):
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    model = LSTM(I, H, peephole=True).double()
    first, = torch.autograd.grad(model(x)[0].sum(), x)  # plain backward: fine
    assert torch.isfinite(first).all()
    with pytest.raises(RuntimeError, match=r"fused CPU kernel has no second derivative .* "
                                           r"use backend='reference'"):
        torch.autograd.grad(model(x)[0].sum(), x, create_graph=True)
    # the reference path has them
    reference = LSTM(I, H, peephole=True, backend="reference").double()
    reference.load_state_dict(model.state_dict())
    g, = torch.autograd.grad(reference(x)[0].sum(), x, create_graph=True)
    second, = torch.autograd.grad(g.pow(2).sum(), x)
    assert second.abs().sum() > 0


def _scan_operator_args(layer_norm: bool, proj: bool, peephole: bool,
                        masks: bool) -> tuple[object, ...]:
    """Arguments of torch.ops.lstmkit.scan for one layer-direction (float64, leaves)."""
    gen = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    R = 2 if proj else H
    valid = torch.tensor([[True] * B] * 2 + [[True, False, True]] * (T - 2)) if masks else None
    reset = (torch.rand(T, B, generator=gen) < 0.3) if masks else None
    return (leaf(T, B, 4 * H), leaf(B, R), leaf(B, H), leaf(4 * H, R),
            leaf(3, H) if peephole else None,
            *((leaf(4 * H), leaf(4 * H), leaf(H), leaf(H)) if layer_norm else (None,) * 4),
            leaf(R, H) if proj else None, valid, reset,
            torch.rand(B, R, generator=gen, dtype=torch.float64) if masks else None,
            torch.rand(T, B, H, generator=gen, dtype=torch.float64) if masks else None,
            torch.rand(T, B, R, generator=gen, dtype=torch.float64) if masks else None,
            False, layer_norm, 1e-5)


@pytest.mark.parametrize("every_option", [False, True], ids=["plain", "every option"])
def test_the_scan_operator_passes_torchs_custom_op_checks(fused_ext, every_option):
    # schema, autograd registration, the Meta kernels under fake tensors, and AOT dispatch with
    # dynamic shapes: what torch.export and torch.compile rely on
    args = _scan_operator_args(*(every_option,) * 4)
    result = torch.library.opcheck(torch.ops.lstmkit.scan.default, args)
    assert set(result.values()) == {"SUCCESS"}, result


def test_without_compiler_auto_warns_once_and_fused_raises(monkeypatch):
    monkeypatch.setenv("LSTMKIT_DISABLE_FUSED", "1")
    monkeypatch.setattr(dispatch, "_warned_no_fused", False)
    x = torch.randn(T, B, I)
    model = LSTM(I, H, layer_norm=True)
    with pytest.warns(RuntimeWarning, match="the fused kernel cannot be built "
                                            r"\(LSTMKIT_DISABLE_FUSED is set\)") as caught:
        model(x)
    # at the line that called the LSTM, not inside torch's Module call
    assert [w.filename for w in caught] == [__file__], [w.filename for w in caught]
    assert model.last_backend.name == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(x)  # once only
    explicit = LSTM(I, H, layer_norm=True, backend="fused")
    with pytest.raises(ValueError, match=re.escape(
            "backend='fused' cannot serve this call: the fused kernel cannot be built "
            "(LSTMKIT_DISABLE_FUSED is set); use backend='auto' or 'reference'")):
        explicit(x)


def test_a_failed_build_is_a_reason_not_a_crash(fused_ext, monkeypatch, tmp_path):
    # a compiler is there but the build fails (here: the cache folder cannot be created);
    # padded plain input never needs the kernel, and packed input must not crash on it
    from lstmkit.kernels.cpu import loader

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("LSTMKIT_EXTENSIONS_DIR", str(blocker / "extensions"))
    monkeypatch.setattr(loader, "_module", None)
    monkeypatch.setattr(loader, "_build_failure", None)
    monkeypatch.setattr(dispatch, "_warned_no_fused", False)
    monkeypatch.setattr(loader.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr("torch.utils.cpp_extension.is_ninja_available", lambda: True)
    x = torch.randn(T, B, I)
    plain = LSTM(I, H)
    plain(x, lengths=[T, 2, 1])
    assert plain.last_backend.name == "torch"
    assert "its build failed with NotADirectoryError" in plain.last_backend.reason
    variant = LSTM(I, H, peephole=True)
    with pytest.warns(RuntimeWarning, match="its build failed with"):
        variant(x)
    assert variant.last_backend.name == "reference"
    with torch.no_grad():
        variant.step(x[0])  # the reference cell, not the kernel
    with pytest.raises(ValueError, match="backend='fused' cannot serve this call: the "
                                         "fused kernel cannot be built \\(its build failed"):
        LSTM(I, H, backend="fused")(x)
    # an explicit load_extension tries again: once the cause is fixed, the kernel serves
    monkeypatch.setenv("LSTMKIT_EXTENSIONS_DIR", str(tmp_path / "extensions"))
    monkeypatch.setattr(loader, "_build", lambda verbose: fused_ext)
    assert loader.load_extension() is fused_ext
    variant(x)
    assert variant.last_backend.name == "fused"


def test_a_lock_file_left_by_a_killed_build_does_not_block_the_next_load(fused_ext, tmp_path):
    # torch's build folder lock is a file that a build killed mid-way leaves behind; the next
    # process to load the extension waited on it forever
    import os
    import shutil
    import subprocess
    import sys

    from lstmkit.kernels.cpu import loader

    name = loader.module_name()
    shutil.copytree(loader.cache_dir() / name, tmp_path / name)  # a finished build
    (tmp_path / name / "lock").write_text("")
    load = "from lstmkit.kernels.cpu import loader; loader.load_extension(); print('loaded')"
    try:
        done = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True,
                              timeout=120,
                              env={**os.environ, "LSTMKIT_EXTENSIONS_DIR": str(tmp_path)})
    except subprocess.TimeoutExpired:
        pytest.fail("the load waited on the leftover lock file")
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-2000:]
    assert not (tmp_path / name / "lock").exists()


def test_where_no_lock_can_be_had_torchs_lock_file_alone_guards_the_build(monkeypatch,
                                                                         tmp_path):
    # a file system without locks (ENOLCK): build as before, leaving torch's file alone
    import errno
    import fcntl

    from lstmkit.kernels.cpu import loader

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    (tmp_path / "lock").write_text("")  # another process's build, as far as we can tell
    with loader._build_lock(tmp_path):
        pass
    assert (tmp_path / "lock").exists()


def test_fused_rejects_half_precision():
    model = LSTM(I, H, peephole=True, backend="fused").half()
    with pytest.raises(ValueError, match=re.escape(
            "backend='fused' cannot serve this call: the input is torch.float16, and the fused "
            "kernel takes float32 or float64")):
        model(torch.randn(T, B, I).half())


def test_the_cache_key_holds_the_cpus_instruction_set(tmp_path):
    # a -march=native build is for one instruction set; the key read the model name alone
    # (the first of the lines it looked for), so two CPUs sold under one name, one without
    # AVX-512, would share a cached build through a shared cache folder
    from lstmkit.kernels.cpu import loader

    def identity(flags: str, model: str = "AMD EPYC") -> str:
        path = tmp_path / f"cpuinfo_{flags.replace(' ', '_')}_{model.replace(' ', '_')}"
        path.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags}\n\n"
                        f"processor\t: 1\nmodel name\t: other\nflags\t\t: other\n")
        return loader._cpu_identity(str(path))

    assert identity("fpu sse2 avx2") != identity("fpu sse2 avx2 avx512f")
    assert identity("fpu sse2 avx2", "A") != identity("fpu sse2 avx2", "B")
    assert identity("fpu sse2 avx2") == "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2"
    arm = tmp_path / "cpuinfo_arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve\nCPU part\t: 0xd40\n")
    assert loader._cpu_identity(str(arm)) == "Features\t: fp asimd sve"


def test_the_cache_key_holds_where_torch_and_pythons_headers_are(monkeypatch):
    # ninja's build file names torch's and Python's include folders: two environments of the
    # same versions shared one cache folder and each rebuilt the kernel (minutes) after the
    # other had used it
    import sysconfig

    from lstmkit.kernels.cpu import loader

    name = loader.module_name()
    assert loader.module_name() == name
    paths = sysconfig.get_paths()
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {**paths, "include": "/other/include"})
    other_python = loader.module_name()
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__file__", "/other/env/site-packages/torch/__init__.py")
    other_torch = loader.module_name()
    assert len({name, other_python, other_torch}) == 3


def test_waiting_for_another_processs_build_says_so(tmp_path, capsys):
    # a process that found another one building the kernel waited (minutes on a loaded
    # machine) without a word, the build's own line printed only once the lock was its own
    import fcntl
    import threading

    from lstmkit.kernels.cpu import loader

    holder = os.open(tmp_path / "lstmkit.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    fcntl.flock(holder, fcntl.LOCK_EX)  # (another open file: its flock excludes ours)
    entered = threading.Event()

    def build() -> None:
        with loader._build_lock(tmp_path):
            entered.set()

    thread = threading.Thread(target=build)
    thread.start()
    assert not entered.wait(0.5)
    os.close(holder)
    thread.join(10)
    assert entered.is_set()
    assert capsys.readouterr().err == (
        f"lstmkit: waiting for another process's build of the fused CPU kernel in {tmp_path} "
        "(about a minute)\n")
    with loader._build_lock(tmp_path):  # (a free lock: nothing said)
        pass
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("built", "verbose"), [(True, False), (False, True)])
def test_a_wait_for_the_lock_is_said_for_a_build_alone(monkeypatch, tmp_path, capsys,
                                                      built: bool, verbose: bool) -> None:
    # a load of a finished build holds the lock too (DDP ranks starting together): only a
    # wait for a build is worth a word; load_extension(verbose=True), asked for the build's
    # log, waited for one without a word
    import fcntl
    import threading
    from types import SimpleNamespace

    from torch.utils import cpp_extension

    from lstmkit.kernels.cpu import loader

    monkeypatch.setenv("LSTMKIT_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: SimpleNamespace(name=kw["name"]))
    name = loader.module_name()
    (tmp_path / name).mkdir()
    if built:
        (tmp_path / name / f"{name}.so").write_bytes(b"")
    holder = os.open(tmp_path / name / "lstmkit.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    fcntl.flock(holder, fcntl.LOCK_EX)
    thread = threading.Thread(target=loader._build, args=(verbose,))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # (waiting)
    os.close(holder)
    thread.join(10)
    assert not thread.is_alive()
    waited = ("" if built else f"lstmkit: waiting for another process's build of the fused "
              f"CPU kernel in {tmp_path / name} (about a minute)\n")
    assert capsys.readouterr().err == waited


def test_a_build_says_so_and_a_cached_load_says_nothing(monkeypatch, tmp_path, capsys):
    # the first use compiled for a minute in silence, which looked like a hang (or, inside
    # training, like a slow first epoch)
    from types import SimpleNamespace

    from torch.utils import cpp_extension

    from lstmkit.kernels.cpu import loader

    monkeypatch.setenv("LSTMKIT_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: SimpleNamespace(name=kw["name"]))
    loader._build(verbose=False)
    assert "lstmkit: building the fused CPU kernel into" in capsys.readouterr().err
    name = loader.module_name()
    (tmp_path / name / f"{name}.so").write_bytes(b"")
    loader._build(verbose=False)
    assert capsys.readouterr().err == ""


def test_the_build_compiles_a_copy_of_the_source_in_its_folder(monkeypatch, tmp_path):
    # ninja's build file names the source's path: compiled from the package's own, two
    # checkouts (or environments) of the same source, which share the cache folder, rebuilt
    # it in turn, each process a minute (a served request timed out in one)

    from torch.utils import cpp_extension

    from lstmkit.kernels.cpu import loader

    monkeypatch.setenv("LSTMKIT_EXTENSIONS_DIR", str(tmp_path))
    sources: list[list[str]] = []
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: sources.append(kw["sources"]))
    loader._build(verbose=False)
    copy = tmp_path / loader.module_name() / loader.SOURCE.name
    assert sources == [[str(copy)]] and copy.read_bytes() == loader.SOURCE.read_bytes()
    monkeypatch.setattr(loader, "SOURCE", tmp_path / "elsewhere" / loader.SOURCE.name)
    loader.SOURCE.parent.mkdir()
    loader.SOURCE.write_bytes(copy.read_bytes())  # the same source in another checkout
    loader._build(verbose=False)
    assert sources[1] == sources[0]


def test_ninja_from_the_environment_is_found_off_path(monkeypatch, tmp_path):
    # torch looks for ninja on PATH; a Python run from a venv that is not on PATH (a Jupyter
    # kernel, an IDE) had the ninja package and still said "ninja is not installed"
    import os
    import shutil

    ninja = pytest.importorskip("ninja")
    from lstmkit.kernels.cpu import loader

    monkeypatch.setenv("CXX", shutil.which("c++") or "c++")
    monkeypatch.setenv("PATH", str(tmp_path))  # neither the venv nor /usr/bin
    assert loader._toolchain_reason() is None
    assert ninja.BIN_DIR in os.environ["PATH"].split(os.pathsep)
