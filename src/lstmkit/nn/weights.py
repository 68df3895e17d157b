"""Gate order and weight layouts, and converters to and from other frameworks' LSTMs.

=============  =================================  ==========  ==========================
framework      weights                            gate order  biases
=============  =================================  ==========  ==========================
lstmkit/torch  weight_ih (4H, I), weight_hh (4H,   i f g o     bias_ih + bias_hh (4H each)
               R), weight_hr (P, H)
Keras          kernel (I, 4H), recurrent_kernel   i f c o     one bias (4H)
               (H, 4H)
ONNX ``LSTM``  W (D, 4H, I), R (D, 4H, H)          i o f c     B (D, 8H) = [Wb, Rb];
                                                              P (D, 3H) peepholes i o f
=============  =================================  ==========  ==========================

(g and c name the same candidate gate.) A plain :class:`~lstmkit.nn.LSTM` has exactly
``torch.nn.LSTM``'s parameters, so :func:`to_torch` and :func:`from_torch` copy state dicts.
Keras and ONNX hold one layer per object: their converters take a ``layer`` of a stack.
Keras has one bias, so importing puts it in ``bias_ih`` and zeros ``bias_hh`` (same sum, same
outputs); exporting sums the two.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from lstmkit.nn.config import index_in
from lstmkit.nn.layer import LSTM

TORCH_GATES = "ifgo"
KERAS_GATES = "ifgo"  # Keras calls g "c": i, f, c, o
ONNX_GATES = "iofg"  # ONNX calls g "c": i, o, f, c
ONNX_FROM_TORCH = [TORCH_GATES.index(gate) for gate in ONNX_GATES]  # [0, 3, 1, 2]
ONNX_PEEPHOLE_FROM_LSTMKIT = [0, 2, 1]  # lstmkit rows i, f, o -> ONNX i, o, f


def _reorder_gates(tensor: Tensor, order: list[int]) -> Tensor:
    """Permute the gate blocks along dim 0: ``tensor`` (4H, ...) in ``order``."""
    return torch.cat([tensor.chunk(4, dim=0)[k] for k in order], dim=0)


def _inverse(order: list[int]) -> list[int]:
    return [order.index(k) for k in range(len(order))]


def _require(lstm: LSTM, target: str, *, peephole_ok: bool = False,
             projection_ok: bool = False, exporting: bool = False) -> None:
    """Refuse what ``target`` cannot hold; when ``exporting``, also zoneout (the exported
    layer would compute other outputs) and warn of the regularisers that act in training."""
    cfg = lstm.config
    blockers = []
    if cfg.peephole and not peephole_ok:
        blockers.append("peephole=True")
    if cfg.coupled_gates:
        blockers.append("coupled_gates=True")
    if cfg.layer_norm:
        blockers.append("layer_norm=True")
    if cfg.proj_size and not projection_ok:
        blockers.append(f"proj_size={cfg.proj_size}")
    if exporting and any(cfg.zoneout):
        # evaluation keeps the expectation of zoneout's blend with the previous state
        blockers.append(f"zoneout={cfg.zoneout}")
    if blockers:
        raise ValueError(f"{target} has no parameters for {', '.join(blockers)}: "
                         "export a configuration without them")
    training_only = [f"{name}={getattr(cfg, name)}" for name in ("recurrent_dropout",
                                                                 "weight_drop")
                     if getattr(cfg, name) > 0]
    if exporting and training_only:
        warnings.warn(f"{target} has no {' or '.join(training_only)}: the weights are exported "
                      "(evaluation outputs are the same), but training the export would go "
                      "without them", UserWarning, stacklevel=3)


def _check_lstm(lstm: object, who: str) -> None:
    """A TypeError unless ``lstm`` is an :class:`LSTM` (a ``torch.nn.LSTM`` gets a hint)."""
    if not isinstance(lstm, LSTM):
        hint = (" (convert a torch.nn.LSTM with lstmkit.nn.from_torch(module) first)"
                if isinstance(lstm, nn.LSTM) else "")
        raise TypeError(f"{who}: lstm must be a lstmkit.nn.LSTM, got "
                        f"{type(lstm).__name__}{hint}")


def _check_layer(lstm: LSTM, layer: object, direction: object = 0) -> tuple[int, int]:
    """``layer`` and ``direction`` as ints (see :func:`index_in`)."""
    return (index_in("layer", layer, lstm.config.num_layers),
            index_in("direction", direction, lstm.config.num_directions,
                     f" (bidirectional={lstm.config.bidirectional})"))


def _loaded_array(value: object, name: str) -> Tensor:
    """``value`` (an array of real numbers) as a tensor, or an error naming ``name``: a
    bool, complex, str or object array, or a NaN or infinite entry, would load nonsense."""
    if isinstance(value, Tensor):  # (NumPy has no bfloat16)
        value = value.detach().cpu()
        array = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    elif value is None or isinstance(value, str | bytes | Mapping):
        raise TypeError(f"{name} must be an array of real numbers, got "
                        f"{type(value).__name__}")
    else:
        array = value  # (an ndarray, a list, or an array-like: a Keras or jax array)
    try:
        array = np.asarray(array)
    except ValueError as error:  # (ragged nested lists)
        raise ValueError(f"{name} must be an array of real numbers, got {error}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers, got "
                         f"{int((~np.isfinite(array)).sum())} NaN or infinite entries")
    return torch.as_tensor(array)


# --- torch.nn.LSTM ---------------------------------------------------------------------------
def to_torch(lstm: LSTM) -> nn.LSTM:
    """An ``nn.LSTM`` with the same weights (plain configurations, projection included); a
    parametrized or pruned weight is exported as its effective tensor."""
    _check_lstm(lstm, "to_torch")
    _require(lstm, "torch.nn.LSTM", projection_ok=True, exporting=True)
    cfg = lstm.config
    weight = next(lstm.parameters())
    module = nn.LSTM(cfg.input_size, cfg.hidden_size, cfg.num_layers, cfg.bias, cfg.batch_first,
                     cfg.dropout, cfg.bidirectional, cfg.proj_size, device=weight.device,
                     dtype=weight.dtype)
    with torch.no_grad():
        module.load_state_dict(dict(zip(lstm._flat_weights_names, lstm._flat_weights,
                                        strict=True)))
    return module


def from_torch(module: nn.LSTM, **options: object) -> LSTM:
    """An :class:`LSTM` with ``module``'s weights; ``options`` add variants (keyword options).

    Variants that add parameters (peephole, layer norm) keep those at their initial values
    (zero peepholes would be the exact ``nn.LSTM``; the defaults are PyTorch's uniform init).
    ``coupled_gates`` changes the weight shapes and cannot be loaded from an ``nn.LSTM``;
    ``forget_bias``, ``init='chrono'`` and ``recurrent_init='orthogonal'`` are refused: they
    initialise weights that ``module``'s then replace.
    """
    if not isinstance(module, nn.LSTM):
        raise TypeError(f"module must be a torch.nn.LSTM, got {type(module).__name__}")
    if options.get("coupled_gates"):
        raise ValueError("coupled_gates=True has (3H, I) weights and cannot load an nn.LSTM's "
                         "(4H, I) weights")
    weight = module.weight_ih_l0
    lstm = LSTM(module.input_size, module.hidden_size, module.num_layers, module.bias,
                module.batch_first, module.dropout, module.bidirectional, module.proj_size,
                device=weight.device, dtype=weight.dtype, **options)  # type: ignore[arg-type]
    # (checked once the LSTM has checked the values)
    overwritten = {k: options[k] for k, set_ in (
        ("forget_bias", lstm.config.forget_bias is not None),
        ("init", lstm.config.init != "default"),
        ("recurrent_init", lstm.config.recurrent_init != "default")) if set_}
    if overwritten:
        given = ", ".join(f"{k}={v!r}" for k, v in overwritten.items())
        raise ValueError(f"{given} initialise{'s' if len(overwritten) == 1 else ''} the "
                         "weights and biases that from_torch then replaces with module's, "
                         "so it would change nothing; leave it out (an LSTM built with it "
                         "and trained from scratch is another model)")
    _, unexpected = lstm.load_state_dict(module.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"module has parameters lstmkit.LSTM does not: {unexpected}")
    return lstm


LOADED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peephole")
"""The tensors :func:`load_keras_` and :func:`load_onnx_` write, of each layer-direction."""


def _check_loadable(lstm: LSTM, layer: int, directions: range, who: str) -> None:
    """Refuse, before any is written, a tensor of :data:`LOADED` in ``directions`` of
    ``layer`` that a load cannot write: a pruned one (its mask would rebuild it from the
    values before the load at the next call), or a parametrized one whose parametrization has
    no ``right_inverse`` to write the value through."""
    full = [name + lstm._suffix(layer, d) for d in directions for name in LOADED
            if getattr(lstm, name + lstm._suffix(layer, d), None) is not None]
    pruned = [n for n in full if hasattr(lstm, n + "_orig") and hasattr(lstm, n + "_mask")]
    if pruned:
        raise ValueError(f"{who}: lstm's {', '.join(pruned)} "
                         f"{'is' if len(pruned) == 1 else 'are'} pruned "
                         "(torch.nn.utils.prune): the mask rebuilds the weight from its "
                         "values before the load at the next call; load the weights before "
                         "pruning, or call torch.nn.utils.prune.remove(lstm, name) first")
    hooked = [n for n in full if (hasattr(lstm, n + "_g") and hasattr(lstm, n + "_v"))
              or hasattr(lstm, n + "_orig")]
    if hooked:  # (a hook computes the weight from _g and _v, or _orig, before each call)
        raise ValueError(f"{who}: lstm's {', '.join(hooked)} "
                         f"{'is' if len(hooked) == 1 else 'are'} rebuilt before each call by "
                         "a hook (torch.nn.utils.weight_norm's or spectral_norm's) from "
                         "tensors of its own, so a load would be lost; load before applying "
                         "it, or use torch.nn.utils.parametrizations' weight_norm or "
                         "spectral_norm, which a load writes through")
    for name in full:
        if parametrize.is_parametrized(lstm, name):
            kinds = [type(m).__name__ for m in lstm.parametrizations[name]
                     if not hasattr(m, "right_inverse")]
            if kinds:
                raise ValueError(f"{who} cannot write lstm's {name}: its parametrization "
                                 f"{kinds} has no right_inverse to write the value through; "
                                 "add one, or load before registering the parametrization")


@contextlib.contextmanager
def _writable(lstm: LSTM, layer: int, direction: int) -> Iterator[list[Tensor | None]]:
    """The tensors of :data:`LOADED` of one layer-direction (None where absent), to write
    loaded values into (under ``no_grad``; :func:`_check_loadable` first): a parametrized one
    (``weight_norm``, say) is written back through its parametrization after, as
    ``reset_parameters`` does, not into a computed copy thrown away."""
    full = [name + lstm._suffix(layer, direction) for name in LOADED]
    with torch.no_grad(), lstm._initialised(*full) as values:
        yield values


# --- Keras -----------------------------------------------------------------------------------
def to_keras(lstm: LSTM, layer: int = 0, direction: int = 0) -> dict[str, np.ndarray]:
    """Keras ``LSTM`` weights of one layer-direction: ``kernel`` (I, 4H),
    ``recurrent_kernel`` (H, 4H), ``bias`` (4H,), in ``layer.set_weights`` order."""
    _check_lstm(lstm, "to_keras")
    _require(lstm, "Keras' LSTM", exporting=True)
    layer, direction = _check_layer(lstm, layer, direction)
    w = lstm.cell_weights(layer, direction)
    with torch.no_grad():
        bias = (w.bias_ih + w.bias_hh) if w.bias_ih is not None else None
        out = {"kernel": w.weight_ih.t().cpu().numpy().copy(),
               "recurrent_kernel": w.weight_hh.t().cpu().numpy().copy()}
        if bias is not None:
            out["bias"] = bias.cpu().numpy().copy()
    return out


def load_keras_(lstm: LSTM, weights: dict[str, np.ndarray], layer: int = 0,
                direction: int = 0) -> None:
    """Copy Keras weights (see :func:`to_keras`) into one layer-direction of ``lstm``."""
    _check_lstm(lstm, "load_keras_")
    _require(lstm, "Keras' LSTM")
    layer, direction = _check_layer(lstm, layer, direction)
    w = lstm.cell_weights(layer, direction)
    expected = {"kernel": tuple(w.weight_ih.t().shape),
                "recurrent_kernel": tuple(w.weight_hh.t().shape)}
    if w.bias_ih is not None:
        expected["bias"] = tuple(w.bias_ih.shape)
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a dict of arrays with keys {sorted(expected)}, got "
                        f"{type(weights).__name__}")
    if set(weights) != set(expected):
        raise ValueError(f"weights must have keys {sorted(expected)}, got {sorted(weights)}")
    arrays = {key: _loaded_array(weights[key], f"weights[{key!r}]") for key in expected}
    for key, shape in expected.items():
        if tuple(arrays[key].shape) != shape:
            raise ValueError(f"weights[{key!r}] must have shape {shape}, "
                             f"got {tuple(arrays[key].shape)}")
    _check_loadable(lstm, layer, range(direction, direction + 1), "load_keras_")
    with _writable(lstm, layer, direction) as (weight_ih, weight_hh, bias_ih, bias_hh, _):
        weight_ih.copy_(arrays["kernel"].t())
        weight_hh.copy_(arrays["recurrent_kernel"].t())
        if bias_ih is not None:
            bias_ih.copy_(arrays["bias"])
            bias_hh.zero_()


# --- ONNX ------------------------------------------------------------------------------------
def to_onnx(lstm: LSTM, layer: int = 0) -> dict[str, np.ndarray]:
    """Inputs of the ONNX ``LSTM`` operator for one layer (both directions):
    ``W`` (D, 4H, I), ``R`` (D, 4H, H), ``B`` (D, 8H) and, with peepholes, ``P`` (D, 3H)."""
    _check_lstm(lstm, "to_onnx")
    _require(lstm, "the ONNX LSTM operator", peephole_ok=True, exporting=True)
    layer, _ = _check_layer(lstm, layer)
    arrays: dict[str, list[Tensor]] = {"W": [], "R": [], "B": [], "P": []}
    with torch.no_grad():
        for direction in range(lstm.config.num_directions):
            w = lstm.cell_weights(layer, direction)
            arrays["W"].append(_reorder_gates(w.weight_ih, ONNX_FROM_TORCH))
            arrays["R"].append(_reorder_gates(w.weight_hh, ONNX_FROM_TORCH))
            if w.bias_ih is not None:
                arrays["B"].append(torch.cat([_reorder_gates(w.bias_ih, ONNX_FROM_TORCH),
                                              _reorder_gates(w.bias_hh, ONNX_FROM_TORCH)]))
            if w.weight_peephole is not None:
                arrays["P"].append(w.weight_peephole[ONNX_PEEPHOLE_FROM_LSTMKIT].reshape(-1))
    return {k: torch.stack(v).cpu().numpy().copy() for k, v in arrays.items() if v}


def load_onnx_(lstm: LSTM, W: np.ndarray, R: np.ndarray, B: np.ndarray | None = None,
               P: np.ndarray | None = None, layer: int = 0) -> None:
    """Copy ONNX ``LSTM`` operator inputs (see :func:`to_onnx`) into one layer of ``lstm``."""
    _check_lstm(lstm, "load_onnx_")
    _require(lstm, "the ONNX LSTM operator", peephole_ok=True)
    layer, _ = _check_layer(lstm, layer)
    cfg = lstm.config
    if (B is None) == cfg.bias:
        raise ValueError(f"B must be given exactly when bias=True (bias={cfg.bias}), "
                         f"got B={'None' if B is None else 'an array'}")
    if (P is None) == cfg.peephole:
        raise ValueError(f"P must be given exactly when peephole=True (peephole={cfg.peephole}), "
                         f"got P={'None' if P is None else 'an array'}")
    W, R = _loaded_array(W, "W"), _loaded_array(R, "R")
    B = None if B is None else _loaded_array(B, "B")
    P = None if P is None else _loaded_array(P, "P")
    back = _inverse(ONNX_FROM_TORCH)
    peephole_back = _inverse(ONNX_PEEPHOLE_FROM_LSTMKIT)
    w = lstm.cell_weights(layer, 0)  # (the shapes, alike in both directions)
    for name, array, shape in (("W", W, w.weight_ih.shape), ("R", R, w.weight_hh.shape),
                               ("B", B, None if w.bias_ih is None else (2 * len(w.bias_ih),)),
                               ("P", P, (3 * cfg.hidden_size,))):
        expected = (cfg.num_directions, *shape) if shape is not None else None
        if array is not None and tuple(array.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(array.shape)}")
    _check_loadable(lstm, layer, range(cfg.num_directions), "load_onnx_")  # (before writing)
    for direction in range(cfg.num_directions):
        with _writable(lstm, layer, direction) as (weight_ih, weight_hh, bias_ih, bias_hh,
                                                   peep):
            weight_ih.copy_(_reorder_gates(W[direction], back))
            weight_hh.copy_(_reorder_gates(R[direction], back))
            if B is not None:
                w_b, r_b = B[direction].chunk(2)
                bias_ih.copy_(_reorder_gates(w_b, back))
                bias_hh.copy_(_reorder_gates(r_b, back))
            if P is not None:
                rows = P[direction].reshape(3, cfg.hidden_size)
                peep.copy_(rows[peephole_back])
