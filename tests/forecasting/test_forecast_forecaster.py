"""Forecaster end to end on tiny generated data: fit, predict, covariates, save/load, errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from forecast_helpers import make_config, make_frame
from lightning.pytorch import Callback

from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster
from lstmkit.forecasting.forecaster import Prepared, from_normal_scores
from lstmkit.nn import LSTM


@pytest.mark.parametrize("decoder", ["pmf", "direct", "autoregressive"])
@pytest.mark.parametrize("channel_independent", [True, False])
def test_fit_predict_shapes(frame: pd.DataFrame, decoder: str,
                            channel_independent: bool) -> None:
    config = make_config(decoder=decoder, channel_independent=channel_independent)
    forecaster = Forecaster(config).fit(frame)
    out = forecaster.predict(frame)
    assert list(out.columns) == ["date", "target", "forecast"]
    assert len(out) == 2 * 12
    assert out["date"].iloc[0] == frame["date"].iloc[-1] + pd.Timedelta(hours=1)
    assert np.isfinite(out["forecast"]).all()
    assert isinstance(forecaster.net.encoder, LSTM)


def test_quantile_forecast_has_ordered_intervals(frame: pd.DataFrame) -> None:
    config = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9))
    config = dataclasses.replace(config, training=config.training.replace(max_epochs=3))
    out = Forecaster(config).fit(frame).predict(frame)
    assert {"q0.1", "q0.5", "q0.9"} <= set(out.columns)
    np.testing.assert_allclose(out["forecast"], out["q0.5"])
    assert (out["q0.9"] - out["q0.1"]).mean() > 0


def test_each_quantile_level_has_a_column_of_its_own(frame: pd.DataFrame) -> None:
    # the columns were named with 6 significant digits: 0.1 and 0.1000001 were both "q0.1",
    # and one level's forecasts silently replaced the other's
    # (to 15 significant digits: 0.1 * 3, 0.30000000000000004, is still q0.3)
    levels = (0.025, 0.1, 0.1000001, 0.1 * 3, 0.5, 0.7, 0.9)
    config = make_config(loss="quantile", quantiles=levels)
    out = Forecaster(config).fit(frame).predict(frame)
    assert list(out.columns) == ["date", "target", "forecast", "q0.025", "q0.1", "q0.1000001",
                                 "q0.3", "q0.5", "q0.7", "q0.9"]
    assert levels[3] == 0.30000000000000004


def test_crossing_quantiles_are_sorted(frame: pd.DataFrame) -> None:
    import torch

    config = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9))
    forecaster = Forecaster(config).fit(frame)
    with torch.no_grad():  # the untrained head puts every level on the window's last value
        forecaster.net.head.bias.view(-1, 3)[:] = torch.tensor([1.0, 0.0, -1.0])
    out = forecaster.predict(frame)
    assert (out["q0.1"] < out["q0.5"]).all() and (out["q0.5"] < out["q0.9"]).all()


def test_lstm_variants_from_config(frame: pd.DataFrame) -> None:
    config = make_config(lstm={"peephole": True, "layer_norm": True, "forget_bias": 1.0})
    forecaster = Forecaster(config).fit(frame)
    names = [n for n, _ in forecaster.net.encoder.named_parameters()]
    plain = [n for n, _ in LSTM(16, 16).named_parameters()]
    assert len(names) > len(plain)  # peephole and layer-norm parameters exist
    assert np.isfinite(forecaster.predict(frame)["forecast"]).all()


def test_learns_a_seasonal_signal() -> None:
    frame = make_frame(n=480)
    config = make_config(hidden_size=32)
    config = dataclasses.replace(config, training=config.training.replace(
        max_epochs=12, lr=5e-3), batch_size=16)
    forecaster = Forecaster(config).fit(frame)
    table = forecaster.evaluate(frame, baselines=("naive",)).table
    # the naive forecast cannot follow a 12-step cycle; a trained model must beat it clearly
    assert table.loc["lstmkit", "mse"] < 0.5 * table.loc["naive", "mse"]


def test_three_kinds_of_covariates_many_series(tmp_path: Path) -> None:
    parts = []
    for i, sid in enumerate(["s1", "s2"]):
        f = make_frame(n=200, seed=i)
        parts.append(f.assign(store=sid, size=float(i + 1)))
    long = pd.concat(parts, ignore_index=True)
    config = ForecastConfig(
        data=DataConfig(target="a", time_col="date", series_col="store",
                        past_covariates="temp", future_covariates="hour",
                        static_covariates="size", val=0.2, test=0.2),
        model=make_config().model,
        training=make_config().training)
    forecaster = Forecaster(config).fit(long)
    with pytest.raises(ValueError, match=r"future covariates \['hour'\] must cover the 12 "
                                         r"steps after the data: pass future=<table>"):
        forecaster.predict(long)
    future = pd.concat([
        pd.DataFrame({"date": pd.date_range(long["date"].iloc[199], periods=13,
                                            freq="h")[1:], "hour": np.arange(12.0),
                      "store": sid}) for sid in ["s1", "s2"]])
    out = forecaster.predict(long, future=future)
    assert list(out.columns) == ["store", "date", "target", "forecast"]
    assert sorted(out["store"].unique()) == ["s1", "s2"]
    short = future.groupby("store").head(10)
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) covers 10 of "
                                         r"the 12 "
                                         r"steps after the end of series 's1' .*\(the first "
                                         r"it lacks: 2021-01-09 18:00:00\); it holds 10 "
                                         r"row\(s\) for it, 2021-01-09 08:00:00 \.\. "
                                         r"2021-01-09 17:00:00"):
        forecaster.predict(long, future=short)
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) has no rows "
                                         r"for series "
                                         r"'s2'; it holds series \['s1'\]"):
        forecaster.predict(long, future=future[future["store"] == "s1"])
    with pytest.raises(ValueError, match=r"missing value\(s\) in column 'hour' of series 's1' "
                                         r"of the future table \(future=, --future\), first at "
                                         r"2021-01-09 11:00:00; they are covariates of the "
                                         r"steps forecast: give their values \(data.fill "
                                         r"makes up none of them\)"):
        forecaster.predict(long, future=future.assign(hour=np.where(
            np.arange(len(future)) == 3, np.nan, future["hour"])))
    with pytest.raises(FileNotFoundError, match=r"^future table \(future=, --future\) file "
                                                r"'.*nope.csv' does not exist"):
        forecaster.predict(long, future=tmp_path / "nope.csv")
    future.iloc[:0].to_csv(tmp_path / "header.csv", index=False)
    with pytest.raises(ValueError, match=r"^the future table \(future=, --future\) is empty: no "
                                         r"rows"):
        forecaster.predict(long, future=tmp_path / "header.csv")
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) and the data "
                                         r"must "
                                         r"both have a time zone or both have none; series "
                                         r"'s1' has None in the data and UTC in the future"):
        forecaster.predict(long, future=future.assign(date=future["date"].dt.tz_localize("UTC")))
    with pytest.raises(ValueError, match=r"series 's1' of the future table \(future=, --future\) "
                                         r"has 1 "
                                         r"duplicate timestamp"):
        forecaster.predict(long, future=pd.concat([future.iloc[:1], future]))
    with pytest.raises(ValueError, match=r"column\(s\) \['store'\] not found in the future "
                                         r"table"):
        forecaster.predict(long, future=future.drop(columns="store"))
    # only the steps forecast are read: a calendar that runs on, with a gap and blanks after
    # them, forecasts as the table of those steps (its NaN and its gap were refused)
    later = pd.concat([pd.DataFrame({
        "date": pd.date_range(long["date"].iloc[199], periods=40, freq="h")[14:],
        "hour": np.nan, "store": sid}) for sid in ["s1", "s2"]])
    pd.testing.assert_frame_equal(forecaster.predict(long, future=pd.concat([future, later])),
                                  out)
    pd.testing.assert_frame_equal(forecaster.predict(long, future=pd.concat([
        future, later.assign(hour=np.inf)])), out)  # (an inf there refused the table)
    with pytest.raises(ValueError, match=r"1 infinite value\(s\) in column 'hour' of series "
                                         r"'s1' of the future table \(future=, --future\), first "
                                         r"at "
                                         r"2021-01-09 10:00:00"):
        forecaster.predict(long, future=future.assign(hour=np.where(
            np.arange(len(future)) == 2, np.inf, future["hour"])))
    # but a row off the grid between the steps is (which hour would be a daily step's?)
    half_past = future.iloc[:1].assign(date=future["date"].iloc[0] + pd.Timedelta("30min"))
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) has 1 row\(s\) "
                                         r"for "
                                         r"series 's1' between the steps forecast .* first "
                                         r"2021-01-09 08:30:00: write its rows at the times of "
                                         r"the data's grid"):
        forecaster.predict(long, future=pd.concat([future, half_past]))
    # nor is a step the table lacks or leaves blank made up by data.fill (it filled them)
    filling = copy.copy(forecaster)
    filling.config = forecaster.config.with_overrides({"data.fill": "ffill"})
    with pytest.raises(ValueError, match=r"covers 11 of the 12 steps after the end of series "
                                         r"'s1' .*\(the first it lacks: 2021-01-09 12:00:00\)"):
        filling.predict(long, future=future.drop(index=4))
    with pytest.raises(ValueError, match=r"1 missing value\(s\) in column 'hour' of series "
                                         r"'s2' of the future table"):
        filling.predict(long, future=future.assign(hour=np.where(
            np.arange(len(future)) == 15, np.nan, future["hour"])))
    # the future covariates change the forecast (they are used, not ignored)
    shifted = future.assign(hour=future["hour"] + 5.0)
    out2 = forecaster.predict(long, future=shifted)
    assert not np.allclose(out["forecast"], out2["forecast"])
    # so do the static covariates
    out3 = forecaster.predict(long.assign(size=long["size"] * 10), future=future)
    assert not np.allclose(out["forecast"], out3["forecast"])


# data ending on 1 June, 31 January (steps 28 February, 31 March) and a Thursday (steps Friday,
# Monday); and one step
@pytest.mark.parametrize(("freq", "horizon", "n"), [("MS", 2, 80), ("ME", 2, 75), ("B", 2, 82),
                                                    ("D", 1, 80)])
def test_a_calendar_on_the_grid_is_no_table_off_it(freq: str, horizon: int, n: int) -> None:
    # the last row of the data and the steps, as a calendar of history and future holds them:
    # rows off the grid were looked for from one mean step before the first step, which a
    # shorter month or a weekend put the data's last row after (it was refused)
    frame = make_frame(n=n, freq=freq).iloc[:-horizon]
    config = dataclasses.replace(make_config(lookback=8, horizon=horizon, segment_len=4),
                                 data=DataConfig(target="a", time_col="date",
                                                 future_covariates="hour", val=0.2, test=0.2))
    forecaster = Forecaster(config).fit(frame)
    calendar = make_frame(n=n, freq=freq).iloc[-horizon - 1:][["date", "hour"]]
    assert len(forecaster.predict(frame, future=calendar)) == horizon
    # and a row off it is found between one step and the data's end (with one step too)
    hour = calendar.iloc[-1:].assign(date=calendar["date"].iloc[-1] - pd.Timedelta("1h"))
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) has 1 row\(s\) "
                                         r"for the "
                                         r"series between the steps forecast"):
        forecaster.predict(frame, future=pd.concat([calendar, hour]))


def test_fraction_splits_of_series_ending_apart_warn_of_look_ahead() -> None:
    a = make_frame(n=200).assign(store="a")
    b = make_frame(n=120).assign(store="b")  # same start, ends 80 hours earlier
    config = make_config()
    data = dataclasses.replace(config.data, series_col="store")
    config = dataclasses.replace(config, data=data)
    frame = pd.concat([a, b], ignore_index=True)
    # a trains to row 119 (2021-01-05 23:00); b's test part starts at row 96
    with pytest.warns(UserWarning, match=r"the training part of series 'a' runs to "
                                         r"2021-01-05 23:00:00, past the start of the test "
                                         r"part of series 'b' \(2021-01-05 00:00:00\)"):
        Forecaster(config).fit(frame)
    dated = dataclasses.replace(data, val="2021-01-04 00:00", test="2021-01-05 00:00")
    with warnings.catch_warnings():
        # cut at the same dates: no look-ahead, no warning
        warnings.filterwarnings("error", message="the training part")
        Forecaster(dataclasses.replace(config, data=dated)).fit(frame)


def test_a_diverged_run_keeps_the_untrained_naive_start(frame: pd.DataFrame) -> None:
    config = make_config()
    config = dataclasses.replace(config, training=config.training.replace(
        optimizer="sgd", lr=1e10, max_epochs=2))
    # (instead of the weights training kept, which its epoch log named as kept)
    with pytest.warns(UserWarning, match=r"best epoch none finite\); keeping it instead of "
                                         r"the weights training kept: the forecast is"):
        forecaster = Forecaster(config).fit(frame)
    assert forecaster.kept_start
    assert np.isfinite(forecaster.predict(frame)["forecast"]).all()


@pytest.mark.parametrize("decoder", ["pmf", "direct", "autoregressive"])
def test_mixed_precision_training(frame: pd.DataFrame, decoder: str) -> None:
    config = make_config(decoder=decoder)
    config = dataclasses.replace(config, training=config.training.replace(
        precision="bf16-mixed"))
    out = Forecaster(config).fit(frame).predict(frame)
    assert np.isfinite(out["forecast"]).all()


def _sign_flipped_covariate(n: int = 300) -> tuple[pd.DataFrame, DataConfig]:
    """y = f in series A and -f in series B (static covariate st = +-1), f known ahead."""
    rng = np.random.default_rng(0)
    parts = [pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="D"),
                           "sid": sid, "f": (f := rng.standard_normal(n)), "y": sign * f,
                           "st": sign}) for sid, sign in (("A", 1.0), ("B", -1.0))]
    data = DataConfig(target="y", time_col="date", series_col="sid", future_covariates="f",
                      static_covariates="st", val=0.15, test=0.15)
    return pd.concat(parts), data


@pytest.mark.parametrize("decoder", ["pmf", "direct", "autoregressive"])
def test_a_covariate_effect_that_depends_on_the_series_is_learned(decoder: str) -> None:
    # one linear covariate term shared by both series can only learn 0, an MSE of var(f) = 1
    frame, data = _sign_flipped_covariate()
    base = make_config(lookback=8, horizon=4, segment_len=4, hidden_size=32, decoder=decoder,
                       dropout=0.0)
    config = dataclasses.replace(base, data=data, training=base.training.replace(
        max_epochs=30, lr=5e-3, seed=0))
    report = Forecaster(config).fit(frame).evaluate(frame, baselines=("naive",))
    assert report.table.loc["lstmkit", "mse"] < 0.2
    assert report.table.loc["naive", "mse"] > 1.5


@pytest.mark.parametrize("channel_independent", [True, False])
def test_direct_decoder_with_future_covariates_under_mixed_precision(
        channel_independent: bool) -> None:
    frame, data = _sign_flipped_covariate(120)
    frame = frame.assign(y2=-frame["y"])
    base = make_config(lookback=8, horizon=4, segment_len=4, decoder="direct",
                       channel_independent=channel_independent)
    config = dataclasses.replace(
        base, data=dataclasses.replace(data, target=("y", "y2")),
        training=base.training.replace(precision="bf16-mixed"))
    out = Forecaster(config).fit(frame).predict(frame, future=pd.DataFrame({
        "date": np.repeat(pd.date_range("2020-04-30", periods=4, freq="D"), 2),
        "sid": ["A", "B"] * 4, "f": 1.0}))
    assert len(out) == 2 * 4 * 2 and np.isfinite(out["forecast"]).all()


def test_predict_refuses_trailing_rows_without_targets(frame: pd.DataFrame) -> None:
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, fill="zero"))
    forecaster = Forecaster(config).fit(frame)
    upcoming = frame.copy()
    upcoming.loc[upcoming.index[-4:], ["a", "b"]] = np.nan
    # filled with zeros, they would be history and move the forecast origin 4 steps on
    with pytest.raises(ValueError, match=r"the series ends with 4 row\(s\) without target "
                                         r"values, from 2021-01-10 20:00:00; predict"):
        forecaster.predict(upcoming)
    # one target known is an observed row
    upcoming.loc[upcoming.index[-4:], "a"] = 0.5
    assert len(forecaster.predict(upcoming)) == 2 * 12


def test_predict_names_series_by_their_ids_as_given(frame: pd.DataFrame) -> None:
    long = pd.concat([frame.assign(store=7), frame.assign(store=12)], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="store"))
    out = Forecaster(config).fit(long).predict(long)
    # int ids stay ints, so the forecast merges with the user's table on them
    assert out["store"].tolist()[::24] == [7, 12]
    assert len(out.merge(long[["store"]].drop_duplicates(), on="store")) == len(out)


def test_window_longer_than_series(frame: pd.DataFrame) -> None:
    config = make_config(lookback=240, segment_len=6)
    with pytest.raises(ValueError, match=r"the series has 240 rows, but lookback \(240\) \+ "
                                         r"horizon \(12\) = 252 rows are needed"):
        Forecaster(config).fit(frame)
    config = make_config(lookback=144, segment_len=6)
    with pytest.raises(ValueError, match=r"the training part of the series has 144 rows, "
                                         r"fewer than lookback \(144\) \+ horizon \(12\)"):
        Forecaster(config).fit(frame)


def test_empty_validation_split(frame: pd.DataFrame) -> None:
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val=5))
    with pytest.raises(ValueError, match=r"the validation part of the series has 5 rows, "
                                         r"fewer than horizon \(12\)"):
        Forecaster(config).fit(frame)
    # found before training, not when scoring
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val=0.2, test=5))
    with pytest.raises(ValueError, match=r"the test part of the series has 5 rows, fewer than "
                                         r"horizon \(12\): no test window; enlarge data.test"):
        Forecaster(config).fit(frame)
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val=0),
                                 training=config.training.replace(early_stopping_patience=3))
    with pytest.raises(ValueError, match=r"training.early_stopping_patience=3 stops on the "
                                         r"validation windows, but data.val=0 gives none"):
        Forecaster(config).fit(frame)
    conformal = dataclasses.replace(
        make_config(loss="quantile", conformal=True),
        data=dataclasses.replace(config.data, val=0))
    with pytest.raises(ValueError, match=r"model.conformal calibrates the intervals on the "
                                         r"validation windows, but data.val=0 gives none"):
        Forecaster(conformal).fit(frame, callbacks=[_FailOnTraining()])
    # a validation date that leaves no validation rows: found before training
    for val, why in (("2021-02-01", r"it starts after the last row of every series \(the "
                                    r"latest at 2021-01-10 23:00:00\)"),
                     ("2021-01-08 00:00", r"the test part \(data.test=0.5\) starts before "
                                          r"it in every series")):
        late = dataclasses.replace(config, data=dataclasses.replace(
            config.data, val=val, test=0.5), training=make_config().training)
        with pytest.raises(ValueError, match=rf"data.val='{val}' leaves no validation rows: "
                                             rf"{why}; give an earlier date"):
            Forecaster(late).fit(frame, callbacks=[_FailOnTraining()])
    # a test date after the data holds nothing out now (a later file's test part can be
    # scored by evaluate): said, not refused
    late = dataclasses.replace(config, data=dataclasses.replace(
        config.data, val=0.2, test="2021-02-01"), training=make_config().training)
    with pytest.warns(UserWarning, match=r"data.test='2021-02-01' starts after the last row "
                                         r"of every series \(the latest at 2021-01-10 "
                                         r"23:00:00\): nothing is held out for testing"):
        Forecaster(late).fit(frame)


class _FailOnTraining(Callback):
    """A callback that fails the test if training starts."""

    def on_train_start(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("training started")


def test_nan_targets_are_an_error(frame: pd.DataFrame) -> None:
    frame.loc[100, "b"] = np.nan
    with pytest.raises(ValueError, match=r"1 missing value\(s\) in column 'b'"):
        Forecaster(make_config()).fit(frame)


def test_save_load_roundtrip_and_version_check(frame: pd.DataFrame, tmp_path: Path) -> None:
    config = make_config(loss="quantile")
    forecaster = Forecaster(config).fit(frame)
    before = forecaster.predict(frame)
    path = forecaster.save(tmp_path / "model")
    assert {p.name for p in path.iterdir()} == {"model.pt", "config.yaml", "scalers.json",
                                               "meta.json"}
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(frame), before)
    # the text applications name what it is
    from lstmkit.classification import Classifier

    with pytest.raises(ValueError, match=r"is not a saved classifier: its meta.json holds a "
                                         r"'forecaster' model"):
        Classifier.load(path)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "kind": "tagger"}))
    with pytest.raises(ValueError, match=r"holds a 'tagger' model, expected 'forecaster'"):
        Forecaster.load(path)
    del meta["kind"]  # as an older forecaster wrote it: it loads, and no text model reads it
    (path / "meta.json").write_text(json.dumps(meta))
    pd.testing.assert_frame_equal(Forecaster.load(path).predict(frame), before)
    with pytest.raises(ValueError, match=r"its meta.json names no kind of model"):
        Classifier.load(path)
    meta["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"has format_version 99 .* reads format_version 2 "
                                         r"to 3;"):
        Forecaster.load(path)
    # the run's folder, not its model: said, and where the model is
    with pytest.raises(FileNotFoundError, match=r"is not a saved forecaster: it has no "
                                                r"meta.json; its subfolder 'model' holds a "
                                                r"saved model .*: pass '.*model'$"):
        Forecaster.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"is not a saved classifier: it has no "
                                                r"meta.json; its subfolder 'model'"):
        Classifier.load(tmp_path)
    meta["format_version"] = 2
    del meta["dims"]
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"does not hold together: .* \(KeyError: 'dims'\)"):
        Forecaster.load(path)
    (path / "scalers.json").unlink()  # a classifier's folder has none: its kind said first
    (path / "meta.json").write_text(json.dumps({**meta, "kind": "classifier"}))
    with pytest.raises(ValueError, match=r"holds a 'classifier' model, expected 'forecaster'"):
        Forecaster.load(path)


def test_a_damaged_saved_file_is_an_error_naming_the_folder_and_the_file(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    import fractions
    import io
    import shutil

    import torch

    saved = Forecaster(make_config()).fit(frame).save(tmp_path / "saved")
    weights = (saved / "model.pt").read_bytes()
    foreign = io.BytesIO()
    torch.save({"w": fractions.Fraction(1, 2)}, foreign)  # a class weights_only refuses
    damages = [  # (file, content, what the error says after naming the folder and the file)
        ("model.pt", weights[:100], r"cannot be read \(RuntimeError: .*zip archive"),
        # the reason alone: torch's advice to load with weights_only=False would run its code
        ("model.pt", foreign.getvalue(), r"cannot be read \(UnpicklingError: Unsupported "
                                         r"global: GLOBAL fractions.Fraction was not an "
                                         r"allowed global by default\.\)"),
        ("model.pt", b"", r"cannot be read \(EOFError\)"),
        ("meta.json", b"garbage{", r"is not valid JSON \(JSONDecodeError: Expecting value"),
        ("meta.json", b"null", r"does not hold a JSON object \(it holds null\)"),
        ("scalers.json", b"{bad", r"is not valid JSON \(JSONDecodeError: Expecting property"),
        ("scalers.json", b"[]", r"does not hold a JSON object \(it holds an array\)"),
        ("scalers.json", b"{}", r"does not hold the scalers save writes \(KeyError: 'target'"),
        ("config.yaml", b"data: [unclosed", r"is not valid YAML \(ParserError: "),
        ("config.yaml", b"- 1", r"is not a valid forecaster configuration \(TypeError: "
                                r"config must be a mapping, got list"),
    ]
    for i, (name, content, what) in enumerate(damages):
        path = tmp_path / f"model{i}"
        shutil.copytree(saved, path)
        (path / name).write_bytes(content)
        folder = re.escape(str(path))
        with pytest.raises(ValueError, match=rf"^saved forecaster '{folder}': {name} {what}.*; "
                                             r"the file is .*: save the model again$"):
            Forecaster.load(path)
    # a lookback edited in config.yaml: named as such, before the weights (the highway's
    # shape holds it; without a highway they would still fit, the model would not)
    import yaml

    edited = tmp_path / "edited"
    shutil.copytree(saved, edited)
    config = yaml.safe_load((edited / "config.yaml").read_text())
    config["model"]["lookback"] = 48
    (edited / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"does not hold together: config.yaml has "
                                         r"model.lookback=48, but the model was trained with "
                                         r"24 \(meta.json\)"):
        Forecaster.load(edited)
    # a setting this lstmkit does not know, written by another lstmkit: not "damaged"

    newer = tmp_path / "newer"
    shutil.copytree(saved, newer)
    config = yaml.safe_load((newer / "config.yaml").read_text())
    config["data"]["weights_col"] = None
    (newer / "config.yaml").write_text(yaml.safe_dump(config))
    meta = json.loads((newer / "meta.json").read_text())
    (newer / "meta.json").write_text(json.dumps({**meta, "lstmkit_version": "9.9.0"}))
    with pytest.raises(ValueError, match=r"config.yaml does not fit this lstmkit \(.*; it was "
                                         r"written by lstmkit 9.9.0\): .*'weights_col'.*; load "
                                         r"it with the lstmkit that wrote it, or retrain$"):
        Forecaster.load(newer)


def test_save_replaces_a_model_whole_and_a_mismatched_one_is_an_error(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    import yaml

    forecaster = Forecaster(make_config()).fit(frame)
    path = tmp_path / "model"
    path.mkdir()
    forecaster.save(path)  # an empty folder
    forecaster.save(path)  # a saved model is replaced whole
    assert {p.name for p in path.iterdir()} == {"model.pt", "config.yaml", "scalers.json",
                                               "meta.json"}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left
    # a folder holding anything else is the user's: it is refused and left as it was
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "metrics.csv").write_text("method,mse")
    for target in (tmp_path / "report", tmp_path / "report" / "metrics.csv"):
        with pytest.raises(FileExistsError, match=r"cannot save the model to .* it exists and "
                                                  r"is not a saved model or an empty folder"):
            forecaster.save(target)
    assert (tmp_path / "report" / "metrics.csv").read_text() == "method,mse"
    (path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="cannot save the model"):
        forecaster.save(path)
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["model"]["hidden_size"] = 32
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"does not hold together: .* model.pt "
                                         r"\(RuntimeError: .*size mismatch"):
        Forecaster.load(path)


def test_a_save_killed_between_its_renames_is_pointed_to_by_load(
        frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the old model is moved aside, then the new one in: killed between, neither is at path
    forecaster = Forecaster(make_config()).fit(frame)
    path = tmp_path / "model"
    forecaster.save(path)
    rename = Path.rename

    def killed(self: Path, target: Path) -> Path:
        if self.name.startswith(".model.tmp-") and not self.name.endswith(".old"):
            raise KeyboardInterrupt  # (as a kill would stop it, after the first rename)
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        forecaster.save(path)
    monkeypatch.undo()
    aside = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    assert not path.exists() and len(aside) == 1
    with pytest.raises(FileNotFoundError, match=rf"does not exist: .*; a save into '.*model' "
                                                rf"was cut off .* the forecaster saved there "
                                                rf"before is "
                                                rf"in '.*{aside[0].name}': rename that folder"):
        Forecaster.load(path)
    # the run's folder given for its model folder says so too
    with pytest.raises(FileNotFoundError, match=r"is not a saved forecaster: it has no "
                                                r"meta.json; a save into '.*model' was cut off"):
        Forecaster.load(tmp_path)
    # of several, the newest, as its meta.json was written
    older = tmp_path / ".model.tmp-99999.old"
    shutil.copytree(aside[0], older)
    os.utime(older / "meta.json", (1, 1))
    with pytest.raises(FileNotFoundError, match=rf"is in '.*{aside[0].name}' \(the newest of 2 "
                                                rf"such folders\)"):
        Forecaster.load(path)
    aside[0].rename(path)
    Forecaster.load(path)


def test_a_save_racing_another_process_for_the_same_path_wins_or_loses_whole(
        frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    path = tmp_path / "model"
    forecaster.save(path)
    rename = Path.rename
    raced = []

    def racing_rename(self: Path, target: Path) -> Path:
        # another process's save lands at ``path`` just before this one moves its folder in
        if Path(target) == path.resolve() and self.name.startswith(".model.tmp-") and not raced:
            raced.append(True)
            rival = tmp_path / ".model.tmp-rival"
            rival.mkdir()
            (rival / "meta.json").write_text("{}")
            rename(rival, path)
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", racing_rename)
    forecaster.save(path)  # failed with "Directory not empty"
    monkeypatch.undo()
    assert raced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left aside
    assert json.loads((path / "meta.json").read_text())["kind"] == "forecaster"
    Forecaster.load(path)


def test_two_threads_saving_to_one_path_each_save_whole(
        frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    forecaster = Forecaster(make_config()).fit(frame)
    path = tmp_path / "model"
    save = torch.save

    def slow_save(*args: object, **kwargs: object) -> None:
        time.sleep(0.3)  # both threads are writing their folders at once
        save(*args, **kwargs)

    monkeypatch.setattr(torch, "save", slow_save)
    failed: list[BaseException] = []

    def save_in_a_thread() -> None:
        try:
            forecaster.save(path)
        except BaseException as err:
            failed.append(err)

    threads = [threading.Thread(target=save_in_a_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    monkeypatch.undo()
    # one temporary folder per process: each thread removed the other's as it began
    assert not failed, failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    Forecaster.load(path)


def test_a_config_of_numpy_numbers_saves_and_loads(frame: pd.DataFrame,
                                                   tmp_path: Path) -> None:
    # np.float64 (a float) was accepted, and the save then failed in yaml.safe_dump
    config = make_config(dropout=np.float64(0.1), hidden_size=np.int64(16))
    config = dataclasses.replace(config, training=config.training.replace(
        lr=np.float64(1e-3), grad_clip=np.float64(1.0)))
    forecaster = Forecaster(config).fit(frame)
    path = forecaster.save(tmp_path / "model")
    assert Forecaster.load(path).config == forecaster.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_save_leaves_no_temporary_folder_and_raises(
        frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    forecaster = Forecaster(make_config()).fit(frame)
    path = forecaster.save(tmp_path / "model")

    def fails(*args: object, **kwargs: object) -> str:
        raise yaml.representer.RepresenterError("cannot represent an object", args[0])

    monkeypatch.setattr(yaml, "safe_dump", fails)
    with pytest.raises(yaml.representer.RepresenterError, match="cannot represent"):
        forecaster.save(path)
    monkeypatch.undo()
    # the .model.tmp-<pid> folder it was writing in is removed; the model saved before stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    Forecaster.load(path)


def test_unfitted_and_resume(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster(make_config()).predict(frame)
    config = make_config()
    config = dataclasses.replace(config, training=config.training.replace(
        checkpoint_dir=tmp_path / "ckpt", max_epochs=1))
    Forecaster(config).fit(frame)
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()
    longer = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    resumed = Forecaster(longer).fit(frame, resume=True)
    assert resumed.fit_result.epochs_run == 2
    # the history of the first run comes back with the checkpoint
    assert [row["epoch"] for row in resumed.fit_result.history] == [0.0, 1.0]


def test_a_second_fit_reads_the_frequency_of_its_own_data() -> None:
    # it kept the first data's: weekly data were put on a daily grid, 6 rows in 7 made up
    forecaster = Forecaster(make_config())
    forecaster.fit(make_frame(freq="D"))
    assert forecaster.freq == "D"
    weekly = make_frame(freq="W-SUN")
    forecaster.fit(weekly)
    assert forecaster.freq == "W-SUN"
    forecast = forecaster.predict(weekly)
    assert (forecast["date"].iloc[0] - weekly["date"].iloc[-1]) == pd.Timedelta(weeks=1)
    # data the fit refuses leave the fitted model as it was: its frequency, its scalers
    before = forecaster.predict(weekly)
    with pytest.raises(ValueError, match=r"has 30 rows"):
        forecaster.fit(make_frame(n=30, freq="D"))
    no_val = dataclasses.replace(forecaster.config.data, val=0)
    forecaster.config = dataclasses.replace(forecaster.config, data=no_val, training=(
        forecaster.config.training.replace(early_stopping_patience=2)))
    with pytest.raises(ValueError, match=r"early_stopping_patience=2 stops on the validation"):
        forecaster.fit(make_frame(freq="D").assign(a=lambda f: f["a"] * 1000))
    assert forecaster.freq == "W-SUN"
    pd.testing.assert_frame_equal(forecaster.predict(weekly), before)
    # a table prepared by hand, without a frequency, keeps the model's
    prepared = forecaster.prepare(weekly)
    forecaster.config = dataclasses.replace(forecaster.config, data=dataclasses.replace(
        no_val, val=0.2), training=forecaster.config.training.replace(
        early_stopping_patience=None))
    forecaster.fit(Prepared(prepared.series, prepared.sizes))
    assert forecaster.freq == "W-SUN"


def test_a_history_that_overflows_once_scaled_is_an_error_not_a_nan_forecast(
        frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    history = frame.copy()
    history.loc[len(history) - 1, "a"] = 1e40  # finite, but past float32 once scaled
    with pytest.raises(ValueError, match=r"^the forecast of the series is not finite: its last "
                                         r"lookback rows .* overflow float32 .* check them"):
        forecaster.predict(history)
    history.loc[len(history) - 1, "a"] = 1e6  # far off, but a number the network can take
    assert np.isfinite(forecaster.predict(history)["forecast"]).all()


def test_untrained_naive_start_kept_when_no_epoch_beats_it() -> None:
    frame = make_frame(n=200).assign(a=3.0, b=-1.0)  # constant: the naive forecast is exact
    with pytest.warns(UserWarning, match=r"no training epoch beat the untrained network"):
        forecaster = Forecaster(make_config()).fit(frame)
    assert forecaster.kept_start and forecaster.fit_result.best_epoch == -1
    out = forecaster.predict(frame)
    np.testing.assert_allclose(out.loc[out["target"] == "a", "forecast"], 3.0, rtol=1e-6)


def test_only_the_first_process_says_the_untrained_start_was_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP every process keeps the untrained network (and calibrates its intervals);
    the warnings are said once."""
    import warnings

    import lstmkit.forecasting.forecaster as forecaster_module

    monkeypatch.setattr(forecaster_module, "is_first_process", lambda: False)
    frame = make_frame(n=200).assign(a=3.0, b=-1.0)
    config = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9), conformal=True)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val=14))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forecaster = Forecaster(config).fit(frame)  # 3 validation windows
    assert forecaster.kept_start
    assert not [w for w in caught if "beat the untrained network" in str(w.message)
                or "model.conformal" in str(w.message)]


def test_resumed_run_weighs_the_untrained_start_like_an_uninterrupted_one(
        tmp_path: Path) -> None:
    import lightning.pytorch as pl

    class Killed(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            if trainer.current_epoch == 1:
                raise RuntimeError("killed")

    frame = make_frame(n=200).assign(a=3.0, b=-1.0)  # no epoch beats the naive start
    base = make_config()

    def config(name: str) -> ForecastConfig:
        return dataclasses.replace(base, training=base.training.replace(
            max_epochs=2, checkpoint_dir=tmp_path / name))

    with pytest.warns(UserWarning, match="untrained"):
        whole = Forecaster(config("whole")).fit(frame)
    with pytest.raises(RuntimeError, match="killed"):
        Forecaster(config("cut")).fit(frame, callbacks=[Killed()])
    with pytest.warns(UserWarning, match="untrained"):
        resumed = Forecaster(config("cut")).fit(frame, resume=True)
    assert whole.kept_start and resumed.kept_start
    pd.testing.assert_frame_equal(resumed.predict(frame), whole.predict(frame))


@pytest.mark.parametrize("channel_independent", [True, False])
def test_highway_is_a_linear_map_of_each_normalised_channel(channel_independent: bool) -> None:
    import torch

    from lstmkit.forecasting.config import ModelConfig
    from lstmkit.forecasting.model import ForecastNet

    cfg = ModelConfig(lookback=12, horizon=5, segment_len=4, hidden_size=8, highway=True,
                      channel_independent=channel_independent, normalization="last")
    net = ForecastNet(cfg, n_targets=3, n_past=0, n_future=0, n_static=0).eval()
    y = torch.randn(2, 12, 3)
    none = torch.zeros(2, 12, 0), torch.zeros(2, 5, 0), torch.zeros(2, 0)
    last = y[:, -1:]
    # untrained: the LSTM head and the highway start at zero, so the forecast is naive
    torch.testing.assert_close(net(y, *none), last.expand(-1, 5, -1))
    torch.manual_seed(1)
    with torch.no_grad():
        net.highway.weight.normal_()
        net.highway.bias.normal_()
    expected = last + torch.einsum("hl,blc->bhc", net.highway.weight, y - last) \
        + net.highway.bias[None, :, None]
    torch.testing.assert_close(net(y, *none), expected)  # the LSTM head is still zero
    net.train()
    net(y, *none).sum().backward()
    assert net.highway.weight.grad is not None and net.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("normalization", ["last", "mean", "revin"])
def test_mean_reversion_scales_the_window_level_per_step(normalization: str) -> None:
    import torch

    from lstmkit.forecasting.config import ModelConfig
    from lstmkit.forecasting.model import ForecastNet

    cfg = ModelConfig(lookback=12, horizon=5, segment_len=4, hidden_size=8,
                      normalization=normalization, mean_reversion=True)
    net = ForecastNet(cfg, n_targets=3, n_past=0, n_future=0, n_static=0).eval()
    y = torch.randn(2, 12, 3)
    none = torch.zeros(2, 12, 0), torch.zeros(2, 5, 0), torch.zeros(2, 0)
    level = y[:, -1:] if normalization == "last" else y.mean(1, keepdim=True)
    torch.testing.assert_close(net(y, *none), level.expand(-1, 5, -1))  # untrained: naive
    with torch.no_grad():
        net.level.copy_(torch.tensor([0.0, -0.1, -0.2, -0.5, -1.0]))
    # the LSTM head is still zero: step h forecasts (1 + level[h]) times the window's level
    torch.testing.assert_close(net(y, *none), level * (1 + net.level[None, :, None]))
    assert net.no_weight_decay() == {"level"}


def test_weight_decay_leaves_out_what_the_model_names() -> None:
    import torch

    from lstmkit.forecasting.config import ModelConfig
    from lstmkit.forecasting.model import ForecastNet
    from lstmkit.training import TrainConfig
    from lstmkit.training.task import Task

    cfg = ModelConfig(lookback=12, horizon=5, segment_len=4, hidden_size=8,
                      mean_reversion=True)
    net = ForecastNet(cfg, n_targets=2, n_past=0, n_future=0, n_static=0)
    task = Task(net, torch.nn.MSELoss(), TrainConfig(weight_decay=0.5, scheduler="none"))
    decayed, kept = task.configure_optimizers().param_groups
    assert decayed["weight_decay"] == 0.5 and kept["weight_decay"] == 0.0
    assert kept["params"] == [net.level]
    assert len(decayed["params"]) == len(list(net.parameters())) - 1
    plain = ForecastNet(dataclasses.replace(cfg, mean_reversion=False), 2, 0, 0, 0)
    groups = Task(plain, torch.nn.MSELoss(), TrainConfig(weight_decay=0.5, scheduler="none")) \
        .configure_optimizers().param_groups
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.5


@pytest.mark.parametrize("highway", [True, False])  # (on by default)
def test_a_forecaster_with_or_without_the_highway_fits_and_reloads(
        frame: pd.DataFrame, tmp_path: Path, highway: bool) -> None:
    config = dataclasses.replace(make_config(), model=dataclasses.replace(
        make_config().model, highway=highway))
    forecaster = Forecaster(config).fit(frame)
    loaded = Forecaster.load(forecaster.save(tmp_path / "m"))
    assert loaded.config.model.highway is highway
    assert (loaded.net.highway is not None) is highway
    pd.testing.assert_frame_equal(forecaster.predict(frame), loaded.predict(frame))


def test_a_seeded_run_does_not_depend_on_earlier_random_draws() -> None:
    import torch

    frame, config = make_frame(), make_config()
    torch.manual_seed(123)
    first = Forecaster(config).fit(frame)
    torch.rand(1000)  # what ran before in the process must not matter
    second = Forecaster(config).fit(frame)
    for name, value in first.net.state_dict().items():
        assert torch.equal(value, second.net.state_dict()[name]), name


def test_the_weights_do_not_depend_on_where_each_series_is_in_the_table() -> None:
    import torch

    long = pd.concat([make_frame(n=120, seed=i).assign(store=sid)
                      for i, sid in enumerate(["s1", "s2", "s3"])], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="store"))
    first = Forecaster(config).fit(long)
    second = Forecaster(config).fit(long.iloc[::-1])  # s3's rows first, each series reversed
    for name, value in first.net.state_dict().items():
        assert torch.equal(value, second.net.state_dict()[name]), name


def test_future_rows_predict_does_not_use_are_warned_of_when_they_look_meant() -> None:
    frame = make_frame(n=160).assign(store="s1")
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="store", future_covariates="hour"))
    forecaster = Forecaster(config).fit(frame)
    after = pd.date_range(frame["date"].iloc[-1], periods=13, freq="h")[1:]
    future = pd.DataFrame({"date": after, "hour": np.arange(12.0), "store": "s1"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same values as the data's: nothing said
        expected = forecaster.predict(frame, future=pd.concat([frame.tail(3)[list(future)],
                                                               future]))
    history = frame.tail(3)[list(future)].assign(hour=99.0)  # not the data's hours
    other = future.assign(store="s2")  # a series the data does not hold
    with pytest.warns(UserWarning) as said:
        out = forecaster.predict(frame, future=pd.concat([history, future, other]))
    messages = [str(w.message) for w in said]
    assert any("holds rows for 1 series not in the data, ['s2']: they are not used" in m
               for m in messages), messages
    assert any("gives series 's1' other values of ['hour'] than the data at 3 time(s) the "
               f"data covers, first {frame['date'].iloc[-3]}: [99.0] against the data's "
               f"[{frame['hour'].iloc[-3]}]; the data's are used" in m for m in messages), messages
    pd.testing.assert_frame_equal(out, expected)
    # with data.fill either table's values may be filled ones, which need not agree: no word
    forecaster.config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, fill="ffill"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecaster.predict(frame, future=pd.concat([history, future]))
    # data without a series column: "the series" (it said "series '0'", an id the data
    # never gave)
    single = Forecaster(dataclasses.replace(config, data=dataclasses.replace(
        config.data, series_col=None))).fit(frame.drop(columns="store"))
    with pytest.warns(UserWarning, match=r"gives the series other values of \['hour'\]"):
        single.predict(frame.drop(columns="store"),
                       future=pd.concat([history, future]).drop(columns="store"))


def test_predict_refuses_future_for_a_model_without_future_covariates(
        frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    future = pd.DataFrame({"date": pd.date_range(frame["date"].iloc[-1], periods=13,
                                                 freq="h")[1:], "hour": 0.0})
    with pytest.raises(ValueError, match=r"future= \(--future\) was given, but the model "
                                         r"has no data.future_covariates"):
        forecaster.predict(frame, future=future)
    assert len(forecaster.predict(frame)) == 2 * 12


def test_load_gives_back_the_config_it_saved(frame: pd.DataFrame, tmp_path: Path) -> None:
    from lstmkit.forecasting import ModelConfig

    config = make_config()
    config = dataclasses.replace(
        config, model=ModelConfig(**{**dataclasses.asdict(config.model),
                                     "lstm": {"zoneout": (0.1, 0.2)}}),
        training=config.training.replace(checkpoint_dir=tmp_path / "ckpt",
                                         log_dir=tmp_path / "logs"))
    forecaster = Forecaster(config).fit(frame)
    loaded = Forecaster.load(forecaster.save(tmp_path / "model"))
    assert loaded.config == forecaster.config


def test_a_model_saved_with_quantiles_and_a_point_loss_loads_with_a_warning(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    import yaml

    from lstmkit.forecasting.config import DEFAULT_QUANTILES

    forecaster = Forecaster(make_config(loss="mae")).fit(frame)
    path = forecaster.save(tmp_path / "model")
    # as versions before the quantile check saved it: levels that a point loss never used
    saved = yaml.safe_load((path / "config.yaml").read_text())
    saved["model"]["quantiles"] = [0.05, 0.5, 0.95]
    (path / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    with pytest.warns(UserWarning, match=r"config.yaml: model.quantiles \[0.05, 0.5, 0.95\] "
                                         r"are read as the default \[0.1, 0.5, 0.9\]: the model "
                                         r"has the point loss 'mae'"):
        loaded = Forecaster.load(path)
    assert loaded.config.model.quantiles == DEFAULT_QUANTILES
    assert loaded.config == forecaster.config
    pd.testing.assert_frame_equal(loaded.predict(frame), forecaster.predict(frame))
    # a new configuration with them is still an error
    with pytest.raises(ValueError, match=r"model.quantiles \(0.05, 0.5, 0.95\) are set but "
                                         r"model.loss is 'mae'"):
        ForecastConfig.from_dict(saved)


def test_a_model_saved_with_a_freq_but_no_time_column_loads_with_a_warning(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    import yaml

    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, time_col=None))
    forecaster = Forecaster(config).fit(frame.drop(columns="date"))
    path = forecaster.save(tmp_path / "model")
    # as versions before the check saved it: settings that no time column ever used
    saved = yaml.safe_load((path / "config.yaml").read_text())
    saved["data"].update(freq="h", time_format="%Y")
    (path / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    with pytest.warns(UserWarning, match=r"config.yaml: data.freq='h', data.time_format='%Y' "
                                         r"dropped: the model has no data.time_col"):
        loaded = Forecaster.load(path)
    assert loaded.config == forecaster.config
    pd.testing.assert_frame_equal(loaded.predict(frame.drop(columns="date")),
                                  forecaster.predict(frame.drop(columns="date")))


def test_an_ensemble_forecasts_the_mean_of_its_members_and_reloads(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    import torch

    base = make_config()
    config = dataclasses.replace(base, model=dataclasses.replace(base.model, ensemble=2),
                                 training=base.training.replace(
                                     seed=3, checkpoint_dir=tmp_path / "ckpt"))
    ensemble = Forecaster(config).fit(frame)
    # member m is the single network of seed 3 + m
    singles = [Forecaster(dataclasses.replace(base, training=base.training.replace(seed=s)))
               .fit(frame) for s in (3, 4)]
    for member, single in zip(ensemble.net.members, singles, strict=True):
        for name, value in single.net.state_dict().items():
            assert torch.equal(value, member.state_dict()[name]), name
    assert len(ensemble.fit_results) == 2
    assert (tmp_path / "ckpt" / "member0" / "last.ckpt").is_file()
    assert (tmp_path / "ckpt" / "member1" / "last.ckpt").is_file()
    predictions = [s.predict(frame)["forecast"].to_numpy() for s in singles]
    out = ensemble.predict(frame)
    np.testing.assert_allclose(out["forecast"], np.mean(predictions, axis=0), rtol=1e-5,
                               atol=1e-6)
    # val_loss scores the mean forecast, not a member's best check
    prepared = ensemble.prepare(frame)
    val = ensemble.windows(prepared, "val")
    _, target = val.__getitems__(range(len(val)))
    scaled = ensemble.scalers.target.transform(ensemble.predict_windows(val))
    assert ensemble.val_loss == pytest.approx(float(np.mean((scaled - target.numpy()) ** 2)),
                                              rel=1e-4)
    assert ensemble.val_loss not in [r.best_score for r in ensemble.fit_results]
    loaded = Forecaster.load(ensemble.save(tmp_path / "model"))
    assert loaded.config.model.ensemble == 2
    pd.testing.assert_frame_equal(loaded.predict(frame), out)


@pytest.mark.parametrize("seed", [0, None])
def test_an_ensemble_resumes_each_member_from_its_own_folder(
        frame: pd.DataFrame, tmp_path: Path, seed: int | None) -> None:
    # seed=None draws each member's seed anew in every run: a resume must not compare them
    base = make_config(ensemble=2)
    config = dataclasses.replace(base, training=base.training.replace(
        checkpoint_dir=tmp_path / "ckpt", max_epochs=1, seed=seed))
    Forecaster(config).fit(frame)
    with pytest.raises(ValueError, match=r"model.ensemble=2 trains 2 networks.*resume=True"):
        Forecaster(config).fit(frame, resume=tmp_path / "ckpt" / "member0" / "last.ckpt")
    longer = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    resumed = Forecaster(longer).fit(frame, resume=True)
    assert [r.epochs_run for r in resumed.fit_results] == [2, 2]
    assert [[row["epoch"] for row in r.history] for r in resumed.fit_results] == [[0.0, 1.0]] * 2


def test_an_ensemble_calibrates_the_intervals_of_its_mean_forecast(
        frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config(ensemble=2, loss="quantile", conformal=True)).fit(frame)
    out = forecaster.predict(frame)
    assert (out["q0.1"] <= out["q0.5"]).all() and (out["q0.5"] <= out["q0.9"]).all()
    assert forecaster.margins is not None


def test_each_ensemble_member_gets_callbacks_in_their_state_before_training(
        frame: pd.DataFrame) -> None:
    import lightning.pytorch as pl

    class Epochs(pl.Callback):
        def __init__(self) -> None:
            self.seen = 0

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self.seen += 1

    base = make_config(ensemble=3)
    config = dataclasses.replace(base, training=base.training.replace(max_epochs=2))
    counter = Epochs()
    Forecaster(config).fit(frame, callbacks=[counter])
    assert counter.seen == 2  # the first member's epochs, not the later members' too
    made: list[int] = []

    def per_member(member: int) -> list[pl.Callback]:
        made.append(member)
        return [Epochs()]

    Forecaster(config).fit(frame, callbacks=per_member)
    assert made == [0, 1, 2]
    with pytest.raises(TypeError, match=r"callbacks must be a sequence of Lightning callbacks "
                                        r"or a function of the member index, got Epochs"):
        Forecaster(config).fit(frame, callbacks=counter)  # type: ignore[arg-type]


def test_val_loss_is_the_loss_of_the_trained_forecast_on_validation(
        frame: pd.DataFrame) -> None:
    import torch

    from lstmkit.forecasting.metrics import make_loss

    base = make_config(loss="quantile", ensemble=1)
    for ensemble in (1, 2):
        # a monitor other than the loss, and the last epoch kept: val_loss is still the loss
        # of the forecast the forecaster makes
        config = dataclasses.replace(
            base, model=dataclasses.replace(base.model, ensemble=ensemble),
            training=base.training.replace(max_epochs=2, monitor="val_mse",
                                           restore_best=False))
        forecaster = Forecaster(config).fit(frame)
        val = forecaster.windows(forecaster.prepare(frame), "val")
        inputs, target = val.__getitems__(range(len(val)))
        with torch.no_grad():
            expected = float(make_loss(config.model)(forecaster.net(**inputs), target))
        assert forecaster.val_loss == pytest.approx(expected, rel=1e-5), ensemble


def test_resume_of_the_wrong_type_is_refused_before_anything_changes(
        frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    scalers = forecaster.scalers
    with pytest.raises(TypeError, match=r"resume must be True, False or a checkpoint path, "
                                        r"got NoneType None"):
        forecaster.fit(frame, resume=None)  # type: ignore[arg-type]
    assert forecaster.scalers is scalers


def test_a_seed_whose_last_ensemble_member_passes_the_limit_is_refused_before_training(
        frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.training.config import MAX_SEED

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member trained")

    monkeypatch.setattr("lstmkit.forecasting.forecaster.fit", no_training)
    base = make_config(ensemble=3)
    config = dataclasses.replace(base, training=base.training.replace(seed=MAX_SEED - 1))
    with pytest.raises(ValueError, match=rf"training.seed={MAX_SEED - 1} with model.ensemble=3 "
                                         rf"gives member 2 the seed {MAX_SEED + 1}"):
        Forecaster(config).fit(frame)


def test_a_resume_with_other_model_or_data_settings_is_refused_naming_them(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    # it resumed, and compared epochs of one loss with the checkpoint's epochs of another
    base = make_config(lstm={"zoneout": 0, "peephole": True})
    config = dataclasses.replace(base, training=base.training.replace(
        checkpoint_dir=tmp_path / "ckpt", max_epochs=1))
    Forecaster(config).fit(frame)
    longer = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    other = dataclasses.replace(longer, model=dataclasses.replace(longer.model, loss="mae"),
                                data=dataclasses.replace(longer.data, test=0.3))
    with pytest.raises(ValueError, match=r"trained with other settings \(data.test: 0.2 there, "
                                         r"0.3 here; model.loss: 'mse' there, 'mae' here; "
                                         r"training and validation rows: '1 series, 144 "
                                         r"training and 48 validation rows, sha256 \w{12}' "
                                         r"there, '1 series, 120 training and 48 validation "
                                         r"rows, sha256 \w{12}' here\); .* resume with that "
                                         r"run's settings and data"):
        Forecaster(other).fit(frame, resume=True)
    # another seed: the weights would be the checkpoint's seed's, the saved config this one's
    reseeded = dataclasses.replace(longer, training=longer.training.replace(seed=9))
    with pytest.raises(ValueError, match=r"trained with other settings \(training.seed: 0 "
                                         r"there, 9 here\)"):
        Forecaster(reseeded).fit(frame, resume=True)
    # where the data is read from, and the work after training, may change; equal values
    # written otherwise (0.0 for 0, the options in another order) are the same settings
    moved = dataclasses.replace(longer, data=dataclasses.replace(longer.data, path="moved.csv"),
                                evaluation=dataclasses.replace(longer.evaluation, stride=3),
                                model=dataclasses.replace(longer.model, lstm={
                                    "peephole": True, "zoneout": 0.0}))
    assert Forecaster(moved).fit(frame, resume=True).fit_result.epochs_run == 2


def test_a_resume_on_other_rows_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    # the same settings, other data: it resumed, and took the new validation loss for an
    # improvement on the checkpoint's best (the windows, the scalers and the loss changed)
    base = make_config()
    config = dataclasses.replace(base, training=base.training.replace(
        checkpoint_dir=tmp_path / "ckpt", max_epochs=1))
    Forecaster(config).fit(frame)
    longer = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    changed = frame.assign(a=frame["a"] + 0.5)
    with pytest.raises(ValueError, match=r"\(training and validation rows: '1 series, "
                                         r"144 training and 48 validation rows, sha256 (\w{12})' "
                                         r"there, '1 series, 144 training and 48 validation "
                                         r"rows, sha256 (?!\1)\w{12}' here\)"):
        Forecaster(longer).fit(changed, resume=True)
    # the same times at another resolution (pandas 2 reads a CSV's dates in ns, pandas 3 in
    # us) are the same rows
    for unit in ("s", "us"):
        same = frame.assign(date=frame["date"].astype(f"datetime64[{unit}]"))
        assert Forecaster(longer).fit(same, resume=True).fit_result.epochs_run == 2
    # test rows are not read in training: another test part resumes
    later = frame.assign(a=frame["a"].where(frame.index < 192, 9.0))
    assert Forecaster(longer).fit(later, resume=True).fit_result.epochs_run == 2
    # a checkpoint written before the rows were recorded is not compared on them
    import torch

    from lstmkit.training.task import RUN_SETTINGS

    path = tmp_path / "ckpt" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint[RUN_SETTINGS]["training and validation rows"]
    torch.save(checkpoint, path)
    longest = dataclasses.replace(config, training=config.training.replace(max_epochs=3))
    assert Forecaster(longest).fit(changed, resume=True).fit_result.epochs_run == 3


def test_without_a_time_column_the_future_table_holds_exactly_the_horizon(
        frame: pd.DataFrame) -> None:
    # its rows are the steps after the data in order: of a longer table, which rows are the
    # horizon's is unknown (it took the first ones: a history-and-horizon table gave the
    # history's covariates, silently)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, time_col=None, future_covariates=("hour",)))
    history = frame.drop(columns="date")
    forecaster = Forecaster(config).fit(history)
    hours = pd.DataFrame({"hour": (np.arange(len(history) - 4, len(history) + 12) % 12)
                          .astype(float)})
    out = forecaster.predict(history, future=hours.iloc[4:])
    assert out["time"].tolist() == list(range(240, 252)) * 2  # per target
    with pytest.raises(ValueError, match=r"the future table \(future=, --future\) holds 16 "
                                         r"rows for the series, and without a time column "
                                         r"\(data.time_col\) its rows are the 12 steps after "
                                         r"the data, in order: give exactly horizon \(12\) "
                                         r"rows per series"):
        forecaster.predict(history, future=hours)
    with pytest.raises(ValueError, match=r"covers 11 of the 12 steps"):
        forecaster.predict(history, future=hours.iloc[5:])


def test_future_context_gives_each_step_its_neighbours_covariates() -> None:
    import torch

    from lstmkit.forecasting.model import ForecastNet

    base = make_config(lookback=4, horizon=3, segment_len=1, decoder="direct")
    cfg = dataclasses.replace(base.model, future_context=1)
    net = ForecastNet(cfg, n_targets=1, n_past=3, n_future=2, n_static=0)
    x_past = torch.arange(24.0).reshape(1, 4, 6)[..., :3]  # past-only column, then Cf = 2
    x_future = 100 + torch.arange(6.0).reshape(1, 3, 2)
    wide = net._future_context(x_past, x_future)  # (1, 3, 2 * 3): per covariate, t-1 .. t+1
    expected = torch.tensor([[[19.0, 100, 102], [20, 101, 103]],
                             [[100, 102, 104], [101, 103, 105]],
                             [[102, 104, 0], [103, 105, 0]]]).reshape(1, 3, 6)
    torch.testing.assert_close(wide, expected)


def test_future_context_learns_a_covariate_that_leads_the_target() -> None:
    # y[t] = f[t + 1]: step t's own covariate says nothing, the next step's says everything
    # (but at the horizon's last step, whose next covariate is not known: MSE ~1 there, so
    # about 0.25 over 4 steps at best)
    rng = np.random.default_rng(0)
    f = rng.standard_normal(801)
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=800, freq="h"),
                          "y": f[1:], "f": f[:-1]})
    base = make_config(lookback=8, horizon=4, segment_len=1, decoder="direct", hidden_size=32)
    mse = {}
    for context in (0, 1):
        config = dataclasses.replace(
            base, data=dataclasses.replace(base.data, target=("y",), future_covariates=("f",)),
            model=dataclasses.replace(base.model, future_context=context),
            training=base.training.replace(max_epochs=8))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the season note
            report = Forecaster(config).fit(frame).evaluate(frame, baselines=())
        mse[context] = report.table.loc["lstmkit", "mse"]
    assert mse[0] > 0.9 and mse[1] < 0.5, mse
    with pytest.raises(ValueError, match=r"model.future_context=1 widens the known-future "
                                         r"covariates .* but data.future_covariates is empty"):
        dataclasses.replace(config, data=dataclasses.replace(config.data,
                                                             future_covariates=()))
    with pytest.raises(ValueError, match=r"model.future_context must be an int from 0 to "
                                         r"model.lookback \(8\), .* got 9"):
        dataclasses.replace(config.model, future_context=9)


def _append_forecast(history: pd.DataFrame, forecast: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``history`` with the first ``rows`` forecast steps appended as if observed."""
    wide = forecast.pivot(index="date", columns="target", values="forecast").iloc[:rows]
    return pd.concat([history[["date", "a", "b"]], wide.reset_index()], ignore_index=True)


def test_steps_past_the_horizon_are_forecast_recursively(frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config()).fit(frame)  # horizon 12
    out = forecaster.predict(frame, steps=30)
    assert len(out) == 30 * 2
    dates = out["date"].drop_duplicates()
    assert dates.tolist() == pd.date_range(
        frame["date"].iloc[-1] + pd.Timedelta(hours=1), periods=30, freq="h").tolist()

    def steps(table: pd.DataFrame, first: int, last: int) -> np.ndarray:
        return table.set_index(["date", "target"])["forecast"].unstack().to_numpy()[first:last]

    got = out.set_index(["date", "target"])["forecast"].unstack().to_numpy()
    first = forecaster.predict(frame)
    np.testing.assert_array_equal(got[:12], steps(first, 0, 12))
    # each next horizon is forecast from the history with the forecasts before it appended;
    # the last (steps 19..30) overlaps the one before and gives only its new steps 25..30
    second = forecaster.predict(_append_forecast(frame, out, 12))
    np.testing.assert_allclose(got[12:24], steps(second, 0, 12), rtol=1e-12, atol=1e-12)
    last = forecaster.predict(_append_forecast(frame, out, 18))
    np.testing.assert_allclose(got[24:30], steps(last, 6, 12), rtol=1e-12, atol=1e-12)
    # fewer steps than the horizon: the horizon's first ones
    np.testing.assert_array_equal(
        steps(forecaster.predict(frame, steps=5), 0, 5), steps(first, 0, 5))


def test_steps_recursion_with_paths_0_feeds_back_the_median_and_reads_future_covariates(
) -> None:
    frame = make_frame()
    base = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9), decoder="direct")
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, future_covariates=("hour",)))
    forecaster = Forecaster(config).fit(frame)
    after = pd.date_range(frame["date"].iloc[-1], periods=25, freq="h")[1:]
    future = pd.DataFrame({"date": after, "hour": (np.arange(240, 264) % 12).astype(float)})
    with pytest.raises(ValueError, match=r"covers 12 of the 20 steps after the end of "
                                         r"the series"):
        forecaster.predict(frame, future=future.iloc[:12], steps=20)
    with pytest.raises(ValueError, match=r"covers 5 of the 12 steps .*provide all of them "
                                         r"\(the network reads its whole horizon, 12 steps, "
                                         r"also to forecast 5\)"):
        forecaster.predict(frame, future=future.iloc[:5], steps=5)
    # rows between the hourly steps (at half past): said so, where it said only "covers 0"
    halves = future.assign(date=future["date"] + pd.Timedelta(minutes=30))
    with pytest.raises(ValueError, match=r"covers 0 of the 20 steps .*; 19 of its rows fall "
                                         r"between the steps forecast \(2021-01-11 00:00:00, "
                                         r"frequency 'h'\), e\.g\. 2021-01-11 "
                                         r"00:30:00: write them at the times of the data's "
                                         r"grid$"):
        forecaster.predict(frame, future=halves, steps=20)
    out = forecaster.predict(frame, future=future, steps=20, paths=0)
    assert len(out) == 20 * 2 and {"q0.1", "q0.9"} <= set(out.columns)
    np.testing.assert_array_equal(out["forecast"], out["q0.5"])
    # the second horizon (steps 9..20, of which 13..20 are new) reads steps 1..8's medians
    history = _append_forecast(frame, out, 8).assign(hour=(np.arange(248) % 12).astype(float))
    again = forecaster.predict(history, future=future.iloc[8:20])
    for column in ("q0.1", "forecast", "q0.9"):
        np.testing.assert_allclose(
            out.pivot(index="date", columns="target", values=column).to_numpy()[12:20],
            again.pivot(index="date", columns="target", values=column).to_numpy()[4:12],
            rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("quantile", [False, True])
def test_each_recursive_pass_reads_only_its_windows_rows(
        monkeypatch: pytest.MonkeyPatch, quantile: bool) -> None:
    from lstmkit.forecasting import forecaster as module

    # each horizon past the first was a pass over every row forecast before it (the
    # lookback, then all the steps), so that the time grew with the square of the horizons
    frames = [make_frame(seed=k).assign(sid=name) for k, name in enumerate("xy")]
    base = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9)) if quantile else \
        make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", future_covariates=("hour",)))
    forecaster = Forecaster(config).fit(pd.concat(frames, ignore_index=True))
    steps = 10 * 12 + 5  # (the last horizon overlaps the one before)
    after = pd.date_range(frames[0]["date"].iloc[-1], periods=steps + 1, freq="h")[1:]
    future = pd.concat([pd.DataFrame({"date": after, "sid": name,
                                      "hour": (np.arange(240, 240 + steps) % 12).astype(float)})
                        for name in "xy"], ignore_index=True)
    rows: list[set[int]] = []

    class Counted(module.WindowSet):
        def __init__(self, series: list[Any], *args: Any) -> None:
            rows.append({len(s) for s in series})
            super().__init__(series, *args)

    monkeypatch.setattr(module, "WindowSet", Counted)
    out = forecaster.predict(pd.concat(frames, ignore_index=True), future, steps=steps,
                             **({"paths": 20} if quantile else {}))
    assert len(out) == steps * 2 * 2
    # 11 passes, each of a lookback (24) and a horizon (12) of rows per series (and per path
    # past the first horizon), not of the lookback and every step (24 + 125)
    assert rows == [{24 + 12}] * 11


@pytest.mark.parametrize(("steps", "error", "message"), [
    (0, ValueError, "an int >= 1, got 0"), (-3, ValueError, "an int >= 1, got -3"),
    (True, TypeError, "an int >= 1, got bool True"),
    (2.5, TypeError, "an int >= 1, got float 2.5"), ("4", TypeError, "an int >= 1, got str '4'")])
def test_steps_must_be_a_positive_whole_number(frame: pd.DataFrame, steps: object,
                                               error: type[Exception], message: str) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    # (a wrong type was a ValueError)
    with pytest.raises(error, match=r"^steps \(--steps\) must be " + re.escape(message) + "$"):
        forecaster.predict(frame, steps=steps)  # type: ignore[arg-type]


@pytest.mark.parametrize(("steps", "horizon", "most"), [
    (10**12, 12, "12000 (1000 horizons of 12)"), (np.int64(10**12), 12, "12000 (1000 "
                                                   "horizons of 12)"),
    (12_001, 12, "12000 (1000 horizons of 12)"), (2**63, 12, "12000 (1000 horizons of 12)"),
    (2001, 1, "2000 (2000 horizons of 1)"), (10**400, 12, "12000 (1000 horizons of 12)")])
def test_steps_are_at_most_a_thousand_horizons_checked_before_the_data_are_read(
        frame: pd.DataFrame, tmp_path: Path, steps: int, horizon: int, most: str) -> None:
    forecaster = Forecaster(make_config(horizon=horizon, segment_len=6)).fit(frame)
    # (10**12 failed deep in pandas or numpy, an OverflowError or out of memory, once the data
    # were read; 12001 ran 1001 passes of the network, each over the rows before it; 2**63
    # was told the int64 bound, not this one)
    got = "an int of 401 digits" if steps == 10**400 else steps  # (printed whole)
    with pytest.raises(ValueError, match=rf"^steps \(--steps\) must be at most "
                                         rf"{re.escape(most)}, got {got}: steps past the "
                                         r"horizon are forecast recursively, one pass of the "
                                         r"network per horizon over the forecasts before it, "
                                         r"and the error compounds with each .* ask for fewer "
                                         r"steps, or "
                                         r"train a model with a longer horizon "
                                         r"\(model.horizon\)$"):
        forecaster.predict(tmp_path / "not_read.csv", steps=steps)


def test_steps_past_the_last_timestamp_are_refused_by_name() -> None:
    frame = make_frame(n=200, freq="YS")  # 2021 to 2220
    frame["date"] = frame["date"].astype("datetime64[ns]")  # (up to 2262-04-11)
    forecaster = Forecaster(make_config()).fit(frame)
    assert len(forecaster.predict(frame, steps=42)) == 42 * 2  # (to 2262)
    with pytest.raises(ValueError, match=r"^the 43 steps forecast after the end of the series "
                                         r"\(2220-01-01 00:00:00, a step of 'YS-JAN'\) run past "
                                         r"the last time its timestamps \(of ns\) can hold, "
                                         r"2262-04-11 23:47:16.854775807: ask for at most 42 "
                                         r"steps \(steps=, --steps\)$"):
        forecaster.predict(frame, steps=43)
    # the horizon is forecast whatever fewer steps are asked for: fewer would not help
    late = frame.assign(date=frame["date"] + pd.DateOffset(years=36))  # to 2256
    with pytest.raises(ValueError, match=r"^the 12 steps forecast after the end of the series "
                                         r"\(2256-01-01 00:00:00, .*can hold, 2262-04-11 "
                                         r"23:47:16.854775807: only 6 steps fit, fewer than the "
                                         r"model's horizon of 12, which it forecasts whatever "
                                         r"fewer steps= asks for$"):
        forecaster.predict(late, steps=1)
    with pytest.raises(ValueError, match=r"only 6 steps fit, fewer than the model's horizon"):
        forecaster.predict(late, steps=13)  # (not "ask for fewer steps")


def test_steps_past_the_horizon_refused_with_past_covariates(frame: pd.DataFrame) -> None:
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, past_covariates=("temp",)))
    forecaster = Forecaster(config).fit(frame)
    with pytest.raises(ValueError, match=r"steps=13 is past the model's horizon \(12\).* "
                                         r"past-only covariates \['temp'\]"):
        forecaster.predict(frame, steps=13)
    assert len(forecaster.predict(frame, steps=12)) == 12 * 2


@pytest.mark.parametrize("future", [(), ("hour",)])
def test_past_covariates_normalised_per_window_are_read_as_their_moves(
        frame: pd.DataFrame, future: tuple[str, ...]) -> None:
    # a covariate that moves with the target's level (an opening price) strayed from its
    # training range in later years and made MSFT's forecast worse than naive (MSE 4.66 to
    # naive's 2.91); with each window's last value subtracted its level no longer counts
    forecasts = {}
    for mode in ("none", "last", "mean"):
        base = make_config()
        config = dataclasses.replace(
            base, data=dataclasses.replace(base.data, past_covariates=("temp",),
                                           future_covariates=future),
            model=dataclasses.replace(base.model, past_covariate_normalization=mode),
            training=base.training.replace(restore_best=False))  # (trained weights, kept)
        forecaster = Forecaster(config).fit(frame)
        after = pd.date_range(frame["date"].iloc[-1], periods=13, freq="h")[1:]
        hours = pd.DataFrame({"date": after, "hour": (np.arange(240, 252) % 12).astype(float)})
        table = hours if future else None
        level = forecaster.predict(frame, future=table)["forecast"].to_numpy()
        moved = forecaster.predict(frame.assign(temp=frame["temp"] + 50.0),
                                   future=table)["forecast"].to_numpy()
        # (its moves still count: the covariate is read, not dropped)
        wider = forecaster.predict(frame.assign(temp=frame["temp"] * 3.0),
                                   future=table)["forecast"].to_numpy()
        forecasts[mode] = (level, moved, wider)
    assert np.abs(forecasts["none"][0] - forecasts["none"][1]).max() > 1e-3
    for mode in ("last", "mean"):
        level, moved, wider = forecasts[mode]
        np.testing.assert_allclose(moved, level, rtol=0, atol=1e-6)
        assert np.abs(wider - level).max() > 1e-4


def test_past_covariate_normalization_needs_past_covariates() -> None:
    with pytest.raises(ValueError, match=r"model.past_covariate_normalization='last' normalises "
                                         r"the past-only covariates per window, but "
                                         r"data.past_covariates is empty"):
        make_config(past_covariate_normalization="last")
    from lstmkit.forecasting import ModelConfig

    with pytest.raises(ValueError, match=r"model.past_covariate_normalization must be one of"):
        ModelConfig(past_covariate_normalization="revin")  # type: ignore[arg-type]


def test_a_checkpoint_without_a_setting_added_since_resumes_as_its_default(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    # a checkpoint written before past_covariate_normalization existed was trained without
    # it ('none'); resumed with 'last', it went on training on re-based inputs, unchecked
    import torch

    from lstmkit.training.task import RUN_SETTINGS

    def config(mode: str, epochs: int) -> ForecastConfig:
        base = make_config()
        return dataclasses.replace(
            base, data=dataclasses.replace(base.data, past_covariates=("temp",)),
            model=dataclasses.replace(base.model, past_covariate_normalization=mode),
            training=base.training.replace(checkpoint_dir=tmp_path, max_epochs=epochs))

    Forecaster(config("none", 1)).fit(frame)
    path = tmp_path / "last.ckpt"
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint[RUN_SETTINGS]["model.past_covariate_normalization"]  # an older checkpoint
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"model.past_covariate_normalization: 'none' there, "
                                         r"'last' here"):
        Forecaster(config("last", 2)).fit(frame, resume=True)
    assert Forecaster(config("none", 2)).fit(frame, resume=True).fit_result.epochs_run == 2


def test_a_future_table_an_offset_away_from_its_history_says_why() -> None:
    # a winter history at +01:00 and a summer table at +02:00 are an hour apart: "covers 0 of
    # the 6 steps ... provide all of them", though all of them were given
    days = pd.date_range("2020-12-01 09:00", periods=100, freq="D")
    history = pd.DataFrame({"date": days.strftime("%Y-%m-%d %H:%M:%S+01:00"),
                            "a": np.sin(np.arange(100.0)), "dow": (np.arange(100) % 7) * 1.0})
    base = make_config(lookback=12, horizon=6, segment_len=6)
    config = dataclasses.replace(base, data=DataConfig(
        target=("a",), time_col="date", future_covariates=("dow",), val=0.2, test=0.2))
    forecaster = Forecaster(config).fit(history)
    after = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=6, freq="D")
    summer = pd.DataFrame({"date": after.strftime("%Y-%m-%d %H:%M:%S+02:00"), "dow": 1.0})
    with pytest.raises(ValueError, match=r"covers 0 of the 6 steps .*; the data's times are at "
                                         r"UTC\+01:00 and the table's at UTC\+02:00, and the "
                                         r"table holds every step at the data's clock times: "
                                         r"local times written with UTC offsets that change"):
        forecaster.predict(history, future=summer)
    winter = summer.assign(date=after.strftime("%Y-%m-%d %H:%M:%S+01:00"))
    assert len(forecaster.predict(history, future=winter)) == 6
    # the right instants in another zone, one day short: a missing row, no daylight saving
    utc = summer.assign(date=(after - pd.Timedelta(hours=1)).strftime(
        "%Y-%m-%d %H:%M:%S+00:00")).iloc[:5]
    with pytest.raises(ValueError, match=r"covers 5 of the 6 steps") as refused:
        forecaster.predict(history, future=utc)
    assert "daylight" not in str(refused.value)
    # hourly, an hour apart: five of the six instants still fall on steps, and it is said
    hours = pd.date_range("2020-12-01", periods=100, freq="h")
    hourly = dataclasses.replace(config, data=dataclasses.replace(config.data, freq="h"))
    history = history.assign(date=hours.strftime("%Y-%m-%d %H:%M:%S+01:00"))
    forecaster = Forecaster(hourly).fit(history)
    after = pd.date_range(hours[-1] + pd.Timedelta(hours=1), periods=6, freq="h")
    summer = pd.DataFrame({"date": after.strftime("%Y-%m-%d %H:%M:%S+02:00"), "dow": 1.0})
    with pytest.raises(ValueError, match=r"covers 5 of the 6 steps .*the table holds every "
                                         r"step at the data's clock times"):
        forecaster.predict(history, future=summer)


def test_target_bounds_clip_the_forecasts_and_refuse_data_outside_them(tmp_path: Path) -> None:
    frame = make_frame(240)
    frame["a"] = frame["a"].clip(-0.3, 0.3)  # a quantity that stays in bounds, say
    free_config = make_config(loss="quantile", conformal=True)
    bounded_config = dataclasses.replace(free_config, data=dataclasses.replace(
        free_config.data, target_bounds={"a": [-0.3, 0.3]}))
    free = Forecaster(free_config).fit(frame)
    bounded = Forecaster(bounded_config).fit(frame)  # trained as without bounds
    # and calibrated so: the margins are the model's, whatever bounds it is given later
    np.testing.assert_array_equal(bounded.margins, free.margins)
    levels = ["forecast", "q0.1", "q0.5", "q0.9"]
    expected = free.predict(frame)
    on_a = expected["target"] == "a"
    assert (expected.loc[on_a, "q0.1"] < -0.3).any()  # (quantiles past the bounds to clip)
    assert (expected.loc[on_a, "q0.9"] > 0.3).any()
    expected.loc[on_a, levels] = expected.loc[on_a, levels].clip(-0.3, 0.3)
    pd.testing.assert_frame_equal(bounded.predict(frame), expected)
    # the model keeps them, and evaluate scores what predict forecasts
    loaded = Forecaster.load(bounded.save(tmp_path / "model"))
    assert loaded.config.data.target_bounds == {"a": (-0.3, 0.3)}
    pd.testing.assert_frame_equal(loaded.predict(frame), expected)
    report = bounded.evaluate(frame, baselines=("ets", "arima"))
    assert np.abs(report.forecasts["lstmkit"][..., 0]).max() <= 0.3
    # the baselines are clipped too: every forecaster scored knows the bounds
    free_report = free.evaluate(frame, baselines=("ets", "arima"))
    for name in ("ets", "arima"):
        unclipped = free_report.forecasts[name][..., 0]
        assert np.abs(unclipped).max() > 0.3, name
        np.testing.assert_array_equal(report.forecasts[name][..., 0],
                                      unclipped.clip(-0.3, 0.3))
    # an observed target outside them is a mistake in the data (or in the bounds)
    bad = frame.copy()
    bad.loc[200, "a"] = -0.5
    with pytest.raises(ValueError, match=r"^1 value\(s\) of target 'a' in .* lie outside "
                                         r"data.target_bounds \[-0.3, 0.3\], first -0.5 at "
                                         r"2021-01-09 08:00:00: fix them, or widen the bounds$"):
        bounded.predict(bad)


def test_a_second_run_into_an_ensemble_s_or_a_refit_s_folder_is_refused_at_its_start(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    # each member (each fold) held only its own member<k> (fold<k>) folder: a second run
    # trained its first member over the first run's and was refused only at the second
    import fcntl

    base = make_config()
    folder = tmp_path / "ckpt"
    config = dataclasses.replace(
        base, model=dataclasses.replace(base.model, ensemble=2),
        training=base.training.replace(checkpoint_dir=folder))
    folder.mkdir()
    with open(folder / ".lock", "a+") as held:  # the first run, training
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError, match=r"training.checkpoint_dir '.*ckpt' is in "
                                                  r"use by another run"):
            Forecaster(config).fit(frame)
        assert sorted(p.name for p in folder.iterdir()) == [".lock"]
        single = Forecaster(dataclasses.replace(config, model=base.model,
                                                training=base.training)).fit(frame)
        single.config = dataclasses.replace(single.config, training=config.training)
        with pytest.raises(BlockingIOError, match=r"training.checkpoint_dir '.*ckpt' is in "
                                                  r"use by another run"):
            single.backtest(frame, refit=True, folds=2, baselines=())
        assert sorted(p.name for p in folder.iterdir()) == [".lock"]
    fitted = Forecaster(config).fit(frame)  # once it ends, the folder is free
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "member0", "member1"]
    fitted.backtest(frame, refit=True, folds=2, baselines=())


def test_the_logs_hparams_yaml_holds_every_setting_of_the_run(frame: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    # it held the settings a resume compares alone: not data.path, model.ensemble, ...
    import yaml

    base = make_config()
    config = dataclasses.replace(
        base, data=dataclasses.replace(base.data, path="sales.csv"),
        training=base.training.replace(log_dir=tmp_path / "logs"))
    Forecaster(config).fit(frame)
    settings = yaml.safe_load(next((tmp_path / "logs").rglob("hparams.yaml")).read_text())
    assert settings["data.path"] == "sales.csv" and settings["model.ensemble"] == 1
    assert settings["model.conformal"] is False and settings["data.target_bounds"] is None
    assert settings["model.lookback"] == 24 and settings["batch_size"] == 32


def test_from_normal_scores_joins_quantiles_linearly_in_normal_scores() -> None:
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    knots = np.array([NormalDist().inv_cdf(q) for q in levels])
    # a normal's quantiles are linear in normal scores: its values come back everywhere,
    # inside the levels and past them
    z = np.array([-3.0, -1.0, 0.0, 0.3, 2.5])
    normal = 2.0 + 3.0 * knots
    np.testing.assert_allclose(from_normal_scores(normal, knots, z), 2.0 + 3.0 * z,
                               rtol=1e-12)
    # other quantiles: joined by straight segments, the outermost extended
    skewed = np.array([-1.0, 0.0, 1.0, 4.0, 10.0])
    mid = (knots[2] + knots[3]) / 2
    past = knots[4] + 1.0
    np.testing.assert_allclose(
        from_normal_scores(skewed, knots, np.array([knots[1], mid, past])),
        [0.0, 2.5, 10.0 + 6.0 / (knots[4] - knots[3])], rtol=1e-12)


class _Walk(torch.nn.Module):
    """A random walk's quantiles (steps of 1 in the data's units), as a network scaled by
    ``std``: the last value plus sqrt(k) times each level's normal score at step k."""

    def __init__(self, std: np.ndarray, levels: tuple[float, ...], horizon: int) -> None:
        super().__init__()
        scores = torch.tensor([NormalDist().inv_cdf(q) for q in levels])
        spread = torch.arange(1, horizon + 1).sqrt()[:, None, None] * scores  # (Hz, 1, Q)
        self.register_buffer("spread", spread / torch.from_numpy(std).float()[:, None])

    def forward(self, y_past: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return y_past[:, -1][:, None, :, None] + self.spread  # (B, Hz, C, Q)


def test_quantiles_past_the_horizon_are_sampled_over_paths(frame: pd.DataFrame) -> None:
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    forecaster = Forecaster(make_config(loss="quantile", quantiles=levels)).fit(frame)
    assert forecaster.scalers is not None
    forecaster.net = _Walk(forecaster.scalers.target.std, levels, 12)  # type: ignore[assignment]
    last = frame[["a", "b"]].iloc[-1].to_numpy()
    scores = np.array([NormalDist().inv_cdf(q) for q in levels])
    k = np.arange(1, 37)
    truth = last[None, :, None] + np.sqrt(k)[:, None, None] * scores  # (steps, C, Q)

    def quantiles(out: pd.DataFrame) -> np.ndarray:  # (steps, C, Q)
        return np.stack([out.pivot(index="date", columns="target", values=f"q{q:g}")
                         .to_numpy() for q in levels], axis=-1)

    out = forecaster.predict(frame, steps=36, paths=2000)
    got = quantiles(out)
    np.testing.assert_allclose(got[:12], truth[:12], atol=1e-5)  # the network's own
    # past the horizon the paths carry the spread of the horizons before: a walk's sqrt(k)
    # (appending the median gave sqrt(k - 12) and sqrt(k - 24): 37% coverage for an 80%)
    np.testing.assert_allclose(got[12:], truth[12:], atol=0.15 * np.sqrt(36))
    np.testing.assert_array_equal(out["forecast"], out["q0.5"])
    assert np.all(np.diff(got, axis=-1) >= 0)
    # seeded: the same call gives the same forecast
    pd.testing.assert_frame_equal(forecaster.predict(frame, steps=36, paths=2000), out)
    # paths=0: the median appended, each horizon's quantiles as if it were observed
    got = quantiles(forecaster.predict(frame, steps=36, paths=0))
    median = np.sqrt(np.r_[k[:12], k[:12], k[:12]])[:, None, None] * scores + last[:, None]
    np.testing.assert_allclose(got, median, atol=1e-5)
    assert not np.allclose(got[12:], truth[12:], atol=0.15 * np.sqrt(36))  # (told apart)


def test_sampled_paths_of_a_series_do_not_depend_on_the_others_and_keep_the_bounds() -> None:
    # one generator for the call: a series' quantiles changed with the series predicted
    # beside it and their order; and draws past the bounds were appended as if observed
    levels = (0.1, 0.5, 0.9)
    frames = [make_frame(seed=k).assign(sid=name) for k, name in enumerate("xyz")]
    both = pd.concat(frames[:2], ignore_index=True)
    base = make_config(loss="quantile", quantiles=levels)
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", target_bounds={"a": [-1.5, None]}))
    forecaster = Forecaster(config).fit(both)
    assert forecaster.scalers is not None
    seen: list[float] = []

    class Recording(_Walk):
        def forward(self, y_past: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
            seen.append(float(y_past[..., 0].min()))
            return super().forward(y_past)

    forecaster.net = Recording(forecaster.scalers.target.std, levels, 12)  # type: ignore[assignment]

    def quantiles(data: pd.DataFrame, sid: str) -> np.ndarray:
        out = forecaster.predict(data, steps=30, paths=300)  # (the last horizon overlaps)
        return out[out["sid"] == sid][["forecast", "q0.1", "q0.9"]].to_numpy()

    alone = quantiles(frames[0], "x")
    np.testing.assert_array_equal(quantiles(both, "x"), alone)
    np.testing.assert_array_equal(
        quantiles(pd.concat([frames[2], frames[1], frames[0]], ignore_index=True), "x"), alone)
    assert not np.array_equal(quantiles(frames[1].assign(sid="x"), "x"), alone)  # (its data)
    scale = forecaster.scalers.target
    assert min(seen) * scale.std[0] + scale.mean[0] >= -1.5 - 1e-5  # the draws are clipped
    low = alone[:30, 1]  # target a's q0.1 (the rows: target a's 30 steps, then b's)
    assert low.min() == pytest.approx(-1.5) and (low >= -1.5).all()


@pytest.mark.parametrize(("paths", "error", "message"), [
    (-1, ValueError, "an int >= 0, got -1"), (True, TypeError, "an int >= 0, got bool True"),
    (2.5, TypeError, "an int >= 0, got float 2.5"), ("4", TypeError, "an int >= 0, got str '4'"),
    (100_001, ValueError, "at most 100000, got 100001: a quantile of 10,000 paths")])
def test_paths_must_be_a_whole_number(frame: pd.DataFrame, paths: object,
                                      error: type[Exception], message: str) -> None:
    forecaster = Forecaster(make_config(loss="quantile")).fit(frame)
    # (a wrong type was a ValueError; 10**9 paths made 10**9 copies of the series)
    with pytest.raises(error, match=r"^paths \(--paths\) must be " + re.escape(message)):
        forecaster.predict(frame, steps=20, paths=paths)  # type: ignore[arg-type]


def test_paths_within_the_horizon_are_refused(frame: pd.DataFrame) -> None:
    # they sample nothing there: the command line refused them, predict took them silently
    forecaster = Forecaster(make_config(loss="quantile")).fit(frame)
    for steps, said in [(None, "no steps \\(--steps\\) were given"),
                        (12, "steps \\(--steps\\) 12 are within it")]:
        with pytest.raises(ValueError, match=r"^paths \(--paths\) sample the forecast past the "
                                             rf"model's horizon \(12 steps\), and {said}: they "
                                             r"apply with steps above 12; leave them out"):
            forecaster.predict(frame, steps=steps, paths=0)


def test_paths_that_would_hold_more_than_a_gib_are_refused_before_sampling(
        frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.forecasting import forecaster as module

    forecaster = Forecaster(make_config(loss="quantile")).fit(frame)
    calls = []
    monkeypatch.setattr(Forecaster, "predict_windows", lambda self, w: calls.append(w))
    # 100,000 paths over 12,000 steps: 100,000 x (24 + 12,000) x 2 values, 19 GB
    with pytest.raises(ValueError, match=(
            r"^the 100000 paths \(--paths\) sampled over the 12000 steps \(--steps\) would "
            r"hold 2,404,800,000 values a series \(100000 paths x 12024 rows \(lookback "
            r"\+ steps\) x 2 targets\), more than the 134,217,728 \(1 GiB\) predict samples "
            r"at once: ask for fewer paths or steps, or paths=0 \(--paths 0\)")):
        forecaster.predict(frame, steps=12_000, paths=100_000)
    assert calls == []  # (refused before the network ran)
    assert module.MAX_PATH_VALUES == 2**27


def test_series_whose_paths_fit_alone_are_sampled_in_smaller_groups(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmkit.forecasting import forecaster as module

    frames = [make_frame(seed=k).assign(sid=name) for k, name in enumerate("xyz")]
    base = make_config(loss="quantile")
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="sid"))
    forecaster = Forecaster(config).fit(pd.concat(frames, ignore_index=True))
    together = forecaster.predict(pd.concat(frames, ignore_index=True), steps=24, paths=10)
    sizes: list[int] = []
    sample = Forecaster._sampled_paths
    monkeypatch.setattr(Forecaster, "_sampled_paths", lambda self, series, *a: (
        sizes.append(len(series)), sample(self, series, *a))[1])
    # a series' 10 paths hold 10 x (24 + 24) x 2 = 960 values: three series together were
    # refused, each alone fitting; now they are sampled a series at a time, as they fit
    monkeypatch.setattr(module, "MAX_PATH_VALUES", 1000)
    apart = forecaster.predict(pd.concat(frames, ignore_index=True), steps=24, paths=10)
    assert sizes == [1, 1, 1]
    pd.testing.assert_frame_equal(apart, together, atol=1e-5, rtol=0)
    monkeypatch.setattr(module, "MAX_PATH_VALUES", 959)
    with pytest.raises(ValueError, match=r"would hold 960 values a series \(10 paths x 48 "):
        forecaster.predict(frames[0], steps=24, paths=10)


def test_paths_refused_for_a_point_loss(frame: pd.DataFrame) -> None:
    forecaster = Forecaster(make_config()).fit(frame)
    with pytest.raises(ValueError, match=r"paths \(--paths\) sample a quantile forecast past "
                                         r"the horizon, but the model's loss is 'mse'"):
        forecaster.predict(frame, steps=20, paths=100)


def test_windows_checks_split_and_stride() -> None:
    from lstmkit.forecasting.windows import Scalers

    forecaster = Forecaster(make_config())
    prepared = forecaster.prepare(make_frame(n=240))
    scalers = Scalers.fit(prepared.series, [n for n, _, _ in prepared.sizes])
    with pytest.raises(ValueError, match=r"^split must be one of \['train', 'val', 'test', "
                                         r"'all'\], got 'validation'$"):
        forecaster.windows(prepared, "validation", scalers=scalers)
    # (one check for a count, nn.config.positive_int: a float or a bool is a TypeError)
    for stride, error, shown in ((0, ValueError, "an int >= 1, got 0"),
                                 (-1, ValueError, "an int >= 1, got -1"),
                                 (1.5, TypeError, "an int >= 1, got float 1.5"),
                                 (True, TypeError, "an int >= 1, got bool True")):
        with pytest.raises(error, match=rf"^stride must be {shown}$"):
            forecaster.windows(prepared, "train", stride, scalers=scalers)
    every = forecaster.windows(prepared, "all", scalers=scalers)
    second = forecaster.windows(prepared, "all", np.int64(2), scalers=scalers)
    # anchored on the last origin, every other one
    assert second.local_origin.tolist() == every.local_origin.tolist()[::-2][::-1]


def test_min_epoch_batches_passes_over_a_short_training_part_again(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    # 144 months with a lookback of 36 are one batch of 55 windows: ten epochs were ten
    # optimisation steps, and patience counted epochs of one step each
    class Batches(Callback):
        def __init__(self) -> None:
            self.per_epoch: list[int] = []

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.per_epoch.append(0)

        def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
            self.per_epoch[-1] += 1

    base = make_config()
    config = dataclasses.replace(base, batch_size=512,
                                 training=base.training.replace(max_epochs=2))
    one_pass, again = Batches(), Batches()
    Forecaster(config).fit(frame, callbacks=[one_pass])
    Forecaster(dataclasses.replace(config, min_epoch_batches=3)).fit(frame, callbacks=[again])
    assert one_pass.per_epoch == [1, 1] and again.per_epoch == [3, 3]
    # an epoch that is long enough is left as it is
    longer = Batches()
    Forecaster(dataclasses.replace(config, batch_size=16, min_epoch_batches=3)).fit(
        frame, callbacks=[longer])
    assert longer.per_epoch[0] > 3 and len(set(longer.per_epoch)) == 1
    # a resume keeps the epoch's length: it decides the steps the checkpoint's state counts
    ckpt = dataclasses.replace(config, training=config.training.replace(
        checkpoint_dir=tmp_path, max_epochs=1))
    Forecaster(ckpt).fit(frame)
    more = dataclasses.replace(ckpt, training=ckpt.training.replace(max_epochs=2))
    with pytest.raises(ValueError, match=r"trained with other settings \(min_epoch_batches: 0 "
                                         r"there, 3 here\)"):
        Forecaster(dataclasses.replace(more, min_epoch_batches=3)).fit(frame, resume=True)
    # a checkpoint from before the setting made one pass per epoch
    from lstmkit.training.task import RUN_SETTINGS

    path = tmp_path / "last.ckpt"
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint[RUN_SETTINGS]["min_epoch_batches"]
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"min_epoch_batches: 0 there, 3 here"):
        Forecaster(dataclasses.replace(more, min_epoch_batches=3)).fit(frame, resume=True)
    assert Forecaster(more).fit(frame, resume=True).fit_result.epochs_run == 2


@pytest.mark.parametrize("fill", ["zero", "ffill"])
def test_filled_targets_are_neither_trained_nor_validated_on(frame: pd.DataFrame,
                                                             fill: str) -> None:
    # the validation loss (early stopping, the best epoch, the untrained start, tuning)
    # scored the values data.fill made up, which every metric leaves out: with zeros in
    # the gaps, 13.7 against 8.2 on the values observed
    gappy = frame.copy()
    gappy.loc[150:190:3, "a"] = np.nan  # in the validation and test parts
    gappy.loc[30:90:4, "b"] = np.nan  # in the training part
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, fill=fill),
                                 training=base.training.replace(max_epochs=2))
    forecaster = Forecaster(config).fit(gappy)
    report = forecaster.evaluate(gappy, split="val", baselines=())
    actual, forecast = report.actual, report.forecasts["lstmkit"]
    scaled = (forecast - actual) / forecaster.scalers.target.std
    observed = ~np.isnan(actual)
    assert not observed.all()
    assert forecaster.val_loss == pytest.approx(float(np.mean(scaled[observed] ** 2)),
                                                rel=1e-5)
    # the training epochs' validation loss is the same mean, so the best epoch is chosen,
    # and weighed against the untrained start, on what the metrics score
    assert forecaster.fit_result.best_score == pytest.approx(forecaster.val_loss, rel=1e-5)
    # what it trains on: a network that fits the filled values exactly is not rewarded
    from lstmkit.forecasting.metrics import make_loss

    loss = make_loss(config.model)
    target = torch.tensor([[1.0, float("nan")], [3.0, 4.0]])
    output = torch.tensor([[0.0, 100.0], [3.0, 6.0]], requires_grad=True)
    value = loss(output, target)
    assert float(value) == pytest.approx((1 + 0 + 4) / 3)
    (grad,) = torch.autograd.grad(value, output)
    assert grad[0, 1] == 0 and torch.isfinite(grad).all()
    # the quantile loss: each level of the observed values only
    pinball = make_loss(make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9)).model)
    levels = torch.tensor([[[0.0, 1.0, 2.0], [50.0, 50.0, 50.0]],
                           [[3.0, 3.0, 3.0], [3.0, 4.0, 5.0]]])
    # 1 above q0.1 by 1, below q0.9 by 1; 4 above q0.1 by 1, below q0.9 by 1
    assert float(pinball(levels, target)) == pytest.approx(4 * 0.1 / 9)


def test_a_validation_part_with_nothing_observed_is_refused(frame: pd.DataFrame) -> None:
    gappy = frame.copy()
    gappy.loc[130:, "a"] = np.nan  # validation and test parts of one target, all filled
    gappy.loc[130:, "b"] = np.nan
    gappy.loc[239, ["a", "b"]] = 1.0  # (an observed last row: a series may not end filled)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, fill="ffill"))
    with pytest.raises(ValueError, match=r"^the validation windows hold no observed target "
                                         r"value: every one of their targets was filled by "
                                         r"data.fill='ffill'"):
        Forecaster(config).fit(gappy)


def test_predict_on_gaps_says_a_forecast_may_fill_them(frame: pd.DataFrame) -> None:
    # "insert and fill those rows first", though --set data.fill=ffill does it
    forecaster = Forecaster(make_config()).fit(frame)
    gappy = frame.drop(index=[200, 201])
    with pytest.raises(ValueError, match=r"is irregular: 2 timestamp\(s\) missing at the "
                                         r"model's frequency 'h', .*trained with "
                                         r"data.fill='none', which a forecast may change: set "
                                         r"data.fill for it \(--set data.fill=ffill\), or "
                                         r"insert and fill those rows first$"):
        forecaster.predict(gappy)
    forecaster.config = forecaster.config.with_overrides({"data.fill": "ffill"})
    with pytest.warns(UserWarning, match="filled missing"):
        assert len(forecaster.predict(gappy)) == 2 * 12  # (two targets, long format)


def test_predict_reads_a_history_with_filled_values_past_its_end(frame: pd.DataFrame) -> None:
    # the mask of filled values kept the history's length while the rows read were cut to
    # the lookback and the steps appended: a history shorter than lookback + horizon, or
    # than lookback + steps, died in a NumPy broadcast
    base = make_config(loss="quantile", quantiles=(0.1, 0.5, 0.9))
    forecaster = Forecaster(dataclasses.replace(
        base, data=dataclasses.replace(base.data, fill="ffill"))).fit(frame)
    for history, steps, paths in ((frame.iloc[:30], None, None),  # shorter than L + H
                                  (frame.iloc[:50], 30, 0), (frame.iloc[:50], 30, 20)):
        gappy = history.copy()
        gappy.loc[len(history) - 3, "a"] = np.nan
        with pytest.warns(UserWarning, match="filled"):
            out = forecaster.predict(gappy, steps=steps, paths=paths)
        pd.testing.assert_frame_equal(out, forecaster.predict(gappy.ffill(), steps=steps,
                                                              paths=paths))


def test_a_model_saved_before_min_epoch_batches_reads_as_one_pass(frame: pd.DataFrame,
                                                                  tmp_path: Path) -> None:
    # it trained one pass per epoch; read as today's default, a refit backtest would train
    # it otherwise
    import yaml

    config = dataclasses.replace(make_config(), min_epoch_batches=7)
    Forecaster(config).fit(frame).save(tmp_path / "m")
    assert Forecaster.load(tmp_path / "m").config.min_epoch_batches == 7
    saved = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    del saved["min_epoch_batches"]
    (tmp_path / "m" / "config.yaml").write_text(yaml.safe_dump(saved))
    assert Forecaster.load(tmp_path / "m").config.min_epoch_batches == 0
    assert ForecastConfig.from_dict(saved).min_epoch_batches == 100  # (a new run's default)
