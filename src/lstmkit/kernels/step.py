"""One time step of one layer-direction for streaming inference, on the fused C++ kernel.

:func:`lstm_step` computes what :func:`lstmkit.nn.functional.lstm_cell` computes for one step,
with zoneout as its expectation (evaluation semantics), in one call into C++: the two GEMVs (or
GEMMs for B > 1), the cell and the projection, with no per-op dispatch. It is for inference
only: under autograd it raises rather than return tensors cut from the graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lstmkit.kernels.cpu.loader import load_extension
from lstmkit.nn.functional import CellOptions, CellWeights

_ext = None  # the loaded extension, kept here to spare each step the loader's checks


def lstm_step(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    w: CellWeights,
    options: CellOptions,
    zoneout: tuple[float, float] = (0.0, 0.0),
    out: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Advance one layer-direction by one step: ``x_t`` (B, I), ``h`` (B, R), ``c`` (B, H).

    Returns ``h_new`` (B, R) and ``c_new`` (B, H); with ``out=(h_out, c_out)`` (contiguous,
    not ``h``/``c`` themselves) it writes into those and returns them. ``zoneout`` = (z_c, z_h)
    blends the new state with the previous one: c = z_c c + (1 - z_c) c_new. All tensors
    contiguous, on the CPU, float32 or float64.
    """
    if torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (x_t, h, c, *w)):
        raise ValueError("lstm_step is for inference: call it under torch.no_grad() or "
                         "torch.inference_mode(), or run lstm_cell for a differentiable step")
    global _ext
    if _ext is None:
        _ext = load_extension()
    h_out, c_out = out if out is not None else (None, None)
    h_new, c_new = _ext.step(
        x_t, h, c, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, w.weight_peephole,
        w.ln_ih_weight, w.ln_ih_bias, w.ln_hh_weight, w.ln_hh_bias, w.ln_c_weight, w.ln_c_bias,
        w.weight_hr, zoneout[0], zoneout[1], options.coupled_gates, options.layer_norm,
        options.layer_norm_eps, h_out, c_out,
    )
    return h_new, c_new


def lstm_step_stack(
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    weights: Sequence[Tensor | None],
    options: CellOptions,
    zoneout: tuple[float, float] = (0.0, 0.0),
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of a unidirectional stack of L layers in one call: ``x_t`` (B, I),
    ``h`` (L, B, R), ``c`` (L, B, H), ``weights`` the L layers' :class:`CellWeights` fields
    concatenated (12 per layer, in field order). Returns the top layer's output (B, R) and
    the new ``h`` (L, B, R) and ``c`` (L, B, H). Inference only, as :func:`lstm_step`.
    """
    global _ext
    if torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (x_t, h, c, *weights)):
        raise ValueError("lstm_step_stack is for inference: call it under torch.no_grad() or "
                         "torch.inference_mode()")
    if _ext is None:
        _ext = load_extension()
    y, h_new, c_new = _ext.step_stack(x_t, h, c, list(weights), zoneout[0], zoneout[1],
                                      options.coupled_gates, options.layer_norm,
                                      options.layer_norm_eps)
    return y, h_new, c_new
