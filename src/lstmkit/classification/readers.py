"""Readers for labelled text: one example a line, CSV/TSV columns, a folder per class.

Every reader returns a list of :class:`Example`; none tokenises (that is the model's job, with
the tokenizer saved in its configuration).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lstmkit.text.io import read_raw_texts, read_text, split_lines

Format = Literal["auto", "lines", "csv", "tsv", "folders"]
FORMATS: tuple[str, ...] = ("auto", "lines", "csv", "tsv", "folders")

__all__ = ["Example", "read_csv_format", "read_examples", "read_folders_format",
           "read_lines_format", "read_raw_texts"]


@dataclass(frozen=True)
class Example:
    """One labelled text; ``label`` is None for unlabelled text."""

    text: str
    label: str | None = None


def read_lines_format(path: str | Path, encoding: str = "utf-8") -> list[Example]:
    """``<label> <text>`` a line (the SST ``stsa.*`` files); blank lines are skipped. Lines
    end at ``\n`` (or ``\r\n``) only."""
    examples = []
    for lineno, line in enumerate(split_lines(read_text(path, encoding)), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(
                f"{path}:{lineno}: expected '<label> <text>', got {line.strip()[:60]!r}"
            )
        examples.append(Example(text=parts[1], label=parts[0]))
    return examples


def read_csv_format(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> list[Example]:
    """A CSV/TSV file with a header row naming ``text_column`` and ``label_column`` (None for
    unlabelled text). Blank lines are skipped; labels lose surrounding whitespace.

    Raises:
        ValueError: a column is not in the header; a row (``file:line``) has more or fewer
            fields than the header (e.g. an unquoted delimiter inside the text); an empty
            label; a header but no rows.
    """
    reader = csv.reader(io.StringIO(read_text(path, encoding)), delimiter=delimiter)
    header = next(reader, [])
    for arg, column in (("text_column", text_column), ("label_column", label_column)):
        if column is not None and column not in header:
            raise ValueError(
                f"{path}: {arg} must name a column of the header {header}, got {column!r}"
            )
    text_at = header.index(text_column)
    label_at = header.index(label_column) if label_column is not None else None
    examples = []
    first_line = reader.line_num + 1
    for row in reader:
        lineno, first_line = first_line, reader.line_num + 1
        if not row:
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{path}:{lineno}: expected {len(header)} fields as in the header {header}, "
                f"got {len(row)}: {row}; quote a field that holds the delimiter "
                f"{delimiter!r}"
            )
        label = None
        if label_at is not None:
            label = row[label_at].strip()
            if not label:
                raise ValueError(f"{path}:{lineno}: label column {label_column!r} is empty; "
                                 "expected a label")
        examples.append(Example(text=row[text_at], label=label))
    if not examples:
        raise ValueError(f"{path}: the file has a header but no rows")
    return examples


UNLABELLED_FOLDER = "unsup"
"""Sub-folder skipped by :func:`read_folders_format`: aclImdb's unlabelled reviews."""


def read_folders_format(
    root: str | Path,
    *,
    classes: Sequence[str] | None = None,
    pattern: str = "*.txt",
    encoding: str = "utf-8",
) -> list[Example]:
    """``root/<label>/<anything>.txt``: one example a file, the folder name its label (the
    aclImdb layout: ``aclImdb/train`` gives the ``neg`` and ``pos`` reviews).

    ``classes`` names the class folders to read; by default every sub-folder except hidden
    ones (``.ipynb_checkpoints``) and ``unsup`` (aclImdb's unlabelled reviews).

    Raises:
        FileNotFoundError: ``root``, or a folder named in ``classes``, does not exist.
        ValueError: a folder named in ``classes`` holds no ``pattern`` file, or no class
            folder does.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    if classes is None:
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir()
                            and not p.name.startswith(".") and p.name != UNLABELLED_FOLDER)
    else:
        if isinstance(classes, str):
            raise TypeError(f"classes must be a sequence of folder names, got the str "
                            f"{classes!r}; pass [{classes!r}]")
        class_dirs = [root / name for name in classes]
        for class_dir in class_dirs:
            if not class_dir.is_dir():
                raise FileNotFoundError(f"classes: no such folder: {class_dir}")
            if not any(class_dir.glob(pattern)):
                raise ValueError(f"classes: folder {class_dir} holds no '{pattern}' files")
    examples = []
    for class_dir in class_dirs:
        for file in sorted(class_dir.glob(pattern)):
            examples.append(Example(text=read_text(file, encoding).strip(), label=class_dir.name))
    if not examples:
        raise ValueError(f"{root}: found no '{pattern}' files in sub-folders (one per class)")
    return examples


def resolve_format(path: str | Path, format: Format = "auto") -> Format:
    """The format ``read_examples`` reads ``path`` in: ``format`` itself, or for ``"auto"``
    ``folders`` for a folder, ``csv`` / ``tsv`` by suffix and ``lines`` otherwise."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format != "auto":
        return format
    path = Path(path)
    if path.is_dir():
        return "folders"
    if path.suffix.lower() in (".csv", ".tsv"):
        return path.suffix.lower()[1:]  # type: ignore[return-value]
    return "lines"


def read_examples(
    path: str | Path,
    format: Format = "auto",
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    encoding: str = "utf-8",
) -> list[Example]:
    """Read labelled text in any supported format.

    ``format="auto"``: a folder -> ``folders``; ``.csv`` -> ``csv``; ``.tsv`` -> ``tsv``;
    anything else -> ``lines``.
    """
    path = Path(path)
    format = resolve_format(path, format)
    if format == "folders":
        return read_folders_format(path, encoding=encoding)
    if format in ("csv", "tsv"):
        return read_csv_format(
            path,
            text_column=text_column,
            label_column=label_column,
            delimiter="," if format == "csv" else "\t",
            encoding=encoding,
        )
    return read_lines_format(path, encoding)
