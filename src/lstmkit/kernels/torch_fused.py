"""Plain configurations on torch's own fused LSTM op: oneDNN on CPU, cuDNN on GPU.

This is the op behind ``torch.nn.LSTM``; called with the same weights it computes the same
numbers, so a plain :class:`lstmkit.nn.LSTM` costs what an ``nn.LSTM`` costs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


class StackOptions(NamedTuple):
    """The options of torch's LSTM op after its weights, in the op's order."""

    has_biases: bool
    num_layers: int
    dropout: float
    training: bool
    bidirectional: bool


def _autocast(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Under CPU autocast, ``tensors`` in the autocast dtype, as autocast casts an op on its
    lower-precision list: torch 2.13's autocast casts only the weights, and oneDNN then
    refuses a float32 input ("could not create a primitive descriptor"), which is what
    ``nn.LSTM`` does with an ``nn.Embedding``'s output under ``torch.autocast("cpu")``."""
    if tensors[0].device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        low = torch.get_autocast_dtype("cpu")
        return tuple(t.to(low) for t in tensors)
    return tensors


# torch.compile leaves nn.LSTM's op to eager mode (dynamo skips RNN modules); traced inside
# lstmkit's module, it fails under inductor and aot_eager, so it is left out of the graph too
@torch.compiler.disable
def run_stack(x: Tensor, h0: Tensor, c0: Tensor, flat_weights: list[Tensor],
              options: StackOptions, lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``x`` (T, B, I), ``h0`` (L*D, B, R), ``c0`` (L*D, B, H) -> output (T, B, D*R), h_n, c_n.

    ``flat_weights`` in ``nn.LSTM``'s order: per layer and direction w_ih, w_hh, [b_ih, b_hh],
    [w_hr]. With ``lengths`` the batch is packed, so each sequence stops at its own end.
    Under CPU autocast the input and state run in the autocast dtype.
    """
    if lengths is None:
        x, h0, c0 = _autocast(x, h0, c0)
        output, h_n, c_n = torch.lstm(x, (h0, c0), flat_weights, *options, False)
        return output, h_n, c_n
    packed, h_n, c_n = run_packed(pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False),
                                  h0, c0, flat_weights, options)
    output, _ = pad_packed_sequence(packed, total_length=x.shape[0])
    return output, h_n, c_n


@torch.compiler.disable
def run_packed(packed: PackedSequence, h0: Tensor, c0: Tensor, flat_weights: list[Tensor],
               options: StackOptions) -> tuple[PackedSequence, Tensor, Tensor]:
    """:func:`run_stack` on a packed batch, as ``nn.LSTM`` runs it: ``h0``, ``c0`` and the
    returned h_n, c_n in the batch's own order, the output packed as the input."""
    data, h0, c0 = _autocast(packed.data, h0, c0)
    order, unsorted = packed.sorted_indices, packed.unsorted_indices
    if order is not None:
        h0, c0 = h0.index_select(1, order), c0.index_select(1, order)
    out, h_n, c_n = torch.lstm(data, packed.batch_sizes, (h0, c0), flat_weights, *options)
    if unsorted is not None:
        h_n, c_n = h_n.index_select(1, unsorted), c_n.index_select(1, unsorted)
    return PackedSequence(out, packed.batch_sizes, order, unsorted), h_n, c_n
