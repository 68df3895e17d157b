"""Conformalised quantile intervals (CQR: Romano, Patterson and Candès 2019).

A quantile model's intervals are often too narrow (or too wide) on new data. CQR corrects
each symmetric pair of quantiles (q, 1 - q) on held-out windows: the score of a window is how
far the actual value lies outside the interval (negative inside it), and the interval is
widened on both sides by the ceil((n + 1)(1 - 2q)) / n empirical quantile of the n scores, so
that it covers its nominal share 1 - 2q of the held-out windows. Here the correction is
computed per forecast step and target, from the validation windows.

The scores may be divided by a scale of each window (normalised conformal prediction, Lei et
al. 2018), and the margins are then multiplied by the scale of the window they widen: the
forecaster takes the mean absolute change of the target over the window's lookback (the
naive forecast's error there, :func:`window_scale`), so that series of different sizes and
volatilities, pooled, are each corrected in their own units, where one margin in the
targets' units would narrow a small or calm series' interval to nothing.

Arrays: W windows, Hz steps, C targets, Q quantile levels (increasing), P = Q // 2 pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_levels(levels: Sequence[float]) -> None:
    """Raise ValueError unless ``levels`` hold 0.5 and pair up around it as (q, 1 - q), which
    is what lets each pair be corrected without moving the median."""
    q = len(levels)
    symmetric = all(math.isclose(levels[k] + levels[q - 1 - k], 1.0) for k in range(q // 2))
    if 0.5 not in levels or not symmetric:
        raise ValueError(f"quantile levels must include 0.5 and pair up as (q, 1 - q) around "
                         f"it, such as (0.1, 0.5, 0.9), got {tuple(levels)}")


def _pairs(levels: Sequence[float]) -> list[tuple[int, int]]:
    check_levels(levels)
    q = len(levels)
    return [(k, q - 1 - k) for k in range(q // 2)]


def window_scale(past: np.ndarray, floor: np.ndarray | None = None) -> np.ndarray:
    """The scale of each window: the mean absolute change of each target over its lookback
    ``past`` (W, L, C), (W, C). A window without change (or with a lookback of one step) takes
    ``floor`` (C,), the typical scale; without one it is NaN."""
    with np.errstate(invalid="ignore"):  # (a lookback of one step has no change)
        scale = np.abs(np.diff(past, axis=1)).mean(axis=1) if past.shape[1] > 1 else \
            np.full((past.shape[0], past.shape[2]), np.nan)
    blank = ~(scale > 0)
    if blank.any():
        scale = np.where(blank, np.nan if floor is None else floor, scale)
    return scale


def typical_scale(scale: np.ndarray) -> np.ndarray:
    """The floor (C,) of :func:`window_scale`: the mean of the windows' scales (W, C) that
    are finite and above zero (1 for a target without any)."""
    usable = np.isfinite(scale) & (scale > 0)
    total = np.where(usable, scale, 0.0).sum(axis=0)
    count = usable.sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), 1.0)


def conformal_margins(quantiles: np.ndarray, actual: np.ndarray,
                      levels: Sequence[float], scale: np.ndarray | None = None) -> np.ndarray:
    """Margins (P, Hz, C) from held-out forecasts ``quantiles`` (W, Hz, C, Q) and ``actual``
    (W, Hz, C): pair p = (levels[p], levels[Q-1-p]) is widened by margins[p] on both sides
    (times the window's ``scale``, (W, C) and positive, when one is given: the scores are
    then divided by it). A NaN actual (a value not observed) is left out: each step and
    target is calibrated on its n observed windows (a margin of 0 where there are none)."""
    if quantiles.shape[:-1] != actual.shape or quantiles.shape[-1] != len(levels):
        raise ValueError(f"quantiles must have shape {(*actual.shape, len(levels))} "
                         f"(actual's shape plus one per level), got {quantiles.shape}")
    if actual.shape[0] == 0:
        raise ValueError("conformal calibration needs at least one held-out window, got none")
    per = np.ones((actual.shape[0], 1, actual.shape[2])) if scale is None else \
        np.asarray(scale, dtype=float)[:, None, :]  # (W, 1, C)
    n = (~np.isnan(actual)).sum(axis=0)  # (Hz, C)
    margins = []
    for lo, hi in _pairs(levels):
        scores = np.maximum(quantiles[..., lo] - actual,
                            actual - quantiles[..., hi]) / per  # (W, Hz, C)
        nominal = levels[hi] - levels[lo]
        # the k = ceil((n + 1) nominal)-th smallest score (the largest when k exceeds n);
        # rounded first, as 0.8 - 0.2 is 0.6000000000000001 and 36 of it would make 22
        k = np.minimum(np.ceil(np.round((n + 1) * nominal, 9)).astype(np.int64), n)
        ranked = np.sort(scores, axis=0)  # NaN scores last
        margin = np.take_along_axis(ranked, np.maximum(k - 1, 0)[None], axis=0)[0]
        margins.append(np.where(n > 0, margin, 0.0))
    return np.stack(margins) if margins else np.zeros((0, *actual.shape[1:]))


def widen(quantiles: np.ndarray, margins: np.ndarray, levels: Sequence[float],
          scale: np.ndarray | None = None) -> np.ndarray:
    """Apply ``margins`` (P, Hz, C) to forecasts (..., Hz, C, Q), times each forecast's
    ``scale`` (..., C) when the margins were calibrated with one. A narrowed interval stops
    at the median and an inner interval widened past an outer one widens the outer one too,
    so the quantiles stay ordered, every pair keeps its own correction or more, and the point
    forecast does not move."""
    out = quantiles.copy()
    per = 1.0 if scale is None else np.asarray(scale, dtype=float)[..., None, :]  # (..., 1, C)
    for p, (lo, hi) in enumerate(_pairs(levels)):
        out[..., lo] -= margins[p] * per
        out[..., hi] += margins[p] * per
    mid = len(levels) // 2  # the median: checked levels are symmetric around 0.5
    # outward from the median, each level reaches at least as far as the ones inside it: an
    # interval narrowed past the median stops there, and an outer pair that an inner one
    # outgrew takes the inner one's bound (a sort would narrow the inner pair instead)
    out[..., : mid + 1] = np.minimum.accumulate(out[..., mid::-1], axis=-1)[..., ::-1]
    out[..., mid:] = np.maximum.accumulate(out[..., mid:], axis=-1)
    return out
