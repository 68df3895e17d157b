"""``fused_scan``: :func:`lstmkit.nn.functional.lstm_scan` on the fused C++ kernel.

Same arguments, same :class:`~lstmkit.nn.functional.ScanResult` (without trace), same outputs
and gradients w.r.t. ``x``, ``h0``, ``c0`` and every weight; masks are constants.

The input part of the gates is computed here for all steps with one GEMM (its gradients follow
from autograd as one GEMM each); the kernel runs the time loop and a hand-written backward as
the torch operator ``torch.ops.lstmkit.scan`` (registered when the extension loads, with its
autograd and Meta kernels in ``lstm_fused.cpp``), so that a jit trace, ``torch.export`` and
``torch.compile`` see one operator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.nn.functional import (
    NO_MASKS,
    CellOptions,
    CellWeights,
    ScanResult,
    StepMasks,
    check_weights,
)

from .loader import load_extension

SUPPORTED_DTYPES = (torch.float32, torch.float64)


def _gate_inputs(x: Tensor, w: CellWeights, options: CellOptions) -> Tensor:
    """x W_ih^T (+ LN_ih) + b_ih + b_hh for all steps: (T, B, I) -> (T, B, G*H)."""
    T, B = x.shape[:2]
    GH = w.weight_ih.shape[0]
    x2 = x.reshape(T * B, x.shape[2])  # (T*B, I)
    biases = [b for b in (w.bias_ih, w.bias_hh) if b is not None]
    bias = None if not biases else biases[0] if len(biases) == 1 else biases[0] + biases[1]
    if options.layer_norm:
        # b_ih + b_hh join LN_ih's shift: one pass over the (T*B, G*H) product, not three
        shift = bias if w.ln_ih_bias is None else w.ln_ih_bias if bias is None else (
            w.ln_ih_bias + bias)
        x_proj = F.layer_norm(_linear(x2, w.weight_ih, None), (GH,), w.ln_ih_weight, shift,
                              options.layer_norm_eps)  # (T*B, G*H)
    else:
        x_proj = _linear(x2, w.weight_ih, bias)  # (T*B, G*H)
    return x_proj.view(T, B, GH)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x weight^T + bias. Without autograd, in float32 on the CPU, a product of
    :data:`ONEDNN_MIN_MACS` multiply-adds or more runs on oneDNN's linear (the library
    torch.nn.LSTM runs on), while torch's oneDNN switch (``torch.backends.mkldnn.enabled``)
    is on: about twice MKL's sgemm, which torch's matmul calls, on CPUs where MKL takes its
    AVX2 code and oneDNN AVX-512 (the AMD EPYC measured: 6.9 ms against 15.2 for
    (6400, 256) x (256, 1024)). Smaller products stay on torch's matmul, as oneDNN's call
    costs about 10 us more. It has no backward, so training keeps torch's matmul; a trace, an
    export and torch.compile too (eager only)."""
    if (x.dtype == torch.float32 and x.device.type == "cpu" and _ONEDNN
            and x.shape[0] * x.shape[1] * weight.shape[0] >= ONEDNN_MIN_MACS
            and torch._C._get_mkldnn_enabled()
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                                  or (bias is not None and bias.requires_grad)))
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())


_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
ONEDNN_MIN_MACS = 1 << 22
"""The smallest input product (rows x inputs x outputs) :func:`_linear` gives oneDNN: a
review measured oneDNN's linear slower below about (64, 128) x (128, 512), 4.2M."""


def check_inputs(x: Tensor, h0: Tensor, c0: Tensor, w: CellWeights) -> None:
    """Raise ValueError/TypeError when the kernel cannot take these tensors."""
    if x.dim() != 3 or x.shape[0] < 1:
        raise ValueError(f"x must be (T, B, I) with T >= 1, got shape {tuple(x.shape)}")
    if x.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"the fused CPU kernel takes float32 or float64, got x of {x.dtype}")
    for name, t in (("x", x), ("h0", h0), ("c0", c0), *((f, v) for f, v in
                                                         zip(w._fields, w, strict=True)
                                                         if v is not None)):
        if t.device.type != "cpu":
            raise ValueError(f"the fused CPU kernel needs CPU tensors, got {name} on {t.device}")
        if t.dtype != x.dtype:
            raise TypeError(f"{name} must have x's dtype {x.dtype}, got {t.dtype}")


def fused_scan(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w: CellWeights,
    options: CellOptions,
    masks: StepMasks = NO_MASKS,
) -> ScanResult:
    """Drop-in for :func:`~lstmkit.nn.functional.lstm_scan` (``trace=False``).

    Shape: ``x`` (T, B, I), ``h0`` (B, R), ``c0`` (B, H) -> ``output`` (T, B, R),
    ``h_n`` (B, R), ``c_n`` (B, H).
    """
    check_inputs(x, h0, c0, w)
    # (the kernel reads the cell from the weights given: peepholes when weight_peephole is)
    check_weights(w, options, int(c0.shape[-1]))
    T, B, _ = x.shape
    H, R = c0.shape[-1], h0.shape[-1]
    # a state of one row serves every sequence, as lstm_scan broadcasts it
    h0, c0 = h0.expand(B, R), c0.expand(B, H)
    order = None
    if masks.valid is not None and B > 1:
        # Longest sequences first: the kernel skips the trailing padding rows of each step, so
        # a sorted batch shrinks step by step as a packed one does.
        steps = masks.valid.expand(T, B).sum(0)  # (B,)
        order = torch.argsort(steps, descending=True, stable=True)
        if not torch.compiler.is_compiling() and bool((steps[order] == steps).all()):
            order = None  # already sorted (a traced graph sorts whatever it is given)
    if order is not None:
        x, h0, c0 = x.index_select(1, order), h0.index_select(0, order), c0.index_select(0, order)
        masks = _permute_masks(masks, order, T, B)
    # the kernel runs in x's dtype (float32/64): under mixed precision (autocast) the input
    # projection stays in it too, as the recurrent state does
    with torch.autocast(x.device.type, enabled=False):
        xg = _gate_inputs(x, w, options)  # (T, B, G*H)

    def mask(m: Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor | None:
        return None if m is None else m.detach().to(dtype).expand(shape).contiguous()

    load_extension()  # registers torch.ops.lstmkit
    output, h_n, c_n = torch.ops.lstmkit.scan(
        xg, h0.contiguous(), c0.contiguous(), w.weight_hh.contiguous(),
        _contig(w.weight_peephole), _contig(w.ln_hh_weight), _contig(w.ln_hh_bias),
        _contig(w.ln_c_weight), _contig(w.ln_c_bias), _contig(w.weight_hr),
        mask(masks.valid, (T, B), torch.bool), mask(masks.reset, (T, B), torch.bool),
        mask(masks.h_dropout, (B, R), x.dtype), mask(masks.zoneout_c, (T, B, H), x.dtype),
        mask(masks.zoneout_h, (T, B, R), x.dtype), options.coupled_gates, options.layer_norm,
        options.layer_norm_eps,
    )
    if order is not None:
        inverse = torch.argsort(order)
        output = output.index_select(1, inverse)  # (T, B, R) in the caller's order
        h_n, c_n = h_n.index_select(0, inverse), c_n.index_select(0, inverse)
    return ScanResult(output, h_n, c_n, None)


def _permute_masks(masks: StepMasks, order: Tensor, T: int, B: int) -> StepMasks:
    """The masks with the batch in ``order``; broadcast masks are expanded first."""

    def by_batch(m: Tensor | None, batch_dim: int, shape: tuple[int, ...]) -> Tensor | None:
        return None if m is None else m.expand(*shape[:batch_dim], B, *shape[batch_dim + 1:]
                                               ).index_select(batch_dim, order)

    return StepMasks(
        by_batch(masks.valid, 1, (T, B)), by_batch(masks.reset, 1, (T, B)),
        by_batch(masks.h_dropout, 0, (B, -1)),
        by_batch(masks.zoneout_c, 1, (T, B, -1)), by_batch(masks.zoneout_h, 1, (T, B, -1)),
    )


def _contig(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()
