"""Scoring: the model and the baselines on the same windows; rolling-origin backtests.

``evaluate`` scores every window whose horizon lies in the test part. ``backtest`` moves the
forecast origin through a range of the data every ``stride`` steps; it reuses the trained model
(one batched pass over all origins) or, with ``refit=True``, trains a new model at the start of
each fold on the data before it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import numbers
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import pandas as pd

from lstmkit.forecasting import baselines as bl
from lstmkit.forecasting.config import Baseline, DataConfig, quantile_column
from lstmkit.forecasting.data import (
    Series,
    clip_to_bounds,
    date_in,
    first_reason,
    format_times,
    parse_date,
    parse_times,
    past_the_end,
    read_frame,
    rows_of,
    season_from_freq,
    series_groups,
    series_id,
    series_name,
    series_names,
    warn,
)
from lstmkit.forecasting.metrics import coverage, naive_scale, point_metrics, quantile_loss
from lstmkit.forecasting.windows import WindowSet, window_origins
from lstmkit.nn.config import plain_value
from lstmkit.saving import path_arg
from lstmkit.training import is_first_process
from lstmkit.training.fit import hold_folder

if TYPE_CHECKING:
    from lstmkit.forecasting.forecaster import Forecaster, Prepared

MODEL_NAME = "lstmkit"
REPORT_FILES = ("metrics.csv", "metrics_by_target.csv", "metrics_by_series.csv",
                "per_origin.csv", "metrics.json")
"""The files :meth:`EvalReport.save` writes (those of its tables that it has): the command
line refuses an ``--out`` where one of them is the data it reads."""
Start = float | int | str | dt.date | np.datetime64 | None
"""A backtest's ``start``: a row, a fraction, or a date (text or a date object)."""


@dataclass
class EvalReport:
    """Forecasts and scores over a set of windows.

    Attributes:
        table: one row per method (the model first), columns ``mse``, ``mae``, ``rmse``,
            ``mape``, ``smape``, ``mase`` (+ ``quantile_loss``, ``coverage`` for quantile
            models), in the targets' original units, averaged over windows, steps, channels.
        by_target: with several targets, the same table per target (index target, method),
            as the pooled table mixes their units; ``None`` for one target.
        by_series: with several series scored, the same table per series (index series,
            method; series, target, method with several targets); ``None`` for one.
        per_origin: one row per (method, series, origin) with ``mse`` and ``mae``.
        actual: (W, Hz, C) actual values.
        forecasts: method -> (W, Hz, C) point forecasts.
        quantiles: (W, Hz, C, Q) model quantiles (``None`` for point losses).
        windows: per window: ``series`` (id), ``origin`` (row) and ``origin_time``.
        notes: baselines that could not run and why.
        series_col: the data's series column (``data.series_col``); None for data of one
            series without one, whose id ("0") titles and messages leave out.
        time_format: the data's ``data.time_format``, in which :meth:`save` writes the
            origin times (as ``forecast.csv`` writes its times, :func:`format_times`).
    """

    table: pd.DataFrame
    per_origin: pd.DataFrame
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    quantiles: np.ndarray | None
    quantile_levels: tuple[float, ...]
    windows: pd.DataFrame
    target_names: tuple[str, ...]
    lookback: int
    series: list[Series] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)
    by_target: pd.DataFrame | None = None
    by_series: pd.DataFrame | None = None
    series_col: str | None = None
    time_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Scores as plain values (for JSON): a score that does not apply (a baseline's
        quantile loss, MAPE of all-zero actuals) or is not finite is None, JSON's null."""
        out = {"metrics": _records(self.table), "n_windows": len(self.windows),
               "notes": self.notes}
        if self.by_target is not None:
            out["metrics_by_target"] = _records(self.by_target)
        if self.by_series is not None:
            out["metrics_by_series"] = _records(self.by_series)
        return out

    def save(self, path: str | Path) -> list[Path]:
        """Write the tables (CSV) and scores (JSON) into folder ``path``; returns the files
        written. A table this report does not have (by target, by series) is removed from
        the folder, where an earlier report's would pass for this one's. The origin times
        are written as the data's are: in ``data.time_format`` where it writes every one in
        full, else in ISO 8601 (:func:`format_times`)."""
        path = path_arg("path", path)
        path.mkdir(parents=True, exist_ok=True)
        tables = {"metrics.csv": self.table, "metrics_by_target.csv": self.by_target,
                  "metrics_by_series.csv": self.by_series}
        written = []
        for name, table in tables.items():
            if table is not None:
                table.to_csv(path / name)
                written.append(path / name)
            else:
                (path / name).unlink(missing_ok=True)
        per_origin = self.per_origin
        if pd.api.types.is_datetime64_any_dtype(per_origin["origin_time"]):  # (not row numbers)
            per_origin = per_origin.assign(origin_time=format_times(per_origin["origin_time"],
                                                                    self.time_format))
        per_origin.to_csv(path / "per_origin.csv", index=False)
        (path / "metrics.json").write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return [*written, path / "per_origin.csv", path / "metrics.json"]

    def plot(self, path: str | Path, window: int = -1, max_channels: int = 4,
             series: Any = None) -> Path:
        """PNG of one window: history, actuals, forecast, interval and one baseline (seasonal
        naive where it was scored, else naive). With ``series`` (an id), ``window`` counts that
        series' windows (-1: its last)."""
        from lstmkit.forecasting.plots import plot_window

        return plot_window(self, path_arg("path", path), window=window,
                           max_channels=max_channels, series=series)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``table``'s rows, index included, with None for a score that is not finite."""
    table = table.reset_index()
    numbers = table.select_dtypes("number")
    table = table.astype(object)
    table[numbers.columns] = numbers.astype(object).where(np.isfinite(numbers), None)
    return table.to_dict(orient="records")


def _warn_note(notes: list[str], note: str, stacklevel: int) -> None:
    """Warn ``note`` (``stacklevel`` as the caller would pass it to ``warnings.warn``) and
    keep it among a report's ``notes``."""
    warn(note, stacklevel=stacklevel + 1)
    notes.append(note)


def _season(forecaster: Forecaster) -> int:
    season = forecaster.config.evaluation.season_length
    return season if season is not None else season_from_freq(forecaster.freq)


def score(forecaster: Forecaster, prepared: Prepared, origins: list[np.ndarray],
          baselines: tuple[str, ...] | None = None,
          predictions: np.ndarray | None = None,
          fit_rows: list[np.ndarray] | None = None) -> EvalReport:
    """Score the model (or given ``predictions``) and ``baselines`` at ``origins``.

    ``fit_rows`` gives, per series and origin, the rows that ETS and ARIMA are fitted on and
    that scale MASE (the first rows of the series, a count that never decreases with the
    origin); by default the training part, which the model was trained on.
    """
    cfg = forecaster.config
    m, ev = cfg.model, cfg.evaluation
    baselines = ev.baselines if baselines is None else tuple(baselines)
    _check_windows(forecaster, origins)
    predictions_given = predictions is not None
    if predictions is None:  # (a refit backtest's come from its folds' models)
        assert forecaster.scalers is not None
        windows = WindowSet(prepared.series, forecaster.scalers, m.lookback, m.horizon, origins)
        predictions = forecaster.predict_windows(windows)
    quantiles = predictions if m.loss == "quantile" else None
    point = predictions if quantiles is None else predictions[..., m.median_index]
    steps = np.arange(m.horizon)
    # values that were not observed (inserted or filled by data.fill) are NaN: not scored
    actual = np.concatenate([s.observed_target()[o[:, None] + steps] for s, o in
                             zip(prepared.series, origins, strict=True)])  # (W, Hz, C)
    season = _season(forecaster)
    if fit_rows is None:
        fit_rows = [np.full(len(o), n_train) for (n_train, _, _), o in
                    zip(prepared.sizes, origins, strict=True)]
    scales = [_mase_scales(s, rows, season)
              for s, rows in zip(prepared.series, fit_rows, strict=True)]
    scale = np.concatenate(scales)
    forecasts = {MODEL_NAME: point}
    notes: list[str] = []
    if prepared.left_out:
        one = len(prepared.left_out) == 1
        _warn_note(notes, f"data.short_series='skip': series "
                   f"{series_names(list(prepared.left_out))} {'is' if one else 'are'} too "
                   f"short for the split and not scored; {first_reason(prepared.left_out)}",
                   stacklevel=4)
    _note_unscaled(notes, prepared, scales, cfg.data)
    _note_unobserved(notes, prepared, origins, actual, cfg.data)
    freq = forecaster.freq
    yearly = bool(freq) and freq.lstrip("0123456789").startswith(("Y", "A"))  # a season of 1
    if ev.season_length is None and season == 1 and not yearly:
        why = ("the data have no time column (data.time_col) to take a frequency from"
               if cfg.data.time_col is None else "the frequency of the data is unknown"
               if not freq else f"whole steps of the frequency {freq!r} fill no season "
               "(a day, a week, a year)")
        note = (f"season: 1, as {why}: seasonal naive is the naive "
                "forecast, ETS is non-seasonal and MASE is scaled by the naive error; set "
                "evaluation.season_length to the season in steps (e.g. 7 for daily data; 1 "
                "keeps this without the warning)")
        _warn_note(notes, note, stacklevel=4)
    seasonal = (0, 0, 0, 0)
    if ev.arima_seasonal_order is not None and "arima" in baselines:
        if season > 1:
            seasonal = (*ev.arima_seasonal_order, season)
        else:
            notes.append(f"arima: non-seasonal: evaluation.arima_seasonal_order="
                         f"{list(ev.arima_seasonal_order)} needs a season of 2 steps or more, "
                         "and it is 1")
    progress = cfg.training.progress_bar and is_first_process()
    for name in baselines:
        try:
            # (clipped into data.target_bounds as the model's are: the same knowledge)
            forecasts[name] = clip_to_bounds(
                _baseline(name, prepared.series, origins, fit_rows, m.horizon, season,
                          ev.arima_order, seasonal, progress=progress), cfg.data)
        except (ValueError, np.linalg.LinAlgError) as err:
            notes.append(f"{name}: not scored ({err})")
            continue
        if name == "ets" and season > 1:
            # one fit per series and distinct fit_rows (a refit backtest: one per fold)
            fits = [int(n) for rows in fit_rows for n in np.unique(rows)]
            flat = sum(bl.ets_season(season, n) is None for n in fits)
            if flat:
                which = "" if flat == len(fits) else f" in {flat} of its {len(fits)} fits"
                notes.append(f"ets: non-seasonal (damped trend){which}: a seasonal ETS is "
                             f"fitted for seasons up to 24 with two seasons of training rows, "
                             f"and evaluation.season_length is {season}")
    if quantiles is not None:
        interval = f"[{quantile_column(m.quantiles[0])}, {quantile_column(m.quantiles[-1])}]"
        notes.append(f"coverage: share of actuals inside {interval} "
                     f"(nominal {m.quantiles[-1] - m.quantiles[0]:.0%})")
        # (said by fit; a saved model's report says it again, in fit's words, which the
        # command line prints once; a refit backtest's forecasts are its folds' models')
        too_few = None if predictions_given else forecaster.too_few_calibration_windows()
        if too_few:
            notes.append(too_few)
    table = _metrics_table(actual, forecasts, scale, quantiles, m.quantiles)
    if quantiles is not None:
        nominal = m.quantiles[-1] - m.quantiles[0]
        covered = float(table.loc[MODEL_NAME, "coverage"])
        if covered < nominal / 2:  # (NaN, nothing observed, is not below)
            _warn_note(notes, f"{MODEL_NAME}: its {interval} "
                              f"interval held {covered:.0%} of the actuals against a nominal "
                              f"{nominal:.0%}: far too narrow (the quantiles start equal and "
                              "spread as training goes on: train longer, or set "
                              "model.conformal to widen them on the validation windows)",
                       stacklevel=4)
    series_of = np.concatenate([[s.id] * len(o) for s, o in
                                zip(prepared.series, origins, strict=True)])

    def rows_of(windows: slice, channels: Any) -> dict[str, dict[str, float]]:
        """The metrics of some windows and target channels (a list), per method."""
        return _metrics_rows(
            actual[windows][..., channels],
            {k: f[windows][..., channels] for k, f in forecasts.items()},
            scale[windows][..., channels],
            None if quantiles is None else quantiles[windows][..., channels, :], m.quantiles)

    # several targets are also scored one by one (a pooled table mixes their units), and
    # several series: each series' windows are one block of them, in the order of the series
    parts = ([("target", name, [c]) for c, name in enumerate(cfg.data.target)]
             if len(cfg.data.target) > 1 else [])
    ends = np.cumsum([len(o) for o in origins])
    blocks = {s.id: slice(end - len(o), end) for s, o, end in
              zip(prepared.series, origins, ends, strict=True) if len(o)}

    def table_by(groups: list[tuple[dict[str, str], slice]]) -> pd.DataFrame:
        records = [{**keys, **({"target": name} if parts else {}), "method": method, **row}
                   for keys, rows in groups
                   for _, name, channels in (parts or [(None, None, slice(None))])
                   for method, row in rows_of(rows, channels).items()]
        index = [*groups[0][0], *(["target"] if parts else []), "method"]
        return pd.DataFrame.from_records(records).set_index(index)

    by_target = table_by([({}, slice(None))]) if parts else None
    by_series = None if len(blocks) < 2 else table_by(
        [({"series": sid}, rows) for sid, rows in blocks.items()])
    windows_frame = pd.DataFrame({
        "series": series_of,
        "origin": np.concatenate(origins),
        "origin_time": np.concatenate([np.asarray(s.time[o]) for s, o in
                                       zip(prepared.series, origins, strict=True)]),
    })
    observed = ~np.isnan(actual)
    per_origin = pd.concat([
        windows_frame.assign(method=name, mse=_window_means((fc - actual) ** 2, observed),
                             mae=_window_means(np.abs(fc - actual), observed))
        for name, fc in forecasts.items()
    ], ignore_index=True)
    return EvalReport(table=table, per_origin=per_origin, actual=actual, forecasts=forecasts,
                      quantiles=quantiles, quantile_levels=m.quantiles, windows=windows_frame,
                      target_names=cfg.data.target, lookback=m.lookback,
                      series=prepared.series, notes=notes, by_target=by_target,
                      by_series=by_series, series_col=cfg.data.series_col,
                      time_format=cfg.data.time_format)


def _note_unobserved(notes: list[str], prepared: Prepared, origins: Sequence[np.ndarray],
                     actual: np.ndarray, data: DataConfig) -> None:
    """Warn of, and note, the series whose windows hold no observed target (every value
    there filled by ``data.fill``): they count among the windows but are not scored."""
    ends = np.cumsum([len(o) for o in origins])
    empty = [f"{series_name(s.id, data)} ({len(o)} windows)"
             for s, o, end in zip(prepared.series, origins, ends, strict=True)
             if len(o) and np.isnan(actual[end - len(o):end]).all()]
    if empty:
        _warn_note(notes, f"no observed target value in the windows of "
                   f"{', '.join(empty[:5])}"
                   f"{f' and {len(empty) - 5} more' if len(empty) > 5 else ''}: every value "
                   f"there was filled by data.fill={data.fill!r}, so those windows are "
                   "counted but not scored", stacklevel=5)


def _window_means(errors: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(W,) mean over steps and channels of each window's (W, Hz, C) ``errors`` where the
    actual was ``observed``; NaN for a window with nothing observed (np.mean with ``where=``
    would warn "Mean of empty slice" there)."""
    counts = observed.sum((1, 2))
    sums = np.where(observed, errors, 0.0).sum((1, 2))
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def _metrics_table(actual: np.ndarray, forecasts: dict[str, np.ndarray], scale: np.ndarray,
                   quantiles: np.ndarray | None, levels: tuple[float, ...]) -> pd.DataFrame:
    """One row per method: the point metrics (and the model's quantile loss and coverage)."""
    table = pd.DataFrame.from_dict(_metrics_rows(actual, forecasts, scale, quantiles, levels),
                                   orient="index")
    table.index.name = "method"
    return table


def _metrics_rows(actual: np.ndarray, forecasts: dict[str, np.ndarray], scale: np.ndarray,
                  quantiles: np.ndarray | None, levels: tuple[float, ...]
                  ) -> dict[str, dict[str, float]]:
    """:func:`_metrics_table`'s rows, by method."""
    rows = {name: point_metrics(actual, fc, scale) for name, fc in forecasts.items()}
    if quantiles is not None:
        rows[MODEL_NAME]["quantile_loss"] = quantile_loss(actual, quantiles, levels)
        rows[MODEL_NAME]["coverage"] = coverage(actual, quantiles[..., 0], quantiles[..., -1])
    return rows


def _check_windows(forecaster: Forecaster, origins: list[np.ndarray]) -> None:
    """A ValueError when ``origins`` hold no window at all."""
    if sum(len(o) for o in origins) == 0:
        m = forecaster.config.model
        raise ValueError(f"no forecast windows to score: every window needs lookback "
                         f"({m.lookback}) rows before its origin and horizon ({m.horizon}) "
                         "rows after it inside the scored part; enlarge data.test (or, in "
                         "a backtest, move start earlier) or reduce model.horizon")


def _note_unscaled(notes: list[str], prepared: Prepared, scales: list[np.ndarray],
                   data: DataConfig) -> None:
    """Warn, and add to ``notes``, the errors MASE leaves out for want of a scale, by series
    (and target) and window (``scales``: each series' (W, C))."""
    unscaled = []
    for s, sc in zip(prepared.series, scales, strict=True):
        for c in np.flatnonzero(np.isnan(sc).any(0)):
            target = f" (target {data.target[c]!r})" if len(data.target) > 1 else ""
            unscaled.append(f"{series_name(s.id, data)}{target} in "
                            f"{int(np.isnan(sc[:, c]).sum())} of "
                            f"its {len(sc)} windows")
    if unscaled:
        _warn_note(notes, f"MASE leaves out the errors it cannot scale, of "
                   f"{', '.join(unscaled[:5])}"
                   f"{f' and {len(unscaled) - 5} more' if len(unscaled) > 5 else ''}: the "
                   "training part that scales them (of a refit backtest, the fold's) is "
                   "constant, exactly seasonal or without two observed values a season apart "
                   "(not longer than the season, evaluation.season_length), so the seasonal "
                   "naive error is 0 or unknown there; a series left out in all its windows "
                   "has no MASE of its own (NaN)", stacklevel=5)


def _mase_scales(s: Series, fit_rows: np.ndarray, season: int) -> np.ndarray:
    """(W, C) MASE denominators: the seasonal naive MAE over the first ``fit_rows`` rows."""
    counts, which = np.unique(fit_rows, return_inverse=True)
    observed = s.observed_target()  # filled values are no data to scale by
    scales = np.array([naive_scale(observed[:n], season) for n in counts])
    return scales.reshape(len(counts), s.target.shape[1])[which]


def _baseline(name: str, series: list[Series], origins: list[np.ndarray],
              fit_rows: list[np.ndarray], horizon: int, season: int,
              order: tuple[int, int, int], seasonal_order: tuple[int, int, int, int], *,
              progress: bool = False) -> np.ndarray:
    """Forecasts (W, Hz, C) of baseline ``name``, series-major, origins ascending. ETS and
    ARIMA fit one model per series, target and distinct fit rows: ``progress`` shows a bar
    over those fits when there are several."""
    from tqdm import tqdm

    if name not in get_args(Baseline):
        raise ValueError(f"unknown baseline {name!r}")
    fitted = name in ("ets", "arima")
    # one fit per distinct fit_rows, which never decrease with the origin
    total = sum(len(np.unique(rows)) * s.target.shape[1]
                for s, rows in zip(series, fit_rows, strict=True)) if fitted else 0
    parts = []
    with tqdm(total=total, desc=f"{name} baseline", unit="fit", leave=False,
              disable=not progress or total < 2) as bar:
        for s, o, rows in zip(series, origins, fit_rows, strict=True):
            if name == "naive":
                parts.append(bl.naive(s.target, o, horizon))
            elif name == "seasonal_naive":
                parts.append(bl.seasonal_naive(s.target, o, horizon, season))
            else:
                for n_fit in np.unique(rows):
                    at = o[rows == n_fit]
                    per_channel = []
                    for c in range(s.target.shape[1]):
                        per_channel.append(
                            bl.ets(s.target[:, c], int(n_fit), at, horizon, season)
                            if name == "ets" else
                            bl.arima(s.target[:, c], int(n_fit), at, horizon, order,
                                     seasonal_order))
                        bar.update()
                    parts.append(np.stack(per_channel, axis=-1))  # (W, Hz, C)
    return np.concatenate(parts)


def evaluate(forecaster: Forecaster, data: pd.DataFrame | str | Path | Prepared, *,
             split: str = "test", stride: int | None = None,
             baselines: tuple[str, ...] | None = None) -> EvalReport:
    """Score every window (every ``stride`` steps) whose horizon lies in ``split``
    (``"test"`` or ``"val"``) of ``data``, the table used in :meth:`Forecaster.fit` (or
    that table as this forecaster prepared it, :meth:`Forecaster.prepare`)."""
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    from lstmkit.forecasting.forecaster import Prepared

    forecaster._net()  # not fitted: said as predict says it
    stride = _check_stride(stride)
    baselines = _check_baselines(baselines)
    prepared = data if isinstance(data, Prepared) else forecaster.prepare(data)
    stride = stride or forecaster.config.evaluation.stride
    m = forecaster.config.model
    origins = []
    for s, (n_train, n_val, n_test) in zip(prepared.series, prepared.sizes, strict=True):
        start = n_train if split == "val" else n_train + n_val
        end = n_train + n_val if split == "val" else n_train + n_val + n_test
        origins.append(window_origins(len(s), m.lookback, m.horizon, start, end, stride))
    if sum(len(o) for o in origins) == 0:
        spec = getattr(forecaster.config.data, split)
        # (first row, rows) of each series' part
        parts = [(n_train, n_val) if split == "val" else (n_train + n_val, n_test)
                 for n_train, n_val, n_test in prepared.sizes]
        long_enough = [start for start, rows in parts if rows >= m.horizon]
        if long_enough:  # the part holds a horizon, but no lookback fits before it
            raise ValueError(
                f"the {split} part has no window: each needs lookback ({m.lookback}) rows "
                f"before its origin, and the {split} part starts at row {max(long_enough)} "
                f"(data.{split}={spec!r}); give the data from further back")
        late = isinstance(spec, str) and past_the_end(prepared.series, spec,
                                                      forecaster.config.data.time_format)
        if late:  # a table from before the model's split (a trained model keeps its dates)
            raise ValueError(f"the {split} part has no window: data.{split}={spec!r} {late}; "
                             "evaluate a table that runs past that date, or backtest this one "
                             "from a date in it (start=, --start)")
        raise ValueError(f"the {split} part has no window: it needs at least horizon "
                         f"({m.horizon}) rows (data.{split}={spec!r})")
    report = score(forecaster, prepared, origins, baselines)
    _note_static_outside(report.notes, forecaster, prepared, origins)
    seen = _seen(forecaster, prepared, origins) if split == "test" else None
    if seen:  # another table than the training one, split by fraction or row count
        until = _seen_until(forecaster.seen_until or {}, prepared, forecaster.config.data)
        _warn_note(report.notes, f"{seen} of {len(report.windows)} test windows forecast "
                   f"targets the model was trained or validated on ({until}): this table's "
                   f"test part (data.test={forecaster.config.data.test!r}) is not the one "
                   "the model held out, so those scores are in-sample; evaluate the table it "
                   "was trained on, or split by dates (data.val, data.test)", stacklevel=3)
    # as training words it: a series too short for a part has "no test window"
    part = "validation" if split == "val" else split
    _note_unscored(report.notes, prepared, origins, f"no {part} window",
                   f"a window needs horizon ({m.horizon}) rows in the {part} part (data."
                   f"{split}={getattr(forecaster.config.data, split)!r}) and lookback "
                   f"({m.lookback}) rows before its origin")
    return report


def _seen(forecaster: Forecaster, prepared: Prepared, origins: list[np.ndarray]
          ) -> int | None:
    """How many windows at ``origins`` forecast a target that the model's training or
    validation read (by the times its fit recorded, ``seen_until``); None when it recorded
    none (no time column, or a model saved before they were recorded), or when a table's
    times and the recorded ones do not both have a time zone, or both none."""
    if forecaster.seen_until is None or not isinstance(prepared.series[0].time,
                                                       pd.DatetimeIndex):
        return None
    count = 0
    for s, o in zip(prepared.series, origins, strict=True):
        if s.id in forecaster.seen_until and len(o):
            until = pd.Timestamp(forecaster.seen_until[s.id])
            if (until.tz is None) != (s.time.tz is None):  # (no order between them)
                return None
            count += int((s.time[o] <= until).sum())
    return count


def _seen_until(seen_until: dict[str, str], prepared: Prepared, data: DataConfig) -> str:
    """``series 'A' to 2023-08-28 00:00:00, ...``: the recorded ends, of the first series."""
    ends = [f"{series_name(s.id, data)} to {pd.Timestamp(seen_until[s.id])}"
            for s in prepared.series if s.id in seen_until]
    return ", ".join(ends[:3]) + (f" and {len(ends) - 3} more" if len(ends) > 3 else "")


def _note_static_outside(notes: list[str], forecaster: Forecaster, prepared: Prepared,
                         origins: list[np.ndarray]) -> None:
    """Warn, and add to ``notes``, of the series scored whose static covariates lie outside
    the values the model was trained on."""
    from lstmkit.forecasting.forecaster import static_outside

    outside = static_outside(forecaster, [s for s, o in zip(prepared.series, origins,
                                                             strict=True) if len(o)])
    if outside:
        _warn_note(notes, outside, stacklevel=4)


def _note_unscored(notes: list[str], prepared: Prepared, origins: list[np.ndarray],
                   what: str, why: str) -> None:
    """Warn, and add to ``notes`` (a report's), which series have no window (``what``) and
    so are not scored, and ``why``."""
    left_out = [s.id for s, o in zip(prepared.series, origins, strict=True) if not len(o)]
    if not left_out:
        return
    one = len(left_out) == 1
    note = (f"series {series_names(left_out)} {'has' if one else 'have'} {what} and "
            f"{'is' if one else 'are'} not scored: {why}")
    _warn_note(notes, note, stacklevel=4)


def _check_baselines(baselines: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``baselines`` as a tuple of known names (a str is one name); None stays None, for
    evaluation.baselines."""
    if baselines is None:
        return None
    names = (baselines,) if isinstance(baselines, str) else baselines
    known = get_args(Baseline)
    if not isinstance(names, list | tuple) or any(n not in known for n in names):
        raise ValueError(f"baselines must be a list of names from {list(known)} (or None for "
                         f"evaluation.baselines), got {baselines!r}")
    return tuple(names)


def _whole(value: object) -> bool:
    """Whether ``value`` is a whole number (a Python or numpy integer, not a bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_stride(stride: int | None) -> int | None:
    """``stride`` checked, as an int (None stays None)."""
    if stride is not None and (not _whole(stride) or stride < 1):
        raise ValueError(f"stride (--stride) must be an int >= 1 (steps between forecast "
                         f"origins) or None, got {stride!r}")
    return None if stride is None else int(stride)


def _date_text(start: Start) -> Start:
    """``start`` given as a date object (a pd.Timestamp, datetime, date or np.datetime64) as
    ISO 8601 text, which a date is read from as one written; a numpy number as Python's
    (``np.float32(0.29)`` a fraction 0.29, as ``np.float64(0.29)`` was); anything else as it
    is."""
    if isinstance(start, dt.date | np.datetime64):
        return pd.Timestamp(start).isoformat()
    return plain_value(start)


def _start_row(series: Series, start: Start, default: int, data: DataConfig) -> int:
    if start is None:
        return default
    if isinstance(start, str):
        when = date_in(series, start, "start (--start)", data,
                       unparsable="is not a row, a fraction or a date")
        return int(series.time.searchsorted(when))
    if isinstance(start, float):
        if not 0.0 < start < 1.0:
            raise ValueError(f"start (--start) as a fraction must be in (0, 1), got {start}")
        return rows_of(start, len(series))
    if isinstance(start, bool) or not isinstance(start, numbers.Integral) or start < 0:
        raise ValueError(f"start (--start) must be a row >= 0, a fraction in (0, 1) or a date "
                         f"(text, a pd.Timestamp, datetime or np.datetime64), got "
                         f"{type(start).__name__} {start!r}")
    return int(start)


def backtest(forecaster: Forecaster, data: pd.DataFrame | str | Path, *,
             start: Start = None, stride: int | None = None,
             refit: bool = False, folds: int | None = None,
             baselines: tuple[str, ...] | None = None) -> EvalReport:
    """Rolling-origin backtest from ``start`` (a row, a fraction or a date: text, a
    pd.Timestamp, datetime or np.datetime64; default: the start of the test part) to the end
    of each series, one origin every ``stride`` steps (default ``horizon``,
    non-overlapping) counted from ``start``, up to the last one whose horizon fits (a
    stride that does not divide the span may end before the series' last window).

    ``refit=False`` scores all origins with the trained model in one batched pass.
    ``refit=True`` splits the origins into ``folds`` (default 3; given without ``refit``, an
    error) consecutive folds and, for each, trains a
    new model (same configuration) on the rows before the fold's first origin, cut at one
    date for every series when there is a time column. A window whose series has fewer than
    lookback + horizon rows before its fold's cut is not scored (warned and noted).
    """
    if not refit:  # (a refit backtest trains its own models from the configuration)
        forecaster._net()  # not fitted: said as predict says it
    stride = _check_stride(stride)
    start = _date_text(start)
    baselines = _check_baselines(baselines)
    if folds is not None and not refit:  # the folds are the refits'
        raise ValueError(f"folds (--folds) applies to a refit backtest, got folds={folds!r} "
                         "with refit=False, which scores every origin with the trained model; "
                         "pass refit=True (--refit) or drop folds")
    folds = 3 if folds is None else folds
    frame = read_frame(data, forecaster.config.data.series_col)  # once: the refits use it too
    prepared = forecaster.prepare(frame)
    if forecaster.freq is None and prepared.freq is not None:  # (an untrained one's refit)
        # the frequency the data are on, as a trained model holds it: the season, MASE, the
        # folds' validation dates and their reading of the data are the trained one's
        forecaster = copy.copy(forecaster)
        forecaster.freq = prepared.freq
    if prepared.left_out:  # (data.short_series 'skip') nor do the refits read them
        col = forecaster.config.data.series_col
        frame = frame[frame[col].isin([k for k in frame[col].dropna().unique()
                                       if series_id(k) not in prepared.left_out])]
    m = forecaster.config.model
    stride = stride or m.horizon
    longest = max(len(s) for s in prepared.series)
    if isinstance(start, numbers.Integral) and not isinstance(start, bool) \
            and start >= longest:  # 20220920 meant as a date, say
        raise ValueError(f"start (--start) {start!r} is a row, past the end of every series (the "
                         f"longest has {longest} rows); a date is written with dashes, e.g. "
                         "2022-09-20")
    origins = []
    for s, (n_train, n_val, _) in zip(prepared.series, prepared.sizes, strict=True):
        first = _start_row(s, start, n_train + n_val, forecaster.config.data)
        # counted forward from start (the first origin is start itself when its lookback fits)
        origins.append(window_origins(len(s), m.lookback, m.horizon, first, len(s))[::stride])
    late = isinstance(start, str) and not any(len(o) for o in origins) and past_the_end(
        prepared.series, start, forecaster.config.data.time_format)
    if late:
        raise ValueError(f"start (--start) {start!r} {late}: nothing is left to backtest; "
                         "give a date in the data")
    unscored = ("no window from start", f"a window needs lookback ({m.lookback}) rows "
                f"before its origin and horizon ({m.horizon}) rows after it, from start "
                f"(--start) {start!r} (default: the test part) to the series' end")
    if not refit:
        report = score(forecaster, prepared, origins, baselines)
        _note_static_outside(report.notes, forecaster, prepared, origins)
        _note_unscored(report.notes, prepared, origins, *unscored)
        seen = _seen(forecaster, prepared, origins)
        if seen is None:  # nothing recorded: the table's own split
            seen = sum(int((o < n_train + n_val).sum()) for o, (n_train, n_val, _) in
                       zip(origins, prepared.sizes, strict=True))
            which = "start before the test part: the model was trained or validated on " \
                    "their targets"
        else:
            ends = _seen_until(forecaster.seen_until or {}, prepared, forecaster.config.data)
            which = f"forecast targets the model was trained or validated on ({ends})"
        if seen:
            note = (f"{seen} of {len(report.windows)} windows {which}, so their scores are "
                    "in-sample; use refit=True (--refit) to backtest that period out of "
                    "sample")
            _warn_note(report.notes, note, stacklevel=3)
        return report
    if not _whole(folds) or folds < 1:
        raise ValueError(f"folds (--folds) must be an int >= 1, got {folds!r}")
    folds = int(folds)
    _check_windows(forecaster, origins)  # before any fold trains
    cuts = _fold_cuts(prepared, origins, folds)
    # per origin, its fold and the rows before the fold's cut: all that the fold's model
    # knows of the series
    fold_of = [np.zeros(len(o), np.int64) for o in origins]
    fit_rows = [np.zeros(len(o), np.int64) for o in origins]
    val_rows = [np.zeros(len(o), np.int64) for o in origins]  # of them, the refit validates on
    fold_val = [_refit_val_rows(forecaster, frame, prepared, lo, cut) for lo, _, cut in cuts]
    # per fold and series, where the refit ends it and the rows it then holds of it
    fold_ends = [_refit_ends(forecaster, prepared, cut, val)
                 for (_, _, cut), val in zip(cuts, fold_val, strict=True)]
    fold_rows = [_refit_rows(forecaster, frame, prepared, lo, ends)
                 for (lo, _, _), ends in zip(cuts, fold_ends, strict=True)]
    for fold, (lo, hi, _) in enumerate(cuts):
        for i, o in enumerate(origins):
            in_fold = (o >= lo[i]) & (o < hi[i])
            fold_of[i][in_fold], fit_rows[i][in_fold] = fold, fold_rows[fold][i]
            val_rows[i][in_fold] = fold_val[fold][i]
    formed = len(np.unique(np.concatenate(fold_of)))  # the folds that hold an origin
    notes: list[str] = []  # said now, before any fold trains
    _note_unscored(notes, prepared, origins, *unscored)
    scored = _fitted_windows(forecaster, prepared, fit_rows, val_rows, notes)
    origins, fold_of, fit_rows, val_rows = (
        [a[keep] for a, keep in zip(arrays, scored, strict=True)]
        for arrays in (origins, fold_of, fit_rows, val_rows))
    per_series: list[list[np.ndarray]] = [[] for _ in origins]
    # the folds train in fold<k> folders of the checkpoint folder: held for them all, so
    # that a second run into it is refused at its start
    with hold_folder(forecaster.config.training.checkpoint_dir):
        for fold, (lo, _, cut) in enumerate(cuts):
            fold_origins = [o[of == fold] for o, of in zip(origins, fold_of, strict=True)]
            windows_in_fold = sum(len(o) for o in fold_origins)
            if windows_in_fold == 0:
                continue
            if forecaster.config.training.progress_bar and is_first_process():
                # each fold trains a model: say which, before its progress bar
                print(f"backtest refit: fold {fold + 1} of {len(cuts)}, {windows_in_fold} windows",
                      file=sys.stderr, flush=True)
            refit_model = _refit(forecaster, frame, prepared, lo, cut, fold, fold_val[fold],
                                 fold_ends[fold], fold_rows[fold])
            assert refit_model.scalers is not None
            windows = WindowSet(prepared.series, refit_model.scalers, m.lookback, m.horizon,
                                fold_origins)
            preds = refit_model.predict_windows(windows)  # series-major, origins ascending
            offset = 0
            for i, o in enumerate(fold_origins):
                per_series[i].append(preds[offset: offset + len(o)])
                offset += len(o)
    # folds are consecutive in time, so per series the fold order is the origin order
    predictions = np.concatenate([p for parts in per_series for p in parts])
    # as in evaluate, the baselines and MASE's scale are fitted on the rows the model trains
    # on: the fold's, less those its refit validates on
    report = score(forecaster, prepared, origins, baselines, predictions=predictions,
                   fit_rows=[rows - val for rows, val in zip(fit_rows, val_rows, strict=True)])
    report.notes.extend(notes)
    if formed < folds:  # a fold needs an origin of its own
        note = (f"folds={folds} asked, {formed} formed: a fold needs forecast origins of "
                "its own, and the backtest has too few for more")
        _warn_note(report.notes, note, stacklevel=3)
    return report


def _fitted_windows(forecaster: Forecaster, prepared: Prepared, fit_rows: list[np.ndarray],
                    val_rows: list[np.ndarray], notes: list[str]) -> list[np.ndarray]:
    """Per series, which windows of a refit backtest are scored: those whose series has the
    rows of one window before the fold's cut (``fit_rows``) besides the ``val_rows`` the
    refit validates on, as :func:`_refit` trains on such a series only. With fewer, the
    fold's model never trained on the series, and the baselines and MASE's scale would have
    (almost) nothing to be fitted on. Warns, and adds to ``notes``, the windows left out; a
    ValueError when none is left."""
    m = forecaster.config.model
    need = m.lookback + m.horizon
    scored = [rows - val >= need for rows, val in zip(fit_rows, val_rows, strict=True)]
    total = sum(len(rows) for rows in fit_rows)
    dropped = total - sum(int(keep.sum()) for keep in scored)
    if not dropped:
        return scored
    why = (f"each fold's model and baselines learn from the rows before the fold's first "
           f"origin (cut at one date for every series when there is a time column), and a "
           f"window is scored only when its series has lookback ({m.lookback}) + horizon "
           f"({m.horizon}) = {need} rows there besides the validation rows the refit keeps "
           f"(data.val={forecaster.config.data.val!r}); move start later, or use more folds "
           "(a later fold is cut later)")
    if dropped == total:
        raise ValueError(f"no window of the refit backtest can be scored: {why}")
    short = [s.id for s, keep in zip(prepared.series, scored, strict=True) if not keep.all()]
    which = ("the series" if forecaster.config.data.series_col is None
             else f"series {series_names(short)}")
    _warn_note(notes, f"{dropped} of {total} windows (of {which}) are not scored: {why}",
               stacklevel=4)
    return scored


def _fold_cuts(prepared: Prepared, origins: list[np.ndarray], folds: int
               ) -> list[tuple[list[int], list[int], pd.Timestamp | None]]:
    """Per fold: per series [first origin, end) of the fold, and the fold's cut date.

    With a time column the folds are cut on the calendar: every series is cut at the same
    date, so no fold's model trains on a date that the fold forecasts in another series.
    Without one, each series' origins are split on their own and the cut date is None.
    """
    series = prepared.series
    if not isinstance(series[0].time, pd.DatetimeIndex):
        edges = [np.array_split(o, folds) for o in origins]
        return [([int(e[f][0]) if len(e[f]) else 0 for e in edges],
                 [int(e[f][-1]) + 1 if len(e[f]) else 0 for e in edges], None)
                for f in range(folds)]
    times = series[0].time[:0].append([s.time[o] for s, o in zip(series, origins,
                                                                 strict=True)])
    times = times.unique().sort_values()
    cuts = []
    for chunk in np.array_split(np.arange(len(times)), folds):
        if not len(chunk):
            continue
        first, last = times[chunk[0]], times[chunk[-1]]
        cuts.append(([int(s.time.searchsorted(first, "left")) for s in series],
                     [int(s.time.searchsorted(last, "right")) for s in series], first))
    return cuts


def _refit(forecaster: Forecaster, frame: pd.DataFrame, prepared: Prepared, lo: list[int],
           cut: pd.Timestamp | None, fold: int, val_rows: list[int],
           ends: list[pd.Timestamp | None], rows: list[int]) -> Forecaster:
    """A new model of the same configuration trained on the rows before the fold: before
    ``ends[i]`` in series i (:func:`_refit_ends`: ``cut``, or the moved validation date),
    ``rows[i]`` rows on its time grid (:func:`_refit_rows`), or before row ``lo[i]`` when
    there is no time, validating on the last ``val_rows[i]`` of them
    (:func:`_refit_val_rows`: a fraction or row count ``data.val`` keeps the rows it gave
    each series in ``prepared``, of the shorter table a fraction would give fewer, under a
    horizon, say; a date moves with the cut, see :func:`_refit_val`)."""
    from lstmkit.forecasting.forecaster import Forecaster

    cfg = forecaster.config
    dc = cfg.data
    val = _refit_val(forecaster, prepared, cut)
    kept_val = {s.id: n for s, n in zip(prepared.series, val_rows, strict=True)}
    since = parse_date(val, dc.time_format) if isinstance(val, str) else None
    need = cfg.model.lookback + cfg.model.horizon
    before = f"{', '.join(map(str, lo))} per series" if cut is None else str(cut)
    parts = []
    for (sid, group), end, n in zip(series_groups(frame, dc), ends, rows, strict=True):
        part = group.iloc[:n] if end is None else \
            group[parse_times(group[dc.time_col], dc.time_format) < end]
        # a series that starts shortly before the cut has no training window yet: the fold's
        # model learns from the others (and no window of it in this fold is scored)
        if n - kept_val[sid] >= need:
            parts.append(part)

    def failed(why: str) -> ValueError:
        return ValueError(f"backtest refit, fold {fold}: the model is retrained on the rows "
                          f"before the fold's first origin ({before}), and {why}. A backtest "
                          "keeps the model's settings (retrain it to change them): move start "
                          "later to give the refits more rows")

    if not parts:
        validation = (f"the rows data.val={dc.val!r} gave it in the whole table" if since is None
                      else f"data.val={dc.val!r} moved with the cut to {val}")
        raise failed(f"no series has lookback ({cfg.model.lookback}) + horizon "
                     f"({cfg.model.horizon}) = {need} rows there besides its validation part "
                     f"({validation})")
    training = cfg.training.replace(**{
        key: Path(folder) / f"fold{fold}" for key in ("checkpoint_dir", "log_dir")
        if (folder := getattr(cfg.training, key)) is not None})
    # the refit keeps the model's frequency: a cut can leave series too short to infer it
    data = dataclasses.replace(dc, test=0, val=val, freq=dc.freq or forecaster.freq)
    model = Forecaster(dataclasses.replace(cfg, data=data, training=training))
    try:
        table = model.prepare(pd.concat(parts))
        if since is None:
            table.sizes = [(len(s) - kept_val[s.id], kept_val[s.id], 0) for s in table.series]
        return model.fit(table)
    except ValueError as err:
        raise failed(f"that failed: {err}") from None


def _refit_ends(forecaster: Forecaster, prepared: Prepared, cut: pd.Timestamp | None,
                val_rows: list[int]) -> list[pd.Timestamp | None]:
    """Per series, where a refit cut at ``cut`` ends it: at the cut, or, with a date
    ``data.val`` that leaves the series no validation rows (``val_rows[i] == 0``: it ended
    before the cut, or a gap runs up to it, and holds a few rows of the moved validation
    period, too few for a window), at the moved date: it trains on the rows before it."""
    val = _refit_val(forecaster, prepared, cut)
    if not isinstance(val, str) or cut is None:
        return [cut] * len(prepared.series)
    since = parse_date(val, forecaster.config.data.time_format)
    return [since if n == 0 else cut for n in val_rows]


def _refit_rows(forecaster: Forecaster, frame: pd.DataFrame, prepared: Prepared,
                lo: list[int], ends: list[pd.Timestamp | None]) -> list[int]:
    """Per series, the rows a refit's table holds of it when cut at ``ends[i]``, counted on
    the series' (filled) time grid as the scoring counts them: up to its last row in the
    file before the cut (missing timestamps between file rows are filled in the refit's
    table too, but a gap that runs up to the cut is not, as no later row is in that table);
    ``lo[i]`` rows without a time column (no date cut)."""
    dc = forecaster.config.data
    rows = []
    for (_, group), s, n, end in zip(series_groups(frame, dc), prepared.series, lo, ends,
                                     strict=True):
        if end is None:
            rows.append(n)
            continue
        times = parse_times(group[dc.time_col], dc.time_format)
        before = times[times < end]
        rows.append(int(s.time.searchsorted(before.max(), "right")) if len(before) else 0)
    return rows


def _refit_val_rows(forecaster: Forecaster, frame: pd.DataFrame, prepared: Prepared,
                    lo: list[int], cut: pd.Timestamp | None) -> list[int]:
    """Per series, the validation rows a refit cut at ``cut`` keeps (as :func:`_refit` counts
    them): those ``data.val`` gave the series, or with a date the rows from the moved date
    to the end of the series in the refit's table (:func:`_refit_rows`), none when too few
    for a window."""
    val = _refit_val(forecaster, prepared, cut)
    if not isinstance(val, str) or cut is None:
        return [n_val for _, n_val, _ in prepared.sizes]
    since = parse_date(val, forecaster.config.data.time_format)
    ends = _refit_rows(forecaster, frame, prepared, lo, [cut] * len(lo))
    rows = [max(0, end - int(s.time.searchsorted(since)))
            for s, end in zip(prepared.series, ends, strict=True)]
    return [n if n >= forecaster.config.model.horizon else 0 for n in rows]


def _refit_val(forecaster: Forecaster, prepared: Prepared,
               cut: pd.Timestamp | None) -> float | int | str:
    """``data.val`` for a refit ending at ``cut``. A date moves with the cut, so the
    validation period keeps its length and ends where the refit's data end (a fixed date
    would hold every fold's training part at the same rows); a fraction or a row count is
    returned as it is (:func:`_refit` keeps the rows it gave each series)."""
    val = forecaster.config.data.val
    if not isinstance(val, str) or cut is None:
        return val
    # where the original validation part ended: the first test row, or past the data, in the
    # series that had one (a series that ended before the date, with no validation part,
    # would move the date past the cut and leave the refit no validation part)
    ends = [s.time[n_train + n_val] if n_test else
            pd.date_range(s.time[-1], periods=2, freq=forecaster.freq)[1]
            for s, (n_train, n_val, n_test) in zip(prepared.series, prepared.sizes,
                                                   strict=True) if n_val]
    if not ends:  # no series had a validation part: nothing to keep the length of
        return val
    return (parse_date(val, forecaster.config.data.time_format)
            + (cut - min(ends))).isoformat()
