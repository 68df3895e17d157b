"""Sentences -> word, character, casing and tag indices -> length-bucketed batches.

A batch is ``(inputs, (tags, lengths))`` with ``inputs`` the keyword arguments of
:class:`~lstmkit.tagging.model.LSTMCRFTagger`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from lstmkit.text.batching import BucketBatchSampler, pad_characters, pad_sequences
from lstmkit.text.vocab import Vocabulary

CASINGS: tuple[str, ...] = (
    "lower", "initial", "upper", "mixed", "numeric", "has_digit", "punct", "mention",
    "hashtag", "url", "other",
)
_URL = re.compile(r"^(https?://|www\.)", re.IGNORECASE)


def casing(token: str) -> int:
    """Index in :data:`CASINGS` of the token's shape."""
    if _URL.match(token):
        kind = "url"
    elif len(token) > 1 and token[0] == "@":
        kind = "mention"
    elif len(token) > 1 and token[0] == "#":
        kind = "hashtag"
    elif token.isdigit():
        kind = "numeric"
    elif any(ch.isdigit() for ch in token):
        kind = "has_digit"
    elif not any(ch.isalnum() for ch in token):
        kind = "punct"
    elif token.islower():
        kind = "lower"
    elif token.isupper():
        kind = "upper"
    elif token[0].isupper() and token[1:].islower():
        kind = "initial"
    elif any(ch.isalpha() for ch in token):
        kind = "mixed"
    else:
        kind = "other"
    return CASINGS.index(kind)


@dataclass
class EncodedSentence:
    words: list[int]
    chars: list[list[int]]
    casing: list[int]
    tags: list[int]


def word_key(token: str, lowercase: bool) -> str:
    """The form a token is looked up by: lower-cased if asked, and a hashtag by its word
    (``#NYC`` -> ``nyc``), so that it shares the pretrained vector of the plain word."""
    if len(token) > 1 and token[0] == "#":
        token = token[1:]
    return token.lower() if lowercase else token


class SentenceEncoder:
    """Indexes tokens (and tags) the way the model was trained.

    Characters of a word beyond ``max_word_chars`` are dropped (URLs run past 100), which
    bounds the character encoder's work.
    """

    def __init__(self, words: Vocabulary, chars: Vocabulary, tags: Vocabulary,
                 lowercase: bool, max_word_chars: int = 20) -> None:
        self.words = words
        self.chars = chars
        self.tags = tags
        self.lowercase = lowercase
        self.max_word_chars = max_word_chars

    def encode(self, tokens: Sequence[str], tags: Sequence[str] | None = None
               ) -> EncodedSentence:
        if len(tokens) == 0:
            raise ValueError("a sentence must hold at least one token, got none")
        keys = [word_key(t, self.lowercase) for t in tokens]
        return EncodedSentence(
            words=self.words.encode(keys),
            chars=[self.chars.encode(token[: self.max_word_chars]) for token in tokens],
            casing=[casing(t) for t in tokens],
            tags=self.tags.encode(tags) if tags is not None else [0] * len(tokens),
        )


def collate(items: Sequence[EncodedSentence], pad_index: int
            ) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    words, lengths = pad_sequences([s.words for s in items], pad_index)  # (B, T), (B,)
    chars, char_lengths = pad_characters([s.chars for s in items], 0)  # (B, T, C), (B, T)
    casing_ids, _ = pad_sequences([s.casing for s in items], 0)  # (B, T)
    tags, _ = pad_sequences([s.tags for s in items], 0)  # (B, T)
    inputs = {"words": words, "lengths": lengths, "chars": chars,
              "char_lengths": char_lengths, "casing": casing_ids}
    return inputs, (tags, lengths)


def make_loader(items: Sequence[EncodedSentence], *, batch_size: int, pad_index: int,
                shuffle: bool, seed: int = 0) -> DataLoader:
    sampler = BucketBatchSampler([len(s.words) for s in items], batch_size, shuffle=shuffle,
                                 seed=seed)
    return DataLoader(list(items), batch_sampler=sampler,  # type: ignore[arg-type]
                      collate_fn=lambda batch: collate(batch, pad_index))
