"""Reading vectors files: bad numbers, encodings, gzip, repeated words, headers, casing."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from lstmkit.text.vectors import (
    WordVectors,
    embedding_matrix,
    load_text_vectors,
    load_vectors,
)
from lstmkit.text.vocab import Vocabulary


@pytest.mark.parametrize("field", ["nan", "inf", "-Infinity", "1e39"])
def test_vectors_file_rejects_non_finite_numbers(tmp_path, field) -> None:
    path = tmp_path / "nanvec.txt"
    path.write_text(f"the 0.1 0.2\nfilm {field} 0.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"nanvec.txt:2: number 1 after the word 'film' "
                                         rf"must .*got '{field}'"):
        load_text_vectors(path)


def test_vectors_file_with_a_byte_order_mark(tmp_path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_bytes(b"\xef\xbb\xbfthe 0.1 0.2\ngood 0.3 0.4\n")
    assert load_text_vectors(glove).words == ["the", "good"]
    w2v = tmp_path / "w2v.txt"
    w2v.write_bytes(b"\xef\xbb\xbf2 2\nthe 0.1 0.2\ngood 0.3 0.4\n")
    vectors = load_text_vectors(w2v)
    assert vectors.words == ["the", "good"] and vectors.dim == 2


def test_vectors_file_decode_error_names_line_and_encoding(tmp_path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"the 0.1 0.2\ncaf\xe9 0.3 0.4\n")
    # (a config's vectors setting has no encoding: the way there is to convert the file)
    with pytest.raises(ValueError, match=r"latin1.txt:2: cannot decode byte b'\\xe9' at column 4 "
                                         r"as utf-8; the file is in another encoding: convert "
                                         r"it to UTF-8 \(iconv .*\), which a model's vectors "
                                         r"setting \(--vectors\) reads, or pass "
                                         r"load_text_vectors its encoding="):
        load_vectors(str(path))
    assert load_text_vectors(path, encoding="latin-1").words == ["the", "café"]


def test_gzipped_vectors_file_is_read(tmp_path) -> None:
    path = tmp_path / "w2v.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("2 2\nthe 0.1 0.2\ngood 0.3 0.4\n")
    vectors = load_text_vectors(path)
    assert vectors.words == ["the", "good"]
    np.testing.assert_allclose(vectors.vectors[1], [0.3, 0.4])


def test_repeated_vector_word_keeps_its_first_row(tmp_path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("the 0.1 0.2\ngood 0.3 0.4\nthe 0.9 0.9\n", encoding="utf-8")
    vectors = load_text_vectors(path)
    assert vectors.words == ["the", "good"]
    np.testing.assert_allclose(vectors.vectors[vectors.index["the"]], [0.1, 0.2])
    repeated = WordVectors(["a", "a"], np.array([[1.0], [2.0]], dtype=np.float32), "x")
    assert repeated.index["a"] == 0


def test_word_vectors_built_in_python_are_checked() -> None:
    # a NaN row was taken, and made every loss of a model that looked the word up NaN
    rows = np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"vectors must hold finite numbers, got NaN or "
                                         r"infinite values in 2 rows, the first of them the "
                                         r"word 'b' \(row 1\)"):
        WordVectors(["a", "b", "c"], rows, "x")
    # a list of rows failed with "'list' object has no attribute 'ndim'"
    with pytest.raises(TypeError, match=r"vectors must be a numpy array or torch tensor of "
                                        r"real numbers \(N, E\), got list"):
        WordVectors(["a"], [[1.0]], "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"vectors must be a numpy array or torch tensor of "
                                        r"real numbers \(N, E\), got an array of <U1"):
        WordVectors(["a"], np.array([["1"]]), "x")
    with pytest.raises(TypeError, match=r"words\[1\] must be a str, got int 2"):
        WordVectors(["a", 2], np.ones((2, 1), dtype=np.float32), "x")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"words must be a sequence of str \(a list or tuple\), "
                                        r"got str"):
        WordVectors("ab", np.ones((2, 1), dtype=np.float32), "x")  # type: ignore[arg-type]


def test_word_vectors_take_a_tuple_of_words_and_a_tensor() -> None:
    # a tuple was refused ("words must be a list of str, got tuple"), and so was a tensor
    rows = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    vectors = WordVectors(("a", "b"), rows, "x")
    assert vectors.words == ["a", "b"] and vectors.index == {"a": 0, "b": 1}
    assert isinstance(vectors.vectors, np.ndarray) and vectors.vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors.vectors, [[1.0, 2.0], [3.0, 4.0]])
    assert vectors.dim == 2
    half = WordVectors(["a"], torch.ones((1, 3), dtype=torch.bfloat16), "x")
    assert half.vectors.dtype == np.float32 and half.dim == 3
    matrix, coverage = embedding_matrix(Vocabulary(["b"]), vectors)
    assert matrix[2].tolist() == [3.0, 4.0] and coverage == 1.0
    # the checks of an array hold for a tensor too
    with pytest.raises(ValueError, match=r"vectors must hold finite numbers, got NaN or "
                                         r"infinite values in 1 rows, the first of them the "
                                         r"word 'b' \(row 1\)"):
        WordVectors(("a", "b"), torch.tensor([[1.0], [float("nan")]]), "x")
    with pytest.raises(ValueError, match=r"vectors must have shape \(len\(words\), E\) = "
                                         r"\(2, E\), got \(2,\)"):
        WordVectors(("a", "b"), torch.ones(2), "x")
    # integers, as an integer array is taken; not bools nor complex numbers
    assert WordVectors(["a"], torch.ones((1, 1), dtype=torch.long), "x").vectors.tolist() == [
        [1.0]]
    for dtype in (torch.bool, torch.complex64):
        with pytest.raises(TypeError, match=r"vectors must be a numpy array or torch tensor of "
                                            rf"real numbers \(N, E\), got a tensor of {dtype}"):
            WordVectors(["a"], torch.ones((1, 1), dtype=dtype), "x")
    with pytest.raises(TypeError, match=r"words\[1\] must be a str, got int 2"):
        WordVectors(("a", 2), torch.ones((2, 1)), "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"words must be a sequence of str \(a list or "
                                        r"tuple\), got set"):
        WordVectors({"a"}, torch.ones((1, 1)), "x")  # type: ignore[arg-type]


def test_word2vec_header_must_agree_with_the_rows(tmp_path) -> None:
    path = tmp_path / "w2v.txt"
    path.write_text("2 3\nthe 0.1 0.2\ngood 0.3 0.4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"w2v.txt:2: the word2vec header \(line 1\) says 3 "
                                         r"numbers a word, but this row has 2"):
        load_text_vectors(path)


def test_capitalised_vector_words_serve_a_lowercasing_model() -> None:
    vectors = WordVectors(["Great", "great", "Film"],
                          np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=np.float32), "x")
    vocab = Vocabulary(["great", "film", "zzz"])
    matrix, coverage = embedding_matrix(vocab, vectors, lowercase=True)
    assert coverage == pytest.approx(2 / 3)
    assert matrix[vocab.index("great")].tolist() == [1.0, 1.0]  # the first of Great / great
    assert matrix[vocab.index("film")].tolist() == [3.0, 3.0]


def test_vectors_neither_built_in_nor_a_file_list_the_built_in_name(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"vectors must be 'glove-6b-50d' \(the built-in "
                                                r"vectors\) or the path of a word2vec/GloVe "
                                                r"text file, got 'glove-6b-100d': no such file"):
        load_vectors("glove-6b-100d")
    path = tmp_path / "v.txt"
    path.write_text("the 0.1 0.2\n", encoding="utf-8")
    assert load_vectors(str(path)).words == ["the"]
    # (pathlib's "expected str, bytes or os.PathLike object, not NoneType")
    with pytest.raises(TypeError, match=r"vectors must be 'glove-6b-50d' \(the built-in "
                                        r"vectors\) or the path of a word2vec/GloVe text file, "
                                        r"got NoneType None$"):
        load_vectors(None)  # type: ignore[arg-type]
