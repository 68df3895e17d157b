"""The tagger's configuration: one frozen dataclass, validated on construction."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from lstmkit.nn.config import (
    LSTMConfig,
    check_lstm_options,
    layer_count,
    plain_fields,
    positive_int,
    probability,
    shown,
)
from lstmkit.tagging.schemes import Scheme, check_scheme
from lstmkit.text.config import (
    MappingConfig,
    boolean,
    store_checked,
    vector_options,
)
from lstmkit.text.tokenize import TokenizerName

CharEncoderKind = Literal["lstm", "cnn", "none"]
Decoder = Literal["crf", "softmax"]


@dataclass(frozen=True)
class TaggerConfig(MappingConfig):
    """Model and data settings of a sequence tagger (BiLSTM-CRF, Lample et al. 2016).

    Attributes:
        tag_scheme: the scheme the model predicts in (data in any scheme is converted to it
            on reading; BIOES gives the CRF the most structure).
        tokenizer: for :meth:`Tagger.predict` on raw text: ``"regex"`` or ``"whitespace"``.
        lowercase: look words up lower-cased (casing is kept by the character encoder and
            the casing feature). This and the other bool options (``freeze_embeddings``,
            ``casing``, ``bidirectional``) must be True or False.
        min_freq, max_vocab: word vocabulary cut-offs (training data only).
        vectors, vectors_vocab, embedding_dim, freeze_embeddings: as in ``ClassifierConfig``.
        char_encoder: ``"lstm"`` (a character BiLSTM per token), ``"cnn"`` (convolution and
            max pooling, Ma & Hovy 2016) or ``"none"``.
        char_dim: character embedding size; char_hidden: per-direction character LSTM size
            (or the number of CNN filters).
        casing: add a learned embedding of each token's casing pattern (all lower, Initial,
            ALL CAPS, mixed, numeric, has digit, punctuation, @mention, #hashtag, URL).
        hidden_size, num_layers, bidirectional, lstm: the word-level ``lstmkit.nn.LSTM``
            (``lstm`` takes any variant option).
        decoder: ``"crf"`` (Viterbi over scheme-constrained transitions) or ``"softmax"``.
        dropout: on the word representations and on the LSTM output.
        word_dropout: probability of replacing a training word by ``<unk>``.
        batch_size: sentences per batch.
        auxiliary_weight: multitask training (``Tagger.fit(..., auxiliary=sentences)``): the
            weight of the auxiliary tag set's loss.
        auxiliary_ratio: auxiliary batches per main batch in each epoch (so an epoch does
            ``1 + auxiliary_ratio`` times the work).
        snapshots: tag with the pooled scores of the weights of this many best dev checks of
            the run (a snapshot ensemble: no extra training, ``snapshots`` times the
            inference work; needs dev data).
        ensemble: train this many networks (seeds ``seed``, ``seed + 1``, ...) and tag with
            their pooled scores (see ``TaggerEnsemble``); ``ensemble`` times as long.
    """

    tag_scheme: Scheme = "BIOES"
    tokenizer: TokenizerName = "regex"
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int | None = None
    vectors: str | None = None
    vectors_vocab: int = 0
    embedding_dim: int | None = None
    freeze_embeddings: bool = False
    char_encoder: CharEncoderKind = "lstm"
    char_dim: int = 25
    char_hidden: int = 25
    casing: bool = True
    hidden_size: int = 100
    num_layers: int = 1
    bidirectional: bool = True
    lstm: Mapping[str, Any] = field(default_factory=dict)
    decoder: Decoder = "crf"
    dropout: float = 0.5
    word_dropout: float = 0.05
    batch_size: int = 16
    auxiliary_weight: float = 1.0
    auxiliary_ratio: float = 1.0
    snapshots: int = 1
    ensemble: int = 1

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy scalars (np.int64(128), np.float64(0.3)) as Python ones
        object.__setattr__(self, "tag_scheme", check_scheme(self.tag_scheme, "tag_scheme"))
        if self.tokenizer not in ("regex", "whitespace"):
            raise ValueError(
                f"tokenizer must be one of ['regex', 'whitespace'], got {self.tokenizer!r}"
            )
        store_checked(self, positive_int, "min_freq", "char_dim", "char_hidden", "hidden_size",
                      "batch_size", "snapshots", "ensemble")
        store_checked(self, layer_count, "num_layers")
        store_checked(self, positive_int, "max_vocab", "embedding_dim", optional=True)
        for name in ("lowercase", "freeze_embeddings", "casing", "bidirectional"):
            boolean(name, getattr(self, name))
        vector_options(self.vectors, self.vectors_vocab, self.freeze_embeddings)
        for name, literal in (("char_encoder", CharEncoderKind), ("decoder", Decoder)):
            if getattr(self, name) not in get_args(literal):
                raise ValueError(f"{name} must be one of {list(get_args(literal))}, "
                                 f"got {getattr(self, name)!r}")
        if self.char_encoder == "lstm":  # (its size rule now, not when the network is built)
            try:
                LSTMConfig(self.char_dim, self.char_hidden, bidirectional=True)
            except ValueError as err:
                raise ValueError(f"char_dim={self.char_dim}, char_hidden={self.char_hidden} "
                                 f"(the character LSTM's input_size, hidden_size) are too "
                                 f"large: {err}") from None
        store_checked(self, probability, "dropout", "word_dropout")
        for name in ("auxiliary_weight", "auxiliary_ratio"):
            value = getattr(self, name)
            # (inf, or an int past float's range, failed in training: round(inf * batches))
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not 0 < value <= sys.float_info.max):
                raise ValueError(f"{name} must be a finite number > 0, got {shown(value)}")
        object.__setattr__(self, "lstm",
                           check_lstm_options(self.lstm, "model.lstm", self.hidden_size))
