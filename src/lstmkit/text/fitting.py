"""Training settings shared by the text applications (classifier and tagger).

The text applications train through :func:`lstmkit.training.fit` with the user's
:class:`~lstmkit.training.TrainConfig`, adjusted here: the monitored quantity when dev data is
given and one device only (ensemble members: :mod:`lstmkit.training.members`).
"""

from __future__ import annotations

from typing import Any


def effective_training(training: Any, *, has_dev: bool, dev_monitor: bool | None,
                       metric: str) -> Any:
    """``training`` with the monitor the text application trains on.

    ``dev_monitor``: ``True`` monitors ``val_<metric>`` when dev data is given; ``False``
    keeps ``training.monitor`` as it is; ``None`` (the default) monitors ``val_<metric>``
    when ``training.monitor`` is the TrainConfig default ``"val_loss"``.

    ``val_<metric>`` (dev accuracy, dev entity F1) is better when higher, so whenever it is
    the monitor, chosen here or named by the user, ``monitor_mode`` is ``"max"`` (the
    TrainConfig default ``"min"`` would keep the worst epoch).
    """
    if dev_monitor is None:
        dev_monitor = training.monitor == "val_loss"
    if has_dev and dev_monitor:
        training = training.replace(monitor=f"val_{metric}")
    if training.monitor == f"val_{metric}" and training.monitor_mode != "max":
        training = training.replace(monitor_mode="max")
    return training


def one_device(training: Any) -> Any:
    """``training`` on one device: ``devices="auto"`` becomes 1 (Lightning's ``"auto"``
    takes every GPU of the machine); any other setting that is more than one device, or a
    distributed strategy, is a ValueError. The length-bucketed batches of the text
    applications cannot be split across devices by Lightning."""
    import torch

    given = training.devices
    if given == "auto":
        training = training.replace(devices=1)
    devices = training.devices
    if devices == -1:
        gpu = training.accelerator in ("auto", "gpu", "cuda")
        count = torch.cuda.device_count() if gpu else 2  # all CPU devices: several processes
    elif isinstance(devices, list):
        count = len(devices)
    else:
        count = int(devices)
    strategy = str(training.strategy)
    if count > 1 or training.num_nodes != 1 or "ddp" in strategy or "fsdp" in strategy \
            or "deepspeed" in strategy:
        raise ValueError(
            f"text training runs on one device: training.devices={given!r} "
            f"(here {count} device(s)), training.strategy={training.strategy!r}, "
            f"training.num_nodes={training.num_nodes}; set training.devices=1 (or 'auto') and "
            "training.strategy='auto' (its length-bucketed batches cannot be split across "
            "devices)")
    return training


def check_dev_monitor(dev_monitor: object) -> None:
    """``dev_monitor`` (see :func:`effective_training`) is True, False or None."""
    if dev_monitor is not None and not isinstance(dev_monitor, bool):
        raise TypeError(f"dev_monitor must be True, False or None, got "
                        f"{type(dev_monitor).__name__} {dev_monitor!r}")


def epoch_batches(loader: Any) -> list[Any]:
    """A callback that numbers the training epochs of ``loader``'s
    :class:`~lstmkit.text.batching.BucketBatchSampler` by the trainer's epoch, so that a
    resumed run shuffles its remaining epochs as an uninterrupted one does (Lightning calls
    ``set_epoch`` only on samplers it knows); ``[]`` for other loaders. The sampler's seed is
    saved in the checkpoints and read back on resume, so that this holds for a seed drawn
    afresh (``training.seed`` None) too."""
    import lightning.pytorch as pl

    from lstmkit.text.batching import BucketBatchSampler

    sampler = getattr(loader, "batch_sampler", None)
    if not isinstance(sampler, BucketBatchSampler):
        return []

    class EpochBatches(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule
                                 ) -> None:
            sampler.set_epoch(trainer.current_epoch)

        def state_dict(self) -> dict[str, Any]:
            return {"seed": sampler.seed}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            sampler.seed = int(state_dict["seed"])

    return [EpochBatches()]


def model_settings(config: Any, **vocabularies: Any) -> dict[str, Any]:
    """The model settings a resumed run must share with its checkpoint (``fit``'s
    ``run_settings``): every ``model.*`` setting but ``ensemble`` (each network resumes from
    its own folder) and ``vectors`` (where the vectors file is read from), and a digest of
    each of the ``vocabularies`` (name: :class:`~lstmkit.text.vocab.Vocabulary`), which
    are built from the training data: a vocabulary of the same size in another order would
    give every row of the checkpoint's embedding to another word."""
    import hashlib

    from lstmkit.training.config import settings_of

    settings = settings_of("model", config, leave_out=("ensemble", "vectors"))
    for name, vocabulary in sorted(vocabularies.items()):
        digest = hashlib.sha256("\n".join(vocabulary.itos).encode()).hexdigest()[:12]
        settings[f"vocabulary.{name}"] = (f"{len(vocabulary.itos)} entries from the training "
                                          f"data, sha256 {digest}")
    return settings
