"""CoNLL reading and writing, including the bad inputs users meet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lstmkit.tagging import read_conll, write_conll


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_tab_separated_with_whitespace_only_breaks(tmp_path) -> None:
    path = _write(tmp_path / "w.conll",
                  "@paul\tO\nEmpire\tB-location\nState\tI-location\n\t\n"
                  "From\tO\nGreen\tB-person\n   \nlast\tO\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["@paul", "Empire", "State"], ["From", "Green"],
                                             ["last"]]
    assert sentences[0].tags == ["O", "B-location", "I-location"]
    assert sentences[1].line == 5 and sentences[1].source == str(path)


def test_lines_end_at_newlines_only_not_at_unicode_separators(tmp_path) -> None:
    path = tmp_path / "u.conll"
    path.write_bytes("a\u2028b\tO\r\nc\x0cd\tB-X\r\ne\x1ef\u0085\tI-X\r\n\r\ng\tO\r\n".encode())
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["a\u2028b", "c\x0cd", "e\x1ef\u0085"], ["g"]]
    assert sentences[0].tags == ["O", "B-X", "I-X"] and sentences[1].line == 5


def test_conll2003_four_columns_iob1_docstart_and_conversion(tmp_path) -> None:
    path = _write(tmp_path / "c.txt",
                  "-DOCSTART- -X- -X- O\n\n"
                  "EU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n\n"
                  "-DOCSTART- -X- -X- O\n"
                  "Peter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n")
    sentences = read_conll(path, tag_column=3, scheme="IOB1")
    assert len(sentences) == 2
    assert sentences[0].tags == ["I-ORG", "O", "I-MISC"]
    assert sentences[0].columns[1] == ["rejects", "VBZ", "B-VP", "O"]
    bioes = read_conll(path, tag_column=-1, scheme="IOB1", target_scheme="BIOES")
    assert bioes[0].tags == ["S-ORG", "O", "S-MISC"] and bioes[1].tags == ["B-PER", "E-PER"]
    pos = read_conll(path, tag_column=None)
    assert pos[0].tags is None


def test_write_then_read_round_trip_in_another_scheme(tmp_path) -> None:
    path = _write(tmp_path / "a.conll", "A B-X\nb I-X\nc O\nD B-Y\n")
    sentences = read_conll(path, target_scheme="BIOES")
    out = tmp_path / "out.conll"
    write_conll(out, sentences, [["S-X", "O", "O", "S-Y"]], tags_scheme="BIOES",
                output_scheme="IOB2")
    assert out.read_text().splitlines() == ["A\tB-X\tB-X", "b\tI-X\tO", "c\tO\tO", "D\tB-Y\tB-Y",
                                            ""]
    again = read_conll(out, tag_column=1)
    assert again[0].tags == ["B-X", "I-X", "O", "B-Y"]
    with pytest.raises(ValueError, match=r"predictions\[0\] must have one tag per token"):
        write_conll(out, sentences, [["O"]])
    # a token with a tab would write a file of the wrong column count
    from lstmkit.tagging import Sentence

    with pytest.raises(ValueError, match=r"^sentences\[1\] token 0 'a\\tb' holds a tab or a "
                                         r"line break"):
        write_conll(out, [*sentences, Sentence(["a\tb"], ["O"])])
    # tags fewer than the tokens failed in zip: "argument 2 is shorter than argument 1"
    with pytest.raises(ValueError, match=r"^sentences\[1\] has 2 tokens and 1 tags; a "
                                         r"sentence has one tag per token"):
        write_conll(out, [*sentences, Sentence(["a", "b"], ["O"])])
    # the arguments swapped said "'str' object has no attribute 'tokens'"
    with pytest.raises(TypeError, match=r"^path must be a str or Path \(the first argument: "
                                        r"write_conll\(path, sentences\)\), got list"):
        write_conll(sentences, out)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^sentences must be a sequence of Sentence, got list"):
        write_conll(out, [["A", "b"]])  # type: ignore[list-item]
    write_conll(out, (s for s in sentences))  # a generator: checked, then written
    assert read_conll(out)[0].tokens == ["A", "b", "c", "D"]
    with pytest.raises(TypeError, match=r"got Sentence \(one Sentence: pass \[sentence\]\)"):
        write_conll(out, sentences[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^predictions must hold one tag sequence per "
                                         r"sentence, 1, got 2"):
        write_conll(out, sentences, [["O"] * 4, ["O"]])
    with pytest.raises(TypeError, match=r"got a str \(the schemes are keywords"):
        write_conll(out, sentences, "IOB2")  # type: ignore[arg-type]

    class Where:  # any os.PathLike, as pytest's tmpdir
        def __fspath__(self) -> str:
            return str(out)

    write_conll(Where(), sentences)  # type: ignore[arg-type]
    assert read_conll(out)[0].tokens == ["A", "b", "c", "D"]


def test_wrong_column_count_names_file_and_line(tmp_path) -> None:
    path = _write(tmp_path / "bad.conll", "a\tO\nb\tO\n\nc\tB-X\textra\n")
    with pytest.raises(ValueError, match=r"bad\.conll:4: expected 2 columns \(as on line 1\), "
                                         r"got 3"):
        read_conll(path)


def test_invalid_tag_sequence_names_file_line_and_scheme(tmp_path) -> None:
    path = _write(tmp_path / "t.conll", "a O\n\nb O\nc I-X\n")
    with pytest.raises(ValueError, match=r"t\.conll:3: tag sequence invalid for scheme IOB2 at "
                                         r"token 2: 'I-X'"):
        read_conll(path, scheme="IOB2")
    assert read_conll(path, scheme="IOB1")[1].tags == ["O", "I-X"]  # fine in IOB1


def test_empty_file_and_docstart_only_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="the file is empty"):
        read_conll(_write(tmp_path / "e.conll", "\n\t\n"))
    with pytest.raises(ValueError, match="no sentences found"):
        read_conll(_write(tmp_path / "d.conll", "-DOCSTART- O\n\n"))


def test_non_utf8_input_says_which_encoding_and_how_to_choose(tmp_path) -> None:
    path = tmp_path / "l.conll"
    path.write_bytes("Z\xfcrich B-LOC\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"as utf-8; .*encoding="):
        read_conll(path)
    assert read_conll(path, encoding="latin-1")[0].tokens == ["Zürich"]


def test_single_column_and_bad_tag_column(tmp_path) -> None:
    path = _write(tmp_path / "one.conll", "word\n")
    with pytest.raises(ValueError, match=r"expected a token and a tag column, got 1 column "
                                         r"\('word'\): labelled CoNLL has a token and its tag a "
                                         r"line, .* \(`lstmkit tag predict`\)$"):
        read_conll(path)
    assert read_conll(path, tag_column=None)[0].tokens == ["word"]
    with pytest.raises(ValueError, match=r"tag_column \(--tag-column\) must index one of the 2 "
                                         r"columns, got 5"):
        read_conll(_write(tmp_path / "two.conll", "a O\n"), tag_column=5)


def test_token_column_that_is_the_tag_column_is_an_error(tmp_path) -> None:
    path = _write(tmp_path / "two.conll", "Paris B-LOC\nis O\n")
    # -1 is the last column: with two columns, the same as 1
    with pytest.raises(ValueError, match=r"two\.conll:1: token_column=1 \(--token-column\) and "
                                         r"tag_column=-1 \(--tag-column\) name the same column "
                                         r"\(index 1 of the 2\)"):
        read_conll(path, token_column=1)
    with pytest.raises(ValueError, match=r"token_column=-2 .* tag_column=0 .*\(index 0 of"):
        read_conll(path, token_column=-2, tag_column=0)
    assert read_conll(path, token_column=1, tag_column=None)[0].tokens == ["B-LOC", "O"]


def _wnut_dir() -> Path | None:
    from lstmkit.datasets import data_dir

    try:
        folder = data_dir() / "ner" / "wnut17"
    except FileNotFoundError:
        return None
    return folder if folder.is_dir() else None


@pytest.mark.skipif(_wnut_dir() is None, reason="WNUT-17 data folder not found "
                    "(set LSTMKIT_DATA_DIR)")
def test_real_wnut17_counts() -> None:
    folder = _wnut_dir()
    assert folder is not None
    counts = {name: read_conll(folder / name) for name in
              ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated")}
    assert [len(v) for v in counts.values()] == [3394, 1009, 1287]
    assert [sum(len(s.tokens) for s in v) for v in counts.values()] == [62730, 15733, 23394]


def test_empty_token_rows_are_an_error_or_skipped(tmp_path) -> None:
    # the Broad Twitter Corpus has rows like "\tO" and " \tO": a token that is empty
    path = _write(tmp_path / "btc.conll", "Hi\tO\n\tO\nBob\tB-PER\n \tO\n\nok\tO\n")
    with pytest.raises(ValueError, match=r"btc\.conll:2: expected 2 columns \(as on line 1\), "
                                         r"got 1: '\\tO'; the token is empty: pass "
                                         r"empty_tokens='skip'"):
        read_conll(path)
    sentences = read_conll(path, empty_tokens="skip")
    assert [s.tokens for s in sentences] == [["Hi", "Bob"], ["ok"]]
    assert sentences[0].tags == ["O", "B-PER"]
    # a row with a real token but a missing tag is still an error, and says nothing of tokens
    missing = _write(tmp_path / "m.conll", "Hi\tO\nBob\n")
    with pytest.raises(ValueError, match=r"m\.conll:2: expected 2 columns .*got 1: 'Bob'$"):
        read_conll(missing, empty_tokens="skip")
    with pytest.raises(ValueError, match=r"empty_tokens \(--empty-tokens\) must be 'error' or "
                                         r"'skip', got 'drop'"):
        read_conll(path, empty_tokens="drop")  # type: ignore[arg-type]
    # an empty token on the first row, before the columns are counted
    first = _write(tmp_path / "first.conll", "\tO\nJohn\tB-PER\n\nMary\tB-PER\n")
    assert [s.tokens for s in read_conll(first, empty_tokens="skip")] == [["John"], ["Mary"]]


def test_a_tab_separated_file_keeps_spaces_inside_tokens(tmp_path: Path) -> None:
    # the Broad Twitter Corpus's section h has a token "ke s"
    path = _write(tmp_path / "h.conll", "-DOCSTART- O\n\nok\tO\nke s\tO\nBob\tB-PER\n")
    sentences = read_conll(path)
    assert sentences[0].tokens == ["ok", "ke s", "Bob"]
    assert sentences[0].tags == ["O", "O", "B-PER"]
    # rows without a tab split on spaces, as CoNLL-2003's, in a file of their own or not
    spaced = _write(tmp_path / "s.conll", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(spaced)[0].tags == ["B-ORG", "O"]
    mixed = _write(tmp_path / "m.conll", "EU\tB-ORG\nrejects O\n\n")
    assert read_conll(mixed)[0].tokens == ["EU", "rejects"]
    # an indented row is no empty token
    indented = _write(tmp_path / "i.conll", "  EU B-ORG\n  rejects O\n\n")
    assert read_conll(indented, empty_tokens="skip")[0].tokens == ["EU", "rejects"]


def test_bilou_file_is_read_as_bioes_and_written_back(tmp_path: Path) -> None:
    path = tmp_path / "bilou.conll"
    path.write_text("Barack\tB-PER\nObama\tL-PER\nvisited\tO\nParis\tU-LOC\n\n"
                    "Angela\tB-PER\nDorothea\tI-PER\nMerkel\tL-PER\n", encoding="utf-8")
    sentences = read_conll(path, scheme="BILOU")
    assert sentences[0].tags == ["B-PER", "E-PER", "O", "S-LOC"]
    assert read_conll(path, scheme="bilou", target_scheme="IOB2")[1].tags == [
        "B-PER", "I-PER", "I-PER"]
    write_conll(tmp_path / "out.conll", sentences, tags_scheme="BIOES", output_scheme="BILOU")
    assert (tmp_path / "out.conll").read_text(encoding="utf-8") == path.read_text(
        encoding="utf-8") + "\n"
    with pytest.raises(ValueError, match=r"bilou.conll:2: .*got 'L-PER'; L- and U- are "
                                         r"BILOU's prefixes: read a BILOU file with "
                                         r"scheme='BILOU'"):
        read_conll(path, scheme="BIOES")


def test_conll_file_with_cr_only_line_endings_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mac.conll"
    path.write_bytes(b"Paris\tB-LOC\ris\tO\r")
    with pytest.raises(ValueError, match=r"mac.conll: lines end with CR only"):
        read_conll(path)


def test_a_comment_line_is_named_in_the_errors_it_causes(tmp_path) -> None:
    # CoNLL-U style comments are not skipped: the error says the line starts with '#'
    conllu = _write(tmp_path / "u.conll", "# sent_id = 1\nAlice B-PER x\nran O x\n")
    with pytest.raises(ValueError, match=r"u\.conll:2: expected 4 columns \(as on line 1\), "
                                         r"got 3: 'Alice B-PER x'; line 1 starts with '#': if it "
                                         r"is a comment"):
        read_conll(conllu)
    later = _write(tmp_path / "l.conll", "Alice B-PER\n\n# newdoc id = 2\n")
    with pytest.raises(ValueError, match=r"l\.conll:3: expected 2 columns .*; line 3 starts "
                                         r"with '#'"):
        read_conll(later)
    two = _write(tmp_path / "t.conll", "# newdoc\nAlice B-PER\n")
    with pytest.raises(ValueError, match=r"t\.conll:1: tag must be .*got 'newdoc'; line 1 "
                                         r"starts with '#': if it is a comment"):
        read_conll(two)
    plain = _write(tmp_path / "p.conll", "Alice B-PER x\nran O\n")
    with pytest.raises(ValueError, match=r"got 2: 'ran O'$"):  # no note without a '#'
        read_conll(plain)


def test_sentences_know_the_line_of_each_token(tmp_path) -> None:
    path = _write(tmp_path / "s.conll", "-DOCSTART- O\n\nAlice B-PER\n\tO\nran O\n")
    sentence = read_conll(path, empty_tokens="skip")[0]
    assert (sentence.line, sentence.lines) == (3, [3, 5])  # the empty token's row skipped


@pytest.mark.parametrize("bad", ["0", "b-per", "B_PER", "PER", "PER-B", "B-"])
def test_a_tag_that_is_none_is_named_at_its_own_line(tmp_path, bad: str) -> None:
    # (it was named at the sentence's first line, nine lines above)
    path = _write(tmp_path / "bad.conll", "a\tO\n" * 8 + f"John\tB-PER\nin\t{bad}\nx\tO\n\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:10: tag must be 'O' or "
                                         rf"'<B\|I\|E\|S>-<type>', got {re.escape(repr(bad))}$"):
        read_conll(path)
    # a comment read as the sentence's first token row: said, as for the other tag errors
    commented = _write(tmp_path / "c.conll", "# O\nJohn\tB-PER\nin\tB_LOC\n\n")
    with pytest.raises(ValueError, match=r"c.conll:3: tag must be .*got 'B_LOC'; line 1 "
                                         r"starts with '#'"):
        read_conll(commented)
    bilou = _write(tmp_path / "bilou.conll", "John\tU-PER\nin\tO\nx\tX-PER\n\n")
    with pytest.raises(ValueError, match=r"bilou.conll:3: tag must be .*got 'X-PER'$"):
        read_conll(bilou, scheme="BILOU")
