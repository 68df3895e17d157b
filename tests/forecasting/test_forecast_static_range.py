"""A static covariate outside the values the model was trained on is warned of: the model
extrapolates for that series."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from forecast_helpers import make_config, make_frame

from lstmkit.forecasting import Forecaster


def _stores(sizes: dict[str, float]) -> pd.DataFrame:
    return pd.concat([make_frame(n=120, seed=k).assign(store=sid, size=size)
                      for k, (sid, size) in enumerate(sizes.items())], ignore_index=True)


def _model() -> Forecaster:
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="store", static_covariates=("size",)))
    return Forecaster(config).fit(_stores({"x": 1.0, "y": 2.0}))


def _said(call: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()  # type: ignore[operator]
    return [str(w.message) for w in caught if "static covariates outside" in str(w.message)]


def test_predict_and_evaluate_warn_of_a_static_covariate_outside_the_training_range(
        tmp_path: Path) -> None:
    model = _model()
    assert model.static_range == {"size": [1.0, 2.0]}
    inside = _stores({"x": 1.0, "z": 1.5})  # a new store between the two: interpolated
    assert _said(lambda: model.predict(inside)) == []
    outside = _stores({"x": 1.0, "z": 10.0, "w": 0.5})
    expected = ("2 series are given static covariates outside the values of the series the "
                "model was trained on, so the model extrapolates for them: series 'z' "
                "size=10 (trained on 1 to 2); series 'w' size=0.5 (trained on 1 to 2)")
    assert _said(lambda: model.predict(outside)) == [expected]
    report = model.evaluate(outside)
    assert expected in report.notes
    # kept by save and load; a model saved without it (an older lstmkit) says nothing
    model.save(tmp_path / "model")
    assert _said(lambda: Forecaster.load(tmp_path / "model").predict(outside)) == [expected]
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    del meta["static_range"]
    (tmp_path / "model" / "meta.json").write_text(json.dumps(meta))
    assert _said(lambda: Forecaster.load(tmp_path / "model").predict(outside)) == []


def test_one_series_outside_is_named_in_the_singular() -> None:
    said = _said(lambda: _model().predict(_stores({"z": 3.0})))
    assert said == ["1 series is given static covariates outside the values of the series the "
                    "model was trained on, so the model extrapolates for it: series 'z' size=3 "
                    "(trained on 1 to 2)"]


def test_many_series_outside_are_listed_up_to_five() -> None:
    said = _said(lambda: _model().predict(_stores({f"s{k}": 5.0 + k for k in range(7)})))
    assert len(said) == 1 and said[0].endswith("series 's4' size=9 (trained on 1 to 2) and 2 "
                                               "more")


def test_float32_rounding_is_no_extrapolation() -> None:
    # trained on float32 values, predicted from the float64 ones a CSV or a request gives
    base = make_config()
    config = dataclasses.replace(base, data=dataclasses.replace(
        base.data, series_col="store", static_covariates=("size",)))
    stores = _stores({"x": 1.1, "y": 2.2e6})
    model = Forecaster(config).fit(stores.astype({"size": "float32"}))
    assert model.static_range == {"size": [float(np.float32(1.1)), 2.2e6]}
    assert _said(lambda: model.predict(stores)) == []
    # a value outside by more is named with the digits that tell it apart
    said = _said(lambda: model.predict(_stores({"z": 2200010.0})))
    assert said and said[0].endswith("size=2200010 (trained on 1.1 to 2200000)")

