"""Reading text files with errors that say what went wrong and how to fix it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def read_text(path: str | Path, encoding: str = "utf-8", *, allow_empty: bool = False) -> str:
    """The whole content of a text file.

    Raises:
        FileNotFoundError: the file does not exist (IsADirectoryError: it is a folder).
        ValueError: the file is not valid in ``encoding`` (the message names the encoding that
            was tried, the byte offset, and the ``encoding`` argument / ``--encoding`` flag to
            choose another), or it is empty (unless ``allow_empty``).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    # (a pipe, ``<(command)`` or /dev/stdin exists without being a regular file: read once)
    if not path.exists():
        # a relative path in a --config file is read from where the command runs, not from
        # the file's folder: say where it was looked for
        where = "" if path.is_absolute() else f" (looked for in {str(Path.cwd())!r})"
        raise FileNotFoundError(f"no such file: {path}{where}")
    return decode_text(path.read_bytes(), str(path), encoding, allow_empty=allow_empty)


def decode_text(raw: bytes, source: str, encoding: str = "utf-8", *,
                allow_empty: bool = False) -> str:
    """``raw`` decoded as ``encoding``, a leading byte order mark dropped; errors as for
    :func:`read_text`, naming ``source`` (a path, or ``stdin``)."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff") and raw[:4] != b"\xff\xfe\x00\x00"
        if utf16 and not encoding.lower().replace("_", "-").startswith("utf-16"):
            # (Excel's "Unicode text" export; not a UTF-32 one, whose mark starts alike)
            raise ValueError(
                f"{source}: cannot decode it as {encoding}: it starts with a UTF-16 byte "
                f"order mark, so it is in UTF-16: pass encoding='utf-16' (on the command line "
                f"--encoding utf-16)") from None
        raise ValueError(
            f"{source}: cannot decode byte {raw[err.start:err.start + 1]!r} at offset "
            f"{err.start} as {encoding}; the {'input' if source == 'stdin' else 'file'} is in "
            f"another encoding: pass encoding= (on the command line --encoding), e.g. "
            f"'latin-1' or 'cp1252'"
        ) from None
    except LookupError:
        raise ValueError(f"encoding (--encoding) must be a codec Python knows, got "
                         f"{encoding!r}") from None
    return checked_text(text, source, allow_empty=allow_empty)


def checked_text(text: str, source: str, *, allow_empty: bool = False) -> str:
    """Decoded ``text`` without a leading byte order mark; unless ``allow_empty``, text with
    nothing but whitespace is a ValueError naming ``source`` (a path, or ``stdin``)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not allow_empty and not text.strip():
        what = "stdin is empty" if source == "stdin" else f"{source}: the file is empty"
        raise ValueError(f"{what} (expected at least one example)")
    return text


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` without terminators, split on ``\n`` (and ``\r\n``) only.

    Unlike ``str.splitlines`` this does not split on U+2028, U+2029, U+0085, ``\x0b``,
    ``\x0c`` or ``\x1c``-``\x1e``, which occur inside real text (tweets, web pages) and must
    not start a new record. A final terminator does not make an extra empty line. A byte
    order mark (U+FEFF) that starts a line is dropped: it is left where files saved with one
    were concatenated, and would otherwise stick to the first label or word.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [(line[:-1] if line.endswith("\r") else line).removeprefix("\ufeff")
            for line in lines]


def check_line_endings(text: str, source: str) -> str:
    """``text``, unless its lines end with CR only (``\r`` but no ``\n``: an old Mac or
    Excel export), which :func:`split_lines` would read as one line: a ValueError naming
    ``source``."""
    if "\r" in text and "\n" not in text:
        raise ValueError(f"{source}: lines end with CR only (an old Mac or Excel export), so "
                         "the whole input would be one line; save it with LF or CRLF line "
                         "endings")
    return text


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Lines of a non-empty text file, without line terminators (see :func:`split_lines`);
    a file whose lines end with CR only is a ValueError."""
    return split_lines(check_line_endings(read_text(path, encoding), str(path)))


def read_raw_texts(path: str | Path | None, encoding: str = "utf-8") -> list[str]:
    """Unlabelled texts, one a line, from a file or (``path`` None or ``"-"``) stdin.

    Blank lines are kept as texts (empty or whitespace only), so that text ``i`` is input
    line ``i`` and predictions line up with the input: a classifier reads an empty text as one
    ``<unk>`` token, a tagger finds no entities in it; input of blank lines alone is as many
    texts, and input of no character at all a ValueError. Input whose lines end with CR only
    is a ValueError (see :func:`check_line_endings`).
    """
    if path is None or str(path) == "-":
        import sys

        source = "stdin"
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is not None:
            # bytes, so that ``encoding`` applies and a byte order mark is dropped, as for a
            # file
            text = decode_text(buffer.read(), source, encoding, allow_empty=True)
        else:  # a text stream without bytes underneath (io.StringIO, some notebooks)
            text = checked_text(sys.stdin.read(), source, allow_empty=True)
    else:
        source = str(path)
        text = read_text(path, encoding, allow_empty=True)
    if not text:
        what = "stdin is empty" if source == "stdin" else f"{source}: the file is empty"
        raise ValueError(f"{what} (expected at least one line of text)")
    return split_lines(check_line_endings(text, source))


def check_output_path(path: str | Path, flag: str, *, directory: bool) -> Path:
    """Check before any work is done that ``path`` can be written: a directory to create or
    fill (``directory=True``) or a file to create or replace. Returns ``path`` as a Path.

    Raises:
        ValueError: naming ``flag``: ``path`` is an existing file where a directory is wanted
            (or an existing directory where a file is wanted), or one of its parents is a file.
    """
    if not directory:
        check_file_name(path, flag)
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise ValueError(f"{flag} must be a directory to write into, got {str(path)!r}, "
                             "an existing file")
        if not directory and path.is_dir():
            raise ValueError(f"{flag} must be a file to write, got {str(path)!r}, an existing "
                             "directory")
        return path
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} cannot be created: {str(path)!r} lies under "
                                 f"{str(parent)!r}, which is a file, not a directory")
            break
    return path


def check_file_name(path: str | Path, flag: str, example: str = "predictions.tsv") -> None:
    """A ValueError naming ``flag`` when ``path``, a file to write, is a str whose last part
    is empty, ``.`` or ``..`` (``'out/'``, ``'out/.'``, ``''``): it names a folder, and
    ``Path``, which drops a trailing separator, would write a file named after the folder."""
    if not isinstance(path, str):  # (a Path has dropped any trailing separator already)
        return
    separators = os.sep + (os.altsep or "")
    last = re.split(f"[{re.escape(separators)}]", path)[-1]
    if last in ("", ".", ".."):
        folder = path.rstrip(separators) if path.rstrip(separators) else (path or ".")
        raise ValueError(f"{flag} must be a file to write, got {path!r}, which names a folder: "
                         f"give the path of the file to write in it, e.g. "
                         f"{str(Path(folder) / example)!r}")


def check_not_an_input(path: str | Path, flag: str,
                       inputs: Mapping[str, str | Path | None],
                       remedy: str = "give another file to write") -> None:
    """A ValueError naming ``flag`` when ``path``, a file to write, is one of the files
    ``inputs`` (flag -> path; None or ``"-"``, stdin, for none) reads, also under another
    name (a link, ``./``, a hard link): writing it would replace the input. A target that is
    no regular file (``/dev/stdout``, a terminal, a FIFO) replaces nothing: ``--input
    /dev/stdin --output /dev/stdout`` on a terminal, both that terminal, is allowed.
    ``remedy`` ends the message."""
    if os.path.exists(path) and not os.path.isfile(path):
        return
    target = os.path.realpath(path)
    for name, source in inputs.items():
        if source is None or str(source) == "-":
            continue
        same = os.path.realpath(source) == target
        if not same and os.path.exists(path) and os.path.exists(source):
            try:
                same = os.path.samefile(path, source)
            except OSError:  # (one that cannot be looked at: the write will say so)
                same = False
        if same:
            raise ValueError(f"{flag} {str(path)!r} is the file {name} reads "
                             f"({str(source)!r}): writing it would replace the input; {remedy}")


def check_inputs_kept(out: str | Path, names: Iterable[str],
                      inputs: Mapping[str, str | Path | Sequence[str | Path] | None]) -> None:
    """A ValueError when a file that a command writes into the folder ``out`` (``names``; one
    ending in ``/``, a folder, is passed over) is a file that it reads (``inputs``: flag ->
    a path, a list of paths, or None), said before any work (the data are read before they
    are written): ``--out run`` with ``--train run/tuning.csv`` replaced the training data
    with the trials' table."""
    pairs = [(flag, path) for flag, value in inputs.items()
             for path in (value if isinstance(value, list | tuple) else [value])]
    for name in names:
        if not name.endswith("/"):
            for flag, path in pairs:
                check_not_an_input(Path(out) / name, f"--out's {name}", {flag: path},
                                   f"give --out another folder, or let {flag} read a copy of it")


def input_name(args: Any, dest: str, key: str) -> str:
    """How a message names a file read: by its flag where ``args`` (argparse's) gave it
    (``--train``), else by the setting of the config file that did (``data.train``)."""
    return "--" + dest.replace("_", "-") if getattr(args, dest, None) else key


def input_names(args: Any, data: Mapping[str, Any], keys: Iterable[str]
                ) -> dict[str, Any]:
    """The data files read, ``data``'s ``keys``, each named by :func:`input_name`."""
    return {input_name(args, key, f"data.{key}"): data.get(key) for key in keys}


def read_config_file(path: str | Path, sections: tuple[str, ...]) -> dict[str, dict]:
    """A YAML file of named sections (each a mapping), e.g. ``model:``, ``training:``,
    ``data:``. Unknown sections are an error listing the valid ones."""
    import yaml

    from lstmkit import yamlio

    text = read_text(path, allow_empty=True)
    try:
        values = yamlio.load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if values is None:  # empty, or comments only: no settings (as a forecast config reads)
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of sections {list(sections)}, "
                         f"got {type(values).__name__}")
    unknown = sorted(set(values) - set(sections))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; valid sections: {list(sections)}")
    out: dict[str, dict] = {}
    for name in sections:
        section = values.get(name) or {}
        if not isinstance(section, dict):
            raise ValueError(f"{path}: section {name!r} must be a mapping, "
                             f"got {type(section).__name__}")
        out[name] = dict(section)
    return out


def apply_overrides(config: dict[str, dict], overrides: list[str]) -> dict[str, dict]:
    """Apply ``section.key=value`` (or ``section.key.sub=value``) overrides; values are parsed
    as YAML (``true``, ``0.5``, ``1e-3``, ``[1, 2]``)."""
    from lstmkit import yamlio

    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.split(".")
        if not sep or len(parts) < 2 or parts[0] not in config:
            raise ValueError(
                f"--set must look like SECTION.KEY=VALUE with SECTION one of {list(config)}, "
                f"got {item!r}"
            )
        target = config[parts[0]]
        for depth, part in enumerate(parts[1:-1], start=2):
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                inner = ".".join(parts[:depth])
                raise ValueError(f"--set {item!r}: {inner} is {target!r}, which has no keys "
                                 f"(set {inner}=VALUE)")
        target[parts[-1]] = yamlio.load_value(raw)
    return config


def check_data_settings(data: Mapping[str, Any], keys: Mapping[str, type]) -> None:
    """The ``data`` section of a text command, which a YAML file or ``--set`` may give any
    values: every key one of ``keys``, each value of the type ``keys`` names for it (``int``:
    not a bool; ``list``: a list of str, or one str), or None for ``dev``, ``test`` and
    ``auxiliary`` (not given).

    Raises:
        ValueError: an unknown key (the message lists the valid ones).
        TypeError: naming ``data.<key>``, the type expected and the value given.
    """
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ValueError(f"unknown data key(s) {unknown}; valid keys: {sorted(keys)}")
    for key, value in data.items():
        if value is None and key in ("dev", "test", "auxiliary"):
            continue
        kind = keys[key]
        if kind is list:  # file paths
            ok = isinstance(value, str) or (isinstance(value, list)
                                            and all(isinstance(v, str) for v in value))
            expected = "a str or a list of str"
        else:
            ok = isinstance(value, kind) and not isinstance(value, bool)
            expected = "an int" if kind is int else "a str"
        if not ok:
            raise TypeError(f"data.{key} must be {expected}, got {type(value).__name__} "
                            f"{value!r}")


def command_line_keys(args: Any, flag_keys: dict[str, tuple[str, str]]) -> set[str]:
    """The ``section.key`` settings given on the command line: by the flags named in
    ``flag_keys`` (argparse dest -> (section, key)) that were set, and by ``--set``."""
    keys = {f"{section}.{key}" for dest, (section, key) in flag_keys.items()
            if getattr(args, dest, None) is not None}
    return keys | {item.partition("=")[0].strip() for item in getattr(args, "set", [])}


def settings_from_args(args: Any, sections: tuple[str, ...],
                       flag_keys: dict[str, tuple[str, str]]) -> tuple[dict[str, dict], set[str]]:
    """A CLI's settings: the ``--config`` YAML file (if given, read once: it may be a pipe),
    then the flags named in ``flag_keys`` (argparse dest -> (section, key)) that were set,
    then ``--set`` overrides; and the dotted keys the file gives (what ``--tune`` says it
    replaces)."""
    from lstmkit.training.tuning import dotted_keys

    config = read_config_file(args.config, sections) if getattr(args, "config", None) else \
        {name: {} for name in sections}
    from_file = dotted_keys(config)
    for dest, (section, key) in flag_keys.items():
        value = getattr(args, dest, None)
        if value is not None:
            config[section][key] = value
    return apply_overrides(config, getattr(args, "set", [])), from_file
