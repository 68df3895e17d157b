"""The variants: hand-computed steps, gradcheck, lengths, resets, determinism, state dicts."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from lstmkit import LSTM, LSTMCell

T, B, I, H = 4, 3, 5, 6

VARIANTS = {
    "plain": {},
    "peephole": {"peephole": True},
    "coupled": {"coupled_gates": True},
    "layer_norm": {"layer_norm": True},
    "zoneout": {"zoneout": 0.3},
    "zoneout_pair": {"zoneout": (0.2, 0.5)},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "weight_drop": {"weight_drop": 0.4},
    "projection_peephole": {"proj_size": 2, "peephole": True},
    "everything": {"peephole": True, "coupled_gates": True, "layer_norm": True,
                   "zoneout": (0.2, 0.3), "recurrent_dropout": 0.2, "weight_drop": 0.2,
                   "proj_size": 2},
}


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _layer_norm(v: list[float], gain: list[float], bias: list[float], eps=1e-5) -> list[float]:
    mean = sum(v) / len(v)
    var = sum((a - mean) ** 2 for a in v) / len(v)
    return [(a - mean) / math.sqrt(var + eps) * g + b for a, g, b in zip(v, gain, bias,
                                                                          strict=True)]


def _matvec(m: torch.Tensor, v: list[float]) -> list[float]:
    return [sum(m[r, k].item() * v[k] for k in range(len(v))) for r in range(m.shape[0])]


def manual_step(cell: LSTMCell, x: list[float], h: list[float], c: list[float]):
    """One step written with Python floats, unit by unit: an oracle independent of torch ops."""
    cfg = cell.config
    n = cfg.hidden_size
    wx = _matvec(cell.weight_ih, x)
    wh = _matvec(cell.weight_hh, h)
    if cfg.layer_norm:
        wx = _layer_norm(wx, cell.ln_ih_weight.tolist(), cell.ln_ih_bias.tolist())
        wh = _layer_norm(wh, cell.ln_hh_weight.tolist(), cell.ln_hh_bias.tolist())
    pre = [a + b + bi + bh for a, b, bi, bh in zip(wx, wh, cell.bias_ih.tolist(),
                                                   cell.bias_hh.tolist(), strict=True)]
    blocks = [pre[k * n:(k + 1) * n] for k in range(cfg.num_gates)]
    if cfg.coupled_gates:
        a_i, a_g, a_o = blocks
    else:
        a_i, a_f, a_g, a_o = blocks
    peep = cell.weight_peephole.tolist() if cfg.peephole else None
    h_new, c_new = [], []
    for u in range(n):
        ai = a_i[u] + (peep[0][u] * c[u] if peep else 0.0)
        i = _sigmoid(ai)
        if cfg.coupled_gates:
            f = 1.0 - i
        else:
            f = _sigmoid(a_f[u] + (peep[1][u] * c[u] if peep else 0.0))
        g = math.tanh(a_g[u])
        c_new.append(f * c[u] + i * g)
    c_out = (_layer_norm(c_new, cell.ln_c_weight.tolist(), cell.ln_c_bias.tolist())
             if cfg.layer_norm else c_new)
    for u in range(n):
        o = _sigmoid(a_o[u] + (peep[-1][u] * c_new[u] if peep else 0.0))
        h_new.append(o * math.tanh(c_out[u]))
    return h_new, c_new


@pytest.mark.parametrize("options", [
    {}, {"peephole": True}, {"coupled_gates": True}, {"layer_norm": True},
    {"peephole": True, "coupled_gates": True, "layer_norm": True},
])
def test_cell_matches_hand_computed_step(options):
    cell = LSTMCell(3, 2, **options).double()
    with torch.no_grad():  # layer-norm gains and biases away from 1 and 0, so they count
        for p in cell.parameters():
            p.copy_(torch.randn_like(p))
    x = [0.5, -1.0, 2.0]
    h = [0.3, -0.7]
    c = [1.5, -0.2]
    h_new, c_new = cell(torch.tensor([x], dtype=torch.float64),
                        (torch.tensor([h], dtype=torch.float64),
                         torch.tensor([c], dtype=torch.float64)))
    h_ref, c_ref = manual_step(cell, x, h, c)
    torch.testing.assert_close(h_new[0], torch.tensor(h_ref, dtype=torch.float64), atol=1e-12,
                               rtol=0)
    torch.testing.assert_close(c_new[0], torch.tensor(c_ref, dtype=torch.float64), atol=1e-12,
                               rtol=0)


@pytest.mark.parametrize("options", [{"peephole": True}, {"coupled_gates": True},
                                     {"layer_norm": True}])
def test_layer_equals_its_cell_for_one_step(options):
    layer = LSTM(I, H, **options).double()
    cell = LSTMCell(I, H, **options).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(1, B, I, dtype=torch.float64)
    out, (h_n, c_n) = layer(x)
    h, c = cell(x[0])
    torch.testing.assert_close(out[0], h, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)
    torch.testing.assert_close(c_n[0], c, atol=1e-12, rtol=0)


def _gradcheck_module(module: LSTM, x, **call):
    params = {k: v.detach().clone().requires_grad_(True) for k, v in module.named_parameters()}
    names = list(params)
    n_states = module.num_layers * (2 if module.bidirectional else 1)
    h0 = torch.randn(n_states, x.shape[1], module.proj_size or module.hidden_size,
                     dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(n_states, x.shape[1], module.hidden_size, dtype=torch.float64,
                     requires_grad=True)

    def fn(x, h0, c0, *values):
        torch.manual_seed(1234)  # the same dropout-family masks at every evaluation
        out, (h_n, c_n) = functional_call(module, dict(zip(names, values, strict=True)),
                                          (x, (h0, c0)), call)
        return out, h_n, c_n

    assert torch.autograd.gradcheck(fn, (x, h0, c0, *params.values()), atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_gradcheck_every_variant_in_training(name):
    module = LSTM(3, 3, num_layers=2, bidirectional=True, **VARIANTS[name]).double().train()
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    _gradcheck_module(module, x)


@pytest.mark.parametrize("name", ["plain", "everything"])
def test_gradcheck_with_lengths_and_resets(name):
    module = LSTM(3, 3, num_layers=2, bidirectional=True, **VARIANTS[name]).double().train()
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    reset = torch.zeros(4, 3, dtype=torch.bool)
    reset[2, 0] = True
    _gradcheck_module(module, x, lengths=torch.tensor([4, 2, 3]), reset=reset)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_lengths_equal_running_each_sequence_alone(name):
    module = LSTM(I, H, num_layers=2, bidirectional=True, **VARIANTS[name]).double().eval()
    lengths = [4, 1, 3]
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h_n, c_n) = module(x, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        out_b, (h_b, c_b) = module(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], out_b, atol=1e-12, rtol=0)
        assert out[n:, b].abs().max().item() == 0 if n < T else True
        torch.testing.assert_close(h_n[:, b : b + 1], h_b, atol=1e-12, rtol=0)
        torch.testing.assert_close(c_n[:, b : b + 1], c_b, atol=1e-12, rtol=0)


def test_an_unbatched_input_takes_its_length_as_one_number():
    # its state has no batch dimension, and neither need its length
    module = LSTM(I, H, num_layers=2, peephole=True).double().eval()
    x = torch.randn(T, I, dtype=torch.float64)
    alone, (h_alone, _) = module(x[:3])
    for lengths in (3, torch.tensor(3), [3], torch.tensor([3])):
        out, (h_n, _) = module(x, lengths=lengths)
        torch.testing.assert_close(out[:3], alone, atol=1e-12, rtol=0)
        torch.testing.assert_close(h_n, h_alone, atol=1e-12, rtol=0)


@pytest.mark.parametrize("backend", ["fused", "reference"])
@pytest.mark.parametrize("name", ["plain", "peephole", "layer_norm", "everything"])
def test_what_the_padding_holds_changes_nothing(name, backend):
    # NaN or inf past a sequence's length (an unfilled buffer) made every weight gradient NaN,
    # where nn.LSTM on the packed batch never sees the padding
    module = LSTM(I, H, num_layers=2, bidirectional=True, backend=backend,
                  **VARIANTS[name]).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([4, 1, 3])
    results = []
    for fill in (0.0, float("nan"), float("inf")):
        padded = x.clone()
        padded[1:, 1], padded[3:, 2] = fill, fill
        padded.requires_grad_()
        torch.manual_seed(0)  # the same dropout and zoneout masks each time
        out, (h_n, c_n) = module(padded, lengths=lengths)
        module.zero_grad()
        (out.sum() + h_n.sum() + c_n.sum()).backward()
        results.append([out, h_n, c_n, padded.grad,
                        *(p.grad for p in module.parameters())])
    for got in results[1:]:
        for g, want in zip(got, results[0], strict=True):
            assert torch.isfinite(g).all()
            torch.testing.assert_close(g, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["plain", "peephole", "layer_norm", "everything"])
def test_reset_equals_separate_sequences(name):
    module = LSTM(I, H, num_layers=2, bidirectional=True, **VARIANTS[name]).double().eval()
    n_states = 4
    r = module.proj_size or H
    hx = (torch.randn(n_states, 1, r, dtype=torch.float64),
          torch.randn(n_states, 1, H, dtype=torch.float64))
    x = torch.randn(6, 1, I, dtype=torch.float64)
    reset = torch.zeros(6, 1, dtype=torch.bool)
    reset[2, 0] = True  # a new episode starts at step 2
    out, _ = module(x, hx, reset=reset)
    first, _ = module(x[:2], hx)
    second, (h2, c2) = module(x[2:], hx)
    torch.testing.assert_close(out, torch.cat([first, second]), atol=1e-12, rtol=0)
    _, (h_n, c_n) = module(x, hx, reset=reset)
    # the forward direction's final state belongs to the second episode
    torch.testing.assert_close(h_n[0::2], h2[0::2], atol=1e-12, rtol=0)
    torch.testing.assert_close(c_n[0::2], c2[0::2], atol=1e-12, rtol=0)


def test_reset_and_lengths_on_batch_first():
    module = LSTM(I, H, batch_first=True, peephole=True).double().eval()
    x = torch.randn(B, T, I, dtype=torch.float64)
    reset = torch.zeros(B, T, dtype=torch.bool)
    reset[1, 2] = True
    out, _ = module(x, reset=reset, lengths=[4, 4, 2])
    tail, _ = module(x[1:2, 2:])
    torch.testing.assert_close(out[1:2, 2:], tail, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["zoneout", "recurrent_dropout", "weight_drop", "everything"])
def test_dropout_family_is_deterministic_under_a_seed_and_random_without(name):
    module = LSTM(I, H, num_layers=2, dropout=0.3, **VARIANTS[name]).train()
    x = torch.randn(T, B, I)
    torch.manual_seed(7)
    first = module(x)[0]
    torch.manual_seed(7)
    again = module(x)[0]
    different = module(x)[0]
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    assert (first - different).abs().max() > 1e-4
    module.eval()
    torch.testing.assert_close(module(x)[0], module(x)[0], atol=0, rtol=0)


def test_zoneout_in_eval_is_the_expectation():
    """With z = 1 in evaluation the state never moves; training masks are 0/1."""
    module = LSTM(I, H, zoneout=(0.999999, 0.999999)).double().eval()
    hx = (torch.randn(1, B, H, dtype=torch.float64), torch.randn(1, B, H, dtype=torch.float64))
    _, (h_n, c_n) = module(torch.randn(T, B, I, dtype=torch.float64), hx)
    torch.testing.assert_close(h_n, hx[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(c_n, hx[1], atol=1e-4, rtol=0)


def test_zoneout_in_training_keeps_each_unit_with_its_probability():
    """In training a unit of c (h) keeps its previous value with probability z_c (z_h): the
    traced states repeat exactly at that rate (15,600 draws each, so +-0.02 is 5 sigma)."""
    torch.manual_seed(0)
    module = LSTM(3, 50, zoneout=(0.3, 0.6)).double().train()
    trace = module.trace(torch.randn(40, 8, 3, dtype=torch.float64))
    for states, z in ((trace.c, 0.3), (trace.h, 0.6)):
        kept = (states[:, 1:] == states[:, :-1]).double().mean().item()
        assert abs(kept - z) < 0.02, (z, kept)


def test_weight_drop_keeps_parameters_and_state_dict():
    module = LSTM(I, H, weight_drop=0.5).train()
    before = module.weight_hh_l0.detach().clone()
    names = [n for n, _ in module.named_parameters()]
    module(torch.randn(T, B, I))[0].sum().backward()
    assert names == [n for n, _ in torch.nn.LSTM(I, H).named_parameters()]
    torch.testing.assert_close(module.weight_hh_l0.detach(), before, atol=0, rtol=0)
    grad = module.weight_hh_l0.grad
    assert (grad == 0).float().mean() > 0.2  # dropped connections get no gradient


@pytest.mark.parametrize("name", list(VARIANTS))
def test_state_dict_round_trip(name):
    module = LSTM(I, H, num_layers=2, bidirectional=True, **VARIANTS[name]).eval()
    copy = LSTM(I, H, num_layers=2, bidirectional=True, **VARIANTS[name]).eval()
    copy.load_state_dict(module.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(copy(x)[0], module(x)[0], atol=0, rtol=0)


def test_variant_parameter_shapes():
    module = LSTM(I, H, peephole=True, coupled_gates=True, layer_norm=True)
    assert module.weight_ih_l0.shape == (3 * H, I)
    assert module.weight_peephole_l0.shape == (2, H)
    assert module.ln_ih_weight_l0.shape == (3 * H,)
    assert module.ln_c_bias_l0.shape == (H,)
    assert LSTM(I, H, peephole=True).weight_peephole_l0.shape == (3, H)


def test_forget_bias_and_chrono_init():
    module = LSTM(I, H, forget_bias=1.0)
    total = module.bias_ih_l0 + module.bias_hh_l0
    torch.testing.assert_close(total[H:2 * H], torch.ones(H))
    coupled = LSTM(I, H, coupled_gates=True, forget_bias=1.0)
    total = coupled.bias_ih_l0 + coupled.bias_hh_l0
    torch.testing.assert_close(total[:H], -torch.ones(H))  # f = 1 - sigmoid(a_i)
    chrono = LSTM(I, H, init="chrono", chrono_max_len=100)
    b = chrono.bias_ih_l0 + chrono.bias_hh_l0
    b_f = b[H:2 * H]
    assert (b_f >= 0).all() and (b_f <= math.log(99) + 1e-6).all()
    torch.testing.assert_close(b[:H], -b_f)


def test_orthogonal_recurrent_init():
    module = LSTM(I, H, recurrent_init="orthogonal")
    for block in module.weight_hh_l0.chunk(4):
        torch.testing.assert_close(block @ block.t(), torch.eye(H), atol=1e-5, rtol=0)
    # half precision has no QR: drawn in float32 and rounded
    for dtype in (torch.bfloat16, torch.float16):
        half = LSTM(I, H, recurrent_init="orthogonal", dtype=dtype)
        assert half.weight_hh_l0.dtype == dtype
        for block in half.weight_hh_l0.float().chunk(4):
            torch.testing.assert_close(block @ block.t(), torch.eye(H), atol=3e-2, rtol=0)


def test_reset_parameters_initialises_a_parametrized_weight_and_bias():
    # the in-place init wrote into a computed copy of a weight_norm'd weight: nothing changed
    from torch.nn.utils.parametrizations import weight_norm

    module = LSTM(I, H, recurrent_init="orthogonal", forget_bias=2.0)
    weight_norm(module, "weight_hh_l0")
    weight_norm(module, "bias_ih_l0", dim=None)
    with torch.no_grad():
        module.parametrizations.weight_hh_l0.original1.normal_()
        module.parametrizations.bias_ih_l0.original1.normal_()
    module.reset_parameters()
    for block in module.weight_hh_l0.detach().chunk(4):
        torch.testing.assert_close(block @ block.t(), torch.eye(H), atol=1e-5, rtol=0)
    bias = module.bias_ih_l0.detach() + module.bias_hh_l0.detach()
    torch.testing.assert_close(bias[H:2 * H], torch.full((H,), 2.0))
    # one that cannot be written through is said to be so, naming the weight

    class Double(torch.nn.Module):
        def forward(self, weight: torch.Tensor) -> torch.Tensor:
            return 2 * weight

    from torch.nn.utils import parametrize

    doubled = LSTM(I, H, recurrent_init="orthogonal")
    parametrize.register_parametrization(doubled, "weight_hh_l0", Double())
    with pytest.raises(RuntimeError, match=r"reset_parameters cannot set weight_hh_l0's initial "
                                           r"value .*its parametrization \['Double'\] has no "
                                           r"right_inverse"):
        doubled.reset_parameters()


def test_nan_input_propagates_the_same_on_every_backend():
    x = torch.randn(T, B, I)
    x[1, 0, 2] = float("nan")
    ref = LSTM(I, H, backend="reference")
    fused = LSTM(I, H, backend="torch")
    fused.load_state_dict(ref.state_dict())
    a, b = ref(x)[0], fused(x)[0]
    assert torch.equal(a.isnan(), b.isnan())
    assert a[1:, 0].isnan().all() and not a[:, 1:].isnan().any()
