"""Configuration validation: every message a user meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmkit.forecasting import DataConfig, ForecastConfig, ModelConfig, load_config


def test_unknown_keys_list_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lookbak'\] in config section "
                                         r"'model'; valid keys: \[.*'lookback'"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "model": {"lookbak": 3}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modle'\] in config section "
                                         r"'config'; valid keys: \['batch_size', 'data'"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "modle": {}})
    with pytest.raises(ValueError, match=r"unknown training config key\(s\) \['epochs'\]"):
        ForecastConfig.from_dict({"data": {"target": "y"}, "training": {"epochs": 3}})
    with pytest.raises(ValueError, match=r"unknown model.lstm option\(s\) \['peepholes'\]; "
                                         r"valid options: \[.*'peephole'"):
        ModelConfig(lstm={"peepholes": True})


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
    ({"horizon": 0}, ValueError, r"model.horizon must be >= 1, got 0"),
    ({"hidden_size": 8.5}, TypeError, r"model.hidden_size must be an int, got float"),
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
])
def test_model_config_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ModelConfig(**kwargs)


def test_data_config_errors() -> None:
    with pytest.raises(ValueError, match=r"data\.target must name at least one column"):
        DataConfig()
    with pytest.raises(ValueError, match=r"column 'x' is both in data.target and "
                                         r"data.past_covariates"):
        DataConfig(target="x", past_covariates=["x"])
    with pytest.raises(ValueError, match=r"data.val as a fraction must be in \[0, 1\), got 1.5"):
        DataConfig(target="x", val=1.5)
    with pytest.raises(ValueError, match=r"data.fill must be one of"):
        DataConfig(target="x", fill="drop")  # type: ignore[arg-type]
    assert DataConfig(target="x").target == ("x",)


def test_long_horizon_recipe_widens_the_lstm_from_horizon_720() -> None:
    from lstmkit.forecasting import recipes

    assert recipes.long_horizon(96).hidden_size == 128
    assert recipes.long_horizon(336).hidden_size == 128
    assert recipes.long_horizon(720).hidden_size == 256
    assert recipes.long_horizon(720, hidden_size=64).hidden_size == 64
    model = recipes.long_horizon(192)
    assert (model.lookback, model.segment_len, model.highway) == (512, 64, True)
