"""Line splitting, output-path checks and vectors-file errors."""

from __future__ import annotations

import os

import pytest

from lstmkit.saving import check_outside_model
from lstmkit.text import load_text_vectors, read_lines
from lstmkit.text.io import check_not_an_input, check_output_path, split_lines


def test_split_lines_ends_lines_at_newlines_only() -> None:
    separators = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"
    assert split_lines(f"a{separators}b\r\n\nc\n") == [f"a{separators}b", "", "c"]
    assert split_lines("no final newline") == ["no final newline"]
    assert split_lines("") == []
    assert split_lines("\n") == [""]


def test_read_lines_keeps_unicode_separators_inside_lines(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("one\u2028two\r\nthree\n".encode())
    assert read_lines(path) == ["one\u2028two", "three"]


def test_check_output_path_names_the_flag(tmp_path) -> None:
    a_file = tmp_path / "f.txt"
    a_file.write_text("x", encoding="utf-8")
    assert check_output_path(tmp_path / "new" / "dir", "--out", directory=True).name == "dir"
    assert check_output_path(a_file, "--output", directory=False) == a_file
    with pytest.raises(ValueError, match=r"--out must be a directory to write into, got "
                                         r"'.*f\.txt', an existing file"):
        check_output_path(a_file, "--out", directory=True)
    with pytest.raises(ValueError, match=r"--output must be a file to write, got '.*', an "
                                         r"existing directory"):
        check_output_path(tmp_path, "--output", directory=False)
    with pytest.raises(ValueError, match=r"--output cannot be created: '.*f\.txt/x/p\.tsv' lies "
                                         r"under '.*f\.txt', which is a file"):
        check_output_path(a_file / "x" / "p.tsv", "--output", directory=False)


def test_a_file_output_that_names_a_folder_is_refused(tmp_path) -> None:
    # Path() drops the trailing separator: 'new/sub/' was written as a file named 'sub'
    a_file = tmp_path / "f.txt"
    a_file.write_text("x", encoding="utf-8")
    for given in (f"{tmp_path}/new/sub/", f"{tmp_path}/new/.", f"{a_file}/"):
        with pytest.raises(ValueError, match=rf"^--output must be a file to write, got "
                                             rf"'{given}', which names a folder: give the "
                                             rf"path of the file to write in it, e\.g\. "
                                             rf"'.*predictions\.tsv'$"):
            check_output_path(given, "--output", directory=False)
    assert not (tmp_path / "new").exists()
    # a folder to write into may end with one
    assert check_output_path(f"{tmp_path}/new/", "--out", directory=True).name == "new"


def test_an_output_that_is_an_input_is_refused(tmp_path) -> None:
    data = tmp_path / "d.txt"
    data.write_text("a text\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(data)
    os.link(data, tmp_path / "hard.txt")
    spellings = [str(data), f"{tmp_path}/./d.txt", f"{tmp_path}/x/../d.txt",
                 str(tmp_path / "link.txt"), str(tmp_path / "hard.txt")]
    for output in spellings:
        with pytest.raises(ValueError, match=rf"^--output '{output}' is the file --input reads "
                                             rf"\('{data}'\): writing it would replace the "
                                             r"input; give another file to write$"):
            check_not_an_input(output, "--output", {"--input": str(data)})
    # stdin, no input, another file (also one not written yet)
    check_not_an_input(data, "--output", {"--input": "-", "--future": None})
    check_not_an_input(tmp_path / "p.tsv", "--output", {"--input": str(data)})
    assert data.read_text(encoding="utf-8") == "a text\n"
    # no regular file: written to, not replaced (--input /dev/stdin --output /dev/stdout on a
    # terminal name one device, as a FIFO read and written, or /dev/null, do)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "fifo-link").symlink_to(tmp_path / "fifo")
    check_not_an_input(tmp_path / "fifo", "--output", {"--input": str(tmp_path / "fifo-link")})
    check_not_an_input("/dev/null", "--output", {"--input": "/dev/null"})


def test_an_output_inside_a_model_folder_is_refused(tmp_path) -> None:
    model = tmp_path / "clf"
    model.mkdir()
    (tmp_path / "alias").symlink_to(model)
    for output, where in [(model / "meta.json", "inside the model folder"),
                          (tmp_path / "alias" / "new" / "p.tsv", "inside the model folder"),
                          (model, "the model folder")]:
        with pytest.raises(ValueError, match=rf"^--output '{output}' is {where} '{model}', "
                                             r"which holds the saved model's files \(and which "
                                             r"a new save of the model rewrites\): write the "
                                             r"predictions elsewhere$"):
            check_outside_model(output, model, "--output", "the predictions")
    # beside it, or the folder that holds it (a run's folder), is no part of it
    check_outside_model(tmp_path / "clf.tsv", model, "--output")
    check_outside_model(tmp_path, model, "--out")


def test_vectors_file_errors_name_file_line_and_field(tmp_path) -> None:
    bad = tmp_path / "vec.txt"
    bad.write_text("2 3\nthe 0.1 0.2 0.3\nof 0.1 x 0.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vec\.txt:3: number 2 after the word 'of' must be a "
                                         r"float, got 'x'; expected 'word v1 \.\.\. vE'"):
        load_text_vectors(bad)
    bad.write_text("the  0.1 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vec\.txt:1: number 1 after the word 'the' must be a "
                                         r"float, got '' \(two spaces in a row\?\)"):
        load_text_vectors(bad)


def test_split_lines_drops_a_byte_order_mark_at_a_line_start(tmp_path) -> None:
    from lstmkit.classification import read_examples

    path = tmp_path / "concat.txt"  # two files saved with a BOM, concatenated
    path.write_bytes(b"\xef\xbb\xbf1 a great film\n0 awful\n\xef\xbb\xbf1 wonderful\n0 boring\n")
    assert [e.label for e in read_examples(path)] == ["1", "0", "1", "0"]
    assert split_lines("a\n\ufeffb\r\n") == ["a", "b"]


def test_stdin_is_decoded_like_a_file(monkeypatch) -> None:
    import io
    import sys

    from lstmkit.text.io import read_raw_texts

    def stdin(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))

    stdin(b"\xef\xbb\xbfgood film\nbad\n")
    assert read_raw_texts("-") == ["good film", "bad"]
    stdin(b"caf\xe9 cr\xe8me\n")
    assert read_raw_texts(None, encoding="latin-1") == ["café crème"]
    stdin(b"caf\xe9\n")
    with pytest.raises(ValueError, match=r"stdin: cannot decode byte b'\\xe9' at offset 3 as "
                                         r"utf-8; .*--encoding"):
        read_raw_texts("-")
    # blank lines are texts, each predicted (output line i is input line i); no line at all
    # is an error
    stdin(b" \n\n")
    assert read_raw_texts("-") == [" ", ""]
    stdin(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match=r"stdin is empty \(expected at least one line"):
        read_raw_texts("-")


def test_a_text_stdin_without_bytes_underneath_is_read_too(monkeypatch) -> None:
    # io.StringIO, as tests and some notebooks set it, has no .buffer: its text is decoded
    import io
    import sys

    from lstmkit.text.io import read_raw_texts

    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeffgood film\r\nbad\n"))
    assert read_raw_texts("-") == ["good film", "bad"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert read_raw_texts("-") == [""]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(ValueError, match=r"stdin is empty \(expected at least one line of "
                                         r"text\)"):
        read_raw_texts("-")


def test_a_pipe_is_read_and_a_utf16_file_is_named_so(tmp_path) -> None:
    # a pipe (`<(head file)`, /dev/stdin) is no regular file: it was "no such file"
    import os
    import threading

    from lstmkit.text.io import read_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"pos good\nneg bad\n"),
                              daemon=True)  # (blocked for good where the pipe is not read)
    writer.start()
    assert read_text(fifo) == "pos good\nneg bad\n"
    writer.join()
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_text(tmp_path / "absent.txt")
    # Excel's "Unicode text": the hint said latin-1, which read it as mojibake
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes("text,label\ngood,pos\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"u.csv: cannot decode it as utf-8: it starts with a "
                                         r"UTF-16 byte order mark, so it is in UTF-16: pass "
                                         r"encoding='utf-16' \(on the command line --encoding "
                                         r"utf-16\)"):
        read_text(utf16)
    assert read_text(utf16, "utf-16") == "text,label\ngood,pos\n"
    utf32 = tmp_path / "w.csv"  # (its mark starts as UTF-16's does)
    utf32.write_bytes("text\n".encode("utf-32"))
    with pytest.raises(ValueError, match=r"w.csv: cannot decode byte .* e\.g\. 'latin-1'"):
        read_text(utf32)


def test_a_config_file_without_settings_gives_none(tmp_path) -> None:
    # (it was "the file is empty (expected at least one example)", a data file's message)
    from lstmkit.text.io import read_config_file

    sections = ("data", "model", "training")
    for text in ("", "# comments only\n", "\n  \n"):
        path = tmp_path / "c.yaml"
        path.write_text(text, encoding="utf-8")
        assert read_config_file(path, sections) == {"data": {}, "model": {}, "training": {}}
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.yaml: expected a mapping of sections "
                                         r"\['data', 'model', 'training'\], got list"):
        read_config_file(path, sections)
