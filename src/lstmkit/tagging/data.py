"""Sentences -> word, character, casing and tag indices -> length-bucketed batches.

A batch is ``(inputs, (tags, lengths))`` with ``inputs`` the keyword arguments of
:class:`~lstmkit.tagging.model.LSTMCRFTagger`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

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


def check_tokens(tokens: object, name: str) -> list[str]:
    """``tokens`` (one sentence) as a list, read once, or a TypeError / ValueError naming
    ``name`` (``sentences[i]``) or ``name[j]``: it must be an ordered iterable (a list, a
    tuple, a numpy array, a pandas Series, a generator; not a str, a set or a mapping) of at
    least one str token."""
    if isinstance(tokens, str | bytes | Set | Mapping) or not isinstance(tokens, Iterable):
        hint = (" (one sentence is a list of tokens: pass [['John', 'Smith']], not "
                "['John', 'Smith'])") if isinstance(tokens, str) else ""
        raise TypeError(f"{name} must be a sequence of str tokens (a list), got "
                        f"{type(tokens).__name__} {tokens!r}{hint}")
    tokens = list(tokens)
    if len(tokens) == 0:
        raise ValueError(f"{name} must hold at least one token, got an empty sentence")
    for j, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{name}[{j}] must be a str token, got {type(token).__name__} "
                            f"({token!r})")
    return tokens


def sentence_list(sentences: Iterable[Iterable[str]]) -> list[list[str]]:
    """``sentences`` (pre-tokenised: sentences of str tokens) as lists, read once, each
    checked with :func:`check_tokens`. A single str, or a flat list of tokens (one sentence
    not wrapped in a list), is a TypeError naming ``sentences`` or ``sentences[i]``."""
    if isinstance(sentences, str | bytes) or not isinstance(sentences, Iterable):
        raise TypeError(f"sentences must be a sequence of sentences, each a list of str "
                        f"tokens, got {type(sentences).__name__} {sentences!r}")
    return [check_tokens(tokens, f"sentences[{i}]") for i, tokens in enumerate(sentences)]


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
        words, chars, casings = zip(*map(self._encode_token, tokens), strict=True)
        return EncodedSentence(
            words=list(words), chars=list(chars), casing=list(casings),
            tags=self.tags.encode(tags) if tags is not None else [0] * len(tokens),
        )

    def _encode_token(self, token: str) -> tuple[int, list[int], int]:
        """A token's word index, character indices (the first ``max_word_chars``) and
        casing."""
        return (self.words.index(word_key(token, self.lowercase)),
                self.chars.encode(list(token[: self.max_word_chars])), casing(token))

    def encode_many(self, sentences: Sequence[Sequence[str]]
                    ) -> tuple[list[EncodedSentence], list[list[int]], list[list[int]]]:
        """:meth:`encode` of each of ``sentences`` (untagged), each distinct token encoded
        once (text repeats its words); with each token's index among the distinct character
        sequences, which come third (the first is ``[]``: no characters, and padding)."""
        known: dict[str, tuple[int, list[int], int, int]] = {}
        char_rows: dict[tuple[int, ...], int] = {(): 0}
        distinct: list[list[int]] = [[]]
        encoded, char_ids = [], []
        for tokens in sentences:
            if len(tokens) == 0:
                raise ValueError("a sentence must hold at least one token, got none")
            for token in tokens:
                if token not in known:
                    word, chars, kind = self._encode_token(token)
                    row = char_rows.setdefault(tuple(chars), len(distinct))
                    if row == len(distinct):
                        distinct.append(chars)
                    known[token] = (word, chars, kind, row)
            entries = [known[token] for token in tokens]
            encoded.append(EncodedSentence(words=[e[0] for e in entries],
                                           chars=[e[1] for e in entries],
                                           casing=[e[2] for e in entries],
                                           tags=[0] * len(tokens)))
            char_ids.append([e[3] for e in entries])
        return encoded, char_ids, distinct


def collate(items: Sequence[EncodedSentence], pad_index: int, auxiliary: bool = False
            ) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A padded batch; an ``auxiliary`` batch (multitask training) says so in its inputs and
    its target, so that the model uses and scores its auxiliary head."""
    words, lengths = pad_sequences([s.words for s in items], pad_index)  # (B, T), (B,)
    chars, char_lengths = pad_characters([s.chars for s in items], 0)  # (B, T, C), (B, T)
    casing_ids, _ = pad_sequences([s.casing for s in items], 0)  # (B, T)
    tags, _ = pad_sequences([s.tags for s in items], 0)  # (B, T)
    inputs: dict[str, Any] = {"words": words, "lengths": lengths, "chars": chars,
                              "char_lengths": char_lengths, "casing": casing_ids}
    if auxiliary:
        inputs["auxiliary"] = True
        return inputs, (tags, lengths, True)
    return inputs, (tags, lengths)


def make_loader(items: Sequence[EncodedSentence], *, batch_size: int, pad_index: int,
                shuffle: bool, seed: int = 0, auxiliary: bool = False) -> DataLoader:
    sampler = BucketBatchSampler([len(s.words) for s in items], batch_size, shuffle=shuffle,
                                 seed=seed)
    return DataLoader(list(items), batch_sampler=sampler,  # type: ignore[arg-type]
                      collate_fn=lambda batch: collate(batch, pad_index, auxiliary))


class MixedBatches:
    """Multitask epochs: every batch of ``main`` plus ``round(ratio * len(main))`` batches of
    ``auxiliary`` (continuing through the auxiliary data across epochs and starting it again
    when it runs out), in a shuffled order. In a distributed run each process mixes its own
    share of both (see :attr:`num_auxiliary`).
    """

    def __init__(self, main: DataLoader, auxiliary: DataLoader, ratio: float,
                 seed: int = 0) -> None:
        self.main = main
        self.auxiliary = auxiliary
        self.ratio = ratio
        self.seed = seed
        self.epoch = 0
        self._aux_iter: Iterator[Any] | None = None

    def shufflers(self) -> list[Any]:
        """What shuffles the batches: this mixing and the two loaders' samplers (each with a
        ``seed``)."""
        return [self, self.main.batch_sampler, self.auxiliary.batch_sampler]

    @property
    def num_auxiliary(self) -> int:
        """Auxiliary batches an epoch of this process: ``ratio`` times the main batches of
        an epoch on one process (at least 1), shared out as the main batches are."""
        sampler = self.main.batch_sampler  # a BucketBatchSampler (make_loader's)
        return -(-max(1, round(self.ratio * sampler.whole_len)) // sampler.shared_by())

    def _next_auxiliary(self) -> Any:
        if self._aux_iter is not None:
            batch = next(self._aux_iter, None)
            if batch is not None:
                return batch
        self._aux_iter = iter(self.auxiliary)
        return next(self._aux_iter)

    def __iter__(self) -> Iterator[Any]:
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        order = [False] * len(self.main) + [True] * self.num_auxiliary
        rng.shuffle(order)
        main = iter(self.main)
        for auxiliary in order:
            yield self._next_auxiliary() if auxiliary else next(main)

    def __len__(self) -> int:
        return len(self.main) + self.num_auxiliary
