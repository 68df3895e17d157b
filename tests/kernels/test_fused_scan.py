"""fused_scan, and onnx_scan (the loop an ONNX export writes), against the reference lstm_scan:
outputs and every gradient, over the variant grid."""

from __future__ import annotations

import itertools
import re

import pytest
import torch

from lstmkit.nn.functional import NO_MASKS, CellOptions, CellWeights, StepMasks, lstm_scan

T, B, I, H, P = 4, 3, 5, 6, 4
# float32: layer norm's backward divides by per-row standard deviations, and the two paths round
# in different orders; 5e-5 (relative to the tensor's scale) leaves room for that, 1e-5 did not.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 5e-5}
MASK_SETS = {
    "none": (),
    "valid": ("valid",),
    "reset": ("reset",),
    "h_dropout": ("h_dropout",),
    "zoneout": ("zoneout",),
    "all": ("valid", "reset", "h_dropout", "zoneout"),
}
VARIANTS = list(itertools.product([False, True], repeat=4))  # peephole, coupled, LN, projection


def variant_id(v: tuple[bool, ...]) -> str:
    names = [n for n, on in zip(("peephole", "coupled", "layer_norm", "proj"), v, strict=True)
             if on]
    return "+".join(names) or "plain"


def make_case(options: CellOptions, proj: int, masks: tuple[str, ...], dtype: torch.dtype,
              steps: int = T, batch: int = B, n_in: int = I, hidden: int = H):
    """Random weights (asymmetric, biases and LN params away from their defaults) and masks."""
    G = options.num_gates
    R = proj or hidden

    def param(*shape: int, scale: float = 0.4, shift: float = 0.0) -> torch.Tensor:
        return (torch.randn(*shape, dtype=dtype) * scale + shift).requires_grad_()

    ln = ((param(G * hidden, shift=1.0), param(G * hidden), param(G * hidden, shift=1.0),
           param(G * hidden), param(hidden, shift=1.0), param(hidden))
          if options.layer_norm else (None,) * 6)
    w = CellWeights(
        param(G * hidden, n_in), param(G * hidden, R), param(G * hidden), param(G * hidden),
        param(proj, hidden) if proj else None,
        param(G - 1, hidden) if options.peephole else None, *ln,
    )
    x = param(steps, batch, n_in, scale=1.0)
    h0, c0 = param(batch, R, scale=0.5), param(batch, hidden, scale=0.5)
    valid = reset = h_dropout = zoneout_c = zoneout_h = None
    if "valid" in masks:
        lengths = torch.randint(1, steps + 1, (batch,))
        lengths[0] = steps
        valid = torch.arange(steps).unsqueeze(1) < lengths  # (T, B)
    if "reset" in masks:
        reset = torch.rand(steps, batch) < 0.3
    if "h_dropout" in masks:
        h_dropout = (torch.rand(batch, R) > 0.3).to(dtype) / 0.7
    if "zoneout" in masks:
        zoneout_c = (torch.rand(steps, batch, hidden) < 0.3).to(dtype)
        zoneout_h = (torch.rand(steps, batch, R) < 0.3).to(dtype)
    return x, h0, c0, w, StepMasks(valid, reset, h_dropout, zoneout_c, zoneout_h)


def run(scan, x, h0, c0, w, options, masks):
    """Outputs and the gradients of a loss that weighs every output differently."""
    result = scan(x, h0, c0, w, options, masks)
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum()
               for t in (result.output, result.h_n, result.c_n))
    leaves = [x, h0, c0, *(t for t in w if t is not None)]
    names = ["x", "h0", "c0", *(f for f, t in zip(w._fields, w, strict=True) if t is not None)]
    grads = torch.autograd.grad(loss, leaves)
    values = {"output": result.output, "h_n": result.h_n, "c_n": result.c_n}
    values.update({f"grad {n}": g for n, g in zip(names, grads, strict=True)})
    return values


def max_errors(ref: dict, fused: dict) -> dict[str, float]:
    """Max abs error of each tensor, relative to the tensor's scale where that exceeds 1.

    Gradients of weights sum over T*B terms and reach tens; float32 rounding grows with them.
    """
    assert ref.keys() == fused.keys()
    return {k: (ref[k] - fused[k]).abs().max().item() / max(1.0, ref[k].abs().max().item())
            for k in ref}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_set", list(MASK_SETS))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_fused_scan_matches_reference(fused_ext, variant, mask_set, dtype):
    from lstmkit.kernels.cpu.scan import fused_scan

    peephole, coupled, layer_norm, proj = variant
    options = CellOptions(peephole=peephole, coupled_gates=coupled, layer_norm=layer_norm)
    case = make_case(options, P if proj else 0, MASK_SETS[mask_set], dtype)
    errors = max_errors(run(lstm_scan, *case[:4], options, case[4]),
                        run(fused_scan, *case[:4], options, case[4]))
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE[dtype], f"{worst}: max scaled error {errors[worst]:.3g}"


@pytest.mark.parametrize("mask_set", list(MASK_SETS))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_onnx_scan_matches_reference(variant, mask_set):
    """The reference equations as one TorchScript loop (an ONNX Loop in an export), every
    optional input as a flag and a tensor: the same arithmetic, so float64 agrees to
    rounding, gradients included."""
    from lstmkit.kernels.onnx_loop import onnx_scan

    peephole, coupled, layer_norm, proj = variant
    options = CellOptions(peephole=peephole, coupled_gates=coupled, layer_norm=layer_norm)
    case = make_case(options, P if proj else 0, MASK_SETS[mask_set], torch.float64)
    errors = max_errors(run(lstm_scan, *case[:4], options, case[4]),
                        run(onnx_scan, *case[:4], options, case[4]))
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1e-12, f"{worst}: max scaled error {errors[worst]:.3g}"


def test_fused_scan_wide_batch_runs_parallel_and_vectorised(fused_ext):
    """Rows split across threads and H beyond one vector width, with every option on."""
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True, layer_norm=True)
    case = make_case(options, 24, MASK_SETS["all"], torch.float64, steps=3, batch=130,
                     n_in=7, hidden=67)
    errors = max_errors(run(lstm_scan, *case[:4], options, case[4]),
                        run(fused_scan, *case[:4], options, case[4]))
    assert max(errors.values()) <= 1e-10, errors


@pytest.mark.parametrize("hidden", [40, 37])
def test_fused_scan_float32_over_many_panels_matches(fused_ext, hidden):
    """float32 with gates and projections wider than one 32-column panel of the packed
    per-step products (an exact number of panels, and a last one partly filled), rows in
    blocks of 6, 2 and 1 on two threads."""
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True, layer_norm=True)
    for masks, steps in ((("reset", "h_dropout", "zoneout"), 5), (MASK_SETS["all"], 16)):
        case = make_case(options, 20, masks, torch.float32, steps=steps, batch=17, n_in=7,
                         hidden=hidden)
        valid = case[4].valid
        rows = steps * 17 if valid is None else int(valid.sum())
        assert rows >= 64  # (fewer: the products are MKL's, not the packed ones tested here)
        errors = max_errors(run(lstm_scan, *case[:4], options, case[4]),
                            run(fused_scan, *case[:4], options, case[4]))
        worst = max(errors, key=errors.get)
        assert errors[worst] <= TOLERANCE[torch.float32], (
            f"{worst}: max scaled error {errors[worst]:.3g}")


def test_fused_scan_gradcheck(fused_ext):
    """An external oracle: finite differences on a tiny float64 problem, every option on."""
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True, coupled_gates=True, layer_norm=True)
    x, h0, c0, w, masks = make_case(options, 2, MASK_SETS["all"], torch.float64, steps=3,
                                    batch=2, n_in=3, hidden=3)
    names = [f for f, t in zip(w._fields, w, strict=True) if t is not None]

    def f(x, h0, c0, *params):
        ws = CellWeights(**dict(zip(names, params, strict=True)))
        r = fused_scan(x, h0, c0, ws, options, masks)
        return r.output, r.h_n, r.c_n

    assert torch.autograd.gradcheck(f, (x, h0, c0, *(getattr(w, n) for n in names)))


@pytest.mark.parametrize("mask_set", list(MASK_SETS))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_fused_scan_without_grad_matches(fused_ext, variant, mask_set):
    # without grad the kernel keeps no buffers for a backward and updates the state in place
    from lstmkit.kernels.cpu.scan import fused_scan

    peephole, coupled, layer_norm, proj = variant
    options = CellOptions(peephole=peephole, coupled_gates=coupled, layer_norm=layer_norm)
    x, h0, c0, w, masks = make_case(options, P if proj else 0, MASK_SETS[mask_set],
                                    torch.float64)
    with torch.no_grad():
        ref = lstm_scan(x, h0, c0, w, options, masks)
        out = fused_scan(x, h0, c0, w, options, masks)
    assert not out.output.requires_grad
    for a, b in zip(ref[:3], out[:3], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_fused_scan_rejects_other_dtypes(fused_ext):
    from lstmkit.kernels.cpu.scan import fused_scan

    x, h0, c0, w, _ = make_case(CellOptions(), 0, (), torch.float64)
    with pytest.raises(TypeError, match=re.escape("the fused CPU kernel takes float32 or float64, "
                                                  "got x of torch.float16")):
        fused_scan(x.detach().half(), h0, c0, w, CellOptions())
    with pytest.raises(TypeError, match=re.escape("h0 must have x's dtype torch.float64, got "
                                                  "torch.float32")):
        fused_scan(x, h0.detach().float(), c0, w, CellOptions())


@pytest.mark.parametrize(("name", "shape"), [
    ("h0", (B, P + 8)),
    ("weight_hh", (4 * H, P // 2)),
    ("weight_hr", (P, H + 1)),
    ("ln_c_weight", (H + 1,)),
])
def test_fused_scan_checks_every_shape(fused_ext, name, shape):
    """A wrong shape is an error naming the tensor, where the kernel read out of bounds."""
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True, layer_norm=True)
    x, h0, c0, w, _ = make_case(options, P, (), torch.float64)
    state = {"h0": h0, "c0": c0}
    wrong = torch.zeros(shape, dtype=torch.float64)
    if name in state:
        state[name] = wrong
    else:
        w = w._replace(**{name: wrong})
    got = ", ".join(map(str, shape))
    with pytest.raises(RuntimeError, match=rf"lstmkit fused kernel: {name} must have shape "
                                           rf"\[[0-9, ]+\], got \[{got}\]"):
        fused_scan(x, state["h0"], state["c0"], w, options)


def test_fused_scan_checks_the_weights_against_the_options_as_lstm_scan_does(fused_ext):
    """The kernel reads peepholes from the weights given: weights that do not match the
    options are the reference's error, not another cell computed."""
    from lstmkit.kernels.cpu.scan import fused_scan

    x, h0, c0, w, _ = make_case(CellOptions(peephole=True), P, (), torch.float64)
    for weights, options, message in (
            (w._replace(weight_peephole=None), CellOptions(peephole=True),
             r"options.peephole needs weight_peephole of shape \(3, \d+\), got None"),
            (w, CellOptions(), r"weight_peephole is given but options.peephole is False"),
            (w._replace(weight_peephole=w.weight_peephole[:, :2]), CellOptions(peephole=True),
             r"options.peephole needs weight_peephole of shape \(3, \d+\), got \(3, 2\)")):
        for scan in (lstm_scan, fused_scan):
            with pytest.raises(ValueError, match=message):
                scan(x, h0, c0, weights, options)


def test_fused_scan_broadcasts_a_state_of_one_row_as_lstm_scan_does(fused_ext):
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True)
    x, _, _, w, _ = make_case(options, P, (), torch.float64)
    h0 = (torch.randn(1, P, dtype=torch.float64) * 0.5).requires_grad_()
    c0 = (torch.randn(1, H, dtype=torch.float64) * 0.5).requires_grad_()
    errors = max_errors(run(lstm_scan, x, h0, c0, w, options, NO_MASKS),
                        run(fused_scan, x, h0, c0, w, options, NO_MASKS))
    assert max(errors.values()) <= 1e-10, errors  # the (1, R) state's gradient sums the rows


def test_disabled_extension_says_why(monkeypatch):
    from lstmkit.kernels.cpu.loader import ExtensionUnavailableError, load_extension

    monkeypatch.setenv("LSTMKIT_DISABLE_FUSED", "1")
    with pytest.raises(ExtensionUnavailableError,
                       match="the fused CPU kernel cannot be built: LSTMKIT_DISABLE_FUSED is set"):
        load_extension()


@pytest.mark.parametrize("proj", [0, P])
def test_fused_scan_valid_mask_with_gaps(fused_ext, proj):
    """Valid steps need not be a prefix: rows skipped at one step come back at the next."""
    from lstmkit.kernels.cpu.scan import fused_scan

    options = CellOptions(peephole=True, layer_norm=True)
    x, h0, c0, w, masks = make_case(options, proj, MASK_SETS["all"], torch.float64,
                                    steps=6, batch=5)
    valid = torch.rand(6, 5) < 0.5
    valid[2] = False  # a step where no row is valid
    valid[3, -1] = True
    masks = masks._replace(valid=valid)
    errors = max_errors(run(lstm_scan, x, h0, c0, w, options, masks),
                        run(fused_scan, x, h0, c0, w, options, masks))
    assert max(errors.values()) <= 1e-10, errors


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("proj", [0, P])
def test_fused_scan_batch_split_across_threads(fused_ext, restore_threads, threads, proj):
    """With several threads each one runs the time loop of its own range of rows; ranges of
    unequal length (13 rows on 2 or 3 threads, rows of different lengths) and one thread (one
    range, all rows) give the reference's values."""
    from lstmkit.kernels.cpu.scan import fused_scan

    torch.set_num_threads(threads)
    options = CellOptions(peephole=True, layer_norm=True)
    x, h0, c0, w, masks = make_case(options, proj, MASK_SETS["all"], torch.float64,
                                    steps=9, batch=13)
    lengths = torch.tensor([9, 2, 7, 1, 9, 4, 5, 3, 8, 6, 1, 9, 2])
    masks = masks._replace(valid=torch.arange(9).unsqueeze(1) < lengths)
    errors = max_errors(run(lstm_scan, x, h0, c0, w, options, masks),
                        run(fused_scan, x, h0, c0, w, options, masks))
    assert max(errors.values()) <= 1e-10, errors


def test_the_input_product_without_autograd_is_onednns_linear():
    """Inference's input projection runs on oneDNN's linear (about twice MKL's sgemm where MKL
    takes its AVX2 code) when it is large and torch's oneDNN switch is on; with autograd, or
    small, on torch's matmul."""
    from lstmkit.kernels.cpu import scan

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 160, generator=gen)  # 300 x 160 x 96 = 4.6M multiply-adds
    w, b = torch.randn(96, 160, generator=gen), torch.randn(96, generator=gen)
    assert 300 * 160 * 96 >= scan.ONEDNN_MIN_MACS > 30 * 160 * 96
    with torch.no_grad():
        for bias in (b, None):
            got = scan._linear(x, w, bias)
            want = x @ w.t() if bias is None else torch.addmm(bias, x, w.t())
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
            if scan._ONEDNN:  # (the library's own answer, bit for bit)
                assert torch.equal(got, torch.ops.mkldnn._linear_pointwise(
                    x, w, bias, "none", [], ""))
        small = scan._linear(x[:30], w, b)  # (oneDNN's call costs more than it saves)
        assert torch.equal(small, torch.addmm(b, x[:30], w.t()))
        with torch.backends.mkldnn.flags(enabled=False):  # the user's switch is kept
            assert torch.equal(scan._linear(x, w, b), torch.addmm(b, x, w.t()))
        assert torch.equal(scan._linear(x.double(), w.double(), b.double()),
                           torch.addmm(b.double(), x.double(), w.double().t()))
        empty = torch.zeros(300, 0)  # (oneDNN refuses a product over no inputs)
        assert scan._linear(empty, torch.zeros(96, 0), b).shape == (300, 96)
    trained = scan._linear(x, w.requires_grad_(), b)
    assert trained.grad_fn is not None and "Addmm" in type(trained.grad_fn).__name__
