"""From a CSV or DataFrame to checked, gap-free arrays per series, and chronological splits.

Nothing is dropped silently: missing values and missing timestamps are an error naming the
series, the column and the first place they occur, unless ``data.fill`` says how to fill them.
"""

from __future__ import annotations

import contextlib
import numbers
import re
import warnings
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.forecasting.config import DataConfig
from lstmkit.nn.config import plain_value

DAY = pd.Timedelta(days=1)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# steps per season of a calendar frequency (by its pandas rule code before any "-anchor"):
# a week of business days, a year of weeks, months or quarters; yearly data has none
SEASON_BY_RULE = {"B": 5, "C": 5, "W": 52, "MS": 12, "ME": 12, "BMS": 12, "BME": 12,
                  "WOM": 12, "LWOM": 12, "SMS": 24, "SME": 24, "QS": 4, "QE": 4, "BQS": 4,
                  "BQE": 4, "YS": 1, "YE": 1, "BYS": 1, "BYE": 1}
# a fixed step's season is how many steps fill the next larger unit: a step of whole weeks
# a year of 52 weeks, whole days a week, whole hours a day, minutes an hour, seconds a minute
SEASON_BY_UNIT = ((pd.Timedelta(weeks=1), pd.Timedelta(weeks=52)), (DAY, pd.Timedelta(weeks=1)),
                  (pd.Timedelta(hours=1), DAY), (pd.Timedelta(minutes=1), pd.Timedelta(hours=1)),
                  (pd.Timedelta(seconds=1), pd.Timedelta(minutes=1)))

_SAID: ContextVar[list[str] | None] = ContextVar("lstmkit_forecasting_said", default=None)


def warn(message: str, stacklevel: int = 1) -> None:
    """``warnings.warn`` a UserWarning (``stacklevel`` as given to it), or, inside
    :func:`collect` in this thread, hand its text to ``collect``'s caller instead, which
    reports it (a server, to its client and in its log, at every request: Python's warnings
    filters would show it once)."""
    said = _SAID.get()
    if said is not None:
        said.append(message)
        return
    warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def collect() -> Iterator[list[str]]:
    """The texts the forecasting code warns of (:func:`warn`) in this thread while the block
    runs, which are then not warned of: the caller reports them (a server, to its client and
    in its log). Unlike ``warnings.catch_warnings``, it leaves the process' warnings state and
    other threads' warnings alone."""
    said: list[str] = []
    token = _SAID.set(said)
    try:
        yield said
    finally:
        _SAID.reset(token)

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
        observed: (T, C) bool, False where a target value was not in the data (a row
            inserted or a value filled by ``data.fill``); None when all were.
    """

    id: str
    time: pd.Index
    target: np.ndarray
    past: np.ndarray
    future: np.ndarray
    static: np.ndarray
    observed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.time)

    def rows(self, start: int, stop: int) -> Series:
        """The rows ``[start, stop)`` of the series (views of its arrays)."""
        return Series(self.id, self.time[start:stop], self.target[start:stop],
                      self.past[start:stop], self.future[start:stop], self.static,
                      None if self.observed is None else self.observed[start:stop])

    def observed_target(self) -> np.ndarray:
        """``target`` with NaN where a value was not observed: what metrics score."""
        return self.target if self.observed is None else \
            np.where(self.observed, self.target, np.nan)


READ_FROM = "lstmkit_csv"
"""The key of ``DataFrame.attrs`` that holds the CSV a table was read from."""


def read_frame(data: pd.DataFrame | str | Path, id_col: str | None = None,
               label: str = "data") -> pd.DataFrame:
    """A DataFrame as given, or read from a CSV path; the ``id_col`` column of a CSV is read
    as text, so that ids such as ``007`` stay as written. ``label`` names the table in the
    errors (``"future table (future=, --future)"``)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        if path.is_dir():
            raise IsADirectoryError(f"{label} file {str(path)!r} is a folder, not a CSV file")
        if not path.exists():  # (a pipe, `<(command)` or /dev/stdin is read, once)
            raise FileNotFoundError(f"{label} file {str(path)!r} does not exist")
        try:
            frame = pd.read_csv(path, dtype=None if id_col is None else {id_col: str})
            frame.attrs[READ_FROM] = str(path)  # (a DataFrame given has its own names)
            return frame
        except UnicodeDecodeError as err:
            raise ValueError(f"{label} file {str(path)!r} is not UTF-8 text ({err}); save it "
                             "as UTF-8 CSV") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{label} file {str(path)!r} could not be read as CSV: "
                             f"{' '.join(str(err).split())}") from None
    raise TypeError(f"{label} must be a pandas DataFrame or a CSV path, got "
                    f"{type(data).__name__}")


def _all_values(names: pd.Index) -> bool:
    """Whether every column name reads as a number or a date: a headerless CSV's first row."""
    def value(name: object) -> bool:
        text = str(name).strip()
        try:
            float(text)
            return True
        except ValueError:
            pass
        if not any(ch.isdigit() for ch in text):
            return False
        with warnings.catch_warnings():  # (pandas warns that it guesses the format)
            warnings.simplefilter("ignore")
            return not pd.isna(pd.to_datetime(text, errors="coerce"))
    return len(names) > 0 and all(value(name) for name in names)


def _separator(columns: pd.Index) -> str | None:
    """The separator other than a comma that the header of a CSV read as one column seems to
    use (';', a tab or '|'), else None."""
    if len(columns) != 1:
        return None
    return next((sep for sep in (";", "\t", "|") if sep in str(columns[0])), None)


# numbers as spreadsheets write them: '1,120', '1.234,5' or '20,7' (digit groups or a
# decimal comma), '20.7%'
_GROUPED_NUMBER = re.compile(r"""\s*[+-]?(
    \d{1,3}(,\d{3})+(\.\d+)?     # 1,234 and 1,234.5
    | \d{1,3}(\.\d{3})+(,\d+)?   # 1.234 and 1.234,5 (1.234 alone is a number)
    | \d+,\d+                     # 20,7
    )\s*""", re.VERBOSE)
_PERCENT = re.compile(r"\s*[+-]?(\d+([.,]\d+)?)\s*%\s*")


def _written_number_hint(value: str) -> str:
    """What a text that is a number written as a spreadsheet writes it needs, else ''."""
    if _GROUPED_NUMBER.fullmatch(value):
        return (" (a number written with separators: read the CSV with pandas.read_csv(path, "
                "thousands=',') for 1,234.5, or decimal=',' and thousands='.' for 1.234,5 and "
                "20,7)")
    if _PERCENT.fullmatch(value):
        comma = ".str.replace(',', '.')" if "," in value else ""  # (a decimal comma)
        return (" (a percentage written as text: strip the '%' and convert the column, e.g. "
                f"df[col].str.rstrip('%'){comma}.astype(float))")
    return ""


def _check_columns(frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool,
                   source: str = "the data") -> None:
    """Every configured column is in ``frame`` and numeric; ``source`` names the table in the
    error (``"the future table"`` for the known-future covariates of a forecast)."""
    wanted = [c for c in (cfg.time_col, cfg.series_col) if c is not None]
    wanted += list(cfg.past_covariates + cfg.future_covariates + cfg.static_covariates)
    if need_target:
        wanted += list(cfg.target)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        index = [n for n in frame.index.names if n is not None and n in missing]
        hint = (f"; {index} {'is' if len(index) == 1 else 'are'} the DataFrame's index: "
                "make them columns with frame.reset_index()" if index else
                "; the times are the DataFrame's index: make them a column with "
                "frame.reset_index()" if cfg.time_col in missing
                and isinstance(frame.index, pd.DatetimeIndex) else
                "; a list of columns is written [a, b] (--set 'data.past_covariates=[a, b]')"
                if any("," in str(c) for c in missing) else
                "; the table's names have spaces around them: strip them (in pandas: "
                "frame.columns = frame.columns.str.strip())"
                if {c.strip() for c in frame.columns if isinstance(c, str) and c != c.strip()}
                >= set(map(str, missing)) else
                f"; the file's columns seem separated by {sep!r}, and lstmkit reads CSV "
                "separated by commas: write it with commas (in pandas: pd.read_csv(path, "
                f"sep={sep!r}).to_csv(new_path, index=False)) or pass a DataFrame"
                if READ_FROM in frame.attrs and (sep := _separator(frame.columns)) else
                "; the first row looks like data, not a header: the CSV needs a first line "
                f"naming its columns ({','.join(map(str, wanted))}, say)"
                if READ_FROM in frame.attrs and _all_values(frame.columns) else "")
        raise ValueError(f"column(s) {missing} not found in {source}; available columns: "
                         f"{[str(c) for c in frame.columns]}{hint}")
    for col in cfg.target + cfg.past_covariates + cfg.future_covariates + cfg.static_covariates:
        if col not in frame.columns:
            continue
        # (a covariate flag is a number by now, see _as_numbers; a target is not one)
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(
                frame[col]):
            # the first value not even a number written as text ('n/a'), else the first
            # value of another type (a text number, a bool)
            bad = (pd.to_numeric(frame[col].map(_read_number), errors="coerce").isna()
                   & frame[col].notna()).to_numpy()
            if not bad.any():
                bad = frame[col].map(_not_a_number).to_numpy(dtype=bool)
            at = int(np.argmax(bad))
            # every value text (wind directions, say): a category, not a mistyped number
            category = (bad.sum() == frame[col].notna().sum()
                        and all(isinstance(v, str) for v in frame[col][bad])
                        and frame[col].nunique() < len(frame) // 2)
            value = frame[col].iloc[at]
            value = plain_value(value)  # (True, not np.True_)
            hint = _written_number_hint(value) if isinstance(value, str) else ""
            if not hint and category:
                hint = (f" ({frame[col].nunique()} distinct texts: a category? encode it as "
                        "numeric columns, one per category, e.g. with pandas.get_dummies, and "
                        "name those)")
            elif not hint and isinstance(value, str) and not np.isnan(
                    pd.to_numeric(value, errors="coerce")):
                hint = " (a number written as text: convert the column with pandas.to_numeric)"
            raise TypeError(
                f"column {col!r} of {source} must be numeric, got dtype {frame[col].dtype}: "
                f"value {cell_text(value)} at row position {at}{hint}")


def bounds_arrays(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """``data.target_bounds`` as lows and highs (C,), -inf and inf where unbounded; None
    without bounds."""
    if not cfg.target_bounds:
        return None
    pairs = [cfg.target_bounds.get(col, (None, None)) for col in cfg.target]
    low = np.array([-np.inf if lo is None else lo for lo, _ in pairs])
    high = np.array([np.inf if hi is None else hi for _, hi in pairs])
    return low, high


def plain_bounds(cfg: DataConfig) -> dict[str, list[float | None]] | None:
    """``data.target_bounds`` as JSON gives it: ``{target: [low, high]}``, or None."""
    return {k: list(v) for k, v in cfg.target_bounds.items()} if cfg.target_bounds else None


def clip_to_bounds(out: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Forecasts (W, Hz, C) or quantiles (W, Hz, C, Q) clipped into ``data.target_bounds``."""
    bounds = bounds_arrays(cfg)
    if bounds is None:
        return out
    low, high = (b if out.ndim == 3 else b[:, None] for b in bounds)
    return np.clip(out, low, high)


def _check_bounds(frame: pd.DataFrame, cfg: DataConfig, name: str, times: pd.Index) -> None:
    """An observed target outside ``data.target_bounds`` is an error, naming the first."""
    for col, (low, high) in (cfg.target_bounds or {}).items():
        values = frame[col].to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            out = ((values < low) if low is not None else False) | (
                (values > high) if high is not None else False)
        if np.any(out):
            at = int(np.argmax(out))
            bounds = f"[{low}, {high}]".replace("None", "null")
            raise ValueError(f"{int(np.sum(out))} value(s) of target {col!r} in {name} lie "
                             f"outside data.target_bounds {bounds}, first {values[at]:g} at "
                             f"{times[at]}: fix them, or widen the bounds")


def _not_a_number(value: object) -> bool:
    """Whether a value of an object column stops it being numeric: not missing, and not a
    real number (a text, a bool, a list, ...). An int too large for int64 is a number
    (see :func:`_read_number`)."""
    missing = pd.isna(value)  # None, NaN, pd.NA, NaT (an array for a list: not missing)
    if isinstance(missing, bool | np.bool_) and missing:
        return False
    return isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)


def _read_number(value: object) -> object:
    """A real number of an object column (not a bool) as the float64 it is, anything else
    as it is. An int past int64 (2**64, as JSON or a CSV column of whole numbers holds it)
    reads as pandas reads 1.8e19; one past float64's largest, about 1.8e308 (309 digits or
    more), as +-inf, as pandas' CSV reader reads it beside a float and Python reads 1e400,
    which the data's check of infinite values then refuses ("int too large to convert to
    float" named no column)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return value
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def _as_numbers(frame: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """``frame`` with its covariate flags as 1.0 and 0.0, NaN where blank: a boolean column
    (``pandas.get_dummies`` gives them), or one of True, False and blanks (a CSV's flag
    column with an empty cell, which pandas reads as text). A target is a quantity to
    forecast and stays as it is (a boolean target is refused). An object column of numbers
    and missing values alone (as JSON rows give them, a column of nulls included) is float64,
    as a CSV's column of the same cells is read (its ints as :func:`_read_number` reads
    them)."""
    converted = {}
    for col in cfg.target + cfg.past_covariates + cfg.future_covariates + cfg.static_covariates:
        if col not in frame.columns:
            continue
        values = frame[col]
        given = values.dropna()
        if values.dtype == object and not values.map(_not_a_number).any():
            converted[col] = values.map(_read_number).where(values.notna(), np.nan).astype(
                "float64")
        elif col not in cfg.target and (pd.api.types.is_bool_dtype(values) or (
                values.dtype == object and len(given)
                and given.map(lambda v: isinstance(v, bool | np.bool_)).all())):
            converted[col] = values.map({True: 1.0, False: 0.0}).astype("float64")
    return frame.assign(**converted) if converted else frame


def _offset(freq: str) -> pd.DateOffset:
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as err:
        raise ValueError(f"data.freq must be a pandas frequency string such as 'h', 'D', "
                         f"'B', 'W-SUN' or 'MS', got {freq!r} ({err})") from None


def _step_text(step: pd.Timedelta) -> str:
    if step % DAY:
        return str(step).removeprefix("0 days ")
    days = step // DAY
    return f"{days} day" if days == 1 else f"{days} days"


def _calendar_freq(time: pd.DatetimeIndex, step: pd.Timedelta) -> str:
    """A frequency for timestamps whose most common step is ``step``, read on the calendar."""
    if step % DAY:  # under a day, or not whole days: the fixed step ("h", "15min", "36h")
        return pd.tseries.frequencies.to_offset(step).freqstr
    days = step // DAY
    month = time[0].month - 1
    if days == 1:
        return "B" if (time.day_of_week < 5).all() else "D"
    for low, high, start, end in ((28, 31, "MS", "ME"),
                                  (89, 92, f"QS-{MONTHS[month % 3]}",
                                   f"QE-{MONTHS[month % 3 + 9]}"),
                                  (365, 366, f"YS-{MONTHS[month]}", f"YE-{MONTHS[month]}")):
        if low <= days <= high and time.is_month_start.all():
            return start
        if low <= days <= high and time.is_month_end.all():
            return end
    if days % 7 == 0:
        weeks = days // 7
        return f"{weeks if weeks > 1 else ''}W-{WEEKDAYS[time[0].day_of_week]}"
    return f"{days}D"


def infer_freq(time: pd.DatetimeIndex, *, label: str = "the timestamps") -> str | None:
    """The pandas frequency of sorted, unique timestamps (``None`` for fewer than three).

    Regular timestamps get :func:`pandas.infer_freq`'s answer. With gaps, the most common
    step decides, read on the calendar: 1 day gives ``"D"`` (``"B"`` when no timestamp falls
    on a weekend, e.g. trading days), 7 days ``"W-<weekday of the first timestamp>"``,
    28-31 / 89-92 / 365-366 days months, quarters or years when every timestamp is a month
    start (``"MS"``, ``"QS-JAN"``, ``"YS-JAN"``) or a month end (``"ME"``, ``"QE-DEC"``,
    ``"YE-DEC"``); shorter steps stay fixed (``"h"``, ``"15min"``). Timestamps off that grid
    are a ValueError (naming ``label``) that lists the steps seen and asks for ``data.freq``.
    """
    if len(time) < 3:
        return None
    with warnings.catch_warnings():
        # pandas 3 announces an offset return type; the string is what we store
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        freq = pd.infer_freq(time)
    if freq is not None:
        return freq
    steps = pd.Series(time[1:] - time[:-1])
    freq = _calendar_freq(time, steps.mode().iloc[0])
    if not time.isin(pd.date_range(time[0], time[-1], freq=freq)).all():
        seen = ", ".join(f"{_step_text(step)} ({n}x)"
                         for step, n in steps.value_counts().head(5).items())
        raise ValueError(f"could not infer the frequency of {label}: steps seen {seen}"
                         f"{_daylight_saving_hint(time)}; "
                         "set data.freq to a pandas frequency string (e.g. 'D', 'B', "
                         "'W-SUN', 'MS') or resample the data; for steps no pandas frequency "
                         "describes (monthly on the 15th, say), leave data.time_col unset so "
                         "that the row order is the time step")
    return freq


def _daylight_saving_hint(time: pd.DatetimeIndex) -> str:
    """A hint for zoned times stepping by whole days give or take an hour (``""`` for
    others): daily or coarser local times written with UTC offsets that change across a
    daylight-saving change are read in UTC, where such a step is 23 or 25 hours."""
    # (text whose offsets change is read in UTC; one offset or a named zone cannot have)
    if time.tz is None or str(time.tz) != "UTC" or len(time) < 2:
        return ""
    day, hour = pd.Timedelta(days=1), pd.Timedelta(hours=1)
    steps = pd.Series(time[1:] - time[:-1])
    off = steps % day
    if (steps < day - hour).any() or not ((off == hour) | (off == day - hour)).any() or not (
            (off == pd.Timedelta(0)) | (off == hour) | (off == day - hour)).all():
        return ""
    return ("; steps of whole days give or take an hour: if these are local times written "
            "with UTC offsets that change across a daylight-saving change (read in UTC, so "
            "a day there is 23 or 25 hours), write them without offsets, as local times")


def season_from_freq(freq: str | None) -> int:
    """A default seasonal period for a pandas frequency string (1 when unknown).

    Hourly 24, daily 7, business days 5, weekly 52, monthly 12, quarterly 4, minutes 60,
    seconds 60, yearly 1. A multiple of a step divides the season ("2h" 12, "2W-SUN" 26)
    or, when it does not divide it ("2D", "5h"), gives 1.
    """
    if not freq:
        return 1
    offset = _offset(freq)
    if isinstance(offset, pd.offsets.Tick | pd.offsets.Day):
        # (pandas 3.0 has Day a calendar offset, which pd.Timedelta refuses)
        step = pd.Timedelta(days=offset.n) if isinstance(offset, pd.offsets.Day) else (
            pd.Timedelta(offset))
        cycle = next((c for unit, c in SEASON_BY_UNIT if not step % unit), step)
        return cycle // step if not cycle % step else 1
    season = SEASON_BY_RULE.get(offset.rule_code.split("-")[0], 1)
    return season // offset.n if not season % offset.n else 1


def _fill(frame: pd.DataFrame, columns: list[str], how: str,
          static: tuple[str, ...] = ()) -> pd.DataFrame:
    """Fill the missing values of ``columns`` by ``how`` (a ``data.fill`` choice).

    ``"ffill"`` carries the last value forward; a series that starts with missing values
    takes its first observed value there (back-fill). ``"interpolate"`` is linear in row
    order (one row per time step, inserted timestamps included); leading and trailing gaps
    take the nearest observed value. ``"zero"`` writes 0. Columns in ``static`` (the static
    covariates: one value per series) take the series' value whatever ``how`` says, and 0
    with ``"zero"`` when they hold none.
    """
    varying = [c for c in columns if c not in static]
    fixed = [c for c in columns if c in static]
    part = frame[varying]
    if how == "ffill":
        part = part.ffill().bfill()
    elif how == "interpolate":
        part = part.interpolate(method="linear", limit_direction="both")
    elif how == "zero":
        part = part.fillna(0.0)
    frame = frame.copy()
    frame[varying] = part
    frame[fixed] = frame[fixed].ffill().bfill()
    if how == "zero":
        frame[fixed] = frame[fixed].fillna(0.0)
    return frame


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def cell_text(value: object) -> str:
    """A cell of the data for a message: its repr, a long text by its start and length (a
    cell of 5,000 digits, which pandas reads as text, filled the message)."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:40]!r}... ({len(value):,} characters)"
    return repr(value)


def _shortened(text: str) -> str:
    """``text`` (pandas' message, which quotes the cell) with each quoted text of more than
    60 characters as its start and length, as :func:`cell_text` gives a cell."""
    return re.sub(r"([\"'])([^\"']{61,})\1",
                  lambda m: f"{m[1]}{m[2][:40]}{m[1]}... ({len(m[2]):,} characters)", text)


def _unparsed_row(column: pd.Series, time_format: str | None) -> str:
    """Where a column that does not parse as dates first fails: the first value that does not
    read as ``time_format`` (inferred from the first value when None), as ", first at row
    position N: 'text'" with N the table's row, or ""."""
    text = _digits_as_text(column, time_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" notice
        try:
            parsed = pd.to_datetime(text, format=time_format, errors="coerce")
        except (ValueError, TypeError):
            return ""
    failed = (parsed.isna() & column.notna()).to_numpy()
    if not failed.any():
        return ""
    at = int(np.argmax(failed))
    return f", first at row position {column.index[at]}: {cell_text(column.iloc[at])}"


def _digits_as_text(column: pd.Series, time_format: str | None) -> pd.Series:
    """With a format, numbers are dates written as digits (20200131 for '%Y%m%d'; a blank
    cell, which makes the column float, stays blank): their text."""
    if time_format is None or not _is_number(column):
        return column
    return column.map(lambda v: None if pd.isna(v) else
                      str(int(v)) if float(v).is_integer() else str(v))


# the first two numbers of a date written day and month first or month and day first
# ('01/02/81', '1-2-2020 13:00', '1 2 81'; not a time before the date, '01:02 01/02/81')
_TWO_FIELDS = r"^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ]\d{2,4}\b"


def _to_datetime(column: pd.Series, time_format: str | None, **kwargs: Any) -> pd.Series:
    """``pd.to_datetime``. Without a format pandas infers one from the first time; where it
    cannot (two-digit years: '01/02/81'; '1/2/2020 1:00 PM') it reads each time on its own,
    month first unless that is no date: '01/02/81' is 2 January but '13/01/81' 13 January, so
    a year of day-first dates is read shuffled, with no gap to show it. A column read so,
    month first where it could be and day first where not, is refused."""
    if time_format is not None:
        return pd.to_datetime(column, format=time_format, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "Could not infer format", UserWarning)
        try:
            return pd.to_datetime(column, **kwargs)
        except UserWarning as notice:
            per_value = str(notice)  # (pandas' notice, said again below)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        times = pd.to_datetime(column, **kwargs)
    fields = column.astype("string").str.extract(_TWO_FIELDS).astype("float64")
    first, second = fields[0].to_numpy(), fields[1].to_numpy()
    # the dates as written: a column of mixed offsets is read in UTC (utc=True), where
    # local midnight at +01:00 is the day before
    written = (times.dt.tz_localize(None) + _utc_offsets(column) if kwargs.get("utc")
               else times)
    month, day = written.dt.month.to_numpy(), written.dt.day.to_numpy()
    differ = first != second  # ('12/12/82' reads the same either way)
    month_first = (month == first) & (day == second) & differ
    day_first = (month == second) & (day == first) & differ
    if month_first.any() and day_first.any():
        at, swapped = int(np.argmax(month_first)), int(np.argmax(day_first))
        raise ValueError(
            f"pandas could not infer their format and read each on its own, month first "
            f"where it could ({cell_text(column.iloc[at])} as {times.iloc[at]}) and day "
            f"first where not ({cell_text(column.iloc[swapped])} as {times.iloc[swapped]}), "
            "two readings in one column")
    warnings.warn(per_value, UserWarning, stacklevel=2)
    return times


def parse_times(column: pd.Series, time_format: str | None) -> pd.Series:
    """Timestamps of a column, written as ``time_format`` (inferred when None). With a format,
    numbers are dates written as digits (20200131 for '%Y%m%d'; a blank cell, which makes the
    column float, stays blank).

    Times with a zone or UTC offsets whose every value is local midnight (daily or coarser
    data written with a zone, as ``to_csv`` writes a tz-aware index) are read as the local
    dates, without a zone: across a daylight-saving change their UTC times step by 23 or 25
    hours, and a table that does or does not cross one reads the same. Other text with
    different UTC offsets (hourly local time across a change) is read in UTC."""
    column = _digits_as_text(column, time_format)
    try:
        with warnings.catch_warnings():
            # pandas 2 warns that mixed offsets will need utc=True, and returns objects
            warnings.filterwarnings("ignore", "In a future version of pandas, parsing "
                                    "datetimes with mixed time zones", FutureWarning)
            times = _to_datetime(column, time_format)
        mixed = not pd.api.types.is_datetime64_any_dtype(times)
    except ValueError as err:
        # pandas 3 says "Mixed timezones", pandas 2.2 "... unless utc=True"
        if "Mixed timezones" not in str(err) and "unless utc=True" not in str(err):
            raise
        mixed = True
    if mixed:
        times = _to_datetime(column, time_format, utc=True)
        for rows in (slice(0, 64), slice(None)):  # a look at the first rows settles most
            local = times.iloc[rows].dt.tz_localize(None) + _utc_offsets(column.iloc[rows])
            # (an offset not at the end of a text leaves NaT: not read as local)
            same_blanks = bool((local.isna() == times.iloc[rows].isna()).all())
            if not (same_blanks and _all_midnight(local)):
                return times
        return local
    if getattr(times.dt, "tz", None) is not None:
        local = times.dt.tz_localize(None)
        if _all_midnight(local):
            return local
    return times


# time_format values that are no strftime format: pandas reads them, nothing writes them
_READ_ONLY_FORMATS = ("ISO8601", "mixed")


def format_times(times: pd.Series, time_format: str | None) -> pd.Series:
    """``times`` as ``data.time_format`` writes them (text), for a file (``forecast.csv``)
    that is read back as the data were written; unchanged (a CSV writes ISO 8601) without a
    format or with ``"ISO8601"`` or ``"mixed"``, which are no ``strftime`` formats.

    The format is used only when reading its text back with it (:func:`parse_times`) gives
    every time again: one that drops part of a time (``"%Y-%m-%d"`` for hourly times: two
    hours would be one date) or that does not read back (``"%y"`` outside 1969-2068, ``%z``
    for times without a zone) would write other times than the forecast's. Then ``times``
    are returned unchanged, for ISO 8601, and a UserWarning names the format and the first
    time it would change."""
    if time_format is None or time_format in _READ_ONLY_FORMATS:
        return times
    text = times.dt.strftime(time_format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (pandas' own about the format: the check says)
            back = parse_times(text, time_format)
        # the same instants, whatever the unit (s, us, ns) or zone they are held in; a time
        # with a zone is never one without
        zoned = {getattr(t.dt, "tz", None) is not None for t in (back, times)}
        changed = (~(back == times).to_numpy() if len(zoned) == 1
                   else np.ones(len(times), dtype=bool))
    except (ValueError, TypeError):  # (not text the format reads)
        back, changed = None, np.ones(len(times), dtype=bool)
    changed &= times.notna().to_numpy()
    if not changed.any():
        return text
    at = int(np.argmax(changed))
    reads = ("which does not read back with it" if back is None or pd.isna(back.iloc[at])
             else f"which reads back as {back.iloc[at]}")
    warn(f"times written in ISO 8601, not as data.time_format={time_format!r}: it writes "
         f"{times.iloc[at]} as {text.iloc[at]!r}, {reads} ({int(changed.sum())} of {len(times)} "
         "times would change); set data.time_format to a format that writes every time in full",
         stacklevel=2)
    return times


def _utc_offsets(column: pd.Series) -> pd.Series:
    """The UTC offset written at the end of each text (``+02:00``, ``-0500``, ``Z``); NaT
    where there is none, so that such a time is never read as local midnight."""
    parts = column.astype("string").str.extract(r"(?:([+-])(\d{2}):?(\d{2})|(Z))\s*$")
    sign = parts[0].map({"+": 1, "-": -1}).astype("float")
    minutes = sign * (parts[1].astype("float") * 60 + parts[2].astype("float"))
    minutes = minutes.where(parts[3].isna(), 0.0)
    return pd.to_timedelta(minutes, unit="min")


def _all_midnight(times: pd.Series) -> bool:
    known = times.dropna()
    return len(known) > 0 and bool((known == known.dt.normalize()).all())


def _one_series(sid: str, frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool,
                freq: str | None, trained: bool, source: str,
                history: bool) -> tuple[Series, str | None]:
    # errors and warnings name the series, and the table when it is not the data itself
    name = series_name(sid, cfg) + ("" if source == "the data" else f" of {source}")
    if cfg.time_col is not None:
        column = frame[cfg.time_col]
        if _is_number(column) and cfg.time_format is None:
            raise ValueError(
                f"time column {cfg.time_col!r} (data.time_col) of {name} holds numbers (e.g. "
                f"{column.iloc[0]}), not dates; pandas would read them as nanoseconds after "
                "1970. Dates written as digits take data.time_format (20200131: '%Y%m%d', "
                "years: '%Y'); convert others first (epoch seconds: "
                "pd.to_datetime(df[col], unit='s')) or leave data.time_col unset so that the "
                "row order is the time step")
        try:
            time = parse_times(column, cfg.time_format)
        except (ValueError, TypeError) as err:
            # pandas' own advice (format=, dayfirst) is about its arguments, not the settings
            reason = _shortened(" ".join(str(err).split()).split(" You might want to try")[0]
                                .rstrip("."))
            where = _unparsed_row(column, cfg.time_format)
            raise ValueError(
                f"time column {cfg.time_col!r} of {name} could not be parsed as dates "
                f"(data.time_format={cfg.time_format!r}): {reason}{where}; "
                "set data.time_format to how they are written, e.g. '%d/%m/%Y' or 'ISO8601'"
            ) from None
        blank = time.isna().to_numpy()
        if blank.any():
            raise ValueError(
                f"{int(blank.sum())} missing timestamp(s) in time column {cfg.time_col!r} "
                f"(data.time_col) of {name}, first at row position "
                f"{frame.index[int(np.argmax(blank))]}; data.fill cannot fill a blank "
                "timestamp: fill in or drop those rows")
        frame = frame.assign(**{cfg.time_col: time}).sort_values(cfg.time_col, kind="stable")
        dup = frame[cfg.time_col].duplicated()
        if dup.any():
            times = frame[cfg.time_col]
            # local clock times without offsets repeat an hour when daylight saving ends
            clock = times.dt.tz is None and bool((times != times.dt.normalize()).any())
            raise ValueError(f"{name} has {int(dup.sum())} duplicate timestamp(s) in "
                             f"{cfg.time_col!r}, first {times[dup].iloc[0]}"
                             + ("; if the table holds several series one under another "
                                "(long format), name their id column in data.series_col"
                                if cfg.series_col is None else "")
                             + ("; if they are local clock times repeated where daylight "
                                "saving time ends, write the times with their UTC offsets "
                                "(2023-10-29 02:00:00+01:00) or in UTC" if clock else ""))
        index = pd.DatetimeIndex(frame[cfg.time_col])
        # a trained model's frequency cannot change: the data must be on its grid
        freq = freq or cfg.freq or infer_freq(
            index, label=f"{name} (time column {cfg.time_col!r})")
        # (a future table is read at the forecast's times only: its other rows, gaps and
        # all, are none of the forecast's, and a step it lacks is said where it is read)
        if freq is not None and len(index) > 1 and need_target:
            _offset(freq)
            full = pd.date_range(index[0], index[-1], freq=freq)
            if len(full) != len(index) or not full.equals(index):
                missing = full.difference(index)
                off_grid = index.difference(full)
                if len(off_grid):
                    raise ValueError(
                        f"{name} has {len(off_grid)} timestamp(s) off the {freq!r} "
                        f"grid, first {off_grid[0]}{_daylight_saving_hint(index)}; " + (
                            f"the model was trained at frequency {freq!r}: resample the data "
                            "to it" if trained else f"data.freq={freq!r} is set: resample the "
                            "data to it, or set the frequency the data are on" if cfg.freq
                            else "set data.freq or resample the data"))
                misread = (f"more are missing than the {len(index)} present, so the dates "
                           "may have been misread (day and month swapped: 01/02/1949 read "
                           "as 2 January): set data.time_format to how they are written, "
                           "e.g. '%d/%m/%Y'. Otherwise, " if len(missing) > len(index)
                           else "")
                if cfg.fill == "none" and trained:
                    raise ValueError(
                        f"{name} is irregular: {len(missing)} timestamp(s) missing at "
                        f"the model's frequency {freq!r}, first {missing[0]}; {misread}"
                        "the model was trained with data.fill='none', which a forecast may "
                        "change: set data.fill for it (--set data.fill=ffill), or insert and "
                        "fill those rows first")
                if cfg.fill == "none":
                    raise ValueError(
                        f"{name} is irregular: {len(missing)} timestamp(s) missing at "
                        f"frequency {freq!r}, first {missing[0]}; {misread}"
                        "either set data.fill to 'ffill', 'interpolate' or 'zero' to insert "
                        "and fill them, or leave "
                        f"data.time_col unset (it is {cfg.time_col!r}) so that the row order "
                        "is the time step (e.g. trading days)")
                frame = frame.set_index(cfg.time_col).reindex(full)
                frame.index.name = cfg.time_col
                frame = frame.reset_index()
                index = full
        time_index: pd.Index = index
    else:
        time_index = pd.RangeIndex(len(frame))
    if history and need_target:
        known = frame[list(cfg.target)].notna().any(axis=1).to_numpy()
        trailing = len(known) - (int(np.flatnonzero(known)[-1]) + 1 if known.any() else 0)
        if trailing:
            where = f", from {time_index[-trailing]}" if cfg.time_col is not None else ""
            raise ValueError(
                f"{name} ends with {trailing} row(s) without target values{where}; predict "
                "forecasts the steps after the last row, so these would be filled and taken "
                "as history: drop them (their known-future covariates go in the future table)")
    columns = list(cfg.past_covariates + cfg.future_covariates + cfg.static_covariates)
    if need_target:
        columns = list(cfg.target) + columns
    observed = None
    # the columns' values read once (T, columns): a list selection of a DataFrame costs more
    # than the rest of a short series' checks, and a table may hold thousands of series
    values = frame[columns].to_numpy(np.float64) if columns else np.zeros((len(frame), 0))
    n_target = len(cfg.target) if need_target else 0
    # (a future table's missing and infinite values are said where its steps are read, and
    # nothing of it is filled: its rows after them are none of the forecast's)
    if columns and need_target:
        inf = np.isinf(values)
        if inf.any():
            col = columns[int(np.argmax(inf.any(0)))]
            where = int(np.argmax(inf[:, columns.index(col)]))
            raise ValueError(f"{int(inf[:, columns.index(col)].sum())} infinite value(s) in "
                             f"column {col!r} of {name}, first at {time_index[where]} (inf, "
                             "or a number too large in magnitude for a float64, past 1.8e308: "
                             "1e400, an int of 309 digits or more); data.fill does not replace "
                             "them: fix or drop them")
        _check_bounds(frame, cfg, name, time_index)
        blank = np.isnan(values)
        if blank[:, :n_target].any():
            observed = ~blank[:, :n_target]
        if blank.any():
            nan = pd.DataFrame(blank, columns=columns)
            if cfg.fill == "none":
                # a column with no value at all first: no fill but 'zero' helps it
                col = (nan.all() if nan.all().any() else nan.any()).idxmax()
                where = int(np.argmax(nan[col].to_numpy()))
                raise ValueError(
                    f"{int(nan[col].sum())} missing value(s) in column {col!r} of {name}, "
                    f"first at {time_index[where]}; " + (
                        "that is every row, and 'ffill' and 'interpolate' fill only between "
                        "or beside observed values: give it values or leave it out of this "
                        "series' columns" + ("" if col in cfg.target else
                                             " (data.fill='zero' would take 0 for each)")
                        if nan[col].all() else
                        "set data.fill to 'ffill', 'interpolate' or 'zero' (--set "
                        "data.fill=ffill) to fill them"))
            # a column with nothing observed has nothing to fill from (and a target with
            # nothing observed nothing to learn or score): filling it gave NaN scalers and
            # blank forecasts
            empty = [c for c in columns if nan[c].all() and (
                cfg.fill != "zero" or (need_target and c in cfg.target))]
            if empty:
                raise ValueError(
                    f"column {empty[0]!r} of {name} has no observed value in its "
                    f"{len(frame)} rows; data.fill={cfg.fill!r} fills gaps between or beside "
                    "observed values: give it values or leave it out of this series' columns")
            counts = {c: int(n) for c, n in nan.sum().items() if n}
            most = max(counts.values()) * 2 > len(frame)
            warn(f"{name}: filled missing values {counts} with "
                 f"data.fill={cfg.fill!r}" + (
                     f", most of its {len(frame)} rows: if its dates were misread "
                     "(day and month swapped), set data.time_format instead"
                     if most else "") + (
                     "; interpolate reads the value after each gap, so a forecast "
                     "whose history ends in a gap sees a later value, maybe one it "
                     "is scored on ('ffill' reads only the past)"
                     if cfg.fill == "interpolate" else "") + (
                     "; static covariates take their series' value"
                     if set(counts) & set(cfg.static_covariates) else "") + (
                     f"; known-future covariates "
                     f"{[c for c in cfg.future_covariates if c in counts]} are filled "
                     "too: a calendar column (a weekday, a holiday flag) "
                     "is best computed from the dates once the gaps are filled"
                     if set(counts) & set(cfg.future_covariates) else ""), stacklevel=3)
            frame = _fill(frame, columns, cfg.fill, static=cfg.static_covariates)
            values = frame[columns].to_numpy(np.float64)
    parts = np.cumsum([n_target, len(cfg.past_covariates), len(cfg.future_covariates)])
    # (column-major, as a DataFrame's to_numpy gives them: reductions over time, such as the
    # scalers' means, sum in the same order, to the last bit)
    target, past, future, static = (np.asfortranarray(part)
                                    for part in np.split(values, parts, axis=1))
    if len(static) and not (static == static[:1]).all():
        k = int(np.argmax((static != static[:1]).any(0)))
        row = int(np.argmax(static[:, k] != static[0, k]))
        raise ValueError(f"static covariate {cfg.static_covariates[k]!r} changes within "
                         f"{name}: {static[0, k]:g} at {time_index[0]}, {static[row, k]:g} at "
                         f"{time_index[row]}; static covariates must be constant per series "
                         "(use past_covariates)")
    series = Series(
        id=sid, time=time_index,
        target=target if need_target else np.zeros((len(frame), len(cfg.target))),
        past=past, future=future,
        static=static[0] if len(static) else np.zeros(len(cfg.static_covariates)),
        observed=observed,
    )
    return series, freq


def to_series(frame: pd.DataFrame, cfg: DataConfig, *, need_target: bool = True,
              freq: str | None = None, source: str = "the data", history: bool = False
              ) -> tuple[list[Series], str | None]:
    """Split ``frame`` into checked, filled :class:`Series` (one per id, in order of first
    appearance; their times in UTC when series were read in different zones). Returns the
    series and the frequency used. ``freq`` is a fitted model's
    frequency (the errors then say that the data must match it); ``None`` infers it.
    ``source`` names the table in the errors (e.g. ``"the future table"``). Without
    ``need_target`` the table is a future table: its rows are kept as given, off the grid or
    with gaps, and missing values stay NaN, for the caller to check at the times it reads;
    nothing is filled. ``history``:
    the table is the history to forecast from, so rows at its end without any target value
    (the periods to forecast, say) are an error, not filled."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"{source} is empty: no rows")
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise ValueError(f"{source} has more than one column named {repeated}: rename or drop "
                         "the copies")
    frame = _as_numbers(frame, cfg)
    _check_columns(frame, cfg, need_target=need_target, source=source)
    frame = frame.reset_index(drop=True)  # index labels are row positions in the errors
    out = []
    trained = freq is not None  # the frequency of a fitted model, not inferred here
    inferred: dict[str, str] = {}  # frequency -> the first series that has it
    for sid, group in series_groups(frame, cfg, source):
        series, freq_used = _one_series(sid, group, cfg, need_target=need_target, freq=freq,
                                        trained=trained, source=source, history=history)
        if freq_used is not None:
            inferred.setdefault(freq_used, sid)
        out.append(series)
    if freq is None and len(inferred) > 1:
        freq = _common_freq(out, inferred, source)
    return _one_zone(out), freq or next(iter(inferred), None)


def _one_zone(series: list[Series]) -> list[Series]:
    """``series`` with their times in one zone: UTC when they were read in different ones
    (say one series written in summer time, +02:00, and one crossing a daylight-saving
    change, which is read in UTC). Times with a zone in some series and without in others
    are an error."""
    timed = [s for s in series if isinstance(s.time, pd.DatetimeIndex)]
    zoned = [s for s in timed if s.time.tz is not None]
    if zoned and len(zoned) < len(timed):
        bare = next(s for s in timed if s.time.tz is None)
        raise ValueError(f"series {zoned[0].id!r} has times with a zone "
                         f"({zoned[0].time.tz}), series {bare.id!r} times without one (written "
                         "without UTC offsets, or all at local midnight, which are read as "
                         "local dates); write every series' times alike: with offsets at "
                         "times of day that are not all midnight, or without offsets")
    if len({str(s.time.tz) for s in zoned}) < 2:
        return series
    return [replace(s, time=s.time.tz_convert("UTC")) for s in series]


def series_groups(frame: pd.DataFrame, cfg: DataConfig, source: str = "the data"
                  ) -> list[tuple[str, pd.DataFrame]]:
    """``(id, rows)`` of each series in order of first appearance (one, id "0", without
    ``series_col``); rows without an id, and ids that read as one, are an error (``source``
    names the table in it)."""
    if cfg.series_col is None:
        return [("0", frame)]
    no_id = frame[cfg.series_col].isna().to_numpy()
    if no_id.any():
        raise ValueError(
            f"{int(no_id.sum())} row(s) have no series id in column {cfg.series_col!r} "
            f"(data.series_col) of {source}, first at row position {int(np.argmax(no_id))}; "
            "fill in the id or drop those rows")
    # (observed: a categorical id column's unused categories are no series)
    groups = [(k, series_id(k), g)
              for k, g in frame.groupby(cfg.series_col, sort=False, observed=True)]
    first: dict[str, object] = {}
    for key, sid, _ in groups:
        if sid in first:
            raise ValueError(
                f"series ids {first[sid]!r} and {key!r} in column {cfg.series_col!r} "
                f"(data.series_col) of {source} are both read as series {sid!r} (a whole "
                "number is one id however it is written, as tables written from floats "
                "write 1.0); rename one of them, or write the ids of one series alike")
        first[sid] = key
    return [(sid, g) for _, sid, g in groups]


def _common_freq(series: list[Series], inferred: dict[str, str], source: str) -> str:
    """The frequency whose grid every series fills without a gap, when series were inferred
    at different ones (a short Monday-to-Friday series reads as daily beside trading days);
    an error naming two series when there is none (a weekly and a daily series)."""
    for candidate in inferred:
        if all(s.time.equals(pd.date_range(s.time[0], s.time[-1], freq=candidate))
               for s in series if len(s) > 1):
            return candidate
    (f1, a), (f2, b) = list(inferred.items())[:2]
    raise ValueError(f"series {a!r} has frequency {f1!r} and series {b!r} has {f2!r} in "
                     f"{source}; one model needs one frequency: set data.freq to the one to "
                     "use (with data.fill to fill the other series' gaps) or train a model "
                     "per frequency")


_WHOLE_NUMBER = re.compile(r"-?\d+\.0+")


def series_name(sid: str, cfg: DataConfig) -> str:
    """How messages name a series: ``series 'A'`` by its id, or ``the series`` for the one
    series of data without ``data.series_col`` (its id, "0", is none of the user's)."""
    return f"series {sid!r}" if cfg.series_col is not None else "the series"


def series_names(ids: Sequence[str]) -> str:
    """``'a', 'b' and 3 more``: the first ten of ``ids``."""
    return ", ".join(map(repr, ids[:10])) + (
        f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def first_reason(left_out: dict[str, str]) -> str:
    """Why the series ``left_out`` (id -> why) were left out, in words that follow their
    names: "because ..." for one, "the first because ..." for more."""
    first = "because" if len(left_out) == 1 else "the first because"
    return f"{first} {next(iter(left_out.values()))}"


def series_id(key: Any) -> str:
    """A series id as text. Whole-number floats (1.0, as pandas reads an id column written
    from floats, or the text "1.0" such a column leaves in a CSV) read as the integers they
    are (1), so tables agree on them; other text stays as written ("007")."""
    if isinstance(key, float | np.floating) and float(key).is_integer():
        return str(int(key))
    if isinstance(key, str) and _WHOLE_NUMBER.fullmatch(key):
        return key.split(".")[0]
    return str(key)


def parse_date(text: str, time_format: str | None) -> pd.Timestamp:
    """A date setting (a split, a backtest's start) written as the time column is
    (``data.time_format``) or in ISO 8601 (2021-04-05); pandas' own reading without a format.
    A ValueError or TypeError when it is neither."""
    if time_format is None:
        return pd.Timestamp(text)
    try:
        return pd.to_datetime(text, format=time_format)
    except (ValueError, TypeError):
        try:
            return pd.to_datetime(text, format="ISO8601")
        except (ValueError, TypeError):
            raise ValueError(f"written neither as data.time_format={time_format!r} nor in "
                             "ISO 8601 (YYYY-MM-DD)") from None


def date_in(series: Series, text: str, label: str, cfg: DataConfig,
            unparsable: str = "is not a valid date") -> pd.Timestamp:
    """``text``, the value of setting ``label``, as a date comparable with ``series``' time
    column (see :func:`parse_date`, with ``cfg.time_format``); a ValueError naming ``label``
    when the data have no time column, the text is not a date (``unparsable`` says so) or
    only one of the two has a time zone (naming the series as :func:`series_name` does)."""
    if not isinstance(series.time, pd.DatetimeIndex):
        raise ValueError(f"{label}={text!r} is a date, but the data has no time column "
                         "(data.time_col)")
    try:
        when = parse_date(text, cfg.time_format)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{label}={text!r} {unparsable}: {err}") from None
    if pd.isna(when):
        raise ValueError(f"{label}={text!r} is not a valid date: it is empty or NaT")
    if (when.tz is None) != (series.time.tz is None):
        raise ValueError(f"{label}={text!r} and the time column of "
                         f"{series_name(series.id, cfg)} must "
                         f"both have a time zone or both have none; got {when.tz} and "
                         f"{series.time.tz}")
    return when


def past_the_end(series: list[Series], date: str, time_format: str | None) -> str | None:
    """For a split date past the last row of every series, the words that say so ("starts
    after the last row of every series (the latest at ...)"); None when a series reaches it."""
    last = max(s.time[-1] for s in series)
    if parse_date(date, time_format) <= last:
        return None
    return f"starts after the last row of every series (the latest at {last})"


class TooShortError(ValueError):
    """A series too short for what is asked of it (``data.short_series`` may skip it)."""


def rows_of(fraction: float, n: int) -> int:
    """``fraction`` of ``n`` rows, rounded down, the fraction taken as written in decimal:
    0.29 of 100 rows is 29, not the 28 of float ``100 * 0.29`` (28.999999999999996)."""
    return int(n * Fraction(str(fraction)))


def split_sizes(series: Series, cfg: DataConfig) -> tuple[int, int, int]:
    """Rows in the (train, val, test) parts of one series, in time order;
    :class:`TooShortError` when a row count asks for more rows than it has, or the split
    leaves none for training. A fraction is of all the series' rows (:func:`rows_of`)."""
    n = len(series)

    def rows(spec: float | int | str, end: int, name: str) -> int:
        if isinstance(spec, str):
            when = date_in(series, spec, f"data.{name}", cfg)
            start = int(series.time[:end].searchsorted(when))
            return end - start
        if isinstance(spec, float):
            return rows_of(spec, n)
        if spec > end:  # 20230901 meant as a date, say
            rows = "rows" if end == n else "rows before its test part"
            raise TooShortError(
                f"data.{name}={spec!r} is a number of rows, more than the {end} {rows} of "
                f"{series_name(series.id, cfg)}; a date is written with dashes, e.g. "
                "'2023-09-01', and "
                "a fraction as 0.2")
        return int(spec)

    n_test = rows(cfg.test, n, "test")
    n_val = rows(cfg.val, n - n_test, "val")
    n_train = n - n_val - n_test
    if n_train <= 0:
        # a date split leaves no training rows to a series that starts on or after it (not
        # to be cured by smaller parts: a later date gives it training rows)
        cut = ("val" if isinstance(cfg.val, str) and n_test < n else
               "test" if isinstance(cfg.test, str) and n_test == n else None)
        fix = (f"it starts at {series.time[0]}, on or after data.{cut}="
               f"{getattr(cfg, cut)!r}, so that all of it is "
               f"{'validation or test' if cut == 'val' else 'test'}: a date after its start "
               "gives it training rows"
               if cut is not None and isinstance(series.time, pd.DatetimeIndex)
               else "reduce data.val / data.test")
        raise TooShortError(f"{series_name(series.id, cfg)} has {n} rows, {n_val} for "
                            f"validation and {n_test} for test: no rows left for training; "
                            f"{fix}")
    return n_train, n_val, n_test
