"""Data checks: bad input is a clear error; nothing is dropped silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecasting import DataConfig
from lstmkit.forecasting.data import split_sizes, to_series
from lstmkit.forecasting.windows import window_origins


def test_missing_column_lists_available(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"column\(s\) \['price'\] not found in the data; "
                                         r"available columns: \['date', 'a'"):
        to_series(frame, DataConfig(target="price", time_col="date"))


def test_non_numeric_target(frame: pd.DataFrame) -> None:
    frame = frame.assign(a=frame["a"].astype(str))
    frame.loc[3, "a"] = "n/a"
    with pytest.raises(TypeError, match=r"column 'a' must be numeric, got dtype \w+ "
                                        r"\(e.g. value 'n/a'\)"):
        to_series(frame, DataConfig(target="a", time_col="date"))


def test_nan_target_needs_fill(frame: pd.DataFrame) -> None:
    frame.loc[[5, 6], "a"] = np.nan
    with pytest.raises(ValueError, match=r"2 missing value\(s\) in column 'a' of series '0', "
                                         r"first at 2021-01-01 05:00:00; set data.fill"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    with pytest.warns(UserWarning, match=r"series '0': filled missing values \{'a': 2\} with "
                                         r"data.fill='interpolate'"):
        series, _ = to_series(frame, DataConfig(target="a", time_col="date",
                                                fill="interpolate"))
    a = frame["a"].to_numpy()
    np.testing.assert_allclose(series[0].target[5, 0], a[4] + (a[7] - a[4]) / 3)


def test_irregular_timestamps(frame: pd.DataFrame) -> None:
    gappy = frame.drop(index=[10, 11, 50]).reset_index(drop=True)
    cfg = DataConfig(target="a", time_col="date", freq="h")
    with pytest.raises(ValueError, match=r"series '0' is irregular: 3 timestamp\(s\) missing "
                                         r"at frequency 'h', first 2021-01-01 10:00:00"):
        to_series(gappy, cfg)
    series, freq = to_series(gappy, DataConfig(target="a", time_col="date", freq="h",
                                               fill="ffill"))
    assert len(series[0]) == len(frame) and freq == "h"
    assert series[0].target[10, 0] == gappy["a"].iloc[9]
    # the frequency is inferred from the most common step when not given
    series, freq = to_series(gappy, DataConfig(target="a", time_col="date", fill="zero"))
    assert freq == "h" and series[0].target[50, 0] == 0.0


def test_duplicates_and_bad_dates(frame: pd.DataFrame) -> None:
    dup = pd.concat([frame, frame.iloc[[3]]])
    with pytest.raises(ValueError, match=r"1 duplicate timestamp\(s\)"):
        to_series(dup, DataConfig(target="a", time_col="date"))
    bad = frame.assign(date="not a date")
    with pytest.raises(ValueError, match=r"time column 'date' of series '0' could not be "
                                         r"parsed"):
        to_series(bad, DataConfig(target="a", time_col="date"))


def test_long_format_and_static(frame: pd.DataFrame) -> None:
    long = pd.concat([frame.assign(store="x", size=1.0), frame.iloc[:100].assign(store="y",
                                                                                size=2.0)],
                     ignore_index=True)
    cfg = DataConfig(target="a", time_col="date", series_col="store",
                     static_covariates=["size"], past_covariates=["temp"])
    series, _ = to_series(long, cfg)
    assert [s.id for s in series] == ["x", "y"]
    assert [len(s) for s in series] == [240, 100]
    assert series[1].static.tolist() == [2.0]
    long.loc[long.index[-1], "size"] = 3.0
    with pytest.raises(ValueError, match="static covariate 'size' changes within series 'y'"):
        to_series(long, cfg)


def test_splits_by_fraction_rows_and_date(frame: pd.DataFrame) -> None:
    series, _ = to_series(frame, DataConfig(target="a", time_col="date"))
    assert split_sizes(series[0], DataConfig(target="a", val=0.1, test=0.2)) == (168, 24, 48)
    assert split_sizes(series[0], DataConfig(target="a", val=20, test=40)) == (180, 20, 40)
    cfg = DataConfig(target="a", val="2021-01-10", test="2021-01-10 12:00")
    assert split_sizes(series[0], cfg) == (216, 12, 12)
    with pytest.raises(ValueError, match="no rows left for training"):
        split_sizes(series[0], DataConfig(target="a", val=0.5, test=0.5))


def test_window_origins() -> None:
    # horizon inside [start, end), lookback before the origin, anchored on the last origin
    assert window_origins(100, 10, 5, 0, 60).tolist() == list(range(10, 56))
    assert window_origins(100, 10, 5, 60, 80, stride=5).tolist() == [60, 65, 70, 75]
    assert window_origins(100, 10, 5, 60, 63).tolist() == []
    assert window_origins(100, 10, 5, 0, 100, stride=40).tolist() == [15, 55, 95]
