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

import numpy as np
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
        forward-backward marginal of a stretch of the path).

        Only the sequences that hold a span are run. On the CPU, in float32 or float64, the
        forward-backward runs scaled in probability space (numpy, one small matrix product a
        step, all the spans gathered at once); where a scale would leave float64's normal
        range (emissions or transitions hundreds apart), and on other devices, it runs in
        log space (:meth:`_span_log_probs_reference`)."""
        mask = self._check(emissions, lengths)
        if len(spans) == 0:
            return []
        # in float64: log Z grows with the length, and float32 lost the small differences
        # (scores above 1 over a few thousand tokens)
        rows = sorted({int(b) for b, _, _, _ in spans})
        if len(rows) < emissions.shape[0]:  # (each sequence's marginals are its own)
            index = torch.tensor(rows, device=emissions.device)
            lengths = lengths[index]
            emissions = emissions[index, : int(lengths.max())]
            mask = mask[index, : int(lengths.max())]
            where = {b: r for r, b in enumerate(rows)}
            spans = [(where[int(b)], s, e, tags) for b, s, e, tags in spans]
        if _numpy_ready(emissions):
            trans, start, end = (x.detach().double().cpu().numpy() for x in self.scores())
            logs = _span_log_probs_scaled(emissions.detach().double().cpu().numpy(),
                                          lengths.cpu().numpy(), trans, start, end, spans)
            if logs is not None:
                return logs
        return self._span_log_probs_reference(emissions, mask, spans)

    def _span_log_probs_reference(self, emissions: torch.Tensor, mask: torch.Tensor,
                                  spans: Sequence[tuple[int, int, int, Sequence[int]]]
                                  ) -> list[float]:
        """:meth:`span_log_probs` in log space (``logsumexp`` a step, a span at a time): the
        definition, which the scaled computation must match."""
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
        """Viterbi: the highest-scoring allowed tag path of each sequence (ties to the first
        tag). On the CPU, in float32 or float64, the steps run in numpy with the same
        arithmetic in the same order (:meth:`_decode_reference` is the torch loop), and the
        paths are traced back for all the sequences at once."""
        mask = self._check(emissions, lengths)
        if _numpy_ready(emissions):
            trans, start, end = (x.detach().cpu().numpy() for x in self.scores())
            return _viterbi(emissions.detach().cpu().numpy(), lengths.cpu().numpy(),
                            trans, start, end)
        return self._decode_reference(emissions, lengths, mask)

    def _decode_reference(self, emissions: torch.Tensor, lengths: torch.Tensor,
                          mask: torch.Tensor) -> list[list[int]]:
        """:meth:`decode` as torch steps, traced back token by token."""
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


def _numpy_ready(emissions: torch.Tensor) -> bool:
    """Whether the numpy computations take ``emissions``: on the CPU, float32 or float64,
    outside a trace or an ONNX export (which must see torch operations)."""
    return (emissions.device.type == "cpu" and emissions.dtype in (torch.float32, torch.float64)
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())


def _ends_at(lengths: np.ndarray) -> dict[int, np.ndarray]:
    """The rows of each length: ``{n: rows}``."""
    order = np.argsort(lengths, kind="stable")
    values, first = np.unique(lengths[order], return_index=True)
    return {int(n): rows for n, rows in zip(values, np.split(order, first[1:]), strict=True)}


def _viterbi(emissions: np.ndarray, lengths: np.ndarray, trans: np.ndarray,
             start: np.ndarray, end: np.ndarray) -> list[list[int]]:
    """:meth:`CRF._decode_reference` in numpy: each step's candidates are the same sums of
    the same values (``delta[from] + trans[from, to]``, laid out ``(B, to, from)`` so that
    the maximum runs along the last axis), the first maximum wins as in torch, and a row's
    ``delta`` is kept at its last token (where the torch loop freezes it). The paths are traced
    back for all the rows at once."""
    B, T, K = emissions.shape
    trans_t = np.ascontiguousarray(trans.T)  # (K_to, K_from)
    delta = start + emissions[:, 0]  # (B, K)
    last = np.empty_like(delta)  # (B, K): delta at each row's last token
    ends = _ends_at(lengths)
    if 1 in ends:
        last[ends[1]] = delta[ends[1]]
    pointers = np.empty((max(T - 1, 0), B, K), dtype=np.int64)
    for t in range(1, T):
        candidates = delta[:, None, :] + trans_t  # (B, K_to, K_from)
        arg = candidates.argmax(axis=2)  # (B, K_to)
        pointers[t - 1] = arg
        best = np.take_along_axis(candidates, arg[:, :, None], axis=2)[:, :, 0]
        delta = best + emissions[:, t]
        rows = ends.get(t + 1)
        if rows is not None:
            last[rows] = delta[rows]
    tag = (last + end).argmax(axis=1)  # (B,)
    paths = np.empty((B, T), dtype=np.int64)
    paths[:, T - 1] = tag
    rows_all = np.arange(B)
    for t in range(T - 1, 0, -1):
        inside = lengths > t  # rows whose token t is real: step back from it
        tag = np.where(inside, pointers[t - 1, rows_all, tag], tag)
        paths[:, t - 1] = tag
    return [paths[b, : int(n)].tolist() for b, n in enumerate(lengths)]


TINY = 1e-250
"""Below this a scaled forward-backward value has left float64's safe range: the span
scores are then computed in log space."""


def _span_log_probs_scaled(emissions: np.ndarray, lengths: np.ndarray, trans: np.ndarray,
                           start: np.ndarray, end: np.ndarray,
                           spans: Sequence[tuple[int, int, int, Sequence[int]]]
                           ) -> list[float] | None:
    """:meth:`CRF.span_log_probs` by the scaled forward-backward algorithm, float64 numpy:
    ``alpha_t = log(a_t) + la_t`` with ``a_t`` (B, K) summing to 1 and ``la_t`` its log
    scale, each step one (B, K) x (K, K) product with ``exp(trans - max trans)``; likewise
    ``beta_t = log(b_t) + lb_t``, each row's starting at its last token with the end scores.
    None when a scale or a value the spans read falls below :data:`TINY` (or is not finite),
    for the caller to compute in log space."""
    B, T, K = emissions.shape
    shift = float(trans.max())
    expt = np.exp(trans - shift)  # (K_from, K_to) in [0, 1]
    expt_t = np.ascontiguousarray(expt.T)
    real = np.arange(T)[None, :] < lengths[:, None]  # (B, T)
    end_max = float(end.max())
    end_scaled = np.exp(end - end_max)  # (K,)
    with np.errstate(all="ignore"):  # (padding positions may under- or overflow: unused;
        # a value that is not finite is found below, and the caller goes to log space)
        emax = emissions.max(axis=2)  # (B, T)
        scaled = np.exp(emissions - emax[:, :, None])  # (B, T, K) in [0, 1]
        alpha = np.empty((T, B, K))
        sums = np.ones((T, B))
        first = start + emissions[:, 0]  # (B, K)
        top = first.max(axis=1)
        alpha[0] = np.exp(first - top[:, None])
        sums[0] = alpha[0].sum(axis=1)
        alpha[0] /= sums[0][:, None]
        for t in range(1, T):
            step = alpha[t]
            np.matmul(alpha[t - 1], expt, out=step)
            step *= scaled[:, t]
            total = step.sum(axis=1)
            step /= total[:, None]
            sums[t] = total
        # log alpha_t = log a_t + la_t; la_t = top + log sums_0 + sum_{u<=t} (log sums_u +
        # shift + emax_u) for u >= 1
        steps = np.log(sums.T)  # (B, T)
        steps[:, 1:] += shift + emax[:, 1:]
        steps[:, 0] += top
        la = np.cumsum(steps, axis=1)  # (B, T)

        beta = np.empty((T, B, K))
        back = np.zeros((B, T))  # log scale increments, 0 from each row's last token on
        ends = _ends_at(lengths)
        beta[T - 1] = end_scaled
        suffix = np.empty((B, K))
        for t in range(T - 2, -1, -1):
            step = beta[t]
            np.multiply(scaled[:, t + 1], beta[t + 1], out=suffix)
            np.matmul(suffix, expt_t, out=step)
            total = step.sum(axis=1)
            step /= total[:, None]
            back[:, t] = np.log(total) + shift + emax[:, t + 1]
            rows = ends.get(t + 1)  # rows whose last token is t: their beta starts here
            if rows is not None:
                step[rows] = end_scaled
        back = np.where(real[:, 1:], back[:, :-1], 0.0) if T > 1 else back[:, :0]
        lb = np.zeros((B, T))
        if T > 1:
            lb[:, :-1] = np.cumsum(back[:, ::-1], axis=1)[:, ::-1]
        lb += end_max
        rows_all = np.arange(B)
        last = lengths - 1
        final = (alpha[last, rows_all] * end_scaled).sum(axis=1)  # (B,)
        log_z = la[rows_all, last] + end_max + np.log(final)
        safe = bool(np.all(sums.T[real] >= TINY) and np.all(final >= TINY))
        valid_back = back[real[:, 1:]] if T > 1 else back
        safe = safe and bool(np.all(np.isfinite(valid_back)))
        if not safe:
            return None
        b_of = np.array([b for b, _, _, _ in spans])
        s_of = np.array([s for _, s, _, _ in spans])
        e_of = np.array([e for _, _, e, _ in spans])
        first_tag = np.array([tags[0] for _, _, _, tags in spans])
        last_tag = np.array([tags[-1] for _, _, _, tags in spans])
        a = alpha[s_of, b_of, first_tag]
        bb = beta[e_of - 1, b_of, last_tag]
        if not (np.all(a >= TINY) and np.all(bb >= TINY)):
            return None
        totals = (np.log(a) + la[b_of, s_of]) + (np.log(bb) + lb[b_of, e_of - 1]) - log_z[b_of]
        # inside each span: the transitions and emissions of its own tags
        n, b_in, t_in, prev, cur = [], [], [], [], []
        for k, (b, s, e, tags) in enumerate(spans):
            for t in range(s + 1, e):
                n.append(k)
                b_in.append(b)
                t_in.append(t)
                prev.append(tags[t - s - 1])
                cur.append(tags[t - s])
        if n:
            inner = trans[prev, cur] + emissions[b_in, t_in, cur]
            totals = totals + np.bincount(n, weights=inner, minlength=len(spans))
    if not np.all(np.isfinite(totals)):
        return None
    return np.minimum(totals, 0.0).tolist()
