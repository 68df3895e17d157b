"""Layers shared by the text models: word embeddings with word dropout, and the LSTM built from
a user's dictionary of variant options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lstmkit.nn.config import check_lstm_options


def build_lstm(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    options: Mapping[str, Any],
) -> nn.Module:
    """``lstmkit.nn.LSTM`` (batch first) with the variant ``options``."""
    from lstmkit.nn import LSTM

    return LSTM(
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        **check_lstm_options(options),
    )


class WordEmbedding(nn.Module):
    """Embedding lookup with word dropout and embedding dropout.

    Word dropout replaces each non-padding token by the unknown token with probability
    ``word_dropout`` during training, so the model learns what to do with unseen words.

    Shape:
        tokens: (B, T) long -> (B, T, E)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        pad_index: int,
        unk_index: int | None,
        weights: torch.Tensor | None = None,
        freeze: bool = False,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, padding_idx=pad_index)
        if weights is not None:
            if tuple(weights.shape) != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"weights must have shape ({num_embeddings}, {embedding_dim}), "
                    f"got {tuple(weights.shape)}"
                )
            with torch.no_grad():
                self.embedding.weight.copy_(weights)
        self.embedding.weight.requires_grad_(not freeze)
        self.pad_index = pad_index
        self.unk_index = unk_index
        self.word_dropout = word_dropout
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.training and self.word_dropout > 0 and self.unk_index is not None:
            drop = torch.rand(tokens.shape, device=tokens.device) < self.word_dropout
            tokens = tokens.masked_fill(drop & (tokens != self.pad_index), self.unk_index)
        return self.dropout(self.embedding(tokens))  # (B, T, E)
