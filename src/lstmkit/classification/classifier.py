"""The text classifier as a user meets it: train, evaluate, predict, save and load.

>>> from lstmkit.classification import Classifier, ClassifierConfig, read_examples
>>> from lstmkit.training import TrainConfig
>>> clf = Classifier.train(read_examples("stsa.binary.train"), read_examples("stsa.binary.dev"),
...                        ClassifierConfig(vectors="glove-6b-50d"), TrainConfig(max_epochs=10))
>>> clf.predict(["a gorgeous , witty film"])[0].label
'1'
>>> clf.save("runs/sst2")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from lstmkit.classification.config import ClassifierConfig
from lstmkit.classification.data import TextEncoder, encode_labels, make_loader
from lstmkit.classification.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    plot_confusion_matrix,
)
from lstmkit.classification.model import LSTMClassifier
from lstmkit.classification.readers import Example
from lstmkit.text.batching import pad_sequences
from lstmkit.text.tokenize import Tokenizer
from lstmkit.text.vectors import embedding_matrix, load_vectors
from lstmkit.text.vocab import Vocabulary

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Prediction:
    """A predicted label and the probability of every label."""

    text: str
    label: str
    probabilities: dict[str, float]


@dataclass
class Evaluation:
    """Scores of a classifier on labelled examples."""

    accuracy: float
    macro_f1: float
    confusion: np.ndarray
    labels: list[str]
    predictions: list[Prediction] = field(repr=False)
    gold: list[str] = field(repr=False)

    def report(self) -> str:
        return classification_report(self.confusion, self.labels)

    def plot_confusion(self, path: str | Path, title: str = "") -> Path:
        return plot_confusion_matrix(self.confusion, self.labels, path, title=title)

    def write_predictions(self, path: str | Path) -> None:
        write_predictions(path, self.predictions, self.labels, gold=self.gold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "labels": self.labels,
            "confusion": self.confusion.tolist(),
        }


def write_predictions(
    path: str | Path,
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    gold: Sequence[str] | None = None,
) -> None:
    """TSV: ``[gold] predicted p(label_1) ... p(label_K) text`` with a header row."""
    head = (["gold"] if gold is not None else []) + ["predicted"] + [f"p_{k}" for k in labels]
    rows = ["\t".join([*head, "text"])]
    for n, p in enumerate(predictions):
        cells = ([gold[n]] if gold is not None else []) + [p.label]
        cells += [f"{p.probabilities[k]:.4f}" for k in labels]
        rows.append("\t".join([*cells, p.text.replace("\t", " ")]))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


def _accuracy_metric(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == target).float().mean()


class Classifier:
    """A trained text classifier: configuration, vocabularies and network together."""

    def __init__(
        self,
        config: ClassifierConfig,
        words: Vocabulary,
        labels: Vocabulary,
        model: LSTMClassifier,
    ) -> None:
        self.config = config
        self.words = words
        self.labels = labels
        self.model = model
        self.encoder = TextEncoder(
            Tokenizer(config.tokenizer, lowercase=config.lowercase), words, config.max_length
        )
        self.history: list[dict[str, float]] = []
        self.train_time_s: float | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, train: Sequence[Example], config: ClassifierConfig) -> Classifier:
        """An untrained classifier whose vocabularies come from ``train``."""
        if len(train) == 0:
            raise ValueError("train must hold at least one example, got none")
        tokenizer = Tokenizer(config.tokenizer, lowercase=config.lowercase)
        words = Vocabulary.build(
            (tokenizer(e.text) for e in train), min_freq=config.min_freq,
            max_size=config.max_vocab,
        )
        missing = [n for n, e in enumerate(train, start=1) if e.label is None]
        if missing:
            raise ValueError(f"train: example {missing[0]} has no label")
        labels = Vocabulary.build(
            [[e.label for e in train]], pad=None, unk=None  # type: ignore[misc]
        )
        labels = Vocabulary(sorted(labels.itos, key=_label_key), pad=None, unk=None)
        if len(labels) < 2:
            raise ValueError(f"train must hold at least 2 labels, got {labels.itos}")
        weights = None
        embedding_dim = config.embedding_dim or 100
        if config.vectors is not None:
            vectors = load_vectors(config.vectors)
            if config.embedding_dim is not None and config.embedding_dim != vectors.dim:
                raise ValueError(
                    f"embedding_dim must equal the vectors' size {vectors.dim} "
                    f"(or be None), got {config.embedding_dim}"
                )
            for word in vectors.words[: config.vectors_vocab]:
                words.add(word)
            embedding_dim = vectors.dim
            weights, _ = embedding_matrix(words, vectors)
        model = cls._network(config, len(words), len(labels), embedding_dim, words, weights)
        return cls(config, words, labels, model)

    @staticmethod
    def _network(
        config: ClassifierConfig,
        V: int,
        K: int,
        E: int,
        words: Vocabulary,
        weights: torch.Tensor | None = None,
    ) -> LSTMClassifier:
        return LSTMClassifier(
            V, K, E,
            pad_index=words.pad_index, unk_index=words.unk_index,
            hidden_size=config.hidden_size, num_layers=config.num_layers,
            bidirectional=config.bidirectional, lstm_options=config.lstm,
            pooling=config.pooling, dropout=config.dropout,
            embedding_dropout=config.embedding_dropout, word_dropout=config.word_dropout,
            embedding_weights=weights, freeze=config.freeze_embeddings,
        )

    @classmethod
    def train(
        cls,
        train: Sequence[Example],
        dev: Sequence[Example] | None = None,
        config: ClassifierConfig | None = None,
        train_config: Any = None,
    ) -> Classifier:
        """Build vocabularies from ``train``, train with ``lstmkit.training.fit`` (early
        stopping and best weights on dev accuracy when ``dev`` is given) and return the
        trained classifier."""
        from lstmkit.training import TrainConfig, fit

        config = config or ClassifierConfig()
        train_config = train_config or TrainConfig()
        if dev is not None and train_config.monitor == "val_loss":
            train_config = train_config.replace(monitor="val_accuracy", monitor_mode="max")
        clf = cls.build(train, config)
        seed = train_config.seed or 0
        train_loader = clf._loader(train, "train", shuffle=True, seed=seed)
        dev_loader = clf._loader(dev, "dev", shuffle=False) if dev is not None else None
        result = fit(
            clf.model, F.cross_entropy, train_loader, dev_loader, train_config,
            metrics={"accuracy": _accuracy_metric},
        )
        clf.model.eval()
        clf.history = result.history
        clf.train_time_s = result.wall_time_s
        return clf

    def _loader(self, examples: Sequence[Example], source: str, *, shuffle: bool,
                seed: int = 0) -> Any:
        if len(examples) == 0:
            raise ValueError(f"{source} must hold at least one example, got none")
        ids = [self.encoder.encode(e.text) for e in examples]
        targets = encode_labels(examples, self.labels, source)
        return make_loader(ids, targets, batch_size=self.config.batch_size,
                           pad_index=self.words.pad_index, shuffle=shuffle, seed=seed)

    # -- inference ---------------------------------------------------------------------------
    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """``(N, K)`` class probabilities, columns in the order of :attr:`label_names`."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, got a single str")
        self.model.eval()
        ids = [self.encoder.encode(t) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            tokens, lengths = pad_sequences([ids[i] for i in rows], self.words.pad_index)
            logits = self.model(tokens, lengths)  # (B, K)
            probs[rows] = torch.softmax(logits, dim=-1).numpy()
        return probs

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[Prediction]:
        probs = self.predict_proba(texts, batch_size)
        names = self.label_names
        return [
            Prediction(text, names[int(p.argmax())], {k: float(v) for k, v in zip(names, p,
                                                                                     strict=True)})
            for text, p in zip(texts, probs, strict=True)
        ]

    @property
    def label_names(self) -> list[str]:
        return list(self.labels.itos)

    def evaluate(self, examples: Sequence[Example], source: str = "data") -> Evaluation:
        """Accuracy, macro-F1, confusion matrix and per-example predictions. A label never
        seen in training is a ValueError naming it."""
        if len(examples) == 0:
            raise ValueError(f"{source} must hold at least one example, got none")
        gold = encode_labels(examples, self.labels, source)
        predictions = self.predict([e.text for e in examples])
        pred = [self.labels.index(p.label) for p in predictions]
        matrix = confusion_matrix(gold, pred, len(self.labels))
        return Evaluation(
            accuracy=accuracy(matrix), macro_f1=macro_f1(matrix), confusion=matrix,
            labels=self.label_names, predictions=predictions,
            gold=[e.label for e in examples],  # type: ignore[misc]
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``words.json``, ``labels.json``, ``model.pt`` and
        ``meta.json`` (training history) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        self.words.save(directory / "words.json")
        self.labels.save(directory / "labels.json")
        torch.save(self.model.state_dict(), directory / "model.pt")
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "classifier",
            "embedding_dim": self.model.embed.embedding.embedding_dim,
            "history": self.history,
            "train_time_s": self.train_time_s,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory} is not a saved classifier (no meta.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != "classifier":
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, expected "
                             "'classifier'")
        config = ClassifierConfig.from_dict(json.loads((directory / "config.json").read_text()))
        words = Vocabulary.load(directory / "words.json")
        labels = Vocabulary.load(directory / "labels.json")
        # the saved weights replace any pretrained init, so vectors are not read again
        model = cls._network(config, len(words), len(labels), meta["embedding_dim"], words)
        state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        clf = cls(config, words, labels, model)
        clf.history = meta.get("history", [])
        clf.train_time_s = meta.get("train_time_s")
        return clf


def _label_key(label: str) -> tuple[int, float | str]:
    """Numeric labels in numeric order (SST's 0..4), others alphabetically."""
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)
