"""Readers for labelled text: one example a line, CSV/TSV columns, a folder per class.

Every reader returns a list of :class:`Example`; none tokenises (that is the model's job, with
the tokenizer saved in its configuration).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lstmkit.text.io import check_line_endings, read_raw_texts, read_text, split_lines

Format = Literal["auto", "lines", "csv", "tsv", "folders"]
FORMATS: tuple[str, ...] = ("auto", "lines", "csv", "tsv", "folders")

__all__ = ["Example", "read_csv_format", "read_examples", "read_folders_format",
           "read_lines_format", "read_raw_texts"]


@dataclass(frozen=True)
class Example:
    """One labelled text; ``label`` is None for unlabelled text. The model knows a label by
    its str: ``Example(text, 1)`` (or a NumPy integer, as from a DataFrame column) has the
    label ``"1"``."""

    text: str
    label: str | int | float | None = None
    where: str = field(default="", compare=False, repr=False)
    """Where the example was read (``file:line``, or the file), for error messages."""


def read_lines_format(path: str | Path, encoding: str = "utf-8") -> list[Example]:
    """``<label> <text>`` a line (the SST ``stsa.*`` files); blank lines are skipped. Lines
    end at ``\n`` (or ``\r\n``) only."""
    examples = []
    text = check_line_endings(read_text(path, encoding), str(path))
    swapped, words_first = True, False
    for lineno, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(
                f"{path}:{lineno}: expected '<label> <text>', got {line.strip()[:60]!r}"
            )
        examples.append(Example(text=parts[1], label=parts[0], where=f"{path}:{lineno}"))
        # "some text<TAB>label": one word after the last tab, words before it on some line
        first, tab, last = line.strip().rpartition("\t")
        swapped = swapped and bool(tab) and not last.split()[1:]
        words_first = words_first or " " in first.strip()
    if examples and swapped and words_first:
        raise ValueError(
            f"{path}: every line is 'text<TAB>label', as a TSV file's lines are, but it is "
            "read as '<label> <text>' lines, whose first word is the label; read it as TSV "
            "(format 'tsv', --format tsv, with a header naming the text and label columns)")
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

    With ``delimiter=","`` fields follow the CSV quoting rules, strictly: a field that holds
    the delimiter, a quote or a line break is quoted (``"..."``, a quote inside doubled).
    With ``delimiter="\t"`` (TSV) fields are literal: a quote is part of the text, and a field
    cannot hold a tab or a line break. Fields may be of any length.

    Raises:
        ValueError: the text and label columns are one; a column is not in the header, or
            is in it more than once; a row (``file:line``) has more or fewer fields than the
            header (e.g. an unquoted delimiter inside the text), or breaks the quoting rules,
            or the file ends lines with CR only; an empty label; a header but no rows.
    """
    if label_column is not None and text_column == label_column:
        raise ValueError(f"text_column (--text-column) and label_column (--label-column) name "
                         f"the same column {text_column!r}, so each label would be read as its "
                         "text; pass two different columns")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(read_text(path, encoding)), delimiter=delimiter,
                        quoting=quoting, strict=True)
    rows = _csv_rows(reader, path)
    header = next(rows, (1, []))[1]
    for arg, flag, column in (("text_column", "--text-column", text_column),
                              ("label_column", "--label-column", label_column)):
        if column is not None and column not in header:
            # (a European spreadsheet's CSV: 'text;label' read as one column)
            other = [d for d in ";,\t|" if d != delimiter and len(header) == 1
                     and d in header[0]]
            hint = (f"; the header is one field holding {other[0]!r}: the file seems to be "
                    f"delimited by {other[0]!r}, not {delimiter!r} (a .csv file is read with "
                    "',', a .tsv file with tabs: save it with those)" if other else "")
            raise ValueError(
                f"{path}: {arg} ({flag}) must name a column of the header {header}, got "
                f"{column!r}"
                f"{hint}"
            )
        if column is not None and header.count(column) > 1:
            raise ValueError(
                f"{path}: the header {header} names column {column!r} ({arg}, {flag}) "
                f"{header.count(column)} times; rename the columns so that one is {column!r}"
            )
    text_at = header.index(text_column)
    label_at = header.index(label_column) if label_column is not None else None
    examples = []
    for lineno, row in rows:
        if not row:
            continue
        if len(row) != len(header):
            hint = ("a TSV field cannot hold a tab" if delimiter == "\t" else
                    f"quote a field that holds the delimiter {delimiter!r}")
            raise ValueError(
                f"{path}:{lineno}: expected {len(header)} fields as in the header {header}, "
                f"got {len(row)}: {row}; {hint}"
            )
        label = None
        if label_at is not None:
            label = row[label_at].strip()
            if not label:
                raise ValueError(f"{path}:{lineno}: label column {label_column!r} is empty; "
                                 "expected a label")
        examples.append(Example(text=row[text_at], label=label, where=f"{path}:{lineno}"))
    if not examples:
        raise ValueError(f"{path}: the file has a header but no rows")
    return examples


_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)


def _csv_rows(reader: Any, path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """``(line the row starts on, fields)`` for each row of ``reader``; any field length is
    accepted (long documents are fine), and a ``csv.Error`` becomes a ValueError naming
    ``path:line`` with a hint."""
    previous_limit = csv.field_size_limit(_FIELD_SIZE_LIMIT)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as err:
        if "new-line character" in str(err):
            hint = ("the file ends lines with CR only (an old Mac or Excel export): save it "
                    "with LF or CRLF line endings")
        else:
            hint = ('a field that holds the delimiter, a quote or a line break must be quoted '
                    'as "...", with each quote inside doubled')
        raise ValueError(f"{path}:{start}: not valid CSV ({err}) in the row starting on this "
                         f"line; {hint}") from None
    finally:
        csv.field_size_limit(previous_limit)


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
            # an empty file is an example with no text, as an empty CSV text field is
            examples.append(Example(text=read_text(file, encoding, allow_empty=True).strip(),
                                    label=class_dir.name, where=str(file)))
    if not examples:
        raise ValueError(f"{root}: found no '{pattern}' files in sub-folders (one per class)")
    return examples


UNSUPPORTED_SUFFIXES = frozenset({
    ".json", ".jsonl", ".ndjson", ".parquet", ".feather", ".arrow", ".xlsx", ".xls", ".ods",
    ".pkl", ".pickle", ".npy", ".npz", ".h5", ".hdf5", ".gz", ".bz2", ".xz", ".zip", ".tar",
})
"""Suffixes of other formats, which ``format="auto"`` refuses instead of reading as lines."""

CONLL_SUFFIXES = frozenset({".conll", ".conllu", ".conllx", ".iob", ".bio", ".bioes"})
"""Suffixes of token-level tag files, which ``format="auto"`` refuses (pointing to the tagger)
instead of reading their ``token<TAB>tag`` lines as ``<label> <text>`` ones."""


def resolve_format(path: str | Path, format: Format = "auto") -> Format:
    """The format ``read_examples`` reads ``path`` in: ``format`` itself, or for ``"auto"``
    ``folders`` for a folder, ``csv`` / ``tsv`` by suffix and ``lines`` otherwise; a suffix
    of another format (``.json``, ``.jsonl``, ``.parquet``, ``.xlsx``, ``.gz``, ...; see
    ``UNSUPPORTED_SUFFIXES``) is a ValueError listing the supported formats."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format != "auto":
        return format
    path = Path(path)
    if path.is_dir():
        return "folders"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return suffix[1:]  # type: ignore[return-value]
    if suffix in CONLL_SUFFIXES:
        raise ValueError(
            f"{path}: a {suffix} file holds a tag per token (sequence tagging), not a label per "
            "text: read it with lstmkit.tagging.read_conll (`lstmkit tag`); a file of "
            "'<label> <text>' lines of that name is read with format='lines' (--format lines)")
    if suffix in UNSUPPORTED_SUFFIXES:
        raise ValueError(
            f"{path}: {suffix} files cannot be read; supported: a folder (one sub-folder per "
            "class), .csv, .tsv, or '<label> <text>' lines (any other name; format='lines', "
            "--format lines, reads a file of such lines whatever its name)"
        )
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
    the suffix of another format (``.json``, ``.parquet``, ...) -> ValueError; anything else
    -> ``lines``. ``text_column`` and ``label_column`` (None: no labels) are CSV/TSV
    columns; other than their defaults with a folder or a lines file, which have none, they
    are an error.
    """
    path = Path(path)
    format = resolve_format(path, format)
    given = [f"{name}={value!r}" for name, value, default in
             (("text_column", text_column, "text"), ("label_column", label_column, "label"))
             if value != default]
    if given and format not in ("csv", "tsv"):
        raise ValueError(f"{' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to "
                         f"the columns of a CSV/TSV file, but "
                         f"{str(path)!r} is read as {format!r}, which has none (each example "
                         "has a label: a folder's name, a line's first word); drop "
                         f"{'them' if len(given) > 1 else 'it'} or "
                         "pass a .csv/.tsv file (or format='csv'/'tsv')")
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
