"""Tracing is consistent with the equations and the outputs; step equals the full call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import LSTM, plot_trace

T, B, I, H = 4, 3, 5, 6


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"coupled_gates": True}])
def test_trace_obeys_the_cell_update_and_matches_outputs(options):
    module = LSTM(I, H, num_layers=2, bidirectional=True, **options).double().eval()
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([4, 2, 3])
    trace = module.trace(x, lengths=lengths)
    assert trace.i.shape == (4, T, B, H) and trace.h.shape == (4, T, B, H)
    valid = (torch.arange(T).unsqueeze(1) < lengths).unsqueeze(-1)  # (T, B, 1)
    # forward directions (0 and 2) run forward in time, reverse ones (1 and 3) backward
    for ld in range(4):
        for t in range(T):
            prev = t - 1 if ld % 2 == 0 else t + 1
            c_prev = trace.c[ld, prev] if 0 <= prev < T else torch.zeros(B, H, dtype=x.dtype)
            c_prev = torch.where(valid[prev] if 0 <= prev < T else valid[t], c_prev, 0)
            expected = trace.f[ld, t] * c_prev + trace.i[ld, t] * trace.g[ld, t]
            torch.testing.assert_close(torch.where(valid[t], trace.c[ld, t], 0),
                                       torch.where(valid[t], expected, 0), atol=1e-12, rtol=0)
        torch.testing.assert_close(trace.h[ld], trace.o[ld] * torch.tanh(trace.c[ld]),
                                   atol=1e-12, rtol=0)
    if options.get("coupled_gates"):
        torch.testing.assert_close(torch.where(valid, trace.f[0], 0),
                                   torch.where(valid, 1 - trace.i[0], 0), atol=1e-12, rtol=0)
    out, _ = module(x, lengths=lengths)
    torch.testing.assert_close(out, torch.cat([trace.h[2], trace.h[3]], dim=-1), atol=1e-12,
                               rtol=0)


def test_plot_trace_writes_a_png(tmp_path):
    module = LSTM(I, H)
    path = plot_trace(module.trace(torch.randn(T, B, I)), tmp_path / "gates.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"batch_index must be in \[0, 2\], got 3"):
        plot_trace(module.trace(torch.randn(T, B, I)), tmp_path / "x.png", batch_index=3)


def test_plot_trace_checks_the_trace_the_indices_and_events_types(tmp_path):
    module = LSTM(I, H, num_layers=2)
    trace = module.trace(torch.randn(T, B, I))
    # None failed with "'NoneType' object has no attribute 'i'"; the (output, state) pair a
    # forward call returns is a common slip
    for bad in (None, module(torch.randn(T, B, I))):
        with pytest.raises(TypeError, match=r"trace must be an LSTMTrace \(what "
                                            r"LSTM\.trace\(x\) returns\), got "):
            plot_trace(bad, tmp_path / "x.png")  # type: ignore[arg-type]
    # True drew sequence 1, and 1.5 failed in torch's indexing
    for name, size in (("batch_index", B), ("layer_direction", 2)):
        for bad in (True, 1.5, "1"):
            with pytest.raises(TypeError, match=rf"{name} must be an int in \[0, {size - 1}\], "
                                                rf"got {type(bad).__name__} {bad!r}"):
                plot_trace(trace, tmp_path / "x.png", **{name: bad})
    # a dict's keys were taken as the steps
    with pytest.raises(TypeError, match=r"events must be a sequence of time steps, got dict"):
        plot_trace(trace, tmp_path / "x.png", events={1: "start"})  # type: ignore[arg-type]
    assert plot_trace(trace, tmp_path / "ok.png", layer_direction=np.int64(1),
                      batch_index=np.int32(2)).exists()


def test_plot_trace_takes_a_0d_integer_tensor_or_array_as_an_index(tmp_path):
    # batch_index=torch.tensor(0) was refused as "must be an int"
    module = LSTM(I, H, num_layers=2)
    trace = module.trace(torch.randn(T, B, I))
    assert plot_trace(trace, tmp_path / "ok.png", layer_direction=torch.tensor(1),
                      batch_index=np.array(2)).exists()
    for bad in (torch.tensor(True), torch.tensor(0.0)):
        with pytest.raises(TypeError, match=rf"batch_index must be an int in \[0, {B - 1}\], "
                                            r"got Tensor "):
            plot_trace(trace, tmp_path / "x.png", batch_index=bad)  # type: ignore[arg-type]


def test_plot_trace_draws_a_bfloat16_trace_and_refuses_no_fields(tmp_path):
    # without lengths a bfloat16 trace reached NumPy, which has no bfloat16
    module = LSTM(I, H).to(torch.bfloat16)
    trace = module.trace(torch.randn(T, B, I, dtype=torch.bfloat16))
    path = plot_trace(trace, tmp_path / "gates.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for fields in ((), "f"):  # (matplotlib's "Number of rows must be a positive integer")
        with pytest.raises(ValueError, match=r"fields must be a non-empty sequence of names "
                                             r"among \('i', 'f', 'g', 'o', 'c', 'h'\), got "):
            plot_trace(trace, tmp_path / "x.png", fields=fields)


def test_plot_trace_leaves_the_callers_matplotlib_backend_alone(tmp_path, pdf_backend):
    import matplotlib

    path = plot_trace(LSTM(I, H).trace(torch.randn(T, B, I)), tmp_path / "gates.png")
    assert matplotlib.get_backend() == "pdf"  # a notebook's inline plots keep working
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("options", [{}, {"peephole": True, "layer_norm": True, "proj_size": 2},
                                     {"zoneout": 0.3, "coupled_gates": True}])
def test_step_by_step_equals_the_whole_sequence(options):
    module = LSTM(I, H, num_layers=2, **options).double().eval()
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h_n, c_n) = module(x)
    state = None
    for t in range(T):
        y, state = module.step(x[t], state)
        torch.testing.assert_close(y, out[t], atol=1e-12, rtol=0)
    torch.testing.assert_close(state.h, h_n, atol=1e-12, rtol=0)
    torch.testing.assert_close(state.c, c_n, atol=1e-12, rtol=0)
    y1, _ = module.step(x[0, 0])
    torch.testing.assert_close(y1, out[0, 0], atol=1e-12, rtol=0)


def test_fused_step_takes_weights_that_are_views():
    """A weight assigned as a transposed view: forward takes it, and so does the fused step."""
    module = LSTM(I, H, num_layers=2, peephole=True).double().eval()
    module.weight_ih_l1.data = module.weight_ih_l1.data.t().contiguous().t()
    module.weight_hh_l0.data = module.weight_hh_l0.data.t().contiguous().t()
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, _ = module(x)
    state = None
    with torch.no_grad():
        for t in range(T):
            y, state = module.step(x[t], state)
            torch.testing.assert_close(y, out[t], atol=1e-12, rtol=0)


def test_auto_backend_says_what_it_picked():
    plain = LSTM(I, H)
    plain(torch.randn(T, B, I))
    assert plain.last_backend.name == "torch"
    assert "plain configuration" in plain.last_backend.reason
    variant = LSTM(I, H, peephole=True)
    variant(torch.randn(T, B, I))
    assert variant.last_backend.name != "torch"
    assert "peephole" in variant.last_backend.reason


def test_plot_trace_centres_the_cell_and_hidden_colours_on_zero(tmp_path, monkeypatch):
    # the c and h scales ran from their minimum to their maximum: white was their midpoint,
    # not 0, and a learner reads red as positive
    from matplotlib.figure import Figure

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: drawn.append(self))
    torch.manual_seed(0)
    module = LSTM(I, H)
    trace = module.trace(torch.randn(T, B, I) + 2.0)
    plot_trace(trace, tmp_path / "gates.png", fields=("f", "g", "c", "h"))
    (figure,) = drawn
    limits = [ax.images[0].get_clim() for ax in figure.axes if ax.images]
    assert limits[:2] == [(0.0, 1.0), (-1.0, 1.0)]
    for (low, high), name in zip(limits[2:], ("c", "h"), strict=True):
        reach = getattr(trace, name)[0, :, 0].abs().max().item()
        assert (low, high) == pytest.approx((-reach, reach))
