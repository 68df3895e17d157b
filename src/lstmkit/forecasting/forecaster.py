"""``Forecaster``: fit on a table, predict the next horizon, evaluate, backtest, save, load."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit import __version__
from lstmkit.forecasting.config import (
    DataConfig,
    ForecastConfig,
    ModelConfig,
    quantile_column,
)
from lstmkit.forecasting.conformal import conformal_margins, typical_scale, widen, window_scale
from lstmkit.forecasting.data import (
    Series,
    TooShortError,
    clip_to_bounds,
    first_reason,
    past_the_end,
    read_frame,
    series_id,
    series_name,
    series_names,
    split_sizes,
    to_series,
    warn,
)
from lstmkit.forecasting.metrics import make_loss, observed_mean
from lstmkit.forecasting.model import ForecastEnsemble, ForecastNet, point_forecast
from lstmkit.forecasting.windows import Scalers, WindowSet, loader, window_origins
from lstmkit.nn.config import positive_int, shown
from lstmkit.saving import (
    check_format_version,
    damaged,
    not_saved,
    path_arg,
    read_state_dict,
)
from lstmkit.training import FitResult, fit, is_first_process, seed_everything
from lstmkit.training.config import check_lightning_names, defaults_of, settings_of
from lstmkit.training.fit import check_resume
from lstmkit.training.members import (
    check_member_seeds,
    hold_members,
    member_callbacks,
    member_seed,
    member_training,
)
from lstmkit.training.task import batch_weight

# 2: the direct decoder's covariate term became a local MLP (its weights changed shape)
# 3: conformal margins in units of each window's scale (meta.json's conformal_scale), which
# an lstmkit reading 2 would add in the targets' units; 2 is read, its margins as they were
FORMAT_VERSION = 3
PREDICT_BATCH = 1024
PATHS = 500
"""Paths :meth:`Forecaster.predict` samples a quantile forecast over past the horizon."""
PATH_BATCH = 4096
"""Paths sampled together (series' paths are batched up to this many)."""
MAX_PATHS = 100_000
"""Paths :meth:`Forecaster.predict` samples at most per series: the level a quantile of
10,000 paths stands for is already within about 0.005 of its own (a standard error of
sqrt(q (1 - q) / paths)), so that more cost time and memory for nothing."""
MAX_PATH_VALUES = 2**27
"""Values the paths sampled together hold at most (1 GiB of float64): a series' paths hold
paths x (lookback + steps) x targets values, :meth:`Forecaster.predict` refuses a forecast
whose paths would hold more before it starts, and samples as many series together as fit."""
MAX_HORIZONS_AHEAD = 1000
"""Horizons :meth:`Forecaster.predict` forecasts at most (``steps`` up to this many times the
horizon, or :data:`MIN_STEPS_AHEAD`, when more): each past the first is a pass of the network
over the window before it (its lookback, the forecasts of the horizons before it included),
so that the time grows with the horizons (1000 horizons of 12 with 500 sampled paths take
about half a minute a series on two cores), but the error compounds with each: far past
1000 horizons a forecast is the model's own echo, not the data's."""
MIN_STEPS_AHEAD = 2000
"""Steps :meth:`Forecaster.predict` forecasts at least, where 1000 horizons are fewer (a model
of a short horizon forecasting years of days: 2000 passes of a few rows each)."""
SPLITS = ("train", "val", "test", "all")
"""The parts of a table :meth:`Forecaster.windows` takes windows from."""
FUTURE_TABLE = "future table (future=, --future)"
"""How :meth:`Forecaster.predict`'s errors and warnings name its known-future covariates,
by Python's and the command line's names (which the HTTP server maps to its request's)."""


@dataclass
class Prepared:
    """Series of one table with their split sizes (train, val, test rows) and the frequency
    they were read at (None without a time column)."""

    series: list[Series]
    sizes: list[tuple[int, int, int]]
    freq: str | None = None
    # the series of the table left out as too short (data.short_series 'skip'): id -> why
    left_out: dict[str, str] = field(default_factory=dict)


def static_outside(forecaster: Forecaster, series: Sequence[Series]) -> str | None:
    """Words for the static covariates of ``series`` outside the range of the series the
    model was trained on (its forecasts for them extrapolate); None when all are inside, or
    the model kept no range."""
    dc = forecaster.config.data
    ranges = forecaster.static_range or {}
    def out(value: float, lo: float, hi: float) -> bool:
        # (by more than float32 rounding: a column trained on as float32 and read back as
        # float64 from a CSV or a request is the same value)
        tol = 1e-6 * max(abs(lo), abs(hi))
        return not lo - tol <= value <= hi + tol

    outside = [(s, col, float(s.static[k]), ranges[col])
               for s in series for k, col in enumerate(dc.static_covariates)
               if col in ranges and out(s.static[k], *ranges[col])]
    if not outside:
        return None
    names = sorted({s.id for s, *_ in outside})
    listed = "; ".join(f"{series_name(s.id, dc)} {col}={value:.7g} (trained on {lo:.7g} to "
                       f"{hi:.7g})" for s, col, value, (lo, hi) in outside[:5])
    more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
    return (f"{len(names)} series {_are(len(names))} given static covariates outside the "
            f"values of the series the model was trained on, so the model extrapolates for "
            f"{'it' if len(names) == 1 else 'them'}: {listed}{more}")


def _rows_read(prepared: Prepared) -> str:
    """The training and validation rows of ``prepared``, which make the windows, the scalers
    and the validation loss, in words a resume compares: how many, and a digest of their
    series ids, times and values."""
    digest = hashlib.sha256()
    rows = [0, 0]
    for s, (n_train, n_val, _) in zip(prepared.series, prepared.sizes, strict=True):
        n = n_train + n_val
        rows[0], rows[1] = rows[0] + n_train, rows[1] + n_val
        digest.update(s.id.encode() + b"\0")
        for values in (s.target[:n], s.past[:n], s.future[:n], s.static):
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        if isinstance(s.time, pd.DatetimeIndex):
            # in one unit (a CSV read by pandas 2 gives ns, by pandas 3 us: the same times)
            try:
                times = s.time[:n].as_unit("ns")
            except ValueError:  # (out of the nanoseconds' range: years past 2262, say)
                times = s.time[:n].as_unit("us")
            digest.update(np.asarray(times.asi8).tobytes())
    return (f"{len(prepared.series)} series, {rows[0]} training and {rows[1]} validation "
            f"rows, sha256 {digest.hexdigest()[:12]}")


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _left_out_text(left_out: dict[str, str]) -> str:
    """The series ``left_out`` names (id -> why), and why the first was."""
    return f"series {series_names(list(left_out))}; {first_reason(left_out)}"


def _left_out_warning(left_out: dict[str, str], kept: int, what: str) -> str:
    """The warning that ``data.short_series`` 'skip' left the series ``left_out`` (id ->
    why) out of ``kept`` + their number, as too short ``what`` ("to train on")."""
    return (f"data.short_series='skip': {len(left_out)} of {len(left_out) + kept} series "
            f"{_are(len(left_out))} too short {what} and left out: {_left_out_text(left_out)}")


def _no_validation_rows(prepared: Prepared, kept: list[int], data: DataConfig) -> str | None:
    """For a date ``data.val`` with a fraction or row-count ``data.test`` (taken from each
    series' end), the words that name the series of ``kept`` (indices into ``prepared``)
    whose test part starts before the date, so that it leaves them no validation rows while
    others have some, and say why; None when there are none. (Every series without any is
    refused as such later; a refit backtest, without a test part, ends some series before
    its validation date on purpose.)"""
    if not isinstance(data.val, str) or isinstance(data.test, str):
        return None
    sizes = [prepared.sizes[k] for k in kept]
    ids = [prepared.series[k].id for k, (_, n_val, n_test) in zip(kept, sizes, strict=True)
           if n_val == 0 and n_test > 0]
    if not ids or not any(n_val for _, n_val, _ in sizes):
        return None
    one = len(ids) == 1
    return (f"data.val={data.val!r} leaves series {series_names(ids)} no validation rows "
            f"(the other series have some): it is later than every row before "
            f"{'its' if one else 'their'} test part (data.test={data.test!r}), so no "
            "validation window; it trains without validation (give an earlier date to "
            "validate it)")


def _or_skip(n_series: int) -> str:
    """What a too-short-series error adds where the table holds other series, which
    ``data.short_series`` 'skip' would keep."""
    return ("; or set data.short_series to 'skip' (--set data.short_series=skip) to leave "
            "such series out" if n_series > 1 else "")


def _every_series_short(left_out: dict[str, str], data: DataConfig) -> ValueError:
    """The error for a table whose every series ``data.short_series`` 'skip' left out: why
    the first was, for data of one series (without ``data.series_col``)."""
    if data.series_col is None:
        return ValueError(next(iter(left_out.values())))
    return ValueError(f"data.short_series='skip' leaves out every series of the table, as "
                      f"too short: {_left_out_text(left_out)}")


class Forecaster:
    """An LSTM forecaster configured by one :class:`ForecastConfig`.

    Example::

        config = ForecastConfig(
            data=DataConfig(target=["OT"], time_col="date", val=0.1, test=0.2),
            model=ModelConfig(lookback=336, horizon=96, segment_len=24, hidden_size=256),
            training=TrainConfig(max_epochs=10, early_stopping_patience=3))
        forecaster = Forecaster(config).fit(df)
        forecaster.predict(df)           # next `horizon` steps after the end of df
        forecaster.evaluate(df).table    # test metrics beside the baselines
        forecaster.save("model_dir"); Forecaster.load("model_dir")
    """

    # what fit sets, together
    _FITTED = ("net", "scalers", "freq", "fit_results", "fit_result", "val_loss", "kept_start",
               "margins", "margin_scale", "calibration_windows", "seen_until", "static_range")

    def __init__(self, config: ForecastConfig) -> None:
        if not isinstance(config, ForecastConfig):
            raise TypeError(f"config must be a ForecastConfig, got {type(config).__name__}")
        self.config = config
        self.net: ForecastNet | ForecastEnsemble | None = None
        self.scalers: Scalers | None = None
        self.freq: str | None = None
        # one FitResult per network (model.ensemble); fit_result is the last of them
        self.fit_results: list[FitResult] = []
        self.fit_result: FitResult | None = None
        # model.loss of the trained forecast (an ensemble's mean) on the validation windows,
        # before any conformal correction; None without validation windows
        self.val_loss: float | None = None
        # whether the network(s) kept the untrained state, the naive forecast
        self.kept_start = False
        # (P, Hz, C) interval corrections, with model.conformal: in units of each window's
        # scale (its lookback's mean absolute change, this (C,) where it has none), or in the
        # targets' units where margin_scale is None (models saved by an lstmkit before it)
        self.margins: np.ndarray | None = None
        self.margin_scale: np.ndarray | None = None
        # how many validation windows calibrated them (the fewest at a step and target)
        self.calibration_windows: int | None = None
        # per series id, the last time whose target training or validation read (ISO 8601);
        # None before fit, without a time column, or saved by an lstmkit that kept none
        self.seen_until: dict[str, str] | None = None
        # per static covariate, the [lowest, highest] value of the series trained on; None
        # before fit, or saved by an lstmkit that kept none
        self.static_range: dict[str, list[float]] | None = None

    # -- data ------------------------------------------------------------------------------
    def prepare(self, data: pd.DataFrame | str | Path) -> Prepared:
        """Parse and check a table (at the fitted model's frequency, or the one inferred);
        compute split sizes. With ``data.short_series`` 'skip', a series the split refuses
        is left out into ``left_out`` (id -> why) without a warning: ``fit``, ``evaluate``
        and ``backtest`` given the result warn of it."""
        return self._prepare(data, self.freq)

    def _prepare(self, data: pd.DataFrame | str | Path, freq: str | None) -> Prepared:
        frame = read_frame(data, self.config.data.series_col)
        series, freq = to_series(frame, self.config.data, freq=freq)
        kept, sizes, left_out = [], [], {}
        for s in series:
            try:
                sizes.append(split_sizes(s, self.config.data))
            except TooShortError as err:
                if self.config.data.short_series == "error":
                    raise TooShortError(f"{err}{_or_skip(len(series))}") from None
                left_out[s.id] = str(err)
                continue
            kept.append(s)
        if not kept:
            raise _every_series_short(left_out, self.config.data)
        return Prepared(kept, sizes, freq, left_out)

    def without_training_window(self, prepared: Prepared) -> dict[str, str]:
        """The series of ``prepared`` with no training window (lookback + horizon rows in
        the training part), id -> why: what ``fit`` refuses, or with ``data.short_series``
        'skip' leaves out."""
        m, dc = self.config.model, self.config.data
        need = m.lookback + m.horizon
        out = {}
        for s, (n_train, _, _) in zip(prepared.series, prepared.sizes, strict=True):
            if len(s) < need:
                out[s.id] = (f"{series_name(s.id, dc)} has {len(s)} rows, but lookback "
                             f"({m.lookback}) + horizon ({m.horizon}) = {need} rows are "
                             "needed for one window; reduce model.lookback or model.horizon")
            elif n_train < need:
                out[s.id] = (f"the training part of {series_name(s.id, dc)} has {n_train} "
                             f"rows, fewer than lookback ({m.lookback}) + horizon "
                             f"({m.horizon}) = {need}: no training window; reduce "
                             "model.lookback, model.horizon, data.val or data.test")
        return out

    def _check_lengths(self, prepared: Prepared) -> Prepared:
        """``prepared`` checked for training: a series without a training window, or with a
        validation or test part shorter than a horizon, is an error, or with
        ``data.short_series`` 'skip' left out of training or without a window in that part
        (warned). A series that a date ``data.val`` leaves no validation rows while others
        have some is warned of. Returns the series kept, with those left out in
        ``left_out``."""
        m, dc = self.config.model, self.config.data
        untrainable = self.without_training_window(prepared)
        if untrainable and dc.short_series == "error":
            raise ValueError(next(iter(untrainable.values())) + _or_skip(len(prepared.series)))
        left_out = {**prepared.left_out, **untrainable}
        kept = []
        no_window: dict[str, list[str]] = {"validation": [], "test": []}
        for k, (s, (_, n_val, n_test)) in enumerate(
                zip(prepared.series, prepared.sizes, strict=True)):
            if s.id in untrainable:
                continue
            kept.append(k)
            for part, rows, key in (("validation", n_val, "val"), ("test", n_test, "test")):
                if 0 < rows < m.horizon:
                    if dc.short_series == "error":
                        raise ValueError(
                            f"the {part} part of {series_name(s.id, dc)} has {rows} rows, "
                            f"fewer than horizon ({m.horizon}): no {part} window; enlarge "
                            f"data.{key} or set it to 0{_or_skip(len(prepared.series))}")
                    no_window[part].append(s.id)
        if not kept:
            raise _every_series_short(left_out, dc)
        no_val = _no_validation_rows(prepared, kept, dc)
        if left_out:
            warn(_left_out_warning(left_out, len(kept), "to train on"), stacklevel=3)
        for part, ids in no_window.items():
            if ids:
                warn(f"data.short_series='skip': series {series_names(ids)} "
                     f"{'has' if len(ids) == 1 else 'have'} a {part} part shorter "
                     f"than horizon ({m.horizon}), so no {part} window", stacklevel=3)
        if no_val:  # (a series that ended before the date, say: it trains unvalidated)
            warn(no_val, stacklevel=3)
        prepared = replace(prepared, series=[prepared.series[k] for k in kept],
                           sizes=[prepared.sizes[k] for k in kept], left_out=left_out)
        late = isinstance(dc.test, str) and past_the_end(prepared.series, dc.test,
                                                         dc.time_format)
        if late:
            # a later file's test part can still be scored by evaluate: said, not refused
            warn(f"data.test={dc.test!r} {late}: nothing is held out for testing", stacklevel=3)
        if isinstance(dc.val, str) and not any(n_val for _, n_val, _ in prepared.sizes):
            late = past_the_end(prepared.series, dc.val, dc.time_format)
            why = (f"it {late}" if late else
                   f"the test part (data.test={dc.test!r}) starts before it in every series")
            raise ValueError(f"data.val={dc.val!r} leaves no validation rows: {why}; give "
                             "an earlier date, or 0 for no validation part")
        return prepared

    def windows(self, prepared: Prepared, split: str, stride: int = 1,
                scalers: Scalers | None = None) -> WindowSet:
        """Windows whose horizon lies in ``split`` (``train``, ``val``, ``test`` or ``all``),
        one origin every ``stride`` (a whole number >= 1) rows, scaled by ``scalers``
        (default: the fitted model's)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        stride = positive_int("stride", stride)
        scalers = self.scalers if scalers is None else scalers
        if scalers is None:
            raise RuntimeError("the forecaster is not fitted: call fit() or load() first")
        m = self.config.model
        origins = []
        for s, (n_train, n_val, n_test) in zip(prepared.series, prepared.sizes, strict=True):
            start, end = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                          "test": (n_train + n_val, n_train + n_val + n_test),
                          "all": (0, len(s))}[split]
            origins.append(window_origins(len(s), m.lookback, m.horizon, start, end, stride))
        return WindowSet(prepared.series, scalers, m.lookback, m.horizon, origins)

    # -- training --------------------------------------------------------------------------
    def fit(self, data: pd.DataFrame | str | Path | Prepared, *,
            resume: bool | str | Path = False,
            callbacks: Sequence[Any] | Callable[[int], Sequence[Any]] = ()) -> Forecaster:
        """Train on the train part of ``data``; validate (early stopping) on its val part.
        ``data`` may be a table this forecaster has prepared (:meth:`prepare`), whose split
        sizes are then taken as they are (a refit backtest sets them). A table not prepared
        is read afresh: its frequency is inferred again, as the scalers and weights are fitted
        again (a second ``fit`` on weekly data after daily data learns weekly steps; data it
        refuses leave the frequency as it was).

        ``resume`` continues from a checkpoint (see :func:`lstmkit.training.fit`; with
        ``model.ensemble`` > 1 only ``True``: each member resumes from its own folder).
        ``callbacks`` are extra Lightning callbacks (a pruning callback when tuning): a
        sequence, which with ``model.ensemble`` > 1 serves the first member while each later
        member gets a deep copy made before training (so that stateful ones such as
        ``EarlyStopping`` start afresh), or a function of the member index returning the
        member's callbacks (for callbacks that cannot be copied)."""
        members = self.config.model.ensemble
        check_resume(resume)
        if members > 1 and not isinstance(resume, bool):
            raise ValueError(f"resume={str(resume)!r} names one checkpoint, but "
                             f"model.ensemble={members} trains {members} networks, each "
                             "resuming from its own member<k> folder of "
                             "training.checkpoint_dir; pass resume=True")
        check_member_seeds(self.config.training.seed, members)
        check_lightning_names(self.config.training)  # (before the data are prepared)
        callbacks_of = member_callbacks(callbacks, members)
        # a table not prepared is read at its own frequency, not an earlier fit's
        prepared = data if isinstance(data, Prepared) else self._prepare(data, None)
        # the series by id, so that the batches, hence the weights, do not depend on where in
        # the table each series' rows are
        order = sorted(range(len(prepared.series)), key=lambda k: prepared.series[k].id)
        prepared = replace(prepared, series=[prepared.series[k] for k in order],
                           sizes=[prepared.sizes[k] for k in order])
        prepared = self._check_lengths(prepared)
        _warn_if_training_overlaps_a_test_part(prepared)
        # the model changes once trained (a refused or interrupted fit leaves it as it was)
        scalers = Scalers.fit(prepared.series, [n for n, _, _ in prepared.sizes])
        train = self.windows(prepared, "train", scalers=scalers)
        val = self.windows(prepared, "val", scalers=scalers)
        for split, windows in (("training", train), ("validation", val)):
            if len(windows) and not windows.any_observed():  # (nothing to learn or score)
                raise ValueError(f"the {split} windows hold no observed target value: every "
                                 f"one of their targets was filled by data.fill="
                                 f"{self.config.data.fill!r}, and filled values are not "
                                 "trained or scored on; give the data there, or move the "
                                 "split (data.val, data.test)")
        patience = self.config.training.early_stopping_patience
        if len(val) == 0 and patience is not None:
            raise ValueError(f"training.early_stopping_patience={patience} stops on the "
                             f"validation windows, but data.val={self.config.data.val!r} "
                             "gives none; enlarge data.val or set "
                             "training.early_stopping_patience to null")
        if len(val) == 0 and self.config.model.conformal:  # said now, not after training
            raise ValueError(f"model.conformal calibrates the intervals on the validation "
                             f"windows, but data.val={self.config.data.val!r} gives none; "
                             "enlarge data.val")
        cfg = self.config
        first = prepared.series[0]
        dims = {"n_targets": first.target.shape[1],
                "n_past": first.past.shape[1] + first.future.shape[1],
                "n_future": first.future.shape[1], "n_static": first.static.shape[0]}
        loss = make_loss(cfg.model)
        nets, kept, results = [], [], []
        rows = _rows_read(prepared)
        with hold_members(cfg.training, members):  # (a second run is refused)
            for m in range(members):
                training = cfg.training if members == 1 else member_training(
                    cfg.training, m, members, member_seed(cfg.training.seed, m))
                net, result, kept_start = self._fit_member(
                    dims, training, train, val, loss, resume, callbacks_of(m),
                    "" if members == 1 else f"member {m}: ", rows)
                nets.append(net)
                kept.append(kept_start)
                results.append(result)
        # the work after training (validation loss, calibration) may fail or be interrupted
        # too: the model is then put back as it was
        before = {name: getattr(self, name) for name in self._FITTED}
        try:
            self.net = nets[0] if members == 1 else ForecastEnsemble(nets)
            self.scalers, self.fit_results = scalers, results
            if prepared.freq is not None or not isinstance(first.time, pd.DatetimeIndex):
                self.freq = prepared.freq  # (a Prepared built without one keeps the model's)
            self.seen_until = None if not isinstance(first.time, pd.DatetimeIndex) else {
                s.id: s.time[n_train + n_val - 1].isoformat()
                for s, (n_train, n_val, _) in zip(prepared.series, prepared.sizes,
                                                  strict=True)}
            self.static_range = {
                col: [float(min(s.static[k] for s in prepared.series)),
                      float(max(s.static[k] for s in prepared.series))]
                for k, col in enumerate(cfg.data.static_covariates)}
            self.fit_result = self.fit_results[-1]
            self.kept_start = all(kept)
            self.val_loss = _loss_on(self._net(), val, loss) if len(val) else None
            self.net.eval()
            self.margins = self.margin_scale = self.calibration_windows = None
            if cfg.model.conformal:
                self._calibrate(prepared, val)
        except BaseException:
            for name, value in before.items():
                setattr(self, name, value)
            raise
        return self

    def _fit_member(self, dims: dict[str, int], training: Any, train: WindowSet,
                    val: WindowSet, loss: Any, resume: bool | str | Path,
                    callbacks: Sequence[Any], name: str, rows: str
                    ) -> tuple[ForecastNet, FitResult, bool]:
        """Build and train one network with ``training``'s seed; returns it, its FitResult
        and whether it kept its untrained state (no epoch beat it on validation). ``rows``
        words the rows it trains and validates on (:func:`_rows_read`), which a resume
        must share."""
        # the seed covers the initial weights too, so a run does not depend on what the
        # process drew from the random generators before it
        seed_everything(training.seed)
        cfg = self.config
        net = ForecastNet(cfg.model, **dims)

        def point_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            error = (point_forecast(output, cfg.model) - target) ** 2
            return observed_mean(error, ~torch.isnan(target))  # (filled values: not scored)

        # with instance normalisation and the zero-initialised head, the untrained network
        # is the naive forecast; it stays a candidate of the validation-based selection
        start_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        start_loss = _loss_on(net, val, loss) if len(val) else None
        result = fit(
            net, loss, loader(train, cfg.batch_size, shuffle=True,
                              min_batches=cfg.min_epoch_batches),
            loader(val, PREDICT_BATCH, shuffle=False) if len(val) else None,
            training, metrics={"mse": point_mse}, resume=resume, callbacks=callbacks,
            # what decides the windows, the network and its loss: a resume must keep them
            # (not where the data is read from, nor the work after training), and the seed
            # the run's was given, which its saved settings record
            # (nor data.short_series: a table it changes has a series the other refuses)
            run_settings={**settings_of("data", cfg.data,
                                        leave_out=("path", "target_bounds", "short_series")),
                          **settings_of("model", cfg.model, leave_out=("conformal", "ensemble")),
                          "batch_size": cfg.batch_size,
                          "min_epoch_batches": cfg.min_epoch_batches,
                          "training.seed": cfg.training.seed,
                          # the rows themselves (a checkpoint without them is not compared)
                          "training and validation rows": rows},
            # (a setting added since a checkpoint was written: its run had the default)
            # (min_epoch_batches: one pass, what a run had before the setting)
            run_defaults={**defaults_of("data", DataConfig), **defaults_of("model", ModelConfig),
                          "min_epoch_batches": 0},
            log_settings={**settings_of("data", cfg.data), **settings_of("model", cfg.model)})
        best = result.best_score
        # best is None when no validation check was finite (the run diverged)
        kept = (start_loss is not None and training.restore_best
                and training.monitor == "val_loss" and (best is None or start_loss <= best)
                and cfg.model.normalization != "none")
        if kept:
            net.load_state_dict(start_state)
            result.best_score = start_loss
            result.best_epoch = -1
            if is_first_process():  # (under DDP every process keeps it; one says so)
                warn(
                    f"{name}no training epoch beat the untrained network on validation "
                    f"(val_loss {start_loss:.4g} <= best epoch {_score(best)}); keeping it "
                    "instead of the weights training kept: the forecast is the "
                    f"{cfg.model.normalization!r} reference value of each window (the naive "
                    "forecast for normalization='last')",
                    stacklevel=3)
        return net.eval(), result, kept

    def _calibrate(self, prepared: Prepared, val: WindowSet) -> None:
        """Set :attr:`margins` from the validation windows (``model.conformal``; ``fit``
        has checked that there are some)."""
        # the actuals as the data hold them (float64), as score() takes them: the windows'
        # float32 targets, scaled back, would put the window that sets a margin a rounding
        # error outside its interval
        steps = np.arange(self.config.model.horizon)
        targets = [s.observed_target() for s in prepared.series]  # filled values: NaN
        actual = np.stack([targets[i][origin + steps] for i, origin
                           in zip(val.series_index.tolist(), val.local_origin.tolist(),
                                  strict=True)])  # (W, Hz, C)
        levels = self.config.model.quantiles
        # each window's errors in units of its own scale, so that a small or calm series is
        # not given a large or volatile one's margin
        scale = self._lookback_scale(val, floor=None)
        floor = typical_scale(scale)
        scale = np.where(np.isnan(scale), floor, scale)
        # (unclipped: the margins are the model's, whatever bounds it is later given; an
        # observed value is inside a clipped interval exactly when inside the unclipped one)
        self.margins = conformal_margins(self.predict_windows(val, clip=False), actual, levels,
                                         scale)
        self.margin_scale = floor
        self.calibration_windows = int((~np.isnan(actual)).sum(axis=0).min())
        too_few = self.too_few_calibration_windows()
        if too_few and is_first_process():  # (under DDP every process calibrates)
            warn(too_few, stacklevel=3)

    def too_few_calibration_windows(self) -> str | None:
        """Why the conformal margins carry no coverage guarantee, when they were calibrated
        on too few windows; None otherwise. CQR covers 1 - 2q of new windows when
        ceil((n + 1)(1 - 2q)) <= n of them calibrate it; with fewer, the margin is the
        largest score seen."""
        n, levels = self.calibration_windows, self.config.model.quantiles
        if n is None or self.margins is None:
            return None
        widest = levels[-1] - levels[0]
        needed = math.ceil(round(widest / (1 - widest), 9))
        if n >= needed:
            return None
        return (f"model.conformal calibrates the {widest:.0%} interval "
                f"({quantile_column(levels[0])} to {quantile_column(levels[-1])}) on {n} "
                f"validation window(s) (at some step), fewer than the "
                f"{needed} its coverage guarantee needs: its margins are the largest errors "
                "seen, and noisy; enlarge data.val")

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def predict_windows(self, windows: WindowSet, *, clip: bool = True) -> np.ndarray:
        """Model output for every window, in the targets' original units:
        (W, Hz, C) or (W, Hz, C, Q) for the quantile loss; clipped into
        ``data.target_bounds`` unless ``clip`` is False."""
        net = self._net()
        outs = []
        for start in range(0, len(windows), PREDICT_BATCH):
            inputs, _ = windows.__getitems__(range(start, min(start + PREDICT_BATCH,
                                                               len(windows))))
            outs.append(net(**inputs).double().numpy())
        if not outs:
            return np.zeros((0, self.config.model.horizon, windows.y.shape[1]))
        out = np.concatenate(outs)
        assert self.scalers is not None
        out = self.scalers.target.inverse(out, axis=2)
        if self.config.model.loss == "quantile":
            # quantiles trained separately can cross; sorting them (the rearrangement of
            # Chernozhukov et al. 2010) never raises the pinball loss summed over the levels
            out = np.sort(out, axis=-1)
        if self.margins is not None:
            scale = (None if self.margin_scale is None
                     else self._lookback_scale(windows, self.margin_scale))
            out = widen(out, self.margins, self.config.model.quantiles, scale)
        return clip_to_bounds(out, self.config.data) if clip else out

    def _lookback_scale(self, windows: WindowSet, floor: np.ndarray | None) -> np.ndarray:
        """Each window's scale (W, C) in the targets' units: the mean absolute change of
        each target over its lookback (:func:`~lstmkit.forecasting.conformal.window_scale`;
        ``floor`` where there is none)."""
        assert self.scalers is not None
        std = np.asarray(self.scalers.target.std, dtype=float)
        scales = [window_scale(windows.__getitems__(range(
            start, min(start + PREDICT_BATCH, len(windows))))[0]["y_past"].double().numpy()
            * std, floor) for start in range(0, len(windows), PREDICT_BATCH)]
        return (np.concatenate(scales) if scales
                else np.zeros((0, windows.y.shape[1])))

    def predict(self, data: pd.DataFrame | str | Path,
                future: pd.DataFrame | str | Path | None = None, *,
                steps: int | None = None, paths: int | None = None) -> pd.DataFrame:
        """Forecast the ``steps`` steps (default ``horizon``) after the end of each series in
        ``data``.

        ``steps`` past the horizon are forecast recursively: the network forecasts a
        horizon, its forecast is appended to the history as if observed, and it forecasts
        the next horizon from there; the last one may overlap the one before and gives only
        its new steps, at most :data:`MAX_HORIZONS_AHEAD` horizons (1000, or 2000 steps of a
        short horizon; more is an error, before the data are read). A model with past-only
        covariates cannot (their values after the data are unknown). With a point loss the
        point forecast is appended. With the quantile loss the forecast past the first
        horizon is sampled over ``paths`` paths (default :data:`PATHS`, at most
        :data:`MAX_PATHS`, and at most :data:`MAX_PATH_VALUES` sampled values; only the
        quantile loss takes them), so that its intervals hold the uncertainty of the history
        they are forecast from: each path appends a value drawn from each horizon's
        quantiles (one level per path, horizon and target, the quantiles interpolated
        linearly in normal scores and extended past the outermost), and the quantiles past
        the first horizon are those of the paths (the forecast their median). Each series
        draws from a generator seeded by its id: the same history gives the same forecast,
        whatever else is predicted with it (up to float32 rounding: other series in a batch
        change the order of the network's sums). ``paths=0`` appends the median instead, as
        a point loss does: faster, and deterministic, but then each horizon's intervals are
        given the forecasts before it, as if observed, narrower than the truth.

        ``future`` holds the known-in-future covariates for the steps forecast (same time and
        series columns; at least ``horizon`` of them, which the network reads); it is
        required when ``data.future_covariates`` is set, and an error when it is not (the
        model has no use for it). Returns one row per (series, step, target): the series id
        (column ``data.series_col``, when set), the step's timestamp (column
        ``data.time_col``, or ``time`` numbering rows after the last when there is no time
        column), ``target``, ``forecast`` and, for the quantile loss, one ``q<level>`` column
        per quantile (:func:`~lstmkit.forecasting.config.quantile_column`: ``q0.1``, ``q0.025``).
        """
        self._net()
        cfg = self.config
        m, dc = cfg.model, cfg.data
        asked = steps  # (paths says whether steps were given)
        steps = self.check_steps(steps)
        paths = self.check_paths(paths, None if asked is None else steps)
        frame = read_frame(data, self.config.data.series_col)
        series, _ = to_series(frame, dc, freq=self.freq, history=True)
        left_out = {s.id: f"{series_name(s.id, dc)} has {len(s)} rows, fewer than lookback "
                          f"({m.lookback}) needed to forecast" for s in series
                    if len(s) < m.lookback}
        if left_out and dc.short_series == "error":
            raise ValueError(next(iter(left_out.values())) + _or_skip(len(series)))
        if left_out:
            series = [s for s in series if s.id not in left_out]
            if not series:
                raise _every_series_short(left_out, dc)
            warn(_left_out_warning(left_out, len(series), "to forecast"), stacklevel=2)
        outside = static_outside(self, series)
        if outside:
            warn(outside, stacklevel=2)
        n = max(steps, m.horizon)  # the rows the network reads after the data
        future_values, times = self._future_inputs(series, future, n, steps, set(left_out))
        L = m.lookback
        for s, fut in zip(series, future_values, strict=True):
            # (so that the series, and the paths' copies of them, hold L + n rows, not the
            # history) append the known-future covariates; targets there are unknown (0)
            # until forecast
            s.future = np.concatenate([s.future[-L:], fut])
            s.target = np.concatenate([s.target[-L:], np.zeros((n, s.target.shape[1]))])
            s.past = np.concatenate([s.past[-L:], np.zeros((n, s.past.shape[1]))])
            s.time = pd.RangeIndex(len(s.future))
            # (predict scores nothing; the mask of filled values was the history's length)
            s.observed = None
        if steps <= m.horizon or m.loss != "quantile" or len(m.quantiles) == 1 or not paths:
            out = self._forecast_ahead(series, steps)
        else:
            targets = series[0].target.shape[1]
            held = paths * (L + n) * targets  # (a series' paths' copies of its targets)
            if held > MAX_PATH_VALUES:  # (before it starts)
                raise ValueError(
                    f"the {paths} paths (--paths) sampled over the {steps} steps (--steps) "
                    f"would hold {held:,} values a series ({paths} paths x {L + n} rows "
                    f"(lookback + steps) x {targets} targets), more than the "
                    f"{MAX_PATH_VALUES:,} (1 GiB) predict samples at once: ask for fewer "
                    "paths or steps, or paths=0 (--paths 0) to append the median instead")
            # series forecast together: up to PATH_BATCH paths, within MAX_PATH_VALUES
            group = max(1, min(PATH_BATCH // paths, MAX_PATH_VALUES // held))
            out = np.concatenate([self._sampled_paths(series[i:i + group], steps, paths)
                                  for i in range(0, len(series), group)])
        # the output names each series by its id as the input holds it (an int stays an int)
        ids = {} if dc.series_col is None else {
            series_id(k): k for k in frame[dc.series_col].drop_duplicates()}
        return self._forecast_frame(series, [t[:steps] for t in times], out, ids)

    def _forecast_ahead(self, series: list[Series], steps: int, done: int = 0,
                        draw: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The network's output for steps ``done`` to ``steps`` after each series' first
        ``lookback`` rows (``predict`` has cut them so and appended the rows to forecast),
        horizon by horizon, each appending its forecast to the series' targets: the point
        forecast, or ``draw(out)`` of the horizon's output ``out``. Each horizon's pass reads
        the rows of its window alone (its lookback and horizon; the scalers work row by row),
        so that the time grows with the horizons, not with their square."""
        m = self.config.model
        L, n = m.lookback, len(series[0]) - m.lookback
        parts, first = [], done
        while done < steps:
            start = min(done, n - m.horizon)  # the last horizon ends at the last step
            windows = WindowSet([s.rows(start, start + L + m.horizon) for s in series],
                                self.scalers, L, m.horizon, [np.array([L])] * len(series))
            out = self.predict_windows(windows)
            self._check_finite(out, series, windows, self.config.data)
            out = out[:, done - start:]
            parts.append(out)
            values = draw(out) if draw is not None else \
                out if m.loss != "quantile" else out[..., m.median_index]
            for s, value in zip(series, values, strict=True):
                s.target[L + done:L + start + m.horizon] = value
            done = start + m.horizon
        return np.concatenate(parts, axis=1)[:, :steps - first]

    def _sampled_paths(self, series: list[Series], steps: int, paths: int) -> np.ndarray:
        """``predict``'s quantile forecast past the horizon, sampled over ``paths`` paths
        per series: (S, steps, C, Q). Each series draws from a generator seeded by its id,
        so that its forecast does not depend on the other series predicted with it."""
        m = self.config.model
        L, Hz = m.lookback, m.horizon
        knots = np.array([NormalDist().inv_cdf(q) for q in m.quantiles])
        generators = [np.random.default_rng(
            list(hashlib.sha256(s.id.encode()).digest()[:8])) for s in series]

        def draw(out: np.ndarray) -> np.ndarray:  # (S * P, steps, C, Q) -> (S * P, steps, C)
            z = np.concatenate([g.standard_normal((paths, 1, out.shape[2]))  # a level per
                                for g in generators])  # path, horizon and target
            return clip_to_bounds(from_normal_scores(out, knots, z), self.config.data)

        first = self._forecast_ahead(series, Hz)  # the first horizon's quantiles: exact
        copies = [replace(s, target=s.target.copy()) for s in series for _ in range(paths)]
        for s, value in zip(copies, draw(np.repeat(first, paths, axis=0)), strict=True):
            s.target[L:L + Hz] = value
        self._forecast_ahead(copies, steps, Hz, draw)
        drawn = np.stack([s.target[L + Hz:L + steps] for s in copies])
        drawn = drawn.reshape(len(series), paths, steps - Hz, -1)
        later = np.moveaxis(np.quantile(drawn, m.quantiles, axis=1), 0, -1)
        return np.concatenate([first, later], axis=1)

    def check_paths(self, paths: int | None, steps: int | None = None) -> int:
        """``paths`` as :meth:`predict` takes it with ``steps`` (default: :data:`PATHS`),
        checked; ``steps`` is checked already (:meth:`check_steps`)."""
        if paths is None:
            return PATHS
        paths = positive_int("paths (--paths)", paths, minimum=0, maximum=None)
        horizon = self.config.model.horizon
        if self.config.model.loss != "quantile":
            raise ValueError(f"paths (--paths) sample a quantile forecast past the horizon, "
                             f"but the model's loss is {self.config.model.loss!r}, which "
                             "forecasts no quantiles (its point forecast is appended): leave "
                             "paths (--paths) out")
        if paths > MAX_PATHS:
            raise ValueError(f"paths (--paths) must be at most {MAX_PATHS}, got "
                             f"{shown(paths, format)}: a quantile of 10,000 paths is already "
                             "within about 0.005 of its level, and more paths cost time and "
                             "memory for nothing")
        if steps is None or steps <= horizon:  # (it would change nothing)
            raise ValueError(f"paths (--paths) sample the forecast past the model's horizon "
                             f"({horizon} steps), and "
                             + ("no steps (--steps) were given" if steps is None else
                                f"steps (--steps) {steps} are within it")
                             + f": they apply with steps above {horizon}; leave them out")
        return paths

    def check_steps(self, steps: int | None) -> int:
        """``steps`` as :meth:`predict` takes it, checked (default: the horizon)."""
        m = self.config.model
        if steps is None:
            return m.horizon
        steps = positive_int("steps (--steps)", steps, maximum=None)  # (the bound below)
        if steps > m.horizon and self.config.data.past_covariates:
            raise ValueError(
                f"steps={steps} is past the model's horizon ({m.horizon}), which it would "
                "forecast recursively, but the model reads past-only covariates "
                f"{list(self.config.data.past_covariates)}, whose values after the data are "
                f"unknown: ask for at most {m.horizon} steps, or train a model without "
                "data.past_covariates (or with them as data.future_covariates, if known)")
        most = max(MAX_HORIZONS_AHEAD * m.horizon, MIN_STEPS_AHEAD)
        if steps > most:
            raise ValueError(
                f"steps (--steps) must be at most {most} ({most // m.horizon} horizons of "
                f"{m.horizon}), got {shown(steps, format)}: steps past the horizon are forecast "
                "recursively, one pass of the network per horizon over the forecasts before it, "
                "and the error compounds with each (far more would be the model's own echo, not "
                "the data's): ask for fewer steps, or train a model with a longer horizon "
                "(model.horizon)")
        return steps

    @staticmethod
    def _check_finite(out: np.ndarray, series: list[Series], windows: WindowSet,
                      dc: DataConfig) -> None:
        """Refuse a forecast that is not finite, naming the series and why."""
        blank = np.flatnonzero(~np.isfinite(out.reshape(len(out), -1)).all(axis=1)).tolist()
        if blank:  # (it was a forecast of NaN, without a word)
            inputs, _ = windows.__getitems__(blank)
            overflow = not all(torch.isfinite(v).all() for v in inputs.values())
            ids = list(dict.fromkeys(series[i].id for i in blank))  # (a series' sampled paths
            raise ValueError(  # are several copies of it)
                f"the forecast of {series_name(ids[0], dc)}"
                f"{''.join(f', {i!r}' for i in ids[1:5])}"
                f"{' and more' if len(ids) > 5 else ''} is not finite: " + (
                    "its last lookback rows (or covariates) hold values so far from the "
                    "training data's that, scaled, they overflow float32 (3.4e38 standard "
                    "deviations): check them (a unit? a typo?)" if overflow else
                    "the network gives non-finite values for its inputs (values far outside "
                    "the training data's range?)"))

    def _future_inputs(self, series: list[Series], future: Any, n: int, steps: int,
                       left_out: set[str] | frozenset[str] = frozenset()
                       ) -> tuple[list[np.ndarray], list[pd.Index]]:
        """The known-future covariates of the ``n`` steps after each series, and their times
        (``steps`` asked for, ``n`` >= ``steps`` read by the network); the table's rows for
        series ``left_out`` of the data are not warned of."""
        dc = self.config.data
        whole = (f" (the network reads its whole horizon, {n} steps, also to forecast "
                 f"{steps})") if steps < n else ""
        times = [self._future_times(s, n) for s in series]
        if not dc.future_covariates:
            if future is not None:
                raise ValueError("future= (--future) was given, but the model has no "
                                 "data.future_covariates: it was trained without known-future "
                                 "covariates and would ignore the table; leave future= "
                                 "(--future) out")
            return [np.zeros((n, 0)) for _ in series], times
        if future is None:
            raise ValueError(f"future covariates {list(dc.future_covariates)} must cover the "
                             f"{n} steps after the data{whole}: pass future=<table> "
                             "(--future <csv>)")
        frame = read_frame(future, dc.series_col, label=FUTURE_TABLE)
        fut_cfg = replace(dc, past_covariates=(), static_covariates=(), val=0, test=0)
        fut_series, _ = to_series(frame, fut_cfg, need_target=False, freq=self.freq,
                                  source=f"the {FUTURE_TABLE}")
        by_id = {s.id: s for s in fut_series}
        _warn_of_unused_future_rows(series, {k: f for k, f in by_id.items()
                                             if k not in left_out}, dc)
        values = []
        for s, t in zip(series, times, strict=True):
            f = by_id.get(s.id)
            if f is None:
                raise ValueError(f"the {FUTURE_TABLE} has no rows for "
                                 f"series {s.id!r}; it holds series {sorted(by_id)}")
            if isinstance(t, pd.DatetimeIndex):
                if isinstance(f.time, pd.DatetimeIndex) and (t.tz is None) != (f.time.tz is None):
                    raise ValueError(
                        f"the {FUTURE_TABLE} and the data must both have a "
                        f"time zone or both have none; {series_name(s.id, dc)} has {t.tz} in "
                        f"the data and {f.time.tz} in the future table")
                idx = pd.Index(f.time).get_indexer(t)
                covered = int((idx >= 0).sum())
            else:
                if len(f) > n:  # which of its rows are the horizon's is unknown
                    raise ValueError(
                        f"the {FUTURE_TABLE} holds {len(f)} rows for "
                        f"{series_name(s.id, dc)}, and without a time column (data.time_col) "
                        "its rows are "
                        f"the {n} steps after the data, in order: give exactly "
                        f"{'horizon' if n == self.config.model.horizon else 'steps'} ({n}) "
                        "rows per series")
                idx = np.arange(n) if len(f) == n else np.full(n, -1)
                covered = len(f)
            between = _between_steps(t, f.time, s.time[-1])  # rows off the model's grid
            if covered < n:
                # (a winter history at +01:00 and a summer table at +02:00: an hour apart,
                # whose clock times all match)
                zones = (f"; the data's times are at {t.tz} and the table's at {f.time.tz}, "
                         "and the table holds every step at the data's clock times: local "
                         "times written with UTC offsets that change across a daylight-saving "
                         "change? write both without offsets, as local times"
                         if isinstance(t, pd.DatetimeIndex)
                         and t.tz is not None and isinstance(f.time, pd.DatetimeIndex)
                         and f.time.tz is not None and str(f.time.tz) != str(t.tz)
                         and t.tz_localize(None).isin(f.time.tz_localize(None)).all()
                         else "")
                off = _off_the_steps(t, between, self.freq) if not zones else ""
                lacks = (f" (the first it lacks: {t[int(np.argmax(idx < 0))]})"
                         if 0 < covered < n and isinstance(t, pd.DatetimeIndex) else "")
                raise ValueError(
                    f"the {FUTURE_TABLE} covers {covered} of the {n} steps "
                    f"after the end of {series_name(s.id, dc)} ({t[0]} .. {t[-1]}){lacks}; it "
                    f"holds {len(f)} row(s) for it, {f.time[0]} .. {f.time[-1]}: provide all "
                    f"of them{whole}{zones}{off}")
            if len(between):  # (an hourly table for a daily model: which hour is the day's?)
                raise ValueError(
                    f"the {FUTURE_TABLE} has {len(between)} row(s) for "
                    f"{series_name(s.id, dc)} between the steps forecast ({t[0]} .. {t[-1]}, "
                    f"frequency {self.freq!r}), first {between[0]}: write its rows at the "
                    "times of the data's grid")
            given = f.future[idx]  # (n, F)
            for bad, what, fix in (
                    (np.isinf(given), "infinite", " (inf, or a number too large in magnitude "
                     "for a float64, past 1.8e308): fix them"),
                    (np.isnan(given), "missing", f"; they are covariates of the steps "
                     f"forecast{whole}: give their values (data.fill makes up none of them)")):
                if bad.any():
                    col = int(np.argmax(bad.any(0)))
                    raise ValueError(
                        f"{int(bad[:, col].sum())} {what} value(s) in column "
                        f"{dc.future_covariates[col]!r} of {series_name(s.id, dc)} of the "
                        f"{FUTURE_TABLE}, first at "
                        f"{t[int(np.argmax(bad[:, col]))]}{fix}")
            values.append(given)
        return values, times

    def _future_times(self, s: Series, h: int) -> pd.Index:
        if isinstance(s.time, pd.DatetimeIndex) and self.freq:
            try:
                return pd.date_range(s.time[-1], periods=h + 1, freq=self.freq)[1:]
            except pd.errors.OutOfBoundsDatetime:
                horizon = self.config.model.horizon
                last = pd.Timestamp(np.datetime64(np.iinfo(np.int64).max, s.time.unit))
                fit, over = 0, h  # the steps that fit: fit of them do, over do not
                while over - fit > 1:
                    mid = (fit + over) // 2
                    try:
                        pd.date_range(s.time[-1], periods=mid + 1, freq=self.freq)
                        fit = mid
                    except pd.errors.OutOfBoundsDatetime:
                        over = mid
                # (the network forecasts a whole horizon, whatever fewer steps are asked for)
                fix = (f"ask for at most {fit} steps (steps=, --steps)" if fit >= horizon else
                       f"only {fit} steps fit, fewer than the model's horizon of {horizon}, "
                       "which it forecasts whatever fewer steps= asks for")
                raise ValueError(
                    f"the {h} steps forecast after the end of "
                    f"{series_name(s.id, self.config.data)} ({s.time[-1]}, a step of "
                    f"{self.freq!r}) run past the last time its timestamps (of "
                    f"{s.time.unit}) can hold, {last}: {fix}") from None
        return pd.RangeIndex(len(s), len(s) + h)

    def _forecast_frame(self, series: list[Series], times: list[pd.Index],
                        out: np.ndarray, ids: dict[str, Any]) -> pd.DataFrame:
        cfg = self.config
        m, dc = cfg.model, cfg.data
        rows = []
        point = out if m.loss != "quantile" else out[..., m.median_index]
        for i, (s, t) in enumerate(zip(series, times, strict=True)):
            for c, name in enumerate(dc.target):
                part: dict[str, Any] = {}
                if dc.series_col is not None:
                    part[dc.series_col] = ids.get(s.id, s.id)
                part[dc.time_col or "time"] = t
                part["target"] = name
                part["forecast"] = point[i, :, c]
                if m.loss == "quantile":
                    for k, q in enumerate(m.quantiles):
                        part[quantile_column(q)] = out[i, :, c, k]
                rows.append(pd.DataFrame(part))
        return pd.concat(rows, ignore_index=True)

    def _net(self) -> ForecastNet | ForecastEnsemble:
        if self.net is None or self.scalers is None:
            raise RuntimeError("the forecaster is not fitted: call fit() or load() first")
        self.net.eval()
        return self.net

    # -- evaluation (see evaluation.py) --------------------------------------------------------
    def evaluate(self, data: pd.DataFrame | str | Path | Prepared, **kwargs: Any) -> Any:
        """Metrics on every test window, beside the baselines; see
        :func:`lstmkit.forecasting.evaluation.evaluate`."""
        from lstmkit.forecasting.evaluation import evaluate

        return evaluate(self, data, **kwargs)

    def backtest(self, data: pd.DataFrame | str | Path, **kwargs: Any) -> Any:
        """Rolling-origin backtest; see :func:`lstmkit.forecasting.evaluation.backtest`."""
        from lstmkit.forecasting.evaluation import backtest

        return backtest(self, data, **kwargs)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.pt``, ``config.yaml``, ``scalers.json`` and ``meta.json`` into the
        folder ``path``, replacing a model saved there; a FileExistsError when ``path`` holds
        anything else. Under DDP only the first process writes (the others hold the same
        weights); each returns the path."""
        import yaml

        net = self._net()
        first = net.members[0] if isinstance(net, ForecastEnsemble) else net
        assert self.scalers is not None
        path = check_save_path(path)
        if not is_first_process():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # written in a new folder that then takes the place of ``path``: a crash never
        # leaves a half-written model there
        # (one per process and thread: two saves to ``path`` at once each write their own)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            torch.save(net.state_dict(), tmp / "model.pt")
            (tmp / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(written=True),
                                                            sort_keys=False))
            (tmp / "scalers.json").write_text(json.dumps(self.scalers.to_dict()))
            meta = {"kind": "forecaster", "format_version": FORMAT_VERSION,
                    "lstmkit_version": __version__,
                    "torch_version": torch.__version__, "freq": self.freq,
                    "dims": {"n_targets": first.n_targets,
                             "n_past": first.embed[0].in_features // first.cfg.segment_len
                             - first.ch_in, "n_future": first.n_future,
                             "n_static": first.n_static},
                    # kept to check config.yaml by, before the weights (only the highway's
                    # shape holds it, and a model without one would load another lookback)
                    "lookback": self.config.model.lookback,
                    "conformal_margins": None if self.margins is None else self.margins.tolist(),
                    # the margins are in units of each window's scale, this where it has none
                    "conformal_scale": (None if self.margin_scale is None
                                        else self.margin_scale.tolist()),
                    "conformal_windows": self.calibration_windows,
                    "seen_until": self.seen_until, "static_range": self.static_range}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            _replace_folder(tmp, path)
        except BaseException:  # (a config that YAML cannot write, a full disk, Ctrl-C)
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written folder left beside path
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a directory written by :meth:`save`; checks the format version.

        Raises:
            FileNotFoundError: one of the saved files is missing.
            ValueError: naming the folder and the file: a file is damaged (cut short, not
                JSON, YAML or a PyTorch file, or not what :meth:`save` writes there), holds
                another kind of model or format version, or the files do not fit together.
        """
        import yaml

        from lstmkit import yamlio
        from lstmkit.forecasting.config import ForecastConfig, saved_config

        path = path_arg("path", path)
        if not (path / "meta.json").is_file():
            raise not_saved(path, "forecaster")
        meta = _read_json_object(path, "meta.json")
        if meta.get("kind", "forecaster") != "forecaster":  # older forecasters name none
            raise ValueError(f"{path} holds a {meta['kind']!r} model, expected 'forecaster'")
        for name in sorted(SAVED_FILES):
            if not (path / name).is_file():
                raise FileNotFoundError(f"{str(path / name)!r} does not exist: not a saved "
                                        "lstmkit forecaster directory")
        check_format_version(meta, "model", path, FORMAT_VERSION, oldest=2)
        try:
            values = yamlio.load((path / "config.yaml").read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise damaged(path, "forecaster", "config.yaml", "is not valid YAML",
                          err) from None
        try:
            config = ForecastConfig.from_dict(saved_config(values, str(path / "config.yaml")))
        except (TypeError, ValueError) as err:  # not a mapping, unknown keys, bad values
            writer = meta.get("lstmkit_version")
            if writer is not None and writer != __version__:  # a setting of another version
                raise ValueError(
                    f"saved forecaster {str(path)!r}: config.yaml does not fit this lstmkit "
                    f"({__version__}; it was written by lstmkit {writer}): "
                    f"{' '.join(str(err).split())}; load it with the lstmkit that wrote it, "
                    "or retrain") from None
            raise damaged(path, "forecaster", "config.yaml",
                          "is not a valid forecaster configuration", err) from None
        forecaster = cls(config)
        forecaster.freq = meta.get("freq")
        forecaster.seen_until = meta.get("seen_until")
        forecaster.static_range = meta.get("static_range")
        scalers = _read_json_object(path, "scalers.json")
        try:
            forecaster.scalers = Scalers.from_dict(scalers)
        except (KeyError, TypeError, ValueError) as err:  # keys missing, not numbers
            raise damaged(path, "forecaster", "scalers.json",
                          "does not hold the scalers save writes", err) from None
        # before the weights, whose highway's shape holds the lookback: this says which
        # setting changed (models saved before it was recorded have none)
        trained = meta.get("lookback")
        if trained is not None and trained != config.model.lookback:
            raise ValueError(f"saved model {str(path)!r} does not hold together: config.yaml "
                             f"has model.lookback={config.model.lookback}, but the model was "
                             f"trained with {trained} (meta.json); were these files edited? "
                             "Save the model again from its Forecaster")
        state = read_state_dict(path, "forecaster")
        try:
            nets = [ForecastNet(config.model, **meta["dims"])
                    for _ in range(config.model.ensemble)]
            forecaster.net = nets[0] if len(nets) == 1 else ForecastEnsemble(nets)
            forecaster.net.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as err:
            detail = " ".join(str(err).split())  # load_state_dict lists one line per tensor
            raise ValueError(f"saved model {str(path)!r} does not hold together: the network "
                             "that config.yaml and meta.json describe does not match the "
                             f"weights in model.pt ({type(err).__name__}: {detail}); were these "
                             "files edited? Save the model again from its Forecaster") from None
        forecaster.net.eval()
        margins = meta.get("conformal_margins")
        forecaster.margins = None if margins is None else np.asarray(margins, dtype=float)
        scale = meta.get("conformal_scale")  # (None: in the targets' units, saved before it)
        forecaster.margin_scale = None if scale is None else np.asarray(scale, dtype=float)
        forecaster.calibration_windows = meta.get("conformal_windows")  # (None: not saved)
        return forecaster


def from_normal_scores(quantiles: np.ndarray, knots: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Values at normal scores ``z`` of distributions given by their ``quantiles`` (..., Q)
    at the levels whose normal scores are ``knots`` (Q,), increasing: the quantiles joined
    linearly in normal scores, and extended past the outermost by the outermost segments
    (a normal distribution's tails, for quantiles of a normal). ``z`` and
    ``quantiles[..., 0]`` broadcast together."""
    shape = np.broadcast_shapes(np.shape(z), quantiles.shape[:-1])
    z = np.broadcast_to(z, shape)
    quantiles = np.broadcast_to(quantiles, (*shape, quantiles.shape[-1]))
    upper = np.clip(np.searchsorted(knots, z), 1, len(knots) - 1)  # each z's segment
    lo = np.take_along_axis(quantiles, (upper - 1)[..., None], -1)[..., 0]
    hi = np.take_along_axis(quantiles, upper[..., None], -1)[..., 0]
    return lo + (hi - lo) * (z - knots[upper - 1]) / (knots[upper] - knots[upper - 1])


SAVED_FILES = frozenset({"model.pt", "config.yaml", "scalers.json", "meta.json"})


def _read_json_object(path: Path, name: str) -> dict[str, Any]:
    """The JSON object in the file ``name`` of the saved forecaster ``path``; a ValueError
    from :func:`lstmkit.saving.damaged` when it is not JSON or not an object."""
    try:
        value = json.loads((path / name).read_text(encoding="utf-8"))
    except ValueError as err:  # json.JSONDecodeError, UnicodeDecodeError
        raise damaged(path, "forecaster", name, "is not valid JSON", err) from None
    if not isinstance(value, dict):
        held = {list: "an array", str: "a string", bool: "true or false",
                type(None): "null"}.get(type(value), "a number")
        raise damaged(path, "forecaster", name,
                      f"does not hold a JSON object (it holds {held})")
    return value


@torch.no_grad()
def _loss_on(net: torch.nn.Module, windows: WindowSet, loss: Any) -> float:
    """``loss`` of ``net`` (in eval mode) over ``windows``: the mean over their observed
    targets (per window where all are observed)."""
    training = net.training
    net.eval()
    total, count = 0.0, 0.0
    for start in range(0, len(windows), PREDICT_BATCH):
        inputs, target = windows.__getitems__(range(start, min(start + PREDICT_BATCH,
                                                               len(windows))))
        weight = batch_weight(target)  # (as an epoch's validation weighs it)
        total += float(loss(net(**inputs), target)) * weight
        count += weight
    net.train(training)
    return total / count if count else float("nan")


def _replace_folder(new: Path, path: Path) -> None:
    """Move the folder ``new`` to ``path``, taking the place of a folder there: a reader sees
    the old folder or the new one, never a mix (or, where the process is killed between the
    two renames, neither: the old one is then at ``<new>.old``, which loading ``path``
    points to). Another process saving to ``path`` at the
    same time can put its folder there between this one's two renames; that folder is moved
    aside in turn (the last save wins) rather than the save failing."""
    old = path.with_name(new.name + ".old")
    for _ in range(100):
        shutil.rmtree(old, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):  # nothing saved there yet
            path.rename(old)
        try:
            new.rename(path)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            continue  # another save took the place: move it aside and try again
        shutil.rmtree(old, ignore_errors=True)
        return
    raise OSError(f"cannot save the model to {str(path)!r}: other processes kept replacing it")


def check_save_path(path: str | Path, *,
                    instead: str = "choose a new path (e.g. a subfolder 'model')") -> Path:
    """``path`` resolved, where :meth:`Forecaster.save` may write: nothing, an empty folder or
    a saved model is there; a FileExistsError otherwise, ending with what to do ``instead``
    (to check before training, too)."""
    path = path_arg("path", path).resolve()
    if path.exists() and not (path.is_dir() and _replaceable(path)):
        raise FileExistsError(
            f"cannot save the model to {str(path)!r}: it exists and is not a saved model "
            f"or an empty folder, and saving replaces the whole folder; {instead}")
    return path


def _replaceable(folder: Path) -> bool:
    """Whether ``save`` may replace ``folder``: it is empty or holds a saved model only."""
    names = {p.name for p in folder.iterdir()}
    return not names or ("meta.json" in names and names <= SAVED_FILES)


def _between_steps(steps: pd.Index, times: pd.Index, last: Any) -> pd.Index:
    """The ``times`` of a future table that fall between the data's ``last`` time and the
    last of the ``steps`` forecast after it, on none of them: rows off the model's grid (a
    calendar's month ends or weekends are steps apart by no fixed spacing)."""
    if not isinstance(steps, pd.DatetimeIndex) or not isinstance(times, pd.DatetimeIndex):
        return pd.Index([])
    return times[(times > last) & (times <= steps[-1]) & ~times.isin(steps)]


def _off_the_steps(steps: pd.Index, within: pd.Index, freq: str | None) -> str:
    """What to add to the error for a future table that misses steps, when rows of it fall
    ``within`` the ``steps`` forecast (:func:`_between_steps`; a daily model's table stamped
    at noon, say): the first such time, and the steps' first time and frequency."""
    if not len(within):
        return ""
    every = f", frequency {freq!r}" if freq else ""  # (month ends are no fixed spacing)
    return (f"; {len(within)} of its rows fall between the steps forecast ({steps[0]}{every}), "
            f"e.g. {within[0]}: write them at the times of the data's grid")


def _warn_of_unused_future_rows(series: list[Series], future: dict[str, Series],
                                data: DataConfig) -> None:
    """Warn of what a future table holds that predict does not use and the user may have
    meant: rows for series that are not in the data (an id mistyped?), and, with
    ``data.fill`` none (so that both tables hold only values given, none filled), values at
    times the data covers that differ from the data's (the data's are what the network
    reads)."""
    ids = {s.id for s in series}
    unknown = sorted(k for k in future if k not in ids)
    if unknown:
        warn(f"the {FUTURE_TABLE} holds rows for {len(unknown)} series "
             f"not in the data, {unknown[:5]}{' ...' if len(unknown) > 5 else ''}: they are "
             f"not used (the data holds {sorted(ids)[:5]}"
             f"{' ...' if len(ids) > 5 else ''})", stacklevel=4)
    if data.fill != "none":
        return
    differing = []
    for s in series:
        f = future.get(s.id)
        if f is None or not isinstance(s.time, pd.DatetimeIndex):
            continue
        at = pd.Index(f.time).get_indexer(s.time)  # the table's row of each time of the data
        rows = np.flatnonzero(at >= 0)
        given, read = f.future[at[rows]], s.future[rows]
        differ = ~np.isclose(given, read, rtol=1e-9, atol=0.0) & ~np.isnan(given)
        if differ.any():
            differing.append((s, rows, given, read, differ))
    if differing:
        s, rows, given, read, differ = differing[0]
        first = int(np.argmax(differ.any(axis=1)))
        names = [c for c, d in zip(data.future_covariates, differ.any(axis=0), strict=True) if d]
        others = (f" (and {len(differing) - 1} other series)" if len(differing) > 1 else "")
        warn(
            f"the {FUTURE_TABLE} gives {series_name(s.id, data)}{others} "
            f"other values of {names} than the data at {int(differ.any(axis=1).sum())} "
            f"time(s) the data covers, first {s.time[rows[first]]}: {given[first].tolist()} "
            f"against the data's {read[first].tolist()}; the data's are used (the table is "
            "read only after the data's end)", stacklevel=4)


def _warn_if_training_overlaps_a_test_part(prepared: Prepared) -> None:
    """Warn when splits by fraction or row count give series that end at different times a
    training part reaching into another series' test period (date splits never do)."""
    if len(prepared.series) < 2 or not isinstance(prepared.series[0].time, pd.DatetimeIndex):
        return
    parts = list(zip(prepared.series, prepared.sizes, strict=True))
    train_end, a = max((s.time[n_train - 1], s.id) for s, (n_train, _, _) in parts)
    tested = [(s.time[n_train + n_val], s.id) for s, (n_train, n_val, n_test) in parts
              if n_test]
    if not tested:
        return
    test_start, b = min(tested)
    if train_end >= test_start:
        warn(
            f"the training part of series {a!r} runs to {train_end}, past the start of the "
            f"test part of series {b!r} ({test_start}): one model trained on every series "
            "learns from dates it is then tested on; set data.val and data.test to dates to "
            "cut every series at the same time", stacklevel=3)


def _score(value: float | None) -> str:
    return "none finite" if value is None else f"{value:.4g}"
