"""Data checks: bad input is a clear error; nothing is dropped silently."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecasting import DataConfig
from lstmkit.forecasting.data import (
    collect,
    format_times,
    infer_freq,
    parse_times,
    season_from_freq,
    split_sizes,
    to_series,
)
from lstmkit.forecasting.windows import window_origins


def test_missing_column_lists_available(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"column\(s\) \['price'\] not found in the data; "
                                         r"available columns: \['date', 'a'"):
        to_series(frame, DataConfig(target="price", time_col="date"))
    # the times as the index, as pandas users keep them
    indexed = frame.set_index("date")
    with pytest.raises(ValueError, match=r"\['date'\] is the DataFrame's index: make them "
                                         r"columns with frame.reset_index\(\)"):
        to_series(indexed, DataConfig(target="a", time_col="date"))
    indexed.index.name = None
    with pytest.raises(ValueError, match=r"the times are the DataFrame's index: make them a "
                                         r"column with frame.reset_index\(\)"):
        to_series(indexed, DataConfig(target="a", time_col="date"))
    # a CSV without a header row: its first row became the names
    from lstmkit.forecasting.data import read_frame

    path = tmp_path / "no_header.csv"
    path.write_text("".join(f"2021-01-{d:02d},{d}.5,-3\n" for d in range(1, 11)))
    with pytest.raises(ValueError, match=r"available columns: \['2021-01-01', '1.5', '-3'\]; "
                                         r"the first row looks like data, not a header: the "
                                         r"CSV needs a first line naming its columns "
                                         r"\(date,a, say\)$"):
        to_series(read_frame(path), DataConfig(target="a", time_col="date"))
    # a CSV separated by semicolons (many European locales' default): one column
    path = tmp_path / "semicolons.csv"
    path.write_text("date;units\n" + "".join(f"2021-01-{d:02d};{d}\n" for d in range(1, 11)))
    with pytest.raises(ValueError, match=r"available columns: \['date;units'\]; the file's "
                                         r"columns seem separated by ';', and lstmkit reads CSV "
                                         r"separated by commas: write it with commas .* or "
                                         r"pass a DataFrame$"):
        to_series(read_frame(path), DataConfig(target="units", time_col="date"))
    with pytest.raises(ValueError, match=r"available columns: \['date', 'a', 'b'\]$"):
        to_series(frame[["date", "a", "b"]], DataConfig(target="price", time_col="date"))
    # a DataFrame made in Python names its columns itself, numbers or not
    numbered = pd.DataFrame(np.ones((10, 2)), columns=["2020", "2021"])
    with pytest.raises(ValueError, match=r"available columns: \['2020', '2021'\]$"):
        to_series(numbered, DataConfig(target="a"))


def test_non_numeric_target(frame: pd.DataFrame) -> None:
    frame = frame.assign(a=frame["a"].astype(str))
    frame.loc[3, "a"] = "n/a"
    with pytest.raises(TypeError, match=r"column 'a' of the data must be numeric, got dtype "
                                        r"\w+: value 'n/a' at row position 3$"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    # a long text by its start and length (a cell of 5,000 digits, which pandas reads as
    # text, filled the message)
    frame.loc[3, "a"] = "9" * 5000
    with pytest.raises(TypeError, match=r"got dtype \w+: value '9{40}'\.\.\. \(5,000 "
                                        r"characters\) at row position 3"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    # a category (wind directions) is said to be one, with how to use it
    winds = frame.assign(wind=np.where(np.arange(len(frame)) % 3, "NW", "SE"))
    with pytest.raises(TypeError, match=r"column 'wind' of the data must be numeric, got dtype "
                                        r"\w+: value 'SE' at row position 0 \(2 distinct "
                                        r"texts: a category\? .*pandas.get_dummies"):
        to_series(winds, DataConfig(target="b", time_col="date", past_covariates=("wind",)))


def test_numbers_written_as_spreadsheets_write_them_say_how_to_read_them(
        frame: pd.DataFrame) -> None:
    # a decimal comma, a thousands separator or a percent sign was "a category?" (few
    # distinct texts) or had no hint at all
    cfg = DataConfig(target="a", time_col="date")
    comma = r"\(a number written with separators: read the CSV with pandas.read_csv\(path, " \
        r"thousands=','\) for 1,234.5, or decimal=',' and thousands='.' for 1.234,5 and " \
        r"20,7\)$"
    percent = r"\(a percentage written as text: strip the '%' and convert the column"
    for texts, hint in ((["20,7", "18,5"], comma), (["1,120", "-12,345.5"], comma),
                        (["1.234,5", "2.345"], comma), (["20.7%", "5 %"], percent),
                        (["20,7%", "5,5%"], percent + r".*\.str\.replace\(',', '\.'\)"),
                        (["3,4,5", "6,7,8"], r"\(2 distinct texts: a category\?")):
        written = frame.assign(a=np.where(np.arange(len(frame)) % 2 == 0, *texts))
        with pytest.raises(TypeError, match=rf"column 'a' of the data must be numeric, got "
                                            rf"dtype \w+: value '{texts[0]}' at row position "
                                            rf"0 {hint}"):
            to_series(written, cfg)
    # names with spaces around them (a header 'date , a ')
    spaced = frame.rename(columns={"date": "date ", "a": " a "})
    with pytest.raises(ValueError, match=r"column\(s\) \['date', 'a'\] not found .*; the "
                                         r"table's names have spaces around them: strip them"):
        to_series(spaced, cfg)
    numbered = frame.set_axis(["date", 0, 1, 2, 3], axis=1)  # (no name has spaces)
    with pytest.raises(ValueError, match=r"available columns: \['date', '0', '1', '2', '3'\]$"):
        to_series(numbered, DataConfig(target="0", time_col="date"))


def test_a_non_number_among_numbers_is_the_value_named(frame: pd.DataFrame) -> None:
    # as a server's JSON rows give them: every other value a number; the error named row 0
    cfg = DataConfig(target="a", time_col="date")
    last = len(frame) - 1
    for value, shown in (("371.5", r"'371\.5' at row position \d+ \(a number written as "
                                   r"text: convert the column with pandas\.to_numeric\)$"),
                         (True, r"True at row position \d+$")):
        mixed = frame.astype({"a": object})
        mixed.loc[last, "a"] = value
        with pytest.raises(TypeError, match=rf"column 'a' of the data must be numeric, got "
                                            rf"dtype object: value {shown}") as raised:
            to_series(mixed, cfg)
        assert f"row position {last}" in str(raised.value)


def test_a_column_of_nulls_is_missing_values(frame: pd.DataFrame) -> None:
    # JSON's nulls make an object column of None: it was "must be numeric ... value None"
    nulls = frame.assign(hot=[None] * len(frame))
    cfg = DataConfig(target="a", time_col="date", past_covariates=["hot"])
    with pytest.raises(ValueError, match=rf"{len(frame)} missing value\(s\) in column 'hot'"):
        to_series(nulls, cfg)
    with pytest.raises(ValueError, match=r"missing value\(s\) in column 'a'"):
        to_series(frame.assign(a=[None] * len(frame)), DataConfig(target="a", time_col="date"))
    # numbers and nulls in an object column are read as a CSV's column of those cells is
    mixed = frame.astype({"a": object})
    mixed.loc[3, "a"] = pd.NA  # missing as None and NaN are
    mixed.loc[4, "a"] = 7  # an int among floats
    with pytest.warns(UserWarning, match=r"filled missing values \{'a': 1\}"):
        series, _ = to_series(mixed, DataConfig(target="a", time_col="date", fill="ffill"))
    assert series[0].target[3, 0] == frame["a"][2] and series[0].target[4, 0] == 7.0


def test_a_column_with_no_value_is_not_sent_to_data_fill(frame: pd.DataFrame) -> None:
    # it said "set data.fill", and with data.fill=ffill: "has no observed value under any fill"
    frame = frame.assign(size=np.nan)
    frame.loc[3, "b"] = np.nan  # a gap elsewhere, named after the column with no value
    cfg = DataConfig(target="a", time_col="date", past_covariates=["b"],
                     static_covariates=["size"])
    with pytest.raises(ValueError, match=rf"{len(frame)} missing value\(s\) in column 'size' "
                                         r".* that is every row, and 'ffill' and 'interpolate' "
                                         r"fill only between or beside observed values: give "
                                         r"it values .* \(data.fill='zero' would take 0"):
        to_series(frame, cfg)


def test_nan_target_needs_fill(frame: pd.DataFrame) -> None:
    frame.loc[[5, 6], "a"] = np.nan
    with pytest.raises(ValueError, match=r"2 missing value\(s\) in column 'a' of the series, "
                                         r"first at 2021-01-01 05:00:00; set data.fill"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    with pytest.warns(UserWarning, match=r"the series: filled missing values \{'a': 2\} with "
                                         r"data.fill='interpolate'; interpolate reads the value "
                                         r"after each gap, so a forecast whose history ends in "
                                         r"a gap sees a later value"):
        series, _ = to_series(frame, DataConfig(target="a", time_col="date",
                                                fill="interpolate"))
    a = frame["a"].to_numpy()
    np.testing.assert_allclose(series[0].target[5, 0], a[4] + (a[7] - a[4]) / 3)


def test_irregular_timestamps(frame: pd.DataFrame) -> None:
    gappy = frame.drop(index=[10, 11, 50]).reset_index(drop=True)
    cfg = DataConfig(target="a", time_col="date", freq="h")
    with pytest.raises(ValueError, match=r"the series is irregular: 3 timestamp\(s\) missing "
                                         r"at frequency 'h', first 2021-01-01 10:00:00"):
        to_series(gappy, cfg)
    with pytest.warns(UserWarning, match=r"\{'a': 3\}"):
        series, freq = to_series(gappy, DataConfig(target="a", time_col="date", freq="h",
                                                   fill="ffill"))
    assert len(series[0]) == len(frame) and freq == "h"
    assert series[0].target[10, 0] == gappy["a"].iloc[9]
    # the frequency is inferred from the most common step when not given
    with pytest.warns(UserWarning, match=r"\{'a': 3\}"):
        series, freq = to_series(gappy, DataConfig(target="a", time_col="date", fill="zero"))
    assert freq == "h" and series[0].target[50, 0] == 0.0


def test_day_first_dates_read_month_first_get_a_hint_to_set_the_time_format() -> None:
    # monthly dates written 01/02/1949 (1 February) read as 2 January: days on a daily grid
    # with most of it missing; the message proposed only data.fill, which makes most of the
    # series up
    months = pd.date_range("1949-01-01", periods=36, freq="MS")
    frame = pd.DataFrame({"Month": months.strftime("%d/%m/%Y"), "y": np.arange(36.0)})
    with pytest.raises(ValueError, match=r"more are missing than the 36 present, so the dates "
                                         r"may have been misread .* set data.time_format"):
        to_series(frame, DataConfig(target="y", time_col="Month"))
    with pytest.warns(UserWarning, match=r"most of its \d+ rows: if its dates were misread"):
        to_series(frame, DataConfig(target="y", time_col="Month", fill="ffill"))
    series, freq = to_series(frame, DataConfig(target="y", time_col="Month",
                                               time_format="%d/%m/%Y"))
    assert freq == "MS" and len(series[0]) == 36


def test_dates_pandas_reads_one_by_one_both_ways_are_refused() -> None:
    # pandas infers no format from '01/02/81' and reads each date on its own, month first
    # unless that is no date: a year of day-first dates was shuffled, with no gap to show it
    days = pd.date_range("1981-01-01", periods=730, freq="D")
    hours = pd.date_range("2020-01-01", periods=200, freq="h")
    cfg = DataConfig(target="y", time_col="Date")
    for written in ("%d/%m/%y", "%d.%m.%y", "%d/%m/%y %H:%M"):
        for times in (days, days[::-1]):  # (newest first too)
            frame = pd.DataFrame({"Date": times.strftime(written), "y": np.arange(730.0)})
            with pytest.raises(ValueError, match=r"time column 'Date' of the series could not "
                                                 r"be parsed as dates \(data.time_format=None"
                                                 r"\): pandas could not infer their format and "
                                                 r"read each on its own, month first where it "
                                                 r"could \('\d\d.\d\d.8\d[^']*' as .*\) and "
                                                 r"day first where not \('(1[3-9]|2\d|3[01])."
                                                 r"\d\d.8\d[^']*' as .*\), two readings in one "
                                                 r"column; set data.time_format"):
                to_series(frame, cfg)
            series, freq = to_series(frame, DataConfig(target="y", time_col="Date",
                                                       time_format=written))
            assert freq == "D" and series[0].time.equals(days)
    # at local midnight in a zone that changes its clocks, read in UTC: the day before
    paris = pd.date_range("2021-01-01", periods=365, freq="D", tz="Europe/Paris")
    frame = pd.DataFrame({"Date": paris.strftime("%d/%m/%y %H:%M %z"), "y": np.arange(365.0)})
    with pytest.raises(ValueError, match=r"two readings in one column"):
        to_series(frame, cfg)
    # one reading throughout is taken, as before, with pandas' notice: month first (US
    # dates, with AM/PM too, or the time first: its hour and minute are no date), year
    # first, month names
    for times, written in ((days, "%m/%d/%y"), (days[::-1], "%m/%d/%y"), (days, "%y-%m-%d"),
                           (days, "%d %b %y"), (hours, "%m/%d/%Y %I:%M %p"),
                           (hours, "%Y%m%d %I:%M %p"), (days[:12], "%d/%m/%y"),
                           (pd.date_range("1981-01-02", periods=1440, freq="min"),
                            "%H:%M %m/%d/%y")):
        frame = pd.DataFrame({"Date": times.strftime(written), "y": np.arange(len(times) * 1.0)})
        with pytest.warns(UserWarning, match="Could not infer format"):
            series, _ = to_series(frame, cfg)
        # (the first twelve days of a day-first year read as the firsts of months: one
        # reading, which the dates cannot tell from the other)
        expected = times if written != "%d/%m/%y" else pd.date_range("1981-01-01", periods=12,
                                                                     freq="MS")
        assert series[0].time.equals(expected.sort_values()), written
    frame = pd.DataFrame({"Date": ["5 Jan 81", "Jan 6 1981", "1981-01-07"], "y": [1.0, 2, 3]})
    with pytest.warns(UserWarning, match="Could not infer format"):
        series, _ = to_series(frame, cfg)
    assert series[0].time.equals(days[4:7])


def test_duplicates_and_bad_dates(frame: pd.DataFrame) -> None:
    dup = pd.concat([frame, frame.iloc[[3]]])
    with pytest.raises(ValueError, match=r"1 duplicate timestamp\(s\)"):
        to_series(dup, DataConfig(target="a", time_col="date"))
    bad = frame.assign(date="not a date")
    with pytest.raises(ValueError, match=r"time column 'date' of the series could not be "
                                         r"parsed"):
        to_series(bad, DataConfig(target="a", time_col="date"))
    # one odd value among months: its row, and no advice about pandas' arguments
    months = pd.DataFrame({"m": [f"1957-{k:02d}" for k in range(1, 13)], "y": np.arange(12.0)})
    months.loc[7, "m"] = "Aug 1957"
    with pytest.raises(ValueError, match=r"could not be parsed as dates \(data.time_format=None"
                                         r"\): .*, first at row position 7: 'Aug 1957'; set "
                                         r"data.time_format") as caught:
        to_series(months, DataConfig(target="y", time_col="m"))
    assert "You might want to try" not in str(caught.value)
    # a long cell by its start and length, in pandas' words too (10,236 characters were said)
    months.loc[7, "m"] = "9" * 5000
    with pytest.raises(ValueError, match=r"time data \"9{40}\"\.\.\. \(5,000 characters\) .*, "
                                         r"first at row position 7: '9{40}'\.\.\. \(5,000 "
                                         r"characters\); set") as caught:
        to_series(months, DataConfig(target="y", time_col="m"))
    assert len(str(caught.value)) < 500
    # with a format, the row that does not read as it (not 13/01/2020, which pandas' own
    # guess, month first, rejects)
    days = pd.DataFrame({"d": pd.date_range("2020-01-01", periods=40).strftime("%d/%m/%Y"),
                         "y": np.arange(40.0)})
    days.loc[30, "d"] = "2020-01-31"
    with pytest.raises(ValueError, match=r"first at row position 30: '2020-01-31'; set"):
        to_series(days, DataConfig(target="y", time_col="d", time_format="%d/%m/%Y"))


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
    with pytest.raises(ValueError, match=r"static covariate 'size' changes within series 'y': "
                                         r"2 at 2021-01-01 00:00:00, 3 at 2021-01-05 03:00:00; "):
        to_series(long, cfg)
    # a long table read as one series: its timestamps repeat
    with pytest.raises(ValueError, match=r"the series has 100 duplicate timestamp\(s\) in "
                                         r"'date', first 2021-01-01 00:00:00; if the table "
                                         r"holds several series .* data.series_col"):
        to_series(long, DataConfig(target="a", time_col="date"))
    # a list written as one text
    with pytest.raises(ValueError, match=r"column\(s\) \['temp,size'\] not found in the data; "
                                         r".* a list of columns is written \[a, b\]"):
        to_series(long, DataConfig(target="a", time_col="date", series_col="store",
                                   past_covariates="temp,size"))
    with pytest.raises(ValueError, match=r"^the data is empty: no rows"):
        to_series(long.iloc[:0], cfg)
    with pytest.raises(ValueError, match=r"^the data has more than one column named "
                                         r"\['size'\]: rename or drop the copies"):
        to_series(pd.concat([long, long[["size"]]], axis=1), cfg)


def test_filling_a_known_future_covariate_says_to_compute_calendar_columns_after(
        frame: pd.DataFrame) -> None:
    gaps = frame.drop(index=[40, 41])  # the rows put in take the hour of the row before
    cfg = DataConfig(target="a", time_col="date", future_covariates=["hour"], fill="ffill")
    with pytest.warns(UserWarning, match=r"filled missing values \{'a': 2, 'hour': 2\} .*; "
                                         r"known-future covariates \['hour'\] are filled too: "
                                         r"a calendar column"):
        to_series(gaps, cfg)


@pytest.mark.parametrize("fill", ["ffill", "interpolate", "zero"])
def test_a_static_covariate_takes_its_series_value_in_filled_rows(frame: pd.DataFrame,
                                                                   fill: str) -> None:
    # two timestamps of y missing: the rows put in for them hold y's size, whatever the fill
    # (with zero they held 0, and the series was refused as having a changing static)
    long = pd.concat([frame.assign(store="x", size=1.0),
                      frame.iloc[:100].drop(index=[40, 41]).assign(store="y", size=2.0)],
                     ignore_index=True)
    cfg = DataConfig(target="a", time_col="date", series_col="store",
                     static_covariates=["size"], fill=fill)
    with pytest.warns(UserWarning, match=r"series 'y': filled missing values \{'a': 2, "
                                         r"'size': 2\} .*; static covariates take their "
                                         r"series' value"):
        series, _ = to_series(long, cfg)
    assert [len(s) for s in series] == [240, 100]
    assert [s.static.tolist() for s in series] == [[1.0], [2.0]]
    expected = {"ffill": frame["a"][39], "zero": 0.0,
                "interpolate": (frame["a"][39] + 2 * frame["a"][42]) / 3}[fill]
    assert series[1].target[41, 0] == pytest.approx(expected)


def test_boolean_covariates_are_read_as_0_and_1(frame: pd.DataFrame) -> None:
    # what pandas.get_dummies returns, and a flag such as weekend = dow >= 5
    flagged = frame.assign(weekend=frame["date"].dt.dayofweek >= 5,
                           hot=frame["temp"] > 1).assign(sunny=lambda f: f["hot"])
    cfg = DataConfig(target="a", time_col="date", past_covariates=["hot"],
                     future_covariates=["weekend"])
    series, _ = to_series(flagged, cfg)
    np.testing.assert_array_equal(series[0].past[:, 0], flagged["hot"].to_numpy(float))
    np.testing.assert_array_equal(series[0].future[:, 0], flagged["weekend"].to_numpy(float))
    # missing days filled (the flag columns were text then, which no fill could fill), and a
    # CSV's flag column with a blank cell (pandas reads it as text)
    gappy = flagged.drop(index=[5, 6]).astype({"hot": "boolean"})
    gappy.loc[10, "hot"] = pd.NA
    for fill in ("interpolate", "zero", "ffill"):
        cfg = DataConfig(target="a", time_col="date", past_covariates=["hot"],
                         future_covariates=["weekend"], fill=fill)
        with pytest.warns(UserWarning, match=r"filled missing values \{'a': 2, 'hot': 3, "
                                             r"'weekend': 2\}"):
            series, _ = to_series(gappy, cfg)
        weekend = series[0].future[:, 0]
        assert np.isfinite(series[0].past).all() and ((weekend >= 0) & (weekend <= 1)).all()
    blank = flagged.astype({"hot": object})
    blank.loc[3, "hot"] = None
    series, _ = to_series(blank, DataConfig(target="a", time_col="date",
                                            past_covariates=["hot"], fill="ffill"))
    assert series[0].past[3, 0] == float(flagged["hot"][2])
    # a target is a quantity to forecast, not a flag
    with pytest.raises(TypeError, match=r"column 'sunny' of the data must be numeric, got "
                                        r"dtype bool: value (True|False) at row position 0$"):
        to_series(flagged, DataConfig(target="sunny", time_col="date"))


def test_splits_by_fraction_rows_and_date(frame: pd.DataFrame) -> None:
    series, _ = to_series(frame, DataConfig(target="a", time_col="date"))
    assert split_sizes(series[0], DataConfig(target="a", val=0.1, test=0.2)) == (168, 24, 48)
    assert split_sizes(series[0], DataConfig(target="a", val=20, test=40)) == (180, 20, 40)
    cfg = DataConfig(target="a", val="2021-01-10", test="2021-01-10 12:00")
    assert split_sizes(series[0], cfg) == (216, 12, 12)
    with pytest.raises(ValueError, match="no rows left for training"):
        split_sizes(series[0], DataConfig(target="a", val=0.5, test=0.5))
    # a date before the series' start: "reduce data.val / data.test" was no cure
    with pytest.raises(ValueError, match=r"no rows left for training; it starts at 2021-01-01 "
                                         r"00:00:00, on or after data.val='2020-12-01', so "
                                         r"that all of it is validation or test: a date after "
                                         r"its start gives it training rows$"):
        split_sizes(series[0], DataConfig(target="a", time_col="date", val="2020-12-01",
                                          test="2021-01-10"))
    # a test part of every row, by count: the validation date is not to blame
    with pytest.raises(ValueError, match=r"no rows left for training; reduce data.val / "
                                         r"data.test$"):
        split_sizes(series[0], DataConfig(target="a", time_col="date", val="2021-01-05",
                                          test=240))
    # a date typed without dashes is a row count: it said "240 rows, -20230661 for validation"
    with pytest.raises(ValueError, match=r"^data\.test=20230901 is a number of rows, more than "
                                         r"the 240 rows of the series; a date is written with "
                                         r"dashes"):
        split_sizes(series[0], DataConfig(target="a", test=20230901))
    with pytest.raises(ValueError, match=r"^data\.val=230 .* more than the 200 rows before "
                                         r"its test part of the series"):
        split_sizes(series[0], DataConfig(target="a", val=230, test=40))


def _gappy(dates: pd.DatetimeIndex, drop: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"date": dates, "a": np.arange(len(dates), dtype=float)})
    return frame.drop(index=drop).reset_index(drop=True)


@pytest.mark.parametrize(("dates", "freq", "season"), [
    (pd.date_range("2021-01-01", periods=60, freq="D"), "D", 7),
    (pd.date_range("2021-01-03", periods=60, freq="W-SUN"), "W-SUN", 52),
    (pd.date_range("2021-01-07", periods=60, freq="W-THU"), "W-THU", 52),
    (pd.date_range("2010-01-31", periods=40, freq="ME"), "ME", 12),
    (pd.date_range("2010-02-01", periods=40, freq="QS-FEB"), "QS-FEB", 4),
    (pd.date_range("2010-03-31", periods=40, freq="QE-DEC"), "QE-DEC", 4),
    (pd.date_range("1990-01-01", periods=30, freq="YS"), "YS-JAN", 1),
    (pd.date_range("2021-01-01", periods=60, freq="h"), "h", 24),
    (pd.date_range("2021-01-01", periods=60, freq="15min"), "15min", 4),
])
def test_freq_of_gappy_calendar_data(dates: pd.DatetimeIndex, freq: str, season: int) -> None:
    # with gaps pandas cannot infer the frequency; a day or a week is not "24h"/"168h"
    gappy = dates.delete([10, 20])
    assert infer_freq(gappy) == freq
    assert season_from_freq(freq) == season


def test_daily_gap_filled_is_daily() -> None:
    frame = _gappy(pd.date_range("2021-01-01", periods=60, freq="D"), [10, 20])
    with pytest.warns(UserWarning, match="filled missing values"):
        series, freq = to_series(frame, DataConfig(target="a", time_col="date",
                                                   fill="interpolate"))
    assert freq == "D" and season_from_freq(freq) == 7
    np.testing.assert_allclose(series[0].target[:, 0], np.arange(60.0))


def test_monthly_gap_filled_is_month_start() -> None:
    # pandas' own inference fails here, and a "744h" grid put 139 months off it
    frame = _gappy(pd.date_range("2010-01-01", periods=140, freq="MS"), [50])
    with pytest.warns(UserWarning, match=r"\{'a': 1\}"):
        series, freq = to_series(frame, DataConfig(target="a", time_col="date",
                                                   fill="interpolate"))
    assert freq == "MS" and season_from_freq(freq) == 12
    assert series[0].time.equals(pd.date_range("2010-01-01", periods=140, freq="MS"))
    np.testing.assert_allclose(series[0].target[:, 0], np.arange(140.0))


def test_trading_days_are_business_days() -> None:
    days = pd.bdate_range("2021-01-04", periods=40)
    assert infer_freq(days.delete([7, 30])) == "B" and season_from_freq("B") == 5
    frame = _gappy(days, [7, 30])  # two holidays
    with pytest.raises(ValueError, match=r"2 timestamp\(s\) missing at frequency 'B', first "
                                         r"2021-01-13 00:00:00; either set data.fill .* or "
                                         r"leave data.time_col unset \(it is 'date'\) so "
                                         r"that the row order is the time step"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    # a weekend day makes it calendar days
    assert infer_freq(pd.date_range("2021-01-04", periods=40, freq="D").delete([7])) == "D"


def test_unknown_step_asks_for_freq() -> None:
    mid_month = pd.date_range("2010-01-01", periods=40, freq="MS") + pd.Timedelta(days=14)
    frame = _gappy(mid_month, [5])
    with pytest.raises(ValueError, match=r"could not infer the frequency of the series "
                                         r"\(time column 'date'\): steps seen 31 days "
                                         r"\(\d+x\), 30 days .*; set data.freq.*; for "
                                         r"steps no pandas frequency describes \(monthly on "
                                         r"the 15th, say\), leave data.time_col unset"):
        to_series(frame, DataConfig(target="a", time_col="date"))
    # and the row order then is the time step
    series, freq = to_series(frame, DataConfig(target="a"))
    assert freq is None and len(series[0]) == len(frame)
    with pytest.raises(ValueError, match=r"data.freq must be a pandas frequency string .* "
                                         r"got 'fortnightly'"):
        to_series(frame, DataConfig(target="a", time_col="date", freq="fortnightly"))


@pytest.mark.parametrize(("freq", "season"), [
    ("2h", 12), ("5h", 1), ("2D", 1), ("14D", 26), ("24h", 7), ("2W-SUN", 26), ("2MS", 6),
    ("QS-JAN", 4), ("YE-DEC", 1), ("min", 60), (None, 1),
])
def test_season_of_multiples(freq: str | None, season: int) -> None:
    assert season_from_freq(freq) == season


def test_ffill_back_fills_leading_gaps(frame: pd.DataFrame) -> None:
    frame.loc[[0, 1, 7], "a"] = np.nan
    with pytest.warns(UserWarning, match=r"\{'a': 3\}"):
        series, _ = to_series(frame, DataConfig(target="a", time_col="date", fill="ffill"))
    target = series[0].target[:, 0]
    assert target[0] == target[1] == frame["a"].iloc[2] and target[7] == frame["a"].iloc[6]


@pytest.mark.parametrize("fill", ["ffill", "interpolate", "zero"])
def test_a_column_with_no_observed_value_is_an_error_not_filled(frame: pd.DataFrame,
                                                                 fill: str) -> None:
    # it gave NaN scalers, a "diverged" training and blank forecasts
    long = pd.concat([frame.assign(store="x"), frame.iloc[:100].assign(store="y")],
                     ignore_index=True)
    cfg = DataConfig(target="a", time_col="date", series_col="store",
                     past_covariates=["temp"], fill=fill)
    empty_target = long.copy()
    empty_target.loc[empty_target["store"] == "y", "a"] = np.nan
    with pytest.raises(ValueError, match=rf"column 'a' of series 'y' has no observed value in "
                                         rf"its 100 rows; data.fill='{fill}' fills gaps"):
        to_series(empty_target, cfg)
    long["temp"] = np.nan
    if fill == "zero":  # a covariate of zeros is what "zero" says
        with pytest.warns(UserWarning, match="filled missing values"):
            series, _ = to_series(long, cfg)
        assert (series[1].past == 0).all()
    else:
        with pytest.raises(ValueError, match=r"column 'temp' of series 'x' has no observed "
                                             r"value in its 240 rows"):
            to_series(long, cfg)


def test_missing_series_id_is_an_error(frame: pd.DataFrame) -> None:
    long = pd.concat([frame.assign(store="x"), frame.assign(store="y")], ignore_index=True)
    long.loc[[300, 301], "store"] = np.nan
    with pytest.raises(ValueError, match=r"2 row\(s\) have no series id in column 'store' "
                                         r"\(data.series_col\) of the data, first at row "
                                         r"position 300"):
        to_series(long, DataConfig(target="a", time_col="date", series_col="store"))


def test_ids_read_as_one_series_are_an_error(frame: pd.DataFrame) -> None:
    # '1' and '1.0' (or 1 and '1') were two series with one id: predict labelled both '1'
    # and gave each the future covariates of the other
    cfg = DataConfig(target="a", time_col="date", series_col="store")
    for first, second in (("1", "1.0"), ("1", 1)):
        long = pd.concat([frame.assign(store=first), frame.assign(store=second)],
                         ignore_index=True)
        with pytest.raises(ValueError, match=rf"series ids '1' and {second!r} in column "
                                             r"'store' \(data.series_col\) of the future "
                                             r"table \(future=, --future\) are both read as "
                                             r"series '1' "
                                             r".* rename one of them"):
            to_series(long, cfg, source="the future table (future=, --future)")
    # a categorical id column's unused categories are no series (pandas 2 grouped them, so
    # this holds only where pyproject's pandas>=2.0 installs a 2.x; 3.x does not group them)
    long = pd.concat([frame.assign(store="x"), frame.assign(store="y")], ignore_index=True)
    long["store"] = pd.Categorical(long["store"], categories=["w", "x", "y", "z"])
    assert [s.id for s in to_series(long, cfg)[0]] == ["x", "y"]


def test_blank_timestamp_is_an_error(frame: pd.DataFrame) -> None:
    long = pd.concat([frame.assign(store="x"), frame.assign(store="y")], ignore_index=True)
    long["date"] = long["date"].astype(str)
    long.loc[[250, 260], "date"] = np.nan
    with pytest.raises(ValueError, match=r"2 missing timestamp\(s\) in time column 'date' "
                                         r"\(data.time_col\) of series 'y', first at row "
                                         r"position 250; data.fill cannot fill"):
        to_series(long, DataConfig(target="a", time_col="date", series_col="store",
                                   fill="ffill"))


def test_bad_split_date(frame: pd.DataFrame) -> None:
    series, _ = to_series(frame, DataConfig(target="a", time_col="date"))
    with pytest.raises(ValueError, match=r"data.test='2020-13-45' is not a valid date: "
                                         r"month must be in 1..12"):
        split_sizes(series[0], DataConfig(target="a", test="2020-13-45"))
    with pytest.raises(ValueError, match=r"data.val='soon' is not a valid date"):
        split_sizes(series[0], DataConfig(target="a", val="soon"))
    with pytest.raises(ValueError, match=r"data.test='2021-01-10 00:00\+00:00' and the time "
                                         r"column of the series must both have a time "
                                         r"zone or both have none"):
        split_sizes(series[0], DataConfig(target="a", test="2021-01-10 00:00+00:00"))


def test_split_dates_are_read_as_the_time_column_is_written() -> None:
    days = pd.date_range("2020-01-01", periods=200, freq="D")
    frame = pd.DataFrame({"date": days.strftime("%d/%m/%Y"), "y": np.arange(200.0)})
    # 5 June and 4 July, day first as the data; month first they would be 6 May and 7 April
    cfg = DataConfig(target="y", time_col="date", time_format="%d/%m/%Y", val="05/06/2020",
                     test="04/07/2020")
    series, _ = to_series(frame, cfg)
    n_val = (pd.Timestamp("2020-07-04") - pd.Timestamp("2020-06-05")).days
    n_test = len(days) - int(days.searchsorted(pd.Timestamp("2020-07-04")))
    assert split_sizes(series[0], cfg) == (200 - n_val - n_test, n_val, n_test)
    # ISO dates are read too
    iso = DataConfig(target="y", time_col="date", time_format="%d/%m/%Y", val="2020-06-05",
                     test="2020-07-04")
    assert split_sizes(series[0], iso) == split_sizes(series[0], cfg)
    with pytest.raises(ValueError, match=r"data.test='4 July' is not a valid date: written "
                                         r"neither as data.time_format='%d/%m/%Y' nor in ISO"):
        split_sizes(series[0], DataConfig(target="y", time_col="date",
                                          time_format="%d/%m/%Y", test="4 July"))


def test_missing_column_names_the_table(frame: pd.DataFrame) -> None:
    cfg = DataConfig(target="a", time_col="date", future_covariates=["promo"])
    with pytest.raises(ValueError, match=r"column\(s\) \['promo'\] not found in the future "
                                         r"table; available"):
        to_series(frame, cfg, need_target=False, source="the future table")


def test_window_origins() -> None:
    # horizon inside [start, end), lookback before the origin, anchored on the last origin
    assert window_origins(100, 10, 5, 0, 60).tolist() == list(range(10, 56))
    assert window_origins(100, 10, 5, 60, 80, stride=5).tolist() == [60, 65, 70, 75]
    assert window_origins(100, 10, 5, 60, 63).tolist() == []
    assert window_origins(100, 10, 5, 0, 100, stride=40).tolist() == [15, 55, 95]


def test_data_off_a_trained_models_frequency_says_so(frame: pd.DataFrame) -> None:
    cfg = DataConfig(target="a", time_col="date")
    daily = frame.assign(date=pd.date_range("2021-01-01", periods=len(frame), freq="D"))
    half_past = frame.copy()
    half_past.loc[5, "date"] += pd.Timedelta("30min")
    with pytest.raises(ValueError, match=r"off the 'h' grid, .*; the model was trained at "
                                         r"frequency 'h': resample the data to it"):
        to_series(half_past, cfg, freq="h")
    # data.freq already set: "set data.freq" would be no help
    with pytest.raises(ValueError, match=r"off the 'h' grid, .*; data.freq='h' is set: "
                                         r"resample the data to it, or set the frequency"):
        to_series(half_past, DataConfig(target="a", time_col="date", freq="h"))
    with pytest.raises(ValueError, match=r"missing at the model's frequency 'D', .* trained "
                                         r"with data.fill='none', which a forecast may change"):
        to_series(daily.drop(index=[5, 6]), cfg, freq="D")
    # a day-first table read month first (01/08 as 8 January) was only called irregular
    dates = pd.date_range("2020-08-01", periods=5, freq="D").strftime("%d/%m/%Y")
    with pytest.raises(ValueError, match=r"missing at the model's frequency 'D', .*; more are "
                                         r"missing than the 5 present, so the dates may have "
                                         r"been misread .* Otherwise, the model was trained"):
        to_series(frame.iloc[:5].assign(date=dates), cfg, freq="D")


def test_series_of_different_frequencies_are_an_error() -> None:
    daily = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=60, freq="D"),
                          "y": np.arange(60.0), "sid": "A"})
    weekly = pd.DataFrame({"date": pd.date_range("2021-01-03", periods=30, freq="W-SUN"),
                           "y": np.arange(30.0), "sid": "B"})
    cfg = DataConfig(target="y", time_col="date", series_col="sid", fill="ffill")
    # filled to daily, the weekly series would be upsampled silently; in either row order
    for frame, first, second in ((pd.concat([daily, weekly]), "A", "B"),
                                 (pd.concat([weekly, daily]), "B", "A")):
        with pytest.raises(ValueError, match=rf"series '{first}' has frequency '.+' and "
                                             rf"series '{second}' has '.+' in the data; one "
                                             r"model needs one frequency: set data.freq"):
            to_series(frame, cfg)
    # a frequency given is used for every series (and the gaps are filled)
    series, freq = to_series(pd.concat([daily, weekly]),
                             DataConfig(target="y", time_col="date", series_col="sid",
                                        fill="ffill", freq="D"))
    assert freq == "D" and [len(s) for s in series] == [60, 204]


def test_whole_number_float_ids_read_as_integers(frame: pd.DataFrame) -> None:
    cfg = DataConfig(target="a", time_col="date", series_col="sid")
    as_int, _ = to_series(frame.assign(sid=7), cfg)
    as_float, _ = to_series(frame.assign(sid=7.0), cfg)
    assert as_int[0].id == as_float[0].id == "7"
    assert to_series(frame.assign(sid=7.5), cfg)[0][0].id == "7.5"


def test_infinite_values_are_an_error_even_with_fill(frame: pd.DataFrame) -> None:
    frame.loc[7, "a"] = np.inf
    for fill in ("none", "ffill"):
        with pytest.raises(ValueError, match=r"1 infinite value\(s\) in column 'a' of the "
                                             r"series, first at .*data.fill does not replace"):
            to_series(frame, DataConfig(target="a", time_col="date", fill=fill))


INFINITE = (r"1 infinite value\(s\) in column '{}' of the series, first at 2021-01-01 07:00:00 "
            r"\(inf, or a number too large in magnitude for a float64, past 1\.8e308: 1e400, "
            r"an int of 309 digits or more\); data.fill does not replace them: fix or drop them$")


def test_an_int_too_large_for_a_float_is_an_infinite_value(frame: pd.DataFrame,
                                                           tmp_path: Path) -> None:
    from lstmkit.forecasting.data import read_frame

    # JSON rows or a CSV of whole numbers hold Python ints: 10**400 failed in pandas with a
    # bare "OverflowError: int too large to convert to float", naming no column (a server's
    # 500); it reads as inf, as pandas reads it beside a float and Python reads 1e400
    cfg = DataConfig(target="a", time_col="date", past_covariates=["b"],
                     future_covariates=["hour"], static_covariates=["size"])
    frame = frame.assign(size=2.0)
    for col in ("a", "b", "hour", "size"):
        for big in (10**400, -10**400, 10**5000, 2**1024):  # (past 4300 digits: no str)
            for fill in ("none", "ffill"):
                mixed = frame.astype({col: object})
                mixed.loc[7, col] = big
                if col == "size":  # (a static covariate is constant: every row)
                    mixed[col] = pd.Series([big] * len(frame), dtype=object)
                    match = INFINITE.format(col).replace("1 inf", f"{len(frame)} inf").replace(
                        "07:00", "00:00")
                else:
                    match = INFINITE.format(col)
                with pytest.raises(ValueError, match=match):
                    to_series(mixed, replace(cfg, fill=fill))
    # beside a text, the text is named, not an OverflowError
    mixed = frame.astype({"b": object})
    mixed.loc[[3, 7], "b"] = ["n/a", 10**400]
    with pytest.raises(TypeError, match=r"column 'b' of the data must be numeric, got dtype "
                                        r"object: value 'n/a' at row position 3$"):
        to_series(mixed, cfg)
    # a CSV's column of whole numbers, one of them 401 digits (read as Python ints)
    path = tmp_path / "big.csv"
    frame[["date", "a"]].assign(a=np.arange(len(frame))).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[8] = lines[8].split(",")[0] + "," + "1" + "0" * 400
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=INFINITE.format("a")):
        to_series(read_frame(path), DataConfig(target="a", time_col="date"))


def test_an_int_past_int64_reads_as_the_float_it_is(frame: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    from lstmkit.forecasting.data import read_frame

    # 2**64 in JSON rows was "must be numeric, got dtype object: value 18446744073709551616",
    # where 1.8e19 is read: a number is read as the float it is, as pandas reads them
    cfg = DataConfig(target="a", time_col="date", past_covariates=["b"],
                     future_covariates=["hour"], static_covariates=["size"], fill="ffill")
    frame = frame.assign(size=2.0)
    for big in (2**64, -2**70, 10**25, 10**308, 2**63):
        mixed = frame.astype({"a": object, "b": object, "hour": object, "size": object})
        mixed.loc[7, ["a", "b", "hour"]] = [big, big, big]
        mixed.loc[8, "a"] = None  # (beside a missing value, filled)
        mixed["size"] = pd.Series([big] * len(frame), dtype=object)
        with pytest.warns(UserWarning, match=r"filled missing values \{'a': 1\}"):
            series = to_series(mixed, cfg)[0][0]
        expected = float(big)
        assert series.target[7, 0] == series.target[8, 0] == expected
        assert series.past[7, 0] == series.future[7, 0] == series.static[0] == expected
        assert np.isnan(series.observed_target()[8, 0])
    # as a CSV of whole numbers holds them (read as Python ints past int64)
    path = tmp_path / "big.csv"
    frame[["date", "a"]].assign(a=np.arange(len(frame))).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[8] = lines[8].split(",")[0] + ",18446744073709551616"
    path.write_text("\n".join(lines) + "\n")
    series = to_series(read_frame(path), DataConfig(target="a", time_col="date"))[0][0]
    assert series.target[7, 0] == 2.0**64 and series.target[6, 0] == 6.0


def test_a_column_of_tiny_values_is_still_standardised() -> None:
    from lstmkit.forecasting.windows import Scaler

    rows = np.random.default_rng(0).standard_normal((50, 1))
    for factor in (1.0, 1e-13):
        scaler = Scaler.fit([rows * factor])
        np.testing.assert_allclose(scaler.transform(rows * factor).std(0), 1.0)
    # a constant column, with float rounding in its std, keeps std 1 (stays constant)
    assert Scaler.fit([np.full((3, 1), 0.1)]).std.tolist() == [1.0]


def test_a_numeric_time_column_is_an_error(frame: pd.DataFrame) -> None:
    seconds = frame.assign(date=1704067200 + 3600 * np.arange(len(frame)))
    with pytest.raises(ValueError, match=r"time column 'date' \(data.time_col\) of the series "
                                         r"holds numbers \(e.g. 1704067200\), not dates"):
        to_series(seconds, DataConfig(target="a", time_col="date"))


def test_dates_written_as_digits_read_with_a_time_format(tmp_path: Path) -> None:
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    path = tmp_path / "digits.csv"
    pd.DataFrame({"date": days.strftime("%Y%m%d"), "y": np.arange(40.0)}).to_csv(path,
                                                                                 index=False)
    frame = pd.read_csv(path)  # read as integers
    assert pd.api.types.is_integer_dtype(frame["date"])
    series, freq = to_series(frame, DataConfig(target="y", time_col="date",
                                               time_format="%Y%m%d"))
    assert series[0].time.equals(pd.DatetimeIndex(days, name="date")) and freq == "D"
    # a blank cell makes the column float: it is named as a missing timestamp
    frame.loc[5, "date"] = None
    with pytest.raises(ValueError, match=r"1 missing timestamp\(s\) in time column 'date'"):
        to_series(frame, DataConfig(target="y", time_col="date", time_format="%Y%m%d"))


def test_a_validation_date_after_the_test_date_is_an_error(frame: pd.DataFrame) -> None:
    series, _ = to_series(frame, DataConfig(target="a", time_col="date"))
    with pytest.raises(ValueError, match=r"data.val='2021-01-05' must be a date before "
                                         r"data.test='2021-01-04'"):
        split_sizes(series[0], DataConfig(target="a", val="2021-01-05", test="2021-01-04"))


def test_local_time_written_across_daylight_saving_reads_in_utc(tmp_path: Path) -> None:
    local = pd.date_range("2021-03-27", periods=72, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"date": local, "a": np.arange(72.0)})
    path = tmp_path / "berlin.csv"
    frame.to_csv(path, index=False)  # offsets +01:00, then +02:00
    series, freq = to_series(pd.read_csv(path), DataConfig(target="a", time_col="date"))
    assert freq == "h" and len(series[0]) == 72
    assert series[0].time.equals(local.tz_convert("UTC"))
    # naive and offset timestamps mixed are still an error
    mixed = pd.DataFrame({"date": ["2021-03-28 01:00:00+01:00", "2021-03-28 03:00:00",
                                   "2021-03-28 04:00:00"], "a": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="could not be parsed as dates"):
        to_series(mixed, DataConfig(target="a", time_col="date"))


def test_series_read_in_different_zones_are_all_put_in_utc(tmp_path: Path) -> None:
    crossing = pd.date_range("2021-03-27", periods=48, freq="h", tz="Europe/Berlin")
    summer = pd.date_range("2021-06-01", periods=48, freq="h", tz="Europe/Berlin")
    path = tmp_path / "two.csv"
    pd.concat([pd.DataFrame({"date": crossing, "id": "a", "y": np.arange(48.0)}),
               pd.DataFrame({"date": summer, "id": "b", "y": np.arange(48.0)})]
              ).to_csv(path, index=False)  # a: +01:00 then +02:00 (read in UTC); b: +02:00
    config = DataConfig(target="y", time_col="date", series_col="id")
    (a, b), _ = to_series(pd.read_csv(path), config)
    assert str(a.time.tz) == str(b.time.tz) == "UTC"
    assert a.time.equals(crossing.tz_convert("UTC")) and b.time.equals(summer.tz_convert("UTC"))
    # times with a zone in one series and without in another: said, naming both
    bare = pd.DataFrame({"date": summer.tz_localize(None).astype(str), "id": "c",
                         "y": np.arange(48.0)})
    with pytest.raises(ValueError, match=r"series 'b' has times with a zone \(UTC\+02:00\), "
                                         r"series 'c' times without one"):
        to_series(pd.concat([pd.read_csv(path).iloc[48:], bare]), config)


def test_local_dates_written_across_daylight_saving_keep_their_daily_grid(
        tmp_path: Path) -> None:
    # local midnights are 23 or 25 hours apart in UTC: the daily grid was refused
    local = pd.date_range("2021-03-20", periods=14, freq="D", tz="Europe/Berlin")
    path = tmp_path / "berlin_daily.csv"
    pd.DataFrame({"date": local, "a": np.arange(14.0)}).to_csv(path, index=False)
    series, freq = to_series(pd.read_csv(path), DataConfig(target="a", time_col="date"))
    assert freq == "D"
    assert series[0].time.equals(local.tz_localize(None))
    # a part that crosses no change (one offset), and a zone-aware frame, read the same dates:
    # a future table or a second series must compare with them
    summer = pd.read_csv(path).iloc[10:]
    part, _ = to_series(summer, DataConfig(target="a", time_col="date"))
    assert part[0].time.equals(local[10:].tz_localize(None))
    framed, _ = to_series(pd.DataFrame({"date": local, "a": np.arange(14.0)}),
                          DataConfig(target="a", time_col="date"))
    assert framed[0].time.equals(local.tz_localize(None))


def test_daily_readings_written_across_daylight_saving_are_said_as_such(
        tmp_path: Path) -> None:
    # 09:00 readings written with offsets are read in UTC: steps of 1 day and 23 hours, said
    # without their cause
    local = pd.date_range("2021-03-20 09:00", periods=14, freq="D", tz="Europe/Berlin")
    path = tmp_path / "berlin_readings.csv"
    pd.DataFrame({"date": local, "a": np.arange(14.0)}).to_csv(path, index=False)
    hint = (r"steps of whole days give or take an hour: if these are local times written with "
            r"UTC offsets that change across a daylight-saving change \(read in UTC, so a day "
            r"there is 23 or 25 hours\), write them without offsets, as local times")
    with pytest.raises(ValueError, match=r"steps seen 1 day \(12x\), 23:00:00 \(1x\); " + hint):
        to_series(pd.read_csv(path), DataConfig(target="a", time_col="date"))
    # with data.freq set, weekly, or trading days across a weekend change: the same hint
    with pytest.raises(ValueError, match=r"off the 'D' grid, first .*; " + hint):
        to_series(pd.read_csv(path), DataConfig(target="a", time_col="date", freq="D"))
    for freq in ("W-SAT", "B"):
        days = pd.date_range("2021-02-19 09:00", periods=40, freq=freq, tz="Europe/Berlin")
        written = pd.DataFrame({"date": days.astype(str), "a": np.arange(40.0)})
        with pytest.raises(ValueError, match=hint):
            to_series(written, DataConfig(target="a", time_col="date"))
    # no hint for hourly data (steps of an hour), nor for one offset (no change to read in
    # UTC) with a reading an hour late
    hours = pd.date_range("2021-03-01", periods=72, freq="h", tz="UTC")
    with pytest.raises(ValueError) as refused:
        to_series(pd.DataFrame({"date": hours, "a": 1.0}),
                  DataConfig(target="a", time_col="date", freq="D"))
    assert "daylight" not in str(refused.value)
    late = pd.date_range("2021-03-01 09:00", periods=10, freq="D").strftime(
        "%Y-%m-%d %H:%M:%S+05:00").tolist()
    late[4] = late[4].replace("09:00", "10:00")
    with pytest.raises(ValueError) as refused:
        to_series(pd.DataFrame({"date": late, "a": 1.0}), DataConfig(target="a", time_col="date"))
    assert "daylight" not in str(refused.value)
    written = pd.read_csv(path).assign(date=local.tz_localize(None).astype(str))
    series, freq = to_series(written, DataConfig(target="a", time_col="date"))
    assert freq == "D" and series[0].time.equals(local.tz_localize(None))


def test_csv_ids_stay_as_written_and_unreadable_files_name_themselves(tmp_path: Path) -> None:
    from lstmkit.forecasting.data import read_frame

    path = tmp_path / "stores.csv"
    path.write_text("store,y\n007,1.0\n012,2.0\n")
    assert read_frame(path, "store")["store"].tolist() == ["007", "012"]
    path.write_bytes("store,y\ncaf\xe9,1.0\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"data file '.*stores.csv' is not UTF-8 text"):
        read_frame(path)
    path.write_text('store,y\n"007,1.0\n')
    with pytest.raises(ValueError, match=r"data file '.*stores.csv' could not be read as CSV"):
        read_frame(path)


def test_day_first_dates_are_read_with_data_time_format() -> None:
    months = pd.date_range("2019-01-01", periods=12, freq="MS")
    frame = pd.DataFrame({"date": months.strftime("%d/%m/%Y"), "a": np.arange(12.0)})
    # inferred, 01/02/2019 reads month-first: 12 days of January, not 12 months
    inferred, _ = to_series(frame, DataConfig(target="a", time_col="date"))
    assert inferred[0].time[-1] == pd.Timestamp("2019-01-12")
    series, freq = to_series(frame, DataConfig(target="a", time_col="date",
                                               time_format="%d/%m/%Y"))
    assert freq == "MS" and series[0].time.equals(pd.DatetimeIndex(months))
    with pytest.raises(ValueError, match=r"could not be parsed as dates \(data.time_format="
                                         r"'%Y-%m-%d'\): .*; set data.time_format to how they "
                                         r"are written"):
        to_series(frame, DataConfig(target="a", time_col="date", time_format="%Y-%m-%d"))
    with pytest.raises(TypeError, match=r"data.time_format must be a string or null, got 5"):
        DataConfig(target="a", time_format=5)  # type: ignore[arg-type]


def test_a_short_weekday_series_beside_trading_days_takes_their_frequency() -> None:
    days = pd.bdate_range("2021-01-04", periods=40)  # Monday on, weekends missing
    long = pd.DataFrame({"date": days, "y": np.arange(40.0), "sid": "a"})
    short = pd.DataFrame({"date": days[:5], "y": np.arange(5.0), "sid": "b"})  # reads "D"
    series, freq = to_series(pd.concat([short, long]),
                             DataConfig(target="y", time_col="date", series_col="sid"))
    assert freq == "B" and [len(s) for s in series] == [5, 40]


def test_whole_number_ids_written_as_text_match_integer_ids() -> None:
    from lstmkit.forecasting.data import series_id

    assert [series_id(k) for k in (1, 1.0, "1.0", "-2.00", "007", "1.5", "v1.0")] == \
        ["1", "1", "1", "-2", "007", "1.5", "v1.0"]


def test_messages_name_series_by_id_only_where_the_data_has_a_series_column() -> None:
    # data without data.series_col is one series whose id ("0") the data never gave: messages
    # called it "series '0'"
    from lstmkit.forecasting.data import series_name

    assert series_name("0", DataConfig(target="a")) == "the series"
    assert series_name("0", DataConfig(target="a", series_col="store")) == "series '0'"


def test_a_csv_is_read_from_a_pipe_and_a_folder_is_named(tmp_path) -> None:
    # a pipe (`--data <(command)`) is no regular file: it was "does not exist"
    import os
    import threading

    from lstmkit.forecasting.data import read_frame

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    threading.Thread(target=lambda: fifo.write_text("date,y\n2021-01-01,1.5\n"),
                     daemon=True).start()  # (blocked for good where the pipe is not read)
    assert read_frame(fifo)["y"].tolist() == [1.5]
    with pytest.raises(IsADirectoryError, match=r"data file '.*' is a folder, not a CSV file"):
        read_frame(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data file '.*absent.csv' does not exist"):
        read_frame(tmp_path / "absent.csv")


def test_a_fraction_split_counts_the_rows_it_says(frame: pd.DataFrame) -> None:
    # 0.29 of 100 rows is 29 (float 100 * 0.29 is 28.999999999999996: truncated, 28), and
    # 0.57 of them 57 (56.99999999999999)
    series, _ = to_series(frame.head(100), DataConfig(target="a", time_col="date"))
    assert split_sizes(series[0], DataConfig(target="a", val=0.29, test=0.57)) == (14, 29, 57)
    # a fraction between two counts still rounds down: 0.2 of 17 rows is 3
    series, _ = to_series(frame.head(17), DataConfig(target="a", time_col="date"))
    assert split_sizes(series[0], DataConfig(target="a", val=0.1, test=0.2)) == (13, 1, 3)


def test_times_are_written_as_the_time_format_when_they_read_back() -> None:
    hourly = pd.Series(pd.date_range("2021-01-30 22:00", periods=4, freq="h"))
    for time_format, first in [("%d/%m/%Y %H:%M", "30/01/2021 22:00"),
                               ("%Y%m%d%H", "2021013022")]:
        text = format_times(hourly, time_format)
        assert text.iloc[0] == first
        assert parse_times(text, time_format).equals(hourly)
    # the same instants in another unit or zone (across a daylight-saving change) read back:
    # no warning
    zoned = pd.Series(pd.date_range("2021-03-28", periods=4, freq="h", tz="Europe/Paris"))
    for times, time_format in [(hourly.astype("datetime64[ns]"), "%d/%m/%Y %H:%M"),
                               (hourly.astype("datetime64[s]"), "%d/%m/%Y %H:%M"),
                               (zoned, "%Y-%m-%d %H:%M%z")]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert format_times(times, time_format).iloc[-1] == times.iloc[-1].strftime(
                time_format)
    # without a format, or with pandas' read-only ones, unchanged: a CSV writes ISO 8601
    for time_format in (None, "ISO8601", "mixed"):
        assert format_times(hourly, time_format) is hourly


@pytest.mark.parametrize(("times", "time_format", "message"), [
    # a date-only format for hourly times: two hours would be one date
    (pd.date_range("2021-01-01", periods=5, freq="h"), "%Y-%m-%d",
     r"^times written in ISO 8601, not as data.time_format='%Y-%m-%d': it writes 2021-01-01 "
     r"01:00:00 as '2021-01-01', which reads back as 2021-01-01 00:00:00 \(4 of 5 times "
     r"would change\); set data.time_format to a format that writes every time in full$"),
    # two-digit years read back in 1969-2068
    (pd.date_range("2066-01-01", periods=4, freq="YS"), "%y",
     r"it writes 2069-01-01 00:00:00 as '69', which reads back as 1969-01-01 00:00:00 \(1 of "
     r"4 times"),
    # %z writes nothing for a time without a zone
    (pd.date_range("2021-01-01", periods=3, freq="D"), "%Y-%m-%d%z",
     r"it writes 2021-01-01 00:00:00 as '2021-01-01', which does not read back with it"),
])
def test_times_a_format_would_change_are_written_iso_with_a_warning(
        times: pd.DatetimeIndex, time_format: str, message: str) -> None:
    times = pd.Series(times)
    with pytest.warns(UserWarning, match=message):
        assert format_times(times, time_format) is times
    # as every forecasting warning, handed to collect()'s caller (a server tells its client)
    with warnings.catch_warnings(), collect() as said:
        warnings.simplefilter("error")
        assert format_times(times, time_format) is times
    assert len(said) == 1 and re.search(message, said[0])


def test_loader_passes_over_the_windows_again_up_to_min_batches() -> None:
    import torch

    from lstmkit.forecasting.windows import loader

    torch.manual_seed(0)
    windows = list(range(10))  # (any sized dataset; its batches come back as lists)
    batches = list(loader(windows, 4, shuffle=True, min_batches=7))  # type: ignore[arg-type]
    assert [len(b) for b in batches] == [4] * 7
    drawn = [i for b in batches for i in b]
    # two whole passes, each in its own order, and the third cut short
    passes = [drawn[:10], drawn[10:20]]
    assert all(sorted(p) == windows for p in passes) and passes[0] != passes[1]
    assert len(set(drawn[20:])) == 8
    # enough batches already, or no shuffling (validation): one pass
    assert [len(b) for b in loader(windows, 4, shuffle=True, min_batches=3)] == [4, 4, 2]
    assert [i for b in loader(windows, 4, shuffle=False, min_batches=7) for i in b] == windows


def test_a_repeated_clock_hour_suggests_utc_offsets() -> None:
    # the hour repeated when daylight saving time ends, written without offsets: the error
    # spoke only of long-format series
    times = pd.date_range("2023-10-29 00:00", periods=6, freq="h").strftime("%Y-%m-%d %H:%M")
    times = [*times[:3], times[2], *times[3:]]
    local = pd.DataFrame({"ts": times, "load": np.arange(7.0)})
    with pytest.raises(ValueError, match=r"1 duplicate timestamp\(s\) in 'ts', first "
                                         r"2023-10-29 02:00:00; if the table holds several "
                                         r".*; if they are local clock times repeated where "
                                         r"daylight saving time ends, write the times with "
                                         r"their UTC offsets .* or in UTC$"):
        to_series(local, DataConfig(target="load", time_col="ts"))
    # dates without a time of day repeat for other reasons
    days = pd.DataFrame({"d": ["2023-01-01", "2023-01-02", "2023-01-02"], "y": [1.0, 2, 3]})
    with pytest.raises(ValueError, match=r"data.series_col$"):
        to_series(days, DataConfig(target="y", time_col="d"))
