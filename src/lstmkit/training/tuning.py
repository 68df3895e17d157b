"""Hyperparameter search with Optuna, kept generic: a search space of dotted keys, an
objective that builds and trains anything, and a pruning callback for :func:`fit`.

Example::

    from lstmkit.training.tuning import tune, PruneOnValidation

    space = {"training.lr": ("log", 1e-4, 1e-2), "model.hidden_size": ("int", 32, 256, 32),
             "model.decoder": ("choice", ["pmf", "direct"])}

    def objective(params, trial):
        config = base_config.with_overrides(params)       # ForecastConfig's dotted keys
        result = fit(..., callbacks=[PruneOnValidation(trial)])
        return result.best_score

    study = tune(objective, space, n_trials=20, direction="minimize", seed=0)
    study.best_params

Space entries: ``("float", low, high)``, ``("log", low, high)`` (log-uniform float),
``("int", low, high[, step])``, ``("choice", [options])``.

A trial whose objective raises one of ``tune``'s ``catch`` exceptions (by default ValueError
and TypeError: an invalid combination of values) or returns NaN or infinity is recorded as
failed, with the reason in its user attribute ``fail_reason``, and the study goes on.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from lstmkit.nn.config import is_int, shown
from lstmkit.training.fit import is_first_process

SpaceEntry = tuple[Any, ...]
FROM_TRAINING = "training.seed"
"""The application tuners' default ``seed``: the sampler is seeded with ``training.seed``, as
on the command line (an unseeded search when it is None)."""
KINDS = ("float", "log", "int", "choice")
TUNING_FILES = ("tuning.csv", "tuning.png")
"""What a command line's ``--tune`` writes into its ``--out``: the trials' table (rewritten
as each trial ends) and their picture."""
FAIL_REASON = "fail_reason"


def remove_stale_tuning(out: str | Path) -> None:
    """Remove the :data:`TUNING_FILES` an earlier ``--tune`` run left in ``out``, for a run
    without ``--tune`` that is no resume: beside its model they would read as its own
    search (a resumed run is the run it resumes, search included)."""
    if not is_first_process():
        return
    gone = [name for name in TUNING_FILES if (Path(out) / name).is_file()]
    for name in gone:
        (Path(out) / name).unlink()
    if gone:
        print(f"removed {' and '.join(gone)} from {out}: an earlier --tune run's search, not "
              "this run's")


class NonFiniteScoreError(Exception):
    """A trial's objective returned NaN or infinity."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as err:
        raise ImportError("tuning needs optuna: pip install 'lstmkit[tune]'") from err
    return optuna


def _float_bounds(key: str, entry: SpaceEntry) -> tuple[float, float]:
    kind = entry[0]
    try:
        low, high = (float(v) for v in entry[1:])
    except (TypeError, ValueError):
        raise ValueError(f"space[{key!r}] = {entry!r}: low and high of a {kind!r} entry must be "
                         f"numbers (or numeric strings such as '1e-4'), got {entry[1]!r} and "
                         f"{entry[2]!r}") from None
    if isinstance(entry[1], bool) or isinstance(entry[2], bool):
        raise ValueError(f"space[{key!r}] = {entry!r}: low and high of a {kind!r} entry must be "
                         f"numbers, got {entry[1]!r} and {entry[2]!r}")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"space[{key!r}] = {entry!r}: low and high must be finite with "
                         f"low < high, got {low!r} and {high!r}")
    if kind == "log" and low <= 0:
        raise ValueError(f"space[{key!r}] is log-uniform, so low must be > 0, got {low!r}")
    return low, high


def _int_entry(key: str, entry: SpaceEntry) -> SpaceEntry:
    low, high = entry[1], entry[2]
    step = entry[3] if len(entry) == 4 else 1
    if not (is_int(low) and is_int(high)):
        raise ValueError(f"space[{key!r}] = {entry!r}: low and high of an 'int' entry must be "
                         f"ints, got {low!r} and {high!r}")
    if low >= high:
        raise ValueError(f"space[{key!r}] = {entry!r}: low must be < high, got {low!r} and "
                         f"{high!r}")
    if not is_int(step) or not 0 < step <= high - low:
        raise ValueError(f"space[{key!r}] = {entry!r}: step must be an int in [1, high - low] = "
                         f"[1, {high - low}], got {step!r}")
    if (high - low) % step:  # Optuna would cut the range to the last step below high
        last = low + (high - low) // step * step
        raise ValueError(f"space[{key!r}] = {entry!r}: high - low = {high - low} is not a "
                         f"multiple of step {step}, so {high} could never be tried; use high "
                         f"= {last} or {last + step}")
    return ("int", low, high, step)


def check_space(space: Mapping[str, SpaceEntry]) -> dict[str, SpaceEntry]:
    """Validate a search space; errors name the key and the expected form.

    Returns the space with every entry a tuple in its full form: the bounds of ``"float"``
    and ``"log"`` entries converted with ``float()``, so numeric strings are accepted (YAML 1.1
    reads ``1e-4`` as the string ``'1e-4'``), and ``"int"`` entries with their step.
    """
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of key -> entry, got {space!r}")
    checked: dict[str, SpaceEntry] = {}
    for key, entry in space.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"space keys must be non-empty strings, got {key!r}")
        if not isinstance(entry, tuple | list) or not entry or entry[0] not in KINDS:
            raise ValueError(f"space[{key!r}] must start with one of {list(KINDS)}, got "
                             f"{entry!r}")
        kind = entry[0]
        if kind == "choice":
            if len(entry) != 2 or not isinstance(entry[1], list | tuple) or not entry[1]:
                raise ValueError(f"space[{key!r}] must be ('choice', [options]) with a non-empty "
                                 f"list of options, got {entry!r}")
            options = list(entry[1])
            repeated = [o for k, o in enumerate(options) if _among(o, options[:k])]
            if repeated:
                raise ValueError(f"space[{key!r}] = {entry!r}: the option {repeated[0]!r} "
                                 "is there more than once (it would be drawn more often); "
                                 "give each option once")
            checked[key] = ("choice", options)
        elif len(entry) not in ((3, 4) if kind == "int" else (3,)):
            raise ValueError(f"space[{key!r}] must be ({kind!r}, low, high"
                             f"{'[, step]' if kind == 'int' else ''}), got {entry!r}")
        elif kind == "int":
            checked[key] = _int_entry(key, entry)
        else:
            checked[key] = (kind, *_float_bounds(key, entry))
    return checked


def _among(option: object, options: list[Any]) -> bool:
    """Whether ``option`` is one of ``options``, of the same type (1, 1.0 and True differ)."""
    return any(type(o) is type(option) and o == option for o in options)


def _distributions(space: Mapping[str, SpaceEntry]) -> dict[str, Any]:
    """The Optuna distribution of each key of ``space`` (checked), which :func:`suggest`
    draws from."""
    d = _optuna().distributions
    out: dict[str, Any] = {}
    for key, entry in space.items():
        if entry[0] == "choice":
            out[key] = d.CategoricalDistribution(entry[1])
        elif entry[0] == "int":
            out[key] = d.IntDistribution(entry[1], entry[2], step=entry[3])
        else:
            out[key] = d.FloatDistribution(entry[1], entry[2], log=entry[0] == "log")
    return out


def _check_stored(study: Any, space: Mapping[str, SpaceEntry], direction: str) -> None:
    """A study loaded from storage must go the way asked (Optuna keeps the stored direction
    without a word, and would rank the new trials the other way); a search space other than
    its trials' is warned of."""
    stored = study.direction.name.lower()
    if stored != direction:
        raise ValueError(f"the stored study {study.study_name!r} was created to {stored} "
                         f"its score, but direction={direction!r} was asked (a study of another "
                         "application under the same name?); use another study_name, or "
                         f"direction={stored!r}")
    now = _distributions(space)
    drawn: dict[str, Any] = {}
    for trial in study.trials:
        drawn.update(trial.distributions)
    # (keys the objective suggests itself, outside the space, are the objective's business)
    changed = sorted(k for k in now if drawn.get(k) != now[k])
    if drawn and changed:
        warnings.warn(f"the stored study {study.study_name!r} has trials drawn from another "
                      f"search space for {changed}: the sampler reads them as they were "
                      "drawn (use another study_name for a new search)", UserWarning,
                      stacklevel=4)  # (the caller of tune, past its wrapper)


NOT_TUNED = frozenset({
    "training.checkpoint_dir", "training.log_dir", "training.progress_bar",
    "training.epoch_log", "training.log_every_n_steps", "training.accelerator",
    "training.devices", "training.strategy", "training.num_nodes", "training.deterministic",
    "training.fast_dev_run"})
"""Training settings that say where and how a run goes (its folders, its devices, what it
shows, a test run of a batch), not what it learns: a search does not vary them."""


def check_space_kinds(space: Mapping[str, SpaceEntry],
                      build: Callable[[dict[str, Any]], Any]) -> None:
    """A TypeError, before any trial, where a value ``space`` draws is of a kind its key does
    not take (an int setting drawn from a float range), which every trial drawing it would
    fail with: each key's bounds and choices are given to ``build`` (the application's
    configuration from dotted params) alone. A ValueError there is let pass: a value refused
    beside the configuration's other settings may be taken beside other drawn ones."""
    d = _optuna().distributions
    for key, dist in _distributions(check_space(space)).items():
        values = (dist.choices if isinstance(dist, d.CategoricalDistribution)
                  else (dist.low, dist.high))
        for value in values:
            try:
                build({key: value})
            except TypeError as err:
                raise TypeError(f"the search space's {key} draws {value!r}, a kind of value "
                                f"the configuration refuses: {err}") from None
            except ValueError:
                pass


def check_known_keys(keys: Iterable[str], valid: Sequence[str]) -> None:
    """A ValueError naming the keys of a search space that are in :data:`NOT_TUNED`, or
    neither in ``valid`` (an application's dotted keys, listed in the message, less those
    not tuned) nor ``model.lstm.<option>`` for an option of
    :data:`lstmkit.nn.config.LSTM_OPTIONS`."""
    from lstmkit.nn.config import LSTM_OPTIONS

    keys = list(keys)
    fixed = [key for key in keys if key in NOT_TUNED]
    if fixed:
        raise ValueError(f"the search space varies {fixed}, which say where or how a run "
                         "goes (its folders, devices or display), not what it learns: set "
                         "them in the config or by flag, and tune the other keys")
    valid = [key for key in valid if key not in NOT_TUNED]
    lstm = {f"model.lstm.{option}" for option in LSTM_OPTIONS}
    unknown = [key for key in keys if key not in valid and key not in lstm]
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in the search space; valid keys: {valid} "
                         f"and model.lstm.<option>, an option of {list(LSTM_OPTIONS)}")


def read_space(path: str, flag: str = "--tune-space") -> dict[str, SpaceEntry]:
    """A search space from a YAML file of ``key: [kind, ...]`` lines, checked by
    :func:`check_space` (whose errors name the key); a file that holds no mapping is an error
    that names ``flag`` and the file."""
    from pathlib import Path

    from lstmkit import yamlio

    if Path(path).is_dir():
        raise IsADirectoryError(f"{flag} {path!r} is a folder; give the YAML file of the "
                                "search space")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{flag} {path!r}: no such file")
    raw = yamlio.load(Path(path).read_text(), source=path)
    if not isinstance(raw, dict):
        raise ValueError(f"{flag} {path} must hold a mapping of key: [kind, ...], got "
                         f"{type(raw).__name__}")
    space = {key: tuple(entry) if isinstance(entry, list) else entry
             for key, entry in raw.items()}
    check_space(space)
    return space


def check_tune_flags(args: Any) -> None:
    """For the command lines: ``--tune-space`` and ``--tune-timeout`` only with ``--tune``;
    ``--tune`` a number of trials >= 1 and not with ``--resume`` (a resumed run continues the
    settings it was started with, which a new search would change); ``--tune-timeout`` > 0."""
    if args.tune is None:
        given = [flag for flag, value in (("--tune-space", args.tune_space),
                                          ("--tune-timeout", args.tune_timeout))
                 if value is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} shape(s) the search that --tune N runs, "
                             "but --tune is not given; add it or drop them")
        return
    if args.tune < 1:
        raise ValueError(f"--tune must be a number of trials >= 1, got {args.tune}")
    if args.resume:
        raise ValueError("--tune searches new settings and --resume continues a run with the "
                         "settings it started with: pass one of them (to continue an "
                         "interrupted tuned run, resume with the best settings it printed, "
                         "given with --set or --config)")
    if args.tune_timeout is not None and not 0 < args.tune_timeout < math.inf:
        raise ValueError(f"--tune-timeout must be a number of seconds > 0, got "
                         f"{args.tune_timeout}")
    # (--tune-space is read and checked by space_from_args, also before the data are read)


def suggest(trial: Any, space: Mapping[str, SpaceEntry]) -> dict[str, Any]:
    """Draw one value per key of ``space`` (checked by :func:`check_space`) from a trial."""
    d = _optuna().distributions
    params: dict[str, Any] = {}
    for key, dist in _distributions(check_space(space)).items():
        if isinstance(dist, d.CategoricalDistribution):
            params[key] = trial.suggest_categorical(key, dist.choices)
        elif isinstance(dist, d.IntDistribution):
            params[key] = trial.suggest_int(key, dist.low, dist.high, step=dist.step)
        else:
            params[key] = trial.suggest_float(key, dist.low, dist.high, log=dist.log)
    return params


class _NoCaughtTraceback(logging.Filter):
    """Drops the traceback from log records of an exception of the ``caught`` classes."""

    def __init__(self, caught: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.caught = caught

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.caught):
            record.exc_info = None
            record.exc_text = None
        return True


class PruneOnValidation(pl.Callback):
    """Report ``monitor`` to the trial after each validation; stop hopeless trials."""

    def __init__(self, trial: Any, monitor: str = "val_loss") -> None:
        self.trial = trial
        self.monitor = monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        logged = trainer.callback_metrics[self.monitor]
        # a float32 value as its shortest decimal (0.35, not 0.3499999940395355), as the
        # completed trials' values read in tuning.csv; read on the host first (on a GPU the
        # metric is still on the device here, which NumPy cannot read)
        value = logged.item()
        if logged.dtype == torch.float32:
            value = float(str(np.float32(value)))
        self.trial.report(value, step=trainer.current_epoch)
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        # (at the last epoch the trial is done: pruned, its finished result would be lost)
        if not last and self.trial.should_prune():
            raise _optuna().TrialPruned(f"pruned after epoch {trainer.current_epoch + 1} with "
                                        f"{self.monitor}={value:.4g}")


ALIKE_FAILURES = 3
"""The fewest failed trials, all for one reason and before any completed, that stop a
search (see :func:`_alike`)."""


def _alike(failures: list[tuple[str, dict[str, Any]]], space: Mapping[str, SpaceEntry],
           study: Any) -> bool:
    """Whether a search should stop: its caught failures so far, at least
    :data:`ALIKE_FAILURES` and with no completed trial, share one reason while every key of
    ``space`` that can take more than one value took more than one among them (a reason that
    one value of a key gives, such as a choice the configuration refuses, leaves that value
    common to the failures, and the search goes on)."""
    if len(failures) < ALIKE_FAILURES or len({reason for reason, _ in failures}) > 1:
        return False
    if any(t.state.name == "COMPLETE" for t in study.trials):
        return False
    varying = [key for key, entry in space.items()
               if (len(entry[1]) > 1 if entry[0] == "choice" else entry[1] < entry[2])]
    return all(len({repr(values.get(key)) for _, values in failures}) > 1 for key in varying)


class _AlikeFailuresError(RuntimeError):
    """Raised through Optuna (which catches only ``tune``'s ``catch``) to stop a search whose
    trials all fail alike."""

    def __init__(self, trials: int, reason: str) -> None:
        super().__init__(reason)
        self.trials, self.reason = trials, reason


def _stored_choices_said_here(tune: Callable[..., Any]) -> Callable[..., Any]:
    """``tune`` without Optuna's warning, once per trial and more, that choice options other
    than None, bool, number and text (lists and dicts: ``model.lstm.zoneout`` pairs, say)
    are not safe for persistent storage: Optuna's storages keep them as JSON, which reads
    them back, and ``tune`` refuses a stored study's options that JSON cannot hold."""

    @functools.wraps(tune)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Choices for a categorical distribution "
                                    "should be a tuple of None, bool, int, float and str")
            return tune(*args, **kwargs)

    return quiet


def _check_storable(space: Mapping[str, SpaceEntry]) -> None:
    """Every choice option of a study kept in storage must be JSON data, as storages keep
    them."""
    for key, entry in space.items():
        for option in entry[1] if entry[0] == "choice" else ():
            try:  # (a tuple, or a mapping with number keys, would come back changed)
                same = json.loads(json.dumps(option, allow_nan=False)) == option
            except (TypeError, ValueError):
                same = False
            if not same:
                raise ValueError(f"space[{key!r}]: the option {option!r} is not JSON data "
                                 "that reads back the same (null, true/false, numbers, text, "
                                 "lists and mappings with text keys), which a study kept in "
                                 "storage cannot hold; use such options, or tune without "
                                 "storage")


@_stored_choices_said_here
def tune(
    objective: Callable[[dict[str, Any], Any], float],
    space: Mapping[str, SpaceEntry],
    *,
    n_trials: int = 20,
    direction: str = "minimize",
    seed: int | None = 0,
    timeout_s: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: Any | None = None,
    catch: tuple[type[Exception], ...] = (ValueError, TypeError),
    trials_csv: str | Path | None = None,
    log_trials: bool = True,
) -> Any:
    """Run an Optuna study; ``objective(params, trial) -> score``. Returns the study.

    ``log_trials=False`` keeps Optuna's line per trial (its INFO log) out of this call, as
    the applications do with progress off (``--no-progress``); under DDP only the first
    process writes them.

    ``storage`` (e.g. ``"sqlite:///tune.db"``) with ``study_name`` makes a search resumable:
    running it again continues the same study (one stored with the other ``direction`` is
    an error; one whose trials were drawn from another space is warned of), its sampler
    seeded by ``seed`` and the number of trials stored, so that it draws new ones.
    ``trials_csv``: a CSV file rewritten with every trial so far
    (``study.trials_dataframe()`` less Optuna's ``system_attrs`` columns) as each ends, so
    that an interrupted search keeps its finished trials (under DDP, by the first process).

    A trial whose objective raises one of ``catch`` (an invalid combination of values) or
    returns NaN or infinity fails with its reason in ``trial.user_attrs["fail_reason"]``, and
    the study goes on; other exceptions stop it. If no trial of the study completes, a
    ValueError lists the distinct reasons; so it does, rather than failing every trial
    alike, when :data:`ALIKE_FAILURES` or more trials, and no completed one, have failed for
    one reason that no value tried seems to cause (see :func:`_alike`; a setting outside the
    space, say).
    """
    optuna = _optuna()
    if not callable(objective):  # (each trial would fail with "object is not callable")
        raise TypeError(f"objective must be a function objective(params, trial) -> score, "
                        f"got {type(objective).__name__} {objective!r:.80}")
    space = check_space(space)
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if seed is not None and not is_int(seed):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if seed is not None and not 0 <= seed < 2**32:  # (NumPy's seeds, Optuna's sampler's)
        raise ValueError(f"seed must be in [0, 2**32 - 1] or None, got {shown(seed, format)}")
    if not is_int(n_trials) or n_trials < 1:
        raise ValueError(f"n_trials must be an int >= 1, got {n_trials!r}")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(
            timeout_s, int | float) or not 0 < timeout_s < math.inf):
        raise ValueError(f"timeout_s must be None or a number of seconds > 0, got "
                         f"{timeout_s!r}")
    if not isinstance(catch, tuple) or not all(
            isinstance(c, type) and issubclass(c, Exception) for c in catch):
        raise TypeError(f"catch must be a tuple of exception classes, got {catch!r}")
    if trials_csv is not None:  # said now, not when the first trial has trained
        _check_writable(Path(trials_csv))
    if storage is not None:
        _check_storable(space)
    verbosity = optuna.logging.get_verbosity()
    if not log_trials or not is_first_process():  # (under DDP, the first says how trials end)
        optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        return _run_study(objective, space, n_trials, direction, seed, timeout_s, storage,
                          study_name, pruner, catch, trials_csv)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run_study(objective: Callable[[dict[str, Any], Any], float],
               space: Mapping[str, SpaceEntry], n_trials: int, direction: str,
               seed: int | None, timeout_s: float | None, storage: str | None,
               study_name: str | None, pruner: Any | None,
               catch: tuple[type[Exception], ...], trials_csv: str | Path | None) -> Any:
    """The study of :func:`tune`, its arguments checked."""
    optuna = _optuna()
    study = optuna.create_study(
        direction=direction, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner if pruner is not None else optuna.pruners.MedianPruner(n_warmup_steps=1),
        storage=storage, study_name=study_name, load_if_exists=storage is not None)
    if storage is not None:
        _check_stored(study, space, direction)
        if seed is not None and study.trials:
            # a sampler seeded as the first session's drew its trials again: continued, it
            # is seeded by the seed and the trials stored (the same study continued from the
            # same trials still draws the same)
            study.sampler = optuna.samplers.TPESampler(
                seed=int(np.random.SeedSequence([seed, len(study.trials)]).generate_state(1)[0]))

    failures: list[tuple[str, dict[str, Any]]] = []  # (reason, values) while none completed

    def run_trial(trial: Any) -> float:
        params: dict[str, Any] = {}
        try:
            params = suggest(trial, space)
            score = float(objective(params, trial))
        except catch as err:
            reason = f"{type(err).__name__}: {err}"
            trial.set_user_attr(FAIL_REASON, reason)
            failures.append((reason, params))
            if _alike(failures, space, study):
                raise _AlikeFailuresError(len(failures), reason) from None
            raise
        if not math.isfinite(score):
            reason = f"the objective returned {score}"
            trial.set_user_attr(FAIL_REASON, reason)
            raise NonFiniteScoreError(reason)
        return score

    caught = (*catch, NonFiniteScoreError)
    # Optuna logs a failed trial's traceback; for the failures caught here the warning line
    # already names the error (and the trial keeps it), so the traceback is left out
    quiet = _NoCaughtTraceback((*caught, _AlikeFailuresError))
    optimize_logger = logging.getLogger("optuna.study._optimize")
    optimize_logger.addFilter(quiet)
    earlier = len(study.trials)  # a study resumed from storage holds its earlier runs' trials
    callbacks = []
    if trials_csv is not None:
        def write_trials(study: Any, trial: Any) -> None:
            if is_first_process():
                frame = study.trials_dataframe()
                # (Optuna's own bookkeeping, such as the sampler's internal state, left out)
                frame.drop(columns=[c for c in frame if c.startswith("system_attrs")]
                           ).to_csv(trials_csv, index=False)

        callbacks.append(write_trials)
    try:
        study.optimize(run_trial, n_trials=n_trials, timeout=timeout_s, catch=caught,
                       callbacks=callbacks)
    except _AlikeFailuresError as err:
        if trials_csv is not None:  # (Optuna calls no callback after such a trial)
            callbacks[0](study, None)
        raise ValueError(f"{err.trials} trials failed for one reason and none completed, "
                         "although each key of the space that can vary took more than one "
                         "value among them, so the values tried do not seem to cause it: "
                         f"{err.reason}; fix it before "
                         "tuning") from None
    except (KeyboardInterrupt, SystemExit):
        # (Optuna marks the interrupted trial failed, without a reason of ours)
        states = optuna.trial.TrialState
        finished = sum(t.state in (states.COMPLETE, states.PRUNED) or FAIL_REASON in t.user_attrs
                       for t in study.trials[earlier:])
        kept = f" (in {trials_csv})" if trials_csv is not None and finished else ""
        if is_first_process():  # (under DDP every process is interrupted alike)
            print(f"tuning interrupted after {finished} finished trial(s) of {n_trials}{kept}",
                  file=sys.stderr)
        raise
    finally:
        optimize_logger.removeFilter(quiet)
    states = optuna.trial.TrialState
    if not any(t.state == states.COMPLETE for t in study.trials):
        failed = [t for t in study.trials if t.state == states.FAIL]
        pruned = [t for t in study.trials if t.state == states.PRUNED]
        reasons = sorted({t.user_attrs.get(FAIL_REASON, "no reason recorded") for t in failed})
        raise ValueError(f"no trial completed ({len(failed)} failed, {len(pruned)} pruned); "
                         f"reasons: {reasons}")
    return study


def _check_writable(path: Path) -> None:
    """A clear error unless the trials file ``path`` can be written."""
    import os

    if not path.parent.is_dir():
        raise FileNotFoundError(f"trials_csv {str(path)!r}: its folder does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"trials_csv {str(path)!r}, where the trials are written, is a "
                                "folder: move it away")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise PermissionError(f"trials_csv {str(path)!r}, where the trials are written, cannot "
                              "be written (no permission)")


def sampler_seed(seed: int | str | None, training: Any) -> int | None:
    """An application tuner's ``seed``: :data:`FROM_TRAINING` is ``training.seed``; checked
    (before the data are read)."""
    if seed == FROM_TRAINING:
        return training.seed
    if seed is not None and not is_int(seed):
        raise TypeError(f"seed must be an int, None or {FROM_TRAINING!r} (the default), got "
                        f"{seed!r}")
    return seed  # type: ignore[return-value]


def check_tuning_processes(training: Any, *, seed: int | None, timeout_s: float | None,
                           storage: str | None) -> None:
    """A ValueError when ``training`` may train in several processes (DDP) and the search
    could run differently in them. Every process runs the whole search and trains each trial
    together with the others, so each must draw the same values and run as many trials: the
    sampler needs a seed (``training.seed`` from the command line), a time limit would end
    the searches at different trials, and a shared study (``storage``) would take every
    process's trials."""
    if not training.several_processes():
        return
    where = (f"training.strategy={training.strategy!r}, training.devices="
             f"{training.devices!r}, training.num_nodes={training.num_nodes}")
    if seed is None:
        raise ValueError(f"tuning in several processes ({where}) needs a seeded search, so "
                         "that every process draws the same values; set training.seed (a "
                         "tuning seed), got None")
    if timeout_s is not None:
        raise ValueError(f"tuning in several processes ({where}) takes no time limit "
                         f"(--tune-timeout, timeout_s={timeout_s}): each process would stop "
                         "after its own trials; give a number of trials only")
    if storage is not None:
        raise ValueError(f"tuning in several processes ({where}) takes no storage "
                         f"({storage!r}): every process would add its trials to the one "
                         "study; tune on one device, or without storage")


def print_tuning_end(study: Any, args: Any, best: str, trials: Path) -> None:
    """Say how a CLI search (``--tune`` N, ``--tune-timeout``) ended: ``best`` (the best
    score, in words) with its values, where the trials are, and whether the timeout stopped
    it before its N trials."""
    ran = len(study.trials)
    if args.tune_timeout is not None and ran < args.tune:
        print(f"tuning: --tune-timeout {args.tune_timeout:g} s stopped the search after {ran} "
              f"of {args.tune} trials")
    print(f"{best} with {study.best_params}; all trials in {trials}")


def best_so_far(scores: Sequence[float], direction: str) -> list[float]:
    """The best of ``scores`` up to each one (NaN, a trial without a score, skipped)."""
    best, out = math.nan, []
    for score in scores:
        if not math.isnan(score) and (math.isnan(best) or (
                score > best if direction == "maximize" else score < best)):
            best = score
        out.append(best)
    return out


def plot_trials(study: Any, path: str | Path, score: str) -> Path:
    """Draw a search into a PNG at ``path``: each completed trial's ``score`` (words for the
    axis) by trial number, the pruned ones at the last score they reported, and the best so
    far; failed trials are counted in the title. Returns ``path``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    states = _optuna().trial.TrialState
    trials = study.trials
    done = [(t.number, t.value) for t in trials if t.state == states.COMPLETE]
    pruned = [(t.number, t.intermediate_values[max(t.intermediate_values)])
              for t in trials if t.state == states.PRUNED and t.intermediate_values]
    failed = sum(t.state == states.FAIL for t in trials)
    direction = study.direction.name.lower()
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    if done:
        ax.plot(*zip(*done, strict=True), "o", color="tab:blue", label="completed")
    if pruned:
        ax.plot(*zip(*pruned, strict=True), "x", color="tab:grey",
                label="pruned (last score reported)")
    numbers = [t.number for t in trials]
    scores = {n: v for n, v in done}
    best = best_so_far([scores.get(n, math.nan) for n in numbers], direction)
    if numbers:  # (to half a trial past the last, so that the last one's step shows)
        ax.step([*numbers, numbers[-1] + 0.5], [*best, best[-1]], where="post",
                color="tab:orange", label="best so far")
        ax.set_xlim(numbers[0] - 0.5, numbers[-1] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(score)
    ax.set_title(f"{len(done)} completed, {len(pruned)} pruned, {failed} failed "
                 f"({direction})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, format="png")
    return path


def say_drawn(study: Any, path: Path, score: str) -> None:
    """Draw a CLI search (:func:`plot_trials`) and say where; a picture that cannot be
    written is said, and the run goes on to train the best (the trials are in its CSV)."""
    try:
        print(f"tuning: drawn in {plot_trials(study, path, score)}")
    except OSError as err:
        print(f"tuning: the search could not be drawn in {path} ({type(err).__name__}: "
              f"{err}); its trials are in {path.with_suffix('.csv')}", file=sys.stderr)


def space_from_args(args: Any, default: Mapping[str, SpaceEntry], given: Iterable[str],
                    check_keys: Callable[[Mapping[str, SpaceEntry]], None],
                    config_keys: Iterable[str] = ()) -> dict[str, SpaceEntry]:
    """A command line's search space, read before its data: ``--tune-space FILE`` (its keys
    checked by ``check_keys``, whose errors then name the file; a key also ``given`` on the
    command line is searched, and the output says that the value given is not kept), or
    ``default`` less the keys ``given`` (:func:`without_given`, which says which keys of the
    ``--config`` file, ``config_keys``, the search varies)."""
    if args.tune_space is None:
        return without_given(default, given, config_keys)
    space = read_space(args.tune_space)
    try:
        check_keys(space)
    except ValueError as err:
        raise ValueError(f"--tune-space {args.tune_space}: {err}") from None
    searched = sorted(set(space) & set(given))
    if searched and is_first_process():
        print(f"tuning: --tune-space {args.tune_space} varies {searched}, given on the command "
              "line too: the search replaces the value given")
    return space


def without_given(space: Mapping[str, SpaceEntry], given: Iterable[str],
                  config_keys: Iterable[str] = ()) -> dict[str, SpaceEntry]:
    """A CLI's default search ``space`` less the keys ``given`` on the command line (a flag
    such as ``--lr``, or ``--set KEY=VALUE``): their values stay as given, which the output
    says, as it says which keys the search varies that the ``--config`` file gives
    (``config_keys``, :func:`dotted_keys`): the search replaces their values; a ValueError
    when nothing is left to search."""
    given = set(given)
    kept = sorted(key for key in space if key in given)
    rest = {key: entry for key, entry in space.items() if key not in given}
    if not rest:
        raise ValueError(f"every key of the default search space, {kept}, is given on the "
                         "command line, so there is nothing to tune: drop some, or give "
                         "--tune-space")
    if kept and is_first_process():
        print(f"tuning: {kept} stay as given on the command line")
    replaced = sorted(set(rest) & set(config_keys))
    if replaced and is_first_process():
        print(f"tuning: the search varies {replaced}, which --config gives: its values are "
              "replaced by the best found (give a value with a flag or --set to keep it)")
    return rest


def dotted_keys(mapping: Any) -> set[str]:
    """The dotted keys a settings mapping (a ``--config`` file's, as read) sets:
    ``model.dropout`` for ``{"model": {"dropout": 0.1}}``, and each level of a nested one
    (``model.lstm`` and ``model.lstm.zoneout``)."""
    keys: set[str] = set()

    def walk(values: Any, prefix: str) -> None:
        if isinstance(values, Mapping):
            for key, value in values.items():
                keys.add(prefix + str(key))
                walk(value, f"{prefix}{key}.")

    walk(mapping, "")
    return keys
