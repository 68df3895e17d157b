"""Tests of the shared training engine on tiny generated regression data."""

from __future__ import annotations

import dataclasses
import itertools
import os
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lstmkit.training import AtomicCheckpointIO, TrainConfig, evaluate, fit


def _data(n: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    w = torch.randn(5, 1, generator=g)
    y = x @ w + 0.01 * torch.randn(n, 1, generator=g)
    train = DataLoader(TensorDataset(x[:48], y[:48]), batch_size=8, shuffle=True)
    val = DataLoader(TensorDataset(x[48:], y[48:]), batch_size=8)
    return train, val


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.2), nn.Linear(8, 1))


def _cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = {"max_epochs": 2, "progress_bar": False, "accelerator": "cpu",
                               "devices": 1}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_fit_reduces_loss_and_reports_history() -> None:
    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=6, lr=0.05),
                 metrics={"mae": lambda out, y: (out - y).abs().mean()})
    assert len(result.history) == 6
    first, last = result.history[0], result.history[-1]
    assert last["val_loss"] < first["val_loss"]
    assert "val_mae" in last
    assert result.best_score == pytest.approx(min(r["val_loss"] for r in result.history))
    assert not result.model.training


@pytest.mark.parametrize("name", ["loss", ""])
def test_a_metric_named_like_a_value_the_task_logs_is_refused_when_built(name: str) -> None:
    from lstmkit.training import Task

    train, val = _data()
    metrics = {name: lambda out, y: (out - y).abs().mean()}
    message = ("reserved: the metric would be logged as 'val_loss'" if name
               else "metric names must be non-empty str, got ''")
    with pytest.raises(ValueError, match=message):
        Task(_model(), F.mse_loss, _cfg(), metrics=metrics)
    with pytest.raises(ValueError, match=message):
        fit(_model(), F.mse_loss, train, val, _cfg(), metrics=metrics)
    with pytest.raises(ValueError, match=message):
        evaluate(_model(), F.mse_loss, val, _cfg(), metrics=metrics)


def test_metrics_that_are_no_mapping_or_have_a_name_that_is_no_str_are_a_type_error() -> None:
    from lstmkit.training import Task

    train, val = _data()
    mae = lambda out, y: (out - y).abs().mean()  # noqa: E731
    # (name, metric) pairs gave "metric names must be non-empty str, got ('mae', <function")
    pairs = [("mae", mae)]
    not_a_mapping = (r"^metrics must be a mapping of name -> metric, got list \[\('mae', .*"
                     r"\(for \(name, metric\) pairs, pass dict\(pairs\)\)$")
    # and a name that is no str gave a ValueError
    for metrics, message in ((pairs, not_a_mapping),
                             ({1: mae}, r"^metric names must be non-empty str, got int 1$")):
        with pytest.raises(TypeError, match=message):
            Task(_model(), F.mse_loss, _cfg(), metrics=metrics)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=message):
            fit(_model(), F.mse_loss, train, val, _cfg(), metrics=metrics)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=message):
            evaluate(_model(), F.mse_loss, val, _cfg(), metrics=metrics)  # type: ignore[arg-type]
    # a ModuleDict of metrics, as torchmetrics' MetricCollection, is a mapping of them
    from torchmetrics import MeanAbsoluteError, MetricCollection

    collection = MetricCollection({"mae": MeanAbsoluteError()})
    result = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1), metrics=collection)
    assert "val_mae" in result.history[-1]
    assert set(evaluate(_model(), F.mse_loss, val, _cfg(), metrics=collection)) == {
        "test_loss", "test_mae"}


def test_a_config_that_is_no_train_config_is_a_type_error() -> None:
    from lstmkit.training import Task

    train, val = _data()
    # a dict of settings: evaluate failed in "'dict' object has no attribute 'progress_bar'"
    # and Task when it first read a setting
    message = (r"^config must be a TrainConfig, got dict; make one with "
               r"TrainConfig\(\*\*settings\)$")
    with pytest.raises(TypeError, match=message):
        Task(_model(), F.mse_loss, {"max_epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        fit(_model(), F.mse_loss, train, val, {"max_epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        evaluate(_model(), F.mse_loss, val, {"max_epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^config must be a TrainConfig, got str$"):
        evaluate(_model(), F.mse_loss, val, "fast")  # type: ignore[arg-type]


def test_a_history_resumed_from_an_older_checkpoint_has_whole_epochs() -> None:
    # older checkpoints hold 0.0, 1.0: a resumed run's history mixed 0.0 and 2
    from lstmkit.training.callbacks import History

    history = History()
    history.load_state_dict({"epochs": [{"epoch": 0.0, "val_loss": 1.0}]})
    assert history.epochs == [{"epoch": 0, "val_loss": 1.0}]
    assert type(history.epochs[0]["epoch"]) is int


def test_fit_is_repeatable_with_seed() -> None:
    train, val = _data()
    a = fit(_model(), F.mse_loss, train, val, _cfg(seed=3)).model.state_dict()
    b = fit(_model(), F.mse_loss, train, val, _cfg(seed=3)).model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_seed_everything_refuses_what_lightning_would_change() -> None:
    import numpy as np

    from lstmkit.training import seed_everything

    # Lightning took True as 1 and 1.5 as 1, and seeded 0 for -1 with a warning
    for bad in (True, 1.5, "1"):
        with pytest.raises(TypeError, match=rf"seed must be an int or None, got "
                                            rf"{type(bad).__name__} {bad!r}"):
            seed_everything(bad)  # type: ignore[arg-type]
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=rf"seed must be in \[0, 4294967295\] .* got "
                                             rf"{bad}$"):
            seed_everything(bad)
    with pytest.raises(ValueError, match=r"got an int of 401 digits$"):  # (not printed whole)
        seed_everything(10**400)
    seed_everything(np.int64(3))
    first = torch.rand(1)
    seed_everything(3)
    assert torch.equal(torch.rand(1), first)


def test_restore_best_loads_best_weights() -> None:
    train, val = _data()
    cfg = _cfg(max_epochs=5, lr=0.05)
    result = fit(_model(), F.mse_loss, train, val, cfg)
    score = evaluate(result.model, F.mse_loss, val, cfg)["test_loss"]
    assert score == pytest.approx(result.best_score, rel=1e-5)


def test_early_stopping_stops_and_needs_validation() -> None:
    train, val = _data()
    # a metric that never improves: one that grows at every call (a tie would go to the
    # lower val_loss, as the best weights do: see the test after)
    calls = iter(range(10_000))
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(max_epochs=20, early_stopping_patience=1, monitor="val_worse"),
                 metrics={"worse": lambda out, y: torch.tensor(float(next(calls)))})
    assert len(result.history) == 2
    with pytest.raises(ValueError, match=r"training\.early_stopping_patience=1 stops on "
                                         "validation data, but none was given"):
        fit(_model(), F.mse_loss, train, None, _cfg(early_stopping_patience=1))


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle", "plateau", "exponential"])
def test_schedulers_and_optimizers_run(scheduler: str) -> None:
    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(scheduler=scheduler, optimizer="adamw", grad_clip=1.0, weight_decay=0.01))
    assert len(result.history) == 2


def test_cosine_schedule_changes_lr() -> None:
    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=3, scheduler="cosine"))
    lrs = [r["lr"] for r in result.history]
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[1] < lrs[0]


# plateau: monitoring a falling loss for a maximum decays the learning rate every epoch
@pytest.mark.parametrize("schedule", [{"scheduler": "exponential"},
                                      {"scheduler": "plateau", "monitor_mode": "max",
                                       "scheduler_patience": 0, "lr_gamma": 0.5}])
def test_resume_equals_uninterrupted_run(tmp_path: Path, schedule: dict) -> None:
    train, val = _data()
    full = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=4, restore_best=False,
                                                      **schedule))
    ckpt = tmp_path / "ckpt"
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=2, checkpoint_dir=ckpt,
                                               restore_best=False, **schedule))
    assert (ckpt / "last.ckpt").is_file()
    before = torch.load(ckpt / "last.ckpt", weights_only=False)["callbacks"]["TrainingClock"]
    # a new process would build a fresh model and call fit with resume=True
    torch.manual_seed(123)
    resumed = fit(_model(), F.mse_loss, train, val,
                  _cfg(max_epochs=4, checkpoint_dir=ckpt, restore_best=False, **schedule),
                  resume=True)
    assert resumed.epochs_run == 4
    # the training time of the whole run: the first two epochs' (from the checkpoint) too
    assert resumed.total_time_s == pytest.approx(before["seconds"] + resumed.wall_time_s)
    assert before["seconds"] > 0 and resumed.total_time_s > resumed.wall_time_s
    lrs = [row["lr"] for row in full.history]
    assert lrs[3] < lrs[2] < lrs[1]  # the schedule decays across the cut
    assert [row["lr"] for row in resumed.history] == lrs
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_resume_with_other_training_settings_is_refused_naming_them(tmp_path: Path) -> None:
    # the optimiser, schedule and early stopping continue from the checkpoint: a changed lr
    # was silently ignored, a longer cosine schedule restarted, and a longer onecycle crashed
    train, val = _data()
    ckpt = tmp_path / "ckpt"
    cfg = _cfg(max_epochs=2, checkpoint_dir=ckpt, scheduler="cosine")
    fit(_model(), F.mse_loss, train, val, cfg)
    for changes, named in (({"lr": 0.03}, r"training\.lr: 0\.001 there, 0\.03 here"),
                           ({"optimizer": "sgd"}, r"training\.optimizer: 'adam' there, 'sgd'"),
                           ({"max_epochs": 4}, r"training\.max_epochs: 2 there, 4 here"),
                           ({"early_stopping_patience": 3},
                            r"training\.early_stopping_patience: None there, 3 here")):
        with pytest.raises(ValueError, match=r"was trained with other settings \(" + named):
            fit(_model(), F.mse_loss, train, val, cfg.replace(**changes), resume=True)
    # more epochs where the schedule does not depend on them, other hardware and logs: fine
    ckpt = tmp_path / "flat"
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=2, checkpoint_dir=ckpt))
    resumed = fit(_model(), F.mse_loss, train, val,
                  _cfg(max_epochs=3, checkpoint_dir=ckpt, accelerator="cpu", devices=1,
                       log_every_n_steps=1), resume=True)
    assert resumed.epochs_run == 3


def test_resuming_a_run_that_early_stopping_ended_trains_no_more(tmp_path: Path) -> None:
    # monitoring a falling loss for a maximum runs out of patience after epoch 3
    train, val = _data()
    cfg = _cfg(max_epochs=8, early_stopping_patience=2, monitor_mode="max",
               checkpoint_dir=tmp_path)
    full = fit(_model(), F.mse_loss, train, val, cfg)
    assert full.epochs_run == 3
    # killed after the last checkpoint, or resumed again after it ended: the same model
    for epochs in (8, 12):  # (and it says why, more epochs or not, from the caller's line)
        with pytest.warns(UserWarning, match=r"^the run resumed had stopped early after "
                                             r"epoch 3 \(2 validation checks without a better "
                                             r"val_loss, training.early_stopping_patience\)"
                          ) as caught:
            resumed = fit(_model(), F.mse_loss, train, val,
                          dataclasses.replace(cfg, max_epochs=epochs), resume=True)
        assert [w.filename for w in caught if "stopped early" in str(w.message)] == [__file__]
        assert resumed.epochs_run == 3
        assert len(resumed.history) == 3
        a, b = full.model.state_dict(), resumed.model.state_dict()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("precision", ["64-true", "bf16-true"])
def test_a_true_precision_gives_the_model_back_in_its_dtype(precision: str) -> None:
    train, val = _data()
    cfg = _cfg(precision=precision)
    result = fit(_model(), F.mse_loss, train, val, cfg)
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}
    # evaluation runs at the configured precision too, and leaves the dtype alone
    assert evaluate(result.model, F.mse_loss, val, cfg)["test_loss"] > 0
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}
    x, _ = next(iter(val))
    result.model(x)  # float32 input, as before training


def test_resuming_another_models_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    train, val = _data()
    cfg = _cfg(checkpoint_dir=tmp_path)
    fit(_model(), F.mse_loss, train, val, cfg)
    wider = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.2), nn.Linear(16, 1))
    with pytest.raises(ValueError, match=r"resume checkpoint .*last.ckpt' was written by a "
                                         r"different model \(model.0.bias \(8,\) there, \(16,\) "
                                         r"here; model.0.weight \(8, 5\) there"):
        fit(wider, F.mse_loss, train, val, cfg, resume=True)
    # a checkpoint in torch's legacy (non-zip) format cannot be memory-mapped: checked all the
    # same
    legacy = tmp_path / "legacy.ckpt"
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    torch.save(checkpoint, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match=r"resume checkpoint .*legacy.ckpt' was written by a "
                                         r"different model"):
        fit(wider, F.mse_loss, train, val, cfg, resume=legacy)


def test_last_checkpoint_is_the_last_epoch_not_the_best(tmp_path: Path) -> None:
    train, val = _data()
    ckpt = tmp_path / "ckpt"
    # monitoring a falling loss for a maximum: the first epoch stays the best
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(max_epochs=3, checkpoint_dir=ckpt, monitor_mode="max"))
    assert result.best_epoch == 0
    assert torch.load(ckpt / "best.ckpt", weights_only=False)["epoch"] == 0
    assert torch.load(ckpt / "last.ckpt", weights_only=False)["epoch"] == 2
    assert sorted(p.name for p in ckpt.iterdir()) == [".lock", "best.ckpt", "last.ckpt"]


def test_a_tie_in_a_monitored_metric_goes_to_the_lower_val_loss() -> None:
    # an F1 of 0 over the first epochs kept the first epoch's weights, whatever the loss did
    train, val = _data()
    flat = {"f1": lambda out, y: torch.tensor(0.0)}
    with pytest.warns(UserWarning, match=r"val_f1 was 0 at every validation check: the "
                                         r"weights kept \(the check with the lowest val_loss"):
        result = fit(_model(), F.mse_loss, train, val,
                     _cfg(max_epochs=4, monitor="val_f1", monitor_mode="max",
                          early_stopping_patience=None), metrics=flat)
    with pytest.warns(UserWarning, match=r"val_f1 was 0 at every validation check: every "
                                         r"epoch's weights, the last one's kept, score nothing"):
        fit(_model(), F.mse_loss, train, val,
            _cfg(max_epochs=1, monitor="val_f1", monitor_mode="max", restore_best=False),
            metrics=flat)
    losses = [row["val_loss"] for row in result.history]
    assert losses[-1] < losses[0]  # the loss falls, so the tie goes to a later epoch
    assert result.best_epoch == losses.index(min(losses)) > 0
    assert result.best_score == 0.0


def test_patience_follows_the_best_weights_tie_rule_and_the_log_says_it_stopped(
        capsys: pytest.CaptureFixture[str]) -> None:
    # an accuracy tied at its best while the val_loss fell: each such check was marked
    # "(best)" and kept, but counted against the patience, and the run stopped silently
    train, val = _data()
    flat = {"acc": lambda out, y: torch.tensor(1.0)}
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(max_epochs=5, monitor="val_acc", monitor_mode="max", lr=0.01,
                      early_stopping_patience=1, epoch_log=True), metrics=flat)
    losses = [row["val_loss"] for row in result.history]
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert len(result.history) == 5 and result.best_epoch == 4  # each tie won by the loss
    assert "stopped early" not in capsys.readouterr().err
    # a metric that never improves, nor wins a tie (the loss rises), still stops the run
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(max_epochs=20, monitor="val_acc", monitor_mode="max", lr=1.0,
                      early_stopping_patience=2, epoch_log=True), metrics=flat)
    err = capsys.readouterr().err.splitlines()
    stopped = len(result.history)
    assert stopped < 20
    assert (f"stopped early after epoch {stopped}/20: 2 validation check(s) without a better "
            "val_acc (training.early_stopping_patience)") in err, err
    assert err.index(next(e for e in err if e.startswith("stopped early"))) == len(err) - 2
    assert err[-1].startswith("best check:")
    # patience that runs out at the last epoch stops nothing early: no line
    calls = iter(range(10_000))
    fit(_model(), F.mse_loss, train, val,
        _cfg(max_epochs=3, monitor="val_worse", early_stopping_patience=2, epoch_log=True),
        metrics={"worse": lambda out, y: torch.tensor(float(next(calls)))})
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "stopped early" not in err, err


def test_best_weights_read_an_unknown_loss_as_the_highest_in_a_tie() -> None:
    # a NaN val_loss stayed the best's loss, and no later tie could beat it (TopSnapshots,
    # which reads it as infinite, kept another epoch)
    from types import SimpleNamespace

    from lstmkit.training.callbacks import BestWeights

    best = BestWeights("val_f1", "max")
    module = nn.Linear(1, 1)
    for epoch, loss in enumerate([float("nan"), 0.5, 0.3, 0.4]):
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch, callbacks=[],
                                  callback_metrics={"val_f1": torch.tensor(0.0),
                                                    "val_loss": torch.tensor(loss)})
        best.on_validation_end(trainer, module)  # type: ignore[arg-type]
    assert best.best_epoch == 2 and best.best_loss == pytest.approx(0.3)


def test_epoch_log_prints_a_line_per_epoch_and_the_check_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=3, epoch_log=True))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(("epoch ", "best check"))]
    assert [line.split(":")[0] for line in lines] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3", "best check"]
    assert "train_loss" in lines[0] and "val_loss" in lines[0]
    best = result.best_epoch
    assert lines[best].endswith("(best)")
    assert lines[-1] == (f"best check: epoch {best + 1}, val_loss {result.best_score:.4g} "
                         "(weights kept)")
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1))
    assert "epoch 1/1" not in capsys.readouterr().err  # off by default
    with pytest.raises(TypeError, match="epoch_log must be True or False"):
        _cfg(epoch_log="yes")


def test_a_gpu_that_torch_does_not_find_is_said_before_training(monkeypatch) -> None:
    # Lightning said only "No supported gpu backend found!"
    train, val = _data()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("gpu", "cuda"):  # ('GPU' is no name Lightning takes: see test_train_config)
        with pytest.raises(ValueError, match=rf"training.accelerator='{name}', but torch .* "
                                             r"finds no GPU here; use 'cpu' or 'auto'"):
            fit(_model(), F.mse_loss, train, val, _cfg(accelerator=name))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    with pytest.raises(ValueError, match=r"training.accelerator='cuda', but"):
        fit(_model(), F.mse_loss, train, val, _cfg(accelerator="cuda"))


def test_a_diverged_run_has_no_best_and_warns() -> None:
    train, val = _data()

    def nan_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output, target) * float("nan")

    with pytest.warns(UserWarning, match="no validation check gave a finite val_loss"):
        result = fit(_model(), nan_loss, train, val, _cfg())
    assert result.best_score is None and result.best_epoch is None


def test_a_monitor_that_is_never_logged_is_an_error_before_training() -> None:
    train, val = _data()
    model = _model()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    with pytest.raises(ValueError, match=r"training.monitor 'val_los' is not among the values "
                                         r"logged in validation: \['val_loss', 'val_mae'\]"):
        fit(model, F.mse_loss, train, val, _cfg(monitor="val_los"),
            metrics={"mae": lambda out, y: (out - y).abs().mean()})
    assert calls == []  # no epoch was spent before the typo was reported
    # without validation data the monitor is not used, but a name that no validation could
    # log is a mistake all the same (it was saved as the run's setting)
    with pytest.raises(ValueError, match=r"training.monitor 'val_los' is not among"):
        fit(_model(), F.mse_loss, train, None, _cfg(monitor="val_los", max_epochs=1))
    fit(_model(), F.mse_loss, train, None, _cfg(monitor="val_mae", max_epochs=1),
        metrics={"mae": lambda out, y: (out - y).abs().mean()})


@pytest.mark.parametrize(("signal_name", "code", "message"), [
    ("SIGTERM", 143, "training stopped by SIGTERM in epoch 2/2; "),  # (the epoch log's count)
    ("SIGINT", 130, "training interrupted in epoch 2/2; "),
])
def test_a_signal_exits_with_its_status_and_says_how_to_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], signal_name: str, code: int,
        message: str) -> None:
    import lightning.pytorch as pl
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    # what Lightning raises on SIGTERM, and what Python raises on Ctrl-C
    raised = SIGTERMException if signal_name == "SIGTERM" else KeyboardInterrupt

    class Signalled(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            if trainer.current_epoch == 1:
                raise raised

    train, val = _data()
    with pytest.raises(SystemExit) as stop:
        fit(_model(), F.mse_loss, train, val, _cfg(checkpoint_dir=tmp_path),
            callbacks=[Signalled()])
    assert stop.value.code == code
    assert message in capsys.readouterr().err
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["epoch"] == 0


def test_a_signal_before_the_first_checkpoint_says_there_is_nothing_to_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # it pointed to a last.ckpt that did not exist
    import lightning.pytorch as pl
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    class Signalled(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            raise SIGTERMException

    train, val = _data()
    with pytest.raises(SystemExit):
        fit(_model(), F.mse_loss, train, val, _cfg(checkpoint_dir=tmp_path),
            callbacks=[Signalled()])
    assert ("training stopped by SIGTERM in epoch 1/2; no finished epoch was checkpointed yet "
            "(last.ckpt), so there is nothing "
            "to resume") in capsys.readouterr().err
    assert not (tmp_path / "last.ckpt").exists()


@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_fork", "ddp_notebook"])
def test_strategies_that_train_in_child_processes_are_refused(strategy: str) -> None:
    train, val = _data()
    with pytest.raises(ValueError, match=rf"training.strategy='{strategy}' trains in child "
                                         r"processes.* use 'ddp'"):
        fit(_model(), F.mse_loss, train, val, _cfg(strategy=strategy))


def test_checkpoints_without_validation_data(tmp_path: Path) -> None:
    train, _ = _data()
    fit(_model(), F.mse_loss, train, None, _cfg(max_epochs=2, checkpoint_dir=tmp_path))
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["epoch"] == 1
    resumed = fit(_model(), F.mse_loss, train, None,
                  _cfg(max_epochs=3, checkpoint_dir=tmp_path), resume=True)
    assert resumed.epochs_run == 3


def test_resume_path_must_exist(tmp_path: Path) -> None:
    train, val = _data()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fit(_model(), F.mse_loss, train, val, _cfg(), resume=tmp_path / "nope.ckpt")
    # the run's folder given for its checkpoint: it "did not exist"
    with pytest.raises(IsADirectoryError, match=r"^resume checkpoint '.*' is a folder, not a "
                                                r"checkpoint file: give the file \('.*last.ckpt'"
                                                r"\), or resume=True with "
                                                r"training.checkpoint_dir set to the folder$"):
        fit(_model(), F.mse_loss, train, val, _cfg(), resume=tmp_path)
    with pytest.raises(ValueError, match=r"resume=True needs config\.checkpoint_dir"):
        fit(_model(), F.mse_loss, train, val, _cfg(), resume=True)
    # nothing to resume yet (a job that always passes resume=True, on its first run): said
    with pytest.warns(UserWarning, match=r"resume=True \(--resume\): no last.ckpt in "
                                         r"'.*fresh' yet, so training starts from its first "
                                         r"epoch"):
        result = fit(_model(), F.mse_loss, train, val,
                     _cfg(checkpoint_dir=tmp_path / "fresh", max_epochs=1), resume=True)
    assert len(result.history) == 1


def test_a_damaged_or_overtrained_checkpoint_is_refused_saying_what_to_do(
        tmp_path: Path) -> None:
    train, val = _data()
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=3, checkpoint_dir=tmp_path))
    # more epochs finished than this run's max_epochs: Lightning trained nothing (at 2) or
    # failed in its own words (at 1)
    for fewer in (2, 1):
        with pytest.raises(ValueError, match=r"last.ckpt' has 3 finished epochs, more than "
                                             r"training.max_epochs=" + str(fewer)
                                             + r" \(--epochs\): resume with max_epochs of at "
                                               r"least 3"):
            fit(_model(), F.mse_loss, train, val,
                _cfg(max_epochs=fewer, checkpoint_dir=tmp_path), resume=True)
    # as many: the run had ended, which Lightning did not say (a run that stopped early
    # was said to have)
    with pytest.warns(UserWarning, match=r"last.ckpt' has all 3 epochs of training."
                                         r"max_epochs=3 finished: the run had ended, so it "
                                         r"trains no further; resume with a larger "
                                         r"training.max_epochs \(--epochs\) to train on"):
        result = fit(_model(), F.mse_loss, train, val,
                     _cfg(max_epochs=3, checkpoint_dir=tmp_path), resume=True)
    assert len(result.history) == 3
    # one that had also run out of patience: a larger max_epochs would train no further
    patient = _cfg(max_epochs=2, lr=1e-30, early_stopping_patience=1,
                   checkpoint_dir=tmp_path / "patient")
    fit(_model(), F.mse_loss, train, val, patient)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(_model(), F.mse_loss, train, val, patient, resume=True)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert [m[m.index("finished"):] for m in said if "the run had ended" in m] == [
        "finished: the run had ended, so it trains no further; it had also run out of "
        "patience (training.early_stopping_patience): to train longer, start a new run with "
        "a larger patience"], said
    cosine = _cfg(max_epochs=3, scheduler="cosine", checkpoint_dir=tmp_path / "cosine")
    fit(_model(), F.mse_loss, train, val, cosine)
    with pytest.warns(UserWarning, match=r"its schedule \(training.scheduler='cosine'\) ends "
                                         r"there, so a longer run is a new one"):
        fit(_model(), F.mse_loss, train, val, cosine, resume=True)
    # cut short, empty, text, no checkpoint: each named, with what to do (they gave an OSError,
    # EOFError's traceback or "invalid literal for int()")
    whole = (tmp_path / "last.ckpt").read_bytes()
    damaged = tmp_path / "damaged.ckpt"
    for content in (whole[: len(whole) // 2], b"", b"garbage\n"):
        damaged.write_bytes(content)
        with pytest.raises(ValueError, match=r"resume checkpoint '.*damaged.ckpt' cannot be read "
                                             r"\(\w+: .*\): it is damaged or was not written "
                                             r"whole; delete it to train afresh, or put another "
                                             r"checkpoint in its place \(best.ckpt beside it "
                                             r"holds the best epoch: training then goes on "
                                             r"from that epoch, not from the last\)$"):
            fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=4), resume=damaged)
    # damage inside a tensor's bytes, which the memory-mapped read does not look at: it
    # surfaced in Lightning's own load ("PytorchStreamReader failed reading file data/19"),
    # after the logs had been cut back for the resumed run
    import zipfile

    with zipfile.ZipFile(tmp_path / "last.ckpt") as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename),
                     key=lambda i: i.file_size)
    start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    flipped = bytearray(whole)
    for at in range(start, start + min(record.file_size, 8)):
        flipped[at] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"cannot be read \(BadZipFile: record '.*/data/\w+' "
                                         r"fails its CRC check\): it is damaged"):
        fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=4), resume=damaged)
    torch.save({"weights": 1}, damaged)
    with pytest.raises(ValueError, match=r"damaged.ckpt' is no Lightning checkpoint \(it holds "
                                         r"dict, without a state_dict\)"):
        fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=4), resume=damaged)


def test_atomic_checkpoint_leaves_old_file_on_crash(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"a": torch.ones(2)}, target)

    class Boom:
        def __reduce__(self) -> tuple:
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        io.save_checkpoint({"a": torch.zeros(2), "b": Boom()}, target)
    loaded = torch.load(target, weights_only=True)
    torch.testing.assert_close(loaded["a"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_a_checkpoint_write_removes_the_temporary_files_of_dead_writers(tmp_path: Path) -> None:
    # a process killed while writing (no finally: runs) left its temporary file for good
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = tmp_path / f".last.ckpt.tmp-{int(dead.stdout)}"
    live = tmp_path / f".last.ckpt.tmp-{os.getppid()}"  # another writer still at work
    other = tmp_path / f".best.ckpt.tmp-{int(dead.stdout)}"  # another name's: its own write
    for path in (left, live, other):
        path.write_bytes(b"half")
    AtomicCheckpointIO().save_checkpoint({"a": torch.ones(2)}, tmp_path / "last.ckpt")
    assert sorted(os.listdir(tmp_path)) == sorted(["last.ckpt", live.name, other.name])


def test_logs_written(tmp_path: Path) -> None:
    train, val = _data()
    fit(_model(), F.mse_loss, train, val, _cfg(log_dir=tmp_path / "logs", log_every_n_steps=1))
    csvs = list((tmp_path / "logs" / "csv").rglob("metrics.csv"))
    events = list((tmp_path / "logs" / "tb").rglob("events.out.tfevents.*"))
    assert csvs and events
    assert "val_loss" in csvs[0].read_text()


def test_every_log_every_n_steps_the_steps_loss_and_lr_are_logged(tmp_path: Path) -> None:
    # it was passed to Lightning, yet every value was logged once an epoch: no curve within
    # epochs (and a one-cycle schedule's rate only at each epoch's start)
    import csv

    train, val = _data()  # 6 steps an epoch
    result = fit(_model(), F.mse_loss, train, val,
                 _cfg(max_epochs=2, log_dir=tmp_path / "logs", log_every_n_steps=4,
                      scheduler="onecycle"))
    with (tmp_path / "logs" / "csv" / "version_0" / "metrics.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["train_loss_step"]]
    assert [int(row["step"]) for row in rows] == [3, 7, 11]  # (steps counted from 0)
    assert all(float(row["train_loss_step"]) > 0 for row in rows)
    rates = [float(row["lr_step"]) for row in rows]
    assert len(set(rates)) == 3 and rates[-1] < rates[0]  # one-cycle ends low
    assert [step for step, _ in _scalars(tmp_path / "logs" / "tb" / "version_0",
                                         "train_loss_step")] == [3, 7, 11]
    # the epochs' lines and history keep their own values, the epoch a whole number (it was
    # 0.0, 1.0 in meta.json)
    assert all("train_loss_step" not in row for row in result.history)
    assert [row["epoch"] for row in result.history] == [0, 1]
    assert all(type(row["epoch"]) is int for row in result.history)


def test_the_runs_settings_are_written_beside_its_logs(tmp_path: Path) -> None:
    # hparams.yaml was empty: the curves did not say what run drew them
    import yaml

    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val, _cfg(log_dir=tmp_path / "logs", lr=0.02),
                 run_settings={"model.hidden_size": 8, "data.target": ("a", "b")},
                 log_settings={"data.path": Path("a.csv"), "model.ensemble": 1})
    for logger in ("csv", "tb"):
        files = list((tmp_path / "logs" / logger).rglob("hparams.yaml"))
        assert len(files) == 1
        settings = yaml.safe_load(files[0].read_text())  # plain YAML: lists, not tuples
        assert settings["training.lr"] == 0.02 and settings["model.hidden_size"] == 8
        assert settings["data.target"] == ["a", "b"]
        # and the settings a resume does not compare (it held those alone)
        assert settings["data.path"] == "a.csv" and settings["model.ensemble"] == 1
        assert settings["training.log_dir"] == str(tmp_path / "logs")
    # TensorBoard's HParams tab pairs them with the best check's score (it was empty); the
    # CSV log is left as it was
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((tmp_path / "logs" / "tb").glob("version_*"))))
    events.Reload()
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
    [best] = events.Scalars("hp/best_val_loss")
    assert best.value == pytest.approx(result.best_score)
    csv = next((tmp_path / "logs" / "csv").rglob("metrics.csv")).read_text()
    assert "hp/" not in csv


def test_a_process_lightning_does_not_log_from_writes_no_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (a rank left in the environment without WORLD_SIZE: Lightning logs nothing, and the
    # settings file made a stray version folder that later runs numbered after)
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    train, val = _data()
    fit(_model(), F.mse_loss, train, val, _cfg(log_dir=tmp_path / "logs"))
    assert not list((tmp_path / "logs").rglob("hparams.yaml"))


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    """The (step, value) pairs TensorBoard shows for ``tag``: the event files read in the
    order they were written, a session restarted at step s hiding the events from s on."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog
    from tensorboard.util.tensor_util import make_ndarray

    shown: list[tuple[int, float]] = []
    for path in sorted(folder.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns):
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                shown = [(step, value) for step, value in shown if step < event.step]
            shown += [(event.step, float(make_ndarray(value.tensor)) if value.HasField("tensor")
                       else value.simple_value)
                      for value in event.summary.value if value.tag == tag]
    return shown


def test_a_resumed_run_logs_on_in_the_folders_of_the_run_it_resumes(tmp_path: Path) -> None:
    train, val = _data()
    full = tmp_path / "full"
    # (with the step rows of log_every_n_steps: 5, at steps 4, 9, 14 and 19, the resume
    # coming at 12)
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=4, log_dir=full / "logs",
                                              log_every_n_steps=5))
    cut = tmp_path / "cut"
    cfg = _cfg(max_epochs=2, checkpoint_dir=cut / "ckpt", log_dir=cut / "logs",
               log_every_n_steps=5)
    fit(_model(), F.mse_loss, train, val, cfg)
    # what a run killed in epoch 2 had logged after its last checkpoint, which the resumed
    # run logs again
    metrics = cut / "logs" / "csv" / "version_0" / "metrics.csv"
    with metrics.open("a") as file:  # and the partial line of a write cut short
        file.write("2,,15,,99.0\n2,0.5")
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(cut / "logs" / "tb" / "version_0")) as writer:
        writer.add_scalar("val_loss", 99.0, 15)
    fit(_model(), F.mse_loss, train, val, cfg.replace(max_epochs=4), resume=True)
    for name in ("csv", "tb"):
        assert sorted(p.name for p in (cut / "logs" / name).iterdir()) == ["version_0"]
    assert metrics.read_text() == (full / "logs" / "csv" / "version_0" / "metrics.csv"
                                   ).read_text()
    scalars = _scalars(cut / "logs" / "tb" / "version_0", "val_loss")
    assert scalars == _scalars(full / "logs" / "tb" / "version_0", "val_loss")
    assert len(scalars) == 4 and all(loss > 0 for _, loss in scalars)
    steps = _scalars(cut / "logs" / "tb" / "version_0", "train_loss_step")
    assert steps == _scalars(full / "logs" / "tb" / "version_0", "train_loss_step")
    assert [step for step, _ in steps] == [4, 9, 14, 19]
    # one best score, the whole run's (the first run's stayed beside it)
    best = _scalars(cut / "logs" / "tb" / "version_0", "hp/best_val_loss")
    assert best == _scalars(full / "logs" / "tb" / "version_0", "hp/best_val_loss")
    assert len(best) == 1
    # its settings are the resumed run's in both folders (TensorBoard's kept the first run's)
    import yaml

    for name in ("csv", "tb"):
        settings = yaml.safe_load((cut / "logs" / name / "version_0" / "hparams.yaml")
                                  .read_text())
        assert settings["training.max_epochs"] == 4


def test_an_epoch_checkpointed_but_not_yet_logged_is_logged_by_the_resumed_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lightning writes an epoch's checkpoint before it logs the epoch's train_loss and lr:
    # a run killed in between lost that row for good, the resumed run starting at the next
    # epoch
    from lightning.pytorch.trainer.connectors.logger_connector.logger_connector import (
        _LoggerConnector,
    )

    train, val = _data()
    full = tmp_path / "full"
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=3, log_dir=full / "logs"))
    cut = tmp_path / "cut"
    cfg = _cfg(max_epochs=3, checkpoint_dir=cut / "ckpt", log_dir=cut / "logs")
    logged = _LoggerConnector.update_train_epoch_metrics

    def killed(self: _LoggerConnector) -> None:
        if self.trainer.current_epoch == 1:
            raise SystemExit("killed after the checkpoint of epoch 2")
        logged(self)

    with monkeypatch.context() as patch:
        patch.setattr(_LoggerConnector, "update_train_epoch_metrics", killed)
        with pytest.raises(SystemExit):
            fit(_model(), F.mse_loss, train, val, cfg)
    metrics = cut / "logs" / "csv" / "version_0" / "metrics.csv"
    assert "train_loss" in metrics.read_text() and len(metrics.read_text().splitlines()) < 6
    fit(_model(), F.mse_loss, train, val, cfg, resume=True)
    assert metrics.read_text() == (full / "logs" / "csv" / "version_0" / "metrics.csv"
                                   ).read_text()
    for tag in ("train_loss", "lr", "val_loss"):
        shown = _scalars(cut / "logs" / "tb" / "version_0", tag)
        assert shown == _scalars(full / "logs" / "tb" / "version_0", tag) and len(shown) == 3
    # a resume that finds the row (killed after it was logged) does not log it twice
    fit(_model(), F.mse_loss, train, val, cfg.replace(max_epochs=4), resume=True)
    rows = metrics.read_text().splitlines()
    assert len(rows) == len(set(rows)) == 9  # (the header, and two rows an epoch)


def test_a_resume_cut_short_while_it_trims_the_csv_log_leaves_the_log_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the rows kept were written over the file itself: a run killed in between left it empty
    train, val = _data()
    cfg = _cfg(max_epochs=1, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs")
    fit(_model(), F.mse_loss, train, val, cfg)
    metrics = tmp_path / "logs" / "csv" / "version_0" / "metrics.csv"
    before = metrics.read_text()
    import csv

    def cut_short(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", cut_short)  # (as the rows are written)
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), F.mse_loss, train, val, cfg.replace(max_epochs=2), resume=True)
    assert metrics.read_text() == before
    assert [p.name for p in metrics.parent.iterdir() if p.name.startswith(".")] == []


def test_a_resumed_run_whose_log_folder_is_gone_logs_in_a_new_one(tmp_path: Path) -> None:
    train, val = _data()
    cfg = _cfg(max_epochs=1, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs")
    fit(_model(), F.mse_loss, train, val, cfg.replace(checkpoint_dir=None))
    fit(_model(), F.mse_loss, train, val, cfg)  # logs in version_1
    moved = cfg.replace(max_epochs=2, log_dir=tmp_path / "elsewhere")
    fit(_model(), F.mse_loss, train, val, moved, resume=True)
    for name in ("csv", "tb"):
        assert [p.name for p in (tmp_path / "elsewhere" / name).iterdir()] == ["version_0"]
    rows = (tmp_path / "elsewhere" / "csv" / "version_0" / "metrics.csv").read_text()
    assert [line.split(",")[0] for line in rows.splitlines()[1:]] == ["1", "1"]


def test_custom_batch_fn_and_dict_inputs() -> None:
    x = torch.randn(16, 5)
    y = x.sum(1, keepdim=True)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 1)

        def forward(self, *, features: torch.Tensor) -> torch.Tensor:
            return self.lin(features)

    # batch_size=None: the list items are already batches
    data = DataLoader([({"features": x[i:i + 4]}, y[i:i + 4]) for i in range(0, 16, 4)],
                      batch_size=None)
    result = fit(Net(), F.mse_loss, data, data, _cfg())
    assert len(result.history) == 2
    data2 = DataLoader([{"x": x[i:i + 4], "y": y[i:i + 4]} for i in range(0, 16, 4)],
                       batch_size=None)
    result = fit(nn.Linear(5, 1), F.mse_loss, data2, data2, _cfg(),
                 batch_fn=lambda m, b: (m(b["x"]), b["y"]))
    assert len(result.history) == 2
    with pytest.raises(TypeError, match="batch must be a pair"):
        fit(nn.Linear(5, 1), F.mse_loss, data2, None, _cfg())


def test_fast_dev_run() -> None:
    train, val = _data()
    result = fit(_model(), F.mse_loss, train, val, _cfg(fast_dev_run=True))
    assert result.history


def test_config_validation_messages() -> None:
    # named as a config file and --set write them
    with pytest.raises(ValueError, match=r"^training.max_epochs must be >= 1, got 0"):
        TrainConfig(max_epochs=0)
    with pytest.raises(TypeError, match=r"^training.lr must be a number, got str"):
        TrainConfig(lr="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'adamw', 'sgd'\]"):
        TrainConfig(optimizer="rmsprop")  # type: ignore[arg-type]
    # a training quantity was taken, and the best weights kept were one epoch off its score;
    # refused by fit, so that a config saved with it still loads
    train, val = _data()
    with pytest.raises(ValueError, match=r"training\.monitor must be a validation quantity, "
                                         r"'val_loss' or 'val_<metric>', got 'train_loss'"):
        fit(_model(), F.mse_loss, train, val, _cfg(monitor="train_loss"))
    with pytest.raises(ValueError, match=r"unknown training config key\(s\) \['epochs'\]; "
                                         r"valid keys: \[.*'max_epochs'"):
        TrainConfig.from_dict({"epochs": 3})
    assert TrainConfig.from_dict({"max_epochs": 3}).max_epochs == 3
    assert TrainConfig().replace(lr=0.1).lr == 0.1
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig().replace(learning_rate=0.1)


def test_fit_trains_in_train_mode_even_if_model_arrives_in_eval_mode() -> None:
    import lightning.pytorch as pl

    modes: list[bool] = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 batch: object, batch_idx: int) -> None:
            modes.append(all(m.training for m in pl_module.modules()))

    train, val = _data()
    model = _model().eval()  # e.g. scored on validation before training
    result = fit(model, F.mse_loss, train, val, _cfg(max_epochs=2), callbacks=[Record()])
    assert modes and all(modes)  # dropout active in every training step
    assert not result.model.training  # handed back ready for inference


# the moving average of the weights (training.ema_decay)
class _Weights(pl.Callback):
    """The trained (not averaged) weights after every optimisation step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps.append({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()})


def test_the_trained_model_is_the_warmed_up_moving_average() -> None:
    train, _ = _data()
    seen = _Weights()
    decay = 0.8
    result = fit(_model(), F.mse_loss, train, None,
                 _cfg(max_epochs=3, lr=0.05, ema_decay=decay), callbacks=[seen])
    assert len(seen.steps) == 18  # 6 batches a epoch
    expected = seen.steps[0]
    for n, weights in enumerate(seen.steps[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        expected = {k: expected[k] + (weights[k] - expected[k]) * (1 - d) for k in expected}
    final = result.model.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(final[key], value)
        assert not torch.allclose(final[key], seen.steps[-1][key])


def test_validation_scores_the_average_and_the_best_average_is_kept() -> None:
    train, val = _data()
    cfg = _cfg(max_epochs=4, lr=0.05, ema_decay=0.9)
    result = fit(_model(), F.mse_loss, train, val, cfg)
    score = evaluate(result.model, F.mse_loss, val, cfg)["test_loss"]
    assert score == pytest.approx(result.best_score, rel=1e-5)
    assert result.best_score == pytest.approx(min(r["val_loss"] for r in result.history))
    plain = fit(_model(), F.mse_loss, train, val, cfg.replace(ema_decay=None))
    assert plain.best_score != pytest.approx(result.best_score, rel=1e-3)


@pytest.mark.parametrize("restore_best", [False, True])
def test_resume_with_an_average_equals_the_uninterrupted_run(tmp_path: Path,
                                                             restore_best: bool) -> None:
    # restore_best: monitoring a falling loss for a maximum makes the first epoch the best,
    # so its averaged weights, kept before the cut, must come back from the checkpoint
    train, val = _data()
    cfg = _cfg(max_epochs=4, lr=0.05, ema_decay=0.9, restore_best=restore_best,
               monitor_mode="max" if restore_best else "min")
    full = fit(_model(), F.mse_loss, train, val, cfg)
    assert full.best_epoch == (0 if restore_best else 3)
    ckpt = tmp_path / "ckpt"
    fit(_model(), F.mse_loss, train, val, cfg.replace(max_epochs=2, checkpoint_dir=ckpt))
    torch.manual_seed(123)
    resumed = fit(_model(), F.mse_loss, train, val, cfg.replace(checkpoint_dir=ckpt),
                  resume=True)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_resuming_with_another_ema_setting_is_a_clear_error(tmp_path: Path) -> None:
    train, val = _data()
    with_ema, without = tmp_path / "with", tmp_path / "without"
    fit(_model(), F.mse_loss, train, val, _cfg(ema_decay=0.9, checkpoint_dir=with_ema))
    fit(_model(), F.mse_loss, train, val, _cfg(checkpoint_dir=without))
    # both values, as every other setting a resume refuses says them (the first was not)
    with pytest.raises(ValueError, match=r"written with a moving average of the weights "
                                         r"\(training\.ema_decay: 0\.9 there, None here\)"):
        fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=3, checkpoint_dir=with_ema),
            resume=True)
    with pytest.raises(ValueError, match=r"written without a moving average of the weights "
                                         r"\(training\.ema_decay: None there, 0\.9 here\)"):
        fit(_model(), F.mse_loss, train, val,
            _cfg(max_epochs=3, ema_decay=0.9, checkpoint_dir=without), resume=True)


@pytest.mark.parametrize("precision", [None, "64"])
def test_the_average_leaves_the_training_trajectory_alone(precision: str | None) -> None:
    # validation swaps the average in and out: the weights being trained must come back
    # bit for bit, also when the trainer converts the model to float64 after the average
    # was copied from it
    train, val = _data()
    cfg = _cfg(max_epochs=3, lr=0.05, precision=precision)
    plain, averaged = _Weights(), _Weights()
    fit(_model(), F.mse_loss, train, val, cfg, callbacks=[plain])
    fit(_model(), F.mse_loss, train, val, cfg.replace(ema_decay=0.9), callbacks=[averaged])
    assert len(plain.steps) == len(averaged.steps) == 18
    for a, b in zip(plain.steps, averaged.steps, strict=True):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_buffers_that_are_not_floating_point_take_the_current_value() -> None:
    # a batch-norm step counter (and a CRF's bool masks) have no average; arithmetic on a
    # bool tensor would fail, and an averaged counter would be truncated
    train, _ = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    model.register_buffer("mask", torch.tensor([True, False]))
    result = fit(model, F.mse_loss, train, None, _cfg(max_epochs=3, ema_decay=0.9))
    assert int(result.model[1].num_batches_tracked) == 18
    assert result.model.mask.tolist() == [True, False]


def test_resuming_with_another_decay_is_a_clear_error(tmp_path: Path) -> None:
    train, val = _data()
    fit(_model(), F.mse_loss, train, val, _cfg(ema_decay=0.9, checkpoint_dir=tmp_path))
    with pytest.raises(ValueError, match=r"trained with other settings \(training\.ema_decay: "
                                         r"0\.9 there, 0\.5 here\)"):
        fit(_model(), F.mse_loss, train, val,
            _cfg(max_epochs=3, ema_decay=0.5, checkpoint_dir=tmp_path), resume=True)


@pytest.mark.parametrize(("value", "error", "message"), [
    (1.0, ValueError, "ema_decay must be < 1 (or None for no average), got 1.0"),
    (0.0, ValueError, "ema_decay must be > 0.0, got 0.0"),
    ("0.9", TypeError, "ema_decay must be a number, got str '0.9'"),
])
def test_ema_decay_is_checked(value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(ema_decay=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["bf16-true", "16-true", "transformer-engine",
                                       "transformer-engine-float16"])
def test_an_average_in_16_bit_weights_is_refused(precision: str) -> None:
    # steps of 0.001 of the difference round away in 16 bits: the average would stand still
    with pytest.raises(ValueError, match=rf"ema_decay=0.999 needs the average kept in at least "
                                         rf"float32, but precision='{precision}'"):
        TrainConfig(ema_decay=0.999, precision=precision)
    TrainConfig(ema_decay=0.999, precision="bf16-mixed")


class _FirstUse(nn.Module):
    """A model whose first forward loads the fused kernel, as an LSTM on it does."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from lstmkit.kernels.cpu import loader

        loader.load_extension()
        return self.head(x)


def test_the_kernels_first_build_is_no_training_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # a run whose first epoch built the kernel said 'trained in 36 s' for 0.1 s of training
    import importlib
    import time as real_time
    import types

    from lstmkit.kernels.cpu import loader

    clock = [0.0]

    class Clock:  # a minute-long build moves this clock, and nothing else does
        @staticmethod
        def perf_counter() -> float:
            return clock[0] + real_time.perf_counter()

    def slow_build(verbose: bool) -> types.ModuleType:
        clock[0] += 60.0
        return types.ModuleType("built")

    clock_module = importlib.import_module("lstmkit.training.callbacks")  # TrainingClock's
    for module in (clock_module, loader):
        monkeypatch.setattr(module, "time", Clock)
    monkeypatch.setattr(loader, "_build", slow_build)
    monkeypatch.setattr(loader, "_module", None)
    monkeypatch.setattr(loader, "_switched_off", lambda: None)
    monkeypatch.setattr(loader, "_toolchain_reason", lambda: None)
    train, val = _data()
    result = fit(_FirstUse(), F.mse_loss, train, val, _cfg(max_epochs=1))
    assert clock[0] == 60.0 and loader.load_seconds() >= 60.0  # it built, during training
    assert result.wall_time_s < 60.0


def test_a_rank_variable_alone_does_not_make_a_one_process_run_another_processes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from lstmkit.training import is_first_process

    # a scheduler's SLURM_PROCID=1 (or RANK=1) around one process: Lightning reads rank 1,
    # and that process saved nothing
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert is_first_process()
    monkeypatch.setenv("SLURM_NTASKS", "2")  # the second task of srun -n 2
    assert not is_first_process()
    monkeypatch.delenv("SLURM_NTASKS")
    monkeypatch.setenv("WORLD_SIZE", "2")  # a launched run's second process, before training
    assert not is_first_process()
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    assert is_first_process()


def test_a_resume_with_another_number_of_processes_warns() -> None:
    from lstmkit.training.callbacks import RNGState

    state = RNGState().state_dict()
    RNGState().load_state_dict(state)  # one process, a one-process checkpoint: silent
    with pytest.warns(UserWarning, match=r"written by 2 process\(es\) and this run has 1: "
                                         r"every process takes the first one's"):
        RNGState().load_state_dict({**state, "processes": [state, state]})


def test_a_process_whose_peer_failed_says_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # under DDP, the processes of a run whose first one failed printed a 60-line gloo
    # traceback after its error, which read as a second failure
    import lstmkit.training
    from lstmkit.cli import forecast
    from lstmkit.cli.main import main

    def lost(args: object) -> int:
        raise RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer "
                           "[127.0.0.1]:57986. This is typically caused by a remote worker "
                           "crashing.")

    monkeypatch.setattr(forecast, "run", lost)
    monkeypatch.setattr(lstmkit.training, "is_first_process", lambda: False)
    assert main(["forecast", "train"]) == 1
    assert capsys.readouterr().err == ("lstmkit forecast: stopped: another process of the run "
                                       "failed (its error is above, if it could print one)\n")
    monkeypatch.setattr(lstmkit.training, "is_first_process", lambda: True)
    with pytest.raises(RuntimeError, match="Connection closed by peer"):  # the first's own
        main(["forecast", "train"])


def test_a_second_run_into_a_checkpoint_folder_in_use_is_refused(tmp_path: Path) -> None:
    # two runs into one --out both trained, and mixed their checkpoints
    import fcntl

    train, val = _data()
    cfg = _cfg(max_epochs=1, checkpoint_dir=tmp_path / "ckpt")
    (tmp_path / "ckpt").mkdir()
    with open(tmp_path / "ckpt" / ".lock", "a+") as held:  # another run, training
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("process 4321\n")
        held.flush()
        with pytest.raises(BlockingIOError, match=r"^training.checkpoint_dir '.*ckpt' is in use "
                                                  r"by another run that is training \(process "
                                                  r"4321\): two runs in one folder would "
                                                  r"overwrite each other's checkpoints"):
            fit(_model(), F.mse_loss, train, val, cfg)
        assert not (tmp_path / "ckpt" / "last.ckpt").exists()
    # once it ends (or dies: the system then releases its lock), the folder is free
    fit(_model(), F.mse_loss, train, val, cfg)
    fit(_model(), F.mse_loss, train, val, dataclasses.replace(cfg, max_epochs=2), resume=True)
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()


def test_a_checkpoint_folder_that_cannot_be_made_is_said_before_training(
        tmp_path: Path) -> None:
    # it was found when the first epoch's checkpoint was written, naming a temporary file
    (tmp_path / "file").write_text("not a folder")
    calls: list[int] = []

    class Count(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            calls.append(trainer.current_epoch)

    train, val = _data()
    with pytest.raises(OSError, match=r"^training.checkpoint_dir '.*file/ckpt' cannot be "
                                      r"written: "):
        fit(_model(), F.mse_loss, train, val, _cfg(checkpoint_dir=tmp_path / "file" / "ckpt"),
            callbacks=[Count()])
    assert calls == []


def test_a_copied_run_folder_resumes_without_lightning_s_dirpath_warning(
        tmp_path: Path) -> None:
    import shutil
    import warnings

    train, val = _data()
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=2, checkpoint_dir=tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(_model(), F.mse_loss, train, val,
                     _cfg(max_epochs=3, checkpoint_dir=tmp_path / "b"), resume=True)
    assert result.epochs_run == 3
    assert not [w for w in caught if "dirpath" in str(w.message)]


def test_where_no_lock_can_be_had_training_goes_on_and_bad_folders_are_still_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import fcntl
    import sys

    def no_locks(handle: object, operation: int) -> None:  # (NFS without lockd, say)
        raise OSError(errno.ENOLCK, "No locks available")

    train, val = _data()
    monkeypatch.setattr(fcntl, "flock", no_locks)
    result = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1, checkpoint_dir=tmp_path))
    assert result.epochs_run == 1 and (tmp_path / "last.ckpt").is_file()
    monkeypatch.setitem(sys.modules, "fcntl", None)  # no fcntl at all: Windows
    fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1, checkpoint_dir=tmp_path / "w"))
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"^training.checkpoint_dir '.*file/ckpt' cannot be "
                                      r"written: "):
        fit(_model(), F.mse_loss, train, val, _cfg(checkpoint_dir=tmp_path / "file" / "ckpt"))


def test_a_run_with_progress_shows_none_of_lightnings_notes_that_do_not_apply(
        tmp_path: Path, recwarn: pytest.WarningsRecorder, capfd: pytest.CaptureFixture[str]
        ) -> None:
    # the folder holds lstmkit's own .lock, which Lightning took for earlier checkpoints; and
    # limit_*_batches=1.0 (all batches, the default) made Lightning say that 1.0 meant all
    import logging

    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    lightning_log = logging.getLogger("lightning.pytorch")  # (where Lightning's notes go)
    lightning_log.addHandler(handler)
    train, val = _data()
    try:
        fit(_model(), F.mse_loss, train, val,
            _cfg(max_epochs=1, progress_bar=True, checkpoint_dir=tmp_path / "ckpt"))
        fit(_model(), F.mse_loss, train, None, _cfg(max_epochs=1, progress_bar=True))
    finally:
        lightning_log.removeHandler(handler)
    assert logged  # Lightning's other notes (its devices, say) still come, with progress
    said = ([str(w.message) for w in recwarn] + [r.getMessage() for r in logged]
            + [capfd.readouterr().err])
    assert not [s for s in said if "exists and is not empty" in s or "was configured so" in s
                or "val_dataloader" in s]  # (training without validation data is allowed)
    one = fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1, limit_train_batches=1))
    assert one.trainer.global_step == 1  # an int 1 is still one batch, of the 6


def test_a_run_with_a_progress_bar_prints_no_lightning_tips(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    from lightning.pytorch.utilities.rank_zero import rank_zero_module

    handler = Keep()
    logger = rank_zero_module.log  # (pytorch_lightning's, once something imports it)
    logger.addHandler(handler)
    try:
        train, val = _data()
        fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1, progress_bar=True))
        # what importing pytorch_lightning does: Lightning's log moves to its logger
        moved = logging.getLogger("lstmkit_test.pytorch_lightning.rank_zero")
        moved.setLevel(logging.INFO)  # (as pytorch_lightning sets its own)
        monkeypatch.setattr(rank_zero_module, "log", moved)
        moved.addHandler(handler)
        fit(_model(), F.mse_loss, train, val, _cfg(max_epochs=1, progress_bar=True))
    finally:
        logger.removeHandler(handler)
        rank_zero_module.log.removeHandler(handler)
    # Lightning's start-up lines are shown with the progress bar, its advertising is not
    assert sum(m.startswith("GPU available") for m in records) == 2, records
    assert not any("Tip" in m for m in records), records
    assert not logger.filters and not rank_zero_module.log.filters
