"""Vocabularies: token <-> index maps built from training data only and saved with a model."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmkit.nn.config import exact_int, integer_dtype, plain_value, shown
from lstmkit.saving import path_arg

PAD = "<pad>"
UNK = "<unk>"
KEYS = ("pad", "unk", "tokens")  # of to_dict / from_dict


SPLIT = "split it into tokens first (text.split() or a Tokenizer), or wrap one token in a list"


def _not_str(value: object, name: str, what: str, hint: str = SPLIT) -> None:
    """A TypeError when ``value``, which should be a sequence of ``what``, is a str (which
    would be taken apart into its characters)."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a sequence of {what}, not a str (it would be split "
                        f"into its characters), got {value[:50]!r}; {hint}")


def _is_vector(values: object) -> bool:
    """Whether ``values`` is a 1-d numpy array or torch tensor."""
    return isinstance(values, np.ndarray | torch.Tensor) and values.ndim == 1


def _valid_in_bulk(indices: list[Any] | np.ndarray | torch.Tensor, size: int
                   ) -> list[int] | None:
    """``indices`` (a list, or a 1-d numpy array or torch tensor) as a list of ints when all
    of them are ints (numpy integers too; not bools) in ``[0, size)``, which is checked in
    bulk (fast: this is the common case); otherwise None, for the caller to name the first
    bad one."""
    if isinstance(indices, list):
        kinds = set(map(type, indices))
        if not all(issubclass(kind, int | np.integer) and not issubclass(kind, bool)
                   for kind in kinds):
            return None
        items = indices if kinds <= {int} else [int(i) for i in indices]
    elif integer_dtype(indices.dtype):
        items = indices.tolist()  # (Python ints: torch has no min for some unsigned types)
    else:
        return None
    return items if not items or (min(items) >= 0 and max(items) < size) else None


class Vocabulary:
    """An ordered token list with its index.

    The padding token, when present, is index 0; the unknown token, when present, index 1.
    Label vocabularies have neither (``pad=None, unk=None``), so an unknown label is an error.

    Args:
        tokens: the regular tokens, in index order (after the specials).
        pad: padding token, or None for none.
        unk: unknown token, or None: then :meth:`encode` raises on unseen tokens.

    A str where a sequence of tokens is expected (``tokens``, a sequence of :meth:`build`,
    :meth:`encode`'s argument) is refused rather than split into characters: a character
    vocabulary encodes ``list(word)``.
    """

    def __init__(
        self, tokens: Iterable[str] = (), pad: str | None = PAD, unk: str | None = UNK
    ) -> None:
        _not_str(tokens, "tokens", "str tokens")
        if pad is not None and pad == unk:
            raise ValueError(f"pad and unk must be different tokens, got both {pad!r}")
        self.pad = pad
        self.unk = unk
        self.itos: list[str] = [s for s in (pad, unk) if s is not None]
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        for token in tokens:
            self.add(token)

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        pad: str | None = PAD,
        unk: str | None = UNK,
    ) -> Vocabulary:
        """Vocabulary of the tokens occurring at least ``min_freq`` times, most frequent first
        (ties in first-seen order), at most ``max_size`` regular tokens."""
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be None or an int >= 1, got {max_size!r}")
        _not_str(sequences, "sequences", "token sequences")
        counts: Counter[str] = Counter()
        for n, seq in enumerate(sequences):
            _not_str(seq, f"sequences[{n}]", "str tokens")
            counts.update(seq)
        kept = [t for t, n in counts.most_common() if n >= min_freq]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, pad=pad, unk=unk)

    def add(self, token: str) -> int:
        """Index of ``token``, adding it if new."""
        if token not in self.stoi:
            self.stoi[token] = len(self.itos)
            self.itos.append(token)
        return self.stoi[token]

    @property
    def pad_index(self) -> int:
        if self.pad is None:
            raise ValueError("this vocabulary has no padding token")
        return self.stoi[self.pad]

    @property
    def unk_index(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def index(self, token: str) -> int:
        """Index of ``token``; the unknown index if unseen, or a ValueError without one."""
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, got {type(token).__name__} {token!r}")
        idx = self.stoi.get(token)
        if idx is None:
            if self.unk is None:
                known = ", ".join(repr(t) for t in self.itos[:20])
                raise ValueError(
                    f"unknown label {token!r}: expected one of the {len(self.itos)} seen in "
                    f"training ({known}{', ...' if len(self.itos) > 20 else ''})"
                )
            return self.stoi[self.unk]
        return idx

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Indices of ``tokens`` (see :meth:`index`)."""
        _not_str(tokens, "tokens", "str tokens")
        return [self.index(t) for t in tokens]

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Tokens of ``indices``, each an int in ``[0, len(self))``: a Python or numpy
        integer, or a 0-d integer array or tensor (``logits.argmax()``), as
        :func:`lstmkit.nn.config.exact_int` reads one; not a bool, a float or a one-element
        1-d array or tensor (a row of a 2-d batch), whichever path reads it. ``indices`` may
        be a 1-d integer array or tensor, read all at once."""
        _not_str(indices, "indices", "int indices", "give a list of ints")
        if not isinstance(indices, Iterable):
            raise TypeError(f"indices must be an iterable of ints, got "
                            f"{type(indices).__name__} {indices!r}; for one index, give a list")
        if not (isinstance(indices, list) or _is_vector(indices)):
            indices = list(indices)  # (read once: a generator works)
        items = _valid_in_bulk(indices, len(self.itos))
        if items is not None:
            return [self.itos[k] for k in items]
        out = []  # (item by item, to name the first bad one)
        for n, i in enumerate(indices):
            try:
                # the bulk path's rule: an int, never a bool, nor a one-element 1-d tensor (which
                # operator.index took: a (B, 1) tensor decoded, a (B, 1) array did not)
                k = exact_int(i)
            except (RuntimeError, OverflowError):  # (a uint64 tensor's 2**63: past int64)
                value = i.tolist() if hasattr(i, "tolist") else i
                raise ValueError(f"indices must be in [0, {len(self.itos)}) (the vocabulary's "
                                 f"size), got {shown(value, format)} at position {n}") from None
            if k is None:  # (a numpy scalar by its value: float64 0.5)
                raise TypeError(f"indices must be ints, got {type(i).__name__} "
                                f"{plain_value(i)!r:.60} at position {n}")
            if not 0 <= k < len(self.itos):
                raise ValueError(f"indices must be in [0, {len(self.itos)}) (the vocabulary's "
                                 f"size), got {shown(k, format)} at position {n}")
            out.append(self.itos[k])
        return out

    def to_dict(self) -> dict[str, Any]:
        specials = {self.pad, self.unk} - {None}
        return {
            "pad": self.pad,
            "unk": self.unk,
            "tokens": [t for t in self.itos if t not in specials],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        """The inverse of :meth:`to_dict`: ``data`` holds the keys ``pad``, ``unk`` and
        ``tokens``."""
        missing = [key for key in KEYS if key not in data]
        if missing:
            raise ValueError(f"vocabulary data must hold the keys {list(KEYS)}, missing "
                             f"{missing}; got the keys {sorted(map(str, data))}")
        return cls(data["tokens"], pad=data["pad"], unk=data["unk"])

    def save(self, path: str | Path) -> None:
        path_arg("path", path).write_text(json.dumps(self.to_dict(), ensure_ascii=False),
                                          encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_dict(json.loads(path_arg("path", path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.itos == other.itos
            and (self.pad, self.unk) == (other.pad, other.unk)
        )

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, pad={self.pad!r}, unk={self.unk!r})"


def char_vocabulary(
    sentences: Iterable[Sequence[str]], *, min_freq: int = 1
) -> Vocabulary:
    """Vocabulary of the characters of the tokens of ``sentences``."""
    # one sequence of all the characters (counted at C speed; tokens one by one took
    # twice as long), in the order of the tokens, so that ties keep first-seen order
    chars = chain.from_iterable(token for sentence in sentences for token in sentence)
    return Vocabulary.build([chars], min_freq=min_freq)
