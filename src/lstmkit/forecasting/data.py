"""From a CSV or DataFrame to checked, gap-free arrays per series, and chronological splits.

Nothing is dropped silently: missing values and missing timestamps are an error naming the
series, the column and the first place they occur, unless ``data.fill`` says how to fill them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.forecasting.config import DataConfig

SEASON_BY_FREQ = {"h": 24, "d": 7, "b": 5, "w": 52, "m": 12, "ms": 12, "me": 12, "q": 4,
                  "qs": 4, "qe": 4, "t": 60, "min": 60}


@dataclass
class Series:
    """One series, gap-free and filled. Arrays are float64, rows in time order.

    Attributes:
        id: the series id (``"0"`` for a single series).
        time: timestamps (a DatetimeIndex) or row positions (a RangeIndex).
        target: (T, C) targets.
        past: (T, Cp) past-only covariates.
        future: (T, Cf) known-in-future covariates.
        static: (S,) static covariates.
    """

    id: str
    time: pd.Index
    target: np.ndarray
    past: np.ndarray
    future: np.ndarray
    static: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


def read_frame(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A DataFrame as given, or read from a CSV path."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"data file {str(path)!r} does not exist")
        return pd.read_csv(path)
    raise TypeError(f"data must be a pandas DataFrame or a CSV path, got {type(data).__name__}")


def _check_columns(frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool) -> None:
    wanted = [c for c in (cfg.time_col, cfg.series_col) if c is not None]
    wanted += list(cfg.past_covariates + cfg.future_covariates + cfg.static_covariates)
    if need_target:
        wanted += list(cfg.target)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found in the data; available columns: "
                         f"{[str(c) for c in frame.columns]}")
    for col in cfg.target + cfg.past_covariates + cfg.future_covariates + cfg.static_covariates:
        if col not in frame.columns:
            continue
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(
                frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            example = frame[col][bad].iloc[0] if bad.any() else frame[col].iloc[0]
            raise TypeError(f"column {col!r} must be numeric, got dtype {frame[col].dtype} "
                            f"(e.g. value {example!r})")


def infer_freq(time: pd.DatetimeIndex) -> str | None:
    """The pandas frequency of regular timestamps, else the most common step as an offset."""
    if len(time) < 3:
        return None
    with warnings.catch_warnings():
        # pandas 3 announces an offset return type; the string is what we store
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        freq = pd.infer_freq(time)
    if freq is not None:
        return freq
    step = pd.Series(time[1:] - time[:-1]).mode().iloc[0]
    return pd.tseries.frequencies.to_offset(step).freqstr


def season_from_freq(freq: str | None) -> int:
    """A default seasonal period for a pandas frequency string (1 when unknown)."""
    if not freq:
        return 1
    base = "".join(ch for ch in freq.split("-")[0] if ch.isalpha()).lower()
    return SEASON_BY_FREQ.get(base, 1)


def _fill(frame: pd.DataFrame, columns: list[str], how: str) -> pd.DataFrame:
    part = frame[columns]
    if how == "ffill":
        part = part.ffill().bfill()
    elif how == "interpolate":
        part = part.interpolate(method="linear", limit_direction="both")
    elif how == "zero":
        part = part.fillna(0.0)
    frame = frame.copy()
    frame[columns] = part
    return frame


def _one_series(sid: str, frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool,
                freq: str | None) -> tuple[Series, str | None]:
    if cfg.time_col is not None:
        try:
            time = pd.to_datetime(frame[cfg.time_col])
        except (ValueError, TypeError) as err:
            raise ValueError(f"time column {cfg.time_col!r} of series {sid!r} could not be "
                             f"parsed as dates: {err}") from None
        frame = frame.assign(**{cfg.time_col: time}).sort_values(cfg.time_col, kind="stable")
        dup = frame[cfg.time_col].duplicated()
        if dup.any():
            raise ValueError(f"series {sid!r} has {int(dup.sum())} duplicate timestamp(s) in "
                             f"{cfg.time_col!r}, first {frame[cfg.time_col][dup].iloc[0]}")
        index = pd.DatetimeIndex(frame[cfg.time_col])
        freq = freq or cfg.freq or infer_freq(index)
        if freq is not None and len(index) > 1:
            full = pd.date_range(index[0], index[-1], freq=freq)
            if len(full) != len(index) or not full.equals(index):
                missing = full.difference(index)
                off_grid = index.difference(full)
                if len(off_grid):
                    raise ValueError(
                        f"series {sid!r} has {len(off_grid)} timestamp(s) off the {freq!r} "
                        f"grid, first {off_grid[0]}; set data.freq or resample the data")
                if cfg.fill == "none":
                    raise ValueError(
                        f"series {sid!r} is irregular: {len(missing)} timestamp(s) missing at "
                        f"frequency {freq!r}, first {missing[0]}; set data.fill to 'ffill', "
                        "'interpolate' or 'zero' to insert and fill them")
                frame = frame.set_index(cfg.time_col).reindex(full)
                frame.index.name = cfg.time_col
                frame = frame.reset_index()
                index = full
        time_index: pd.Index = index
    else:
        time_index = pd.RangeIndex(len(frame))
    columns = list(cfg.past_covariates + cfg.future_covariates + cfg.static_covariates)
    if need_target:
        columns = list(cfg.target) + columns
    if columns:
        nan = frame[columns].isna()
        if nan.any().any():
            if cfg.fill == "none":
                col = nan.any().idxmax()
                where = int(np.argmax(nan[col].to_numpy()))
                raise ValueError(
                    f"{int(nan[col].sum())} missing value(s) in column {col!r} of series "
                    f"{sid!r}, first at {time_index[where]}; set data.fill to 'ffill', "
                    "'interpolate' or 'zero' to fill them")
            counts = {c: int(n) for c, n in nan.sum().items() if n}
            warnings.warn(f"series {sid!r}: filled missing values {counts} with "
                          f"data.fill={cfg.fill!r}", UserWarning, stacklevel=3)
            frame = _fill(frame, columns, cfg.fill)
    static = frame[list(cfg.static_covariates)].to_numpy(np.float64)
    if len(static) and not (static == static[:1]).all():
        col = cfg.static_covariates[int(np.argmax((static != static[:1]).any(0)))]
        raise ValueError(f"static covariate {col!r} changes within series {sid!r}; static "
                         "covariates must be constant per series (use past_covariates)")
    n_target = len(cfg.target)
    series = Series(
        id=sid, time=time_index,
        target=(frame[list(cfg.target)].to_numpy(np.float64) if need_target
                else np.zeros((len(frame), n_target))),
        past=frame[list(cfg.past_covariates)].to_numpy(np.float64),
        future=frame[list(cfg.future_covariates)].to_numpy(np.float64),
        static=static[0] if len(static) else np.zeros(len(cfg.static_covariates)),
    )
    return series, freq


def to_series(frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool = True,
              freq: str | None = None) -> tuple[list[Series], str | None]:
    """Split ``frame`` into checked, filled :class:`Series` (one per id, in order of first
    appearance). Returns the series and the frequency used."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError("data is empty: no rows")
    _check_columns(frame, cfg, need_target=need_target)
    if cfg.series_col is None:
        groups = [("0", frame)]
    else:
        groups = [(str(k), g) for k, g in frame.groupby(cfg.series_col, sort=False)]
    out = []
    for sid, group in groups:
        series, freq_used = _one_series(sid, group, cfg, need_target=need_target, freq=freq)
        freq = freq or freq_used
        out.append(series)
    return out, freq


def split_sizes(series: Series, cfg: DataConfig) -> tuple[int, int, int]:
    """Rows in the (train, val, test) parts of one series, in time order."""
    n = len(series)

    def rows(spec: float | int | str, end: int, name: str) -> int:
        if isinstance(spec, str):
            if not isinstance(series.time, pd.DatetimeIndex):
                raise ValueError(f"data.{name}={spec!r} is a date, but the data has no "
                                 "time column (data.time_col)")
            start = int(series.time[:end].searchsorted(pd.Timestamp(spec)))
            return end - start
        if isinstance(spec, float):
            return int(n * spec)
        return int(spec)

    n_test = rows(cfg.test, n, "test")
    n_val = rows(cfg.val, n - n_test, "val")
    n_train = n - n_val - n_test
    if n_train <= 0:
        raise ValueError(f"series {series.id!r} has {n} rows, {n_val} for validation and "
                         f"{n_test} for test: no rows left for training; reduce data.val / "
                         "data.test")
    return n_train, n_val, n_test
