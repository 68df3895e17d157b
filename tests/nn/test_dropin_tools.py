"""What user code does with an nn.LSTM beyond calling it: export, compile, parametrize."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize, prune
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit import LSTM
from lstmkit.kernels.dispatch import choose_backend


class _OutputOnly(nn.Module):
    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"zoneout": 0.1},
                                     {"layer_norm": True}, {"proj_size": 3},
                                     {"coupled_gates": True, "peephole": True}])
def test_onnx_export_computes_what_the_module_computes(options: dict, tmp_path: Path) -> None:
    """Any number of steps and batch size: a plain LSTM as ONNX's LSTM operator, a variant as
    a Loop over the reference equations (it was unrolled over the 6 steps traced)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime (dev extra) runs the exported graph")
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _OutputOnly(LSTM(5, 7, **options)).eval()
    x = torch.randn(6, 3, 5)
    path = tmp_path / "lstm.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "T", 1: "B"},
                                                        "y": {0: "T", 1: "B"}})
    graph = onnx.load(str(path)).graph
    # the fused kernel used to be traced as constants: a graph with no input
    assert [i.name for i in graph.input] == ["x"]
    assert {n.op_type for n in graph.node} >= ({"Loop"} if options else {"LSTM"})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for steps, batch in ((6, 3), (6, 2), (9, 2), (1, 4)):
        fresh = torch.randn(steps, batch, 5)
        (got,) = session.run(None, {"x": fresh.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), model(fresh), atol=1e-5, rtol=1e-5)


def test_onnx_export_of_a_variant_stack_with_lengths_and_resets_takes_any_steps(
        tmp_path: Path) -> None:
    """Two bidirectional layers of every variant, with lengths, resets and zoneout's
    expectation: the Loops read each sequence backwards within its own length as the module
    does, at lengths and batch sizes other than the traced ones."""
    pytest.importorskip("onnxruntime", reason="onnxruntime (dev extra) runs the exported graph")
    import onnxruntime as ort

    class Call(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = LSTM(5, 6, num_layers=2, bidirectional=True, peephole=True,
                             layer_norm=True, proj_size=4, zoneout=0.2)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor, reset: torch.Tensor):
            out, (h, c) = self.lstm(x, lengths=lengths, reset=reset)
            return out, h, c

    torch.manual_seed(0)
    model = Call().eval()
    path = tmp_path / "stack.onnx"
    torch.onnx.export(model, (torch.randn(5, 3, 5), torch.tensor([5, 3, 1]),
                              torch.rand(5, 3) < 0.3), str(path), dynamo=False,
                      input_names=["x", "lengths", "reset"], output_names=["y", "h", "c"],
                      dynamic_axes={"x": {0: "T", 1: "B"}, "lengths": {0: "B"},
                                    "reset": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for steps, batch in ((5, 3), (12, 4), (1, 2)):
        x = torch.randn(steps, batch, 5)
        lengths = torch.randint(1, steps + 1, (batch,))
        lengths[0] = steps
        reset = torch.rand(steps, batch) < 0.3
        got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy(),
                                 "reset": reset.numpy()})
        with torch.no_grad():
            expected = model(x, lengths, reset)
        for have, want in zip(got, expected, strict=True):
            torch.testing.assert_close(torch.from_numpy(have), want, atol=1e-5, rtol=1e-5)


class _Packing(nn.Module):
    """Packs its padded batch for the LSTM and pads the output again, as user code does."""

    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, (h, c) = self.lstm(pack_padded_sequence(x, lengths, enforce_sorted=False))
        return pad_packed_sequence(out, total_length=x.shape[0])[0], h, c


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("options", [{}, {"backend": "torch"}, {"peephole": True},
                                     {"num_layers": 2, "bidirectional": True}])
def test_a_jit_trace_of_packed_input_follows_other_lengths(options: dict) -> None:
    # the output used to be repacked by the traced call's lengths, kept as constants
    torch.manual_seed(0)
    model = _Packing(LSTM(3, 4, **options))
    traced = torch.jit.trace(model, (torch.randn(5, 3, 3), torch.tensor([5, 3, 2])))
    for batch, lengths in ((3, [5, 4, 1]), (3, [4, 4, 4]), (2, [5, 2])):
        x = torch.randn(5, batch, 3)
        for got, want in zip(traced(x, torch.tensor(lengths)), model(x, torch.tensor(lengths)),
                             strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::UserWarning")
def test_onnx_export_of_a_packing_model_is_nn_lstms(tmp_path: Path) -> None:
    # it failed: the caller's packing had no unpacking to pair with in the graph
    pytest.importorskip("onnx", reason="the onnx package (dev extra) runs the exported graph")
    from onnx.reference import ReferenceEvaluator

    torch.manual_seed(0)
    ours, theirs = LSTM(3, 4), nn.LSTM(3, 4)
    theirs.load_state_dict(ours.state_dict())
    x, lengths = torch.randn(5, 3, 3), torch.tensor([5, 4, 1])
    results = []
    for lstm in (ours, theirs):
        path = tmp_path / f"{type(lstm).__module__}.onnx"
        torch.onnx.export(_Packing(lstm).eval(), (torch.randn(5, 3, 3), torch.tensor([5, 3, 2])),
                          str(path), dynamo=False, input_names=["x", "lengths"])
        results.append(ReferenceEvaluator(str(path)).run(
            None, {"x": x.numpy(), "lengths": lengths.numpy()}))
    # torch and onnx's reference runtime disagree on nn.LSTM's own export of a packed batch
    # (by 0.3 here), so the check is that the two exports compute the same
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(want), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"an ONNX export can take a PackedSequence only into "
                                         r"torch's LSTM op .* runs on the reference path .*"
                                         r"pass the padded tensor with lengths= instead"):
        torch.onnx.export(_Packing(LSTM(3, 4, peephole=True)),
                          (torch.randn(5, 3, 3), torch.tensor([5, 3, 2])), io.BytesIO(),
                          dynamo=False)


def test_an_onnx_export_never_picks_the_fused_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    config = LSTM(5, 7, peephole=True).config
    assert choose_backend(config, has_reset=False).name == "fused"
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    choice = choose_backend(config, has_reset=False)
    assert choice.name == "reference" and "ONNX" in choice.reason


@pytest.mark.parametrize("lengths", [None, [4, 2]], ids=["full", "lengths"])
@pytest.mark.parametrize("options", [{}, {"peephole": True},
                                     {"layer_norm": True, "proj_size": 3, "coupled_gates": True}])
def test_torch_compile_trains_like_eager(options: dict, lengths: list[int] | None) -> None:
    torch.manual_seed(0)
    eager, twin = LSTM(5, 7, **options), LSTM(5, 7, **options)
    twin.load_state_dict(eager.state_dict())
    # a variant, or a call with lengths, is one graph: the fused kernel is a torch operator
    # with a Meta kernel, not a Python call, and the lengths are checked in the graph (torch's
    # own op runs outside the graph, as it does for nn.LSTM)
    compiled = torch.compile(twin, backend="aot_eager",
                             fullgraph=bool(options) or lengths is not None)
    x = torch.randn(4, 2, 5)
    call = {} if lengths is None else {"lengths": torch.tensor(lengths)}
    y_eager, y_compiled = eager(x, **call)[0], compiled(x, **call)[0]
    y_eager.sum().backward()
    y_compiled.sum().backward()
    torch.testing.assert_close(y_compiled, y_eager)
    torch.testing.assert_close(twin.weight_hh_l0.grad, eager.weight_hh_l0.grad)


def test_variants_of_several_rates_compile_in_one_graph_each() -> None:
    # once a rate changed, dynamo made it a symbolic float, and the backend choice could not
    # format it in its reason: the second LSTM did not compile
    torch._dynamo.reset()  # the other tests' compiles count towards dynamo's recompile limit
    x = torch.randn(4, 2, 5)
    for options in ({"recurrent_dropout": 0.1}, {"recurrent_dropout": 0.2}, {"zoneout": 0.1},
                    {"zoneout": (0.2, 0.3)}):
        lstm = LSTM(5, 7, **options).eval()
        compiled = torch.compile(lstm, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(x)[0], lstm(x)[0], rtol=0, atol=0)


_VARIANTS = [{"peephole": True},
             {"layer_norm": True, "proj_size": 3, "num_layers": 2, "bidirectional": True},
             {"coupled_gates": True, "zoneout": 0.2, "recurrent_dropout": 0.1}]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("options", _VARIANTS)
def test_a_jit_trace_on_the_fused_kernel_saves_and_loads(options: dict) -> None:
    # the kernel was a Python function in the trace, which torch.jit.save refused
    torch.manual_seed(0)
    model = _OutputOnly(LSTM(5, 7, **options)).eval()
    x = torch.randn(6, 3, 5)
    assert (model(x), model.lstm.last_backend.name)[1] == "fused"
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.trace(model, (x,)), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    fresh = torch.randn(9, 4, 5, requires_grad=True)  # other steps and batch than traced
    got = loaded(fresh)
    torch.testing.assert_close(got, model(fresh), rtol=0, atol=0)
    got.square().sum().backward()  # the loaded trace differentiates through the kernel
    want = torch.autograd.grad(model(fresh).square().sum(), fresh)[0]
    torch.testing.assert_close(fresh.grad, want)


@pytest.mark.parametrize("options", _VARIANTS)
def test_torch_export_of_a_variant_follows_dynamic_steps_and_batch(options: dict) -> None:
    torch.manual_seed(0)
    model = _OutputOnly(LSTM(5, 7, **options)).eval()
    steps, batch = torch.export.Dim("steps", min=2), torch.export.Dim("batch", min=2)
    program = torch.export.export(model, (torch.randn(6, 3, 5),),
                                  dynamic_shapes=({0: steps, 1: batch},))
    calls = [n for n in program.graph.nodes if n.target is torch.ops.lstmkit.scan.default]
    layers = model.lstm.num_layers * (2 if model.lstm.bidirectional else 1)
    assert len(calls) == layers
    fresh = torch.randn(11, 2, 5)
    torch.testing.assert_close(program.module()(fresh), model(fresh), rtol=0, atol=0)


class _WithLengths(nn.Module):
    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, (h, c) = self.lstm(x, lengths=lengths)
        return out, h, c


@pytest.mark.parametrize("options", [{}, _VARIANTS[1]])
def test_torch_export_with_lengths_follows_other_lengths_and_checks_them(options: dict) -> None:
    # the lengths were checked in Python, a data-dependent branch export could not trace
    torch.manual_seed(0)
    model = _WithLengths(LSTM(5, 7, **options)).eval()
    steps, batch = torch.export.Dim("steps", min=2), torch.export.Dim("batch", min=2)
    program = torch.export.export(model, (torch.randn(6, 3, 5), torch.tensor([6, 2, 4])),
                                  dynamic_shapes=({0: steps, 1: batch}, {0: batch})).module()
    x = torch.randn(8, 4, 5)
    for lengths in ([3, 8, 1, 5], [8, 8, 8, 8], [2, 2, 1, 1]):
        for got, want in zip(program(x, torch.tensor(lengths)), model(x, torch.tensor(lengths)),
                             strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match=r"lengths must be in \[1, T\]"):
        program(x, torch.tensor([3, 9, 1, 5]))


def test_export_of_a_bidirectional_call_with_resets_keeps_the_steps_dynamic() -> None:
    # the reset mask read backwards was built by slicing, and export specialised T - 1 != 1
    torch.manual_seed(0)

    class WithReset(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = LSTM(5, 7, peephole=True, bidirectional=True)

        def forward(self, x: torch.Tensor, reset: torch.Tensor) -> torch.Tensor:
            return self.lstm(x, reset=reset)[0]

    model = WithReset().eval()
    steps, batch = torch.export.Dim("steps", min=2), torch.export.Dim("batch", min=2)
    program = torch.export.export(
        model, (torch.randn(6, 3, 5), torch.rand(6, 3) < 0.3),
        dynamic_shapes=({0: steps, 1: batch}, {0: steps, 1: batch})).module()
    for t in (2, 9):
        x, reset = torch.randn(t, 2, 5), torch.rand(t, 2) < 0.4
        torch.testing.assert_close(program(x, reset), model(x, reset), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_a_jit_trace_of_a_variant_runs_under_autocast_in_float32() -> None:
    # the trace does not record the caller's autocast-disabled block: the replayed input
    # product was bfloat16 and the kernel refused it
    torch.manual_seed(0)
    model = _OutputOnly(LSTM(5, 7, peephole=True)).eval()
    x = torch.randn(6, 3, 5)
    traced = torch.jit.trace(model, (x,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = traced(x), model(x)
    assert got.dtype == want.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=1e-2)  # a bfloat16 input product


def test_compile_and_strict_export_in_a_new_process_before_any_eager_call() -> None:
    # choosing the backend checked for a compiler on the file system, which dynamo cannot
    # trace: one graph failed until an eager call had loaded the kernel
    import subprocess
    import sys

    script = (
        "import torch\n"
        "from lstmkit import LSTM\n"
        "lstm, x = LSTM(5, 7, peephole=True), torch.randn(6, 3, 5)\n"
        "torch.compile(lstm, backend='eager', fullgraph=True)(x)\n"
        "torch.export.export(LSTM(5, 7, layer_norm=True), (x,), strict=True)\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["ok"], done.stderr[-3000:]


def test_a_saved_trace_and_export_load_in_a_new_process_once_the_kernel_is_loaded(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    torch.manual_seed(0)
    model = _OutputOnly(LSTM(5, 7, peephole=True, num_layers=2)).eval()
    x = torch.randn(6, 3, 5)
    with pytest.warns(torch.jit.TracerWarning):
        torch.jit.save(torch.jit.trace(model, (x,)), str(tmp_path / "traced.pt"))
    torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "exported.pt2"))
    torch.save((x, model(x)), tmp_path / "io.pt")
    script = (
        "import sys, torch\n"
        "from lstmkit.kernels.cpu.loader import load_extension\n"
        "load_extension()  # registers torch.ops.lstmkit\n"
        f"x, want = torch.load({str(tmp_path / 'io.pt')!r})\n"
        f"traced = torch.jit.load({str(tmp_path / 'traced.pt')!r})\n"
        f"exported = torch.export.load({str(tmp_path / 'exported.pt2')!r}).module()\n"
        "print(float((traced(x) - want).abs().max()), float((exported(x) - want).abs().max()))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["0.0", "0.0"]


class _Scale(nn.Module):
    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return 3.0 * w


@pytest.mark.parametrize("name", ["bias_hh_l0", "weight_hh_l0", "weight_peephole_l0",
                                  "weight_norm", "prune weight_hh_l1", "prune bias_ih_l0",
                                  "prune weight_peephole_l1", "prune weight_hr_l0",
                                  "prune ln_ih_weight_l1"])
def test_step_uses_parametrized_weights_as_forward_does(name: str) -> None:
    torch.manual_seed(0)
    lstm = LSTM(5, 7, num_layers=2, peephole=True, layer_norm=True, proj_size=4).eval()
    if name == "weight_norm":
        nn.utils.parametrizations.weight_norm(lstm, "weight_hh_l0")
    elif name.startswith("prune"):  # the weight becomes a plain attribute over <name>_orig
        prune.l1_unstructured(lstm, name.split()[1], amount=0.5)
    else:
        parametrize.register_parametrization(lstm, name, _Scale())
    x = torch.randn(1, 2, 5)
    with torch.no_grad():
        y_step, _ = lstm.step(x[0])
        y_forward, _ = lstm(x)
    torch.testing.assert_close(y_step, y_forward[0])


def test_trace_and_step_run_the_pre_hook_that_recomputes_a_pruned_weight() -> None:
    torch.manual_seed(0)
    lstm = LSTM(3, 4)
    prune.l1_unstructured(lstm, "weight_hh_l0", amount=0.5)
    x = torch.randn(5, 2, 3)
    lstm(x)[0].sum().backward()
    torch.optim.SGD(lstm.parameters(), lr=1.0).step()  # the pruned weight is stale now
    traced = lstm.trace(x).h[0]
    with torch.no_grad():
        y_step, _ = lstm.step(x[0])
        y_forward, _ = lstm(x)
    torch.testing.assert_close(traced, y_forward)
    torch.testing.assert_close(y_step, y_forward[0])


def test_lengths_may_be_passed_by_position_after_hx() -> None:
    torch.manual_seed(0)
    lstm = LSTM(5, 7)
    x = torch.randn(6, 3, 5)
    lengths = torch.tensor([6, 4, 2])
    torch.testing.assert_close(lstm(x, None, lengths)[0], lstm(x, lengths=lengths)[0])
    buffer = io.BytesIO()
    torch.save(lstm, buffer)  # the whole module pickles, as nn.LSTM does


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_zoneout_runs_under_autocast_with_a_bfloat16_input(backend: str) -> None:
    torch.manual_seed(0)
    lstm = LSTM(5, 7, zoneout=0.1, backend=backend)  # (auto: cast for the fused kernel)
    x = torch.randn(6, 3, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = lstm(x.bfloat16())  # zoneout's lerp met float32 cells and a bf16 state
        y_step, _ = lstm.eval().step(x[0].bfloat16())
    assert torch.isfinite(y.float()).all() and torch.isfinite(y_step.float()).all()


@pytest.mark.parametrize("with_state", [False, True])
def test_plain_lstm_under_cpu_autocast_takes_a_float32_input(with_state: bool) -> None:
    """An nn.Embedding's float32 output into the LSTM under torch.autocast("cpu"): torch's op
    gets its input and state in the autocast dtype, as it gets its weights, instead of
    oneDNN's "could not create a primitive descriptor" (what nn.LSTM raises in torch 2.13)."""
    torch.manual_seed(0)
    lstm = LSTM(5, 7, num_layers=2, bidirectional=True)
    x = torch.randn(6, 3, 5, requires_grad=True)
    hx = (torch.zeros(4, 3, 7), torch.zeros(4, 3, 7)) if with_state else None
    expected, _ = lstm(x, hx)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, (h_n, c_n) = lstm(x, hx)
    assert lstm.last_backend.name == "torch"
    assert y.dtype == h_n.dtype == c_n.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), expected, atol=3e-2, rtol=0)
    y.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.isfinite(lstm.weight_hh_l0.grad).all()


@pytest.mark.parametrize("options", [{"peephole": True}, {"zoneout": 0.1},
                                     {"layer_norm": True, "lengths": [6, 2, 4]},
                                     {"lengths": [6, 2, 4]}])
def test_a_half_precision_input_under_autocast_runs_the_fused_kernel(options: dict) -> None:
    # the output of a layer autocast ran in bfloat16 (a Linear, an Embedding's projection)
    # went to the reference loop (60 times slower), or torch's packed op with lengths
    options = dict(options)
    lengths = options.pop("lengths", None)
    torch.manual_seed(0)
    lstm = LSTM(5, 7, **options)
    x = torch.randn(6, 3, 5).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, (h_n, c_n) = lstm(x, lengths=lengths)
    assert lstm.last_backend.name == "fused", lstm.last_backend
    assert y.dtype == h_n.dtype == c_n.dtype == torch.float32  # as with a float32 input
    torch.manual_seed(1)
    expected, _ = lstm(x.detach().float(), lengths=lengths)
    if "zoneout" not in options:  # (training masks drawn anew: compared in eval below)
        torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.bfloat16 and torch.isfinite(
        x.grad.float()).all()
    # a float32 state kept whole (not rounded through the input's bfloat16 first)
    hx = (torch.randn(1, 3, 7) * 1.2345, torch.randn(1, 3, 7) * 1.2345)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        y, _ = lstm.eval()(x, hx, lengths=lengths)
        # a packed batch as lengths= (it ran the reference loop, or torch's op in bfloat16),
        # an explicit backend="fused" (it refused the bfloat16 input), and step, as forward
        lengths_or_all = lengths or [6, 6, 6]
        packed, _ = lstm(pack_padded_sequence(
            x.detach(), lengths_or_all, enforce_sorted=False), hx)
        assert lstm.last_backend.name == "fused" and packed.data.dtype == torch.float32
        fused = LSTM(5, 7, backend="fused", **options).eval()
        fused.load_state_dict(lstm.state_dict())
        y_fused, _ = fused(x, hx, lengths=lengths)
        state, steps = hx, []
        for t in range(6):
            out, state = lstm.step(x[t].detach(), state)
            steps.append(out)
    expected = lstm(x.detach().float(), hx, lengths=lengths)[0]
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(y_fused, expected, atol=1e-6, rtol=0)
    unpacked, _ = pad_packed_sequence(packed, total_length=6)
    torch.testing.assert_close(unpacked, lstm(x.detach().float(), hx, lengths=lengths_or_all)[0],
                               atol=1e-6, rtol=0)
    if lengths is None:
        assert steps[0].dtype == torch.float32
        torch.testing.assert_close(torch.stack(steps), expected, atol=1e-5, rtol=0)
    with torch.device("meta"):  # (torch has no autocast for meta: asking raised)
        LSTM(5, 7, **options)(torch.randn(6, 3, 5))


def test_under_autocast_a_variant_takes_an_input_of_another_full_dtype() -> None:
    # a float64 input met the kernel's "weight_ih must have x's dtype torch.float64" (float32
    # parameters), where a plain LSTM ran (autocast casts for torch's op)
    for module_dtype, input_dtype in ((torch.float32, torch.float64),
                                      (torch.float64, torch.float32)):
        lstm = LSTM(5, 7, layer_norm=True).to(module_dtype)
        x = torch.randn(6, 3, 5, dtype=input_dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, _ = lstm(x)
        assert lstm.last_backend.name == "fused" and y.dtype == module_dtype
        torch.testing.assert_close(y, lstm(x.to(module_dtype))[0])


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_state_of_another_dtype_is_cast_under_autocast_only(backend: str) -> None:
    lstm = LSTM(5, 7, peephole=True, backend=backend)
    x = torch.randn(6, 3, 5).bfloat16()
    hx = (torch.zeros(1, 3, 7), torch.zeros(1, 3, 7))  # float32, as nn.LSTM takes it there
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = lstm(x, hx)
    assert torch.isfinite(y.float()).all()
    with pytest.raises(TypeError, match=re.escape(
            "hx h_0 must have dtype torch.bfloat16 (the input's), got torch.float32")):
        lstm.bfloat16()(x, hx)


class _Head(nn.Module):
    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        self.rnn, self.head = lstm, nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        out, (h_n, _) = self.rnn(x, (h, c), lengths=lengths)
        return self.head(out) + h_n.sum()


@pytest.mark.parametrize("options", [{}, {"peephole": True}])
def test_fx_symbolic_trace_keeps_the_lstm_one_module_call(options: dict) -> None:
    # it traced into the Python forward and failed on its input check, where nn.LSTM is a leaf
    torch.manual_seed(0)
    model = _Head(LSTM(3, 4, **options)).eval()
    graph = torch.fx.symbolic_trace(model)
    calls = [n.target for n in graph.graph.nodes if n.op == "call_module"]
    assert calls == ["rnn", "head"]
    x, h, c = torch.randn(5, 2, 3), torch.randn(1, 2, 4), torch.randn(1, 2, 4)
    lengths = torch.tensor([5, 3])
    torch.testing.assert_close(graph(x, h, c, lengths), model(x, h, c, lengths), rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"symbolic_trace of an lstmkit.LSTM by itself: .* trace "
                                        r"that model"):
        torch.fx.symbolic_trace(LSTM(3, 4, **options))


@pytest.mark.parametrize(("options", "call"), [({"peephole": True}, {}),
                                               ({}, {"lengths": torch.tensor([5, 3])})])
def test_torch_func_grad_runs_where_the_fused_kernel_would(options: dict, call: dict) -> None:
    # it failed in the kernel's C++ autograd with torch's "cannot use C++
    # torch::autograd::Function with functorch transforms", or in torch's packed op
    from torch.func import functional_call, grad

    torch.manual_seed(0)
    module, x = LSTM(3, 4, **options), torch.randn(5, 2, 3)
    params = {k: v.detach() for k, v in module.named_parameters()}
    got = grad(lambda p: functional_call(module, p, (x,), call)[0].sum())(params)
    assert module.last_backend.name == "reference"
    assert "torch.func transform" in module.last_backend.reason
    module(x, **call)[0].sum().backward()
    for name, param in module.named_parameters():
        torch.testing.assert_close(got[name], param.grad, rtol=1e-5, atol=1e-6)
    fused = LSTM(3, 4, backend="fused", **options)
    with pytest.raises(ValueError, match=r"backend='fused' cannot serve this call: a torch.func "
                                         r"transform \(grad, vjp, jacrev, vmap\) is running"):
        grad(lambda p: functional_call(fused, p, (x,), call)[0].sum())(params)
    if not options:  # torch's op takes lengths packed, which the transform cannot run through
        packed = LSTM(3, 4, backend="torch")
        with pytest.raises(ValueError, match=r"backend='torch' runs lengths= on a packed batch, "
                                             r"which a torch.func transform"):
            grad(lambda p: functional_call(packed, p, (x,), call)[0].sum())(params)
