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
    q = torch.as_tensor(quantiles, dtype=output.dtype, device=output.device)
    diff = target[..., None] - output  # (..., Q)
    return torch.maximum(q * diff, (q - 1) * diff).mean()


def make_loss(cfg: ModelConfig) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss named by ``cfg.loss``, on scaled values."""
    if cfg.loss == "mse":
        return F.mse_loss
    if cfg.loss == "mae":
        return F.l1_loss
    if cfg.loss == "huber":
        return F.huber_loss
    quantiles = cfg.quantiles

    def quantile_loss(output: Tensor, target: Tensor) -> Tensor:
        return pinball_loss(output, target, quantiles)

    return quantile_loss


# -- evaluation metrics -------------------------------------------------------------------
def mse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean((forecast - actual) ** 2))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(mse(actual, forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error (%) over entries with a non-zero actual."""
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(forecast - actual)[nonzero] / np.abs(actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE (%) in [0, 200]; entries where both are zero count as 0 (a NaN forecast
    makes it NaN)."""
    denom = np.abs(actual) + np.abs(forecast)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denom == 0, 0.0, 2.0 * np.abs(forecast - actual) / denom)
    return float(100.0 * np.mean(ratio))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """Mean absolute scaled error: absolute errors divided by ``scale`` (W, C) (or (C,)), the
    in-sample MAE of the seasonal naive forecast on the training part of each series."""
    scale = np.asarray(scale, np.float64)
    scale = scale[:, None, :] if scale.ndim == 2 else scale[None, None, :]
    return float(np.mean(np.abs(forecast - actual) / scale))


def naive_scale(train: np.ndarray, season: int) -> np.ndarray:
    """The MASE denominator (C,): mean |y_t - y_{t-season}| over training rows (T, C)."""
    season = season if len(train) > season else 1
    diff = np.abs(train[season:] - train[:-season])
    scale = diff.mean(0) if len(diff) else np.ones(train.shape[1])
    # a constant training part has no scale: 1 leaves the errors as they are
    return np.where(scale > 1e-12 * np.abs(train).max(0, initial=0.0), scale, 1.0)


def quantile_loss(actual: np.ndarray, quantile_forecast: np.ndarray,
                  quantiles: Sequence[float]) -> float:
    """Mean pinball loss of (W, Hz, C, Q) quantile forecasts."""
    q = np.asarray(quantiles)
    diff = actual[..., None] - quantile_forecast
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of actuals inside [lower, upper]."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def point_metrics(actual: np.ndarray, forecast: np.ndarray,
                  scale: np.ndarray | None = None) -> dict[str, float]:
    """MSE, MAE, RMSE, MAPE, sMAPE and (with ``scale``) MASE."""
    out = {"mse": mse(actual, forecast), "mae": mae(actual, forecast),
           "rmse": rmse(actual, forecast), "mape": mape(actual, forecast),
           "smape": smape(actual, forecast)}
    if scale is not None:
        out["mase"] = mase(actual, forecast, scale)
    return out
