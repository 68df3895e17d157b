"""Training losses (torch) and evaluation metrics (NumPy) for forecasts.

Evaluation arrays are (W, Hz, C): W windows, Hz horizon steps, C target channels; quantile
forecasts add a last axis Q.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.forecasting.config import ModelConfig


def pinball_loss(output: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    """Mean pinball loss: output (..., Q), target (...)."""
    return _pinball(output, target, quantiles).mean()


def _pinball(output: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    q = torch.as_tensor(quantiles, dtype=output.dtype, device=output.device)
    diff = target[..., None] - output  # (..., Q)
    return torch.maximum(q * diff, (q - 1) * diff)


def make_loss(cfg: ModelConfig) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss named by ``cfg.loss``, on scaled values, averaged over the
    observed targets: a NaN target (a value ``data.fill`` filled) is left out, as the
    metrics leave it out (a batch with nothing observed has loss 0, its graph kept)."""
    quantiles = cfg.quantiles
    elementwise: Callable[[Tensor, Tensor], Tensor] = {
        "mse": lambda output, target: F.mse_loss(output, target, reduction="none"),
        "mae": lambda output, target: F.l1_loss(output, target, reduction="none"),
        "huber": lambda output, target: F.huber_loss(output, target, reduction="none"),
        "quantile": lambda output, target: _pinball(output, target, quantiles),
    }[cfg.loss]

    def loss(output: Tensor, target: Tensor) -> Tensor:
        observed = ~torch.isnan(target)
        values = elementwise(output, torch.where(observed, target, 0.0))
        if values.dim() > target.dim():  # (..., Q): each quantile of an observed target
            observed = observed[..., None].expand_as(values)
        return observed_mean(values, observed)

    return loss


def observed_mean(values: Tensor, observed: Tensor) -> Tensor:
    """The mean of ``values`` where ``observed`` (0, its graph kept, where nothing is);
    ``values.mean()`` itself where all are, so that fully observed data train as before."""
    if bool(observed.all()):
        return values.mean()
    return torch.where(observed, values, 0.0).sum() / observed.sum().clamp(min=1)


# -- evaluation metrics -------------------------------------------------------------------
# A NaN actual marks a value that was not observed (a row inserted or a value filled by
# data.fill): the metrics leave it out, and are NaN when nothing is left.


def _observed(actual: np.ndarray) -> np.ndarray:
    return ~np.isnan(actual)


def _mean(values: np.ndarray, where: np.ndarray) -> float:
    if not where.any():
        return float("nan")
    return float(np.mean(values, where=where))


def mse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return _mean((forecast - actual) ** 2, _observed(actual))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return _mean(np.abs(forecast - actual), _observed(actual))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(mse(actual, forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error (%) over entries with a non-zero actual."""
    nonzero = _observed(actual) & (actual != 0)
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(forecast - actual)[nonzero] / np.abs(actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE (%) in [0, 200]; entries where both are zero count as 0 (a NaN forecast
    makes it NaN)."""
    denom = np.abs(actual) + np.abs(forecast)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denom == 0, 0.0, 2.0 * np.abs(forecast - actual) / denom)
    return 100.0 * _mean(ratio, _observed(actual))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """Mean absolute scaled error: absolute errors divided by ``scale`` (W, C) (or (C,)), the
    in-sample MAE of the seasonal naive forecast on the training part of each series. Entries
    whose scale is NaN (unknown, see :func:`naive_scale`) are left out; NaN when none is
    left."""
    scale = np.asarray(scale, np.float64)
    scale = scale[:, None, :] if scale.ndim == 2 else scale[None, None, :]
    with np.errstate(invalid="ignore"):
        scaled = np.abs(forecast - actual) / scale
    return _mean(scaled, _observed(actual) & ~np.isnan(np.broadcast_to(scale, actual.shape)))


def naive_scale(train: np.ndarray, season: int) -> np.ndarray:
    """The MASE denominator (C,): mean |y_t - y_{t-season}| over training rows (T, C), over
    the pairs where both values were observed (NaN marks one that was not). NaN, unknown,
    for a column without such a pair (a training part not longer than the season: then the
    scale is not taken at another lag) and for one whose seasonal naive forecast is exact
    there (a constant, or exactly periodic, training part: a scale of 0), so that MASE is
    never the unscaled error, nor one scaled at another lag than the report's season."""
    if len(train) <= season:
        return np.full(train.shape[1], np.nan)
    diff = np.abs(train[season:] - train[:-season])
    observed = _observed(diff)
    scale = np.full(train.shape[1], np.nan)
    for c in range(train.shape[1]):
        if observed[:, c].any():
            scale[c] = diff[observed[:, c], c].mean()
    size = np.where(_observed(train), np.abs(train), 0.0).max(0, initial=0.0)
    return np.where(scale > 1e-12 * size, scale, np.nan)


def quantile_loss(actual: np.ndarray, quantile_forecast: np.ndarray,
                  quantiles: Sequence[float]) -> float:
    """Mean pinball loss of (W, Hz, C, Q) quantile forecasts."""
    q = np.asarray(quantiles)
    diff = actual[..., None] - quantile_forecast
    where = np.broadcast_to(_observed(actual)[..., None], diff.shape)
    return _mean(np.maximum(q * diff, (q - 1) * diff), where)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of actuals inside [lower, upper]."""
    return _mean((actual >= lower) & (actual <= upper), _observed(actual))


def point_metrics(actual: np.ndarray, forecast: np.ndarray,
                  scale: np.ndarray | None = None) -> dict[str, float]:
    """MSE, MAE, RMSE, MAPE, sMAPE and (with ``scale``) MASE."""
    out = {"mse": mse(actual, forecast), "mae": mae(actual, forecast),
           "rmse": rmse(actual, forecast), "mape": mape(actual, forecast),
           "smape": smape(actual, forecast)}
    if scale is not None:
        out["mase"] = mase(actual, forecast, scale)
    return out
