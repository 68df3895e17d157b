"""``onnx_scan``: :func:`lstmkit.nn.functional.lstm_scan` as one ONNX ``Loop``.

ONNX cannot express the fused kernel, and ONNX's ``LSTM`` operator computes only the plain
LSTM without a projection, so an export of any other configuration runs the reference
equations. Traced, the reference path's Python loop would be unrolled over the steps of the
example input, and the graph would take exactly that many. Here the same loop is compiled by
TorchScript (:func:`_steps`), which the exporter writes as a ``Loop`` node: the graph takes
any number of steps, as one with ONNX's ``LSTM`` operator does.

The step is the reference one, :func:`lstm_scan`'s, in the form TorchScript compiles and
an ONNX ``Loop`` can carry: every optional input (a mask, a bias, a projection, the layer
norm's weights) as a flag and a tensor (a placeholder when the flag is off), where the
reference path takes None. Tests hold the two equal.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.nn.functional import (
    NO_MASKS,
    CellOptions,
    CellWeights,
    ScanResult,
    StepMasks,
    input_projection,
)


def onnx_scan(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w: CellWeights,
    options: CellOptions,
    masks: StepMasks = NO_MASKS,
) -> ScanResult:
    """Drop-in for :func:`~lstmkit.nn.functional.lstm_scan` (``trace=False``) whose time
    loop a trace records as one TorchScript loop (an ONNX ``Loop``) instead of unrolled."""
    x_proj = input_projection(x, w, options)  # (T, B, G*H)

    def given(t: Tensor | None) -> tuple[bool, Tensor]:
        return (False, x_proj.new_zeros(1)) if t is None else (True, t)

    flags, tensors = zip(*(given(t) for t in (
        masks.valid, masks.reset, masks.h_dropout, masks.zoneout_c, masks.zoneout_h,
        w.bias_ih, w.bias_hh, w.weight_hr, w.weight_peephole, w.ln_hh_weight, w.ln_hh_bias,
        w.ln_c_weight, w.ln_c_bias)), strict=True)
    output, h_n, c_n = _scripted()(
        x_proj, h0, c0, w.weight_hh, list(tensors), list(flags), options.peephole,
        options.coupled_gates, options.layer_norm, options.layer_norm_eps,
        int(w.weight_hh.shape[0]), int(c0.shape[-1]))
    return ScanResult(output, h_n, c_n, None)


def _steps(x_proj: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, given: list[Tensor],
           has: list[bool], peephole: bool, coupled_gates: bool, layer_norm: bool, eps: float,
           gate_width: int, hidden: int) -> tuple[Tensor, Tensor, Tensor]:
    """The loop of :func:`~lstmkit.nn.functional.lstm_scan` over ``x_proj`` (T, B, G*H).

    ``given``/``has``: valid, reset, h_dropout, zoneout_c, zoneout_h, bias_ih, bias_hh,
    weight_hr, weight_peephole, ln_hh_weight, ln_hh_bias, ln_c_weight, ln_c_bias, each a
    tensor and whether it is given; ``gate_width`` (G*H) and ``hidden`` (H) are the layer
    norms' widths, constants of the graph as ONNX's LayerNormalization needs."""
    valid, reset, h_dropout, zoneout_c, zoneout_h = given[0], given[1], given[2], given[3], given[4]
    bias_ih, bias_hh, weight_hr, peep = given[5], given[6], given[7], given[8]
    ln_hh_w, ln_hh_b, ln_c_w, ln_c_b = given[9], given[10], given[11], given[12]
    h, c = h0, c0
    outputs: list[Tensor] = []
    for t in range(x_proj.size(0)):
        h_prev, c_prev = h, c
        if has[1]:
            reset_t = reset[t].unsqueeze(-1)  # (B, 1)
            h_prev = torch.where(reset_t, h0, h_prev)
            c_prev = torch.where(reset_t, c0, c_prev)
        h_in = h_prev * h_dropout if has[2] else h_prev
        # the cell: lstm_cell
        h_proj = h_in @ weight_hh.t()  # (B, G*H)
        if layer_norm:
            h_proj = F.layer_norm(h_proj, [gate_width], ln_hh_w if has[9] else None,
                                  ln_hh_b if has[10] else None, eps)
            gates = x_proj[t] + h_proj
            if has[5]:
                gates = gates + bias_ih
        else:
            gates = x_proj[t] + h_proj
        if has[6]:
            gates = gates + bias_hh
        if coupled_gates:
            a_i, a_g, a_o = gates.chunk(3, dim=-1)  # each (B, H)
            a_f = a_i
        else:
            a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)  # each (B, H)
        if peephole:
            a_i = a_i + peep[0] * c_prev
            if not coupled_gates:
                a_f = a_f + peep[1] * c_prev
        i = torch.sigmoid(a_i)
        f = 1.0 - i if coupled_gates else torch.sigmoid(a_f)
        g = torch.tanh(a_g)
        c_new = f * c_prev + i * g
        if peephole:
            a_o = a_o + peep[-1] * c_new
        o = torch.sigmoid(a_o)
        c_out = c_new
        if layer_norm:
            c_out = F.layer_norm(c_new, [hidden], ln_c_w if has[11] else None,
                                 ln_c_b if has[12] else None, eps)
        h_new = o * torch.tanh(c_out)
        if has[7]:
            h_new = h_new @ weight_hr.t()  # (B, P)
        # zoneout and padding: lstm_scan's
        if has[3]:
            c_new = torch.lerp(c_new, c_prev.to(c_new.dtype), zoneout_c[t].to(c_new.dtype))
        if has[4]:
            h_new = torch.lerp(h_new, h_prev.to(h_new.dtype), zoneout_h[t].to(h_new.dtype))
        if has[0]:
            valid_t = valid[t].unsqueeze(-1)  # (B, 1)
            h = torch.where(valid_t, h_new, h)
            c = torch.where(valid_t, c_new, c)
            out_t = torch.where(valid_t, h_new, torch.zeros_like(h_new))
        else:
            h, c, out_t = h_new, c_new, h_new
        outputs.append(out_t)
    return torch.stack(outputs), h, c  # (T, B, R)


_SCRIPTED: list[Any] = []


def _scripted() -> Any:
    """:func:`_steps` compiled by TorchScript (once per process)."""
    if not _SCRIPTED:
        _SCRIPTED.append(torch.jit.script(_steps))
    return _SCRIPTED[0]
