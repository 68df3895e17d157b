"""Examples -> index tensors -> length-bucketed batches ``({"tokens", "lengths"}, labels)``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from lstmkit.classification.readers import Example
from lstmkit.text.batching import BucketBatchSampler, pad_sequences
from lstmkit.text.tokenize import Tokenizer
from lstmkit.text.vocab import Vocabulary


class TextEncoder:
    """Tokenises and indexes texts the way the model was trained."""

    def __init__(
        self, tokenizer: Tokenizer, words: Vocabulary, max_length: int | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.words = words
        self.max_length = max_length

    def tokens(self, text: str) -> list[str]:
        tokens = self.tokenizer(text)
        if self.max_length is not None:
            tokens = tokens[: self.max_length]
        # an empty text still needs one position for the LSTM to read
        return tokens or [self.words.unk or self.words.itos[0]]

    def encode(self, text: str) -> list[int]:
        return self.words.encode(self.tokens(text))


def label_text(label: object, source: str, n: int) -> str:
    """The label of example ``n`` as the str the model knows it by: ``1``, ``np.int64(1)``
    and ``"1"`` are all the label ``"1"``, and ``" pos"`` is ``"pos"`` (surrounding
    whitespace dropped, as the file readers drop it). A missing label (None, NaN as pandas
    gives for an empty cell, or an empty or blank str) is a ValueError naming ``source`` and
    the example number."""
    if label is None:
        raise ValueError(f"{source}: example {n} has no label")
    if isinstance(label, float | np.floating) and math.isnan(label):
        raise ValueError(f"{source}: example {n}: label must not be NaN (an empty cell?), "
                         "got nan")
    text = str(label).strip()
    if not text:
        raise ValueError(f"{source}: example {n}: label must not be empty or blank, got "
                         f"{label!r}")
    return text


NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
"""A label that is a number (``1``, ``1.0``, ``-2e3``): sorted as one, and said to be one."""


def encode_labels(
    examples: Sequence[Example], labels: Vocabulary, source: str = "data"
) -> list[int]:
    """Label indices (labels compared as str, see :func:`label_text`); an unlabelled
    example or an unknown label is a ValueError naming the source and example number."""
    out = []
    for n, example in enumerate(examples, start=1):
        label = label_text(example.label, source, n)
        try:
            out.append(labels.index(label))
        except ValueError as err:
            raw = str(example.label)  # a model trained before labels were stripped knows
            if raw != label and raw in labels.itos:  # " pos" as it was written
                out.append(labels.index(raw))
                continue
            same = [k for k in labels.itos if NUMBER.fullmatch(label) and NUMBER.fullmatch(k)
                    and float(k) == float(label)]
            hint = (f"; the model's label {same[0]!r} is that number written another way: "
                    "write the labels as in training (pandas writes 1.0 for an int column "
                    "that has an empty cell)" if same else "")
            raise ValueError(f"{_where(example, source, n)}: {err}{hint}") from None
    return out


def check_texts(examples: Sequence[Example], source: str) -> None:
    """A TypeError, naming where, unless every example is an :class:`Example` whose text is a
    str (pandas gives a NaN float for an empty cell)."""
    if isinstance(examples, str | bytes) or type(examples).__name__ == "DataFrame":
        raise TypeError(f"{source} must be a sequence of lstmkit.classification.Example(text, "
                        f"label), got a {type(examples).__name__}; from a DataFrame: "
                        "[Example(t, y) for t, y in zip(df['text'], df['label'])]")
    for n, example in enumerate(examples, start=1):
        if not isinstance(example, Example):
            raise TypeError(f"{source}: example {n} must be a lstmkit.classification."
                            f"Example(text, label), got {type(example).__name__} "
                            f"{example!r:.80}")
        if not isinstance(example.text, str):
            raise TypeError(f"{_where(example, source, n)}: text must be a str, got "
                            f"{type(example.text).__name__} ({example.text!r}; an empty cell?)")


def _where(example: Example, source: str, n: int) -> str:
    """``source: example n``, and the file and line it was read from if known."""
    return f"{source}: example {n}" + (f" ({example.where})" if example.where else "")


def collate(
    items: Sequence[tuple[list[int], int]], pad_index: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    tokens, lengths = pad_sequences([ids for ids, _ in items], pad_index)  # (B, T), (B,)
    labels = torch.tensor([label for _, label in items], dtype=torch.long)  # (B,)
    return {"tokens": tokens, "lengths": lengths}, labels


def make_loader(
    ids: Sequence[list[int]],
    labels: Sequence[int],
    *,
    batch_size: int,
    pad_index: int,
    shuffle: bool,
    seed: int = 0,
) -> DataLoader:
    items = list(zip(ids, labels, strict=True))
    sampler = BucketBatchSampler([len(x) for x in ids], batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(
        items,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=lambda batch: collate(batch, pad_index),
    )
