"""Metrics, baselines, evaluation reports, backtests and plots."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from forecast_helpers import make_config, make_frame

from lstmkit.forecasting import Forecaster
from lstmkit.forecasting import baselines as bl
from lstmkit.forecasting import metrics as M
from lstmkit.forecasting.data import season_from_freq
from lstmkit.forecasting.evaluation import REPORT_FILES
from lstmkit.forecasting.forecaster import Prepared


def test_metrics_by_hand() -> None:
    actual = np.array([[[1.0], [2.0]], [[4.0], [-2.0]]])  # (W=2, Hz=2, C=1)
    forecast = np.array([[[2.0], [2.0]], [[2.0], [-1.0]]])
    # errors 1, 0, -2, 1
    assert M.mse(actual, forecast) == pytest.approx(6 / 4)
    assert M.mae(actual, forecast) == pytest.approx(4 / 4)
    assert M.rmse(actual, forecast) == pytest.approx(np.sqrt(1.5))
    assert M.mape(actual, forecast) == pytest.approx(100 * (1 + 0 + 0.5 + 0.5) / 4)
    assert M.smape(actual, forecast) == pytest.approx(100 * (2 / 3 + 0 + 4 / 6 + 2 / 3) / 4)
    assert M.mase(actual, forecast, np.array([2.0])) == pytest.approx(0.5)
    # an unobserved actual (NaN) is left out of every metric
    gap = actual.copy()
    gap[1, 0, 0] = np.nan  # the error -2 is left out
    assert M.mse(gap, forecast) == pytest.approx(2 / 3)
    assert M.mape(gap, forecast) == pytest.approx(100 * (1 + 0 + 0.5) / 3)
    assert M.coverage(gap, forecast - 1, forecast + 1) == pytest.approx(1.0)
    assert M.naive_scale(np.array([[1.0], [3.0], [np.nan], [6.0], [10.0]]), 1).tolist() == [
        pytest.approx((2 + 4) / 2)]  # the pairs with a value not observed are left out
    assert np.isnan(M.mae(np.full_like(actual, np.nan), forecast))
    # a NaN forecast is no perfect score; the metrics do not depend on the units' size
    assert np.isnan(M.smape(actual, np.full_like(forecast, np.nan)))
    assert M.smape(actual * 1e-13, forecast * 1e-13) == pytest.approx(M.smape(actual, forecast))
    assert M.mape(actual * 1e-13, forecast * 1e-13) == pytest.approx(M.mape(actual, forecast))
    train_tiny = np.array([[1.0], [3.0], [2.0], [6.0]]) * 1e-13
    assert M.naive_scale(train_tiny, 1)[0] == pytest.approx(7e-13 / 3)
    train = np.array([[1.0], [3.0], [2.0], [6.0]])
    assert M.naive_scale(train, 1).tolist() == [pytest.approx((2 + 1 + 4) / 3)]
    assert M.naive_scale(train, 2).tolist() == [pytest.approx((1 + 3) / 2)]
    # no pair of observed values to scale by, or a seasonal naive forecast that is exact
    # there (a constant or exactly periodic part): the scale, and so MASE, is unknown, not 1
    for unknown, season in ((train[:0], 1), (train[:1], 1),
                            (np.array([[1.0], [np.nan], [3.0]]), 1), (np.zeros((5, 1)), 1),
                            (np.full((5, 1), 3.0), 1), (np.array([[1.0], [2.0], [1.0], [2.0]]), 2),
                            # not longer than the season: it was scaled at lag 1, silently
                            (train, 4), (train, 5)):
        assert np.isnan(M.naive_scale(unknown, season)).all()
        assert np.isnan(M.mase(actual, forecast, M.naive_scale(unknown, season)))
    # the errors without a scale are left out: window 0's errors 1, 0 over its scale 2
    assert M.mase(actual, forecast, np.array([[2.0], [np.nan]])) == pytest.approx(0.25)
    q = np.stack([forecast - 1, forecast, forecast + 1], axis=-1)
    levels = (0.1, 0.5, 0.9)
    # actual inside [f-1, f+1] for errors 1, 0, 1 (boundary included), outside for -2
    assert M.coverage(actual, q[..., 0], q[..., -1]) == pytest.approx(0.75)
    diff = actual[..., None] - q
    expected = np.mean(np.maximum(np.array(levels) * diff, (np.array(levels) - 1) * diff))
    assert M.quantile_loss(actual, q, levels) == pytest.approx(expected)
    loss = M.pinball_loss(torch.tensor(q), torch.tensor(actual), levels)
    assert float(loss) == pytest.approx(expected)


def test_naive_and_seasonal_naive() -> None:
    y = np.arange(20.0)
    origins = np.array([10, 15])
    np.testing.assert_array_equal(bl.naive(y, origins, 3), [[9, 9, 9], [14, 14, 14]])
    np.testing.assert_array_equal(bl.seasonal_naive(y, origins, 5, 4),
                                  [[6, 7, 8, 9, 6], [11, 12, 13, 14, 11]])
    with pytest.raises(ValueError, match="needs 12 rows before every origin"):
        bl.seasonal_naive(y, origins, 3, 12)


@pytest.mark.parametrize("kind", ["arima", "sarima", "ets"])
def test_filtered_state_space_forecasts_match_statsmodels(kind: str) -> None:
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    rng = np.random.default_rng(0)
    y = np.cumsum(rng.standard_normal(160)) + np.sin(np.arange(160) / 2)
    origins = np.array([120, 131, 150])
    if kind == "arima":
        ours = bl.arima(y, 100, origins, 6, (1, 1, 1))
        model = SARIMAX(y[:100], order=(1, 1, 1))
    elif kind == "sarima":
        ours = bl.arima(y, 100, origins, 6, (0, 1, 1), (0, 1, 1, 4))
        model = SARIMAX(y[:100], order=(0, 1, 1), seasonal_order=(0, 1, 1, 4))
    else:
        ours = bl.ets(y, 100, origins, 6, 1)
        model = ExponentialSmoothing(y[:100], trend=True, damped_trend=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
    for row, origin in enumerate(origins):
        reference = fitted.apply(y[:origin]).forecast(6)
        np.testing.assert_allclose(ours[row], reference, rtol=1e-8, atol=1e-8)


def test_a_baseline_fitted_on_the_same_rows_is_fitted_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # an evaluate and a backtest of one model fit ETS on the same rows: a minute apiece for
    # 8,000 hourly rows
    from statsmodels.tsa.statespace.mlemodel import MLEModel

    monkeypatch.setattr(bl, "_fits", bl.OrderedDict())
    monkeypatch.setattr(bl, "FITS_KEPT", 2)
    fits = []
    fit = MLEModel.fit
    monkeypatch.setattr(MLEModel, "fit", lambda self, *a, **k: fits.append(1) or fit(
        self, *a, **k))
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.standard_normal(160))
    first = bl.ets(y, 100, np.array([120, 131]), 6, 1)
    again = bl.ets(y, 100, np.array([120, 131, 150]), 6, 1)  # (other origins: a backtest's)
    np.testing.assert_array_equal(again[:2], first)
    assert len(fits) == 1
    bl.ets(y, 101, np.array([120]), 6, 1)  # other rows, another model: fitted
    bl.arima(y, 100, np.array([120]), 6, (1, 1, 1))
    assert len(fits) == 3 and len(bl._fits) == 2  # (the oldest let go)
    bl.ets(y, 100, np.array([120]), 6, 1)
    assert len(fits) == 4


@pytest.fixture(scope="module")
def trained() -> tuple[Forecaster, pd.DataFrame]:
    from forecast_helpers import make_frame

    frame = make_frame(n=240)
    config = make_config(loss="quantile")
    config = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    return Forecaster(config).fit(frame), frame


def test_plot_leaves_the_callers_matplotlib_backend_alone(
        trained: tuple[Forecaster, pd.DataFrame], tmp_path: Path, pdf_backend: None) -> None:
    import matplotlib

    forecaster, frame = trained
    path = forecaster.evaluate(frame).plot(tmp_path / "fc.png")
    assert matplotlib.get_backend() == "pdf"  # a notebook's inline plots keep working
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plot_draws_filled_values_as_gaps(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    frame = make_frame(n=240)
    frame.loc[[220, 221], "a"] = np.nan  # in the history of the last window (origin 228)
    frame.loc[230, "b"] = np.nan  # in its horizon
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, fill="zero"))
    with pytest.warns(UserWarning, match="filled missing values"):
        forecaster = Forecaster(config).fit(frame)
    with pytest.warns(UserWarning, match="filled missing values"):
        report = forecaster.evaluate(frame, baselines=())
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *args, **kwargs: drawn.append(self))
    report.plot(tmp_path / "fc.png")
    lines = [{line.get_label(): np.asarray(line.get_ydata(), float) for line in ax.get_lines()}
             for ax in drawn[0].axes]
    history_a, history_b = lines[0]["history"], lines[1]["history"]  # rows 204-227
    assert np.isnan(history_a[[16, 17]]).all() and np.isfinite(np.delete(history_a, [16, 17])).all()
    assert np.isfinite(history_b).all()
    actual_b = lines[1]["actual"]  # rows 228-239
    assert np.isnan(actual_b[2]) and np.isfinite(np.delete(actual_b, 2)).all()
    # one series without data.series_col: titled by the target alone (it read "a (series 0)",
    # an id the data never gave)
    assert [ax.get_title() for ax in drawn[0].axes] == ["a", "b"]
    # targets past max_channels are not drawn: the first panel says so (it said nothing)
    report.plot(tmp_path / "fc.png", max_channels=1)
    assert [ax.get_title() for ax in drawn[1].axes] == ["a (the first 1 of 2 targets drawn)"]


def test_evaluate_report(trained: tuple[Forecaster, pd.DataFrame], tmp_path: Path) -> None:
    forecaster, frame = trained
    report = forecaster.evaluate(frame, baselines=("naive", "seasonal_naive", "arima"))
    assert list(report.table.index) == ["lstmkit", "naive", "seasonal_naive", "arima"]
    assert {"mse", "mae", "rmse", "mape", "smape", "mase", "quantile_loss",
            "coverage"} <= set(report.table.columns)
    # every test window: test part of 48 rows, horizon 12 -> 37 origins
    assert len(report.windows) == 37
    assert report.actual.shape == (37, 12, 2)
    # the seasonal naive of a clean 12-periodic signal is nearly exact
    assert report.table.loc["seasonal_naive", "mse"] < 0.05
    path = report.plot(tmp_path / "fc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"max_channels must be an int >= 1, got 0"):
        report.plot(tmp_path / "none.png", max_channels=0)  # matplotlib's "Number of rows"
    written = report.save(tmp_path / "out")  # (two targets: a table per target too)
    assert [p.name for p in written] == ["metrics.csv", "metrics_by_target.csv",
                                         "per_origin.csv", "metrics.json"]
    assert sorted(written) == sorted((tmp_path / "out").iterdir())
    assert {p.name for p in written} <= set(REPORT_FILES)  # (what the command line checks)
    # a report without a table of an earlier one in the folder removes it (a series no
    # longer scored stayed listed beside the new report)
    (tmp_path / "out" / "metrics_by_series.csv").write_text("series,mse\nold,1.0\n")
    one_target = dataclasses.replace(report, by_target=None)
    assert len(one_target.save(tmp_path / "out")) == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "metrics.csv", "metrics.json", "per_origin.csv"]
    # strict JSON: a baseline has no quantile loss, which is null, not NaN
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text(),
                       parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    naive = next(row for row in saved["metrics"] if row["method"] == "naive")
    assert naive["quantile_loss"] is None
    # an infinite score (a diverged model's) is null too, not a crash after metrics.csv
    report.table.loc["naive", "rmse"] = np.inf
    report.save(tmp_path / "inf")
    saved = json.loads((tmp_path / "inf" / "metrics.json").read_text())
    assert next(r for r in saved["metrics"] if r["method"] == "naive")["rmse"] is None
    assert naive["mse"] == pytest.approx(report.table.loc["naive", "mse"])


def test_per_origin_csv_writes_the_origin_times_as_the_data_wrote_them(
        trained: tuple[Forecaster, pd.DataFrame], tmp_path: Path) -> None:
    forecaster, frame = trained
    written_as = copy.copy(forecaster)  # (the fixture's stays as it is)
    dc = dataclasses.replace(forecaster.config.data, time_format="%d/%m/%Y %H:%M")
    written_as.config = dataclasses.replace(forecaster.config, data=dc)
    report = written_as.evaluate(frame.assign(date=frame["date"].dt.strftime(dc.time_format)),
                                 baselines=("naive",))
    report.save(tmp_path / "out")
    # as forecast.csv writes its times (it was ISO 8601 whatever the data's format)
    saved = pd.read_csv(tmp_path / "out" / "per_origin.csv", dtype=str)
    assert saved["origin_time"].iloc[:2].tolist() == ["09/01/2021 00:00", "09/01/2021 01:00"]
    assert saved["origin_time"].tolist() == report.per_origin["origin_time"].dt.strftime(
        dc.time_format).tolist()
    assert pd.api.types.is_datetime64_any_dtype(report.per_origin["origin_time"])  # (kept)
    # a format that drops part of the times: ISO 8601, and a warning, as forecast.csv's
    with pytest.warns(UserWarning, match=r"^times written in ISO 8601, not as "
                                         r"data.time_format='%d/%m/%Y': it writes 2021-01-09 "
                                         r"01:00:00 as '09/01/2021', which reads back as "
                                         r"2021-01-09 00:00:00"):
        dataclasses.replace(report, time_format="%d/%m/%Y").save(tmp_path / "dates")
    saved = pd.read_csv(tmp_path / "dates" / "per_origin.csv", dtype=str)
    assert saved["origin_time"].iloc[:2].tolist() == ["2021-01-09 00:00:00",
                                                      "2021-01-09 01:00:00"]


def test_several_targets_are_also_scored_one_by_one(trained: tuple[Forecaster, pd.DataFrame],
                                                   tmp_path: Path) -> None:
    # a and b have different scales: the pooled table mixes them, by_target does not
    forecaster, frame = trained
    report = forecaster.evaluate(frame, baselines=("naive",))
    by_target = report.by_target
    assert by_target is not None and by_target.index.names == ["target", "method"]
    assert list(by_target.index) == [("a", "lstmkit"), ("a", "naive"), ("b", "lstmkit"),
                                     ("b", "naive")]
    for c, name in enumerate(("a", "b")):
        for method in ("lstmkit", "naive"):
            error = report.forecasts[method][..., c] - report.actual[..., c]
            assert by_target.loc[(name, method), "mse"] == pytest.approx((error ** 2).mean())
    # every value observed, equal counts: the pooled MSE is the targets' mean
    assert report.table.loc["lstmkit", "mse"] == pytest.approx(
        by_target.xs("lstmkit", level="method")["mse"].mean())
    assert {"quantile_loss", "coverage"} <= set(by_target.columns)
    report.save(tmp_path / "out")
    saved = pd.read_csv(tmp_path / "out" / "metrics_by_target.csv", index_col=[0, 1])
    assert saved.loc[("b", "naive"), "mae"] == pytest.approx(by_target.loc[("b", "naive"), "mae"])
    rows = json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics_by_target"]
    assert [(r["target"], r["method"]) for r in rows] == list(by_target.index)
    # one target: nothing to break down
    base = make_config()
    one = Forecaster(dataclasses.replace(base, data=dataclasses.replace(
        base.data, target=("a",)))).fit(frame)
    report = one.evaluate(frame, baselines=())
    assert report.by_target is None and "metrics_by_target" not in report.to_dict()
    report.save(tmp_path / "one")
    assert not (tmp_path / "one" / "metrics_by_target.csv").exists()


def test_filled_values_are_not_scored_as_actuals() -> None:
    frame = make_frame(n=240)
    frame.loc[200:209, "a"] = np.nan  # in the test part (the last 48 rows)
    frame.loc[30:40, "b"] = np.nan  # in the training part, which scales MASE
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, fill="zero"))
    with pytest.warns(UserWarning, match="filled missing values"):
        forecaster = Forecaster(config).fit(frame)
    with pytest.warns(UserWarning, match="filled missing values"):
        report = forecaster.evaluate(frame, baselines=("naive",))
    # the zeros put in by data.fill are no actuals: they are NaN in the report, unscored
    unobserved = np.isnan(report.actual)
    assert unobserved[..., 1].sum() == 0 and unobserved[..., 0].sum() > 0
    for name in ("lstmkit", "naive"):
        errors = report.forecasts[name] - report.actual
        assert report.table.loc[name, "mse"] == pytest.approx(np.nanmean(errors ** 2))
        assert report.table.loc[name, "mae"] == pytest.approx(np.nanmean(np.abs(errors)))
        assert np.isfinite(report.table.loc[name]).all()
    assert np.isfinite(report.per_origin["mse"]).all()
    # MASE is scaled by the seasonal naive error over the observed training values only
    n_train = forecaster.prepare(frame).sizes[0][0]
    train = frame[["a", "b"]].to_numpy()[:n_train]
    season = 24  # hourly
    scale = np.array([np.nanmean(np.abs(train[season:, c] - train[:-season, c]))
                      for c in range(2)])
    errors = report.forecasts["naive"] - report.actual
    assert report.table.loc["naive", "mase"] == pytest.approx(np.nanmean(np.abs(errors) / scale))


def test_a_window_with_nothing_observed_scores_nan_without_a_runtime_warning() -> None:
    frame = make_frame(n=240)
    frame.loc[200:215, ["a", "b"]] = np.nan  # the horizons of origins 200-204 hold no actual
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, fill="zero"))
    with pytest.warns(UserWarning, match="filled missing values"):
        forecaster = Forecaster(config).fit(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = forecaster.evaluate(frame, baselines=("naive",))
        forecaster.backtest(frame, start=0.5, stride=4, baselines=("naive",))
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    empty = report.per_origin["origin"].between(200, 204)
    assert report.per_origin.loc[empty, ["mse", "mae"]].isna().all().all()
    assert np.isfinite(report.per_origin.loc[~empty, ["mse", "mae"]]).all().all()
    naive = report.per_origin["method"] == "naive"
    errors = (report.forecasts["naive"] - report.actual)[~empty[naive].to_numpy()]
    np.testing.assert_allclose(report.per_origin.loc[naive & ~empty, "mae"],
                               np.nanmean(np.abs(errors), (1, 2)))


def test_a_non_seasonal_ets_is_said_in_the_notes(trained: tuple[Forecaster, pd.DataFrame]
                                                 ) -> None:
    forecaster, frame = trained
    report = forecaster.evaluate(frame, baselines=("ets",))  # season 12: seasonal
    assert not any(note.startswith("ets:") for note in report.notes)
    yearly = copy.copy(forecaster)  # a season too long for the state-space ETS
    yearly.config = dataclasses.replace(forecaster.config, evaluation=dataclasses.replace(
        forecaster.config.evaluation, season_length=30))
    report = yearly.evaluate(frame, baselines=("ets",))
    assert any(note.startswith("ets: non-seasonal") and "season_length is 30" in note
               for note in report.notes)


def test_ets_and_arima_show_their_fits_progress(trained: tuple[Forecaster, pd.DataFrame],
                                                capfd: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # one fit per series and target: thousands of series fitted minutes without a word
    forecaster, frame = trained  # two targets
    shown = copy.copy(forecaster)
    shown.config = dataclasses.replace(forecaster.config, training=forecaster.config.training
                                       .replace(progress_bar=True))
    quiet = forecaster.evaluate(frame, baselines=("naive", "ets", "arima"))
    assert " baseline:" not in capfd.readouterr().err
    monkeypatch.setattr(bl, "_fits", bl.OrderedDict())  # (fitted again, not looked up)
    report = shown.evaluate(frame, baselines=("naive", "ets", "arima"))
    err = capfd.readouterr().err
    assert "ets baseline" in err and "2/2" in err and "arima baseline" in err
    assert "naive baseline" not in err
    pd.testing.assert_frame_equal(report.table, quiet.table)


def test_backtest_reuse_and_refit(trained: tuple[Forecaster, pd.DataFrame]) -> None:
    forecaster, frame = trained
    # the test part starts at row 192: windows from row 120 on reach back into training
    with pytest.warns(UserWarning, match=r"6 of 10 windows forecast targets the model was "
                                         r"trained or validated on \(the series to "
                                         r"2021-01-08 23:00:00\), so their scores are "
                                         r"in-sample"):
        report = forecaster.backtest(frame, start=0.5, stride=12, baselines=("naive",))
    assert any("in-sample" in note for note in report.notes)
    # origins 120, 132, ..., 228 (the last full horizon ends at row 240)
    assert report.windows["origin"].tolist() == list(range(120, 229, 12))
    # counted from start: with a stride that does not divide the span, start is an origin
    with pytest.warns(UserWarning, match="in-sample"):
        uneven = forecaster.backtest(frame, start=121, stride=14, baselines=())
    assert uneven.windows["origin"].tolist() == list(range(121, 229, 14))
    with pytest.warns(UserWarning, match="in-sample"):
        assert forecaster.backtest(frame, start=np.int64(121), stride=14, baselines=()
                                   ).windows["origin"].tolist() == list(range(121, 229, 14))
    # a fraction as written in decimal, as data.val and data.test take one: 0.5125 of 240
    # rows is 123, where float arithmetic gives 122.99999999999999
    # (a float32 fraction, as np.float64's, was refused as no row, fraction or date)
    for fraction in (0.5125, np.float32(0.5125)):
        with pytest.warns(UserWarning, match="in-sample"):
            assert forecaster.backtest(frame, start=fraction, stride=14, baselines=()
                                       ).windows["origin"].tolist()[0] == 123
    assert set(report.per_origin["method"]) == {"lstmkit", "naive"}
    refit = forecaster.backtest(frame, start=0.5, stride=12, refit=True, folds=2,
                                baselines=())
    assert refit.windows["origin"].tolist() == report.windows["origin"].tolist()
    # a refitted model differs from the reused one
    assert not np.allclose(refit.forecasts["lstmkit"], report.forecasts["lstmkit"])
    # it trains from the configuration, so an untrained forecaster gives the same report (it
    # trained every fold and then failed on its own missing scalers; then it scored with a
    # season of 1, not knowing the frequency), with a date validation split too
    dated = dataclasses.replace(forecaster.config, data=dataclasses.replace(
        forecaster.config.data, val="2021-01-08", test=0))
    for config in (forecaster.config, dated):
        trained_model = (forecaster if config is forecaster.config
                         else Forecaster(config).fit(frame))
        fresh, again = (model.backtest(frame, start=0.5, stride=12, refit=True, folds=2,
                                       baselines=("seasonal_naive",))
                        for model in (Forecaster(config), trained_model))
        pd.testing.assert_frame_equal(fresh.table, again.table)
        np.testing.assert_array_equal(fresh.forecasts["lstmkit"], again.forecasts["lstmkit"])
    with pytest.raises(ValueError, match=r"folds \(--folds\) must be an int >= 1"):
        forecaster.backtest(frame, refit=True, folds=0)
    # more folds than origins: the folds formed are said
    with pytest.warns(UserWarning, match=r"folds=5 asked, 2 formed: a fold needs forecast "
                                         r"origins of its own"):
        few = forecaster.backtest(frame, start=0.8, stride=24, refit=True, folds=5,
                                  baselines=())
    assert len(few.windows) == 2 and any("2 formed" in note for note in few.notes)
    # digits alone are a row: a date typed without dashes is past every series' end
    with pytest.raises(ValueError, match=r"start \(--start\) 20210109 is a row, past the end "
                                         r"of every "
                                         r"series \(the longest has 240 rows\); a date is "
                                         r"written with dashes"):
        forecaster.backtest(frame, start=20210109)


@pytest.mark.parametrize("progress", [True, False])
def test_a_refit_backtest_says_which_fold_it_trains_when_progress_is_shown(
        trained: tuple[Forecaster, pd.DataFrame], progress: bool,
        capsys: pytest.CaptureFixture[str]) -> None:
    forecaster, frame = trained
    shown = copy.copy(forecaster)
    shown.config = dataclasses.replace(forecaster.config, training=(
        forecaster.config.training.replace(progress_bar=progress)))
    shown.backtest(frame, start=0.8, stride=12, refit=True, folds=2, baselines=())
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("backtest refit: fold")]
    assert said == ([f"backtest refit: fold {k} of 2, 2 windows" for k in (1, 2)]
                    if progress else [])


def test_evaluate_takes_the_table_as_prepared(trained: tuple[Forecaster, pd.DataFrame]) -> None:
    # 'forecast run' reads its table once: trains on it and scores it as prepared
    forecaster, frame = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the narrow-interval warning of the short training
        from_frame = forecaster.evaluate(frame, baselines=("naive",))
        from_prepared = forecaster.evaluate(forecaster.prepare(frame), baselines=("naive",))
    pd.testing.assert_frame_equal(from_prepared.table, from_frame.table)
    pd.testing.assert_frame_equal(from_prepared.windows, from_frame.windows)


def test_refit_backtest_fits_the_baselines_on_each_folds_past(
        trained: tuple[Forecaster, pd.DataFrame]) -> None:
    forecaster, frame = trained
    report = forecaster.backtest(frame, start=0.5, stride=12, refit=True, folds=2,
                                 baselines=("arima",))
    y = forecaster.prepare(frame).series[0].target
    origins = report.windows["origin"].to_numpy()  # 120, 132, ..., 228
    for first, at in ((120, origins[:5]), (180, origins[5:])):  # the two folds
        assert at[0] == first
        # as the fold's model, on the rows before the cut less the 48 the refit validates on
        # (data.val=0.2 of 240 rows)
        expected = np.stack([bl.arima(y[:, c], first - 48, at, 12, (1, 1, 1))
                             for c in range(2)], axis=-1)
        np.testing.assert_allclose(report.forecasts["arima"][origins >= first][:len(at)],
                                   expected, rtol=1e-8)
    # reusing the trained model, the baselines are fitted on its training part (154 rows)
    with pytest.warns(UserWarning, match="in-sample"):
        reused = forecaster.backtest(frame, start=0.5, stride=12, baselines=("arima",))
    assert not np.allclose(reused.forecasts["arima"][:5], report.forecasts["arima"][:5])
    for stride in (0, -7, 2.5):
        with pytest.raises(ValueError, match=rf"stride \(--stride\) must be an int >= 1 "
                                             rf".* got {stride}"):
            forecaster.backtest(frame, stride=stride)
    # one fold from row 36: its 36 rows hold the 48 of the validation part (data.val=0.2 of
    # 240 rows) and no training window, so no window can be scored: said before training
    with pytest.raises(ValueError, match=r"^no window of the refit backtest can be scored: .* "
                                         r"lookback \(24\) \+ horizon \(12\) = 36 rows there "
                                         r"besides the validation rows the refit keeps "
                                         r"\(data.val=0.2\); move start later"):
        forecaster.backtest(frame, start=36, refit=True, folds=1, baselines=())


def test_a_refit_backtest_without_windows_says_so_before_training(
        trained: tuple[Forecaster, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    forecaster, frame = trained

    def no_fit(self: Forecaster, data: pd.DataFrame, **kwargs: Any) -> Forecaster:
        raise AssertionError("a fold was trained")

    monkeypatch.setattr(Forecaster, "fit", no_fit)
    message = (r"no forecast windows to score: every window needs lookback \(24\) rows "
               r"before its origin and horizon \(12\) rows after it .* move start earlier")
    # the last 3 rows (from row 237, or from a date that late) hold no horizon of 12
    for start in (0.99, 237, "2021-01-10 21:00"):
        with pytest.raises(ValueError, match=message):
            forecaster.backtest(frame, start=start, refit=True, folds=2, baselines=())
    # without a time column the folds are cut row by row: the same message
    config = make_config()
    rows = Forecaster(dataclasses.replace(config, data=dataclasses.replace(
        config.data, time_col=None)))
    with pytest.raises(ValueError, match=message):
        rows.backtest(frame.drop(columns="date"), start=0.99, refit=True, folds=2,
                      baselines=())
    # the only fold is cut at row 24: the series has fewer rows than a window before it
    for data, model in ((frame, forecaster), (frame.drop(columns="date"), rows)):
        with pytest.raises(ValueError, match=r"no window of the refit backtest can be scored: "
                                             r"each fold's model .* = 36 rows there"):
            model.backtest(data, start=24, refit=True, folds=1, baselines=())


def test_a_refit_backtest_scores_no_window_whose_series_starts_after_its_folds_cut() -> None:
    # b starts 10 hours after the first fold's cut (hour 120): that fold's model, ETS, ARIMA
    # and MASE's scale would have no row of b to learn from; the second fold's cut (hour
    # 216) leaves b 86 rows, more than a window's 36
    a = make_frame(240).assign(sid="a")
    b = make_frame(240, seed=1).assign(sid="b", date=lambda f: f["date"] + pd.Timedelta("130h"))
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val="2021-01-08 02:00", test="2021-01-09 08:00"))
    forecaster = Forecaster(config).fit(frame)
    with pytest.warns(UserWarning, match=r"^6 of 28 windows \(of series 'b'\) are not scored: "
                                         r"each fold's model and baselines learn from the rows "
                                         r"before the fold's first origin .* only when its "
                                         r"series has lookback \(24\) \+ horizon \(12\) = 36 "
                                         r"rows there besides the validation rows the refit "
                                         r"keeps \(data.val='2021-01-08 02:00'\); move start "
                                         r"later, or use more folds"):
        report = forecaster.backtest(frame, start="2021-01-06 00:00", stride=12, refit=True,
                                     folds=2, baselines=("naive", "ets", "arima"))
    assert any(note.startswith("6 of 28 windows") for note in report.notes)
    scored_b = report.windows[report.windows["series"] == "b"]
    assert scored_b["origin_time"].min() == pd.Timestamp("2021-01-10 10:00")  # fold 2's
    assert len(report.windows) == 22
    assert np.isfinite(report.table.loc[:, ["mse", "mase"]].to_numpy()).all()
    # the baselines of b's windows are fitted on its 86 rows before the second fold's cut,
    # less the 30 the refit validates on (data.val's 30 hours before the test date, moved
    # with the cut)
    y = forecaster.prepare(frame).series[1].target
    at = scored_b["origin"].to_numpy()
    expected = np.stack([bl.arima(y[:, c], 56, at, 12, (1, 1, 1)) for c in range(2)], axis=-1)
    np.testing.assert_allclose(report.forecasts["arima"][report.windows["series"] == "b"],
                               expected, rtol=1e-8)
    with pytest.raises(ValueError, match=r"arima is fitted on the first n_train rows of the "
                                         r"series, and n_train=0 gives none"):
        bl.arima(y[:, 0], 0, at, 12, (1, 1, 1))


def test_a_refit_counts_a_series_rows_on_the_filled_time_grid() -> None:
    # 20 timestamps missing early on, filled by data.fill: before the cut at row 96 the
    # series has 96 rows on its hourly grid (48 besides the 48 the refit validates on, more
    # than a window's 36) but only 76 in the file; the refit trains on it as the scoring
    # counts it (counting the file's rows, it dropped the series and failed)
    frame = make_frame(240).drop(index=range(10, 30))
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, fill="ffill"))
    with pytest.warns(UserWarning, match="filled missing values"):
        forecaster = Forecaster(config).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fill's, again
        report = forecaster.backtest(frame, start=96, stride=12, refit=True, folds=1,
                                     baselines=())
    assert report.windows["origin"].tolist() == list(range(96, 229, 12))
    # a gap that runs up to the cut is not filled in the refit's table (no later row is in
    # it): b's rows there end at the gap, too few for a window besides its validation rows,
    # so the refit leaves b out and so does the scoring (the refit counted them as filled,
    # kept b and failed on its short table)
    a = make_frame(240).assign(sid="a")
    b = make_frame(240, seed=1).assign(sid="b").drop(index=range(40, 96))
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", fill="ffill"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fill's
        forecaster = Forecaster(config).fit(pd.concat([a, b], ignore_index=True))
    with pytest.warns(UserWarning, match=r"^12 of 24 windows \(of series 'b'\) are not "
                                         r"scored"):
        report = forecaster.backtest(pd.concat([a, b], ignore_index=True), start=96,
                                     stride=12, refit=True, folds=1, baselines=())
    assert set(report.windows["series"]) == {"a"}
    # with a date data.val, moved with the cut to row 72: b's rows in the refit's table end
    # at row 80, 8 validation rows, too few for a window, so b trains on its 72 rows before
    # the moved date, without validation (they were counted to the cut, and the refit failed
    # on b's 8-row validation part)
    b = make_frame(240, seed=1).assign(sid="b").drop(index=range(80, 110))
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, val="2021-01-08 00:00", test="2021-01-09 00:00"))
    frame = pd.concat([a, b], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fill's
        forecaster = Forecaster(config).fit(frame)
        report = forecaster.backtest(frame, start=96, stride=12, refit=True, folds=1,
                                     baselines=("arima",))
    assert set(report.windows["series"]) == {"a", "b"}
    # b's baselines are fitted on the rows its refit trains on: the 72 before the moved date
    y = forecaster.prepare(frame).series[1].target
    at = report.windows.loc[report.windows["series"] == "b", "origin"].to_numpy()
    expected = np.stack([bl.arima(y[:, c], 72, at, 12, (1, 1, 1)) for c in range(2)], axis=-1)
    np.testing.assert_allclose(report.forecasts["arima"][report.windows["series"] == "b"],
                               expected, rtol=1e-8)


def test_evaluate_says_which_series_have_no_test_window() -> None:
    # B ends before the test date (and the validation date): it trains, but has no test rows
    a = make_frame(240).assign(sid="A")
    b = make_frame(150, seed=1).assign(sid="B")
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val="2021-01-08 00:00", test="2021-01-09 00:00"))
    forecaster = Forecaster(config).fit(frame)
    with pytest.warns(UserWarning, match=r"^series 'B' has no test window and is not scored: "
                                         r"a window needs horizon \(12\) rows in the test "
                                         r"part \(data.test='2021-01-09 00:00'\) and lookback "
                                         r"\(24\) rows before its origin$"):
        report = forecaster.evaluate(frame, baselines=("naive",))
    assert set(report.windows["series"]) == {"A"}
    assert any(note.startswith("series 'B' has no test window") for note in report.notes)
    # every series scored: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = forecaster.evaluate(a, baselines=("naive",))
    assert not any("window" in note for note in report.notes)
    # B and C too short for a test window of the fraction split (6 rows < horizon 12)
    rows = copy.copy(forecaster)
    rows.config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, val=0.2, test=0.2))
    short = pd.concat([a, b.head(30), make_frame(30, seed=2).assign(sid="C")],
                      ignore_index=True)
    with pytest.warns(UserWarning, match=r"^series 'B', 'C' have no test window and are not "
                                         r"scored: .*\(data.test=0.2\)"):
        report = rows.evaluate(short, baselines=())
    assert set(report.windows["series"]) == {"A"}
    with pytest.warns(UserWarning, match=r"^series 'B', 'C' have no validation window and "
                                         r"are not scored: .* in the validation part "
                                         r"\(data.val=0.2\)"):
        rows.evaluate(short, split="val", baselines=())
    # a backtest from a date after B's end: B is named there too, reused or refitted
    for refit in (False, True):
        with pytest.warns(UserWarning, match=r"^series 'B' has no window from start and is "
                                             r"not scored: a window needs lookback \(24\) "
                                             r"rows before its origin and horizon \(12\) rows "
                                             r"after it, from start \(--start\) "
                                             r"'2021-01-09 00:00'"):
            report = forecaster.backtest(frame, start="2021-01-09 00:00", refit=refit,
                                         folds=1 if refit else None, baselines=("naive",))
        assert set(report.windows["series"]) == {"A"}


def test_a_season_of_1_for_want_of_a_time_column_is_said() -> None:
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, time_col=None))
    frame = make_frame(n=240).drop(columns="date")
    forecaster = Forecaster(config).fit(frame)
    said = (r"season: 1, as the data have no time column \(data.time_col\) to take a "
            r"frequency from: seasonal naive is the naive forecast, .* set "
            r"evaluation.season_length to the season in steps")
    with pytest.warns(UserWarning, match=said):
        report = forecaster.evaluate(frame, baselines=("naive", "seasonal_naive"))
    assert any(note.startswith("season: 1, as the data have no time column")
               for note in report.notes)
    np.testing.assert_array_equal(report.forecasts["seasonal_naive"], report.forecasts["naive"])
    with pytest.warns(UserWarning, match=said):
        forecaster.backtest(frame, start=0.8, baselines=())
    # a season set by the user, 1 included, is no news
    for season in (12, 1):
        forecaster.config = dataclasses.replace(config, evaluation=dataclasses.replace(
            config.evaluation, season_length=season))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = forecaster.evaluate(frame, baselines=("naive", "seasonal_naive"))
        assert not [w for w in caught if "season" in str(w.message)]
        assert not any(note.startswith("season") for note in report.notes)
    # the frequency of a time column gives the season: no note
    assert not any(note.startswith("season") for note in Forecaster(base).fit(
        make_frame(n=240)).evaluate(make_frame(n=240), baselines=()).notes)
    # ... unless its steps fill no season (every other day), or it is yearly (1 is right)
    every_other_day = make_frame(n=240, freq="2D")
    with pytest.warns(UserWarning, match=r"season: 1, as whole steps of the frequency '2D' "
                                         r"fill no season"):
        Forecaster(base).fit(every_other_day).evaluate(every_other_day, baselines=())
    yearly = make_frame(n=240, freq="YS")
    assert not any(note.startswith("season") for note in Forecaster(base).fit(
        yearly).evaluate(yearly, baselines=()).notes)


def test_evaluate_without_test_windows(trained: tuple[Forecaster, pd.DataFrame]) -> None:
    forecaster, frame = trained
    config = forecaster.config
    forecaster.config = dataclasses.replace(config, data=dataclasses.replace(config.data,
                                                                             test=5))
    try:
        with pytest.raises(ValueError, match=r"the test part has no window: it needs at "
                                             r"least horizon \(12\) rows \(data.test=5\)"):
            forecaster.evaluate(frame)
    finally:
        forecaster.config = config


def test_evaluate_says_when_a_split_date_lies_after_the_data() -> None:
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, val="2021-01-08 00:00", test="2021-01-09 00:00"))
    frame = make_frame(240)
    forecaster = Forecaster(config).fit(frame)
    earlier = frame.head(150)  # to 2021-01-07 05:00, before both dates
    for split in ("test", "val"):
        with pytest.raises(ValueError, match=rf"^the {split} part has no window: data.{split}="
                                             r"'2021-01-0\d 00:00' starts after the last row of "
                                             r"every series \(the latest at 2021-01-07 "
                                             r"05:00:00\); evaluate a table that runs past that "
                                             r"date, or backtest this one from a date in it"):
            forecaster.evaluate(earlier, split=split)


def test_tuning_searches_the_space(tmp_path: Path) -> None:
    from forecast_helpers import make_frame

    from lstmkit.forecasting.tuning import tune_forecaster
    from lstmkit.training.tuning import check_space

    frame = make_frame(n=200)
    space = {"training.lr": ("log", 1e-3, 1e-2), "model.decoder": ("choice", ["pmf", "direct"])}
    best, study = tune_forecaster(make_config(), frame, space, n_trials=2, seed=0)
    assert len(study.trials) == 2
    assert best.training.lr == study.best_params["training.lr"]
    assert best.model.decoder == study.best_params["model.decoder"]
    assert study.best_value == min(t.value for t in study.trials)
    # from a CSV, ids such as 007 stay text, as in training: 007 and 7 are two series
    two = pd.concat([make_frame(n=200).assign(shop="007"), make_frame(n=200).assign(shop="7")])
    two.to_csv(tmp_path / "two.csv", index=False)
    config = make_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, series_col="shop"))
    _, study = tune_forecaster(config, str(tmp_path / "two.csv"), {"training.lr": (
        "log", 1e-3, 1e-2)}, n_trials=1, seed=0)
    assert study.trials[0].state.name == "COMPLETE"
    # a loss in other units (pinball against squared error) or other windows is no score to
    # compare: the quantile trial won by its smaller scale
    for key, entry in (("model.loss", ("choice", ["mse", "quantile"])),
                       ("data.val", ("float", 0.1, 0.3)), ("model.horizon", ("int", 6, 12))):
        with pytest.raises(ValueError, match=rf"the search space varies {key}, which changes "
                                             r"what a trial's score, the validation loss"):
            tune_forecaster(make_config(), frame, {key: entry}, n_trials=1)
    # a kind the key does not take: every trial failed with it, found after training them
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a trial trained")

    import lstmkit.forecasting.tuning as forecast_tuning

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(forecast_tuning, "Forecaster", no_training)
        with pytest.raises(TypeError, match=r"the search space's model.hidden_size draws 16.0, "
                                            r"a kind of value the configuration refuses: "
                                            r"model.hidden_size must be an int"):
            tune_forecaster(make_config(), frame, {"model.hidden_size": ("float", 16, 64)},
                            n_trials=1)
        with pytest.raises(TypeError, match=r"the search space's model.lstm.peephole draws "
                                            r"'yes'"):
            tune_forecaster(make_config(), frame,
                            {"model.lstm.peephole": ("choice", [False, "yes"])}, n_trials=1)
        # (these two said a wrong kind with a ValueError, which the check lets pass)
        for key, entry, drawn in (("model.dropout", ("choice", [0.1, "0.2"]), "'0.2'"),
                                  ("model.future_context", ("float", 0.0, 2.0), "0.0")):
            with pytest.raises(TypeError, match=rf"the search space's {key} draws {drawn}"):
                tune_forecaster(make_config(), frame, {key: entry}, n_trials=1)
    with pytest.raises(ValueError, match=r"model.dropout must be in \[0, 1\), got 1.5"):
        make_config(dropout=1.5)  # (a value out of range stays a ValueError)
    with pytest.raises(ValueError, match=r"space\['lr'\] must start with one of"):
        check_space({"lr": ("uniform", 0.1, 1.0)})
    with pytest.raises(ValueError, match=r"low must be > 0"):
        check_space({"lr": ("log", 0.0, 1.0)})


def test_tuning_an_ensemble_prunes_on_its_first_member_and_scores_its_mean() -> None:
    from lstmkit.forecasting.tuning import tune_forecaster

    base = make_config(ensemble=2)
    config = dataclasses.replace(base, training=base.training.replace(max_epochs=2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, study = tune_forecaster(config, make_frame(n=200),
                                   {"training.lr": ("log", 1e-3, 1e-2)}, n_trials=2, seed=0)
    # one report per epoch of the first member; later members reported the same steps again
    assert not [w for w in caught if "already reported" in str(w.message)]
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)
    assert all(t.value not in t.intermediate_values.values() for t in study.trials)


def test_refit_cuts_every_series_at_the_folds_date_and_moves_a_date_val(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # series b starts 60 hours after a and ends 60 hours later: cut row by row, a fold's
    # model would train on b's rows dated after forecasts it is scored on in a
    a = make_frame(240).assign(sid="a")
    b = make_frame(240, seed=1).assign(sid="b", date=lambda f: f["date"] + pd.Timedelta("60h"))
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val="2021-01-08 00:00", test="2021-01-09 12:00"))
    forecaster = Forecaster(config).fit(frame)
    series = forecaster.prepare(frame).series
    trained: dict[int, tuple[pd.Timestamp, object, tuple[int, ...]]] = {}
    scored: dict[int, pd.Timestamp] = {}
    fit, predict_windows = Forecaster.fit, Forecaster.predict_windows

    def fit_spy(self: Forecaster, data: Prepared) -> Forecaster:
        trained[id(self)] = (max(s.time[-1] for s in data.series), self.config.data.val,
                             tuple(n_train for n_train, _, _ in data.sizes))
        return fit(self, data)

    def predict_spy(self: Forecaster, windows: Any) -> np.ndarray:
        if id(self) in trained:
            scored[id(self)] = min(series[int(i)].time[int(o)] for i, o in
                                   zip(windows.series_index, windows.local_origin, strict=True))
        return predict_windows(self, windows)

    monkeypatch.setattr(Forecaster, "fit", fit_spy)
    monkeypatch.setattr(Forecaster, "predict_windows", predict_spy)
    forecaster.backtest(frame, start="2021-01-09 12:00", stride=12, refit=True, folds=2,
                        baselines=())
    assert len(trained) == len(scored) == 2
    # every fold's model was trained only on dates before the first origin it forecasts
    for key, (end, val, _) in trained.items():
        assert end < scored[key]
        # the validation date moves with the cut (36 hours before it), so training grows
        assert end + pd.Timedelta("1h") - pd.Timestamp(val) == pd.Timedelta("36h")
    (_, _, train0), (_, _, train1) = trained.values()
    assert all(t1 > t0 for t0, t1 in zip(train0, train1, strict=True))


def test_a_refit_keeps_the_validation_rows_a_fraction_gave_each_series(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # data.val=0.1 gives a 24 and b 12 validation rows; of the refit's 192 and 72 rows before
    # the test date it would give 19 and 7, fewer than a horizon (12): the refit failed
    a = make_frame(240).assign(sid="a")
    b = make_frame(120, seed=1).assign(sid="b", date=lambda f: f["date"] + pd.Timedelta("120h"))
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val=0.1, test="2021-01-09 00:00"))
    frame = pd.concat([a, b], ignore_index=True)
    forecaster = Forecaster(config).fit(frame)
    assert forecaster.prepare(frame).sizes == [(168, 24, 48), (60, 12, 48)]
    sizes = []
    check_lengths = Forecaster._check_lengths

    def spy(self: Forecaster, prepared: Any) -> Any:
        sizes.append(prepared.sizes)
        return check_lengths(self, prepared)

    monkeypatch.setattr(Forecaster, "_check_lengths", spy)
    report = forecaster.backtest(frame, refit=True, folds=1, baselines=())
    assert sizes == [[(168, 24, 0), (60, 12, 0)]]
    assert set(report.windows["series"]) == {"a", "b"}


def test_refit_with_a_date_val_takes_series_that_end_before_the_cut() -> None:
    # b ends 40 hours before a; the validation date moved with the second fold's cut
    # (2021-01-09 18:00, 12 hours before it) leaves b 2 rows of that period, fewer than a
    # horizon: b trains on the rows before it
    a = make_frame(240).assign(sid="a")
    b = make_frame(200, seed=1).assign(sid="b")
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config(lookback=24, horizon=12)
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val="2021-01-08 00:00", test="2021-01-08 12:00"))
    forecaster = Forecaster(config).fit(frame)
    report = forecaster.backtest(frame, start="2021-01-08 12:00", stride=6, refit=True,
                                 folds=2, baselines=())
    assert np.isfinite(report.table.loc["lstmkit", "mse"])


def test_refit_moves_a_date_val_by_the_series_that_had_a_validation_part(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # ragged series, a date val and a fraction test: the validation parts end at each series'
    # own test start; moving the date by the latest of them took every training row of a
    from lstmkit.forecasting import evaluation

    a = make_frame(240).assign(sid="a")  # ends 2021-01-10 23:00
    b = make_frame(480, seed=1).assign(sid="b")  # ends 2021-01-20 23:00
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="sid", val="2021-01-07 00:00", test=0.2))
    forecaster = Forecaster(config).fit(frame)
    moved = []
    refit_val = evaluation._refit_val
    monkeypatch.setattr(evaluation, "_refit_val",
                        lambda *args: moved.append(refit_val(*args)) or moved[-1])
    report = forecaster.backtest(frame, refit=True, folds=2, baselines=())
    assert len(report.windows) == 12
    # a's test part starts 2021-01-09 00:00, the first fold's cut: the date stays
    assert moved[0] == "2021-01-07T00:00:00"


def test_predict_and_refit_read_times_as_the_data_config_says() -> None:
    # day-first text dates and local time across a daylight-saving change: predict's checks
    # and the refit's cuts parse the time column as to_series does
    frame = make_frame(240)
    local = pd.date_range("2021-03-20", periods=240, freq="h", tz="Europe/Paris")
    for times, time_format in ((frame["date"].dt.strftime("%d/%m/%Y %H:%M"), "%d/%m/%Y %H:%M"),
                               (pd.Series(local.astype(str)), None)):
        base = make_config()
        config = dataclasses.replace(base, data=dataclasses.replace(
            base.data, time_format=time_format))
        data = frame.assign(date=times.to_numpy())
        forecaster = Forecaster(config).fit(data)
        assert len(forecaster.predict(data)) == 2 * 12
        report = forecaster.backtest(data, start=0.8, stride=12, refit=True, folds=2,
                                     baselines=())
        assert len(report.windows) == 4


def test_the_ets_note_counts_the_fits_that_are_non_seasonal(
        trained: tuple[Forecaster, pd.DataFrame]) -> None:
    from lstmkit.forecasting.evaluation import score

    forecaster, frame = trained
    prepared = forecaster.prepare(frame)
    # as in a refit backtest: an early fold fitted on 22 rows (under two seasons of 12, so
    # non-seasonal), a later one on 150 (seasonal)
    report = score(forecaster, prepared, [np.array([30, 150])], ("ets",),
                   fit_rows=[np.array([22, 150])])
    notes = [note for note in report.notes if note.startswith("ets:")]
    assert len(notes) == 1
    assert notes[0].startswith("ets: non-seasonal (damped trend) in 1 of its 2 fits: ")


def test_evaluate_without_the_lookback_before_the_test_part_says_so() -> None:
    frame = make_frame(n=120)
    forecaster = Forecaster(make_config(lookback=24, horizon=4)).fit(frame)
    report = forecaster.evaluate(frame.tail(40))  # test rows 32-39, lookback from row 8
    assert len(report.windows) == 5
    # the last 27 rows: the 5 test rows hold a horizon, but only 22 rows come before them
    with pytest.raises(ValueError, match=r"the test part has no window: each needs lookback "
                                         r"\(24\) rows before its origin, and the test part "
                                         r"starts at row 22 \(data.test=0.2\); give the data "
                                         r"from further back"):
        forecaster.evaluate(frame.tail(27))


def test_intervals_far_narrower_than_nominal_are_said() -> None:
    # after a short training the quantiles are still close together: coverage 1% against a
    # nominal 80%, shown only in the coverage column
    from forecast_helpers import make_frame

    base = make_config(loss="quantile")
    brief = dataclasses.replace(base, training=base.training.replace(max_epochs=1))
    frame = make_frame()
    forecaster = Forecaster(brief).fit(frame)
    with pytest.warns(UserWarning, match=r"lstmkit: its \[q0.1, q0.9\] interval held \d+% of "
                                         r"the actuals against a nominal 80%: far too narrow"):
        report = forecaster.evaluate(frame, baselines=())
    assert report.table.loc["lstmkit", "coverage"] < 0.4
    assert any("far too narrow" in note for note in report.notes)
    calibrated = dataclasses.replace(brief, model=dataclasses.replace(brief.model,
                                                                      conformal=True))
    report = Forecaster(calibrated).fit(frame).evaluate(frame, baselines=())
    assert report.table.loc["lstmkit", "coverage"] >= 0.4
    assert not any("far too narrow" in note for note in report.notes)


def test_a_seasonal_arima_baseline_is_set_by_its_seasonal_order() -> None:
    from forecast_helpers import make_frame

    from lstmkit.forecasting import EvalConfig

    frame = make_frame(n=120)  # hourly, a season of 12 steps
    base = make_config()
    config = dataclasses.replace(base, training=base.training.replace(max_epochs=1),
                                 data=dataclasses.replace(base.data, target=("a",)),
                                 evaluation=EvalConfig(baselines=("arima",), season_length=12,
                                                       arima_seasonal_order=[0, 1, 1]))
    forecaster = Forecaster(config).fit(frame)
    seasonal = forecaster.evaluate(frame)
    flat = dataclasses.replace(config, evaluation=dataclasses.replace(
        config.evaluation, arima_seasonal_order=None))
    forecaster.config = flat
    non_seasonal = forecaster.evaluate(frame)
    # the series is a 12-step sine: the seasonal model forecasts it far better
    assert seasonal.table.loc["arima", "mse"] < 0.5 * non_seasonal.table.loc["arima", "mse"]
    forecaster.config = dataclasses.replace(config, evaluation=dataclasses.replace(
        config.evaluation, season_length=1))
    report = forecaster.evaluate(frame)
    assert any("arima: non-seasonal: evaluation.arima_seasonal_order=[0, 1, 1] needs a season"
               in note for note in report.notes)
    for bad in ([0, 1], [0, -1, 1], "011", [0, 1.0, 1]):
        with pytest.raises(ValueError, match=r"evaluation.arima_seasonal_order must be three "
                                             r"ints >= 0 \(or null\), got"):
            EvalConfig(arima_seasonal_order=bad)  # type: ignore[arg-type]


def test_a_refit_scores_no_window_of_a_series_it_did_not_train_on() -> None:
    # 'late' has 60 rows before the cut, a window's 36, but 32 besides the 28 validation rows
    # the refit keeps: the refit left it out of training and still scored its windows
    from forecast_helpers import make_frame

    long = make_frame(240).assign(id="long")
    late = make_frame(140, seed=1).assign(id="late")
    late["date"] = late["date"] + pd.Timedelta(hours=100)
    frame = pd.concat([long, late], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="id"),
                                 training=base.training.replace(max_epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecaster = Forecaster(config).fit(frame)
    with pytest.warns(UserWarning, match=r"6 of 12 windows \(of series 'late'\) are not scored: "
                                         r".* besides the validation rows the refit keeps"):
        report = forecaster.backtest(frame, start="2021-01-07 16:00", refit=True, folds=1,
                                     baselines=("naive",))
    assert set(report.windows["series"]) == {"long"}


def test_evaluate_and_backtest_check_their_arguments_first(
        trained: tuple[Forecaster, pd.DataFrame]) -> None:
    forecaster, frame = trained
    # an unfitted forecaster: it was a bare AssertionError
    for run in (Forecaster(make_config()).evaluate, Forecaster(make_config()).backtest):
        with pytest.raises(RuntimeError, match=r"not fitted: call fit\(\) or load\(\) first"):
            run(frame)  # (a refit backtest trains its own: see the refit tests)
    # a str was read one letter at a time ('n: not scored'), an unknown name became a note
    report = forecaster.evaluate(frame, baselines="naive")
    assert list(report.table.index) == ["lstmkit", "naive"]
    for run in (forecaster.evaluate, forecaster.backtest):
        with pytest.raises(ValueError, match=r"baselines must be a list of names from "
                                             r"\['naive', 'seasonal_naive', 'ets', 'arima'\] "
                                             r".*got \['prophet'\]"):
            run(frame, baselines=["prophet"])
    # folds without refit were ignored
    with pytest.raises(ValueError, match=r"folds \(--folds\) applies to a refit backtest, got "
                                         r"folds=2 with refit=False"):
        forecaster.backtest(frame, folds=2)


def test_evaluate_warns_when_another_tables_test_part_was_trained_on(
        trained: tuple[Forecaster, pd.DataFrame], tmp_path: Path) -> None:
    # a shorter table split by fraction: its test part lies in the model's training and
    # validation rows, which were scored without a word
    forecaster, frame = trained
    assert forecaster.seen_until == {"0": str(frame["date"][191].isoformat())}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forecaster.evaluate(frame, baselines=())  # the table it was trained on
    assert not [w for w in caught if "in-sample" in str(w.message)]
    shorter = frame.head(200)  # test part: rows 160 to 199, the model read to row 191
    with pytest.warns(UserWarning, match=r"^\d+ of \d+ test windows forecast targets the model "
                                         r"was trained or validated on \(the series to "
                                         r"2021-01-08 23:00:00\): this table's test part "
                                         r"\(data.test=0.2\) is not the one the model held "
                                         r"out, so those scores are in-sample") as caught:
        report = forecaster.evaluate(shorter, baselines=())
    assert [w.filename for w in caught if "in-sample" in str(w.message)] == [__file__]
    assert any("in-sample" in note for note in report.notes)
    # saved and loaded with the model; a backtest of the shorter table counts by it too
    loaded = Forecaster.load(forecaster.save(tmp_path / "model"))
    assert loaded.seen_until == forecaster.seen_until
    with pytest.warns(UserWarning, match=r"^29 of 29 windows forecast targets the model was "
                                         r"trained or validated on \(the series to "):
        loaded.backtest(shorter, start=0.8, stride=1, baselines=())
    # times with a zone against a model's without one: not comparable, so not counted (it
    # was a TypeError); without a record, the table's own split counts
    zoned = shorter.assign(date=shorter["date"].dt.tz_localize("Europe/Berlin"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forecaster.evaluate(zoned, baselines=())
        forecaster.backtest(zoned, start=0.8, stride=1, baselines=())  # its test part
    assert not [w for w in caught if "in-sample" in str(w.message)]
    with pytest.warns(UserWarning, match=r"^60 of 89 windows start before the test part: the "
                                         r"model was trained or validated on their targets"):
        forecaster.backtest(zoned, start=0.5, stride=1, baselines=())


def test_several_series_are_also_scored_one_by_one_and_plotted_by_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    a = make_frame(240).assign(sid=7)
    b = make_frame(240, seed=1).assign(sid=9, a=lambda f: f["a"] * 10)  # another scale
    frame = pd.concat([a, b], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="sid"))
    forecaster = Forecaster(config).fit(frame)
    report = forecaster.evaluate(frame, baselines=("naive",))
    by_series = report.by_series
    assert by_series is not None
    assert list(by_series.index.names) == ["series", "target", "method"]
    for sid in ("7", "9"):  # each series' table is the pooled one over its windows alone
        mine = (report.windows["series"] == sid).to_numpy()
        naive = report.forecasts["naive"][mine][..., 0]
        expected = float(np.nanmean((naive - report.actual[mine][..., 0]) ** 2))
        assert by_series.loc[(sid, "a", "naive"), "mse"] == pytest.approx(expected)
    assert by_series.loc[("9", "a", "naive"), "mse"] > by_series.loc[("7", "a", "naive"), "mse"]
    report.save(tmp_path / "out")
    assert (tmp_path / "out" / "metrics_by_series.csv").is_file()
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {r["series"] for r in saved["metrics_by_series"]} == {"7", "9"}
    # one series: no table of its own
    single = Forecaster(make_config()).fit(a)
    assert single.evaluate(a, baselines=()).by_series is None
    # the plot takes a series by its id as the data give it, an int here, and names it
    drawn: list[Figure] = []
    with monkeypatch.context() as patch:
        patch.setattr(Figure, "savefig", lambda self, *args, **kwargs: drawn.append(self))
        report.plot(tmp_path / "seven.png", series=7)
    assert drawn[0].axes[0].get_title() == "a (series 7)"
    assert report.plot(tmp_path / "seven.png", series=7).is_file()
    with pytest.raises(ValueError, match=r"series \(--plot-series\) must be a scored series, "
                                         r"one of '7', '9'; got 8"):
        report.plot(tmp_path / "eight.png", series=8)
    per_series = int((report.windows["series"] == "7").sum())
    with pytest.raises(ValueError, match=rf"window must be an int in \[-{per_series}, "
                                         rf"{per_series}\) \(the windows of series 7\)"):
        report.plot(tmp_path / "late.png", series=7, window=per_series)


def _steady_and_flat(flat_rows: int) -> tuple[Forecaster, pd.DataFrame]:
    """Two series, 'steady' and 'flat', whose target 'a' is 0 over its first ``flat_rows``
    rows, and a forecaster fitted on them."""
    steady = make_frame(240).assign(sid="steady")
    flat = make_frame(240, seed=1).assign(sid="flat")
    flat.loc[:flat_rows - 1, "a"] = 0.0
    frame = pd.concat([steady, flat], ignore_index=True)
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(base.data, series_col="sid"))
    return Forecaster(config).fit(frame), frame


def test_mase_leaves_out_the_errors_it_cannot_scale_and_says_so() -> None:
    # 'a' is constant over the training part (60% of 240 rows)
    forecaster, frame = _steady_and_flat(144)
    with pytest.warns(UserWarning, match=r"^MASE leaves out the errors it cannot scale, of "
                                         r"series 'flat' \(target 'a'\) in 37 of its 37 "
                                         r"windows: the training part that scales them \(of "
                                         r"a refit backtest, the fold's\) is constant"):
        report = forecaster.evaluate(frame, baselines=("naive",))
    assert any(note.startswith("MASE leaves out") for note in report.notes)
    # 'flat' has no MASE for 'a' (it was its error in the data's units, scaled by 1) ...
    by_series = report.by_series
    assert by_series is not None
    assert np.isnan(by_series.loc[("flat", "a", "naive"), "mase"])
    assert np.isfinite(by_series.loc[("flat", "b", "naive"), "mase"])
    # ... and the pooled MASE is over the errors that have a scale
    season = season_from_freq(forecaster.freq)  # (24: hourly)
    errors, scales = [], []
    for sid, (n_train, _, _) in zip(("steady", "flat"), forecaster.prepare(frame).sizes,
                                    strict=True):
        mine = (report.windows["series"] == sid).to_numpy()
        errors.append(np.abs(report.forecasts["naive"][mine] - report.actual[mine]))
        train = frame.loc[frame["sid"] == sid, ["a", "b"]].to_numpy()[:n_train]
        scales.append(np.broadcast_to(M.naive_scale(train, season), errors[-1].shape))
    scaled = np.concatenate(errors) / np.concatenate(scales)
    assert report.table.loc["naive", "mase"] == pytest.approx(np.nanmean(scaled))
    assert np.isnan(scaled).sum() == 37 * 12  # 'flat' windows x steps, target 'a'


def test_a_season_longer_than_a_training_part_scales_none_of_its_errors() -> None:
    """MASE at a season of 200 steps: 'steady' and 'flat' have 144 training rows each, no
    pair a season apart; their errors were scaled at lag 1 without a word."""
    forecaster, frame = _steady_and_flat(0)
    with pytest.warns(UserWarning, match=r"MASE leaves out the errors it cannot scale, of "
                                         r"series 'steady' \(target 'a'\) in 37 of its 37 "
                                         r".* \(not longer than the season, "
                                         r"evaluation\.season_length\)"):
        report = _at_season(forecaster, 200).evaluate(frame, baselines=("naive",))
    assert np.isnan(report.table["mase"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at a season the training parts hold, no word
        report = _at_season(forecaster, 100).evaluate(frame, baselines=("naive",))
    assert np.isfinite(report.table["mase"]).all()


def _at_season(forecaster: Forecaster, season: int) -> Forecaster:
    seasonal = copy.copy(forecaster)
    seasonal.config = dataclasses.replace(forecaster.config, evaluation=dataclasses.replace(
        forecaster.config.evaluation, season_length=season))
    return seasonal


def test_a_refit_backtest_leaves_out_the_folds_without_a_scale() -> None:
    forecaster, frame = _steady_and_flat(110)  # constant over the first fold's training rows
    with pytest.warns(UserWarning, match=r"^MASE leaves out the errors it cannot scale, of "
                                         r"series 'flat' \(target 'a'\) in 5 of its 10 "
                                         r"windows: "):
        report = forecaster.backtest(frame, start=0.5, refit=True, folds=2,
                                     baselines=("naive",))
    by_series = report.by_series
    assert by_series is not None  # (the other fold's windows scale it)
    assert np.isfinite(by_series.loc[("flat", "a", "naive"), "mase"])


def test_backtests_call_data_without_a_series_column_the_series(
        trained: tuple[Forecaster, pd.DataFrame]) -> None:
    # its one series has the id "0", which the data never gave: these said "series '0'"
    forecaster, frame = trained
    with pytest.raises(ValueError, match=r"^start \(--start\)='2021-01-08 00:00\+00:00' and the "
                                         r"time column of the series must both have a time "):
        forecaster.backtest(frame, start="2021-01-08 00:00+00:00", baselines=())
    with pytest.warns(UserWarning, match=r"^6 of 16 windows \(of the series\) are not scored"):
        forecaster.backtest(frame, start=40, stride=12, refit=True, folds=3, baselines=())


def test_backtest_takes_a_date_object_and_numpy_integers(
        trained: tuple[Forecaster, pd.DataFrame]) -> None:
    import datetime

    forecaster, frame = trained
    text = forecaster.backtest(frame, start="2021-01-09 00:00", stride=12, baselines=())
    origins = text.windows["origin"].tolist()
    assert origins == list(range(192, 229, 12))  # the test part's
    for date in (pd.Timestamp("2021-01-09"), datetime.datetime(2021, 1, 9),
                 datetime.date(2021, 1, 9), np.datetime64("2021-01-09T00:00")):
        report = forecaster.backtest(frame, start=date, stride=np.int64(12), baselines=())
        assert report.windows["origin"].tolist() == origins
    refit = forecaster.backtest(frame, start=pd.Timestamp("2021-01-09"), stride=np.int32(24),
                                refit=True, folds=np.int64(1), baselines=())
    assert refit.windows["origin"].tolist() == [192, 216]
    assert len(forecaster.evaluate(frame, stride=np.int64(12)).windows) == 4
    # a bool is not a number here
    with pytest.raises(ValueError, match=r"^start \(--start\) must be a row >= 0, a fraction "
                                         r"in \(0, 1\) or a date \(text, a pd.Timestamp, "
                                         r"datetime or np.datetime64\), got bool True$"):
        forecaster.backtest(frame, start=True)
    with pytest.raises(ValueError, match=r"stride \(--stride\) must be an int >= 1"):
        forecaster.backtest(frame, stride=True)
    with pytest.raises(ValueError, match=r"folds \(--folds\) must be an int >= 1"):
        forecaster.backtest(frame, refit=True, folds=True)
