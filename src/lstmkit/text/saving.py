"""Saved model directories of the text applications (classifier, tagger): the ``meta.json``
header and the ``model.pt`` weights, read with errors that name the directory."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from lstmkit.saving import check_format_version, not_saved, path_arg, read_state_dict


def meta_header(kind: str, format_version: int) -> dict[str, Any]:
    """The first keys of ``meta.json``: kind, format version and the lstmkit version."""
    from lstmkit import __version__

    return {"format_version": format_version, "lstmkit_version": __version__, "kind": kind}


def write_saved(directory: str | Path, files: Mapping[str, Callable[[Path], object]],
                meta: Mapping[str, Any]) -> Path:
    """Write a saved model into ``directory``: ``files`` maps each file name to a function that
    writes it to the path given, and ``meta.json`` (what loading reads first) comes last.

    ``meta.json`` is removed first and each file is written beside its target and then moved
    onto it, so a save that stops part way leaves a folder that loading refuses (no
    ``meta.json``), where it could load the files of two models together; other files in the
    folder (checkpoints, reports) are left alone. Under DDP only the first process writes
    (the others hold the same weights). Two saves into one folder at once take turns (an
    advisory ``flock`` on its ``.save.lock``, where the file system has one), so that the
    folder holds the files of one model, not some of each."""
    from lstmkit.training import is_first_process

    directory = path_arg("directory", directory)
    if not is_first_process():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    meta_file = json_file(dict(meta))
    with _taking_turns(directory / SAVE_LOCK):
        (directory / "meta.json").unlink(missing_ok=True)
        for name, write in [*files.items(), ("meta.json", meta_file)]:
            tmp = directory / f".{name}.tmp-{os.getpid()}-{threading.get_ident()}"
            try:
                write(tmp)
                os.replace(tmp, directory / name)
            finally:
                tmp.unlink(missing_ok=True)
    return directory


SAVE_LOCK = ".save.lock"
"""The file in a saved model's folder that saves into it lock, one at a time."""


_HELD = threading.local()
"""The lock files this thread holds (a save into a folder while saving into it: an error,
where it would wait for itself)."""


@contextmanager
def _taking_turns(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (waiting for any other holder) meanwhile;
    nothing is held where there is no such lock (Windows, some network file systems) or the
    file cannot be opened (another user's, in a folder shared for writing)."""
    held: set[Path] = _HELD.__dict__.setdefault("paths", set())
    key = path.resolve()
    if key in held:
        raise RuntimeError(f"a save into {str(path.parent)!r} is already under way in this "
                           "thread (a save called from within it, by a writer or a signal "
                           "handler): save into another folder")
    handle = _lock_handle(path)
    try:
        held.add(key)
        yield
    finally:
        held.discard(key)
        if handle is not None:
            os.close(handle)  # (which releases the lock)


def _lock_handle(path: Path) -> int | None:
    """A descriptor of ``path`` holding an exclusive ``flock`` on it, or None where no lock
    can be had."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = None
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # (flock needs no write permission)
        try:
            handle = os.open(path, flags, 0o666)
            break
        except OSError:
            continue
    if handle is None:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:  # (ENOLCK, EOPNOTSUPP)
        os.close(handle)
        return None
    except BaseException:  # (Ctrl-C while waiting: the descriptor is not left open)
        os.close(handle)
        raise
    return handle


def json_file(value: Any) -> Callable[[Path], object]:
    """A writer for :func:`write_saved`: ``value`` as indented JSON, made now, so that a value
    JSON cannot write is an error before the save removes anything."""
    text = json.dumps(value, indent=2)
    return lambda path: path.write_text(text)


def read_meta(directory: Path, kind: str, format_version: int) -> dict[str, Any]:
    """``directory/meta.json``, checked to hold a ``kind`` model in ``format_version``.

    Raises:
        FileNotFoundError: there is no ``meta.json``.
        ValueError: ``meta.json`` is not a JSON object, holds another kind of model, or was
            written in another format version (the message names the saved version, the
            lstmkit version that wrote it and the version this lstmkit reads).
    """

    meta = read_json(directory, "meta.json", kind)
    if meta.get("kind") != kind:
        what = "names no kind of model" if meta.get("kind") is None else \
            f"holds a {meta['kind']!r} model"
        raise ValueError(f"{directory} is not a saved {kind}: its meta.json {what}")
    check_format_version(meta, kind, directory, format_version)
    return meta


def read_json(directory: Path, name: str, kind: str) -> dict[str, Any]:
    """The JSON object in ``directory/name`` of a saved ``kind``.

    Raises:
        FileNotFoundError: the file is not there.
        ValueError: naming the file: not JSON, or not a JSON object.
    """
    path = directory / name
    if not path.is_file():
        if name == "meta.json":
            raise not_saved(directory, kind)
        raise FileNotFoundError(f"{directory} is not a saved {kind} (no {name})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); save the model again") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def load_weights(model: nn.Module, directory: Path, kind: str) -> None:
    """Load ``directory/model.pt`` into ``model``.

    Raises:
        FileNotFoundError: there is no ``model.pt``.
        ValueError: naming ``directory``: ``model.pt`` is damaged (truncated, not a PyTorch
            file) or its weights do not fit the network the configuration describes.
    """
    if not (directory / "model.pt").is_file():
        raise FileNotFoundError(f"{directory} is not a saved {kind} (no model.pt)")
    state = read_state_dict(directory, kind)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"saved {kind} {str(directory)!r}: the weights in model.pt do not fit the network "
            f"that config.json and meta.json describe ({type(err).__name__}: "
            f"{_one_line(err)}); were these files edited? Save the model again"
        ) from None


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:300]
