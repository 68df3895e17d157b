"""What the text applications' configurations share: argument checks and the mapping round trip."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Self


def store_checked(config: Any, check: Callable[[str, Any], Any], *names: str,
                  optional: bool = False) -> None:
    """Each of the fields ``names`` of the frozen dataclass ``config`` through ``check(name,
    value)`` (:func:`lstmkit.nn.config.positive_int`, ``probability``), stored as it returns
    it (a ``Fraction`` dropout as a float, so that the configuration saves); with
    ``optional``, None is left as it is."""
    for name in names:
        value = getattr(config, name)
        if value is not None or not optional:
            object.__setattr__(config, name, check(name, value))


def boolean(name: str, value: object) -> None:
    """A TypeError unless ``value`` is True or False (a str such as ``"false"`` is truthy and
    would turn the option on)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {type(value).__name__} "
                        f"{value!r}")


def vector_options(vectors: object, vectors_vocab: object, freeze_embeddings: bool) -> None:
    """The pretrained-vector options of a model configuration: ``vectors`` None or a str,
    ``vectors_vocab`` an int >= 0, and ``vectors_vocab`` > 0 or ``freeze_embeddings`` only
    with ``vectors``."""
    if vectors is not None and not isinstance(vectors, str):
        raise TypeError(f"vectors must be None or a str, got {type(vectors).__name__}")
    if isinstance(vectors_vocab, bool) or not isinstance(vectors_vocab, int) \
            or vectors_vocab < 0:
        raise ValueError(f"vectors_vocab must be an int >= 0, got {vectors_vocab!r}")
    if vectors_vocab and vectors is None:
        raise ValueError(f"vectors_vocab={vectors_vocab} needs vectors, got None")
    if freeze_embeddings and vectors is None:
        raise ValueError("freeze_embeddings=True needs vectors (it keeps pretrained embeddings "
                         "fixed; random ones would never train), got vectors=None")


def saved_vector_options(values: Any, where: str) -> Any:
    """A saved model configuration ``values`` (read from ``where``) as a dict the current
    checks accept: ``freeze_embeddings`` true without ``vectors``, which older versions saved,
    is read as false, with a warning (it only kept the random embeddings fixed in training: the
    saved weights are the same either way)."""
    if not isinstance(values, Mapping):
        return values  # from_dict names what it is
    values = dict(values)
    if values.get("freeze_embeddings") is True and values.get("vectors") is None:
        warnings.warn(f"{where}: freeze_embeddings=True without vectors is read as False: "
                      "it only kept the random embeddings fixed in training, so the saved "
                      "weights are the same either way (an older version saved it; a new "
                      "configuration with it is an error)", UserWarning, stacklevel=3)
        values["freeze_embeddings"] = False
    return values


class MappingConfig:
    """``to_dict``/``from_dict``/``replace`` for a frozen dataclass configuration."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Build from a plain mapping (a YAML section); unknown keys list the valid ones."""
        if not isinstance(values, Mapping):
            raise TypeError(f"model config must be a mapping, got {type(values).__name__}")
        valid = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"unknown model config key(s) {unknown}; valid keys: {sorted(valid)}")
        return cls(**values)

    def replace(self, **changes: Any) -> Self:
        return self.from_dict({**self.to_dict(), **changes})
