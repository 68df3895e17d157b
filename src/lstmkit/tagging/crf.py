"""A linear-chain conditional random field with transitions constrained to a tag scheme.

.. math::
    s(x, y) = \\text{start}_{y_1} + \\sum_{t=1}^{T} E_{t, y_t}
              + \\sum_{t=2}^{T} A_{y_{t-1}, y_t} + \\text{end}_{y_T}

    \\log p(y \\mid x) = s(x, y) - \\log Z(x), \\quad
    \\log Z(x) = \\operatorname{logsumexp}_{y'} s(x, y')

``E`` are the emissions (the tagger's scores), ``A`` the learned transition scores
``transitions[from, to]``. ``log Z`` comes from the forward algorithm, the best path from
Viterbi, both in O(T K^2). Transitions the scheme forbids (``O -> I-PER`` in IOB2) get a
fixed score of ``-10000``, so they are never learned and Viterbi never picks them.

Shape:
    emissions: (B, T, K); tags: (B, T) long; lengths: (B,) long, every length >= 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lstmkit.text.batching import lengths_to_mask

FORBIDDEN = -10000.0


class CRF(nn.Module):
    """Linear-chain CRF over ``num_tags`` tags.

    Args:
        num_tags: K.
        allowed: optional ``[from][to]`` booleans (K x K); False forbids a transition.
        allowed_start, allowed_end: optional K booleans for the first and last tag.
    """

    def __init__(
        self,
        num_tags: int,
        allowed: Sequence[Sequence[bool]] | None = None,
        allowed_start: Sequence[bool] | None = None,
        allowed_end: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"num_tags must be an int >= 1, got {num_tags!r}")
        K = num_tags
        self.num_tags = K
        self.transitions = nn.Parameter(torch.empty(K, K).uniform_(-0.1, 0.1))
        self.start = nn.Parameter(torch.empty(K).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(K).uniform_(-0.1, 0.1))
        mask = torch.ones(K, K, dtype=torch.bool) if allowed is None else \
            torch.as_tensor(allowed, dtype=torch.bool)
        start = torch.ones(K, dtype=torch.bool) if allowed_start is None else \
            torch.as_tensor(allowed_start, dtype=torch.bool)
        end = torch.ones(K, dtype=torch.bool) if allowed_end is None else \
            torch.as_tensor(allowed_end, dtype=torch.bool)
        for name, value, shape in (("allowed", mask, (K, K)), ("allowed_start", start, (K,)),
                                   ("allowed_end", end, (K,))):
            if tuple(value.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
        self.register_buffer("allowed", mask)
        self.register_buffer("allowed_start", start)
        self.register_buffer("allowed_end", end)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(transitions (K, K), start (K,), end (K,))`` with forbidden entries fixed."""
        return (
            self.transitions.masked_fill(~self.allowed, FORBIDDEN),
            self.start.masked_fill(~self.allowed_start, FORBIDDEN),
            self.end.masked_fill(~self.allowed_end, FORBIDDEN),
        )

    def _check(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(
                f"emissions must have shape (B, T, {self.num_tags}), got "
                f"{tuple(emissions.shape)}"
            )
        if lengths.shape != (emissions.shape[0],) or int(lengths.min()) < 1 or \
                int(lengths.max()) > emissions.shape[1]:
            raise ValueError(
                f"lengths must have shape ({emissions.shape[0]},) with values in "
                f"[1, {emissions.shape[1]}], got {lengths.tolist()}"
            )
        return lengths_to_mask(lengths, emissions.shape[1])  # (B, T)

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``log Z`` per sequence, ``(B,)``, by the forward algorithm."""
        mask = self._check(emissions, lengths)
        trans, start, end = self.scores()
        alpha = _forward(emissions, mask, trans, start)[-1]
        return torch.logsumexp(alpha + end, dim=1)  # (B,)

    def score(
        self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """``s(x, y)`` of the given tag paths, ``(B,)``."""
        mask = self._check(emissions, lengths)
        trans, start, end = self.scores()
        B = emissions.shape[0]
        emitted = emissions.gather(2, tags[..., None]).squeeze(2)  # (B, T)
        total = start[tags[:, 0]] + (emitted * mask).sum(dim=1)  # (B,)
        pairs = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        total = total + (pairs * mask[:, 1:]).sum(dim=1)
        last = tags[torch.arange(B, device=tags.device), lengths - 1]  # (B,)
        return total + end[last]

    def nll(
        self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Mean over the batch of ``-log p(tags | emissions)``."""
        return (self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)
                ).mean()

    @torch.no_grad()
    def span_log_probs(self, emissions: torch.Tensor, lengths: torch.Tensor,
                       spans: Sequence[tuple[int, int, int, Sequence[int]]]) -> list[float]:
        """``log p(y_s .. y_e-1 | x)`` for each ``(b, s, e, tags)``: the probability that the
        tokens ``[s, e)`` of sequence ``b`` bear those tags, whatever the others bear (the
        forward-backward marginal of a stretch of the path)."""
        mask = self._check(emissions, lengths)
        # in float64: log Z grows with the length, and float32 lost the small differences
        # (scores above 1 over a few thousand tokens)
        trans, start, end = (x.double() for x in self.scores())
        emissions = emissions.double()
        alphas = _forward(emissions, mask, trans, start)
        betas = [end.expand_as(alphas[0])]  # (B, K): suffixes after t, the end score in
        for t in range(emissions.shape[1] - 2, -1, -1):
            step = torch.logsumexp(trans + (emissions[:, t + 1] + betas[-1])[:, None, :], dim=2)
            betas.append(torch.where(mask[:, t + 1, None], step, end))
        betas.reverse()
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)  # (B,)
        out = []
        for b, s, e, tags in spans:
            total = alphas[s][b, tags[0]] + betas[e - 1][b, tags[-1]] - log_z[b]
            for t in range(s + 1, e):
                total = total + trans[tags[t - s - 1], tags[t - s]] + emissions[b, t, tags[t - s]]
            out.append(min(float(total), 0.0))  # (a probability, rounding aside)
        return out

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Viterbi: the highest-scoring allowed tag path of each sequence."""
        mask = self._check(emissions, lengths)
        trans, start, end = self.scores()
        B, T = emissions.shape[:2]
        delta = start + emissions[:, 0]  # (B, K)
        backpointers = []
        for t in range(1, T):
            # (B, K_from, K_to): best previous tag for each current tag
            candidates = delta[:, :, None] + trans
            best, arg = candidates.max(dim=1)  # (B, K), (B, K)
            step = best + emissions[:, t]
            delta = torch.where(mask[:, t, None], step, delta)
            backpointers.append(arg)
        final = delta + end  # (B, K)
        paths = []
        best_last = final.argmax(dim=1).tolist()
        for b in range(B):
            n = int(lengths[b])
            tag = best_last[b]
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(backpointers[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths


def _forward(emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor,
             start: torch.Tensor) -> list[torch.Tensor]:
    """The forward algorithm's ``alpha`` at each step, (B, K) each: the log-sum of the scores
    of the path prefixes ending in each tag at t, t's emission included (past a sequence's
    length, its last one)."""
    alphas = [start + emissions[:, 0]]
    for t in range(1, emissions.shape[1]):
        # (B, K_from, 1) + (K_from, K_to) + (B, 1, K_to) -> logsumexp over from
        step = torch.logsumexp(alphas[-1][:, :, None] + trans + emissions[:, t, None, :], dim=1)
        alphas.append(torch.where(mask[:, t, None], step, alphas[-1]))
    return alphas
