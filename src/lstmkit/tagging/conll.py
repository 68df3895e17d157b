"""CoNLL column files: read any token and tag column, write predictions back.

Sentences are separated by blank or whitespace-only lines (WNUT-17's training file separates
2,394 sentences with a lone TAB); ``-DOCSTART-`` lines start a document and are skipped.
Columns are split on TABs and spaces (not on other Unicode whitespace, which tweets contain
inside tokens). Every token line must have the column count of the file's first token line;
a line that does not is an error naming the file and line. Lines starting with ``#`` are token
rows too (a token may be ``#``), not comments: an error they cause says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lstmkit.tagging.schemes import (
    Scheme,
    check_scheme,
    convert,
    encode_tags,
    from_bilou,
    is_bilou,
    split_tag,
)
from lstmkit.text.io import check_line_endings, read_text, split_lines

_COLUMNS = re.compile(r"[\t ]+")  # columns apart by spaces or tabs
# in a row that holds a tab, tabs (with any spaces beside them) part the columns: a token may
# hold a space
_TAB_COLUMNS = re.compile(r" *\t[\t ]*")
DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    """Tokens, their tags (None for unlabelled data), every column, and where they came from:
    the file, the line the sentence starts on and the line of each token."""

    tokens: list[str]
    tags: list[str] | None
    columns: list[list[str]] = field(default_factory=list, repr=False)
    source: str = ""
    line: int = 0
    lines: list[int] = field(default_factory=list, repr=False, compare=False)


FLAGS = {"token_column": "--token-column", "tag_column": "--tag-column",
         "scheme": "--scheme", "empty_tokens": "--empty-tokens"}
"""The command-line flag of each of :func:`read_conll`'s arguments, named in its messages."""


def read_conll(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int | None = -1,
    scheme: Scheme = "IOB2",
    target_scheme: Scheme | None = None,
    encoding: str = "utf-8",
    empty_tokens: Literal["error", "skip"] = "error",
    flags: Mapping[str, str] = FLAGS,
) -> list[Sentence]:
    """Read a CoNLL file.

    Args:
        token_column: index of the token column.
        tag_column: index of the tag column (negative counts from the end; CoNLL-2003's NER
            tags are column 3 or -1), or None for unlabelled files.
        scheme: the scheme the file's tags are written in; every sentence is validated
            against it. ``"BILOU"`` reads ``L-``/``U-`` tags as BIOES's ``E-``/``S-``.
        target_scheme: convert tags to this scheme on reading (None keeps ``scheme``); tags
            are always held in BIOES letters, never BILOU's.
        encoding: the file's text encoding.
        empty_tokens: what to do with a row whose token is empty or only whitespace (a line
            that starts with the separator, e.g. ``"\tO"``; the Broad Twitter Corpus has a
            few): ``"error"`` (the default) or ``"skip"`` the row, keeping the sentence.
        flags: the command-line flag that messages name beside each argument (:data:`FLAGS`;
            ``lstmkit tag train`` names ``--auxiliary-scheme`` and the like for the
            auxiliary files that it reads with them).

    Raises:
        ValueError: empty file, wrong column count (file:line), invalid tag sequence
            (file:line of the sentence), undecodable bytes (names the encoding tried).
    """
    flags = {**FLAGS, **flags}
    if empty_tokens not in ("error", "skip"):
        raise ValueError(f"empty_tokens ({flags['empty_tokens']}) must be 'error' or 'skip', "
                         f"got {empty_tokens!r}")
    bilou = is_bilou(scheme)
    scheme = check_scheme(scheme, f"scheme ({flags['scheme']})")  # type: ignore[assignment]
    target = check_scheme(target_scheme, "target_scheme") if target_scheme else scheme
    text = check_line_endings(read_text(path, encoding), str(path))
    sentences: list[Sentence] = []
    rows: list[list[str]] = []
    row_lines: list[int] = []  # the line of each row
    first_line = 0
    n_columns: int | None = None
    columns_line = 0

    def flush() -> None:
        nonlocal rows, row_lines
        if not rows:
            return
        tokens = [row[token_column] for row in rows]
        tags = None
        where = f"{path}:{first_line}"
        if tag_column is not None:
            raw = [row[tag_column] for row in rows]
            readable = from_bilou(raw) if bilou else raw
            for tag, line in zip(readable, row_lines, strict=True):
                try:  # a tag that is none, named at its own line
                    split_tag(tag)
                except ValueError as err:
                    # (the hint for a comment on its line, or the sentence's first one)
                    hint = (_comment_hint(lines[line - 1], line)
                            or _comment_hint(lines[first_line - 1], first_line))
                    raise ValueError(f"{path}:{line}: {err}{hint}") from None
            try:
                tags = convert(readable, scheme, target, where=where)  # type: ignore[arg-type]
            except ValueError as err:
                hint = _comment_hint(lines[first_line - 1], first_line)
                if where in str(err):
                    if not hint:
                        raise
                    raise ValueError(f"{err}{hint}") from None
                raise ValueError(f"{where}: {err}{hint}") from None
        sentences.append(Sentence(tokens, tags, rows, str(path), first_line, row_lines))
        rows, row_lines = [], []

    lines = split_lines(text)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            flush()
            continue
        stripped = line.strip("\t \r\n")
        if stripped.split(maxsplit=1)[0] == DOCSTART:
            flush()
            continue
        indent = line[: len(line) - len(line.lstrip("\t "))]
        if n_columns is None and empty_tokens == "skip" and "\t" in indent:
            continue  # an empty token ("\tO") on the first row, before columns are counted
        cells = (_TAB_COLUMNS if "\t" in stripped else _COLUMNS).split(stripped)
        if n_columns is None:
            n_columns, columns_line = len(cells), lineno
            for arg, index in ((f"token_column ({flags['token_column']})", token_column),
                               (f"tag_column ({flags['tag_column']})", tag_column)):
                if index is not None and not -n_columns <= index < n_columns:
                    raise ValueError(
                        f"{path}:{lineno}: {arg} must index one of the {n_columns} columns, "
                        f"got {index}"
                    )
            if tag_column is not None and n_columns < 2:
                raise ValueError(
                    f"{path}:{lineno}: expected a token and a tag column, got 1 column "
                    f"({line!r}): labelled CoNLL has a token and its tag a line, separated "
                    "by a tab or spaces; text without tags is read with tag_column=None "
                    "(`lstmkit tag predict`)"
                )
            if tag_column is not None and token_column % n_columns == tag_column % n_columns:
                raise ValueError(
                    f"{path}:{lineno}: token_column={token_column} "
                    f"({flags['token_column']}) and tag_column={tag_column} "
                    f"({flags['tag_column']}) name the same column (index "
                    f"{token_column % n_columns} of the {n_columns}), so the tags would be read "
                    "as the words; pass two different columns"
                )
        elif len(cells) != n_columns:
            empty_token = len(cells) == n_columns - 1 and line[:1] in ("\t", " ")
            if empty_token and empty_tokens == "skip":
                continue
            raise ValueError(
                f"{path}:{lineno}: expected {n_columns} columns (as on line {columns_line}), "
                f"got {len(cells)}: {line!r}"
                + (f"; the token is empty: pass empty_tokens='skip' "
                   f"({flags['empty_tokens']} skip) to drop such rows" if empty_token else "")
                + (_comment_hint(lines[columns_line - 1], columns_line)
                   or _comment_hint(line, lineno))
            )
        if not rows:
            first_line = lineno
        rows.append(cells)
        row_lines.append(lineno)
    flush()
    if not sentences:
        raise ValueError(f"{path}: no sentences found (only blank or -DOCSTART- lines)")
    return sentences


def _comment_hint(line: str, lineno: int) -> str:
    """For an error about ``line`` (number ``lineno``): a note when it starts with ``#``, as a
    comment line of a CoNLL-U file does, which is read as a token row like any other."""
    if not line.lstrip("\t ").startswith("#"):
        return ""
    return (f"; line {lineno} starts with '#': if it is a comment (as CoNLL-U's "
            "'# sent_id = 1'), remove it: comment lines are read as token rows, not skipped")


def write_conll(
    path: str | Path,
    sentences: Sequence[Sentence],
    predictions: Sequence[Sequence[str]] | None = None,
    *,
    tags_scheme: Scheme = "IOB2",
    output_scheme: Scheme = "IOB2",
) -> None:
    """Write ``token [gold] [predicted]`` lines, TAB-separated, one blank line between
    sentences. Tags (in ``tags_scheme``) are re-encoded in ``output_scheme`` (``"BILOU"``
    writes BIOES with ``L-``/``U-`` for ``E-``/``S-``). A token holding a tab or a line break
    is a ValueError: the file would not read back."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or Path (the first argument: write_conll(path, "
                        f"sentences)), got {type(path).__name__}")
    if not isinstance(sentences, str | os.PathLike | Sentence):
        sentences = list(sentences)  # (checked, then written: a generator is read once)
    if isinstance(sentences, str | os.PathLike | Sentence) or not all(
            isinstance(s, Sentence) for s in sentences):
        raise TypeError(f"sentences must be a sequence of Sentence, got "
                        f"{type(sentences).__name__}" + (
                            " (write_conll takes the path first: write_conll(path, "
                            "sentences))" if isinstance(sentences, str | os.PathLike) else
                            " (one Sentence: pass [sentence])"
                            if isinstance(sentences, Sentence) else ""))
    if predictions is not None:
        if isinstance(predictions, str):
            raise TypeError("predictions must be one tag sequence per sentence, got a str "
                            "(the schemes are keywords: tags_scheme=, output_scheme=)")
        predictions = list(predictions)
        if len(predictions) != len(sentences):
            raise ValueError(f"predictions must hold one tag sequence per sentence, "
                             f"{len(sentences)}, got {len(predictions)}")
    lines: list[str] = []
    for n, sentence in enumerate(sentences):
        for j, token in enumerate(sentence.tokens):
            if any(c in token for c in "\t\n\r"):
                raise ValueError(f"sentences[{n}] token {j} {token!r} holds a tab or a line "
                                 "break, which a CoNLL file cannot hold (it separates columns "
                                 "and rows): replace them in the tokens first")
        gold = sentence.tags
        columns: list[Sequence[str]] = [sentence.tokens]
        if gold is not None and len(gold) != len(sentence.tokens):
            raise ValueError(f"sentences[{n}] has {len(sentence.tokens)} tokens and "
                             f"{len(gold)} tags; a sentence has one tag per token")
        if gold is not None:
            columns.append(encode_tags(gold, tags_scheme, output_scheme))
        if predictions is not None:
            pred = predictions[n]
            if len(pred) != len(sentence.tokens):
                raise ValueError(
                    f"predictions[{n}] must have one tag per token ({len(sentence.tokens)}), "
                    f"got {len(pred)}"
                )
            columns.append(encode_tags(pred, tags_scheme, output_scheme))
        for cells in zip(*columns, strict=True):
            lines.append("\t".join(cells))
        lines.append("")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
