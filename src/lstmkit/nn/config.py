"""The LSTM's configuration: one frozen dataclass, validated once, with exact error messages."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

from lstmkit.nn.functional import CellOptions

Backend = Literal["auto", "reference", "torch", "fused"]
BACKENDS: tuple[str, ...] = ("auto", "reference", "torch", "fused")
Init = Literal["default", "chrono"]
RecurrentInit = Literal["default", "orthogonal"]


def check_positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")


def check_probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


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
        check_positive_int("input_size", self.input_size)
        check_positive_int("hidden_size", self.hidden_size)
        check_positive_int("num_layers", self.num_layers)
        check_positive_int("proj_size", self.proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({self.hidden_size}), "
                f"got {self.proj_size}"
            )
        for name in ("bias", "batch_first", "bidirectional", "peephole", "coupled_gates",
                     "layer_norm"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
        check_probability("dropout", self.dropout)
        check_probability("recurrent_dropout", self.recurrent_dropout)
        check_probability("weight_drop", self.weight_drop)
        zoneout = self.zoneout
        if isinstance(zoneout, list | tuple):
            if len(zoneout) != 2:
                raise ValueError(
                    f"zoneout must be a float or a pair (z_c, z_h), got {len(zoneout)} values"
                )
            check_probability("zoneout[0] (cell)", zoneout[0])
            check_probability("zoneout[1] (hidden)", zoneout[1])
            object.__setattr__(self, "zoneout", (float(zoneout[0]), float(zoneout[1])))
        else:
            check_probability("zoneout", zoneout)
            object.__setattr__(self, "zoneout", (float(zoneout), float(zoneout)))
        check_choice("init", self.init, ("default", "chrono"))
        check_choice("recurrent_init", self.recurrent_init, ("default", "orthogonal"))
        check_choice("backend", self.backend, BACKENDS)
        if self.forget_bias is not None:
            if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, int | float):
                raise TypeError(
                    f"forget_bias must be a float or None, got {type(self.forget_bias).__name__}"
                )
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
            check_positive_int("chrono_max_len", self.chrono_max_len, minimum=2)
        elif self.chrono_max_len is not None:
            raise ValueError(
                f"chrono_max_len is used only with init='chrono', got init={self.init!r} "
                f"and chrono_max_len={self.chrono_max_len}"
            )
        if not self.bias and (self.forget_bias is not None or self.init == "chrono"):
            raise ValueError(
                "forget_bias and init='chrono' set gate biases and need bias=True, got bias=False"
            )
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout applies between layers and does nothing with num_layers=1 "
                f"(got dropout={self.dropout}); use recurrent_dropout or zoneout for one layer",
                stacklevel=4,
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

    @property
    def cell_options(self) -> CellOptions:
        return CellOptions(self.peephole, self.coupled_gates, self.layer_norm)

    def cell_variants(self) -> list[str]:
        """The options that change the cell's computation away from torch.nn.LSTM's."""
        names = ("peephole", "coupled_gates", "layer_norm")
        found = [name for name in names if getattr(self, name)]
        if self.zoneout != (0.0, 0.0):
            found.append(f"zoneout={self.zoneout}")
        if self.recurrent_dropout > 0:
            found.append(f"recurrent_dropout={self.recurrent_dropout}")
        return found
