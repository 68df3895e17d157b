"""Readers for labelled text: one example a line, CSV/TSV columns, a folder per class.

Every reader returns a list of :class:`Example`; none tokenises (that is the model's job, with
the tokenizer saved in its configuration).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lstmkit.text.io import read_raw_texts, read_text

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
    """``<label> <text>`` a line (the SST ``stsa.*`` files); blank lines are skipped."""
    examples = []
    for lineno, line in enumerate(read_text(path, encoding).splitlines(), start=1):
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
    unlabelled text)."""
    reader = csv.DictReader(io.StringIO(read_text(path, encoding)), delimiter=delimiter)
    header = reader.fieldnames or []
    for arg, column in (("text_column", text_column), ("label_column", label_column)):
        if column is not None and column not in header:
            raise ValueError(
                f"{path}: {arg} must name a column of the header {header}, got {column!r}"
            )
    examples = []
    for row in reader:
        text = row[text_column]
        if text is None:
            raise ValueError(f"{path}:{reader.line_num}: row has fewer columns than the header")
        label = row[label_column] if label_column is not None else None
        examples.append(Example(text=text, label=label))
    if not examples:
        raise ValueError(f"{path}: the file has a header but no rows")
    return examples


def read_folders_format(
    root: str | Path, *, pattern: str = "*.txt", encoding: str = "utf-8"
) -> list[Example]:
    """``root/<label>/<anything>.txt``: one example a file, the folder name its label (the
    aclImdb layout)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    examples = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(class_dir.glob(pattern)):
            examples.append(Example(text=read_text(file, encoding).strip(), label=class_dir.name))
    if not examples:
        raise ValueError(f"{root}: found no '{pattern}' files in sub-folders (one per class)")
    return examples


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
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    if format == "auto":
        if path.is_dir():
            format = "folders"
        elif path.suffix.lower() in (".csv", ".tsv"):
            format = path.suffix.lower()[1:]  # type: ignore[assignment]
        else:
            format = "lines"
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
