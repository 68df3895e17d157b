"""TopSnapshots keeps the k best validation checks, best first."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lstmkit.text.snapshots import TopSnapshots
from lstmkit.training import TrainConfig, fit


def _check(callback: TopSnapshots, module: nn.Module, epoch: int, score: float,
           loss: float | None = None) -> None:
    with torch.no_grad():
        module.weight.fill_(float(epoch))  # type: ignore[operator]
    metrics = {"val_accuracy": torch.tensor(score)}
    if loss is not None:
        metrics["val_loss"] = torch.tensor(loss)
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch, callbacks=[],
                              callback_metrics=metrics)
    callback.on_validation_end(trainer, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "expected"), [("max", [3, 1]), ("min", [0, 2])])
def test_keeps_the_k_best_checks_best_first(mode: str, expected: list[int]) -> None:
    module = nn.Linear(2, 1, bias=False)
    callback = TopSnapshots(module, 2, "val_accuracy", mode)
    for epoch, score in enumerate([0.1, 0.5, 0.2, 0.9]):
        _check(callback, module, epoch, score)
    assert callback.epochs == expected
    assert [float(s["weight"][0, 0]) for s in callback.states] == [float(e) for e in expected]
    restored = TopSnapshots(module, 2, "val_accuracy", mode)
    restored.load_state_dict(callback.state_dict())
    assert restored.epochs == expected


def test_ties_go_to_the_lower_loss_then_the_earlier_check_and_errors_name_the_argument() -> None:
    module = nn.Linear(2, 1, bias=False)
    callback = TopSnapshots(module, 1, "val_accuracy")
    _check(callback, module, 0, 0.5)
    _check(callback, module, 1, 0.5)
    assert callback.epochs == [0]
    # with a val_loss, a tie goes to the lower loss (a flat dev score kept the first epoch)
    callback = TopSnapshots(module, 2, "val_accuracy")
    for epoch, loss in enumerate([0.9, 0.4, 0.6]):
        _check(callback, module, epoch, 0.5, loss)
    assert callback.epochs == [1, 2]
    restored = TopSnapshots(module, 2, "val_accuracy")
    restored.load_state_dict(callback.state_dict())
    _check(restored, module, 3, 0.5, 0.5)
    assert restored.epochs == [1, 3]
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        TopSnapshots(module, 0, "val_accuracy")
    with pytest.raises(ValueError, match=r"mode must be one of \['max', 'min'\], got 'up'"):
        TopSnapshots(module, 1, "val_accuracy", "up")


def test_networks_are_the_snapshots_loaded_into_fresh_builds() -> None:
    trained = nn.Linear(2, 1, bias=False)
    callback = TopSnapshots(trained, 2, "val_accuracy")
    _check(callback, trained, 0, 0.5)
    assert callback.networks(trained, lambda: nn.Linear(2, 1, bias=False)) == [trained]
    _check(callback, trained, 1, 0.7)
    # a training-only head in the snapshots (the tagger's auxiliary CRF) is left out on request
    callback._kept = [(score, epoch, {**state, "aux_head.weight": torch.ones(1, 2)})
                      for score, epoch, state in callback._kept]
    members = callback.networks(trained, lambda: nn.Linear(2, 1, bias=False),
                                drop_prefix="aux_")
    assert [float(m.weight.detach()[0, 0]) for m in members] == [1.0, 0.0]
    assert all(not m.training for m in members)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        callback.networks(trained, lambda: nn.Linear(2, 1, bias=False))


def test_with_a_moving_average_the_snapshots_are_the_averaged_weights_validation_scored() -> None:
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 5, generator=g), torch.randn(5, 1, generator=g)
    y = x @ w
    train = DataLoader(TensorDataset(x[:48], y[:48]), batch_size=8, shuffle=True)
    val = DataLoader(TensorDataset(x[48:], y[48:]), batch_size=16)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    snapshots = TopSnapshots(model, 2, "val_loss", "min")
    fit(model, F.mse_loss, train, val,
        TrainConfig(max_epochs=4, lr=0.05, ema_decay=0.9, progress_bar=False,
                    accelerator="cpu", devices=1), callbacks=[snapshots])
    assert len(snapshots.states) == 2
    for state, score in zip(snapshots.states, snapshots.scores, strict=True):
        model.load_state_dict(state)
        with torch.no_grad():
            assert F.mse_loss(model(x[48:]), y[48:]).item() == pytest.approx(score, rel=1e-5)
