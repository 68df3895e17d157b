"""Forecasting configuration: data, model, evaluation and training sections.

Each section is a frozen dataclass validated on construction. :func:`ForecastConfig.from_dict`
reads the nested mapping of a YAML file and rejects unknown keys, listing the valid ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from lstmkit.nn.config import (
    check_lstm_options,
    layer_count,
    plain_fields,
    plain_value,
    positive_int,
    shown,
)
from lstmkit.saving import path_arg
from lstmkit.training import TrainConfig

Fill = Literal["none", "ffill", "interpolate", "zero"]
ShortSeries = Literal["error", "skip"]
Decoder = Literal["pmf", "direct", "autoregressive"]
Normalization = Literal["none", "last", "mean", "revin"]
CovariateNormalization = Literal["none", "last", "mean"]
Loss = Literal["mse", "mae", "huber", "quantile"]
Baseline = Literal["naive", "seasonal_naive", "ets", "arima"]
Split = float | int | str

DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


def _choice(name: str, value: object, literal: Any) -> None:
    if value not in get_args(literal):
        raise ValueError(f"{name} must be one of {list(get_args(literal))}, got {value!r}")


def _bounds(value: object, targets: tuple[str, ...]
            ) -> dict[str, tuple[float | None, float | None]] | None:
    """``data.target_bounds`` checked, as ``{target: (low, high)}`` (None when unbounded)."""
    if isinstance(value, np.ndarray):  # [low, high] as an array
        value = value.tolist()
    if value is None or (isinstance(value, dict) and not value):
        return None
    name = "data.target_bounds"
    if isinstance(value, list | tuple):
        value = dict.fromkeys(targets, value)
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be [low, high] for every target or {{column: [low, "
                        f"high]}}, got {value!r}")
    unknown = [k for k in value if k not in targets]
    if unknown:
        raise ValueError(f"{name} names {unknown!r}, not among data.target {list(targets)}")
    bounds = {}
    for column, pair in value.items():
        where = f"{name} of {column!r}"
        if isinstance(pair, np.ndarray):
            pair = pair.tolist()
        written = plain_value(pair)  # (in messages; the numbers read are the exact ones)
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(
                v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))
                for v in pair):
            raise TypeError(f"{where} must be [low, high], numbers or null (unbounded), "
                            f"got {written!r}")
        try:  # (a NumPy number, from the data's minimum say, as a Python float)
            low, high = (None if v is None else float(v) for v in pair)
        except OverflowError:
            raise ValueError(f"{where} must be finite numbers or null, got a number too "
                             "large in magnitude for a float") from None
        if any(v is not None and not math.isfinite(v) for v in (low, high)):
            raise ValueError(f"{where} must be finite numbers or null, got {written!r}")
        if low is not None and high is not None and not low < high:
            raise ValueError(f"{where} must have low < high, got {written!r}")
        if (low, high) != (None, None):
            bounds[column] = (low, high)
    return bounds or None


def _str_tuple(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a column name or a list of names, got {value!r}")
    return tuple(value)


def _column(name: str, value: object) -> None:
    """A TypeError or ValueError unless ``value`` is a column name (a non-empty string) or
    None."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a column name (a string) or null, got "
                        f"{type(value).__name__} {value!r}")
    if value == "":
        raise ValueError(f"{name} must be a non-empty column name or null, got ''")


@dataclass(frozen=True)
class DataConfig:
    """Which columns are what, how gaps are handled and where the splits are.

    Attributes:
        target: target column(s); forecast jointly (or channel by channel, see ModelConfig).
        path: CSV file the command line reads when no ``--data`` is given.
        time_col: the timestamp column; ``None`` uses the row order (no calendar checks).
            Text timestamps with different UTC offsets (local time across a daylight-saving
            change) are read in UTC; numbers (epoch seconds, years) are refused.
        series_col: id column of a long table holding many series; ``None`` for one series.
        past_covariates: columns known only up to the forecast origin (observed drivers).
        future_covariates: columns known over the horizon too (calendar, planned prices);
            :meth:`Forecaster.predict` needs their values for the steps it forecasts (the
            next ``horizon``, or ``steps`` when more).
        static_covariates: numeric columns constant within a series (store size, region code);
            predict, evaluate and backtest warn of a series whose value lies outside those of
            the series trained on (the model extrapolates for it).
        freq: pandas frequency string (``"h"``, ``"D"``); ``None`` infers it per series (they
            must agree: one model has one frequency).
        time_format: how ``time_col`` is written, as a ``strftime`` format (``"%d/%m/%Y"``
            for day-first dates) or ``"ISO8601"``; ``None`` lets pandas infer it (month-first
            when a date could be either). ``forecast.csv`` (``lstmkit forecast predict``)
            and ``per_origin.csv`` (``evaluate``, ``backtest``) write their times in that
            format too, where each reads back as the same time
            (:func:`lstmkit.forecasting.data.format_times`); otherwise (a format that drops
            the hour of hourly times, say), and with ``None``, ``"ISO8601"`` or ``"mixed"``
            (which pandas reads and nothing writes), in ISO 8601, with a warning when a
            ``strftime`` format was given.
        fill: what to do with missing target/covariate values and missing timestamps:
            ``"none"`` raises an error that says where they are; ``"ffill"`` carries the last
            value forward; ``"interpolate"`` interpolates linearly in time; ``"zero"`` writes 0.
            Missing timestamps are inserted (as missing values) before filling.
        short_series: what to do with a series too short for its part of the work:
            ``"error"`` refuses the table, naming the series and what it lacks; ``"skip"``
            leaves it out, with a warning that names it: training leaves out a series with
            no training window (lookback + horizon rows in its training part) or that the
            split leaves no training rows, a validation or test part shorter than a horizon
            gives no window, evaluate and backtest do not score a series the split refuses,
            and predict leaves out a series with fewer than lookback rows. Every series
            left out is an error.
        val, test: size of the validation and test parts at the end of each series: a
            fraction in (0, 1), a number of rows, or a date string (the part starts at that
            date; an unquoted YAML date is read as one). ``test=0`` keeps no test part.
        target_bounds: the values the targets can take, ``{column: [low, high]}`` (either
            may be null, unbounded), or one ``[low, high]`` for every target: the model's
            forecasts, quantiles and intervals are clipped into them (a concentration or
            sales: ``[0, null]``), as are the baselines scored beside it, and an observed
            target outside them is an error. Training is unchanged, so a trained model may
            be given others. In Python a pair may also be a tuple or a NumPy array.
    """

    target: tuple[str, ...] = ()
    path: str | Path | None = None
    time_col: str | None = None
    series_col: str | None = None
    past_covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    static_covariates: tuple[str, ...] = ()
    freq: str | None = None
    time_format: str | None = None
    fill: Fill = "none"
    short_series: ShortSeries = "error"
    val: Split = 0.1
    test: Split = 0.2
    target_bounds: Any = None

    def __post_init__(self) -> None:
        # (read before plain_fields: a float32 bound from the data must bound that data, so
        # it stays the float32 number, not the shortest decimal plain_fields writes)
        bounds = self.target_bounds
        plain_fields(self)  # numpy scalars (np.float64(0.1), np.int64(24)) as Python ones
        for name in ("target", "past_covariates", "future_covariates", "static_covariates"):
            value = getattr(self, name)
            columns = _str_tuple(f"data.{name}", value)
            if "" in columns:
                raise ValueError(f"data.{name} must name columns by non-empty strings, got "
                                 f"{value!r}")
            object.__setattr__(self, name, columns)
        if not self.target:
            raise ValueError("data.target must name at least one column, got none")
        _column("data.time_col", self.time_col)
        _column("data.series_col", self.series_col)
        if self.path is not None and not isinstance(self.path, str | Path):
            raise TypeError(f"data.path must be a file path (a string or Path) or null, got "
                            f"{type(self.path).__name__} {self.path!r}")
        if self.path == "":
            raise ValueError("data.path must be a file path or null, got ''")
        object.__setattr__(self, "target_bounds", _bounds(bounds, self.target))
        _choice("data.fill", self.fill, Fill)
        _choice("data.short_series", self.short_series, ShortSeries)
        for name in ("freq", "time_format"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise TypeError(f"data.{name} must be a string or null, got "
                                f"{getattr(self, name)!r}")
            if getattr(self, name) is not None and self.time_col is None:
                raise ValueError(
                    f"data.{name}={getattr(self, name)!r} describes the timestamps of "
                    "data.time_col, which is not set (without it the row order is the time "
                    "step and nothing is read as a date): set data.time_col"
                    + (", or evaluation.season_length for the seasonal period"
                       if name == "freq" else ""))
        roles = ("target", "past_covariates", "future_covariates", "static_covariates")
        for role in roles:
            columns = getattr(self, role)
            twice = [c for c in columns if columns.count(c) > 1]
            if twice:
                raise ValueError(f"column {twice[0]!r} is named twice in data.{role}")
        if self.time_col is not None and self.time_col == self.series_col:
            raise ValueError(f"column {self.time_col!r} is both data.time_col and "
                             "data.series_col: each timestamp would be a series of one row; "
                             "name the series id column, or no series_col for one series")
        # where each column is named: the time and series columns, then the lists
        seen = {getattr(self, name): f"data.{name}" for name in ("time_col", "series_col")
                if getattr(self, name) is not None}
        for role in roles:
            for col in getattr(self, role):
                if col in seen:
                    raise ValueError(f"column {col!r} is both {seen[col]} and in "
                                     f"data.{role}")
                seen[col] = f"in data.{role}"
        for name in ("val", "test"):
            value = getattr(self, name)
            if isinstance(value, datetime.date):  # YAML reads an unquoted 2020-08-01 so
                value = value.isoformat()
                object.__setattr__(self, name, value)
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError(f"data.{name} must be a fraction, a row count or a date, got "
                                f"{value!r}")
            if isinstance(value, float) and not 0.0 <= value < 1.0:
                count = (f"; a row count is a whole number written without a point: "
                         f"data.{name}={int(value)}" if value >= 1 and value.is_integer()
                         else "")
                raise ValueError(f"data.{name} as a fraction must be in [0, 1), got "
                                 f"{value}{count}")
            if isinstance(value, int) and value < 0:
                raise ValueError(f"data.{name} as a row count must be >= 0, got {value}")
        if isinstance(self.val, str) and isinstance(self.test, str):
            from lstmkit.forecasting.data import parse_date

            try:
                before = (parse_date(self.val, self.time_format)
                          < parse_date(self.test, self.time_format))
            except (ValueError, TypeError):
                before = True  # an unparsable date is named when the data are split
            if not before:
                raise ValueError(f"data.val={self.val!r} must be a date before data.test="
                                 f"{self.test!r}: the validation part runs from data.val to "
                                 "data.test")


@dataclass(frozen=True)
class ModelConfig:
    """The network: an LSTM encoder over the lookback window and a decoder for the horizon.

    Attributes:
        lookback: past steps the model sees.
        horizon: future steps it forecasts.
        segment_len: steps embedded together into one LSTM input (SegRNN); 1 for a
            step-by-step encoder. ``lookback`` must be a multiple of it.
        hidden_size: LSTM width (also the segment embedding width); at least 2 for the
            ``pmf`` decoder and 4 for ``direct`` with ``channel_independent``.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the output layer.
        decoder: ``"pmf"`` (parallel multi-step: one LSTM step per output segment from the
            encoder state, conditioned on a position and a channel embedding; SegRNN's PMF),
            ``"direct"`` (linear head from the last state to the whole horizon, plus, with
            known-future covariates, MQ-RNN's local MLP on each step's covariates and the
            state) or
            ``"autoregressive"`` (an LSTM decoder that feeds back each segment it forecast,
            before ``highway`` and ``mean_reversion`` add their terms).
        channel_independent: model each target channel as its own univariate series with a
            shared network (best for many correlated channels); ``False`` models them jointly.
        normalization: per-window instance normalisation: subtract the ``"last"`` value or
            the ``"mean"`` of the window, or ``"revin"`` (subtract mean, divide by std); the
            forecast is shifted back. ``"none"`` relies on the global scaler only.
            ``"revin"`` needs ``lookback >= 2``; a flat window (a run of zeros in an
            intermittent series) has std 0, so its forecast collapses to the window's mean
            (0 after a run of zeros) with intervals of about zero width: use ``"last"`` or
            ``"mean"`` for such data.
        past_covariate_normalization: per-window normalisation of the past-only covariates
            (after the global scaler): subtract each window's ``"last"`` value or ``"mean"``
            of each, so that one that moves with the target's level (a stock's opening price
            beside its close) is read as its moves, not as a level that strays from its
            training range in later years; ``"none"`` (the default) keeps their levels, which
            a covariate such as a temperature needs. Needs ``data.past_covariates``.
        loss: ``"mse"``, ``"mae"``, ``"huber"`` or ``"quantile"`` (pinball, gives intervals).
        quantiles: quantile levels for the quantile loss, in (0, 1), increasing and
            including 0.5 (the median is the point forecast). Checked whatever the loss; with
            a point loss they must stay at the default (setting them is an error).
        highway: add a linear map from the (normalised) lookback of each channel straight to
            its horizon, shared across channels, to the LSTM's forecast: the "autoregressive
            highway" of LSTNet (Lai et al. 2018). The LSTM then learns what a linear model of
            the window misses; on long horizons the linear part carries the level and the
            seasonality. Starts at zero, like the output layer. On by default: with every
            other setting at its default it lowered the mean validation loss on 6 of 8 real
            series (``benchmarks/forecast_defaults.py``; docs/forecasting.md).
        mean_reversion: add a learned coefficient per forecast step times the window's level
            (the value that ``normalization`` subtracts, in the units of the global scaler,
            so the distance from the training mean under standard scaling): with it the
            forecast can revert toward the training mean, which per-window normalisation
            alone cannot see. Starts at zero and is left out of weight decay. Needs a
            ``normalization`` other than ``"none"``.
        future_context: give each forecast step the known-future covariates of the
            ``future_context`` steps before and after it too (the last ones of the lookback
            before the first step; zeros, the training mean, after the last), so that an
            effect that leads or lags its covariate (the day before a holiday, a promotion
            that carries over) can be learned. With 0 a step sees only its own covariates
            (``pmf`` and ``autoregressive``: those of its segment). Needs
            ``data.future_covariates`` and ``future_context <= lookback``.
        conformal: after training, correct the quantile intervals on the validation windows
            (conformalised quantile regression, :mod:`lstmkit.forecasting.conformal`): each
            pair (q, 1 - q) is widened or narrowed per forecast step and target so that it
            covers 1 - 2q of the validation windows, by a margin in units of each window's
            scale (its lookback's mean absolute change). Needs ``loss="quantile"`` with
            quantiles that include 0.5 and pair up as (q, 1 - q) (at least one pair), and a
            validation part.
        ensemble: train this many networks, with seeds ``training.seed``, ``seed + 1``, ...
            (each with its own ``member<k>`` checkpoint and log folder), and forecast with the
            mean of their outputs (quantiles averaged level by level, before ``conformal``
            corrects the averaged intervals); ``ensemble`` times as long to train.
        lstm: keyword options of :class:`lstmkit.nn.LSTM` (``peephole``, ``layer_norm``,
            ``zoneout``, ``recurrent_dropout``, ``weight_drop``, ``forget_bias``, ``init``,
            ``backend`` ...), so any variant of the core LSTM can be the encoder. Lists in
            the values are stored as tuples (``zoneout: [0.1, 0.2]`` reads ``(0.1, 0.2)``),
            numpy scalars as Python ones (``np.int64(8)`` reads ``8``). ``proj_size`` must be
            smaller than ``hidden_size``.
    """

    lookback: int = 96
    horizon: int = 24
    segment_len: int = 1
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.1
    decoder: Decoder = "pmf"
    channel_independent: bool = True
    normalization: Normalization = "last"
    past_covariate_normalization: CovariateNormalization = "none"
    loss: Loss = "mse"
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    highway: bool = True
    mean_reversion: bool = False
    future_context: int = 0
    conformal: bool = False
    ensemble: int = 1
    lstm: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy scalars (np.int64(96), np.float64(0.1)) as Python ones
        if isinstance(self.quantiles, str | bytes) or not isinstance(self.quantiles, Iterable):
            raise TypeError(f"model.quantiles must be a list of levels such as [0.1, 0.5, 0.9], "
                            f"got {self.quantiles!r}")
        object.__setattr__(self, "quantiles", _levels(self.quantiles))
        for name in ("lookback", "horizon", "segment_len", "hidden_size", "ensemble"):
            positive_int(f"model.{name}", getattr(self, name))
        layer_count("model.num_layers", self.num_layers)
        if self.lookback % self.segment_len:
            raise ValueError(f"model.lookback ({self.lookback}) must be a multiple of "
                             f"model.segment_len ({self.segment_len})")
        # (a wrong kind of value is a TypeError, as in positive_int: a search space drawing
        # one is refused before any trial)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise TypeError(f"model.dropout must be a number in [0, 1), got "
                            f"{type(self.dropout).__name__} {self.dropout!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        _choice("model.decoder", self.decoder, Decoder)
        _choice("model.normalization", self.normalization, Normalization)
        _choice("model.past_covariate_normalization", self.past_covariate_normalization,
                CovariateNormalization)
        _choice("model.loss", self.loss, Loss)
        for name in ("channel_independent", "highway", "mean_reversion", "conformal"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"model.{name} must be true or false, got "
                                f"{getattr(self, name)!r}")
        # pmf gives hidden_size // 2 features to its position embedding; direct, channel by
        # channel, gives hidden_size // 4 to the channel embedding of its covariate MLP
        if self.decoder == "pmf" and self.hidden_size < 2:
            raise ValueError(f"model.hidden_size must be >= 2 with model.decoder 'pmf' (its "
                             f"position embedding is hidden_size // 2 wide), got "
                             f"{self.hidden_size}")
        if self.decoder == "direct" and self.channel_independent and self.hidden_size < 4:
            raise ValueError(f"model.hidden_size must be >= 4 with model.decoder 'direct' and "
                             f"model.channel_independent true (its channel embedding is "
                             f"hidden_size // 4 wide), got {self.hidden_size}")
        if self.normalization == "revin" and self.lookback < 2:
            raise ValueError(f"model.normalization 'revin' divides each window by its standard "
                             f"deviation, which needs model.lookback >= 2, got "
                             f"model.lookback={self.lookback}; use normalization 'last' or "
                             "'mean'")
        if isinstance(self.future_context, bool) or not isinstance(self.future_context, int):
            raise TypeError(f"model.future_context must be an int, got "
                            f"{type(self.future_context).__name__} {self.future_context!r}")
        if not 0 <= self.future_context <= self.lookback:
            raise ValueError(f"model.future_context must be an int from 0 to model.lookback "
                             f"({self.lookback}), the steps of known-future covariates on "
                             f"either side of each forecast step, got {self.future_context!r}")
        if self.mean_reversion and self.normalization == "none":
            raise ValueError("model.mean_reversion needs a per-window level: set "
                             "model.normalization to 'last', 'mean' or 'revin', got 'none'")
        quantiles = self.quantiles
        if self.conformal:
            _conformal_levels(self.loss, quantiles)
        if not quantiles or any(not 0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"model.quantiles must be levels in (0, 1), got {quantiles}")
        if list(quantiles) != sorted(set(quantiles)):
            raise ValueError(f"model.quantiles must be increasing and distinct, got "
                             f"{quantiles}")
        names = [quantile_column(q) for q in quantiles]
        if len(set(names)) < len(names):
            at = next(i for i in range(1, len(names)) if names[i] == names[i - 1])
            raise ValueError(f"model.quantiles {quantiles[at - 1]!r} and {quantiles[at]!r} "
                             f"both name the forecast column {names[at]!r}: levels must differ "
                             "within 15 significant digits")
        if 0.5 not in quantiles:
            raise ValueError(f"model.quantiles must include 0.5: the median is the point "
                             f"forecast that the point metrics score, got {quantiles}")
        if self.loss != "quantile" and quantiles != DEFAULT_QUANTILES:
            raise ValueError(f"model.quantiles {quantiles} are set but model.loss is "
                             f"{self.loss!r}: quantile levels need loss='quantile' (a point "
                             f"loss forecasts no quantiles); set model.loss to 'quantile' or "
                             f"leave model.quantiles at its default {DEFAULT_QUANTILES}")
        # lists (as YAML gives them) become tuples, so a saved config reads back equal;
        # numpy scalars Python ones, so that it saves
        options = check_lstm_options(self.lstm, "model.lstm", self.hidden_size)
        object.__setattr__(self, "lstm", {k: _tuples(v) for k, v in options.items()})

    @property
    def n_outputs(self) -> int:
        """Values per forecast step: the number of quantiles, or 1 for a point loss."""
        return len(self.quantiles) if self.loss == "quantile" else 1

    @property
    def median_index(self) -> int:
        """Where the point forecast is among the outputs: the 0.5 quantile, or 0."""
        return self.quantiles.index(0.5) if self.loss == "quantile" else 0


def quantile_column(level: float) -> str:
    """The name of a quantile level's forecast column: ``q`` and the level to 15 significant
    digits (``q0.1``, ``q0.025``, ``q0.1000001``; ``q0.3`` for 0.30000000000000004, a level
    of ``np.linspace(0.1, 0.9, 9)``)."""
    return f"q{level:.15g}"


_NARROW_FLOATS = {"float32": np.float32, "float16": np.float16}


def _levels(value: Iterable[Any]) -> tuple[float, ...]:
    """``model.quantiles`` as floats: every item a number (a numpy float, a 0-d array or
    tensor, a ``Decimal``: what ``float`` reads); text such as ``"0.1"`` (a quoted YAML
    value) and bools are refused, not read as numbers. A float32 or float16 level is read as
    the shortest decimal that reads back as it: ``np.float32(0.1)`` is 0.1, as the Python
    float 0.1 is, not 0.10000000149011612 (which the saved configuration, the messages and
    the served levels showed, and which ``model.conformal`` refused as unpaired with 0.9)."""
    items = list(value)

    def written() -> str:  # (the levels as given, for a message)
        text = ", ".join(repr(q) if isinstance(q, str | bytes) else shown(q, format)
                         for q in items)
        return f"({text})" if isinstance(value, tuple) else f"[{text}]"

    levels = []
    for at, q in enumerate(items):
        try:
            if isinstance(q, str | bytes | bool | np.bool_) or str(getattr(q, "dtype", "")) in (
                    "bool", "torch.bool"):  # (0-d bool arrays and tensors too)
                raise TypeError
            level = float(q)
            # (NumPy writes a float32 as the shortest decimal that reads back as it)
            narrow = _NARROW_FLOATS.get(str(getattr(q, "dtype", "")).removeprefix("torch."))
            levels.append(level if narrow is None else float(str(narrow(level))))
        except (TypeError, ValueError):
            hint = ""
            with contextlib.suppress(TypeError, ValueError):
                if isinstance(q, str | bytes) and float(q):
                    hint = " (write levels as numbers, unquoted in YAML)"
            raise TypeError(f"model.quantiles must be a list of numbers, got {written()}: item "
                            f"{at} is {shown(plain_value(q), typed=True)}, expected a number "
                            f"in (0, 1){hint}") from None
        except OverflowError:  # an int past float's range (10**400), no level either
            raise ValueError(f"model.quantiles must be levels in (0, 1), got {written()}: item "
                             f"{at} is {shown(q)}") from None
    return tuple(levels)


def _tuples(value: Any) -> Any:
    """``value`` with every list, also inside tuples, turned into a tuple."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _conformal_levels(loss: str, quantiles: tuple[float, ...]) -> None:
    from lstmkit.forecasting.conformal import check_levels

    message = (f"model.conformal corrects quantile intervals around the median: it needs "
               f"model.loss 'quantile' with model.quantiles that include 0.5 and pair up as "
               f"(q, 1 - q), at least one pair, got loss {loss!r} and quantiles {quantiles}")
    if loss != "quantile" or len(quantiles) < 3:
        raise ValueError(message)
    try:
        check_levels(quantiles)
    except ValueError as err:
        raise ValueError(message) from err


@dataclass(frozen=True)
class EvalConfig:
    """How forecasts are scored.

    Attributes:
        baselines: baselines reported beside the model.
        season_length: seasonal period for seasonal naive, ETS, MASE; ``None`` infers it
            from the frequency (hourly 24, daily 7, weekly 52, monthly 12, quarterly 4) or
            uses 1.
        arima_order: (p, d, q) of the ARIMA baseline.
        arima_seasonal_order: (P, D, Q) of a seasonal ARIMA baseline, SARIMA (p, d, q)(P, D,
            Q)s with s the season (``season_length``); ``None`` for a non-seasonal one.
        stride: steps between forecast origins in :meth:`Forecaster.evaluate` (a backtest
            takes its own ``stride``, by default the horizon).
    """

    baselines: tuple[str, ...] = ("naive", "seasonal_naive", "ets", "arima")
    season_length: int | None = None
    arima_order: tuple[int, int, int] = (1, 1, 1)
    arima_seasonal_order: tuple[int, int, int] | None = None
    stride: int = 1

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy scalars (np.int64(24)) as Python ones
        baselines = _str_tuple("evaluation.baselines", self.baselines)
        for b in baselines:
            _choice("evaluation.baselines entry", b, Baseline)
        object.__setattr__(self, "baselines", baselines)
        if self.season_length is not None:
            positive_int("evaluation.season_length", self.season_length)
        for name in ("arima_order", "arima_seasonal_order"):
            value = getattr(self, name)
            if value is None and name == "arima_seasonal_order":
                continue
            order = tuple(value) if isinstance(value, list | tuple) else ()
            if len(order) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                          and v >= 0 for v in order):
                raise ValueError(f"evaluation.{name} must be three ints >= 0"
                                 f"{' (or null)' if name != 'arima_order' else ''}, got "
                                 f"{value!r}")
            object.__setattr__(self, name, order)
        positive_int("evaluation.stride", self.stride)


@dataclass(frozen=True)
class ForecastConfig:
    """Everything a forecasting run needs; ``batch_size`` is the training batch size.

    ``min_epoch_batches``: an epoch trains on at least this many batches. A training part
    of fewer windows is passed over more than once per epoch, each pass in a fresh order,
    so that a short series still gets optimisation steps between validation checks (which
    early stopping's patience and the schedules count in epochs): 144 months with a
    lookback of 36 give 55 windows, one batch, so ten epochs would be ten steps. 0: one pass
    per epoch whatever its length. The default, 100, makes the default ten epochs at least
    1,000 steps (as NeuralForecast's recurrent models train by default), validated every 100
    or more; with every other setting at its default it lowered the validation loss on 4 of
    the 6 real series whose epochs it lengthens (docs/forecasting.md)."""

    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    batch_size: int = 64
    min_epoch_batches: int = 100

    def __post_init__(self) -> None:
        plain_fields(self)  # a numpy batch_size (np.int64(64)) as a Python int
        for name, kind in (("data", DataConfig), ("model", ModelConfig),
                           ("training", TrainConfig), ("evaluation", EvalConfig)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got "
                                f"{type(getattr(self, name)).__name__}")
        positive_int("batch_size", self.batch_size)
        positive_int("min_epoch_batches", self.min_epoch_batches, minimum=0)
        # predict's table holds the series and time columns beside its own: one of the same
        # name was overwritten by it (every row of forecast.csv said 'units' for the id)
        own = ["target", "forecast", *(quantile_column(q) for q in self.model.quantiles
                                       if self.model.loss == "quantile")]
        if self.data.time_col is None:
            own.append("time")
        for key in ("series_col", "time_col"):
            name = getattr(self.data, key)
            if name in own:
                raise ValueError(
                    f"data.{key}={name!r} is also the name of a column that predict writes "
                    f"beside it ({', '.join(own)}): rename the column in the data")
        if self.model.future_context and not self.data.future_covariates:
            raise ValueError(f"model.future_context={self.model.future_context} widens the "
                             "known-future covariates around each forecast step, but "
                             "data.future_covariates is empty: set them, or future_context "
                             "to 0")
        if self.model.past_covariate_normalization != "none" and not self.data.past_covariates:
            raise ValueError(f"model.past_covariate_normalization="
                             f"{self.model.past_covariate_normalization!r} normalises the "
                             "past-only covariates per window, but data.past_covariates is "
                             "empty: set them, or the normalization to 'none'")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ForecastConfig:
        """Build from nested plain values (a parsed YAML file)."""
        if not isinstance(values, dict):
            raise TypeError(f"config must be a mapping, got {type(values).__name__}")
        top = {"data", "model", "training", "evaluation", "batch_size", "min_epoch_batches"}
        _no_unknown("config", values, top)
        sections: dict[str, Any] = {}
        for name, kind in (("data", DataConfig), ("model", ModelConfig),
                           ("evaluation", EvalConfig)):
            section = values.get(name) or {}
            if not isinstance(section, dict):
                raise TypeError(f"config section {name!r} must be a mapping, got "
                                f"{type(section).__name__}")
            _no_unknown(name, section, {f.name for f in dataclasses.fields(kind)})
            sections[name] = kind(**section)
        training = values.get("training") or {}
        sections["training"] = TrainConfig.from_dict(training)
        return cls(**{key: values[key] for key in ("batch_size", "min_epoch_batches")
                      if key in values}, **sections)

    def to_dict(self, *, written: bool = False) -> dict[str, Any]:
        """Nested plain values (lists for tuples), the inverse of :meth:`from_dict`;
        ``written=True`` for a file (see :meth:`TrainConfig.to_dict`)."""
        def plain(obj: Any) -> Any:
            if isinstance(obj, tuple | list):
                return [plain(v) for v in obj]
            if isinstance(obj, dict):
                return {k: plain(v) for k, v in obj.items()}
            if isinstance(obj, Path):
                return str(obj)
            return obj
        return {
            "data": plain(dataclasses.asdict(self.data)),
            "model": plain(dataclasses.asdict(self.model)),
            "training": plain(self.training.to_dict(written=written)),
            "evaluation": plain(dataclasses.asdict(self.evaluation)),
            "batch_size": self.batch_size,
            "min_epoch_batches": self.min_epoch_batches,
        }

    def with_overrides(self, overrides: Mapping[str, Any]) -> ForecastConfig:
        """A copy with dotted keys replaced: ``{"model.horizon": 48, "training.lr": 1e-3}``.

        A key names one setting (``model.lstm``, the free-form mapping of LSTM options, may be
        replaced whole); a whole section (``"data"``) is refused, so that replacing one does not
        quietly reset its other settings."""
        if not isinstance(overrides, Mapping):
            raise TypeError(f"overrides must be a mapping of dotted keys to values such as "
                            f"{{'model.horizon': 48}}, got {type(overrides).__name__}")
        values = self.to_dict()
        for dotted, value in overrides.items():
            if not isinstance(dotted, str):
                raise TypeError(f"overrides' keys must be dotted names such as 'model.horizon', "
                                f"got {type(dotted).__name__} {dotted!r}")
            parts = dotted.split(".")
            if len(parts) == 1 and isinstance(values.get(dotted), dict):
                raise ValueError(f"{dotted!r} is a config section: set its keys one by one "
                                 f"('{dotted}.KEY'); valid keys: {sorted(values[dotted])}")
            target = values
            for at, part in enumerate(parts[:-1]):
                if part not in target and not at:
                    sections = sorted(k for k, v in target.items() if isinstance(v, dict))
                    tops = sorted(k for k, v in target.items() if not isinstance(v, dict))
                    raise ValueError(f"unknown config section {part!r} in {dotted!r}; valid "
                                     f"sections: {sections}, and settings outside them: "
                                     f"{tops}")
                if part not in target and parts[at - 1] != "lstm":
                    raise ValueError(f"unknown config key {'.'.join(parts[:at + 1])!r} in "
                                     f"{dotted!r}; valid keys: {sorted(target)}")
                if not isinstance(target.get(part), dict):  # (an LSTM option's too)
                    raise ValueError(f"{'.'.join(parts[:at + 1])!r} is a setting, not a "
                                     f"section, in {dotted!r}")
                target = target[part]
            # free-form option mappings (model.lstm) are validated by their section
            if parts[-1] not in target and parts[-2:-1] != ["lstm"]:
                raise ValueError(f"unknown config key {dotted!r}; valid keys: "
                                 f"{sorted(target)}")
            target[parts[-1]] = value
        return ForecastConfig.from_dict(values)


def saved_config(values: Any, where: str) -> Any:
    """The configuration ``values`` of a saved model (read from ``where``) as the current
    checks accept it, with a warning for what older versions saved and never used:
    ``model.quantiles`` other than the default with a point loss are read as the default
    (such a model forecasts no quantiles); ``data.freq`` and ``data.time_format`` without
    ``data.time_col`` are dropped (without a time column nothing is read as a date). A model
    saved before ``min_epoch_batches`` existed trained one pass per epoch, which a refit
    backtest repeats: it reads as 0, not as today's default."""
    if isinstance(values, dict) and "min_epoch_batches" not in values:
        values = {**values, "min_epoch_batches": 0}
    data = values.get("data") if isinstance(values, dict) else None
    if isinstance(data, dict) and data.get("time_col") is None:
        unused = {k: data[k] for k in ("freq", "time_format") if data.get(k) is not None}
        if unused:
            warnings.warn(f"{where}: {', '.join(f'data.{k}={v!r}' for k, v in unused.items())} "
                          "dropped: the model has no data.time_col, so they were never used (an "
                          "older version saved them; a new configuration with them is an "
                          "error)", UserWarning, stacklevel=3)
            values = {**values, "data": {**data, **dict.fromkeys(unused)}}
    model = values.get("model") if isinstance(values, dict) else None
    if not isinstance(model, dict):
        return values  # from_dict names what is wrong
    loss = model.get("loss", ModelConfig.loss)
    default = list(DEFAULT_QUANTILES)
    if loss in get_args(Loss) and loss != "quantile" \
            and model.get("quantiles", default) != default:
        warnings.warn(f"{where}: model.quantiles {model['quantiles']!r} are read as the "
                      f"default {default}: the model has the point loss {loss!r}, which "
                      "forecasts no quantiles, so they were never used (an older version "
                      "saved them; a new configuration with them is an error)", UserWarning,
                      stacklevel=3)
        values = {**values, "model": {**model, "quantiles": default}}
    return values


def _no_unknown(section: str, values: dict[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config section {section!r}; valid "
                         f"keys: {sorted(valid)}")


def load_config(path: str | Path) -> ForecastConfig:
    """Read a YAML config file (sections ``data``, ``model``, ``training``, ``evaluation``)."""
    from lstmkit import yamlio

    path = path_arg("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    values = yamlio.load(path.read_text(), source=path) or {}
    return ForecastConfig.from_dict(values)
