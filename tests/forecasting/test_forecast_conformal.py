"""Conformalised quantile intervals: the margins, their use, and the Forecaster option."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import make_config

from lstmkit.forecasting import Forecaster
from lstmkit.forecasting.config import ModelConfig
from lstmkit.forecasting.conformal import (
    conformal_margins,
    typical_scale,
    widen,
    window_scale,
)

LEVELS = (0.1, 0.5, 0.9)


def _too_narrow(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts whose [q0.1, q0.9] interval is +-0.5 around the truth's mean: with N(0, 1)
    actuals it covers only about 38%, not 80%."""
    actual = np.random.default_rng(seed).normal(size=(n, 3, 2))
    zero = np.zeros_like(actual)
    return np.stack([zero - 0.5, zero, zero + 0.5], axis=-1), actual


def test_margins_make_a_too_narrow_interval_reach_its_nominal_coverage() -> None:
    quantiles, actual = _too_narrow(4000)
    margins = conformal_margins(quantiles, actual, LEVELS)
    assert margins.shape == (1, 3, 2)
    # the 80% interval of N(0, 1) is +-1.2816: the margin is what is missing from +-0.5
    np.testing.assert_allclose(margins, 1.2816 - 0.5, atol=0.08)
    fresh_q, fresh_actual = _too_narrow(4000, seed=1)
    wide = widen(fresh_q, margins, LEVELS)
    covered = (fresh_actual >= wide[..., 0]) & (fresh_actual <= wide[..., 2])
    assert abs(covered.mean() - 0.8) < 0.03  # on data the margins never saw
    np.testing.assert_array_equal(wide[..., 1], fresh_q[..., 1])  # the median stays


@pytest.mark.parametrize(("n", "rank"), [(10, 9), (20, 17), (50, 41), (99, 80), (3, 3)])
def test_margin_is_the_ceil_n_plus_1_times_nominal_th_smallest_score(n: int, rank: int) -> None:
    # scores 1..n in shuffled order: the actual lies s outside the 80% interval [0, 0]
    scores = np.random.default_rng(0).permutation(np.arange(1.0, n + 1))
    actual = scores.reshape(n, 1, 1)
    quantiles = np.zeros((n, 1, 1, 3))
    margins = conformal_margins(quantiles, actual, LEVELS)
    assert margins.item() == rank  # ceil((n + 1) * 0.8), capped at n


def test_an_unobserved_actual_is_left_out_of_the_calibration() -> None:
    # two cells: one with every window observed, one with the largest scores unobserved
    n = 20
    scores = np.random.default_rng(0).permutation(np.arange(1.0, n + 1))
    actual = np.stack([scores, scores], axis=-1).reshape(n, 1, 2)
    actual[scores > 15, 0, 1] = np.nan  # filled values: 15 windows observed there
    margins = conformal_margins(np.zeros((n, 1, 2, 3)), actual, LEVELS)
    assert margins[0, 0].tolist() == [17.0, 13.0]  # ceil(21 * 0.8), ceil(16 * 0.8)
    none = conformal_margins(np.zeros((2, 1, 1, 3)), np.full((2, 1, 1), np.nan), LEVELS)
    assert none.item() == 0.0


@pytest.mark.parametrize(("levels", "n"), [((0.1, 0.5, 0.9), 35), ((0.2, 0.5, 0.8), 34),
                                           ((0.25, 0.5, 0.75), 29)])
def test_margin_rank_survives_floating_point(levels: tuple[float, ...], n: int) -> None:
    # 0.9 - 0.1 is 0.8 only up to rounding; the rank must still be ceil((n + 1) * nominal)
    scores = np.random.default_rng(1).permutation(np.arange(1.0, n + 1))
    nominal = round(levels[2] - levels[0], 6)
    rank = min(math.ceil(round((n + 1) * nominal, 6)), n)
    margins = conformal_margins(np.zeros((n, 1, 1, 3)), scores.reshape(n, 1, 1), levels)
    assert margins.item() == rank


def test_a_too_wide_interval_narrows_but_not_past_the_median() -> None:
    actual = np.zeros((50, 2, 1))
    quantiles = np.stack([actual - 2.0, actual, actual + 2.0], axis=-1)
    margins = conformal_margins(quantiles, actual, LEVELS)
    np.testing.assert_allclose(margins, -2.0)  # every actual is 2 inside both ends
    forecast = np.stack([actual - 1.0, actual + 0.5, actual + 1.0], axis=-1)
    narrowed = widen(forecast, margins, LEVELS)
    assert (np.diff(narrowed, axis=-1) >= 0).all()
    np.testing.assert_allclose(narrowed, 0.5)  # both ends stop at the median


def test_an_inner_pair_widened_past_an_outer_one_keeps_its_own_interval() -> None:
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    forecast = np.array([[[[-2.0, -1.0, 0.0, 1.0, 2.0]]]])  # (W, Hz, C, Q)
    margins = np.array([[[0.5]], [[4.0]]])  # the outer pair by 0.5, the inner one by 4
    wide = widen(forecast, margins, levels)[0, 0, 0]
    # the inner pair keeps its correction (-5, 5); the outer one reaches at least as far
    np.testing.assert_allclose(wide, [-5.0, -5.0, 0.0, 5.0, 5.0])


def test_asymmetric_levels_are_refused_because_the_median_would_move() -> None:
    forecast = np.array([0.0, 1.0, 2.0, 3.0]).reshape(1, 1, 1, 4)
    with pytest.raises(ValueError, match=r"pair up as \(q, 1 - q\).* got \(0.1, 0.5, 0.8, 0.9\)"):
        widen(forecast, np.ones((2, 1, 1)), (0.1, 0.5, 0.8, 0.9))
    with pytest.raises(ValueError, match=r"must include 0.5"):
        conformal_margins(np.zeros((2, 1, 1, 2)), np.zeros((2, 1, 1)), (0.2, 0.8))


def test_margins_check_shapes() -> None:
    with pytest.raises(ValueError, match=r"quantiles must have shape \(4, 3, 2, 3\)"):
        conformal_margins(np.zeros((4, 3, 2, 2)), np.zeros((4, 3, 2)), LEVELS)
    with pytest.raises(ValueError, match="at least one held-out window"):
        conformal_margins(np.zeros((0, 3, 2, 3)), np.zeros((0, 3, 2)), LEVELS)


@pytest.mark.parametrize("kwargs", [{"loss": "mse"},
                                    {"loss": "quantile", "quantiles": (0.1, 0.9)},
                                    {"loss": "quantile", "quantiles": (0.1, 0.5, 0.8, 0.9)}])
def test_conformal_needs_quantiles_around_the_median(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"model.conformal corrects quantile intervals "
                                         r"around the median"):
        ModelConfig(conformal=True, **kwargs)
    with pytest.raises(TypeError, match=r"model.conformal must be true or false, got 'y'"):
        ModelConfig(conformal="y")


def test_forecaster_covers_the_validation_windows_and_saves_the_margins(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    config = make_config(loss="quantile", quantiles=LEVELS, conformal=True)
    config = dataclasses.replace(config, training=config.training.replace(max_epochs=2))
    forecaster = Forecaster(config).fit(frame)
    assert forecaster.margins is not None and forecaster.margins.shape == (1, 12, 2)
    prepared = forecaster.prepare(frame)
    val = forecaster.windows(prepared, "val")
    quantiles = forecaster.predict_windows(val)
    _, target = val.__getitems__(range(len(val)))
    actual = forecaster.scalers.target.inverse(target.double().numpy(), axis=2)
    inside = (actual >= quantiles[..., 0]) & (actual <= quantiles[..., 2])
    # by construction every (step, target) covers at least 80% of the validation windows
    assert inside.mean(0).min() >= 0.8
    loaded = Forecaster.load(forecaster.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.margins, forecaster.margins)
    pd.testing.assert_frame_equal(loaded.predict(frame), forecaster.predict(frame))
    assert json.loads((tmp_path / "m" / "meta.json").read_text())["conformal_margins"]


def test_forecaster_without_conformal_saves_no_margins(frame: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    config = make_config(loss="quantile", quantiles=LEVELS)
    config = dataclasses.replace(config, training=config.training.replace(max_epochs=1))
    forecaster = Forecaster(config).fit(frame)
    assert forecaster.margins is None
    assert Forecaster.load(forecaster.save(tmp_path / "m")).margins is None


def test_conformal_without_validation_windows_is_an_error(frame: pd.DataFrame) -> None:
    config = make_config(loss="quantile", quantiles=LEVELS, conformal=True)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, val=0))
    with pytest.raises(ValueError, match=r"model.conformal calibrates .* data.val=0 gives none"):
        Forecaster(config).fit(frame)


def test_validation_coverage_meets_the_conformal_guarantee_for_every_pair(
        frame: pd.DataFrame) -> None:
    # each pair (q, 1 - q) covers at least ceil((n + 1)(1 - 2q)) of the n validation windows
    # at every step and target, actuals taken as the data hold them (float64): the margins
    # came from float32 window targets, whose rounding (1e-7) put the window that sets a margin
    # outside its interval about half the time. The window that sets the margin lies on the
    # bound, so the count allows float64 rounding there (1e-12), not float32's.
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    config = make_config(loss="quantile", quantiles=levels, conformal=True)
    report = Forecaster(config).fit(frame).evaluate(frame, split="val", baselines=())
    actual, quantiles = report.actual, report.quantiles
    n = len(actual)
    assert n > 20
    for lo, hi in ((0, 4), (1, 3)):
        guaranteed = math.ceil(round((n + 1) * (levels[hi] - levels[lo]), 9)) / n
        tol = 1e-12 * np.abs(actual).max()
        inside = (actual >= quantiles[..., lo] - tol) & (actual <= quantiles[..., hi] + tol)
        assert inside.mean(0).min() >= guaranteed, (levels[lo], levels[hi])


def test_calibration_on_too_few_windows_for_the_guarantee_is_said(frame: pd.DataFrame,
                                                                  tmp_path: Path) -> None:
    # an 80% interval calibrated on 3 windows took the largest error as its margin, without a
    # word (the last step's margin even narrowed it); levels named as their columns are (they
    # read q0.1 and q0.9 at 6 digits)
    levels = (0.1000001, 0.5, 0.8999999)
    config = make_config(loss="quantile", quantiles=levels, conformal=True)
    few = dataclasses.replace(config, data=dataclasses.replace(config.data, val=14, test=12))
    with pytest.warns(UserWarning, match=r"model.conformal calibrates the 80% interval "
                                         r"\(q0.1000001 to q0.8999999\) on 3 validation "
                                         r"window\(s\) \(at some step\), fewer than the 4 its "
                                         r"coverage guarantee needs"):
        fitted = Forecaster(few).fit(frame)
    # a saved model keeps the count, and its reports say it (fit's warning is long gone)
    loaded = Forecaster.load(fitted.save(tmp_path / "m"))
    assert fitted.calibration_windows == loaded.calibration_windows == 3
    report = loaded.evaluate(frame, baselines=())
    notes = report.notes
    assert any(note.startswith("model.conformal calibrates the 80% interval (q0.1000001 to "
                               "q0.8999999) on 3 validation window(s)") for note in notes)
    assert "coverage: share of actuals inside [q0.1000001, q0.8999999] (nominal 80%)" in notes
    # a refit backtest scores its folds' models, not this one: no note of this one's count
    refit = loaded.backtest(frame, refit=True, folds=1, baselines=())
    assert not [note for note in refit.notes if note.startswith("model.conformal")]
    enough = dataclasses.replace(config, data=dataclasses.replace(config.data, val=15, test=12))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = Forecaster(enough).fit(frame)  # 4 windows
    assert not [w for w in caught if "model.conformal" in str(w.message)]
    assert fitted.calibration_windows == 4
    assert not [n for n in fitted.evaluate(frame, baselines=()).notes if "conformal" in n]


def test_a_fit_whose_calibration_fails_leaves_the_model_as_it_was(
        frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    # interrupted during calibration (after training), the model kept the new network
    # without margins: intervals neither the old model's nor calibrated
    import lstmkit.forecasting.forecaster as forecaster_module

    config = make_config(loss="quantile", quantiles=LEVELS, conformal=True)
    forecaster = Forecaster(config).fit(frame)
    before = forecaster.predict(frame)
    fitted = {name: getattr(forecaster, name) for name in Forecaster._FITTED}

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(forecaster_module, "conformal_margins", interrupted)
    with pytest.raises(KeyboardInterrupt):
        forecaster.fit(frame.iloc[20:])
    assert all(getattr(forecaster, name) is value for name, value in fitted.items())
    pd.testing.assert_frame_equal(forecaster.predict(frame), before)


def test_margins_in_each_windows_scale_correct_windows_of_any_size_alike() -> None:
    # windows of two sizes (1 and 100, a tenth of them small) whose intervals are too wide
    # for their errors: one margin in the values' units, pooled, is the large windows' and
    # closed the small ones' intervals altogether; in units of each window's scale each size
    # covers about 80%
    rng = np.random.default_rng(0)
    scale = np.repeat([[1.0], [100.0]], [200, 1800], axis=0)  # (W, C)
    actual = rng.normal(size=(2000, 1, 1)) * scale[:, None, :]
    zero = np.zeros_like(actual)
    wide = np.stack([zero - 3 * scale[:, None, :], zero, zero + 3 * scale[:, None, :]], -1)
    pooled = widen(wide, conformal_margins(wide, actual, LEVELS), LEVELS)
    assert (pooled[:200, ..., 0] == pooled[:200, ..., 2]).all()  # closed
    margins = conformal_margins(wide, actual, LEVELS, scale)
    scaled = widen(wide, margins, LEVELS, scale)
    inside = (actual >= scaled[..., 0]) & (actual <= scaled[..., 2])
    assert 0.7 <= inside[:200].mean() <= 0.9 and 0.75 <= inside[200:].mean() <= 0.85
    # in units of the scale: the N(0, 1) errors' 80% bound, 1.28, less the 3 given
    np.testing.assert_allclose(margins, 1.28 - 3, atol=0.1)


def test_each_window_is_widened_by_the_margins_times_its_lookbacks_change(
        frame: pd.DataFrame) -> None:
    config = make_config(loss="quantile", quantiles=LEVELS, conformal=True)
    forecaster = Forecaster(config).fit(frame)
    val = forecaster.windows(forecaster.prepare(frame), "val")
    widened = forecaster.predict_windows(val, clip=False)
    margins, forecaster.margins = forecaster.margins, None
    raw = forecaster.predict_windows(val, clip=False)
    inputs, _ = val.__getitems__(range(len(val)))
    past = forecaster.scalers.target.inverse(inputs["y_past"].double().numpy(), axis=2)
    scale = np.abs(np.diff(past, axis=1)).mean(axis=1)  # (W, C)
    assert (scale.std(axis=0) > 0.02 * scale.mean(axis=0)).all()  # the windows differ
    high = raw[..., 2] + margins[0] * scale[:, None, :]
    low = raw[..., 0] - margins[0] * scale[:, None, :]
    kept = (high >= raw[..., 1]) & (low <= raw[..., 1])  # (not stopped at the median)
    assert kept.mean() > 0.5
    np.testing.assert_allclose(widened[..., 2][kept], high[kept], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(widened[..., 0][kept], low[kept], rtol=1e-5, atol=1e-9)


def test_window_scale_is_the_lookbacks_mean_absolute_change() -> None:
    past = np.array([[[0.0, 5.0], [2.0, 5.0], [1.0, 5.0]]])  # (W=1, L=3, C=2)
    np.testing.assert_allclose(window_scale(past), [[1.5, np.nan]])
    np.testing.assert_allclose(window_scale(past, floor=np.array([9.0, 7.0])), [[1.5, 7.0]])
    np.testing.assert_allclose(window_scale(past[:, :1], floor=np.array([9.0, 7.0])),
                               [[9.0, 7.0]])  # one step: no change to measure
    np.testing.assert_allclose(typical_scale(np.array([[1.0, np.nan], [3.0, 0.0]])),
                               [2.0, 1.0])


def test_a_model_saved_before_the_scale_keeps_its_margins_in_the_targets_units(
        frame: pd.DataFrame, tmp_path: Path) -> None:
    config = make_config(loss="quantile", quantiles=LEVELS, conformal=True)
    path = Forecaster(config).fit(frame).save(tmp_path / "m")
    meta = json.loads((path / "meta.json").read_text())
    # format 3: an lstmkit that reads 2 refuses it rather than add the margins in the
    # targets' units (it would ignore conformal_scale)
    assert meta["format_version"] == 3
    assert len(meta.pop("conformal_scale")) == 2  # (one per target)
    (path / "meta.json").write_text(json.dumps({**meta, "format_version": 2}))
    old = Forecaster.load(path)
    assert old.margin_scale is None
    val = old.windows(old.prepare(frame), "val")
    widened = old.predict_windows(val, clip=False)
    margins, old.margins = old.margins, None
    np.testing.assert_allclose(widened, widen(old.predict_windows(val, clip=False), margins,
                                              LEVELS))
