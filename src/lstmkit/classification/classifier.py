"""The text classifier as a user meets it: train, evaluate, predict, save and load.

>>> from lstmkit.classification import Classifier, ClassifierConfig, read_examples
>>> from lstmkit.training import TrainConfig
>>> clf = Classifier(ClassifierConfig(vectors="glove-6b-50d"), TrainConfig(max_epochs=10))
>>> clf.fit(read_examples("stsa.binary.train"), read_examples("stsa.binary.dev"))
>>> clf.predict(["a gorgeous , witty film"])[0].label
'1'
>>> clf.save("runs/sst2")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from lstmkit.classification.config import ClassifierConfig
from lstmkit.classification.data import (
    NUMBER,
    TextEncoder,
    check_texts,
    encode_labels,
    label_text,
    make_loader,
)
from lstmkit.classification.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    per_class_scores,
    plot_confusion_matrix,
    present_classes,
)
from lstmkit.classification.model import LSTMClassifier, ProbabilityAverage
from lstmkit.classification.readers import Example
from lstmkit.saving import path_arg
from lstmkit.text.batching import inference_batches, pad_sequences
from lstmkit.text.config import saved_vector_options
from lstmkit.text.fitting import (
    check_dev_monitor,
    effective_training,
    examples_read,
    model_settings,
    text_devices,
    train_members,
)
from lstmkit.text.inputs import predict_inputs, read_once
from lstmkit.text.saving import (
    SAVE_LOCK,
    json_file,
    load_weights,
    meta_header,
    read_json,
    read_meta,
    write_saved,
)
from lstmkit.text.tokenize import Tokenizer
from lstmkit.text.vectors import (
    check_coverage,
    embedding_matrix,
    load_vectors,
    vocabulary_words,
)
from lstmkit.text.vocab import Vocabulary
from lstmkit.training.config import check_lightning_names, settings_of
from lstmkit.training.members import (
    check_member_seeds,
    member_callbacks,
)

FORMAT_VERSION = 1
SAVED_FILES = ("meta.json", "config.json", "training.json", "words.json", "labels.json",
               "model.pt", SAVE_LOCK, "checkpoints/")
"""A saved classifier's own files in its folder (and ``checkpoints/``, where ``classify
train`` keeps checkpoints and ``--resume`` reads them); a save leaves all else there alone."""


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
        """Accuracy, macro-F1, per-class precision/recall/F1/support (as :meth:`report`
        prints them), labels and the confusion matrix."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": _per_class(self.confusion, self.labels),
            "labels": self.labels,
            "confusion": self.confusion.tolist(),
        }


def _per_class(matrix: np.ndarray, labels: Sequence[str]
               ) -> dict[str, dict[str, float | int | None]]:
    """Each class's scores; None (null) for a class neither in the data nor predicted, which
    has none (and which the macro F1 leaves out)."""
    scores = per_class_scores(matrix)
    present = present_classes(matrix)
    return {label: {**{name: float(scores[name][k]) if present[k] else None
                       for name in ("precision", "recall", "f1")},
                    "support": int(scores["support"][k])}
            for k, label in enumerate(labels)}


def write_predictions(
    path: str | Path,
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    gold: Sequence[str] | None = None,
) -> None:
    r"""TSV: ``[gold] predicted p(label_1) ... p(label_K) text`` with a header row, one row a
    prediction. Cells are escaped with :func:`tsv_escape` (a backslash, tab, line feed or
    carriage return in a text is written ``\\``, ``\t``, ``\n``, ``\r``), so that a text that
    holds line breaks stays on its row."""
    head = (["gold"] if gold is not None else []) + ["predicted"] + [f"p_{k}" for k in labels]
    rows = ["\t".join(tsv_escape(c) for c in [*head, "text"])]
    for n, p in enumerate(predictions):
        cells = ([gold[n]] if gold is not None else []) + [p.label]
        cells += [f"{p.probabilities[k]:.4f}" for k in labels]
        rows.append("\t".join(tsv_escape(c) for c in [*cells, p.text]))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_escape(cell: str) -> str:
    r"""``cell`` with backslash, tab, line feed and carriage return written as ``\\``,
    ``\t``, ``\n`` and ``\r``, so that it fits one TSV cell."""
    return cell.translate(_TSV_ESCAPES)


def _accuracy_metric(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == target).float().mean()


def label_vocabulary(train: Sequence[Example]) -> Vocabulary:
    """The labels of ``train``, in the order a classifier trained on it knows them."""
    seen = sorted({label_text(e.label, "train", n) for n, e in enumerate(train, start=1)},
                  key=_label_key)
    _check_numbers_written_alike(seen)
    return Vocabulary(seen, pad=None, unk=None)


class Classifier:
    """A text classifier: configuration, vocabularies and network together.

    ``Classifier(config, training).fit(train, dev)`` builds the vocabularies from ``train``
    only, trains with ``lstmkit.training.fit`` (best weights, and early stopping with
    ``training.early_stopping_patience``, on dev accuracy when ``dev`` is given) and returns
    the classifier, ready to ``predict``,
    ``evaluate`` and ``save``; ``Classifier.load(directory)`` gives it back.
    """

    dev_metric: ClassVar[str] = "accuracy"
    """What tuning (``lstmkit.text.tuning``) scores on dev: ``evaluate(...).accuracy``."""

    def __init__(self, config: ClassifierConfig | None = None, training: Any = None, *,
                 dev_monitor: bool | None = None) -> None:
        from lstmkit.training import TrainConfig

        config = config if config is not None else ClassifierConfig()
        training = training if training is not None else TrainConfig()
        if not isinstance(config, ClassifierConfig):
            raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
        if not isinstance(training, TrainConfig):
            raise TypeError(f"training must be a TrainConfig, got {type(training).__name__}")
        check_dev_monitor(dev_monitor)
        self.config = config
        self.training = training
        # True: monitor dev accuracy when dev data is given; False: training.monitor as given;
        # None: dev accuracy when training.monitor is left at its default 'val_loss'
        self.dev_monitor = dev_monitor
        self.words: Vocabulary | None = None
        self.labels: Vocabulary | None = None
        self.model: LSTMClassifier | ProbabilityAverage | None = None
        self.encoder: TextEncoder | None = None
        self.history: list[dict[str, float]] = []
        self.snapshot_epochs: list[int] = []
        self.train_time_s: float | None = None
        # share of the training words found in config.vectors (None without vectors)
        self.vectors_coverage: float | None = None

    def _set(self, words: Vocabulary, labels: Vocabulary,
             model: LSTMClassifier | ProbabilityAverage) -> None:
        self.words, self.labels, self.model = words, labels, model
        self.encoder = TextEncoder(Tokenizer(self.config.tokenizer,
                                             lowercase=self.config.lowercase),
                                   words, self.config.max_length)

    def _ready(self) -> tuple[Vocabulary, Vocabulary, LSTMClassifier | ProbabilityAverage,
                              TextEncoder]:
        if self.model is None or self.words is None or self.labels is None \
                or self.encoder is None:
            raise ValueError("the classifier has no model yet: call fit(train, dev) or "
                             "Classifier.load(directory) first")
        return self.words, self.labels, self.model, self.encoder

    # -- construction ------------------------------------------------------------------------
    def build(self, train: Sequence[Example]) -> Classifier:
        """Vocabularies from ``train`` and an untrained network; returns ``self``."""
        train = read_once(train)  # type: ignore[assignment]
        config = self.config
        if len(train) == 0:
            raise ValueError("train must hold at least one example, got none")
        check_texts(train, "train")
        tokenizer = Tokenizer(config.tokenizer, lowercase=config.lowercase)
        words = Vocabulary.build(
            (tokenizer(e.text) for e in train), min_freq=config.min_freq,
            max_size=config.max_vocab,
        )
        labels = label_vocabulary(train)
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
            self.vectors_coverage = check_coverage(  # training words only
                words, vectors, lowercase=config.lowercase)
            for word in vocabulary_words(vectors, config.vectors_vocab, config.lowercase):
                words.add(word)
            embedding_dim = vectors.dim
            weights, _ = embedding_matrix(words, vectors, lowercase=config.lowercase)
        self._set(words, labels, _network(config, len(words), len(labels), embedding_dim,
                                          words, weights))
        return self

    def fit(self, train: Sequence[Example], dev: Sequence[Example] | None = None, *,
            resume: bool = False,
            callbacks: Sequence[Any] | Callable[[int], Sequence[Any]] = ()) -> Classifier:
        """Build from ``train`` and train; returns ``self``.

        With ``config.snapshots`` > 1 each network contributes the snapshots of its best dev
        checks; with ``config.ensemble`` > 1 that many networks are trained, network ``m``
        with seed ``training.seed + m`` (one drawn from torch's global generator when
        ``training.seed`` is None, so that unseeded runs differ in their batch order too
        unless torch is seeded; and, with
        ``training.checkpoint_dir`` or ``training.log_dir``, its own ``member<m>`` folder
        there). The model then averages
        their probabilities. ``resume=True`` continues an interrupted run from
        ``training.checkpoint_dir`` (each network from its last checkpoint; one that has none
        starts fresh), giving the same model as an uninterrupted run. ``self.training``
        becomes the settings actually used (the monitor chosen for dev data).

        ``callbacks`` are extra Lightning callbacks (a pruning callback when tuning): a
        sequence serves network 0 and each later network gets its own deep copy, or a
        function ``member -> callbacks`` builds each network's.
        """
        train, dev = read_once(train), read_once(dev)  # type: ignore[assignment]
        from lstmkit.training import seed_everything

        config = self.config
        train_config = effective_training(self.training, has_dev=dev is not None,
                                          dev_monitor=self.dev_monitor, metric="accuracy")
        train_config = text_devices(train_config)
        check_member_seeds(train_config.seed, config.ensemble)
        check_lightning_names(train_config)  # (before the vocabulary and vectors are read)
        callbacks_of = member_callbacks(callbacks, config.ensemble)
        if config.snapshots > 1 and dev is None:
            raise ValueError(f"snapshots={config.snapshots} picks checkpoints on dev "
                             "data, got dev=None; pass dev or set snapshots=1")
        if isinstance(config.class_weight, Mapping):  # said before anything is built
            check_texts(train, "train")
            check_class_weight(config.class_weight, label_vocabulary(train))
        seed_everything(train_config.seed)  # the first network's initial weights too
        self.build(train)
        words, labels, first, encoder = self._ready()
        assert isinstance(first, LSTMClassifier)
        dim = _embedding_dim(first)
        loss = partial(_cross_entropy, weight=_class_weights(config.class_weight, train, labels),
                       label_smoothing=config.label_smoothing)
        trained = train_members(
            first, lambda: _network(config, len(words), len(labels), dim, words),
            count=config.ensemble, snapshots=config.snapshots, training=train_config,
            train_loader=lambda _, seed: self._loader(train, "train", shuffle=True, seed=seed),
            dev_loader=self._loader(dev, "dev", shuffle=False) if dev is not None else None,
            loss=lambda _: loss, metrics=lambda _: {"accuracy": _accuracy_metric},
            run_settings={**model_settings(config, words=words, labels=labels),
                          "training and dev examples": examples_read(
                              # (as the model reads them: its tokens, and the label as
                              # label_text reads it, " pos" as "pos")
                              train, dev, lambda e: "\x1f".join(encoder.tokens(e.text))
                              + f"\0{str(e.label).strip()}")},
            log_settings=settings_of("model", config), callbacks=callbacks_of, resume=resume)
        members = trained.networks
        self.history, self.snapshot_epochs = trained.history, trained.snapshot_epochs
        self.train_time_s = trained.train_time_s
        model = members[0] if len(members) == 1 else ProbabilityAverage(members)
        self.model = model.eval()
        self.training = train_config
        return self

    def _loader(self, examples: Sequence[Example], source: str, *, shuffle: bool,
                seed: int = 0) -> Any:
        if len(examples) == 0:
            raise ValueError(f"{source} must hold at least one example, got none")
        words, labels, _, encoder = self._ready()
        check_texts(examples, source)
        ids = [encoder.encode(e.text) for e in examples]
        targets = encode_labels(examples, labels, source)
        return make_loader(ids, targets, batch_size=self.config.batch_size,
                           pad_index=words.pad_index, shuffle=shuffle, seed=seed)

    # -- inference ---------------------------------------------------------------------------
    def predict_proba(self, texts: Iterable[str], batch_size: int = 256, *,
                      progress: bool | None = False) -> np.ndarray:
        """``(N, K)`` class probabilities, columns in the order of :attr:`label_names`.

        ``texts``: any iterable of str (a list, a generator, a pandas Series: taken in
        order, by position); ``batch_size``: texts per forward pass, an int >= 1;
        ``progress``: a bar on stderr over the texts (``None``: only when stderr is a
        terminal)."""
        return self._predict_proba(predict_inputs(texts, batch_size), batch_size, progress)

    @torch.inference_mode()
    def _predict_proba(self, texts: list[str], batch_size: int,
                       progress: bool | None = False) -> np.ndarray:
        """:meth:`predict_proba` of checked ``texts`` and ``batch_size``."""
        words, labels, model, encoder = self._ready()
        model.eval()
        ids = [encoder.encode(t) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs = np.zeros((len(ids), len(labels)), dtype=np.float32)
        for rows in inference_batches(order, batch_size, progress, "texts"):
            tokens, lengths = pad_sequences([ids[i] for i in rows], words.pad_index)
            logits = model(tokens, lengths)  # (B, K)
            probs[rows] = torch.softmax(logits, dim=-1).numpy()
        return probs

    def predict(self, texts: Iterable[str], batch_size: int = 256, *,
                progress: bool | None = False) -> list[Prediction]:
        """The predicted label and probabilities of each text (arguments as for
        :meth:`predict_proba`)."""
        texts = predict_inputs(texts, batch_size)
        probs = self._predict_proba(texts, batch_size, progress)
        names = self.label_names
        return [
            Prediction(text, names[int(p.argmax())], {k: float(v) for k, v in zip(names, p,
                                                                                     strict=True)})
            for text, p in zip(texts, probs, strict=True)
        ]

    @property
    def label_names(self) -> list[str]:
        return list(self._ready()[1].itos)

    def evaluate(self, examples: Sequence[Example], source: str = "data", *,
                 progress: bool | None = False) -> Evaluation:
        """Accuracy, macro-F1, confusion matrix and per-example predictions. A label never
        seen in training is a ValueError naming it. ``progress`` as for
        :meth:`predict_proba`."""
        examples = read_once(examples)  # type: ignore[assignment]
        if len(examples) == 0:
            raise ValueError(f"{source} must hold at least one example, got none")
        _, labels, _, _ = self._ready()
        check_texts(examples, source)
        gold = encode_labels(examples, labels, source)
        predictions = self.predict([e.text for e in examples], progress=progress)
        pred = [labels.index(p.label) for p in predictions]
        matrix = confusion_matrix(gold, pred, len(labels))
        return Evaluation(
            accuracy=accuracy(matrix), macro_f1=macro_f1(matrix), confusion=matrix,
            labels=self.label_names, predictions=predictions,
            gold=[labels.itos[k] for k in gold],
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``words.json``, ``labels.json``, ``model.pt`` and
        ``meta.json`` (training history) into ``directory``, ``meta.json`` last: a save that
        stops part way leaves a folder that :meth:`load` refuses (see
        :func:`lstmkit.text.saving.write_saved`)."""
        words, labels, model, _ = self._ready()
        meta = {
            **meta_header("classifier", FORMAT_VERSION),
            "embedding_dim": _embedding_dim(model),
            "members": len(model.members) if isinstance(model, ProbabilityAverage) else 1,
            "snapshot_epochs": self.snapshot_epochs,
            "history": self.history,
            "train_time_s": self.train_time_s,
            "vectors_coverage": self.vectors_coverage,
        }
        return write_saved(directory, {
            "config.json": json_file(self.config.to_dict()),
            "training.json": json_file(self.training.to_dict(written=True)),
            "words.json": words.save, "labels.json": labels.save,
            "model.pt": partial(torch.save, model.state_dict())}, meta)

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        directory = path_arg("directory", directory)
        meta = read_meta(directory, "classifier", FORMAT_VERSION)
        config = ClassifierConfig.from_dict(saved_vector_options(
            read_json(directory, "config.json", "classifier"), str(directory / "config.json")))
        words = Vocabulary.from_dict(read_json(directory, "words.json", "classifier"))
        labels = Vocabulary.from_dict(read_json(directory, "labels.json", "classifier"))
        # the saved weights replace any pretrained init, so vectors are not read again
        model: LSTMClassifier | ProbabilityAverage = _network(
            config, len(words), len(labels), meta["embedding_dim"], words)
        if meta.get("members", 1) > 1:
            model = ProbabilityAverage(
                [model] + [_network(config, len(words), len(labels), meta["embedding_dim"],
                                    words) for _ in range(meta["members"] - 1)])
        load_weights(model, directory, "classifier")
        model.eval()
        training = None
        if (directory / "training.json").is_file():
            from lstmkit.training import TrainConfig

            training = TrainConfig.from_dict(read_json(directory, "training.json", "classifier"))
        clf = cls(config, training)
        clf._set(words, labels, model)
        clf.history = meta.get("history", [])
        clf.snapshot_epochs = meta.get("snapshot_epochs", [])
        clf.train_time_s = meta.get("train_time_s")
        clf.vectors_coverage = meta.get("vectors_coverage")
        return clf


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


def _embedding_dim(model: LSTMClassifier | ProbabilityAverage) -> int:
    first = model.members[0] if isinstance(model, ProbabilityAverage) else model
    return int(first.embed.embedding.embedding_dim)  # type: ignore[union-attr]


def _label_key(label: str) -> tuple[int, float, str]:
    """Numeric labels in numeric order (SST's 0..4), then the others alphabetically; ties
    broken by the label itself, so that the order never depends on the hash seed."""
    if NUMBER.fullmatch(label):
        return (0, float(label), label)
    return (1, 0.0, label)


def _class_weights(class_weight: str | Mapping[str, float] | None,
                   train: Sequence[Example], labels: Vocabulary) -> torch.Tensor | None:
    """The loss's weight per label index for ``class_weight`` (see ClassifierConfig)."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        counts = np.bincount(encode_labels(train, labels, "train"), minlength=len(labels))
        return torch.tensor(len(train) / (len(labels) * np.maximum(counts, 1)),
                            dtype=torch.float32)
    assert isinstance(class_weight, Mapping)  # (its labels checked by fit, before build)
    return torch.tensor([class_weight.get(label, 1.0) for label in labels.itos],
                        dtype=torch.float32)


def check_class_weight(class_weight: str | Mapping[str, float] | None,
                       labels: Vocabulary) -> None:
    """A ValueError when ``class_weight`` names a label that ``labels`` (the training data's)
    lack; said before anything is built or trained."""
    unknown = sorted(set(class_weight) - set(labels.itos)) if isinstance(
        class_weight, Mapping) else []
    if unknown:
        # an unquoted YAML label 01 or 010 is read as the number 1 or 8 (octal, YAML 1.1)
        read = [(known, _yaml_number(known)) for known in labels.itos]
        as_numbers = [(label, known) for label in unknown for known, number in read
                      if number is not None and str(number) == label and known != label]
        hint = "" if not as_numbers else "; YAML reads an unquoted " + ", ".join(
            f"{known} as the number {label}" for label, known in as_numbers) + \
            ": quote the label (" + ", ".join(
                f"'{known}': {class_weight[label]:g}" for label, known in as_numbers) + ")"
        raise ValueError(f"class_weight names labels not in the training data: {unknown}; "
                         f"the labels are {labels.itos}{hint}")


def _yaml_number(text: str) -> int | None:
    """The int YAML reads ``text`` (a label) as, unquoted; None when it reads none."""
    from lstmkit import yamlio

    if not text.isascii() or not text.isdigit():
        return None
    try:
        value = yamlio.load(text)
    except Exception:  # (text YAML cannot read: not a number, then)
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor, *,
                   weight: torch.Tensor | None, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy with class weights on the logits' device (a module-level function, so
    that the loss pickles for DDP's spawned processes)."""
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing,
                           weight=None if weight is None else weight.to(logits.device))


def _check_numbers_written_alike(labels: Sequence[str]) -> None:
    """Labels that are one number written two ways (``1`` and ``1.0``) are a ValueError
    naming both: one class or two cannot be told."""
    first: dict[float, str] = {}
    for label in labels:
        kind, value, _ = _label_key(label)
        if kind == 0 and first.setdefault(value, label) != label:
            raise ValueError(
                f"train: labels {first[value]!r} and {label!r} are the same number written "
                "two ways, which would make two classes; write every label one way (pandas "
                "writes 1.0 for an int column that has an empty cell)"
            )
