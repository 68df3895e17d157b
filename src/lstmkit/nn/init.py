r"""Initialisers for LSTM parameters.

All functions work in place under ``torch.no_grad()`` on the tensors they are given; the gate
blocks of a (G*H, ·) weight or (G*H,) bias are in the order i, f, g, o (i, g, o when coupled).

- :func:`default_` — PyTorch's: every parameter :math:`\mathcal{U}(-1/\sqrt{H}, 1/\sqrt{H})`.
- :func:`forget_bias_` — Jozefowicz, Zaremba & Sutskever (2015): a positive forget-gate bias
  (1 is their advice) so the cell remembers by default early in training.
- :func:`chrono_` — Tallec & Ollivier (2018), "Can recurrent neural networks warp time?":
  :math:`b_f = \log(\mathcal{U}(1, T_{max} - 1))`, :math:`b_i = -b_f`, so that the cell's
  characteristic forgetting times spread over :math:`[1, T_{max}]`.
- :func:`orthogonal_recurrent_` — each gate's block of ``weight_hh`` orthogonal (Saxe et al. 2014),
  which keeps the recurrent Jacobian well conditioned at the start.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


@torch.no_grad()
def default_(tensor: Tensor, hidden_size: int) -> Tensor:
    bound = 1.0 / math.sqrt(hidden_size)
    return tensor.uniform_(-bound, bound)


@torch.no_grad()
def forget_bias_(bias_ih: Tensor, bias_hh: Tensor, value: float, coupled_gates: bool) -> None:
    """Set the forget gate's total bias to ``value`` (``bias_ih`` holds it, ``bias_hh`` zero).

    With coupled gates f = 1 - i = sigmoid(-a_i), so the input-gate bias becomes ``-value``.
    """
    hidden = bias_ih.shape[0] // (3 if coupled_gates else 4)
    block = slice(0, hidden) if coupled_gates else slice(hidden, 2 * hidden)
    bias_ih[block] = -value if coupled_gates else value
    bias_hh[block] = 0.0


@torch.no_grad()
def chrono_(bias_ih: Tensor, bias_hh: Tensor, max_len: int, coupled_gates: bool) -> None:
    """Chrono initialisation of the forget and input gate biases (see the module docstring)."""
    hidden = bias_ih.shape[0] // (3 if coupled_gates else 4)
    b_f = torch.log(torch.empty(hidden, dtype=bias_ih.dtype).uniform_(1.0, max_len - 1.0))
    # the i block is first in both layouts; with coupled gates f = 1 - i needs b_i = -b_f anyway
    bias_ih[:hidden] = -b_f
    bias_hh[:hidden] = 0.0
    if not coupled_gates:
        bias_ih[hidden : 2 * hidden] = b_f
        bias_hh[hidden : 2 * hidden] = 0.0


@torch.no_grad()
def orthogonal_recurrent_(weight_hh: Tensor, num_gates: int) -> None:
    """Make each gate's (H, R) block of ``weight_hh`` (semi-)orthogonal."""
    for block in weight_hh.chunk(num_gates, dim=0):
        if torch.finfo(block.dtype).bits >= 32:
            torch.nn.init.orthogonal_(block)
        else:  # QR has no half-precision kernel: drawn in float32, rounded once
            block.copy_(torch.nn.init.orthogonal_(block.float()))
