"""Forecast pictures: history, actuals, the model's forecast with its interval, a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmkit.forecasting.config import quantile_column
from lstmkit.forecasting.data import series_id

if TYPE_CHECKING:
    from lstmkit.forecasting.evaluation import EvalReport


def plot_window(report: EvalReport, path: Path, window: int = -1,
                max_channels: int = 4, series: Any = None) -> Path:
    """Save a PNG of window ``window`` of ``report`` (one panel per target channel); with
    ``series`` (an id, as the data give it), ``window`` counts that series' windows."""
    # a Figure of its own, not pyplot's: drawing needs no backend, and the caller's (a
    # notebook's inline one) stays as it is
    import matplotlib.dates
    from matplotlib.figure import Figure

    rows = np.arange(len(report.windows))
    if series is not None:
        rows = np.flatnonzero(report.windows["series"].to_numpy() == series_id(series))
        if not len(rows):
            ids = report.windows["series"].drop_duplicates().tolist()
            shown = ", ".join(map(repr, ids[:10])) + (" ..." if len(ids) > 10 else "")
            raise ValueError(f"series (--plot-series) must be a scored series, one of "
                             f"{shown}; got {series!r}")
    n_windows = len(rows)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or not (
            -n_windows <= window < n_windows):
        raise ValueError(f"window must be an int in [{-n_windows}, {n_windows})"
                         f"{'' if series is None else f' (the windows of series {series!r})'}"
                         f", got {window!r}")
    window = int(rows[window])
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ValueError(f"max_channels must be an int >= 1, got {max_channels!r}")
    row = report.windows.iloc[window]
    series = next(s for s in report.series if s.id == row["series"])
    origin = int(row["origin"])
    horizon = report.actual.shape[1]
    history_rows = np.arange(max(0, origin - report.lookback), origin)
    future_rows = np.arange(origin, origin + horizon)
    time = np.asarray(series.time)
    history = series.observed_target()  # values filled by data.fill are gaps, as the actuals
    channels = min(report.actual.shape[2], max_channels)
    fig = Figure(figsize=(10, 2.6 * channels))
    axes = fig.subplots(channels, 1, squeeze=False)
    from lstmkit.forecasting.evaluation import MODEL_NAME

    for c in range(channels):
        ax = axes[c, 0]
        ax.plot(time[history_rows], history[history_rows, c], color="0.4", lw=1,
                label="history")
        ax.plot(time[future_rows], report.actual[window, :, c], color="black", lw=1.2,
                label="actual")
        ax.plot(time[future_rows], report.forecasts[MODEL_NAME][window, :, c], color="C0",
                lw=1.5, label="lstmkit forecast")
        if report.quantiles is not None:
            lo, hi = report.quantile_levels[0], report.quantile_levels[-1]
            ax.fill_between(time[future_rows], report.quantiles[window, :, c, 0],
                            report.quantiles[window, :, c, -1], color="C0", alpha=0.25,
                            label=f"interval {quantile_column(lo)}-{quantile_column(hi)}")
        for name, color in (("seasonal_naive", "C2"), ("naive", "C1")):
            if name in report.forecasts:
                ax.plot(time[future_rows], report.forecasts[name][window, :, c], color=color,
                        lw=1, ls="--", label=name.replace("_", " "))
                break
        # (data without data.series_col is one series, whose id "0" is none of the user's)
        which = "" if report.series_col is None else f" (series {row['series']})"
        # (the targets past max_channels are not drawn: the first panel says so)
        shown = (f" (the first {channels} of {report.actual.shape[2]} targets drawn)"
                 if c == 0 and channels < report.actual.shape[2] else "")
        ax.set_title(f"{report.target_names[c]}{which}{shown}", fontsize=10)
        ax.legend(fontsize=8, loc="best")  # (upper left covered the history's start)
        if np.issubdtype(time.dtype, np.datetime64):  # dates that do not run into each other
            locator = matplotlib.dates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
