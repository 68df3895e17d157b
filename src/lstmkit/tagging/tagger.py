"""The sequence tagger as a user meets it: train, evaluate, tag raw text, save and load.

>>> from lstmkit.tagging import Tagger, TaggerConfig, read_conll
>>> train = read_conll("wnut17train.conll", scheme="IOB2")
>>> tagger = Tagger.train(train, read_conll("emerging.dev.conll"),
...                       TaggerConfig(vectors="glove-6b-50d"))
>>> tagger.evaluate(read_conll("emerging.test.annotated")).scores.f1
>>> tagger.predict(["Empire State Building is in New York"])[0]
[Entity(text='Empire State Building', type='location', start=0, end=21, ...), ...]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lstmkit.tagging.config import TaggerConfig
from lstmkit.tagging.conll import Sentence, write_conll
from lstmkit.tagging.data import CASINGS, SentenceEncoder, collate, make_loader
from lstmkit.tagging.metrics import SpanF1, SpanScores, span_scores
from lstmkit.tagging.model import LSTMCRFTagger
from lstmkit.tagging.schemes import (
    allowed_transitions,
    convert,
    spans_from_tags,
    split_tag,
    tag_set,
)
from lstmkit.text.tokenize import Tokenizer
from lstmkit.text.vectors import embedding_matrix, load_vectors
from lstmkit.text.vocab import Vocabulary, char_vocabulary

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Entity:
    """A predicted entity: its text, type, character span ``[start, end)`` in the input
    text and token span ``[token_start, token_end)``."""

    text: str
    type: str
    start: int
    end: int
    token_start: int
    token_end: int


@dataclass
class TagEvaluation:
    """Scores of a tagger on labelled sentences, and its predictions (IOB2)."""

    scores: SpanScores
    sentences: list[Sentence] = field(repr=False)
    predictions: list[list[str]] = field(repr=False)

    def write_conll(self, path: str | Path) -> None:
        """``token gold predicted`` lines (IOB2), as conlleval reads them."""
        gold_iob2 = [Sentence(s.tokens, convert(s.tags or [], "IOB2", "IOB2", strict=False)
                              if s.tags else None) for s in self.sentences]
        write_conll(path, gold_iob2, self.predictions, tags_scheme="IOB2",
                    output_scheme="IOB2")


class Tagger:
    """A trained tagger: configuration, vocabularies and network together."""

    def __init__(self, config: TaggerConfig, words: Vocabulary, chars: Vocabulary,
                 tags: Vocabulary, model: LSTMCRFTagger) -> None:
        self.config = config
        self.words = words
        self.chars = chars
        self.tags = tags
        self.model = model
        self.encoder = SentenceEncoder(words, chars, tags, config.lowercase)
        self.tokenizer = Tokenizer(config.tokenizer)
        self.history: list[dict[str, float]] = []
        self.train_time_s: float | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, train: Sequence[Sentence], config: TaggerConfig) -> Tagger:
        """An untrained tagger whose vocabularies come from ``train`` (tags in any scheme)."""
        if len(train) == 0:
            raise ValueError("train must hold at least one sentence, got none")
        if any(s.tags is None for s in train):
            raise ValueError("train sentences must carry tags, got an unlabelled sentence")
        keys = ([t.lower() for t in s.tokens] if config.lowercase else s.tokens for s in train)
        words = Vocabulary.build(keys, min_freq=config.min_freq, max_size=config.max_vocab)
        chars = char_vocabulary(s.tokens for s in train)
        types = {span.type for s in train for span in spans_from_tags(s.tags or [])}
        if not types:
            raise ValueError("train holds no entities (every tag is 'O')")
        tags = Vocabulary(tag_set(types, config.tag_scheme), pad=None, unk=None)
        weights = None
        embedding_dim = config.embedding_dim or 100
        if config.vectors is not None:
            vectors = load_vectors(config.vectors)
            if config.embedding_dim is not None and config.embedding_dim != vectors.dim:
                raise ValueError(f"embedding_dim must equal the vectors' size {vectors.dim} "
                                 f"(or be None), got {config.embedding_dim}")
            for word in vectors.words[: config.vectors_vocab]:
                words.add(word)
            embedding_dim = vectors.dim
            weights, _ = embedding_matrix(words, vectors)
        model = cls._network(config, words, chars, tags, embedding_dim, weights)
        return cls(config, words, chars, tags, model)

    @staticmethod
    def _network(config: TaggerConfig, words: Vocabulary, chars: Vocabulary,
                 tags: Vocabulary, embedding_dim: int,
                 weights: torch.Tensor | None = None) -> LSTMCRFTagger:
        allowed, start, end = allowed_transitions(tags.itos, config.tag_scheme)
        return LSTMCRFTagger(
            len(words), embedding_dim, len(tags),
            pad_index=words.pad_index, unk_index=words.unk_index,
            num_chars=len(chars), char_encoder=config.char_encoder, char_dim=config.char_dim,
            char_hidden=config.char_hidden, num_casings=len(CASINGS) if config.casing else 0,
            hidden_size=config.hidden_size, num_layers=config.num_layers,
            bidirectional=config.bidirectional, lstm_options=config.lstm,
            decoder=config.decoder, dropout=config.dropout, word_dropout=config.word_dropout,
            embedding_weights=weights, freeze=config.freeze_embeddings,
            allowed=allowed, allowed_start=start, allowed_end=end,
        )

    @classmethod
    def train(
        cls,
        train: Sequence[Sentence],
        dev: Sequence[Sentence] | None = None,
        config: TaggerConfig | None = None,
        train_config: Any = None,
    ) -> Tagger:
        """Build vocabularies from ``train``, train with ``lstmkit.training.fit`` (early
        stopping and best weights on dev entity F1 when ``dev`` is given)."""
        from lstmkit.training import TrainConfig, fit

        config = config or TaggerConfig()
        train_config = train_config or TrainConfig()
        if dev is not None and train_config.monitor == "val_loss":
            train_config = train_config.replace(monitor="val_f1", monitor_mode="max")
        tagger = cls.build(train, config)
        train_loader = tagger._loader(train, "train", shuffle=True,
                                      seed=train_config.seed or 0)
        dev_loader = tagger._loader(dev, "dev", shuffle=False) if dev is not None else None
        result = fit(tagger.model, tagger.model.loss, train_loader, dev_loader, train_config,
                     metrics={"f1": SpanF1(tagger.model.decode, tagger.tags.itos)})
        tagger.model.eval()
        tagger.history = result.history
        tagger.train_time_s = result.wall_time_s
        return tagger

    def _encode_tags(self, sentence: Sentence, where: str) -> list[str]:
        """Gold tags of ``sentence`` in the model's scheme; an entity type unseen in training
        is a ValueError."""
        assert sentence.tags is not None
        tags = convert(sentence.tags, "IOB2", self.config.tag_scheme, strict=False)
        for tag in tags:
            if tag not in self.tags:
                raise ValueError(
                    f"{where}: unknown tag {tag!r} (entity type {split_tag(tag)[1]!r} never "
                    f"seen in training); known types: {sorted(self.entity_types)}"
                )
        return tags

    def _loader(self, sentences: Sequence[Sentence], source: str, *, shuffle: bool,
                seed: int = 0) -> Any:
        if len(sentences) == 0:
            raise ValueError(f"{source} must hold at least one sentence, got none")
        items = []
        for n, s in enumerate(sentences):
            if s.tags is None:
                raise ValueError(f"{source}: sentence {n + 1} has no tags")
            where = f"{s.source}:{s.line}" if s.source else f"{source} sentence {n + 1}"
            items.append(self.encoder.encode(s.tokens, self._encode_tags(s, where)))
        return make_loader(items, batch_size=self.config.batch_size,
                           pad_index=self.words.pad_index, shuffle=shuffle, seed=seed)

    @property
    def entity_types(self) -> set[str]:
        return {split_tag(t)[1] for t in self.tags.itos if t != "O"}

    # -- inference ---------------------------------------------------------------------------
    @torch.inference_mode()
    def tag_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int = 128
                   ) -> list[list[str]]:
        """Predicted tags (IOB2) for pre-tokenised sentences. Sentences of any length work,
        including longer than any seen in training."""
        self.model.eval()
        encoded = [self.encoder.encode(tokens) for tokens in sentences]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].words))
        out: list[list[str]] = [[] for _ in encoded]
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            inputs, _ = collate([encoded[i] for i in rows], self.words.pad_index)
            emissions = self.model(**inputs)  # (B, T, K)
            for i, path in zip(rows, self.model.decode(emissions, inputs["lengths"]),
                               strict=True):
                tags = self.tags.decode(path)
                out[i] = convert(tags, self.config.tag_scheme, "IOB2", strict=False)
        return out

    def predict(self, texts: Sequence[str], batch_size: int = 128) -> list[list[Entity]]:
        """Entities in raw texts, tokenised with the configured tokenizer."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, got a single str")
        tokenized = [self.tokenizer.spans(t) for t in texts]
        keep = [n for n, toks in enumerate(tokenized) if toks]
        tagged = self.tag_tokens([[t.text for t in tokenized[n]] for n in keep], batch_size)
        result: list[list[Entity]] = [[] for _ in texts]
        for n, tags in zip(keep, tagged, strict=True):
            tokens = tokenized[n]
            for span in spans_from_tags(tags):
                start, end = tokens[span.start].start, tokens[span.end - 1].end
                result[n].append(Entity(texts[n][start:end], span.type, start, end,
                                        span.start, span.end))
        return result

    def evaluate(self, sentences: Sequence[Sentence], source: str = "data") -> TagEvaluation:
        """Entity-level scores (conlleval / seqeval default mode) and the predictions."""
        if len(sentences) == 0:
            raise ValueError(f"{source} must hold at least one sentence, got none")
        gold = []
        for n, s in enumerate(sentences):
            if s.tags is None:
                raise ValueError(f"{source}: sentence {n + 1} has no tags")
            self._encode_tags(s, f"{s.source}:{s.line}" if s.source else f"{source} "
                              f"sentence {n + 1}")
            gold.append(s.tags)
        predictions = self.tag_tokens([s.tokens for s in sentences])
        return TagEvaluation(span_scores(gold, predictions), list(sentences), predictions)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``words.json``, ``chars.json``, ``tags.json``, ``model.pt``
        and ``meta.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        self.words.save(directory / "words.json")
        self.chars.save(directory / "chars.json")
        self.tags.save(directory / "tags.json")
        torch.save(self.model.state_dict(), directory / "model.pt")
        meta = {"format_version": FORMAT_VERSION, "kind": "tagger",
                "embedding_dim": self.model.embed.embedding.embedding_dim,
                "history": self.history, "train_time_s": self.train_time_s}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Tagger:
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory} is not a saved tagger (no meta.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != "tagger":
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, expected "
                             "'tagger'")
        config = TaggerConfig.from_dict(json.loads((directory / "config.json").read_text()))
        words = Vocabulary.load(directory / "words.json")
        chars = Vocabulary.load(directory / "chars.json")
        tags = Vocabulary.load(directory / "tags.json")
        model = cls._network(config, words, chars, tags, meta["embedding_dim"])
        model.load_state_dict(torch.load(directory / "model.pt", map_location="cpu",
                                         weights_only=True))
        model.eval()
        tagger = cls(config, words, chars, tags, model)
        tagger.history = meta.get("history", [])
        tagger.train_time_s = meta.get("train_time_s")
        return tagger
