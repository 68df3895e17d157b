"""The network: embeddings -> LSTM encoder (with lengths) -> pooling -> linear head."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.text.batching import lengths_to_mask
from lstmkit.text.layers import WordEmbedding, build_lstm


class Pooling(nn.Module):
    """Token states ``(B, T, DH)`` and lengths ``(B,)`` -> one vector ``(B, DH)`` a text.

    ``"last"`` takes the final state of each direction (``h_n``, the LSTM's per-sequence last
    state); ``"max"``/``"mean"`` pool over real tokens only; ``"attention"`` is a learned
    softmax over real tokens (Yang et al. 2016 without the hierarchy).
    """

    def __init__(self, mode: str, size: int) -> None:
        super().__init__()
        self.mode = mode
        self.score = nn.Linear(size, 1) if mode == "attention" else None

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor, h_n: torch.Tensor
    ) -> torch.Tensor:
        mask = lengths_to_mask(lengths, states.shape[1])  # (B, T)
        if self.mode == "last":
            return h_n
        if self.mode == "max":
            return states.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)  # (B, DH)
        if self.mode == "mean":
            summed = (states * mask[..., None]).sum(dim=1)  # (B, DH)
            return summed / lengths[:, None].to(states.dtype)
        assert self.score is not None
        scores = self.score(torch.tanh(states)).squeeze(-1)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return torch.einsum("bt,btd->bd", weights, states)  # (B, DH)


class LSTMClassifier(nn.Module):
    """Text classifier network.

    Args:
        vocab_size: V, including padding and unknown.
        num_classes: K.
        embedding_dim: E.
        pad_index, unk_index: vocabulary specials (for padding and word dropout).
        hidden_size, num_layers, bidirectional, lstm_options: the ``lstmkit.nn.LSTM``.
        pooling: ``"last"``, ``"max"``, ``"mean"`` or ``"attention"``.
        dropout, embedding_dropout, word_dropout: see :class:`ClassifierConfig`.
        embedding_weights: optional ``(V, E)`` initial embeddings; ``freeze`` keeps them fixed.

    Shape:
        tokens: (B, T) long, lengths: (B,) long -> logits (B, K)
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int,
        *,
        pad_index: int,
        unk_index: int | None,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        lstm_options: Mapping[str, Any] | None = None,
        pooling: str = "max",
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        embedding_weights: torch.Tensor | None = None,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        self.embed = WordEmbedding(
            vocab_size,
            embedding_dim,
            pad_index=pad_index,
            unk_index=unk_index,
            weights=embedding_weights,
            freeze=freeze,
            dropout=embedding_dropout,
            word_dropout=word_dropout,
        )
        self.lstm = build_lstm(
            embedding_dim, hidden_size, num_layers, bidirectional, dropout, lstm_options or {}
        )
        D = 2 if bidirectional else 1
        out_size = (lstm_options or {}).get("proj_size") or hidden_size
        self.pool = Pooling(pooling, D * out_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(D * out_size, num_classes)

    def adversarial_inputs(self) -> list[nn.Module]:
        """The word embeddings: what ``TrainConfig.adversarial`` perturbs."""
        return [self.embed]

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, T, E)
        states, (h_n, _) = self.lstm(x, lengths=lengths)  # (B, T, D*H), (L*D, B, H)
        D = 2 if self.lstm.bidirectional else 1
        last = h_n[-D:].transpose(0, 1).reshape(tokens.shape[0], -1)  # (B, D*H)
        pooled = self.pool(states, lengths, last)  # (B, D*H)
        return self.head(self.dropout(pooled))  # (B, K)


class ProbabilityAverage(nn.Module):
    """Several classifier networks as one: the mean of their class probabilities.

    The output is the log of the mean probability, so it stands where logits stand (softmax
    of it gives the mean probabilities back; cross-entropy on it is the ensemble's loss).

    Shape:
        tokens: (B, T) long, lengths: (B,) long -> log mean probabilities (B, K)
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 1:
            raise ValueError("members must hold at least one network, got none")
        self.members = nn.ModuleList(members)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack(
            [F.log_softmax(member(tokens, lengths), dim=-1) for member in self.members]
        )  # (M, B, K)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))  # (B, K)
