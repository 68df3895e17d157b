"""Examples -> index tensors -> length-bucketed batches ``({"tokens", "lengths"}, labels)``."""

from __future__ import annotations

from collections.abc import Sequence

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


def encode_labels(
    examples: Sequence[Example], labels: Vocabulary, source: str = "data"
) -> list[int]:
    """Label indices; an unlabelled example or an unknown label is a ValueError naming the
    source and example number."""
    out = []
    for n, example in enumerate(examples, start=1):
        if example.label is None:
            raise ValueError(f"{source}: example {n} has no label")
        try:
            out.append(labels.index(example.label))
        except ValueError as err:
            raise ValueError(f"{source}: example {n}: {err}") from None
    return out


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
