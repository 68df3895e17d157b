"""The LSTM state (h, c): a named pair, a zero state and the checks a user's state must pass."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class LSTMState(NamedTuple):
    """``h`` (L*D, B, R) and ``c`` (L*D, B, H); the pair ``(h_n, c_n)`` an LSTM returns."""

    h: Tensor
    c: Tensor


def zero_state(
    num_states: int, batch: int, recurrent_size: int, hidden_size: int, like: Tensor
) -> LSTMState:
    """Zeros of ``like``'s dtype and device: h (num_states, B, R), c (num_states, B, H)."""
    h = torch.zeros(num_states, batch, recurrent_size, dtype=like.dtype, device=like.device)
    c = torch.zeros(num_states, batch, hidden_size, dtype=like.dtype, device=like.device)
    return LSTMState(h, c)


def check_state(hx: object, expected_h: tuple[int, ...], expected_c: tuple[int, ...],
                like: Tensor, name: str = "hx", note: str = "") -> LSTMState:
    """Validate a user's ``hx = (h_0, c_0)`` against the shapes, dtype and device expected;
    ``name`` is the argument's name in the messages (``state`` for :meth:`LSTM.step`), and
    ``note`` ends a wrong shape's message.

    Under autocast on ``like``'s device a floating-point state of another dtype is cast to
    ``like``'s, as ``nn.LSTM`` takes it there; outside autocast it is an error."""
    if not isinstance(hx, tuple | list) or len(hx) != 2:
        got = (f"a {type(hx).__name__} of {len(hx)}" if isinstance(hx, tuple | list)
               else type(hx).__name__)
        raise TypeError(f"{name} must be a tuple (h_0, c_0) of two tensors, got {got}")
    for part, value, shape in (("h_0", hx[0], expected_h), ("c_0", hx[1], expected_c)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} {part} must be a Tensor, got {type(value).__name__}")
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{name} {part} must have shape {shape}, got {tuple(value.shape)}{note}"
            )
        if value.dtype != like.dtype and not (
                value.is_floating_point() and torch.is_autocast_enabled(like.device.type)):
            raise TypeError(f"{name} {part} must have dtype {like.dtype} (the input's), "
                            f"got {value.dtype}")
        if value.device != like.device:
            raise ValueError(f"{name} {part} must be on device {like.device} (the input's), "
                             f"got {value.device}")
    return LSTMState(hx[0].to(like.dtype), hx[1].to(like.dtype))
