"""LSTM.step on the fused kernel against the reference step, and lstm_step's contract."""

from __future__ import annotations

import re

import pytest
import torch

from lstmkit.nn import LSTM
from lstmkit.nn.functional import CellOptions, CellWeights

I, H = 5, 6
VARIANTS = {
    "plain": {},
    "peephole": {"peephole": True},
    "coupled": {"coupled_gates": True},
    "layer_norm": {"layer_norm": True},
    "zoneout+proj": {"zoneout": (0.3, 0.2), "proj_size": 4},
    "everything": {"peephole": True, "coupled_gates": True, "layer_norm": True,
                   "zoneout": 0.2, "proj_size": 4},
}


@pytest.mark.parametrize("batch", [1, 3, 7])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_step_matches_reference_step(fused_ext, variant, batch):
    ref = LSTM(I, H, num_layers=2, backend="reference", **VARIANTS[variant]).double().eval()
    fused = LSTM(I, H, num_layers=2, **VARIANTS[variant]).double().eval()
    with torch.no_grad():
        for p in ref.parameters():  # away from the LN defaults, so LN parameters matter
            p.add_(torch.randn_like(p) * 0.1)
    fused.load_state_dict(ref.state_dict())
    state_ref = state_fused = None
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(batch, I, dtype=torch.float64)
            y_ref, state_ref = ref.step(x, state_ref)
            y_fused, state_fused = fused.step(x, state_fused)
            torch.testing.assert_close(y_fused, y_ref, rtol=0, atol=1e-12)
            torch.testing.assert_close(state_fused.h, state_ref.h, rtol=0, atol=1e-12)
            torch.testing.assert_close(state_fused.c, state_ref.c, rtol=0, atol=1e-12)


def test_step_sequence_matches_forward_in_float32(fused_ext):
    model = LSTM(I, H, num_layers=2, peephole=True).eval()
    x = torch.randn(10, 2, I)
    with torch.no_grad():
        expected, _ = model(x)
        state = None
        for t in range(10):
            y, state = model.step(x[t], state)
            torch.testing.assert_close(y, expected[t], rtol=1e-5, atol=1e-6)
        y, _ = model.step(x[0, 0])  # unbatched
        assert y.shape == (H,)


@pytest.mark.parametrize("scale", [1e19, 1e25, 1e30])
def test_fused_layer_norm_step_stays_exact_for_huge_float32_inputs(fused_ext, scale):
    # the layer norm's variance is summed in double: squares of float32 pre-activations past
    # about 1e19 overflowed it, and the step returned NaN
    torch.manual_seed(0)
    model = LSTM(I, H, num_layers=2, layer_norm=True).eval()
    exact = LSTM(I, H, num_layers=2, layer_norm=True, backend="reference").double().eval()
    exact.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    x = torch.randn(3, I) * scale
    with torch.no_grad():
        y, state = model.step(x)
        y64, state64 = exact.step(x.double())
    torch.testing.assert_close(y, y64.float(), rtol=0, atol=1e-6)
    torch.testing.assert_close(state.c, state64.c.float(), rtol=1e-5, atol=1e-6)


def test_lstm_step_refuses_autograd(fused_ext):
    from lstmkit.kernels.step import lstm_step

    w = CellWeights(torch.randn(4 * H, I, requires_grad=True), torch.randn(4 * H, H))
    with pytest.raises(ValueError, match=re.escape(
            "lstm_step is for inference: call it under torch.no_grad()")):
        lstm_step(torch.randn(1, I), torch.zeros(1, H), torch.zeros(1, H), w, CellOptions())


def test_lstm_step_checks_shapes(fused_ext):
    from lstmkit.kernels.step import lstm_step

    w = CellWeights(torch.randn(4 * H, I), torch.randn(4 * H, H))
    with torch.no_grad(), pytest.raises(RuntimeError, match=re.escape(
            "lstmkit step: weight_ih must have shape [24, 4], got [24, 5]")):
        lstm_step(torch.randn(1, 4), torch.zeros(1, H), torch.zeros(1, H), w, CellOptions())
