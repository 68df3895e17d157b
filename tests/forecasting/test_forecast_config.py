"""Configuration validation: every message a user meets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstmkit.forecasting import DataConfig, ForecastConfig, ModelConfig, load_config
from lstmkit.nn.config import plain_value
from lstmkit.training import TrainConfig


def test_unknown_keys_list_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lookbak'\] in config section "
                                         r"'model'; valid keys: \[.*'lookback'"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "model": {"lookbak": 3}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modle'\] in config section "
                                         r"'config'; valid keys: \['batch_size', 'data'"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "modle": {}})
    with pytest.raises(ValueError, match=r"unknown training config key\(s\) \['epochs'\]"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "training": {"epochs": 3}})
    with pytest.raises(ValueError, match=r"^model.lstm has unknown LSTM option\(s\) "
                                         r"\['peepholes'\]; expected a subset of \[.*'peephole'"):
        ModelConfig(lstm={"peepholes": True})
    with pytest.raises(ValueError, match=r"^model.lstm: init='chrono' needs chrono_max_len"):
        ModelConfig(lstm={"init": "chrono"})
    with pytest.raises(TypeError, match=r"^model.lstm: peephole must be a bool \(or 0 or 1\), "
                                        r"got str"):
        ForecastConfig.from_dict({"data": {"target": "y"},
                                  "model": {"lstm": {"peephole": "yes"}}})


@pytest.mark.parametrize(("lstm", "error"), [
    ({"peepholes": True, "zoneout": 0.1}, ValueError), (["peephole"], TypeError),
    ({"zoneout": 2}, ValueError), ({"proj_size": 64}, ValueError)])
def test_model_lstm_is_checked_as_the_text_applications_check_theirs(lstm: Any,
                                                                     error: type) -> None:
    from lstmkit.nn.config import check_lstm_options  # (the classifier's and tagger's check)

    with pytest.raises(error) as shared:
        check_lstm_options(lstm, "model.lstm", hidden_size=64)
    with pytest.raises(error) as got:
        ModelConfig(hidden_size=64, lstm=lstm)
    assert str(got.value) == str(shared.value)
    # any mapping, stored as a dict of plain values with tuples for lists (a YAML list)
    from types import MappingProxyType

    options = ModelConfig(lstm=MappingProxyType({"zoneout": [0.1, np.float64(0.2)]})).lstm
    assert options == {"zoneout": (0.1, 0.2)} and type(options) is dict
    assert type(options["zoneout"][1]) is float


def test_yaml_roundtrip_and_overrides(tmp_path: Path) -> None:
    import yaml

    config = ForecastConfig.from_dict({
        "data": {"target": ["a", "b"], "time_col": "date", "test": "2021-03-01"},
        "model": {"lookback": 48, "segment_len": 12, "lstm": {"layer_norm": True}},
        "training": {"max_epochs": 2},
    })
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    again = load_config(path)
    assert again == config
    changed = config.with_overrides({"model.horizon": 6, "training.lr": 0.01,
                                     "model.lstm.zoneout": 0.1})
    assert changed.model.horizon == 6 and changed.training.lr == 0.01
    assert changed.model.lstm == {"layer_norm": True, "zoneout": 0.1}
    with pytest.raises(ValueError, match=r"unknown config key 'model.horizn'; valid keys"):
        config.with_overrides({"model.horizn": 3})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("overrides", "error", "message"), [
    ([("model.horizon", 3)], TypeError, r"overrides must be a mapping of dotted keys to values "
     r"such as \{'model.horizon': 48\}, got list"),
    ({1: 2}, TypeError, r"overrides' keys must be dotted names such as 'model.horizon', got "
     r"int 1"),
    # a whole section would quietly reset its other settings (--set data=3 --data x.csv)
    ({"data": 3, "data.path": "x.csv"}, ValueError,
     r"^'data' is a config section: set its keys one by one \('data.KEY'\); valid keys: "
     r"\[.*'path'"),
    ({"model": {"horizon": 3}}, ValueError, r"^'model' is a config section"),
    ({"data.path.x": 1}, ValueError, r"^'data.path' is a setting, not a section, in "
     r"'data.path.x'$"),
    ({"model.lstm.zoneout.x": 1}, ValueError, r"^'model.lstm.zoneout' is a setting"),
    ({"modl.x": 1}, ValueError, r"^unknown config section 'modl' in 'modl.x'; valid sections: "
     r"\['data', 'evaluation', 'model', 'training'\], and settings outside them: "
     r"\['batch_size', 'min_epoch_batches'\]$"),
    ({"model.lsmt.x": 1}, ValueError, r"^unknown config key 'model.lsmt' in 'model.lsmt.x'; "
     r"valid keys: \[.*'lstm'"),
])
def test_overrides_name_what_is_wrong(overrides: Any, error: type[Exception],
                                      message: str) -> None:
    config = ForecastConfig.from_dict({"data": {"target": "y"}})
    with pytest.raises(error, match=message):
        config.with_overrides(overrides)
    # a top-level setting and the free-form LSTM options may be set whole
    changed = config.with_overrides({"batch_size": 8, "model.lstm": {"zoneout": 0.1}})
    assert (changed.batch_size, changed.model.lstm) == (8, {"zoneout": 0.1})


def test_yaml_dates_and_sections_that_are_not_mappings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    # YAML reads an unquoted date as a date object: it is a split date all the same
    path.write_text("data: {target: y, time_col: date, val: 2020-08-01, test: 2020-09-15}\n")
    config = load_config(path)
    assert (config.data.val, config.data.test) == ("2020-08-01", "2020-09-15")
    assert config.with_overrides({"data.test": "2020-09-20"}).data.test == "2020-09-20"
    path.write_text("data: {target: y}\ntraining: 5\n")
    with pytest.raises(TypeError, match="training config must be a mapping, got int"):
        load_config(path)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"lookback": 50, "segment_len": 12}, ValueError,
     r"model.lookback \(50\) must be a multiple of model.segment_len \(12\)"),
    ({"horizon": 0}, ValueError, r"model.horizon must be an int >= 1, got 0"),
    ({"hidden_size": 8.5}, TypeError, r"model.hidden_size must be an int >= 1, got float"),
    ({"decoder": "seq2seq"}, ValueError, r"model.decoder must be one of \['pmf'"),
    ({"loss": "quantile", "quantiles": (0.9, 0.1)}, ValueError, r"increasing"),
    ({"loss": "quantile", "quantiles": (0.0, 0.5)}, ValueError, r"levels in \(0, 1\)"),
    ({"loss": "quantile", "quantiles": 0.5}, TypeError,
     r"model.quantiles must be a list of levels such as \[0.1, 0.5, 0.9\], got 0.5"),
    ({"loss": "quantile", "quantiles": ["low", 0.5]}, TypeError,
     r"model.quantiles must be a list of numbers, got \['low', 0.5\]"),
    ({"loss": "quantile", "quantiles": (0.1, 0.9)}, ValueError,
     r"model.quantiles must include 0.5: the median is the point forecast .* got \(0.1, 0.9\)"),
    ({"dropout": 1.0}, ValueError, r"model.dropout must be in \[0, 1\)"),
    ({"highway": "yes"}, TypeError, r"model.highway must be true or false, got 'yes'"),
    ({"mean_reversion": 1}, TypeError, r"model.mean_reversion must be true or false, got 1"),
    ({"mean_reversion": True, "normalization": "none"}, ValueError,
     r"model.mean_reversion needs a per-window level: set model.normalization .* got 'none'"),
    ({"ensemble": 0}, ValueError, r"model.ensemble must be an int >= 1, got 0"),
    ({"ensemble": True}, TypeError, r"model.ensemble must be an int >= 1, got bool True"),
    # (accepted, and the LSTM refused it only when the forecaster was made)
    ({"num_layers": 10_001}, ValueError,
     r"^model.num_layers must be an int in \[1, 10000\], got 10001$"),
    # (accepted; the model's first Linear, of this width, failed inside torch when made)
    ({"hidden_size": 2**62}, ValueError, r"^model.hidden_size is too large: an LSTM must have "
     r"fewer than 2\*\*60 parameters .* from input_size=1, hidden_size=4611686018427387904$"),
])
def test_model_config_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ModelConfig(**kwargs)


def test_data_config_errors() -> None:
    with pytest.raises(ValueError, match=r"data\.target must name at least one column"):
        DataConfig()
    with pytest.raises(ValueError, match=r"column 'x' is both in data.target and in "
                                         r"data.past_covariates"):
        DataConfig(target="x", past_covariates=["x"])
    with pytest.raises(ValueError, match=r"column 'x' is named twice in data.target"):
        DataConfig(target=["x", "x"])
    # the time or series column as a value: it said "must be numeric" when read
    with pytest.raises(ValueError, match=r"column 'date' is both data.time_col and in "
                                         r"data.target"):
        DataConfig(target="date", time_col="date")
    with pytest.raises(ValueError, match=r"column 'store' is both data.series_col and in "
                                         r"data.static_covariates"):
        DataConfig(target="x", series_col="store", static_covariates=["store"])
    # one column as both: fit failed later with "series '2023-01-01' has 1 rows"
    with pytest.raises(ValueError, match=r"column 'date' is both data.time_col and "
                                         r"data.series_col: each timestamp would be a series"):
        DataConfig(target="x", time_col="date", series_col="date")
    with pytest.raises(ValueError, match=r"data.val as a fraction must be in \[0, 1\), got 1.5"):
        DataConfig(target="x", val=1.5)
    # 40.0 (a --set value with a point) was said to be a bad fraction, not how to count rows
    with pytest.raises(ValueError, match=r"got 40.0; a row count is a whole number written "
                                         r"without a point: data.test=40$"):
        DataConfig(target="x", test=40.0)
    with pytest.raises(ValueError, match=r"data.fill must be one of"):
        DataConfig(target="x", fill="drop")  # type: ignore[arg-type]
    # without a time column there are no timestamps: a frequency or format was ignored
    with pytest.raises(ValueError, match=r"data.freq='D' describes the timestamps of "
                                         r"data.time_col, which is not set .* or "
                                         r"evaluation.season_length"):
        DataConfig(target="x", freq="D")
    with pytest.raises(ValueError, match=r"data.time_format='%Y' describes the timestamps"):
        DataConfig(target="x", time_format="%Y")
    assert DataConfig(target="x", time_col="t", freq="D", time_format="%Y").freq == "D"
    assert DataConfig(target="x").target == ("x",)


def test_long_horizon_recipe_widens_the_lstm_from_horizon_720() -> None:
    from lstmkit.forecasting import recipes

    assert recipes.long_horizon(96).hidden_size == 128
    assert recipes.long_horizon(336).hidden_size == 128
    assert recipes.long_horizon(720).hidden_size == 256
    assert recipes.long_horizon(720, hidden_size=64).hidden_size == 64
    model = recipes.long_horizon(192)
    assert (model.lookback, model.segment_len, model.highway, model.mean_reversion) == \
        (512, 64, True, True)  # mean reversion: validation preferred it at every horizon
    # '96' failed with "'>=' not supported between instances of 'str' and 'int'"
    for recipe in (recipes.long_horizon, recipes.long_horizon_training):
        with pytest.raises(TypeError, match=r"horizon must be an int >= 1, got str '96'"):
            recipe("96")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"horizon must be an int >= 1, got 0"):
            recipe(0)
    assert recipes.long_horizon(np.int64(720)).horizon == 720
    assert (recipes.long_horizon(720).loss, recipes.long_horizon(720, loss="mae").loss) == \
        ("mse", "mae")


def test_long_horizon_training_averages_the_weights_from_horizon_192_to_336() -> None:
    from lstmkit.forecasting import recipes

    # validation preferred the average at 192 and 336, not at 96 or 720
    assert [recipes.long_horizon_training(h).ema_decay for h in (96, 191, 192, 336, 337, 720)] \
        == [None, None, 0.999, 0.999, None, None]
    assert recipes.long_horizon_training().ema_decay is None
    assert recipes.long_horizon_training(336, ema_decay=None).ema_decay is None
    assert recipes.long_horizon_training(96, lr=1e-3).lr == 1e-3


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
@pytest.mark.parametrize("quantiles", [(0.05, 0.5, 0.95), (0.5,), [0.2, 0.5, 0.8]])
def test_quantiles_with_a_point_loss_are_an_error(loss: str, quantiles: tuple) -> None:
    with pytest.raises(ValueError, match=rf"model.quantiles \(.*\) are set but model.loss is "
                                         rf"'{loss}': quantile levels need loss='quantile'"):
        ModelConfig(loss=loss, quantiles=quantiles)  # type: ignore[arg-type]
    # the default levels (as a saved config holds them) are no request for quantiles
    assert ModelConfig(loss=loss, quantiles=[0.1, 0.5, 0.9]).n_outputs == 1  # type: ignore


@pytest.mark.parametrize(("quantiles", "message"), [
    ((0.9, 0.1), r"model.quantiles must be increasing and distinct, got \(0.9, 0.1\)"),
    ((1.5,), r"model.quantiles must be levels in \(0, 1\), got \(1.5,\)"),
    ((0.1, 0.9), r"model.quantiles must include 0.5: .* got \(0.1, 0.9\)"),
])
def test_quantile_levels_are_checked_whatever_the_loss(quantiles: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig(loss="mse", quantiles=quantiles)


@pytest.mark.parametrize(("quantiles", "message"), [
    # a quoted YAML list (["0.1", "0.5", "0.9"]) was read as numbers
    (("0.1", "0.5", "0.9"), r"^model.quantiles must be a list of numbers, got \('0.1', '0.5', "
     r"'0.9'\): item 0 is str '0.1', expected a number in \(0, 1\) \(write levels as "
     r"numbers, unquoted in YAML\)$"),
    ([0.1, b"0.5", 0.9], r"item 1 is bytes b'0.5', expected a number in \(0, 1\) \(write"),
    ([0.1, 0.5, True], r"^model.quantiles must be a list of numbers, got \[0.1, 0.5, True\]: "
     r"item 2 is bool True, expected a number in \(0, 1\)$"),
    ([0.1, 0.5, np.bool_(True)], r"item 2 is bool True, expected a number in \(0, 1\)$"),
])
def test_quantile_levels_as_text_or_bools_are_refused(quantiles: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ModelConfig(loss="quantile", quantiles=quantiles)


def test_quantile_levels_quoted_in_yaml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('data: {target: y}\nmodel: {loss: quantile, quantiles: ["0.1", "0.5", '
                    '"0.9"]}\n')
    with pytest.raises(TypeError, match=r"^model.quantiles must be a list of numbers, got "
                                        r"\['0.1', '0.5', '0.9'\]: item 0 is str '0.1'"):
        load_config(path)
    # written as numbers they load, as a saved model's config.yaml (floats) does
    path.write_text("data: {target: y}\nmodel: {loss: quantile, quantiles: [0.1, 0.5, 0.9]}\n")
    assert load_config(path).model.quantiles == (0.1, 0.5, 0.9)


def test_quantile_levels_may_be_numpy_floats_and_ints_meet_the_range_check() -> None:
    assert ModelConfig(loss="quantile", quantiles=np.array([0.25, 0.5, 0.75])).quantiles == (
        0.25, 0.5, 0.75)
    assert ModelConfig(loss="quantile", quantiles=[np.float32(0.5)]).quantiles == (0.5,)
    with pytest.raises(ValueError, match=r"^model.quantiles must be levels in \(0, 1\), got "
                                         r"\(0.0, 0.5, 1.0\)$"):
        ModelConfig(loss="quantile", quantiles=[0, 0.5, 1])
    # (past 4300 digits, Python's own "Exceeds the limit" replaced the message)
    for digits in (401, 5001):
        with pytest.raises(ValueError, match=rf"^model.quantiles must be levels in \(0, 1\), "
                                             rf"got \[0.5, an int of {digits} digits\]: item 1 "
                                             rf"is an int of {digits} digits$"):
            ModelConfig(loss="quantile", quantiles=[0.5, 10 ** (digits - 1)])


def test_float32_quantile_levels_read_as_their_shortest_decimal() -> None:
    import torch
    import yaml

    # (they kept float32's rounding: 0.10000000149011612 in config.yaml and the messages,
    # and model.conformal refused (0.1, 0.5, 0.9) as levels that do not pair up)
    for levels in (np.array([0.1, 0.5, 0.9], np.float32), torch.tensor([0.1, 0.5, 0.9]),
                   [np.float32(0.1), np.float16(0.5), np.array(0.9, np.float32)],
                   torch.tensor([0.1, 0.5, 0.9], dtype=torch.float16)):
        model = ModelConfig(loss="quantile", quantiles=levels, conformal=True)
        assert model.quantiles == (0.1, 0.5, 0.9)
        assert [f"q{q}" for q in model.quantiles] == ["q0.1", "q0.5", "q0.9"]
        assert yaml.safe_dump(model.quantiles) == "- 0.1\n- 0.5\n- 0.9\n"
    # a float64 level is as given, its digits beyond float32's kept
    assert ModelConfig(loss="quantile", quantiles=[np.float64(0.10000000149011612), 0.5]
                       ).quantiles == (0.10000000149011612, 0.5)
    assert ModelConfig(loss="quantile", quantiles=[np.float32(0.025), 0.5]
                       ).quantiles == (0.025, 0.5)


def test_a_float32_bound_from_the_data_keeps_its_exact_value() -> None:
    # reading every float32 setting as its shortest decimal (for the quantile levels) moved
    # a bound taken from float32 data, np.float32(x).min(), off the data's own minimum: the
    # data's check then refused that very data as outside the bounds
    low, high = np.float32(-1.1101755), np.float32(1.1533018)
    data = DataConfig(target=("a",), target_bounds=[low, high])
    assert data.target_bounds == {"a": (float(low), float(high))}
    assert data.target_bounds["a"][0] == -1.1101754903793335
    assert DataConfig(target=("a",), target_bounds={"a": [low, high]}).target_bounds == \
        data.target_bounds


def test_a_float32_setting_reads_as_its_shortest_decimal() -> None:
    # np.float32(0.29) equals 0.28999999165534973, which took 28 rows of 100 for val (not
    # the 29 written) and saved with all its digits; a bound alone keeps the exact number
    data = DataConfig(target=("a",), val=np.float32(0.29), test=np.float16(0.2),
                      target_bounds=[np.float32(0.29), None])
    assert (data.val, data.test) == (0.29, 0.2)
    assert data.target_bounds == {"a": (float(np.float32(0.29)), None)}
    assert TrainConfig(lr=np.float32(3e-4)).lr == 3e-4
    assert plain_value([np.float32(0.1), (np.float64(0.1000000001),)]) == [0.1, (0.1000000001,)]


def test_quantile_levels_that_would_share_a_column_name_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^model.quantiles 0.1 and 0.1000000000000001 both "
                                         r"name the forecast column 'q0.1': levels must "
                                         r"differ within 15 significant digits$"):
        ModelConfig(loss="quantile", quantiles=(0.1, 0.1000000000000001, 0.5))
    assert ModelConfig(loss="quantile", quantiles=(0.1, 0.100000000000001, 0.5)).quantiles \
        == (0.1, 0.100000000000001, 0.5)


def test_series_and_time_columns_named_as_predicts_own_are_refused() -> None:
    # forecast.csv's own columns overwrote them: every id read 'units', the target's name
    quantile = ModelConfig(loss="quantile", quantiles=(0.1, 0.5, 0.9))
    for data, model, said in [
            (DataConfig(target="y", series_col="target"), ModelConfig(), "series_col='target'"),
            (DataConfig(target="y", time_col="forecast"), ModelConfig(), "time_col='forecast'"),
            (DataConfig(target="y", series_col="q0.9"), quantile, "series_col='q0.9'"),
            # without a time column the steps are numbered in 'time'
            (DataConfig(target="y", series_col="time"), ModelConfig(), "series_col='time'")]:
        with pytest.raises(ValueError, match=rf"^data.{re.escape(said)} is also the name of a "
                                             r"column that predict writes beside it "
                                             r"\(target, forecast.*\): rename the column in "
                                             r"the data$"):
            ForecastConfig(data=data, model=model)
    # a name of a quantile the model does not forecast, or 'time' beside a time column, is free
    ForecastConfig(data=DataConfig(target="y", series_col="q0.9"))
    ForecastConfig(data=DataConfig(target="y", series_col="time", time_col="date"))


def test_quantile_levels_may_be_any_number_float_reads() -> None:
    import decimal

    import torch

    # (0-d arrays and tensors and Decimals loaded before levels as text were refused)
    levels = [np.array(0.25), decimal.Decimal("0.5"), torch.tensor(0.75, dtype=torch.float64)]
    assert ModelConfig(loss="quantile", quantiles=levels).quantiles == (0.25, 0.5, 0.75)
    assert ModelConfig(loss="quantile", quantiles=(q for q in (0.5,))).quantiles == (0.5,)
    for bad, kind in ((torch.tensor(True), "Tensor tensor(True)"),
                      (np.array(True), "ndarray array(True)")):
        with pytest.raises(TypeError, match=rf"^model.quantiles must be a list of numbers, got "
                                            rf"\[0.5, True\]: item 1 is {re.escape(kind)}, "
                                            r"expected a number in \(0, 1\)$"):
            ModelConfig(loss="quantile", quantiles=[0.5, bad])
    # a generator is named by its items; text that is no number gets no YAML hint
    with pytest.raises(TypeError, match=r"^model.quantiles must be a list of numbers, got "
                                        r"\['1/10', 0.5\]: item 0 is str '1/10', expected a "
                                        r"number in \(0, 1\)$"):
        ModelConfig(loss="quantile", quantiles=(q for q in ("1/10", 0.5)))



@pytest.mark.parametrize("value", ["false", "no", 0, 1, None])
def test_channel_independent_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match=rf"model.channel_independent must be true or false, "
                                        rf"got {value!r}"):
        ModelConfig(channel_independent=value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"model.channel_independent must be true or false"):
        ForecastConfig.from_dict({"data": {"target": "y"},
                                  "model": {"channel_independent": value}})
    assert ModelConfig(channel_independent=False).channel_independent is False


def test_revin_needs_a_lookback_of_at_least_two() -> None:
    with pytest.raises(ValueError, match=r"model.normalization 'revin' divides each window by "
                                         r"its standard deviation, which needs model.lookback "
                                         r">= 2, got model.lookback=1; use normalization "
                                         r"'last' or 'mean'"):
        ModelConfig(lookback=1, horizon=3, normalization="revin")
    assert ModelConfig(lookback=2, horizon=3, normalization="revin").lookback == 2
    assert ModelConfig(lookback=1, horizon=3, normalization="last").lookback == 1


@pytest.mark.parametrize(("decoder", "channel_independent", "minimum", "message"), [
    ("pmf", True, 2, r"model.hidden_size must be >= 2 with model.decoder 'pmf' \(its position "
                     r"embedding is hidden_size // 2 wide\), got 1"),
    ("pmf", False, 2, r"model.hidden_size must be >= 2 with model.decoder 'pmf'"),
    ("direct", True, 4, r"model.hidden_size must be >= 4 with model.decoder 'direct' and "
                        r"model.channel_independent true \(its channel embedding is "
                        r"hidden_size // 4 wide\), got 3"),
])
def test_decoders_refuse_a_too_narrow_lstm(decoder: str, channel_independent: bool,
                                           minimum: int, message: str) -> None:
    from lstmkit.forecasting.model import ForecastNet

    with pytest.raises(ValueError, match=message):
        ModelConfig(hidden_size=minimum - 1, decoder=decoder,  # type: ignore[arg-type]
                    channel_independent=channel_independent)
    cfg = ModelConfig(lookback=4, horizon=2, hidden_size=minimum,
                      decoder=decoder,  # type: ignore[arg-type]
                      channel_independent=channel_independent)
    # at the minimum, the embeddings the sizes are for have at least one feature
    net = ForecastNet(cfg, n_targets=2, n_past=1, n_future=1, n_static=0)
    if decoder == "pmf":
        assert net.pos_embed.shape[1] >= 1 and net.channel_embed.shape[1] >= 1
    else:
        assert net.local_channel.shape[1] >= 1


def test_narrow_lstms_that_lose_nothing_are_accepted() -> None:
    assert ModelConfig(hidden_size=1, decoder="autoregressive").hidden_size == 1
    assert ModelConfig(hidden_size=1, decoder="direct",
                       channel_independent=False).hidden_size == 1


def test_conformal_needs_at_least_one_pair_of_quantiles() -> None:
    with pytest.raises(ValueError, match=r"model.conformal corrects quantile intervals around "
                                         r"the median: .* at least one pair, got loss "
                                         r"'quantile' and quantiles \(0.5,\)"):
        ModelConfig(loss="quantile", quantiles=(0.5,), conformal=True)
    assert ModelConfig(loss="quantile", quantiles=(0.5,)).n_outputs == 1


def test_config_round_trip_is_exact_with_paths_and_tuples(tmp_path: Path) -> None:
    import yaml

    from lstmkit.training import TrainConfig

    config = ForecastConfig(
        data=DataConfig(target="y"),
        model=ModelConfig(lstm={"zoneout": (0.1, 0.2), "layer_norm": True}),
        training=TrainConfig(checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs"))
    assert ForecastConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert load_config(path) == config
    # lists, as YAML writes a pair, are stored as tuples
    assert ModelConfig(lstm={"zoneout": [0.1, 0.2]}).lstm == {"zoneout": (0.1, 0.2)}
    assert config.with_overrides({"model.lstm.zoneout": [0.3, 0.4]}).model.lstm["zoneout"] \
        == (0.3, 0.4)


def test_numpy_lstm_options_are_stored_as_python_values_that_save() -> None:
    import numpy as np
    import yaml

    model = ModelConfig(lstm={"zoneout": [np.float32(0.5), np.float64(0.25)],
                              "chrono_max_len": np.int64(8), "init": "chrono",
                              "peephole": np.bool_(True)})
    assert model.lstm == {"zoneout": (0.5, 0.25), "chrono_max_len": 8, "init": "chrono",
                          "peephole": True}
    assert [type(v) for v in model.lstm["zoneout"]] == [float, float]
    assert type(model.lstm["chrono_max_len"]) is int and model.lstm["peephole"] is True
    config = ForecastConfig(data=DataConfig(target="y"), model=model)
    assert ForecastConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config


def test_target_bounds_are_a_pair_for_every_target_or_one_per_target() -> None:
    both = DataConfig(target=("a", "b"), target_bounds=[0, None])
    assert both.target_bounds == {"a": (0.0, None), "b": (0.0, None)}
    assert DataConfig(target=("a", "b"), target_bounds={"b": [None, 1]}).target_bounds == {
        "b": (None, 1.0)}
    assert DataConfig(target=("a",), target_bounds=[None, None]).target_bounds is None
    # NumPy numbers (the data's minimum, say) are read as Python floats
    assert DataConfig(target=("a",), target_bounds=[np.float32(0), np.int64(5)]
                      ).target_bounds == {"a": (0.0, 5.0)}
    config = ForecastConfig(data=both)
    assert ForecastConfig.from_dict(config.to_dict()) == config  # (saved as plain lists)
    for bounds, error, message in [
        ({"c": [0, 1]}, ValueError, r"data.target_bounds names \['c'\], not among "
                                    r"data.target \['a', 'b'\]"),
        ([0], TypeError, r"data.target_bounds of 'a' must be \[low, high\], numbers or null "
                         r"\(unbounded\), got \[0\]"),
        ({"a": [True, 2]}, TypeError, r"data.target_bounds of 'a' must be \[low, high\]"),
        ({"a": ["0", 2]}, TypeError, r"data.target_bounds of 'a' must be \[low, high\]"),
        ({"a": [2, 2]}, ValueError, r"data.target_bounds of 'a' must have low < high, got "
                                    r"\[2, 2\]"),
        # numpy's numbers as Python's in the message (np.float64(5.0), np.True_)
        ({"a": [np.float64(5), np.float32(1.1)]}, ValueError, r"must have low < high, got "
                                                              r"\[5\.0, 1\.1\]$"),
        ({"a": [np.True_, None]}, TypeError, r"must be \[low, high\], numbers or null "
                                             r"\(unbounded\), got \[True, None\]$"),
        ({"a": [float("-inf"), 2]}, ValueError, r"data.target_bounds of 'a' must be finite "
                                                r"numbers or null"),
        ({"a": [0, 10**400]}, ValueError, r"data.target_bounds of 'a' must be finite numbers "
                                          r"or null, got a number too large in magnitude for a "
                                          r"float$"),
        ({"a": [-10**400, 0]}, ValueError, r"got a number too large in magnitude"),
        (0, TypeError, r"data.target_bounds must be \[low, high\] for every target or "
                       r"\{column: \[low, high\]\}, got 0"),
    ]:
        with pytest.raises(error, match=message):
            DataConfig(target=("a", "b"), target_bounds=bounds)


def test_numpy_scalars_in_every_section_are_stored_as_python_values_that_save() -> None:
    import yaml

    from lstmkit.forecasting import EvalConfig
    from lstmkit.training import TrainConfig

    config = ForecastConfig(
        data=DataConfig(target="y", val=np.float64(0.1), test=np.int64(5)),
        model=ModelConfig(lookback=np.int64(24), horizon=np.int64(12),
                          segment_len=np.int32(6), hidden_size=np.int64(16),
                          num_layers=np.int64(1), dropout=np.float32(0.25),
                          future_context=np.int64(0), ensemble=np.int64(1),
                          highway=np.bool_(True)),
        training=TrainConfig(lr=np.float64(1e-3), max_epochs=np.int64(2)),
        evaluation=EvalConfig(season_length=np.int64(12), stride=np.int64(2),
                              arima_order=(np.int64(1), np.int64(0), np.int64(1))),
        batch_size=np.int64(32))
    assert (type(config.data.val), type(config.data.test)) == (float, int)
    model = config.model
    assert [type(getattr(model, name)) for name in (
        "lookback", "horizon", "segment_len", "hidden_size", "num_layers", "future_context",
        "ensemble", "dropout", "highway")] == [int] * 7 + [float, bool]
    assert model.dropout == 0.25 and model.highway is True
    assert config.evaluation.arima_order == (1, 0, 1)
    assert type(config.evaluation.season_length) is int and type(config.batch_size) is int
    # np.float64, a float, was kept and then crashed yaml.safe_dump when the model was saved
    saved = yaml.safe_load(yaml.safe_dump(config.to_dict()))
    assert ForecastConfig.from_dict(saved) == config


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ModelConfig(lookback=np.bool_(True)), r"^model.lookback must be an int >= 1, got bool "
                                                   r"True$"),
    (lambda: ModelConfig(dropout=np.bool_(False)), r"^model.dropout must be a number in "
                                                   r"\[0, 1\), got bool False$"),
    (lambda: DataConfig(target="y", val=np.bool_(True)), r"^data.val must be a fraction, a row "
                                                         r"count or a date, got True$"),
])
def test_a_numpy_bool_is_still_refused_for_a_number(make: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()


def test_an_lstm_projection_as_wide_as_the_model_is_an_error() -> None:
    # it was accepted, and nn.LSTM refused it only when the network was built
    for proj_size in (16, np.int64(20)):
        with pytest.raises(ValueError, match=rf"^model.lstm.proj_size must be smaller than "
                                             rf"model.hidden_size \(16\), got {proj_size}$"):
            ModelConfig(hidden_size=16, lstm={"proj_size": proj_size})
    with pytest.raises(ValueError, match=r"^model.lstm.proj_size must be smaller than "
                                         r"model.hidden_size \(8\), got 8$"):
        ForecastConfig.from_dict({"data": {"target": "y"},
                                  "model": {"hidden_size": 8, "lstm": {"proj_size": 8}}})
    assert ModelConfig(hidden_size=16, lstm={"proj_size": 15}).lstm == {"proj_size": 15}
    assert ModelConfig(hidden_size=16, lstm={"proj_size": 0}).lstm == {"proj_size": 0}


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"target": ""}, ValueError, r"^data.target must name columns by non-empty strings, "
                                 r"got ''$"),
    ({"target": ["a", ""]}, ValueError, r"^data.target must name columns by non-empty "
                                        r"strings, got \['a', ''\]$"),
    ({"target": 3}, TypeError, r"^data.target must be a column name or a list of names, "
                               r"got 3$"),
    ({"past_covariates": [""]}, ValueError, r"^data.past_covariates must name columns by "
                                            r"non-empty strings, got \[''\]$"),
    ({"time_col": 3}, TypeError, r"^data.time_col must be a column name \(a string\) or "
                                 r"null, got int 3$"),
    ({"time_col": ""}, ValueError, r"^data.time_col must be a non-empty column name or null, "
                                   r"got ''$"),
    ({"series_col": ["store"]}, TypeError, r"^data.series_col must be a column name \(a "
                                           r"string\) or null, got list \['store'\]$"),
    ({"series_col": ""}, ValueError, r"^data.series_col must be a non-empty column name or "
                                     r"null, got ''$"),
    ({"path": 3}, TypeError, r"^data.path must be a file path \(a string or Path\) or null, "
                             r"got int 3$"),
    ({"path": ""}, ValueError, r"^data.path must be a file path or null, got ''$"),
])
def test_data_columns_and_path_are_checked(settings: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        DataConfig(**{"target": "y", **settings})


def test_data_columns_and_path_that_are_accepted() -> None:
    config = DataConfig(target=["a", "b"], time_col="date", series_col="store", path="x.csv")
    assert (config.target, config.time_col, config.series_col, config.path) == (
        ("a", "b"), "date", "store", "x.csv")
    assert DataConfig(target="y", path=Path("data") / "x.csv").path == Path("data") / "x.csv"
    assert DataConfig(target=np.str_("y"), time_col=np.str_("t")).time_col == "t"
    assert DataConfig(target="y").path is None


def test_target_bounds_may_be_numpy_arrays() -> None:
    # "The truth value of an array with more than one element is ambiguous"
    assert DataConfig(target=("a", "b"), target_bounds=np.array([0.0, 10.0])).target_bounds \
        == {"a": (0.0, 10.0), "b": (0.0, 10.0)}
    assert DataConfig(target=("a", "b"), target_bounds={"b": np.array([0, 5])}).target_bounds \
        == {"b": (0.0, 5.0)}
    with pytest.raises(TypeError, match=r"^data.target_bounds of 'a' must be \[low, high\], "
                                        r"numbers or null \(unbounded\), got \[0, 1, 2\]$"):
        DataConfig(target="a", target_bounds=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^data.target_bounds of 'a' must have low < high"):
        DataConfig(target="a", target_bounds={"a": np.array([3.0, 1.0])})


@pytest.mark.parametrize(("value", "error", "message"), [
    (-1, ValueError, r"^min_epoch_batches must be an int >= 0, got -1$"),
    (1.5, TypeError, r"^min_epoch_batches must be an int >= 0, got float 1.5$"),
    (True, TypeError, r"^min_epoch_batches must be an int >= 0, got bool True$")])
def test_min_epoch_batches_is_checked_and_written(value: object, error: type,
                                                  message: str) -> None:
    config = ForecastConfig(data=DataConfig(target=("y",)))
    assert config.min_epoch_batches == 100
    changed = config.with_overrides({"min_epoch_batches": 100})
    assert changed.to_dict()["min_epoch_batches"] == 100
    assert ForecastConfig.from_dict(changed.to_dict()) == changed
    with pytest.raises(error, match=message):
        config.with_overrides({"min_epoch_batches": value})
