"""Checks of the inputs of :class:`lstmkit.nn.LSTM`: the input tensor or packed sequence,
the initial state, ``lengths`` and ``reset``; each bad value is an error that names it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from lstmkit.nn.config import LSTMConfig
from lstmkit.nn.state import check_state, zero_state


def prepare_call(cfg: LSTMConfig, input: Tensor | PackedSequence, hx: Any, lengths: Any,
                 reset: Tensor | None, weight: Tensor, *, pad: bool = True
                 ) -> tuple[Tensor | None, Tensor, Tensor, Tensor | None, Tensor | None, bool]:
    """Validate a call of :class:`lstmkit.nn.LSTM` (``forward``, ``trace``) whose parameters
    are like ``weight`` (dtype, device); return x (T, B, I), h0, c0, lengths (B,) or None,
    reset (T, B) or None, and whether the input was unbatched. A PackedSequence is padded,
    unless ``pad`` is False: then x and lengths are None (for torch's op, which takes the
    packed batch)."""
    unbatched = False
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("lengths must be None with a PackedSequence input (the packed "
                             f"sequence carries its lengths), got {lengths!r}")
        x, lengths_t, like = None, None, input.data
        if pad and input.unsorted_indices is not None and input.data.device.type == "meta":
            raise ValueError("input must be a PackedSequence of sorted sequences "
                             "(enforce_sorted=True) on the meta device here, got one with "
                             "unsorted_indices: unpacking it, torch reads the indices' values, "
                             "which meta tensors have none of; this LSTM's options run on the "
                             "padded batch (pass the meta tensor with lengths= instead)")
        if pad:
            x, lengths_t = pad_packed_sequence(input)  # (T, B, I), original batch order
            lengths_t = lengths_t.to(x.device)
            steps, batch = x.shape[0], x.shape[1]
            zeros_batch: Any = batch
        else:  # zeros of batch_sizes[0] rows, a tensor, as nn.LSTM's: a jit trace follows it
            steps, batch = len(input.batch_sizes), int(input.batch_sizes[0])
            zeros_batch = input.batch_sizes[0]
    else:
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor or PackedSequence, got "
                            f"{type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input must be 3-D (T, B, I){' [batch_first: (B, T, I)]' * cfg.batch_first}"
                f" or 2-D (T, I) unbatched, got {input.dim()}-D with shape "
                f"{tuple(input.shape)}")
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else input
        if cfg.batch_first and not unbatched:
            x = x.transpose(0, 1)  # (B, T, I) -> (T, B, I)
        lengths_t, like = None, x
        steps, batch = x.shape[0], x.shape[1]
        zeros_batch = batch
    check_like_weights("input", like, weight)
    if like.shape[-1] != cfg.input_size:
        raise ValueError(f"input must have {cfg.input_size} features (input_size) in its "
                         f"last dimension, got {like.shape[-1]}")
    if steps == 0:
        raise ValueError("input must have at least one time step, got T=0")
    if lengths is not None:
        lengths_t = check_lengths(lengths, steps, batch, like.device, unbatched)
    if reset is not None:
        reset = check_reset(reset, steps, batch, unbatched, cfg.batch_first, like.device)
    n_states = cfg.num_layers * cfg.num_directions
    h_shape = (n_states, batch, cfg.recurrent_size)
    c_shape = (n_states, batch, cfg.hidden_size)
    if hx is None:
        h0, c0 = zero_state(n_states, zeros_batch, cfg.recurrent_size, cfg.hidden_size, like)
    elif unbatched:
        h0, c0 = check_state(hx, (n_states, cfg.recurrent_size), (n_states, cfg.hidden_size),
                             like, note=" (the state of an unbatched 2-D input is 2-D too)")
        h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    else:
        h0, c0 = check_state(hx, h_shape, c_shape, like)
    return x, h0, c0, lengths_t, reset, unbatched


def check_dtype(dtype: object) -> None:
    """A module's ``dtype`` argument: None or a floating-point torch dtype (parameters of
    another kind cannot take gradients)."""
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch dtype (torch.float32, "
                        f"torch.float64, ...) or None, got {dtype!r}")


def check_like_weights(name: str, x: Tensor, weight: Tensor, owner: str = "LSTM") -> None:
    """``x`` is floating point, in the dtype of the parameters (outside autocast, which casts)
    and on their device; ``weight`` is one of them, of the module ``owner`` (its class)."""
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    module = owner.lower()
    # under autocast the kernels cast both to the lower precision themselves
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{name} must have the dtype of the {owner}'s parameters, "
                        f"{weight.dtype}, got {x.dtype}; convert one of them (.to(dtype) / "
                        f"{module}.to(dtype))")
    if x.device != weight.device:
        raise ValueError(f"{name} must be on the device of the {owner}'s parameters, "
                         f"{weight.device}, got {x.device}; move one of them (.to(device) / "
                         f"{module}.to(device))")


def check_lengths(lengths: Any, steps: int, batch: int, device: torch.device,
                  unbatched: bool = False) -> Tensor:
    """``lengths`` as a long tensor (B,) on ``device``, each in [1, T]; for an unbatched
    input one number (as its state has no batch dimension) or a (1,) tensor.

    On the meta device (shape inference, tracing) a lengths tensor has no values: with an
    input on meta too its dtype and shape are checked and its values are not; with an input
    that holds data it is an error (its values cannot be read). Lengths that hold values
    are checked on their own device, before they move to ``device`` (meta too)."""
    try:
        lengths_t = torch.as_tensor(lengths)
    except (TypeError, RuntimeError, ValueError):
        expected = ("one integer for an unbatched input" if unbatched else "a 1-D integer "
                    "tensor or a sequence of ints (one per sequence)")
        raise TypeError(f"lengths must be {expected}, got {type(lengths).__name__} "
                        f"{lengths!r:.60}") from None
    if lengths_t.dtype.is_floating_point or lengths_t.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths_t.dtype}")
    if unbatched and lengths_t.dim() == 0:
        lengths_t = lengths_t.reshape(1)
    if tuple(lengths_t.shape) != (batch,):
        expected = "be one integer or have shape (1,) for an unbatched input" if unbatched \
            else f"have shape ({batch},) (one per sequence)"
        raise ValueError(f"lengths must {expected}, got {tuple(lengths_t.shape)}")
    _values_for(lengths_t, "lengths", device)
    if batch == 0:  # an empty batch, as nn.LSTM takes it: nothing to check
        return lengths_t.to(device=device, dtype=torch.long)
    if torch.compiler.is_compiling():
        # torch.export and torch.compile trace the values as unknowns: the check runs in the
        # graph, not in Python
        lengths_t = lengths_t.to(device=device, dtype=torch.long)
        torch._assert_async(((lengths_t >= 1) & (lengths_t <= steps)).all(),
                            "lengths must be in [1, T], T the input's number of steps")
        return lengths_t
    lengths_t = lengths_t.long()
    if lengths_t.device.type != "meta":  # (meta: no values to check, see above)
        low, high = int(lengths_t.min()), int(lengths_t.max())
        if low < 1 or high > steps:
            raise ValueError(f"lengths must be in [1, {steps}] (T), got values in [{low}, "
                             f"{high}]")
    return lengths_t.to(device)


def _values_for(tensor: Tensor, name: str, device: torch.device) -> None:
    """A ValueError when ``tensor`` is on the meta device, which holds no values, and the
    input on ``device`` is not (its values could neither be checked nor moved there)."""
    if tensor.device.type == "meta" and device.type != "meta":
        raise ValueError(f"{name} must hold values, got a tensor on the meta device (which "
                         f"holds none) for an input on {device}; give {name} on {device} (a "
                         f"meta {name} goes only with a meta input, for shape inference)")


def check_reset(reset: Any, steps: int, batch: int, unbatched: bool, batch_first: bool,
                device: torch.device) -> Tensor:
    """``reset`` as a bool tensor (T, B) on ``device``; one on the meta device only with an
    input on meta (see :func:`check_lengths`)."""
    if not isinstance(reset, Tensor) or reset.dtype != torch.bool:
        raise TypeError(f"reset must be a bool Tensor, got "
                        f"{getattr(reset, 'dtype', type(reset).__name__)}")
    if unbatched:
        expected: tuple[int, ...] = (steps,)
    else:
        expected = (batch, steps) if batch_first else (steps, batch)
    if tuple(reset.shape) != expected:
        layout = " (T,)" if unbatched else " (B, T), as batch_first" if batch_first else \
            " (T, B)"
        raise ValueError(f"reset must have shape {expected}{layout}, got {tuple(reset.shape)}")
    _values_for(reset, "reset", device)
    if unbatched:
        reset = reset.unsqueeze(1)
    elif batch_first:
        reset = reset.t()
    return reset.to(device)  # (T, B)
