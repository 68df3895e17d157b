"""What every saved lstmkit model directory shares: the format version in its ``meta.json``,
its ``model.pt`` and the error for a file in it that cannot be used."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any


def path_arg(name: str, value: object) -> Path:
    """``value`` as a Path; a TypeError naming ``name`` unless it is a str or os.PathLike (not
    None, a number or bytes, which pathlib would name only as 'expected str')."""
    if not isinstance(value, str | os.PathLike) or isinstance(os.fspath(value), bytes):
        raise TypeError(f"{name} must be a file or folder name (a str or os.PathLike), got "
                        f"{type(value).__name__} {value!r}")
    return Path(value)


def check_outside_model(path: str | Path, folder: str | Path, flag: str,
                        what: str = "it") -> None:
    """A ValueError naming ``flag`` when ``path``, a file or folder to write, is the folder of
    a saved model ``folder`` or lies inside it (links followed): the write would replace the
    model's files or, at least, lie where a new save of the model goes (a forecaster's
    replaces the whole folder); ``what`` names what to write elsewhere."""
    target = Path(os.path.realpath(path))
    model = Path(os.path.realpath(folder))
    if target.is_relative_to(model):
        where = "is the model folder" if target == model else "is inside the model folder"
        raise ValueError(f"{flag} {str(path)!r} {where} {str(folder)!r}, which holds the saved "
                         "model's files (and which a new save of the model rewrites): write "
                         f"{what} elsewhere")


def check_not_model_file(path: str | Path, folder: str | Path, files: tuple[str, ...],
                         flag: str, what: str = "it") -> None:
    """A ValueError naming ``flag`` when ``path``, a file to write, is one of the files of the
    saved model in ``folder`` (links followed): ``files`` names them, a name ending in ``/`` a
    folder of them (checkpoints). A model whose save replaces only its own files (a text
    model's) leaves the rest of its folder to the user, an evaluation's outputs say; a
    forecaster's save replaces the whole folder (:func:`check_outside_model`)."""
    target = Path(os.path.realpath(path))
    model = Path(os.path.realpath(folder))
    for name in files:
        own = model / name.rstrip("/")
        if target == own or (name.endswith("/") and target.is_relative_to(own)):
            part = f"inside the folder {name}" if target != own else f"the file {name}"
            raise ValueError(f"{flag} {str(path)!r} is {part} of the saved model "
                             f"{str(folder)!r}: writing it would replace the model's own "
                             f"file; write {what} elsewhere")


def check_format_version(meta: dict[str, Any], what: str, directory: Path,
                         expected: int, oldest: int | None = None) -> None:
    """A ValueError unless ``meta`` (a saved ``what``'s ``meta.json``) holds format version
    ``expected`` (or one from ``oldest`` to it, which this lstmkit also reads); it names the
    saved version, the lstmkit that wrote it and this one."""
    from lstmkit import __version__

    version = meta.get("format_version")
    oldest = expected if oldest is None else oldest
    if isinstance(version, bool) or not isinstance(version, int) \
            or not oldest <= version <= expected:
        writer = meta.get("lstmkit_version", "an unrecorded version")
        reads = f"{oldest} to {expected}" if oldest < expected else f"{expected}"
        raise ValueError(
            f"saved {what} {str(directory)!r} has format_version {version!r} (written by "
            f"lstmkit {writer}), but this lstmkit ({__version__}) reads format_version "
            f"{reads}; retrain it or load it with the lstmkit version that wrote it")


def not_saved(directory: Path, kind: str) -> FileNotFoundError:
    """The error for a ``directory`` without ``meta.json``, that is no saved ``kind`` (or
    that does not exist, or is a file); it points at the saved model in its ``model``
    subfolder (a forecast run's folder holds one there) when there is one."""
    if not directory.exists():
        return FileNotFoundError(f"{str(directory)!r} does not exist: give the folder of a "
                                 f"saved {kind}, the one that holds its meta.json"
                                 f"{_cut_off_save(directory, kind)}")
    if not directory.is_dir():
        return FileNotFoundError(f"{str(directory)!r} is a file, not the folder of a saved "
                                 f"{kind}")
    hint = ""
    if (directory / "model" / "meta.json").is_file():
        hint = (f"; its subfolder 'model' holds a saved model (the folder is a run's): pass "
                f"{str(directory / 'model')!r}")
    elif not (directory / "model").exists():  # a run's folder, its model's save cut off?
        hint = _cut_off_save(directory / "model", kind)
    return FileNotFoundError(f"{str(directory)!r} is not a saved {kind}: it has no "
                             f"meta.json{hint}")


def _cut_off_save(directory: Path, kind: str) -> str:
    """Words for the missing ``directory`` of a save cut off between its two renames (the
    old folder is moved aside to ``.<name>.tmp-<pid>-<thread>.old`` first): where the newest such
    folder is; ``""`` when there is none."""
    import glob

    def written(folder: Path) -> float | None:
        """When its meta.json was written; None without one it can read."""
        try:
            return (folder / "meta.json").stat().st_mtime
        except OSError:  # none, or a folder it may not read (another user's)
            return None

    try:
        aside = {p: written(p) for p in directory.parent.glob(
            f".{glob.escape(directory.name)}.tmp-*.old")}
    except OSError:  # (a parent that is gone or cannot be read)
        return ""
    aside = {p: when for p, when in aside.items() if when is not None}
    if not aside:
        return ""
    newest = max(aside, key=lambda p: aside[p])
    others = (f" (the newest of {len(aside)} such folders)" if len(aside) > 1 else "")
    return (f"; a save into {str(directory)!r} was cut off (killed between its two "
            f"renames), and the {kind} saved there before is in {str(newest)!r}{others}: "
            f"rename that folder to {str(directory)!r}")


def damaged(directory: Path, kind: str, name: str, what: str, err: Exception | None = None,
            why: str = "the file is damaged or was edited") -> ValueError:
    """The error for the file ``name`` of the saved ``kind`` in ``directory`` that loading
    cannot use: it names both, says ``what`` is wrong (with ``err``'s type and text) and that
    the model must be saved again."""
    detail = ""
    if err is not None:
        text = " ".join(str(err).split())  # yaml's and torch's run over several lines
        detail = f" ({type(err).__name__}: {text})" if text else f" ({type(err).__name__})"
    return ValueError(f"saved {kind} {str(directory)!r}: {name} {what}{detail}; {why}: save "
                      "the model again")


def read_state_dict(directory: Path, kind: str) -> dict[str, Any]:
    """The weights in ``directory/model.pt`` of a saved ``kind``, on the CPU; a ValueError from
    :func:`damaged` when the file cannot be read (cut short, not a PyTorch file)."""
    import torch

    try:
        return torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError,
            OSError) as err:  # what a truncated or foreign file gives, depending on where
        if "weights_only" in str(err):  # not torch's advice to load it with
            # weights_only=False, which runs the code a file holds: the reason alone
            found = re.search(r"WeightsUnpickler error: (.*?\.)(?= Please use|\n|$)", str(err))
            err = pickle.UnpicklingError(found.group(1) if found else "it holds objects other "
                                         "than tensors, which loading refuses")
        raise damaged(directory, kind, "model.pt", "cannot be read", err,
                      "the file is damaged or not a PyTorch state dict") from None
