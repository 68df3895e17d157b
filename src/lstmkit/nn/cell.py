"""``LSTMCell``: one step, parameter-compatible with ``torch.nn.LSTMCell``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.nn import init as lstm_init
from lstmkit.nn.config import LSTMConfig
from lstmkit.nn.functional import CellWeights, input_projection, lstm_cell
from lstmkit.nn.inputs import check_dtype, check_like_weights
from lstmkit.nn.state import check_state


class LSTMCell(nn.Module):
    r"""One LSTM step, as ``torch.nn.LSTMCell``, with the cell variants of :class:`LSTM`.

    .. math::

        (h', c') = \mathrm{cell}(x, (h, c))

    with the equations of :mod:`lstmkit.nn.functional`. Parameters ``weight_ih`` (G*H, I),
    ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,) as ``nn.LSTMCell`` (a plain cell
    loads an ``nn.LSTMCell`` state dict and back); ``weight_peephole`` (3, H) (rows i, f, o;
    (2, H), rows i, o, with coupled gates) and ``ln_*`` with the variants.

    Call: ``h', c' = cell(input, hx=None)``; ``hx`` = (h, c), zeros if None.

    Shape: ``input`` (B, I) or (I,) unbatched; ``h``, ``c``, ``h'``, ``c'`` (B, H), or (H,)
    with an unbatched input. G is the number of gate blocks: 4, or 3 with coupled gates.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        peephole: bool = False,
        coupled_gates: bool = False,
        layer_norm: bool = False,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        self.config = LSTMConfig(input_size, hidden_size, bias=bias, peephole=peephole,
                                 coupled_gates=coupled_gates, layer_norm=layer_norm,
                                 forget_bias=forget_bias)
        check_dtype(dtype)
        factory = {"device": device, "dtype": dtype}
        for name, shape in self.config.parameter_shapes(self.config.input_size):
            self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    input_size = property(lambda self: self.config.input_size)
    hidden_size = property(lambda self: self.config.hidden_size)
    bias = property(lambda self: self.config.bias)

    def extra_repr(self) -> str:
        return self.config.repr_args()

    def reset_parameters(self) -> None:
        for name, param in self.named_parameters():
            if name.startswith("ln_"):
                (nn.init.ones_ if name.endswith("_weight") else nn.init.zeros_)(param)
            else:
                lstm_init.default_(param, self.config.hidden_size)
        if self.config.forget_bias is not None:
            lstm_init.forget_bias_(self.bias_ih, self.bias_hh, self.config.forget_bias,
                                   self.config.coupled_gates)

    def weights(self) -> CellWeights:
        def get(name: str) -> Tensor | None:
            return getattr(self, name, None)

        return CellWeights(*(get(name) for name in CellWeights._fields))  # type: ignore[arg-type]

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        cfg = self.config
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            raise ValueError(f"input must be a Tensor of shape (B, {cfg.input_size}) or "
                             f"({cfg.input_size},), got {getattr(input, 'shape', type(input))}")
        check_like_weights("input", input, self.weight_ih, "LSTMCell")
        if input.shape[-1] != cfg.input_size:
            raise ValueError(f"input must have {cfg.input_size} features (input_size), "
                             f"got {input.shape[-1]}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input  # (B, I)
        batch = x.shape[0]
        if hx is None:
            h = c = x.new_zeros(batch, cfg.hidden_size)
        else:
            shape = (cfg.hidden_size,) if unbatched else (batch, cfg.hidden_size)
            h, c = check_state(hx, shape, shape, x)
            if unbatched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        w = self.weights()
        h_new, c_new, _ = lstm_cell(input_projection(x, w, cfg.cell_options), h, c, w,
                                    cfg.cell_options)
        if unbatched:
            return h_new.squeeze(0), c_new.squeeze(0)
        return h_new, c_new
