"""Baselines forecast the same windows as the model: naive, seasonal naive, ETS and ARIMA.

Every function takes one series' values ``y`` (T,) or (T, C), the window origins (W,) (the
first forecast row of each window) and the horizon Hz, and returns (W, Hz[, C]) forecasts that
use only rows before each origin.

ETS and ARIMA are statsmodels state-space models fitted once on the training rows; at every
origin they are *filtered* (not refitted) up to the origin, and forecasts are read off the
filtered state with the model's time-invariant system matrices, so scoring thousands of
origins costs one Kalman filter pass.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any

import numpy as np


def naive(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value: (W, Hz, ...)."""
    last = y[origins - 1]  # (W, ...)
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int,
                   season: int) -> np.ndarray:
    """Repeat the last observed season: ŷ[t + k] = y[t - season + (k mod season)]."""
    if season < 1:
        raise ValueError(f"season must be >= 1, got {season}")
    if len(origins) and int(origins.min()) < season:
        raise ValueError(f"seasonal naive needs {season} rows before every origin, but an "
                         f"origin is at row {int(origins.min())}")
    rows = origins[:, None] - season + (np.arange(horizon) % season)[None]  # (W, Hz)
    return y[rows]


def _matrix(ssm: object, name: str) -> np.ndarray:
    arr = np.asarray(ssm[name])  # type: ignore[index]
    if arr.ndim == 3:
        if arr.shape[-1] != 1:
            raise ValueError(f"state-space matrix {name!r} is time-varying; cannot read "
                             "forecasts off the filtered state")
        arr = arr[..., 0]
    return arr


def statespace_forecasts(model: object, params: np.ndarray, y: np.ndarray,
                         origins: np.ndarray, horizon: int) -> np.ndarray:
    """Forecasts (W, Hz) of a statsmodels state-space ``model`` with fitted ``params`` at
    every origin.

    The model, cloned on the full series, filters it with the fitted parameters (the Kalman
    filter alone: nothing here reads a smoothed state); the predicted state for row t (given
    rows < t) is propagated Hz steps with the system matrices.
    """
    full = model.clone(y).filter(params, cov_type="none")  # type: ignore[attr-defined]
    ssm = full.model.ssm
    Z = _matrix(ssm, "design")  # (1, k)
    d = _matrix(ssm, "obs_intercept").reshape(-1)  # (1,)
    Tm = _matrix(ssm, "transition")  # (k, k)
    c = _matrix(ssm, "state_intercept").reshape(-1, 1)  # (k, 1)
    state = np.asarray(full.predicted_state)[:, origins]  # (k, W)
    out = np.empty((len(origins), horizon))
    for step in range(horizon):
        out[:, step] = (Z @ state)[0] + d[0]
        state = Tm @ state + c
    return out


FITS_KEPT = 256
"""Fitted parameters kept in the process (:func:`_fit_quietly`), newest last."""

_fits: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()


def _fit_quietly(model: object, spec: tuple[Any, ...], y: np.ndarray) -> np.ndarray:
    """The fitted parameters of ``model`` (described by ``spec``) on the rows ``y``: the
    optimiser's alone, without the smoothed states and the parameters' covariance that
    ``fit`` would compute for results nothing reads.

    The last :data:`FITS_KEPT` fits are kept: an evaluate and a backtest of one model fit
    the same rows (a seasonal ETS on 8,000 hourly rows takes a minute), and the optimiser is
    deterministic, so a fit looked up is the fit it would compute, to the last bit."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    key = (*spec, y.dtype.str, y.shape, y.tobytes())
    if key in _fits:
        _fits.move_to_end(key)
        return _fits[key].copy()
    with warnings.catch_warnings():
        # fitted parameters are used as they are; a non-converged optimiser is noted by
        # statsmodels for every series and would flood the report
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        params = np.asarray(model.fit(disp=False, cov_type="none",  # type: ignore[attr-defined]
                                      return_params=True))
    _fits[key] = params.copy()
    while len(_fits) > FITS_KEPT:
        _fits.popitem(last=False)
    return params


def _check_fit_rows(name: str, n_train: int) -> None:
    # on no rows statsmodels fits ARIMA all the same (it forecasts its starting values) and
    # fails inside ETS with an IndexError
    if n_train < 1:
        raise ValueError(f"{name} is fitted on the first n_train rows of the series, and "
                         f"n_train={n_train} gives none")


def ets(y: np.ndarray, n_train: int, origins: np.ndarray, horizon: int,
        season: int) -> np.ndarray:
    """Damped-trend exponential smoothing (seasonal when 1 < ``season`` <= 24 and at least two
    seasons of training data), fitted on the first ``n_train`` rows of ``y`` (T,)."""
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing

    _check_fit_rows("ets", n_train)
    seasonal = ets_season(season, n_train)
    model = ExponentialSmoothing(y[:n_train], trend=True, damped_trend=True,
                                 seasonal=seasonal)
    params = _fit_quietly(model, ("ets", seasonal), y[:n_train])
    return statespace_forecasts(model, params, y, origins, horizon)


def ets_season(season: int, n_train: int) -> int | None:
    """The season :func:`ets` models, or None for the non-seasonal model. A seasonal
    state-space ETS carries one state per season step; beyond 24 its fit costs minutes, so
    longer seasons (and fewer than two seasons of training rows) get the non-seasonal one."""
    return season if 1 < season <= 24 and n_train >= 2 * season else None


def arima(y: np.ndarray, n_train: int, origins: np.ndarray, horizon: int,
          order: tuple[int, int, int],
          seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """ARIMA(p, d, q) fitted on the first ``n_train`` rows of ``y`` (T,); seasonal, SARIMA
    (p, d, q)(P, D, Q)s, with ``seasonal_order`` (P, D, Q, s)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    _check_fit_rows("arima", n_train)
    model = SARIMAX(y[:n_train], order=order, seasonal_order=seasonal_order)
    params = _fit_quietly(model, ("arima", tuple(order), tuple(seasonal_order)), y[:n_train])
    return statespace_forecasts(model, params, y, origins, horizon)
