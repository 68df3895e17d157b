"""Training settings shared by the text applications (classifier and tagger).

The text applications train through :func:`lstmkit.training.fit` with the user's
:class:`~lstmkit.training.TrainConfig`, adjusted here: the monitored quantity when dev data is
given, and ``devices="auto"`` as one device (ensemble members:
:mod:`lstmkit.training.members`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

N = TypeVar("N")


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


def text_devices(training: Any) -> Any:
    """``training`` with ``devices="auto"`` read as one device: Lightning's ``"auto"`` takes
    every GPU of the machine, which would multiply the batch size by their number unasked.
    More devices, or machines, are for the user to ask for (``training.devices=2``,
    ``training.strategy="ddp"``); the length-bucketed batches then share themselves out
    among the processes (see :class:`~lstmkit.text.batching.BucketBatchSampler`)."""
    if training.devices == "auto":
        training = training.replace(devices=1)
    return training


def check_dev_monitor(dev_monitor: object) -> None:
    """``dev_monitor`` (see :func:`effective_training`) is True, False or None."""
    if dev_monitor is not None and not isinstance(dev_monitor, bool):
        raise TypeError(f"dev_monitor must be True, False or None, got "
                        f"{type(dev_monitor).__name__} {dev_monitor!r}")


def epoch_batches(loader: Any) -> list[Any]:
    """A callback for the shuffled batches of ``loader``: a DataLoader of a
    :class:`~lstmkit.text.batching.BucketBatchSampler`, or an object whose ``shufflers()``
    are the samplers (and the like, each with a ``seed``) that shuffle it (the tagger's
    multitask batches); ``[]`` for other loaders.

    - The training epochs of a DataLoader's sampler are numbered by the trainer's epoch, so
      that a resumed run shuffles its remaining epochs as an uninterrupted one does
      (Lightning calls ``set_epoch`` only on samplers it knows). The sampler's seed is saved
      in the checkpoints and read back on resume, so that this holds for a seed drawn afresh
      (``training.seed`` None) too.
    - In a distributed run every process takes the first one's seeds before training, so
      that they all draw the same batches to share out (each would draw its own without
      ``training.seed``)."""
    import lightning.pytorch as pl

    from lstmkit.text.batching import BucketBatchSampler

    sampler = getattr(loader, "batch_sampler", None)
    epochs = sampler if isinstance(sampler, BucketBatchSampler) else None
    shufflers = [epochs] if epochs is not None else list(
        getattr(loader, "shufflers", lambda: [])())
    if not shufflers:
        return []

    class EpochBatches(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            if trainer.world_size > 1:
                seeds = trainer.strategy.broadcast([s.seed for s in shufflers], src=0)
                for shuffler, seed in zip(shufflers, seeds, strict=True):
                    shuffler.seed = seed

        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule
                                 ) -> None:
            if epochs is not None:
                epochs.set_epoch(trainer.current_epoch)

        def state_dict(self) -> dict[str, Any]:
            return {"seed": shufflers[0].seed}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            shufflers[0].seed = int(state_dict["seed"])

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


def examples_read(train: Sequence[Any], dev: Sequence[Any] | None,
                  line: Callable[[Any], str]) -> str:
    """The training and dev examples, in words a resume compares (``fit``'s
    ``run_settings``): how many, and a digest of each one's ``line`` (its text and label as
    the model reads it, in order: the batches are drawn by position), so that other data
    with the same vocabularies (other labels, say) does not continue the checkpoint's run."""
    import hashlib

    digest = hashlib.sha256()
    for part in (train, () if dev is None else dev):
        for example in part:
            digest.update(line(example).encode("utf-8", "surrogatepass") + b"\n")
        digest.update(b"\0")
    dev_count = "no" if dev is None else len(dev)
    return (f"{len(train)} training and {dev_count} dev examples, sha256 "
            f"{digest.hexdigest()[:12]}")


@dataclass
class Members(Generic[N]):
    """What :func:`train_members` trained: the ``networks`` to average (each member's, or its
    snapshots'), the training ``history`` (rows with a ``member`` column when there are
    several members), the ``snapshot_epochs`` and the training time, resumed runs' earlier
    time included."""

    networks: list[N] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    snapshot_epochs: list[int] = field(default_factory=list)
    train_time_s: float = 0.0


def train_members(first: N, build: Callable[[], N], *, count: int, snapshots: int,
                  training: Any, train_loader: Callable[[N, int], Any], dev_loader: Any,
                  loss: Callable[[N], Any], metrics: Callable[[N], dict[str, Any]],
                  run_settings: dict[str, Any], log_settings: dict[str, Any],
                  callbacks: Callable[[int], list[Any]], resume: bool,
                  after: Callable[[N], None] | None = None,
                  drop_prefix: str | None = None) -> Members[N]:
    """Train a text application's ``count`` ensemble members, as its ``fit`` documents.

    Member 0 is ``first``; member ``m`` > 0 is ``build()`` with torch seeded by its seed
    (:func:`~lstmkit.training.members.member_seed`), starting from ``first``'s (pretrained)
    embeddings. ``train_loader(network, seed)`` gives a member's shuffled batches, ``loss``
    and ``metrics`` its loss and dev metrics; ``after(network)`` runs when it is trained
    (say to drop a training-only head, whose weights, named ``drop_prefix...``, the
    snapshots then leave out). With ``snapshots`` > 1 a member gives its ``snapshots`` best
    dev checks."""
    import torch

    from lstmkit.text.snapshots import TopSnapshots
    from lstmkit.training import fit, is_first_process
    from lstmkit.training.members import hold_members, member_seed, member_training

    initial_embed = {k: v.detach().clone()
                     for k, v in first.embed.state_dict().items()}  # type: ignore[attr-defined]
    done: Members[N] = Members()
    with hold_members(training, count):  # (a second run is refused)
        for m in range(count):
            seed = member_seed(training.seed, m)  # drawn from torch without a seed
            network = first
            if m > 0:
                with torch.random.fork_rng():
                    torch.manual_seed(seed)
                    network = build()
                network.embed.load_state_dict(initial_embed)  # type: ignore[attr-defined]
            batches = train_loader(network, seed)
            kept = TopSnapshots(network, snapshots,  # type: ignore[arg-type]
                                training.monitor, training.monitor_mode)
            result = fit(network, loss(network), batches, dev_loader,
                         member_training(training, m, count,
                                         None if training.seed is None else seed),
                         metrics=metrics(network), resume=resume,
                         # (the seed the run was given, which its saved settings record)
                         run_settings={**run_settings, "training.seed": training.seed},
                         log_settings=log_settings,
                         callbacks=[*epoch_batches(batches),
                                    *([kept] if snapshots > 1 else []), *callbacks(m)],
                         distributed_sampler=False)  # (the bucketed batches share themselves)
            if after is not None:
                after(network)
            done.networks += kept.networks(network, build,  # type: ignore[arg-type]
                                           drop_prefix=drop_prefix)
            done.history += ([{**row, "member": m} for row in result.history]
                             if count > 1 else result.history)
            if (snapshots > 1 and len(kept.epochs) < snapshots  # (fewer checks than asked)
                    and is_first_process()):
                member = f"member {m}: " if count > 1 else ""
                warnings.warn(f"{member}model.snapshots={snapshots}, but the run made "
                              f"{len(kept.epochs)} validation check(s) of {training.monitor} "
                              f"(in {len(result.history)} epoch(s)), so the snapshot ensemble "
                              f"averages {len(kept.epochs)}: train more epochs, or ask for "
                              "fewer snapshots", UserWarning, stacklevel=3)
            done.snapshot_epochs += kept.epochs
            done.train_time_s += result.total_time_s  # before a resume too
    return done
