"""Scaling and forecast windows.

A window at origin ``t`` of a series sees rows ``[t - lookback, t)`` and forecasts rows
``[t, t + horizon)``. A window belongs to the split that holds its whole horizon, so its
lookback may reach back into earlier splits (the usual protocol of the long-horizon
benchmarks); windows never cross from one series into another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from lstmkit.forecasting.data import Series


@dataclass
class Scaler:
    """Per-column standardisation fitted on training rows: ``(x - mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, parts: Sequence[np.ndarray]) -> Scaler:
        """Fit on the rows of several (T_i, C) arrays together."""
        rows = np.concatenate(list(parts), axis=0)
        if rows.shape[1] == 0:
            return cls(np.zeros(0), np.ones(0))
        mean = rows.mean(0)
        std = rows.std(0)
        # a constant column (std 0, or rounding noise around its value) stays constant, not
        # NaN; the threshold is relative, so columns of tiny values are still standardised
        std = np.where(std > 1e-12 * np.abs(rows).max(0, initial=0.0), std, 1.0)
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def inverse(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        """Undo :meth:`transform` along ``axis`` (the column axis)."""
        shape = [1] * x.ndim
        shape[axis] = -1
        return x * self.std.reshape(shape) + self.mean.reshape(shape)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, list[float]]) -> Scaler:
        return cls(np.asarray(values["mean"], np.float64), np.asarray(values["std"], np.float64))


@dataclass
class Scalers:
    """One scaler per role: targets, past covariates, future covariates, static covariates."""

    target: Scaler
    past: Scaler
    future: Scaler
    static: Scaler

    @classmethod
    def fit(cls, series: Sequence[Series], train_rows: Sequence[int]) -> Scalers:
        return cls(
            target=Scaler.fit([s.target[:n] for s, n in zip(series, train_rows, strict=True)]),
            past=Scaler.fit([s.past[:n] for s, n in zip(series, train_rows, strict=True)]),
            future=Scaler.fit([s.future[:n] for s, n in zip(series, train_rows, strict=True)]),
            static=Scaler.fit([s.static[None, :] for s in series]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("target", "past", "future", "static")}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Scalers:
        return cls(**{k: Scaler.from_dict(values[k])
                      for k in ("target", "past", "future", "static")})


class WindowSet(Dataset):
    """Forecast windows over scaled series, fetched a whole batch at a time.

    Items are batches (``__getitems__``): ``(inputs, target)`` with ``inputs`` a dict of
    ``y_past`` (B, L, C), ``x_past`` (B, L, Cp + Cf), ``x_future`` (B, Hz, Cf), ``static``
    (B, S) and ``target`` (B, Hz, C), all float32; L is the lookback, Hz the horizon. A
    target value that was not observed (filled by ``data.fill``) is NaN in ``target``, for
    the losses to leave out, and filled in ``y_past``.
    """

    def __init__(self, series: Sequence[Series], scalers: Scalers, lookback: int,
                 horizon: int, origins: Sequence[np.ndarray]) -> None:
        self.lookback = lookback
        self.horizon = horizon
        offsets = np.cumsum([0] + [len(s) for s in series])
        # all series end to end, scaled together (row by row, as each alone): (N_rows, C)
        # etc.; windows index into them
        self.y = torch.from_numpy(scalers.target.transform(
            np.concatenate([s.target for s in series]))).float()
        # the targets scored: NaN where a value was not observed (filled by data.fill), which
        # the losses leave out; the filled values stay in the inputs
        self.y_scored = self.y if all(s.observed is None or s.observed.all() for s in series) \
            else torch.from_numpy(scalers.target.transform(
                np.concatenate([s.observed_target() for s in series]))).float()
        future = scalers.future.transform(np.concatenate([s.future for s in series]))
        past = scalers.past.transform(np.concatenate([s.past for s in series]))
        self.x_past = torch.from_numpy(np.concatenate([past, future], axis=1)).float()
        self.x_future = torch.from_numpy(future).float()
        self.static = torch.from_numpy(scalers.static.transform(
            np.stack([s.static for s in series]))).float()
        # per window: global row of its origin and its series number
        self.origin = torch.from_numpy(np.concatenate(
            [offsets[i] + np.asarray(o, np.int64) for i, o in enumerate(origins)]
        ).astype(np.int64))
        self.series_index = torch.from_numpy(np.concatenate(
            [np.full(len(o), i, np.int64) for i, o in enumerate(origins)]))
        self.local_origin = torch.from_numpy(np.concatenate(
            [np.asarray(o, np.int64) for o in origins]))
        self._past_steps = torch.arange(-lookback, 0)
        self._future_steps = torch.arange(horizon)

    def __len__(self) -> int:
        return len(self.origin)

    def any_observed(self) -> bool:
        """Whether some window's target holds an observed value."""
        if self.y_scored is self.y:
            return len(self) > 0
        scored = ~torch.isnan(self.y_scored).any(dim=1)  # rows with an observed value
        rows = self.origin[:, None] + self._future_steps
        return bool(scored[rows].any())

    def __getitem__(self, index: int) -> tuple[dict[str, Tensor], Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> tuple[dict[str, Tensor], Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        origin = self.origin[idx]
        past_rows = origin[:, None] + self._past_steps  # (B, L)
        future_rows = origin[:, None] + self._future_steps  # (B, Hz)
        inputs = {
            "y_past": self.y[past_rows],  # (B, L, C)
            "x_past": self.x_past[past_rows],  # (B, L, Cp + Cf)
            "x_future": self.x_future[future_rows],  # (B, Hz, Cf)
            "static": self.static[self.series_index[idx]],  # (B, S)
        }
        return inputs, self.y_scored[future_rows]  # (B, Hz, C), NaN where not observed


def _batch_identity(batch: Any) -> Any:
    return batch


def window_origins(n_rows: int, lookback: int, horizon: int, start: int, end: int,
                   stride: int = 1) -> np.ndarray:
    """Origins whose horizon lies in rows ``[start, end)`` and whose lookback fits in the
    series: ``t >= max(start, lookback)`` and ``t + horizon <= end``, every ``stride`` rows,
    the last origin always included."""
    first = max(start, lookback)
    last = min(end, n_rows) - horizon
    if last < first:
        return np.zeros(0, np.int64)
    origins = np.arange(last, first - 1, -stride)[::-1]  # anchored on the last origin
    return origins.astype(np.int64)


def loader(windows: WindowSet, batch_size: int, *, shuffle: bool,
           min_batches: int = 0) -> DataLoader:
    """A DataLoader that fetches whole batches with one gather. With ``shuffle``, an epoch
    of fewer than ``min_batches`` batches is made ``min_batches`` long by passing over the
    windows again, each pass in a fresh order (the last pass cut short)."""
    if shuffle and len(windows) and math.ceil(len(windows) / batch_size) < min_batches:
        sampler = RandomSampler(windows, num_samples=min_batches * batch_size)
        return DataLoader(windows, batch_size=batch_size, sampler=sampler,
                          collate_fn=_batch_identity, drop_last=False)
    return DataLoader(windows, batch_size=batch_size, shuffle=shuffle,
                      collate_fn=_batch_identity, drop_last=False)
