"""The LSTM's configuration: one frozen dataclass, validated once, with exact error messages."""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from lstmkit.nn.functional import CellOptions

# the options of lstmkit.nn.LSTM that an application passes through as they are (its own
# settings give the sizes, the depth, the direction and the dropout between layers)
LSTM_OPTIONS: tuple[str, ...] = (
    "bias", "proj_size", "peephole", "coupled_gates", "layer_norm", "zoneout",
    "recurrent_dropout", "weight_drop", "forget_bias", "init", "chrono_max_len",
    "recurrent_init", "backend",
)
Backend = Literal["auto", "reference", "torch", "fused"]
BACKENDS: tuple[str, ...] = ("auto", "reference", "torch", "fused")
Init = Literal["default", "chrono"]
RecurrentInit = Literal["default", "orthogonal"]
MAX_INT = 2**63 - 1
"""The largest int setting (torch's int64): a larger one fails inside torch."""
MAX_LAYERS = 10_000
"""The most layers an LSTM may stack: each is a step of a Python loop when the LSTM is made
and in every call (10,000 take seconds to make; ``num_layers=2**40`` ran until memory ran
out), and far fewer already train badly."""
MAX_PARAMETERS = 2**60
"""An LSTM's parameters must number below this: in float64 (a module can be cast to it
after it is made) each tensor's bytes must fit torch's int64 sizes, which 2**60 values
would not (``hidden_size=2**62`` failed deep inside torch)."""


def shown(value: object, text: Any = repr, typed: bool = False) -> str:
    """``value`` for a message: an int of many digits by its number of digits (``10**400``
    printed whole filled the screen, and one of more than 4300 digits failed in ``str``),
    anything else as ``text`` (``repr``, or ``format`` as an f-string's ``{value}``, which
    writes a 0-d tensor as its number) writes it, after its type's name with ``typed``
    (``"str 'a'"``)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"{'a negative' if value < 0 else 'an'} int of {_digits(abs(value))} digits"
    return f"{type(value).__name__} {text(value)}" if typed else text(value)


def _digits(n: int) -> int:
    """The number of decimal digits of ``n`` > 0, without ``str`` (which refuses more than
    ``sys.get_int_max_str_digits()`` of them): estimated from its bits, then corrected."""
    digits = int((n.bit_length() - 1) * math.log10(2)) + 1
    while n >= 10**digits:
        digits += 1
    while digits > 1 and n < 10**(digits - 1):
        digits -= 1
    return digits


def positive_int(name: str, value: object, minimum: int = 1,
                 maximum: int | None = MAX_INT) -> int:
    """``value`` as an int >= ``minimum`` and <= ``maximum`` (torch's int64 unless given;
    None: no bound); numpy integers are accepted, as nn.LSTM does."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        within = (f">= {minimum}" if maximum is None or maximum == MAX_INT
                  else f"in [{minimum}, {maximum}]")
        raise TypeError(f"{name} must be an int {within}, got {shown(value, typed=True)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {shown(value, format)}")
    if maximum is not None and value > maximum:
        within = "below 2**63" if maximum == MAX_INT else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an int {within}, got {shown(value, format)}")
    return int(value)


def layer_count(name: str, value: object) -> int:
    """``value`` as a number of stacked LSTM layers: an int in [1, :data:`MAX_LAYERS`]."""
    return positive_int(name, value, maximum=MAX_LAYERS)


def is_int(value: object) -> bool:
    """Whether ``value`` is a Python int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def exact_int(value: object) -> int | None:
    """``value`` as an int when it is an exact integer: an int, a numpy integer, a 0-d
    integer array or tensor (``logits.argmax()``); None for anything else (a bool, a float,
    a one-element 1-d array)."""
    if isinstance(value, bool) or getattr(value, "ndim", 0) != 0 \
            or getattr(value, "dtype", None) is torch.bool:
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def integer_dtype(dtype: torch.dtype | np.dtype) -> bool:
    """Whether ``dtype``, torch's or numpy's, holds integers (signed or unsigned; not bools,
    which torch and numpy keep apart from them)."""
    if isinstance(dtype, torch.dtype):
        return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
    return dtype.kind in "iu"


def index_in(name: str, value: object, size: int, note: str = "") -> int:
    """``value`` as an int index in [0, ``size``): a TypeError unless it is an exact integer
    (:func:`exact_int`), a ValueError naming the range (and ``note``) when outside."""
    index = exact_int(value)
    if index is None:
        raise TypeError(f"{name} must be an int in [0, {size - 1}], got "
                        f"{shown(value, typed=True)}")
    if not 0 <= index < size:
        raise ValueError(f"{name} must be in [0, {size - 1}]{note}, got {shown(value, format)}")
    return index


def probability(name: str, value: object, *, one: bool = False) -> float:
    """``value`` as a float in [0, 1), or [0, 1] with ``one``; numpy floats are accepted."""
    interval = "[0, 1]" if one else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in {interval}, got "
                        f"{shown(value, typed=True)}")
    if not (0.0 <= value <= 1.0 if one else 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a float in {interval}, got {shown(value, format)}")
    return float(value)


def flag(name: str, value: object) -> bool:
    """``value`` as a bool; 0 and 1 are accepted too (nn.LSTM takes them for
    ``bidirectional``, and code written for it passes them)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool (or 0 or 1), got "
                    f"{shown(value, typed=True)}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got "
                         f"{shown(value)}")


def plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A dict copy of ``options`` (LSTM keyword options) with numpy scalars (``np.int64``,
    ``np.float32``, ``np.bool_``), also inside lists and tuples, turned into Python ones, so
    that a configuration holding them saves as YAML or JSON."""
    return {key: plain_value(value) for key, value in options.items()}


def plain_value(value: Any) -> Any:
    """``value`` with numpy scalars, also inside lists and tuples, as Python ones: an
    ``np.integer`` an int, an ``np.float64`` a float, a float32 or float16 the shortest
    decimal that reads back as it (``np.float32(0.29)`` is 0.29, as the Python float 0.29
    is: the 0.28999999165534973 it equals took 28 rows of 100 for ``val``, and saved as
    such), an ``np.bool_`` a bool (which a number's check still refuses), an ``np.str_`` a
    str; anything else as it is (a ``datetime64`` of nanoseconds would become an int).
    Configurations pass each setting through it, so that a numpy scalar is checked as the
    Python value it stands for and saves as YAML or JSON. (A setting that must hold the
    very float32 value, a bound taken from float32 data, is read before it.)"""
    if isinstance(value, np.float32 | np.float16):
        return float(str(value))  # (NumPy writes the shortest decimal that reads back)
    if isinstance(value, np.bool_ | np.number | np.str_):
        return value.item()
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain_value(v) for v in value)
    return value


def plain_fields(config: Any) -> None:
    """Pass every field of the frozen dataclass ``config`` through :func:`plain_value` (in
    its ``__post_init__``, before the checks)."""
    for f in dataclasses.fields(config):
        object.__setattr__(config, f.name, plain_value(getattr(config, f.name)))


@dataclass(frozen=True)
class LSTMConfig:
    """Everything that defines an :class:`lstmkit.nn.LSTM`; see its docstring for each option."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    peephole: bool = False
    coupled_gates: bool = False
    layer_norm: bool = False
    zoneout: float | tuple[float, float] = 0.0
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0
    forget_bias: float | None = None
    init: Init = "default"
    chrono_max_len: int | None = None
    recurrent_init: RecurrentInit = "default"
    backend: Backend = "auto"

    def __post_init__(self) -> None:
        def normalise(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        # (torch's sizes are int64: a larger one failed in its "Overflow when unpacking")
        for name in ("input_size", "hidden_size"):
            normalise(name, positive_int(name, getattr(self, name)))
        normalise("num_layers", layer_count("num_layers", self.num_layers))
        normalise("proj_size", positive_int("proj_size", self.proj_size, minimum=0))
        check_projection(self.proj_size, self.hidden_size)
        for name in ("bias", "batch_first", "bidirectional", "peephole", "coupled_gates",
                     "layer_norm"):
            normalise(name, flag(name, getattr(self, name)))
        # before any tensor is made, which would fail deep inside torch (4 * hidden_size
        # past int64) or take every byte of memory
        if (count := self.parameter_count()) >= MAX_PARAMETERS:
            # (the settings of a cell, and those of a stack off their defaults)
            sizes = ["input_size", "hidden_size"] + [
                name for name in ("num_layers", "proj_size", "bidirectional")
                if getattr(self, name) != getattr(LSTMConfig, name)]
            raise ValueError(
                f"an LSTM must have fewer than 2**{MAX_PARAMETERS.bit_length() - 1} parameters "
                f"(in float64 each tensor's bytes must fit torch's int64 sizes), got "
                f"{shown(count, format)} from "
                + ", ".join(f"{name}={shown(getattr(self, name), format)}" for name in sizes))
        if self.layer_norm and self.hidden_size < 2:
            raise ValueError(
                f"layer_norm needs hidden_size >= 2: normalised over a single unit, the cell "
                f"state is its norm's bias whatever it holds, so h never reads the memory; "
                f"got hidden_size={self.hidden_size}")
        # dropout between layers may be 1, as in nn.LSTM; the in-cell ones need a keep rate
        normalise("dropout", probability("dropout", self.dropout, one=True))
        normalise("recurrent_dropout", probability("recurrent_dropout", self.recurrent_dropout))
        normalise("weight_drop", probability("weight_drop", self.weight_drop))
        zoneout = self.zoneout
        if isinstance(zoneout, list | tuple):
            if len(zoneout) != 2:
                raise ValueError(
                    f"zoneout must be a float or a pair (z_c, z_h), got {len(zoneout)} values"
                )
            normalise("zoneout", (probability("zoneout[0] (cell)", zoneout[0]),
                                  probability("zoneout[1] (hidden)", zoneout[1])))
        else:
            z = probability("zoneout", zoneout)
            normalise("zoneout", (z, z))
        check_choice("init", self.init, ("default", "chrono"))
        check_choice("recurrent_init", self.recurrent_init, ("default", "orthogonal"))
        check_choice("backend", self.backend, BACKENDS)
        if self.backend == "torch" and self.cell_variants():
            raise torch_backend_refusal(self.cell_variants())
        if self.forget_bias is not None:
            if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias,
                                                                   numbers.Real):
                raise TypeError(
                    f"forget_bias must be a float or None, got {type(self.forget_bias).__name__}"
                )
            try:
                normalise("forget_bias", float(self.forget_bias))
            except OverflowError:  # (an int past float's range: 10**400)
                raise ValueError(f"forget_bias must be finite, got "
                                 f"{shown(self.forget_bias)}") from None
            if not math.isfinite(self.forget_bias):
                raise ValueError(f"forget_bias must be finite, got {self.forget_bias}")
            if self.init == "chrono":
                raise ValueError(
                    "forget_bias and init='chrono' cannot combine: chrono init sets the forget "
                    f"bias itself; got forget_bias={self.forget_bias}"
                )
        if self.init == "chrono":
            if self.chrono_max_len is None:
                raise ValueError("init='chrono' needs chrono_max_len (the longest dependency "
                                 "in steps, >= 2), got None")
            normalise("chrono_max_len",
                      positive_int("chrono_max_len", self.chrono_max_len, minimum=2))
        elif self.chrono_max_len is not None:
            raise ValueError(
                f"chrono_max_len is used only with init='chrono', got init={self.init!r} "
                f"and chrono_max_len={shown(self.chrono_max_len, format)}"
            )
        if not self.bias and (self.forget_bias is not None or self.init == "chrono"):
            given = (f"forget_bias={self.forget_bias} sets the forget gate's biases"
                     if self.forget_bias is not None else "init='chrono' sets gate biases")
            raise ValueError(f"{given} and needs bias=True, got bias=False")
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout applies between layers and does nothing with num_layers=1 "
                f"(got dropout={self.dropout}); use recurrent_dropout or zoneout for one layer",
                stacklevel=_caller_level(),
            )

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def num_gates(self) -> int:
        return 3 if self.coupled_gates else 4

    @property
    def recurrent_size(self) -> int:
        """R: the width of h, P with a projection, else H."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def parameter_count(self) -> int:
        """The number of values of all the parameters, every layer and direction, counted
        from their shapes (nothing is made)."""
        def layer(layer_input: int) -> int:
            return sum(math.prod(shape) for _, shape in self.parameter_shapes(layer_input))

        above = self.recurrent_size * self.num_directions  # (the input of layers 1, 2, ...)
        return self.num_directions * (layer(self.input_size)
                                      + (self.num_layers - 1) * layer(above))

    def parameter_shapes(self, layer_input: int) -> list[tuple[str, tuple[int, ...]]]:
        """The parameters of one layer-direction whose input has ``layer_input`` features:
        (name without the layer suffix, shape), in ``nn.LSTM``'s order, variants' last."""
        gh, hidden = self.num_gates * self.hidden_size, self.hidden_size
        shapes = [("weight_ih", (gh, layer_input)), ("weight_hh", (gh, self.recurrent_size))]
        if self.bias:
            shapes += [("bias_ih", (gh,)), ("bias_hh", (gh,))]
        if self.proj_size > 0:
            shapes.append(("weight_hr", (self.proj_size, hidden)))
        if self.peephole:
            shapes.append(("weight_peephole", (self.num_gates - 1, hidden)))
        if self.layer_norm:
            shapes += [("ln_ih_weight", (gh,)), ("ln_ih_bias", (gh,)), ("ln_hh_weight", (gh,)),
                       ("ln_hh_bias", (gh,)), ("ln_c_weight", (hidden,)),
                       ("ln_c_bias", (hidden,))]
        return shapes

    @property
    def cell_options(self) -> CellOptions:
        return CellOptions(self.peephole, self.coupled_gates, self.layer_norm)

    def cell_variants(self) -> list[str]:
        """The options that change the cell's computation away from torch.nn.LSTM's."""
        names = ("peephole", "coupled_gates", "layer_norm")
        found = [name for name in names if getattr(self, name)]
        # (float(): under torch.compile a rate can be a symbolic float, which an f-string
        # cannot format)
        if self.zoneout != (0.0, 0.0):
            found.append(f"zoneout={tuple(float(z) for z in self.zoneout)}")
        if self.recurrent_dropout > 0:
            found.append(f"recurrent_dropout={float(self.recurrent_dropout)}")
        return found

    def repr_args(self) -> str:
        """The sizes and every option off its default, in ``nn.LSTM``'s order, as a module's
        ``extra_repr``: ``"10, 20, num_layers=2, peephole=True"``."""
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = LSTMConfig(self.input_size, self.hidden_size)
        names = ["proj_size"] + [name for name in LSTMConfig.__dataclass_fields__
                                 if name not in ("input_size", "hidden_size", "proj_size")]
        for name in names:
            if getattr(self, name) != getattr(defaults, name):
                text += f", {name}={getattr(self, name)!r}"
        return text


def _caller_level(packages: tuple[str, ...] = ("lstmkit.nn", "dataclasses",
                                                "torch.nn.modules")) -> int:
    """The ``stacklevel`` of a warning from the caller of this function that names the first
    line outside ``packages``: by default ``lstmkit.nn``, ``dataclasses`` and torch's
    ``Module`` (a constructor's caller, or the line that set ``lstm.dropout``: torch's
    ``__setattr__``, the property, ``dataclasses.replace``)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _inside(str(frame.f_globals.get("__name__")), packages):
        frame, level = frame.f_back, level + 1
    return level


def _inside(module: str, packages: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``packages`` or in one of them."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def check_projection(proj_size: int, hidden_size: int, proj_name: str = "proj_size",
                     hidden_name: str = "hidden_size") -> None:
    """A ValueError unless ``proj_size`` is below ``hidden_size`` (a projection narrows h, and
    torch's LSTM refuses one as wide); the settings named ``proj_name`` and ``hidden_name``
    (an application's ``model.lstm.proj_size`` and ``model.hidden_size``)."""
    if proj_size >= hidden_size:
        raise ValueError(f"{proj_name} must be smaller than {hidden_name} ({hidden_size}), "
                         f"got {proj_size}")


def check_option_values(options: Mapping[str, Any], name: str,
                        hidden_size: int | None = None) -> None:
    """A TypeError or ValueError, its message prefixed with ``name`` (``model.lstm``), when
    a value of ``options`` (keys of :data:`LSTM_OPTIONS`) is one :class:`LSTMConfig` refuses
    with ``hidden_size`` (a ``proj_size`` not below it, ``layer_norm`` with 1): checked when
    a configuration is made, not when its network is built. Without ``hidden_size``, with
    sizes that fit any ``proj_size``. A rule between ``hidden_size`` and an option is named
    by the two settings (``model.lstm.proj_size``, ``model.hidden_size``: the section of
    ``name``), and so is a ``hidden_size`` too large for any LSTM (its parameters counted
    with one input feature and one layer)."""
    section = name.rpartition(".")[0]
    hidden_name = f"{section + '.' if section else ''}hidden_size"
    proj = options.get("proj_size", 0)
    fits = isinstance(proj, numbers.Integral) and not isinstance(proj, bool) and proj > 0
    if hidden_size is None:
        # (a hidden size of 2 at least: layer_norm needs it)
        hidden_size = int(proj) + 1 if fits else 2
    else:  # (the application's setting, which LSTMConfig would name as an option's)
        hidden_size = positive_int(hidden_name, hidden_size)
        if fits:  # (a proj_size of another kind is LSTMConfig's error, below)
            check_projection(proj, hidden_size, f"{name}.proj_size", hidden_name)
        try:  # (the size rule, on the narrowest LSTM of this width: one input, one layer)
            LSTMConfig(1, hidden_size)
        except ValueError as err:
            raise ValueError(f"{hidden_name} is too large: {err}") from None
    try:
        LSTMConfig(1, hidden_size, **options)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None


def check_lstm_options(options: Mapping[str, Any], name: str = "lstm",
                       hidden_size: int | None = None) -> dict[str, Any]:
    """A plain dict copy of ``options`` (numpy scalars as Python ones) after checking every
    key is an LSTM variant option (:data:`LSTM_OPTIONS`) and every value one the LSTM takes,
    with ``hidden_size`` where it is given (``proj_size`` below it): the check of an
    application's ``model.lstm`` (``name``), which passes them to :class:`lstmkit.nn.LSTM`."""
    if not isinstance(options, Mapping):
        raise TypeError(f"{name} must be a mapping of LSTM options, got {type(options).__name__}")
    unknown = sorted(set(options) - set(LSTM_OPTIONS))
    if unknown:
        raise ValueError(
            f"{name} has unknown LSTM option(s) {unknown}; expected a subset of "
            f"{list(LSTM_OPTIONS)}"
        )
    plain = plain_options(options)
    check_option_values(plain, name, hidden_size)
    return plain


def torch_backend_refusal(blockers: list[str]) -> ValueError:
    """The error for ``backend='torch'`` with what keeps torch's op from computing it."""
    return ValueError("backend='torch' cannot serve this call: torch's fused op "
                      f"computes only the plain LSTM, but {', '.join(blockers)}; use "
                      "backend='auto' or 'reference'")
