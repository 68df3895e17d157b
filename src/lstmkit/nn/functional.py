r"""The LSTM equations as pure functions: the reference path and the oracle of every fast path.

One step of the cell (:func:`lstm_cell`) and the time loop over one layer in one direction
(:func:`lstm_scan`). Layers, directions, reversal within each sequence's own length, dropout
masks and packed input are the business of :class:`lstmkit.nn.LSTM`; a fast kernel replaces
:func:`lstm_scan` and must agree with it in outputs and gradients.

A step, with ``x`` the input, ``h_prev``/``c_prev`` the previous state and :math:`\sigma` the
logistic sigmoid:

.. math::

    a &= W_{ih} x + b_{ih} + W_{hh} (h_{prev} \odot m_h) + b_{hh}
        \quad\text{split into } a_i, a_f, a_g, a_o \\
    i &= \sigma(a_i + p_i \odot c_{prev}) \qquad
    f = \sigma(a_f + p_f \odot c_{prev}) \qquad g = \tanh(a_g) \\
    c_{new} &= f \odot c_{prev} + i \odot g \\
    o &= \sigma(a_o + p_o \odot c_{new}) \\
    h_{new} &= W_{hr} \bigl(o \odot \tanh(c_{new})\bigr)

where the peephole terms :math:`p_\ast` exist only with ``peephole`` (Gers & Schmidhuber
2000), :math:`W_{hr}` only with a projection (Sak et al. 2014), and :math:`m_h` is the
recurrent dropout mask (Gal & Ghahramani 2016, one mask per sequence). With
``coupled_gates`` (CIFG, Greff et al. 2015) there is no :math:`a_f` and :math:`f = 1 - i`.
With ``layer_norm`` (Ba et al. 2016) the two products are normalised separately,
:math:`a = \mathrm{LN}_{ih}(W_{ih} x) + \mathrm{LN}_{hh}(W_{hh} h_{prev}) + b_{ih} + b_{hh}`,
and the output reads :math:`o \odot \tanh(\mathrm{LN}_c(c_{new}))`; the normalisation spans the
whole gate vector (all gates together), as in the paper.

Zoneout (Krueger et al. 2016) then keeps each unit's previous value with mask
:math:`z` (a Bernoulli sample in training, its probability in evaluation):
:math:`c = z_c \odot c_{prev} + (1 - z_c) \odot c_{new}`, likewise for ``h``.

Shapes use: T time, B batch, I input features, H hidden, R recurrent width (P with a
projection of size P, else H), G gates (4, or 3 with coupled gates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

GATES = ("i", "f", "g", "o")
COUPLED_GATES = ("i", "g", "o")


@dataclass(frozen=True)
class CellOptions:
    """Which variant of the cell to compute; the masks of the dropout family come separately."""

    peephole: bool = False
    coupled_gates: bool = False
    layer_norm: bool = False
    layer_norm_eps: float = 1e-5

    @property
    def num_gates(self) -> int:
        return 3 if self.coupled_gates else 4


class CellWeights(NamedTuple):
    """The parameters of one layer in one direction.

    Shapes: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, R), ``bias_ih``/``bias_hh`` (G*H,),
    ``weight_hr`` (P, H), ``weight_peephole`` (3, H) with rows i, f, o, or (2, H) with rows
    i, o when the gates are coupled; ``ln_ih_*``/``ln_hh_*`` (G*H,), ``ln_c_*`` (H,).
    """

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None = None
    bias_hh: Tensor | None = None
    weight_hr: Tensor | None = None
    weight_peephole: Tensor | None = None
    ln_ih_weight: Tensor | None = None
    ln_ih_bias: Tensor | None = None
    ln_hh_weight: Tensor | None = None
    ln_hh_bias: Tensor | None = None
    ln_c_weight: Tensor | None = None
    ln_c_bias: Tensor | None = None


class StepMasks(NamedTuple):
    """Per-step masks of one layer-direction; every field may be None (no effect).

    ``valid`` (T, B) bool: false on padding, where the state is carried unchanged and the
    output is zero. ``reset`` (T, B) bool: the state is reset to the initial state before
    the step. ``h_dropout`` (B, R): recurrent dropout mask, already scaled by 1/(1-p).
    ``zoneout_c`` (T, B, H) and ``zoneout_h`` (T, B, R): keep-probabilities or 0/1 samples.
    """

    valid: Tensor | None = None
    reset: Tensor | None = None
    h_dropout: Tensor | None = None
    zoneout_c: Tensor | None = None
    zoneout_h: Tensor | None = None


NO_MASKS = StepMasks()

_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB


def _int64(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(z: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bits (torch's ``>>`` on int64 is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


@torch.library.custom_op("lstmkit_reference::keep_mask", mutates_args=())
def keep_mask(seed: Tensor, size: list[int], p: float, dtype: torch.dtype) -> Tensor:
    """A (``size``) tensor in ``dtype`` whose elements are 1 with probability ``p``, else 0.

    The zoneout masks' sampler, counter-based so that it is cheap and parallel: word ``w`` is
    SplitMix64's ``w``-th output for the int64 ``seed`` (Steele, Lea & Flood 2014), element
    ``k`` is 1 when the low (``k`` even) or high (``k`` odd) 32 bits of word ``k // 2`` are
    below ``floor(p * 2**32 + 1/2)``. Computed here with torch integer operations on
    ``seed``'s device; the fused kernel's ``torch.ops.lstmkit.keep_mask`` draws the same
    stream in C++. A torch operator (``lstmkit_reference::keep_mask``), so that
    ``torch.compile`` calls it as it is: the stream needs int64 products that wrap, as eager
    torch's do, where code that inductor generates may not.
    """
    n = 1
    for dim in size:
        n = n * dim
    words = torch.arange(1, (n + 1) // 2 + 1, dtype=torch.int64, device=seed.device)
    z = seed.reshape(()) + words * _int64(_GOLDEN_GAMMA)  # wraps modulo 2**64, as in C++
    z = (z ^ _shift_right(z, 30)) * _int64(_MIX_1)
    z = (z ^ _shift_right(z, 27)) * _int64(_MIX_2)
    z = z ^ _shift_right(z, 31)
    halves = torch.stack((z & 0xFFFFFFFF, _shift_right(z, 32)), dim=-1).reshape(-1)[:n]
    return (halves < int(p * 2**32 + 0.5)).to(dtype).reshape(size)


@keep_mask.register_fake
def _(seed: Tensor, size: list[int], p: float, dtype: torch.dtype) -> Tensor:
    return torch.empty(size, dtype=dtype, device=seed.device)


class Gates(NamedTuple):
    """Gate activations of one step, each (B, H)."""

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor


class ScanResult(NamedTuple):
    """What :func:`lstm_scan` returns.

    ``output`` (T, B, R), zero on padding; ``h_n`` (B, R) and ``c_n`` (B, H), the state after
    each sequence's last valid step; ``trace`` with ``trace=True``: a dict of (T, B, ·) tensors
    ``i, f, g, o, c, h`` (zero on padding), else None.
    """

    output: Tensor
    h_n: Tensor
    c_n: Tensor
    trace: dict[str, Tensor] | None = None


def input_projection(x: Tensor, w: CellWeights, options: CellOptions) -> Tensor:
    """The input part of the gate pre-activations for all steps at once: one big GEMM.

    ``x`` (T, B, I) -> (T, B, G*H). Without layer norm the input bias is folded in here.
    """
    x_proj = x @ w.weight_ih.t()  # (T, B, G*H)
    if options.layer_norm:
        # (the size as a Python int: a traced one made the ONNX export with dynamic axes
        # fail, as LayerNormalization takes a constant shape)
        return F.layer_norm(
            x_proj, (int(x_proj.shape[-1]),), w.ln_ih_weight, w.ln_ih_bias,
            options.layer_norm_eps)
    if w.bias_ih is not None:
        x_proj = x_proj + w.bias_ih
    return x_proj


def lstm_cell(
    x_proj: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    w: CellWeights,
    options: CellOptions,
    h_dropout: Tensor | None = None,
) -> tuple[Tensor, Tensor, Gates]:
    """One LSTM step from the input projection ``x_proj`` (B, G*H) (see :func:`input_projection`).

    ``h_prev`` (B, R), ``c_prev`` (B, H) -> ``h_new`` (B, R), ``c_new`` (B, H) and the gates.
    Zoneout and padding are applied by the caller (:func:`lstm_scan`).
    """
    h_in = h_prev if h_dropout is None else h_prev * h_dropout
    h_proj = h_in @ w.weight_hh.t()  # (B, G*H)
    if options.layer_norm:
        h_proj = F.layer_norm(
            h_proj, (int(h_proj.shape[-1]),), w.ln_hh_weight, w.ln_hh_bias,
            options.layer_norm_eps)
        gates = x_proj + h_proj
        if w.bias_ih is not None:
            gates = gates + w.bias_ih
        if w.bias_hh is not None:
            gates = gates + w.bias_hh
    else:
        gates = x_proj + h_proj
        if w.bias_hh is not None:
            gates = gates + w.bias_hh

    if options.coupled_gates:
        a_i, a_g, a_o = gates.chunk(3, dim=-1)  # each (B, H)
        a_f = None
    else:
        a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)  # each (B, H)

    p = w.weight_peephole
    if options.peephole:
        a_i = a_i + p[0] * c_prev
        if a_f is not None:
            a_f = a_f + p[1] * c_prev
    i = torch.sigmoid(a_i)
    f = 1.0 - i if a_f is None else torch.sigmoid(a_f)
    g = torch.tanh(a_g)
    c_new = f * c_prev + i * g
    if options.peephole:
        a_o = a_o + p[-1] * c_new
    o = torch.sigmoid(a_o)

    c_out = c_new
    if options.layer_norm:
        c_out = F.layer_norm(c_new, (int(c_new.shape[-1]),), w.ln_c_weight, w.ln_c_bias,
                             options.layer_norm_eps)
    h_new = o * torch.tanh(c_out)
    if w.weight_hr is not None:
        h_new = h_new @ w.weight_hr.t()  # (B, P)
    return h_new, c_new, Gates(i, f, g, o)


def check_weights(w: CellWeights, options: CellOptions, hidden: int) -> None:
    """``w`` holds the gates and peepholes ``options`` ask for, of ``hidden`` units: G * H rows
    of ``weight_ih`` and ``weight_hh`` (G = 3 with coupled gates, else 4), and
    ``weight_peephole`` (G - 1, H) exactly when ``options.peephole``."""
    gates = options.num_gates
    rows = (w.weight_ih.shape[0], w.weight_hh.shape[0])
    if rows != (gates * hidden,) * 2:
        raise ValueError(
            f"weight_ih and weight_hh must have {gates} * hidden_size = {gates * hidden} rows "
            f"for {'coupled' if options.coupled_gates else 'four'} gates of {hidden} units "
            f"(options.coupled_gates={options.coupled_gates}, c0 of {hidden}), got "
            f"{rows[0]} and {rows[1]}")
    peephole = (gates - 1, hidden)
    if options.peephole and (w.weight_peephole is None
                             or tuple(w.weight_peephole.shape) != peephole):
        got = None if w.weight_peephole is None else tuple(w.weight_peephole.shape)
        raise ValueError(f"options.peephole needs weight_peephole of shape {peephole}, "
                         f"got {got}")
    if not options.peephole and w.weight_peephole is not None:
        raise ValueError("weight_peephole is given but options.peephole is False, which "
                         "would leave it unused: set options.peephole=True or leave it out")


def lstm_scan(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w: CellWeights,
    options: CellOptions,
    masks: StepMasks = NO_MASKS,
    trace: bool = False,
) -> ScanResult:
    """Run one layer in one direction over time, forward in ``x``'s order.

    ``x`` (T, B, I) with T >= 1, ``h0`` (B, R), ``c0`` (B, H). The reverse direction is
    obtained by the caller by reversing each sequence within its own length before and after.
    """
    check_weights(w, options, int(c0.shape[-1]))
    x_proj = input_projection(x, w, options)  # (T, B, G*H)
    h, c = h0, c0
    outputs = []
    records: dict[str, list[Tensor]] = {k: [] for k in ("i", "f", "g", "o", "c", "h")}
    # unbind: one backward for all steps; x_proj[t] would add a full (T, B, G*H) gradient per
    # step, a backward quadratic in T
    for t, x_t in enumerate(x_proj.unbind(0)):
        h_prev, c_prev = h, c
        if masks.reset is not None:
            reset_t = masks.reset[t].unsqueeze(-1)  # (B, 1)
            h_prev = torch.where(reset_t, h0, h_prev)
            c_prev = torch.where(reset_t, c0, c_prev)
        h_new, c_new, gates = lstm_cell(x_t, h_prev, c_prev, w, options, masks.h_dropout)
        # under autocast the cell computes in float32 while the state may be lower precision;
        # lerp takes one dtype: the cell's
        if masks.zoneout_c is not None:
            c_new = torch.lerp(c_new, c_prev.to(c_new.dtype), masks.zoneout_c[t].to(c_new.dtype))
        if masks.zoneout_h is not None:
            h_new = torch.lerp(h_new, h_prev.to(h_new.dtype), masks.zoneout_h[t].to(h_new.dtype))
        if masks.valid is not None:
            valid_t = masks.valid[t].unsqueeze(-1)  # (B, 1)
            h = torch.where(valid_t, h_new, h)
            c = torch.where(valid_t, c_new, c)
            out_t = torch.where(valid_t, h_new, torch.zeros_like(h_new))
        else:
            h, c, out_t = h_new, c_new, h_new
        outputs.append(out_t)
        if trace:
            for name, value in (*zip(GATES, gates, strict=True), ("c", c_new), ("h", h_new)):
                if masks.valid is not None:
                    value = torch.where(masks.valid[t].unsqueeze(-1), value,
                                        torch.zeros_like(value))
                records[name].append(value)
    output = torch.stack(outputs)  # (T, B, R)
    traced = {k: torch.stack(v) for k, v in records.items()} if trace else None
    return ScanResult(output, h, c, traced)
