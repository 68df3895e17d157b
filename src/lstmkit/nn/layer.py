r"""``LSTM``: a drop-in for ``torch.nn.LSTM`` with the classic variants it lacks.

The cell's equations are in :mod:`lstmkit.nn.functional`; this module owns what is written once
for every variant: layers, directions, inter-layer dropout, the dropout-family masks, lengths,
resets, packed input, ``batch_first``, unbatched input, and the choice of backend. The checks
of a call's inputs are in :mod:`lstmkit.nn.inputs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstmkit.kernels.dispatch import BackendChoice, choose_backend, scan_function
from lstmkit.nn import init as lstm_init
from lstmkit.nn.config import LSTMConfig, shown
from lstmkit.nn.functional import (
    CellWeights,
    StepMasks,
    input_projection,
    keep_mask,
    lstm_cell,
)
from lstmkit.nn.inputs import check_dtype, check_like_weights, prepare_call
from lstmkit.nn.state import LSTMState, check_state, zero_state
from lstmkit.nn.trace import LSTMTrace

logger = logging.getLogger(__name__)

# trace() records the gates on the reference path, the only one that returns them
TRACE_CHOICE = BackendChoice("reference", "trace() records the gates on the reference path")


def _config_attribute(name: str, settable: bool = False) -> property:
    """An nn.LSTM attribute read from the config; the settable ones replace it (validated)."""

    def get(self: LSTM) -> object:
        return getattr(self.config, name)

    def set_(self: LSTM, value: object) -> None:
        if not settable:
            raise AttributeError(
                f"{name} cannot change once the LSTM is built (the parameters were made for "
                f"{name}={getattr(self.config, name)!r}); build a new LSTM, got "
                f"{shown(value)}")
        self.config = dataclasses.replace(self.config, **{name: value})

    return property(get, set_)


class LSTM(nn.Module):
    r"""A multi-layer LSTM, parameter- and call-compatible with ``torch.nn.LSTM``.

    Without keyword options it computes exactly what ``torch.nn.LSTM`` computes (and runs on
    the same fused op); its ``state_dict`` loads into an ``nn.LSTM`` and back. Each layer and
    direction computes, for every step t (see :mod:`lstmkit.nn.functional` for the variants):

    .. math::

        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)

    Args (as ``torch.nn.LSTM``): ``input_size`` I, ``hidden_size`` H, ``num_layers`` L,
    ``bias``, ``batch_first``, ``dropout`` (on each layer's output but the last, in training),
    ``bidirectional`` (D = 2), ``proj_size`` P (h_t = W_hr h_t, Sak et al. 2014). Checked
    before any tensor is made: ``num_layers`` at most 10,000 and fewer than 2**60 parameters
    in all (:data:`lstmkit.nn.config.MAX_LAYERS`, ``MAX_PARAMETERS``).

    Keyword-only options, each composable with the others, with layers, directions, lengths
    and resets:

    - ``peephole`` (Gers & Schmidhuber 2000): i and f see c_{t-1}, o sees c_t, through
      diagonal weights ``weight_peephole_l{k}`` of shape (3, H), rows i, f, o ((2, H), rows
      i, o, with coupled gates).
    - ``coupled_gates`` (CIFG, Greff et al. 2015): f_t = 1 - i_t; the f rows are dropped, so
      ``weight_ih_l{k}`` is (3H, I) in the order i, g, o (likewise ``weight_hh``, biases).
    - ``layer_norm`` (Ba et al. 2016): LN(W_ih x) + LN(W_hh h) + b, and h = o * tanh(LN(c));
      parameters ``ln_ih_weight_l{k}``, ``ln_ih_bias_l{k}``, ``ln_hh_*``, ``ln_c_*``.
    - ``zoneout`` z or (z_c, z_h) (Krueger et al. 2016): in training each unit of c (h) keeps
      its previous value with probability z_c (z_h); in evaluation, the expectation
      c_t = z_c c_{t-1} + (1 - z_c) c_t^{new}.
    - ``recurrent_dropout`` p (Gal & Ghahramani 2016): one dropout mask on h_{t-1}, sampled
      per sequence and fixed across time, in training.
    - ``weight_drop`` p (Merity et al. 2017, AWD-LSTM): DropConnect on ``weight_hh``, one mask
      per forward call, in training; the parameter itself is untouched.
    - ``forget_bias`` b (Jozefowicz et al. 2015): forget-gate bias set to b at init.
    - ``init="chrono"`` with ``chrono_max_len`` T_max (Tallec & Ollivier 2018):
      b_f = log(U(1, T_max - 1)), b_i = -b_f.
    - ``recurrent_init="orthogonal"``: each gate block of ``weight_hh`` orthogonal (Saxe et al.
      2014).
    - ``backend``: ``"auto"`` (default), ``"reference"``, ``"torch"`` or ``"fused"``; see
      :mod:`lstmkit.kernels.dispatch`. After a call, :attr:`last_backend` says which backend
      ran and why.

    Call: ``output, (h_n, c_n) = lstm(input, hx=None, lengths=None, reset=None)``.

    - ``input`` (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a
      ``PackedSequence`` (then ``output`` is packed too).
    - ``hx`` = (h_0 (L*D, B, R), c_0 (L*D, B, H)), zeros if None (no B dim when unbatched).
    - ``lengths`` (B,) ints in [1, T] (one int when unbatched): an alternative to packing.
      Output is zero past each sequence's end, ``h_n``/``c_n`` are the states at each
      sequence's own last step, and the reverse direction starts at each sequence's own end.
    - ``reset`` (T, B) bool ((B, T) with ``batch_first``): where true, the state is reset to
      h_0/c_0 before that step (episode or document boundaries within one stream), in every
      layer. The segments are independent in both directions: the reverse direction starts
      each segment from h_0/c_0 at that segment's last step. Flags on padded steps (past
      ``lengths``) are ignored; with a ``PackedSequence``, rows are in the original batch order
      and ``batch_first`` still says which of (T, B) or (B, T) ``reset`` is, as for a tensor.

    On the meta device (an LSTM and input made there, for shape inference or tracing) the
    call computes shapes only: ``lengths`` and ``reset`` on meta, which hold no values, have
    their dtype and shape checked and not their values (lengths that hold values, a list or
    a CPU tensor, are checked); with ``lengths`` the reference path runs (torch's op packs
    the batch by their values, so ``backend="torch"`` refuses them there), and a
    ``PackedSequence`` must be sorted (``enforce_sorted=True``) unless torch's op takes it
    (the plain LSTM). A meta ``lengths``, ``reset`` or state beside an input that holds data
    is an error naming it.

    Shape: ``output`` (T, B, D*R), ``h_n`` (L*D, B, R), ``c_n`` (L*D, B, H), where R = P with a
    projection, else H.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        peephole: bool = False,
        coupled_gates: bool = False,
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        forget_bias: float | None = None,
        init: str = "default",
        chrono_max_len: int | None = None,
        recurrent_init: str = "default",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.config = LSTMConfig(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size, peephole, coupled_gates, layer_norm, zoneout, recurrent_dropout,
            weight_drop, forget_bias, init, chrono_max_len, recurrent_init, backend,  # type: ignore[arg-type]
        )
        self.last_backend: BackendChoice | None = None
        cfg = self.config
        check_dtype(dtype)
        factory = {"device": device, "dtype": dtype}
        for layer in range(cfg.num_layers):
            layer_input = (cfg.input_size if layer == 0
                           else cfg.recurrent_size * cfg.num_directions)
            for direction in range(cfg.num_directions):
                sfx = self._suffix(layer, direction)
                for name, shape in cfg.parameter_shapes(layer_input):
                    self.register_parameter(name + sfx, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    # --- nn.LSTM's attributes, so code written for it keeps working -------------------------
    input_size = _config_attribute("input_size")
    hidden_size = _config_attribute("hidden_size")
    num_layers = _config_attribute("num_layers")
    bias = _config_attribute("bias")
    batch_first = _config_attribute("batch_first", settable=True)
    dropout = _config_attribute("dropout", settable=True)  # code written for nn.LSTM anneals it
    bidirectional = _config_attribute("bidirectional")
    proj_size = _config_attribute("proj_size")

    mode = "LSTM"  # nn.RNNBase's, which code handling any torch RNN reads

    @property
    def _flat_weights_names(self) -> list[str]:
        """Every parameter's name, layer-direction by layer-direction, in nn.LSTM's order."""
        return [name for names in self._all_weights for name in names]

    @property
    def _all_weights(self) -> list[list[str]]:
        """:attr:`_flat_weights_names` per (layer, direction), as nn.LSTM keeps them."""
        cfg = self.config
        return [[name + self._suffix(layer, direction)
                 for name, _ in cfg.parameter_shapes(cfg.input_size)]
                for layer, direction in self._layer_directions()]

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The tensors of :attr:`_flat_weights_names`, as nn.LSTM keeps them (a parametrized
        weight is its effective tensor)."""
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters of each (layer, direction), as ``nn.LSTM.all_weights`` lists them:
        weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr], then any variant's own."""
        return [[w for w in self.cell_weights(layer, direction) if w is not None]
                for layer, direction in self._layer_directions()]

    def flatten_parameters(self) -> None:
        """Does nothing: nn.LSTM compacts its weights for cuDNN here, and code written for it
        calls this (after DataParallel, say); the lstmkit backends need no compaction."""

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def reset_parameters(self) -> None:
        """Re-initialise every parameter as configured (see :mod:`lstmkit.nn.init`)."""
        cfg = self.config
        for name, param in self.named_parameters():
            if name.startswith(("ln_ih_weight", "ln_hh_weight", "ln_c_weight")):
                nn.init.ones_(param)
            elif name.startswith("ln_"):
                nn.init.zeros_(param)
            else:
                lstm_init.default_(param, cfg.hidden_size)
        for layer in range(cfg.num_layers):
            for direction in range(cfg.num_directions):
                sfx = self._suffix(layer, direction)
                if cfg.recurrent_init == "orthogonal":
                    with self._initialised("weight_hh" + sfx) as (weight_hh,):
                        lstm_init.orthogonal_recurrent_(weight_hh, cfg.num_gates)
                if cfg.forget_bias is not None:
                    with self._initialised("bias_ih" + sfx, "bias_hh" + sfx) as biases:
                        lstm_init.forget_bias_(*biases, cfg.forget_bias, cfg.coupled_gates)
                if cfg.init == "chrono":
                    with self._initialised("bias_ih" + sfx, "bias_hh" + sfx) as biases:
                        lstm_init.chrono_(*biases, cfg.chrono_max_len,  # type: ignore[arg-type]
                                          cfg.coupled_gates)

    @contextlib.contextmanager
    def _initialised(self, *names: str) -> Iterator[list[Tensor | None]]:
        """The tensors ``names`` (None where absent) to initialise in place. A parametrized
        one (``weight_norm``, say) is a computed copy, written back through its
        parametrization's ``right_inverse`` after, not a write into a copy thrown away."""
        values = [getattr(self, name, None) for name in names]
        parametrized = [parametrize.is_parametrized(self, name) for name in names]
        values = [v.detach().clone() if p and v is not None else v
                  for v, p in zip(values, parametrized, strict=True)]
        yield values
        with torch.no_grad():
            for name, value, p in zip(names, values, parametrized, strict=True):
                if not p:
                    continue
                try:
                    setattr(self, name, value)
                except (RuntimeError, NotImplementedError) as err:
                    kinds = [type(m).__name__ for m in self.parametrizations[name]
                             if not hasattr(m, "right_inverse")]
                    if not kinds:  # (one that has it and refused the value says why)
                        raise
                    raise RuntimeError(
                        f"reset_parameters cannot set {name}'s initial value (the "
                        f"configuration's recurrent_init, forget_bias or chrono init): its "
                        f"parametrization {kinds} has no right_inverse to write it through; "
                        "add one, or register the parametrization after initialising") from err

    def cell_weights(self, layer: int, direction: int,
                     weight_hh: Tensor | None = None) -> CellWeights:
        """The parameters of one layer-direction; ``weight_hh`` overrides (weight drop)."""
        sfx = self._suffix(layer, direction)

        def get(name: str) -> Tensor | None:
            return getattr(self, name + sfx, None)

        return CellWeights(
            get("weight_ih"), get("weight_hh") if weight_hh is None else weight_hh,
            get("bias_ih"), get("bias_hh"), get("weight_hr"), get("weight_peephole"),
            get("ln_ih_weight"), get("ln_ih_bias"), get("ln_hh_weight"), get("ln_hh_bias"),
            get("ln_c_weight"), get("ln_c_bias"),
        )  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        return self.config.repr_args()

    # --- the call ----------------------------------------------------------------------------
    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
        reset: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        fx = _fx_proxy(input, hx, lengths, reset)
        if fx is not None:
            # torch.fx.symbolic_trace: one call_module node, as FX records an nn.LSTM (its
            # tracer keeps torch.nn's modules whole), not a trace through this Python
            name = fx.tracer.path_of_module(self)
            if not name:
                raise TypeError("torch.fx.symbolic_trace of an lstmkit.LSTM by itself: FX "
                                "records it as one call in a model that holds it (as it records "
                                "nn.LSTM, which cannot be the traced root either); trace that "
                                "model")
            return fx.tracer.create_proxy(  # type: ignore[return-value]
                "call_module", name, (input, hx), {"lengths": lengths, "reset": reset})
        packed = input if isinstance(input, PackedSequence) else None
        data = packed.data if packed is not None else input
        if isinstance(data, Tensor):  # (anything else is prepare_call's error)
            wide = self._kernel_dtype(data, has_reset=reset is not None,
                                      has_lengths=packed is not None or lengths is not None)
            if wide is not None:  # (before the state is checked: it is cast to the input's)
                input = input.to(wide)
                packed = input if packed is not None else None
        choice = None if packed is None else choose_backend(
            self.config, has_reset=reset is not None, has_lengths=True,
            device=packed.data.device, dtype=packed.data.dtype, packed=True)
        # torch's op takes a packed batch itself, as nn.LSTM calls it (so that an ONNX export
        # pairs the caller's packing with their unpacking around it)
        on_packed = choice is not None and choice.name == "torch"
        if packed is not None and not on_packed and torch.onnx.is_in_onnx_export():
            raise ValueError(
                "an ONNX export can take a PackedSequence only into torch's LSTM op (a plain "
                f"LSTM on backend 'auto' or 'torch'); this one runs on the {choice.name} path "
                f"({choice.reason}); pass the padded tensor with lengths= instead")
        x, h0, c0, lengths_t, reset_t, unbatched = prepare_call(
            self.config, input, hx, lengths, reset, self.weight_ih_l0, pad=not on_packed)
        if choice is None:
            choice = choose_backend(self.config, has_reset=reset_t is not None,
                                    has_lengths=lengths_t is not None, device=x.device,
                                    dtype=x.dtype)
        if choice != self.last_backend and not torch.compiler.is_compiling():
            # (dynamo cannot trace a logging call: it would break the graph)
            logger.debug("lstmkit.LSTM backend: %s (%s)", choice.name, choice.reason)
        self.last_backend = choice
        if on_packed:
            out, h_n, c_n = self._run_torch(packed, h0, c0)
            return out, (h_n, c_n)
        if choice.name == "torch":
            output, h_n, c_n = self._run_torch(x, h0, c0, lengths_t)
        else:
            output, h_n, c_n, _ = self._run_stack(x, h0, c0, lengths_t, reset_t, choice)
        return self._finish(output, h_n, c_n, packed, lengths_t, unbatched)

    def trace(
        self,
        x: Tensor,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
        reset: Tensor | None = None,
    ) -> LSTMTrace:
        """Run the reference path and record every step's gates and states.

        Returns an :class:`~lstmkit.nn.trace.LSTMTrace` whose fields ``i, f, g, o, c`` are
        (L*D, T, B, H) and ``h`` is (L*D, T, B, R), in the input's time order for both
        directions, zero on padding (B = 1 for unbatched input). Runs without autograd, in the
        module's current mode (call ``eval()`` first to trace inference).
        """
        if isinstance(x, PackedSequence):
            raise TypeError("trace takes a padded Tensor (with lengths=), got a PackedSequence")
        x, hx = self._pre_hooks(x, hx)
        x_t, h0, c0, lengths_t, reset_t, _ = prepare_call(self.config, x, hx, lengths, reset,
                                                          self.weight_ih_l0)
        with torch.no_grad():
            *_, records = self._run_stack(x_t, h0, c0, lengths_t, reset_t, TRACE_CHOICE,
                                          trace=True)
        # (the lengths on the CPU, for the plots; a meta input's stay on meta, as its records)
        keep = lengths_t is None or lengths_t.device.type == "meta"
        return LSTMTrace(**{k: torch.stack(v) for k, v in records.items()},
                         lengths=lengths_t if keep else lengths_t.cpu())

    def step(self, x_t: Tensor, state: LSTMState | tuple[Tensor, Tensor] | None = None
             ) -> tuple[Tensor, LSTMState]:
        """Advance a unidirectional stack by one time step, for streaming inference.

        ``x_t`` (B, I) or (I,), ``state`` (h (L, B, R), c (L, B, H)) or None for zeros.
        Returns the top layer's output (B, R) and the new state. Evaluation semantics: no
        dropout of any kind, zoneout as its expectation. Under ``torch.no_grad()`` or
        ``torch.inference_mode()`` on CPU it runs the whole stack in one call into the fused kernel
        (:func:`lstmkit.kernels.step.lstm_step_stack`); with autograd on, or ``backend="reference"``
        or ``"torch"``, it runs the reference cell, which is differentiable.
        """
        cfg = self.config
        if self._forward_pre_hooks:
            x_t, state = self._pre_hooks(x_t, state)
        if cfg.bidirectional:
            raise ValueError("step needs a unidirectional LSTM (the reverse direction needs the "
                             "whole sequence), got bidirectional=True")
        if not isinstance(x_t, Tensor) or x_t.dim() not in (1, 2):
            raise ValueError(f"x_t must be a Tensor of shape (B, {cfg.input_size}) or "
                             f"({cfg.input_size},), got {getattr(x_t, 'shape', type(x_t))}")
        unbatched = x_t.dim() == 1
        x = x_t.unsqueeze(0) if unbatched else x_t  # (B, I)
        check_like_weights("x_t", x, self.weight_ih_l0)
        wide = self._kernel_dtype(x, step=True)
        if wide is not None:  # (as forward casts it)
            x = x.to(wide)
        if x.shape[-1] != cfg.input_size:
            raise ValueError(f"x_t must have {cfg.input_size} features (input_size), "
                             f"got {x.shape[-1]}")
        batch = x.shape[0]
        if state is None:
            h0, c0 = zero_state(cfg.num_layers, batch, cfg.recurrent_size, cfg.hidden_size, x)
        else:
            batch_dim = () if unbatched else (batch,)
            h0, c0 = check_state(state, (cfg.num_layers, *batch_dim, cfg.recurrent_size),
                                 (cfg.num_layers, *batch_dim, cfg.hidden_size), x, name="state")
            if unbatched:
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        z_c, z_h = cfg.zoneout
        if self._fused_step_serves(x):
            from lstmkit.kernels.step import lstm_step_stack

            params = self._parameters  # not cell_weights: getattr on a Module costs per call
            names = [name + self._suffix(layer, 0) for layer in range(cfg.num_layers)
                     for name in CellWeights._fields]
            weights = [params.get(name) for name in names]
            if parametrize.is_parametrized(self) or any(
                    w is None and name in self.__dict__ for name, w in zip(names, weights,
                                                                           strict=True)):
                # parametrized, or pruned (any weight is then a plain attribute): forward's
                weights = [w for layer in range(cfg.num_layers)
                           for w in self.cell_weights(layer, 0)]
            y, h_new, c_new = lstm_step_stack(x, h0, c0, weights, cfg.cell_options, (z_c, z_h))
            if unbatched:
                return y.squeeze(0), LSTMState(h_new.squeeze(1), c_new.squeeze(1))
            return y, LSTMState(h_new, c_new)
        hs, cs = [], []
        layer_input = x
        for layer in range(cfg.num_layers):
            w = self.cell_weights(layer, 0)
            x_proj = input_projection(layer_input, w, cfg.cell_options)
            h, c, _ = lstm_cell(x_proj, h0[layer], c0[layer], w, cfg.cell_options)
            if z_c > 0:
                c = torch.lerp(c, c0[layer].to(c.dtype), z_c)  # one dtype under autocast
            if z_h > 0:
                h = torch.lerp(h, h0[layer].to(h.dtype), z_h)
            hs.append(h)
            cs.append(c)
            layer_input = h
        new_state = LSTMState(torch.stack(hs), torch.stack(cs))
        if unbatched:
            return layer_input.squeeze(0), LSTMState(new_state.h.squeeze(1), new_state.c.squeeze(1))
        return layer_input, new_state

    # --- internals ---------------------------------------------------------------------------
    def _pre_hooks(self, x: Any, hx: Any) -> tuple[Any, Any]:
        """The module's forward pre-hooks run on ``(x, hx)`` as a call runs them, for
        :meth:`trace` and :meth:`step`, which are not calls: pruning and the old
        ``weight_norm`` recompute their weights in one."""
        args = (x, hx)
        for key, hook in self._forward_pre_hooks.items():
            if key in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, {})
                args = args if result is None else result[0]
            else:
                result = hook(self, args)
                args = args if result is None else (
                    result if isinstance(result, tuple) else (result,))
        return args[0], args[1] if len(args) > 1 else None

    def _kernel_dtype(self, x: Tensor, *, has_reset: bool = False, has_lengths: bool = False,
                      step: bool = False) -> torch.dtype | None:
        """Under autocast, the parameters' dtype (float32 or float64) when ``x`` has another
        (half precision: the output of a layer autocast ran in it) and the fused kernel would
        run this call in theirs: the call casts ``x`` and the state to it, as for an input of
        their dtype, rather than run the reference loop or torch's packed op. None otherwise
        (no autocast, the same dtype, or no fused kernel for this call)."""
        # (the fused kernel is CPU-only; and torch has no autocast for some devices: meta)
        if (x.device.type != "cpu" or not torch.is_autocast_enabled("cpu")
                or not x.is_floating_point()):
            return None  # (the usual call: no parameter is read)
        wide = self.weight_ih_l0.dtype
        if x.dtype == wide or wide not in (torch.float32, torch.float64):
            return None
        if step:
            return wide if self._fused_step_serves(x, wide) else None
        return wide if choose_backend(self.config, has_reset=has_reset,
                                      has_lengths=has_lengths, device=x.device,
                                      dtype=wide).name == "fused" else None

    def _fused_step_serves(self, x: Tensor, dtype: torch.dtype | None = None) -> bool:
        """Whether step runs on the fused kernel: inference (no autograd) on CPU, kernel built;
        ``x`` in ``dtype`` (default: its own)."""
        if self.config.backend in ("reference", "torch") or torch.is_grad_enabled():
            return False
        from lstmkit.kernels.dispatch import FUSED_DTYPES, fused_available

        return (x.device.type == "cpu" and (dtype or x.dtype) in FUSED_DTYPES
                and fused_available())

    def _dropped_weights_hh(self) -> list[Tensor | None]:
        """Weight drop: one DropConnect mask per layer-direction for this forward call."""
        cfg = self.config
        drop = cfg.weight_drop > 0 and self.training
        return [
            F.dropout(getattr(self, "weight_hh" + self._suffix(layer, d)), cfg.weight_drop)
            if drop else None
            for layer in range(cfg.num_layers) for d in range(cfg.num_directions)
        ]

    def _run_torch(self, x, h0, c0, lengths=None):
        """torch's op on the padded ``x`` (with ``lengths``) or on a PackedSequence ``x``."""
        from lstmkit.kernels import torch_fused

        cfg = self.config
        dropped = self._dropped_weights_hh()
        flat: list[Tensor] = []
        for idx, (layer, d) in enumerate(self._layer_directions()):
            w = self.cell_weights(layer, d, dropped[idx])
            flat += [t for t in (w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, w.weight_hr)
                     if t is not None]
        options = torch_fused.StackOptions(cfg.bias, cfg.num_layers, cfg.dropout,
                                           self.training, cfg.bidirectional)
        if isinstance(x, PackedSequence):
            return torch_fused.run_packed(x, h0, c0, flat, options)
        return torch_fused.run_stack(x, h0, c0, flat, options, lengths)

    def _layer_directions(self) -> list[tuple[int, int]]:
        return [(layer, d) for layer in range(self.config.num_layers)
                for d in range(self.config.num_directions)]

    def _masks(self, steps: int, batch: int, like: Tensor, valid: Tensor | None,
               reset: Tensor | None, fused: bool) -> StepMasks:
        """Sample the recurrent dropout and zoneout masks of one layer-direction (``fused``:
        with the fused kernel's sampler, loaded by then)."""
        cfg = self.config
        z_c, z_h = cfg.zoneout
        p = cfg.recurrent_dropout
        h_dropout = None
        if p > 0 and self.training:
            h_dropout = like.new_empty(batch, cfg.recurrent_size).bernoulli_(1 - p) / (1 - p)

        def zoneout(z: float, width: int) -> Tensor | None:
            if z == 0:
                return None
            if self.training:  # 1 keeps the previous value, with probability z
                seed = torch.randint(1 << 62, (), device=like.device)  # from torch's generator
                # the same masks either way; the kernel's sampler is parallel and ~10x faster
                sample = torch.ops.lstmkit.keep_mask if fused else keep_mask
                return sample(seed, (steps, batch, width), z, like.dtype)
            return like.new_full((1, 1, 1), z).expand(steps, batch, width)

        return StepMasks(valid, reset, h_dropout, zoneout(z_c, cfg.hidden_size),
                         zoneout(z_h, cfg.recurrent_size))

    def _run_stack(self, x, h0, c0, lengths, reset, choice: BackendChoice, trace: bool = False):
        """Layers and directions around the per-layer-direction scan of ``choice`` (reference
        or fused)."""
        cfg = self.config
        scan = scan_function(choice)
        steps, batch = x.shape[0], x.shape[1]
        valid = None
        reverse_index = None
        if lengths is not None:
            time = torch.arange(steps, device=x.device).unsqueeze(1)  # (T, 1)
            valid = time < lengths.unsqueeze(0)  # (T, B)
            # zero the padding: the scans read it (a NaN there reached every weight gradient
            # through 0 * NaN), where a packed batch never holds it
            x = x.masked_fill(~valid.unsqueeze(-1), 0)
            # position t of sequence b, read backwards within its own length; padding stays put
            reverse_index = torch.where(valid, lengths.unsqueeze(0) - 1 - time, time)  # (T, B)
        reverse_reset = None
        if reset is not None and cfg.bidirectional:
            # a reset before step t is, read backwards, a reset before step t - 1
            # (a roll, not a slice: an export keeps the number of steps symbolic, even 1)
            last = torch.arange(steps, device=reset.device).unsqueeze(1) == steps - 1  # (T, 1)
            reverse_reset = reset.roll(-1, 0) & ~last

        def reverse(seq: Tensor) -> Tensor:
            if reverse_index is None:
                return seq.flip(0)
            index = reverse_index.unsqueeze(-1).expand(-1, -1, seq.shape[-1])  # (T, B, F)
            return seq.gather(0, index)

        dropped = self._dropped_weights_hh()
        h_n, c_n = [], []
        records: dict[str, list[Tensor]] = {k: [] for k in ("i", "f", "g", "o", "c", "h")}
        layer_input = x
        for idx, (layer, d) in enumerate(self._layer_directions()):
            if d == 0:
                outputs = []
            step_reset = reset if d == 0 else (
                None if reverse_reset is None else reverse(reverse_reset.unsqueeze(-1)).squeeze(-1))
            masks = self._masks(steps, batch, x, valid, step_reset, fused=choice.name == "fused")
            w = self.cell_weights(layer, d, dropped[idx])
            seq = layer_input if d == 0 else reverse(layer_input)
            extra = {"trace": True} if trace else {}  # fast kernels do not trace
            result = scan(seq, h0[idx], c0[idx], w, cfg.cell_options, masks, **extra)
            outputs.append(result.output if d == 0 else reverse(result.output))
            h_n.append(result.h_n)
            c_n.append(result.c_n)
            if trace:
                for name, value in result.trace.items():
                    records[name].append(value if d == 0 else reverse(value))
            if d == cfg.num_directions - 1:
                layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
                if cfg.dropout > 0 and self.training and layer < cfg.num_layers - 1:
                    layer_input = F.dropout(layer_input, cfg.dropout, training=True)
        return layer_input, torch.stack(h_n), torch.stack(c_n), records

    def _finish(self, output, h_n, c_n, packed: PackedSequence | None, lengths: Tensor | None,
                unbatched: bool):
        if packed is not None:
            # back to the input's packing, rows sorted by length as batch_sizes expects; by
            # torch's packing op, so that a jit trace or an ONNX export records the packing
            # as an op on the lengths, not as the traced call's lengths
            if packed.sorted_indices is not None:
                output = output.index_select(1, packed.sorted_indices)  # (T, B, D*R)
            if lengths.device.type == "meta":
                # (a meta input's hold no values: the packing's own, sorted, read from its
                # batch sizes, which are on the CPU)
                sizes = packed.batch_sizes
                lengths = (sizes[None, :] > torch.arange(int(sizes[0]))[:, None]).sum(1)
            elif packed.sorted_indices is not None:
                lengths = lengths.index_select(0, packed.sorted_indices)
            data = pack_padded_sequence(output, lengths.cpu()).data
            out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                 packed.unsorted_indices)
            return out, (h_n, c_n)
        if unbatched:
            return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.config.batch_first:
            output = output.transpose(0, 1)  # (T, B, ·) -> (B, T, ·)
        return output, (h_n, c_n)


def _fx_proxy(*args: object) -> torch.fx.Proxy | None:
    """The first torch.fx Proxy among ``args`` (a state's tuple searched too), or None."""
    for a in args:
        for item in a if isinstance(a, tuple) else (a,):
            if isinstance(item, torch.fx.Proxy):
                return item
    return None
