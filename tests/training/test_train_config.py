"""TrainConfig's checks of the fields it hands to Lightning."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from lstmkit.training import TrainConfig
from lstmkit.training.config import PRECISIONS


@pytest.mark.parametrize("name", ["restore_best", "progress_bar", "deterministic"])
@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_flags_must_be_bools(name: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"{name} must be True or False, got "
                                        rf"{type(value).__name__} {value!r}"):
        TrainConfig(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "error"), [("true", TypeError), (1.0, TypeError),
                                              (-1, ValueError)])
def test_fast_dev_run_is_a_bool_or_a_batch_count(value: object, error: type) -> None:
    with pytest.raises(error, match=r"fast_dev_run \(True, False or a number of batches\) must "):
        TrainConfig(fast_dev_run=value)  # type: ignore[arg-type]
    assert TrainConfig(fast_dev_run=3).fast_dev_run == 3
    assert TrainConfig(fast_dev_run=True).fast_dev_run is True


@pytest.mark.parametrize("value", [-3, 0, True, "2", "0,1", "gpu", [], [-1], [0.5], (0, 1), 1.0,
                                   [0, 0], [1, 2, 1]])
def test_bad_devices(value: object) -> None:
    with pytest.raises(ValueError, match=r"devices must be an int >= 1, -1 \(all devices\), "
                                         r"'auto' or a non-empty list of distinct device "
                                         r"indices >= 0, "
                                         rf"got {type(value).__name__} "):
        TrainConfig(devices=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1, 4, -1, "auto", [0], [0, 2]])
def test_good_devices(value: Any) -> None:
    assert TrainConfig(devices=value).devices == value


@pytest.mark.parametrize("value", [5, None, ["cpu"]])
def test_accelerator_is_a_name(value: object) -> None:
    with pytest.raises(TypeError, match=r"accelerator must be a name such as 'auto', "
                                        r"'cpu' or 'gpu' \(or a Lightning Accelerator\), "
                                        rf"got {type(value).__name__}"):
        TrainConfig(accelerator=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [3, None])
def test_strategy_is_a_name(value: object) -> None:
    with pytest.raises(TypeError, match=r"^training\.strategy must be a name such as 'auto' or "
                                        r"'ddp' \(or a Lightning Strategy\), got "
                                        rf"{type(value).__name__} {value}$"):
        TrainConfig(strategy=value)  # type: ignore[arg-type]


def _fit(config: TrainConfig) -> None:
    import torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from lstmkit.training import fit

    data = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)
    fit(torch.nn.Linear(2, 1), F.mse_loss, data, data, config)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("accelerator", "", r"\['auto', 'gpu', .*'cpu'.*\], got ''"),
    ("accelerator", "cuda:0", r".* got 'cuda:0'"),
    ("accelerator", "GPU", r".* got 'GPU'"),
    ("strategy", "dp", r"\['auto', 'ddp', .*\], got 'dp'"),
])
def test_lightning_names_are_checked_before_a_run(name: str, value: object,
                                                  message: str) -> None:
    from lstmkit.training.config import check_lightning_names

    # a config holds any name, so that a model trained with a plugin's accelerator (which
    # registers its names when imported) loads where the plugin is missing
    config = TrainConfig(**{name: value}, max_epochs=1, progress_bar=False)
    message = rf"^training\.{name} must be one of the names Lightning takes, {message}$"
    with pytest.raises(ValueError, match=message):
        check_lightning_names(config)
    with pytest.raises(ValueError, match=message):  # (Lightning said it once the Trainer was made)
        _fit(config)


def test_a_saved_lightning_object_s_class_name_says_which_names_to_set() -> None:
    from lightning.pytorch.accelerators import CPUAccelerator
    from lightning.pytorch.strategies import DDPStrategy

    from lstmkit.training.config import check_lightning_names

    # a run given a Lightning object saves its class's name; a run from those settings is
    # told the names Lightning registers that class under, not every name there is
    for obj, name, names in ((CPUAccelerator(), "accelerator", r"\['cpu'\]"),
                             (DDPStrategy(), "strategy", r"\['ddp', 'ddp_spawn', .*\]")):
        saved = TrainConfig(**{name: obj}).to_dict(written=True)
        config = TrainConfig(**saved)
        with pytest.raises(ValueError, match=(
                rf"^training\.{name} '{getattr(config, name)}' is the class of a Lightning "
                rf"object .*: set one of the names Lightning registers it under, {names}, or "
                r"pass the object$")):
            check_lightning_names(config)


@pytest.mark.parametrize("kwargs", [{"accelerator": "cpu"}, {"accelerator": "gpu"},
                                    {"accelerator": "cuda"}, {"strategy": "ddp_spawn"},
                                    {"strategy": "fsdp"}, {"strategy": "single_device"}])
def test_lightning_names_taken(kwargs: dict[str, str]) -> None:
    from lstmkit.training.config import check_lightning_names

    config = TrainConfig(**kwargs)
    assert config.to_dict().items() >= kwargs.items()
    check_lightning_names(config)
    # Lightning takes a strategy in any case, and the checks of a distributed run read it so
    assert TrainConfig(strategy="DDP", devices=2).strategy == "ddp"
    assert TrainConfig(strategy="DDP", devices=2).several_processes()


def test_a_lightning_strategy_object_trains() -> None:
    import torch
    from lightning.pytorch.strategies import SingleDeviceStrategy

    strategy = SingleDeviceStrategy(device=torch.device("cpu"))
    _fit(TrainConfig(accelerator="cpu", devices=1, strategy=strategy, max_epochs=1,
                     progress_bar=False))


@pytest.mark.parametrize("name", ["lr", "weight_decay", "grad_clip"])
def test_numbers_past_floats_range_are_said_to_be(name: str) -> None:
    # (an OverflowError: int too large to convert to float)
    with pytest.raises(ValueError, match=rf"^training\.{name} must be a number within float's "
                                         r"range, got an int of 401 digits$"):
        TrainConfig(**{name: 10**400})


def test_a_large_int_is_checked_against_its_own_limit() -> None:
    # (it was "must be finite", as if an int could be anything else)
    with pytest.raises(ValueError, match=r"^training\.seed must be <= 4294967295 .*, got "
                                         r"4294967296$"):
        TrainConfig(seed=2**32)
    # and every int is an int64, as torch and the schedules read it (10**400 epochs failed
    # inside fit, in the cosine schedule's float), said without its 401 digits
    for name in ("seed", "max_epochs", "num_nodes", "log_every_n_steps"):
        with pytest.raises(ValueError, match=rf"^training\.{name} must be an int below 2\*\*63, "
                                             r"got an int of 401 digits$"):
            TrainConfig(**{name: 10**400})
    assert TrainConfig(max_epochs=2**63 - 1).max_epochs == 2**63 - 1


@pytest.mark.parametrize("value", ["bf15", "fp16", 8, 16.0, True, "mixed"])
def test_bad_precision(value: object) -> None:
    with pytest.raises(ValueError, match=rf"precision must be None or one of \[64, 32, 16, .*\], "
                                         rf"got {type(value).__name__} "):
        TrainConfig(precision=value)  # type: ignore[arg-type]


def test_precisions_are_lightnings() -> None:
    from lightning.fabric.connector import _PRECISION_INPUT

    lightning = {value for literal in get_args(_PRECISION_INPUT) for value in get_args(literal)}
    assert set(PRECISIONS) == lightning
    for value in (None, *PRECISIONS):
        assert TrainConfig(precision=value).precision == value


@pytest.mark.parametrize("name", ["limit_train_batches", "limit_val_batches"])
@pytest.mark.parametrize(("value", "error", "message"), [
    (1.5, ValueError, r"must be a float in \(0, 1\] \(a fraction of the batches\) or an int >= 1 "
                      r"\(a count\), got 1.5"),
    (0.0, ValueError, r"must be a float in \(0, 1\] .* got 0.0"),
    (float("nan"), ValueError, r"must be a float in \(0, 1\] .* got nan"),
    (0, ValueError, r"must be an int >= 1 \(a count of batches\) or a float in \(0, 1\] "
                    r"\(a fraction\), got 0"),
    (-2, ValueError, r"must be an int >= 1 .* got -2"),
    ("all", TypeError, r"must be a float in \(0, 1\] or an int >= 1, got str 'all'"),
    (True, TypeError, r"must be a float in \(0, 1\] or an int >= 1, got bool True"),
])
def test_batch_limits(name: str, value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=rf"{name} {message}"):
        TrainConfig(**{name: value})  # type: ignore[arg-type]
    assert getattr(TrainConfig(**{name: 0.5}), name) == 0.5  # type: ignore[arg-type]
    assert getattr(TrainConfig(**{name: 3}), name) == 3  # type: ignore[arg-type]


def test_paths_are_stored_as_strings_so_the_config_round_trips(tmp_path: Any) -> None:
    from pathlib import Path

    config = TrainConfig(checkpoint_dir=Path("runs") / "ckpt", log_dir=tmp_path / "logs")
    assert config.checkpoint_dir == str(Path("runs") / "ckpt")
    assert config.log_dir == str(tmp_path / "logs")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.replace(log_dir=Path("other")).log_dir == "other"
    assert TrainConfig(log_dir="x").log_dir == "x" and TrainConfig().log_dir is None


def test_seed_is_within_numpys_range() -> None:
    # numpy's bounds message came from seeding at the start of training, naming no setting
    with pytest.raises(ValueError, match=r"seed must be <= 4294967295 \(2\*\*32 - 1, the largest "
                                         r"seed NumPy takes\), got 99999999999"):
        TrainConfig(seed=99999999999)
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        TrainConfig(seed=-1)
    assert TrainConfig(seed=2**32 - 1).seed == 4294967295


@pytest.mark.parametrize(("settings", "gpus", "several"), [
    ({}, 0, False), ({}, 1, False), ({}, 2, True),  # "auto" takes every GPU
    ({"accelerator": "cpu"}, 2, False), ({"devices": 2}, 0, True),
    ({"devices": [0]}, 2, False), ({"devices": [0, 1]}, 2, True),
    ({"devices": -1, "accelerator": "gpu"}, 3, True), ({"devices": 1, "num_nodes": 2}, 0, True),
    ({"strategy": "ddp"}, 0, True), ({"strategy": "ddp_find_unused_parameters_true"}, 0, True),
    ({"strategy": "fsdp"}, 0, True), ({"devices": 2, "strategy": "single_device"}, 0, False)])
def test_several_processes(settings: dict[str, Any], gpus: int, several: bool,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert TrainConfig(**settings).several_processes() is several


def test_numpy_scalars_are_stored_as_python_values_that_save() -> None:
    import numpy as np
    import yaml

    numbers = {"max_epochs": np.int64(3), "lr": np.float64(1e-3), "weight_decay": np.float32(0),
               "lr_gamma": np.float64(0.5), "scheduler_patience": np.int32(2),
               "grad_clip": np.float64(1.0), "ema_decay": np.float64(0.99),
               "adversarial": np.float64(0.0), "early_stopping_patience": np.int64(3),
               "seed": np.uint32(7), "num_nodes": np.int64(1), "log_every_n_steps": np.int64(5),
               "limit_train_batches": np.float64(0.5), "limit_val_batches": np.int64(2)}
    config = TrainConfig(**numbers, restore_best=np.bool_(False), devices=[np.int64(0)])
    for name, value in numbers.items():
        assert getattr(config, name) == value and type(getattr(config, name)) is type(
            value.item()), name
    assert config.restore_best is False and type(config.devices[0]) is int
    # np.float64, a float, was kept and then crashed yaml.safe_dump when the model was saved
    assert TrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config


@pytest.mark.parametrize(("name", "kind"), [("lr", "a number"), ("max_epochs", "an int")])
def test_a_numpy_bool_is_still_refused_for_a_number(name: str, kind: str) -> None:
    import numpy as np

    with pytest.raises(TypeError, match=rf"^training.{name} must be {kind}, got bool True$"):
        TrainConfig(**{name: np.bool_(True)})


@pytest.mark.parametrize("app", ["forecaster", "classifier", "tagger"])
def test_an_application_names_a_wrong_lightning_name_before_it_reads_the_data(app: str) -> None:
    import pandas as pd

    bad = TrainConfig(accelerator="cpuu", max_epochs=1)
    message = r"^training\.accelerator must be one of the names Lightning takes"
    # (said only when the run started: after the data, vocabulary and vectors were read)
    with pytest.raises(ValueError, match=message):
        if app == "forecaster":
            from lstmkit.forecasting import ForecastConfig, Forecaster

            config = ForecastConfig.from_dict({"data": {"target": "y"},
                                               "training": bad.to_dict()})
            Forecaster(config).fit(pd.DataFrame({"not_y": [1.0]}))
        elif app == "classifier":
            from lstmkit.classification import Classifier, ClassifierConfig, Example

            Classifier(ClassifierConfig(), bad).fit([Example("", "a")])
        else:
            from lstmkit.tagging import Sentence, Tagger, TaggerConfig

            Tagger(TaggerConfig(), bad).fit([Sentence([], [])])
