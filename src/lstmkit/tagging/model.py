"""The tagger network: word embeddings + character encoder + casing -> BiLSTM -> emissions,
decoded by a scheme-constrained CRF (or a softmax per token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.tagging.crf import CRF
from lstmkit.text.batching import lengths_to_mask
from lstmkit.text.layers import WordEmbedding, build_lstm


class CharLSTM(nn.Module):
    """Each word's characters through a BiLSTM; the word vector is the two final states.

    Only the real words of a batch are run (padding positions get zeros).

    Shape:
        chars: (B, T, C) long, char_lengths: (B, T) long -> (B, T, 2 * hidden)
    """

    def __init__(self, num_chars: int, char_dim: int, hidden: int, pad_index: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=pad_index)
        self.lstm = build_lstm(char_dim, hidden, 1, True, 0.0, {})
        self.output_size = 2 * hidden

    def forward(self, chars: torch.Tensor, char_lengths: torch.Tensor) -> torch.Tensor:
        B, T = chars.shape[:2]
        if torch.onnx.is_in_onnx_export():
            return self._every_position(chars, char_lengths)
        real = char_lengths > 0  # (B, T)
        out = chars.new_zeros(B, T, self.output_size, dtype=self.embed.weight.dtype)
        if not real.any():  # only empty tokens: no characters to encode
            return out
        words, lengths, inverse = unique_words(chars[real])  # (U, C), (U,), (N,)
        if torch.is_grad_enabled() or torch.jit.is_tracing():
            x = self.embed(words)  # (U, C, char_dim)
            _, (h_n, _) = self.lstm(x, lengths=lengths)  # h_n: (2, U, hidden)
            vectors = h_n.transpose(0, 1).reshape(words.shape[0], -1)  # (U, 2*hidden)
        else:  # inference: no step on padding
            vectors = self.encode_words(words, lengths)
        out = out.to(vectors.dtype)
        out[real] = vectors[inverse]  # (N, 2*hidden) into the real positions
        return out  # (B, T, 2*hidden)

    def encode_words(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The vectors of words: their characters ``(U, C)`` (padded with 0), of ``lengths``
        ``(U,)``, each >= 1 -> ``(U, 2*hidden)``, the two final states. The words of each
        length run together, cut to that length, so that no step goes to padding (a batch's
        words run to its longest, a URL's 20 characters, where most words have 3 to 6)."""
        out = self.embed.weight.new_empty(words.shape[0], self.output_size)
        for n in torch.unique(lengths).tolist():
            rows = (lengths == n).nonzero().squeeze(1)  # (U_n,)
            x = self.embed(words[rows, :n])  # (U_n, n, char_dim)
            _, (h_n, _) = self.lstm(x, lengths=lengths[rows])  # (2, U_n, hidden)
            h_n = h_n.transpose(0, 1).reshape(rows.shape[0], -1)  # (U_n, 2*hidden)
            out = out.to(h_n.dtype)
            out[rows] = h_n
        return out

    def _every_position(self, chars: torch.Tensor, char_lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` as a graph of fixed steps for an ONNX export: every position's
        characters through the LSTM (a padding position as one character), padding then
        zeroed; the same vectors, without the data-dependent selection of distinct words. A
        padding column is added, so that a batch of empty tokens, (B, T, 0), is no zero-width
        tensor (ONNX's Reshape reads a size of 0 as 'keep this size')."""
        chars = F.pad(chars, (0, 1))  # (B, T, C + 1)
        B, T, C = chars.shape
        lengths = char_lengths.reshape(B * T)  # (B*T,)
        x = self.embed(chars.reshape(B * T, C))  # (B*T, C, char_dim)
        _, (h_n, _) = self.lstm(x, lengths=lengths.clamp(min=1))  # (2, B*T, hidden)
        vectors = h_n.transpose(0, 1).reshape(B * T, -1)  # (B*T, 2*hidden)
        vectors = vectors * (lengths > 0).to(vectors.dtype)[:, None]
        return vectors.reshape(B, T, self.output_size)  # (B, T, 2*hidden)


def unique_words(words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each distinct word of a batch once (text repeats 'the' and ',' many times), trimmed to
    the longest distinct word; the character encoder then runs over far fewer steps.

    Shape:
        words: (N, C) character indices, 0 = padding -> unique (U, C'), lengths (U,),
        inverse (N,) with ``unique[inverse]`` the input rows (trimmed).
    """
    unique, inverse = torch.unique(words, dim=0, return_inverse=True)  # (U, C), (N,)
    lengths = (unique != 0).sum(dim=1)  # (U,): character indices are >= 1 inside a word
    return unique[:, : int(lengths.max())], lengths, inverse


class CharCNN(nn.Module):
    """Convolution over each word's characters (width 3) and max pooling over positions.

    Shape:
        chars: (B, T, C) long, char_lengths: (B, T) long -> (B, T, filters)
    """

    def __init__(self, num_chars: int, char_dim: int, filters: int, pad_index: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=pad_index)
        self.conv = nn.Conv1d(char_dim, filters, kernel_size=3, padding=1)
        self.output_size = filters

    def forward(self, chars: torch.Tensor, char_lengths: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            # a padding column (the convolution's own zero padding): no zero-width tensor in
            # the graph for a batch of empty tokens, which ONNX's Reshape would misread
            chars = F.pad(chars, (0, 1))
        B, T, C = chars.shape
        if not torch.onnx.is_in_onnx_export() and not (char_lengths > 0).any():
            # only empty tokens: no characters to encode (an export's graph takes any)
            return self.embed.weight.new_zeros(B, T, self.output_size)
        x = self.embed(chars.reshape(B * T, C)).transpose(1, 2)  # (B*T, char_dim, C)
        h = self.conv(x)  # (B*T, F, C)
        mask = lengths_to_mask(char_lengths.reshape(-1), C)  # (B*T, C)
        h = h.masked_fill(~mask[:, None, :], float("-inf")).amax(dim=2)  # (B*T, F)
        h = torch.where(torch.isfinite(h), h, torch.zeros_like(h))  # padding words -> 0
        return h.reshape(B, T, -1)  # (B, T, F)


class LSTMCRFTagger(nn.Module):
    """BiLSTM(-CRF) sequence tagger network.

    Args:
        vocab_size, embedding_dim, pad_index, unk_index: the word embeddings.
        num_tags: K.
        num_chars: character vocabulary size (0 for no character encoder).
        char_encoder: ``"lstm"``, ``"cnn"`` or ``"none"``.
        num_casings: number of casing classes (0 for no casing feature).
        allowed, allowed_start, allowed_end: CRF constraints (see :class:`CRF`).

    Shape:
        words, casing: (B, T) long; lengths: (B,); chars: (B, T, C); char_lengths: (B, T)
        -> emissions (B, T, K)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        num_tags: int,
        *,
        pad_index: int,
        unk_index: int | None,
        num_chars: int = 0,
        char_encoder: str = "lstm",
        char_dim: int = 25,
        char_hidden: int = 25,
        num_casings: int = 0,
        casing_dim: int = 8,
        hidden_size: int = 100,
        num_layers: int = 1,
        bidirectional: bool = True,
        lstm_options: Mapping[str, Any] | None = None,
        decoder: str = "crf",
        dropout: float = 0.5,
        word_dropout: float = 0.0,
        embedding_weights: torch.Tensor | None = None,
        freeze: bool = False,
        allowed: Sequence[Sequence[bool]] | None = None,
        allowed_start: Sequence[bool] | None = None,
        allowed_end: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        self.embed = WordEmbedding(
            vocab_size, embedding_dim, pad_index=pad_index, unk_index=unk_index,
            weights=embedding_weights, freeze=freeze, word_dropout=word_dropout,
        )
        size = embedding_dim
        self.chars: nn.Module | None = None
        if char_encoder == "lstm" and num_chars:
            self.chars = CharLSTM(num_chars, char_dim, char_hidden, pad_index=0)
        elif char_encoder == "cnn" and num_chars:
            self.chars = CharCNN(num_chars, char_dim, char_hidden, pad_index=0)
        if self.chars is not None:
            size += self.chars.output_size
        self.casing = nn.Embedding(num_casings, casing_dim) if num_casings else None
        if self.casing is not None:
            size += casing_dim
        self.dropout = nn.Dropout(dropout)
        self.lstm = build_lstm(size, hidden_size, num_layers, bidirectional, dropout,
                               lstm_options or {})
        D = 2 if bidirectional else 1
        out_size = (lstm_options or {}).get("proj_size") or hidden_size
        self.emit = nn.Linear(D * out_size, num_tags)
        self.decoder = decoder
        self.crf = CRF(num_tags, allowed, allowed_start, allowed_end) if decoder == "crf" \
            else None
        # multitask training (see add_auxiliary_head): a second output layer over the shared
        # encoder for another tag set, used only during training
        self.aux_emit: nn.Linear | None = None
        self.aux_crf: CRF | None = None
        self.aux_weight = 1.0

    def adversarial_inputs(self) -> list[nn.Module]:
        """The word embeddings: what ``TrainConfig.adversarial`` perturbs."""
        return [self.embed]

    def forward(
        self,
        words: torch.Tensor,
        lengths: torch.Tensor,
        chars: torch.Tensor | None = None,
        char_lengths: torch.Tensor | None = None,
        casing: torch.Tensor | None = None,
        auxiliary: bool = False,
        char_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Emissions of the main tag set, or with ``auxiliary=True`` of the auxiliary one.
        ``char_vectors`` (B, T, Fc): the character encoder's output, computed beforehand (at
        inference, once for each distinct word of all the batches), in place of ``chars``."""
        parts = [self.embed(words)]  # (B, T, E)
        if self.chars is not None and char_vectors is not None:
            parts.append(char_vectors)
        elif self.chars is not None:
            if chars is None or char_lengths is None:
                raise ValueError("this tagger has a character encoder: pass chars and "
                                 "char_lengths, got None")
            parts.append(self.chars(chars, char_lengths))  # (B, T, Fc)
        if self.casing is not None:
            if casing is None:
                raise ValueError("this tagger uses casing features: pass casing, got None")
            parts.append(self.casing(casing))  # (B, T, 8)
        x = self.dropout(torch.cat(parts, dim=-1))  # (B, T, E + Fc + 8)
        states, _ = self.lstm(x, lengths=lengths)  # (B, T, D*H)
        if auxiliary:
            if self.aux_emit is None:
                raise ValueError("auxiliary=True needs an auxiliary head: call "
                                 "add_auxiliary_head first")
            return self.aux_emit(self.dropout(states))  # (B, T, K_aux)
        return self.emit(self.dropout(states))  # (B, T, K)

    def add_auxiliary_head(
        self,
        num_tags: int,
        allowed: Sequence[Sequence[bool]] | None = None,
        allowed_start: Sequence[bool] | None = None,
        allowed_end: Sequence[bool] | None = None,
        weight: float = 1.0,
    ) -> None:
        """A second output layer (and CRF, with the CRF decoder) for an auxiliary tag set of
        ``num_tags`` tags, trained on the shared encoder with its loss times ``weight``."""
        self.aux_emit = nn.Linear(self.emit.in_features, num_tags)
        self.aux_crf = CRF(num_tags, allowed, allowed_start, allowed_end) \
            if self.decoder == "crf" else None
        self.aux_weight = weight

    def remove_auxiliary_head(self) -> None:
        """Drop the auxiliary head (after training: prediction needs only the main one)."""
        self.aux_emit = None
        self.aux_crf = None

    def loss(self, emissions: torch.Tensor,
             target: tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, bool]
             ) -> torch.Tensor:
        """CRF negative log-likelihood, or token cross-entropy over real tokens. A target
        ``(tags, lengths, True)`` is an auxiliary batch: scored by the auxiliary head's CRF
        and weighted by its weight."""
        tags, lengths = target[0], target[1]
        auxiliary = len(target) == 3 and bool(target[2])
        crf = self.aux_crf if auxiliary else self.crf
        if self.decoder == "crf":
            assert crf is not None
            loss = crf.nll(emissions, tags, lengths)
        else:
            mask = lengths_to_mask(lengths, emissions.shape[1])  # (B, T)
            loss = F.cross_entropy(emissions[mask], tags[mask])
        return loss * self.aux_weight if auxiliary else loss

    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Best tag indices per sentence (Viterbi, or per-token argmax for softmax)."""
        return _decode(self.crf, emissions, lengths)


class TaggerEnsemble(nn.Module):
    """Several tagger networks as one, by log-linear pooling: the mean of their emissions and,
    for CRF members, of their transition, start and end scores. The pooled CRF scores a path
    with the mean of the members' path scores, so Viterbi over it finds the path the members
    agree on best (a product of experts); for softmax members the emissions are the mean
    log-probabilities.

    Shape:
        the inputs of :class:`LSTMCRFTagger` -> emissions (B, T, K)
    """

    def __init__(self, members: Sequence[LSTMCRFTagger]) -> None:
        super().__init__()
        if len(members) < 1:
            raise ValueError("members must hold at least one network, got none")
        self.members = nn.ModuleList(members)
        first = members[0]
        self.decoder = first.decoder
        self.crf: CRF | None = None
        if first.crf is not None:
            crfs = [m.crf for m in members]
            self.crf = CRF(first.crf.num_tags, first.crf.allowed.tolist(),
                           first.crf.allowed_start.tolist(), first.crf.allowed_end.tolist())
            with torch.no_grad():
                for name in ("transitions", "start", "end"):
                    mean = torch.stack([getattr(c, name) for c in crfs]).mean(dim=0)
                    getattr(self.crf, name).copy_(mean)

    def forward(self, **inputs: Any) -> torch.Tensor:
        outputs = [member(**inputs) for member in self.members]  # M x (B, T, K)
        if self.crf is None:
            outputs = [F.log_softmax(o, dim=-1) for o in outputs]
        return torch.stack(outputs).mean(dim=0)  # (B, T, K)

    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Viterbi over the pooled scores (or per-token argmax for softmax members)."""
        return _decode(self.crf, emissions, lengths)


@torch.no_grad()
def _decode(crf: CRF | None, emissions: torch.Tensor,
            lengths: torch.Tensor) -> list[list[int]]:
    """Viterbi with ``crf``, or the per-token argmax without one."""
    if crf is not None:
        return crf.decode(emissions, lengths)
    best = emissions.argmax(dim=-1).tolist()  # (B, T)
    return [row[: int(n)] for row, n in zip(best, lengths, strict=True)]
