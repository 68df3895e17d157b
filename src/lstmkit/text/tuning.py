"""Tune a text application (the classifier or the tagger) with Optuna on its dev data.

The search space takes dotted keys as the command line's ``--set`` does: ``model.<field>``
of the application's configuration, ``model.lstm.<option>`` and ``training.<field>``. Each
trial trains with the drawn values and is scored with the application's own dev metric on
the trained model as it predicts (snapshots and ensembles included): accuracy for the
classifier, entity F1 for the tagger. Trials are pruned on that metric after each epoch.
The test data is never looked at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lstmkit.text.fitting import text_devices
from lstmkit.training.tuning import (
    FROM_TRAINING,
    PruneOnValidation,
    SpaceEntry,
    check_known_keys,
    check_space,
    check_space_kinds,
    check_tuning_processes,
    sampler_seed,
    space_from_args,
    tune,
)

CLASSIFIER_SPACE: dict[str, SpaceEntry] = {
    "training.lr": ("log", 3e-4, 3e-3),
    "model.hidden_size": ("int", 50, 300, 50),
    "model.dropout": ("float", 0.0, 0.6),
    "model.embedding_dropout": ("float", 0.0, 0.5),
}
TAGGER_SPACE: dict[str, SpaceEntry] = {
    "training.lr": ("log", 3e-4, 3e-3),
    "model.hidden_size": ("int", 50, 300, 50),
    "model.dropout": ("float", 0.0, 0.6),
    "model.word_dropout": ("float", 0.0, 0.2),
}


def _metric(app: type) -> str:
    """The dev metric of ``app``, which it names (``dev_metric``; text/ imports no
    application): ``"accuracy"`` for the classifier, ``"f1"`` for the tagger."""
    metric = getattr(app, "dev_metric", None) if isinstance(app, type) else None
    if metric not in ("accuracy", "f1"):
        raise TypeError(f"app must be Classifier or Tagger, got {app!r}")
    return metric


def dev_score(fitted: Any, dev: Sequence[Any]) -> float:
    """The dev metric of a trained classifier (accuracy) or tagger (entity F1)."""
    evaluation = fitted.evaluate(dev, source="dev")
    scores = getattr(evaluation, "scores", evaluation)  # a tagger's entity scores
    return float(scores.accuracy if _metric(type(fitted)) == "accuracy" else scores.f1)


def default_space(app: type) -> dict[str, SpaceEntry]:
    """What ``--tune`` searches without ``--tune-space``: learning rate, width, dropout, and
    the embedding dropout (classifier) or word dropout (tagger)."""
    return dict(CLASSIFIER_SPACE if _metric(app) == "accuracy" else TAGGER_SPACE)


def check_keys(config: Any, training: Any, keys: Sequence[str]) -> None:
    """A ValueError listing the valid keys unless every key is ``model.<field>`` of
    ``config``, ``model.lstm.<option>`` or ``training.<field>`` of ``training``."""
    model = {f"model.{f.name}" for f in dataclasses.fields(config) if f.name != "lstm"}
    train = {f"training.{f.name}" for f in dataclasses.fields(training)}
    check_known_keys(keys, sorted(model | train))


def apply_params(config: Any, training: Any, params: Mapping[str, Any]) -> tuple[Any, Any]:
    """``config`` and ``training`` with the dotted ``params`` (see :func:`check_keys`)
    applied."""
    check_keys(config, training, list(params))
    model: dict[str, Any] = {}
    lstm: dict[str, Any] = dict(config.lstm)
    train: dict[str, Any] = {}
    for key, value in params.items():
        section, _, name = key.partition(".")
        if section == "training":
            train[name] = value
        elif name.startswith("lstm."):
            lstm[name.removeprefix("lstm.")] = value
        else:
            model[name] = value
    if lstm != dict(config.lstm):
        model["lstm"] = lstm
    return (config.replace(**model) if model else config,
            training.replace(**train) if train else training)


def tune_text(app: type, config: Any, training: Any, train: Sequence[Any],
              dev: Sequence[Any], space: Mapping[str, SpaceEntry], *, n_trials: int = 20,
              seed: int | str | None = FROM_TRAINING, timeout_s: float | None = None,
              storage: str | None = None, study_name: str | None = None,
              dev_monitor: bool | None = None, fit_kwargs: Mapping[str, Any] | None = None,
              trials_csv: str | Path | None = None) -> tuple[Any, Any, Any]:
    """Search ``space`` for the ``app`` (``Classifier`` or ``Tagger``) settings that score
    best on ``dev``; returns ``(config, training, study)``: the best settings, and the
    Optuna study (every trial's values and score in ``study.trials_dataframe()``).

    ``config`` and ``training`` are the starting point: the keys of ``space`` replace their
    values in each trial. Trials write no checkpoints or logs and show no progress bar; the
    returned ``training`` keeps ``training``'s own folders and progress bar. A trial whose
    values make an invalid setting (a ValueError or TypeError) fails with its reason in
    ``trial.user_attrs["fail_reason"]`` and the search goes on. ``fit_kwargs`` go to every
    trial's ``fit`` (the tagger's ``auxiliary``, say); ``dev_monitor`` to the application.
    ``trials_csv`` is rewritten with the trials so far as each ends (see
    :func:`lstmkit.training.tuning.tune`). ``seed`` seeds the sampler: by default
    ``training.seed``, as ``--tune`` does. Optuna's line per trial is shown unless
    ``training`` is quiet (``progress_bar`` and ``epoch_log`` both off).
    """
    seed = sampler_seed(seed, training)
    metric = _metric(app)
    check_space(space)
    if not dev:
        raise ValueError("tuning scores each trial on dev data: pass dev examples (--dev), "
                         "got none")
    check_keys(config, training, list(space))
    check_tuning_processes(text_devices(training), seed=seed, timeout_s=timeout_s,
                           storage=storage)
    quiet = training.replace(checkpoint_dir=None, log_dir=None, progress_bar=False,
                             epoch_log=False)
    check_space_kinds(space, lambda params: apply_params(config, quiet, params))

    def objective(params: dict[str, Any], trial: Any) -> float:
        trial_config, trial_training = apply_params(config, quiet, params)
        fitted = app(trial_config, trial_training, dev_monitor=dev_monitor).fit(
            train, dev, **dict(fit_kwargs or {}),
            # the first network's curve decides pruning (later ones would report the
            # same epochs again)
            callbacks=lambda member: [PruneOnValidation(trial, f"val_{metric}")]
            if member == 0 else [])
        return dev_score(fitted, dev)

    study = tune(objective, space, n_trials=n_trials, direction="maximize", seed=seed,
                 timeout_s=timeout_s, storage=storage, study_name=study_name,
                 trials_csv=trials_csv,
                 # Optuna's line per trial unless the run is quiet: no bar, no epoch lines
                 log_trials=training.progress_bar or training.epoch_log)
    best_config, best_training = apply_params(config, training, study.best_params)
    return best_config, best_training, study


def space_of_args(args: Any, app: type, config: Any, training: Any,
                  given: Iterable[str] = (), config_keys: Iterable[str] = ()
                  ) -> dict[str, SpaceEntry]:
    """A text CLI's ``--tune`` search space, checked before the data are read:
    ``--tune-space`` (see :func:`lstmkit.training.tuning.space_from_args`) or the default
    space less the keys ``given`` on the command line (the output names those it varies
    that the ``--config`` file gives, ``config_keys``)."""
    return space_from_args(args, default_space(app), given,
                           lambda space: check_keys(config, training, list(space)),
                           config_keys)


def tune_from_args(args: Any, app: type, config: Any, training: Any, train: Sequence[Any],
                   dev: Sequence[Any] | None, space: Mapping[str, SpaceEntry],
                   **kwargs: Any) -> tuple[Any, Any]:
    """Run ``--tune`` for a text CLI over ``space`` (:func:`space_of_args`): search, write
    ``<out>/tuning.csv``, print the best, and return the best ``(config, training)``;
    ``kwargs`` go to :func:`tune_text`."""
    from lstmkit.training import is_first_process
    from lstmkit.training.tuning import TUNING_FILES, print_tuning_end, say_drawn

    if dev is None:
        raise ValueError("--tune scores each trial on dev data: pass --dev (or data.dev in "
                         "--config)")
    metric = "dev accuracy" if _metric(app) == "accuracy" else "dev entity F1"
    check_tuning_processes(text_devices(training), seed=training.seed,
                           timeout_s=args.tune_timeout, storage=None)  # (before the line below)
    if is_first_process():
        print(f"tuning: {args.tune} trials over {sorted(space)} on {metric}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trials, picture = (out / name for name in TUNING_FILES)  # (the table rewritten as each
    # trial ends: an interruption keeps them)
    config, training, study = tune_text(app, config, training, train, dev, space,
                                        n_trials=args.tune, timeout_s=args.tune_timeout,
                                        seed=training.seed, trials_csv=trials, **kwargs)
    if is_first_process():  # (under DDP every process ran the trials, together)
        print_tuning_end(study, args, f"best {metric} {study.best_value:.4f}", trials)
        say_drawn(study, picture, metric)
    return config, training
