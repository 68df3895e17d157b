"""Checks of what the text applications' inference methods take."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from lstmkit.nn.config import positive_int

T = TypeVar("T")


def read_once(data: Iterable[T] | None) -> list[T] | Iterable[T] | None:
    """``data`` (training or evaluation examples) as a list when it is a one-pass iterator
    (a generator), which training reads more than once; anything else as it is, for the
    caller's own checks."""
    return list(data) if isinstance(data, Iterator) else data


def text_list(texts: object, name: str = "texts", what: str = "str") -> list[str]:
    """``texts`` as a list, read once (so a generator works, and a pandas Series is taken by
    position, not by its index labels). The one check of a sequence of str: the tagging
    schemes' ``tag_list`` (one sentence's tags) is this with ``what="str tags"``.

    Raises:
        TypeError: ``texts`` is a single str (or bytes) or not iterable, or an item is not a
            str; the message names ``name`` (``name[i]`` for an item), a sequence of ``what``
            expected, and what it got.
    """
    if isinstance(texts, str | bytes) or not isinstance(texts, Iterable):
        single = "a single " if isinstance(texts, str | bytes) else ""
        hint = "; for one, pass it in a list" if single else ""
        raise TypeError(f"{name} must be a sequence of {what} (a list), got {single}"
                        f"{type(texts).__name__} {texts!r:.80}{hint}")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(text).__name__} "
                            f"{text!r:.80}")
    return items


def predict_inputs(texts: Iterable[str], batch_size: object) -> list[str]:
    """The checked arguments of a text application's ``predict``: ``texts`` as
    :func:`text_list` gives it, after which ``batch_size`` must be an int >= 1."""
    items = text_list(texts)
    positive_int("batch_size", batch_size)
    return items
