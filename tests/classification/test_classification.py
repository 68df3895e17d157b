"""Readers, metrics, the network and the Classifier end to end on tiny generated data."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit import yamlio
from lstmkit.classification import (
    Classifier,
    ClassifierConfig,
    Example,
    LSTMClassifier,
    confusion_matrix,
    macro_f1,
    read_examples,
    read_folders_format,
    read_raw_texts,
)
from lstmkit.classification.classifier import SAVED_FILES
from lstmkit.classification.metrics import accuracy, plot_confusion_matrix
from lstmkit.training import TrainConfig

FAST = TrainConfig(max_epochs=4, lr=0.03, progress_bar=False, seed=0)


def _toy(n: int, seed: int = 0) -> list[Example]:
    """Label 'pos' iff the text holds more 'good'-like than 'bad'-like words."""
    rng = random.Random(seed)
    fill = ["the", "film", "was", "a", "plot", "and", "it", "actors"]
    examples = []
    for _ in range(n):
        positive = rng.random() < 0.5
        cue = rng.choice(["good", "great", "fine"] if positive else ["bad", "awful", "dull"])
        words = [rng.choice(fill) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), cue)
        examples.append(Example(" ".join(words), "pos" if positive else "neg"))
    return examples


def test_read_lines_csv_tsv_and_folders(tmp_path) -> None:
    lines = tmp_path / "sst.txt"
    lines.write_text("1 a stirring , funny film\n\n0 dull\n", encoding="utf-8")
    assert read_examples(lines) == [Example("a stirring , funny film", "1"), Example("dull", "0")]
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('review,stars\n"good, really",5\nbad,1\n', encoding="utf-8")
    assert read_examples(csv_path, text_column="review", label_column="stars") == [
        Example("good, really", "5"), Example("bad", "1")]
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("text\tlabel\nok\tpos\n", encoding="utf-8")
    assert read_examples(tsv_path) == [Example("ok", "pos")]
    for label, text in (("neg", "awful"), ("pos", "great")):
        (tmp_path / "imdb" / label).mkdir(parents=True)
        (tmp_path / "imdb" / label / "1.txt").write_text(text + "\n", encoding="utf-8")
    assert read_examples(tmp_path / "imdb") == [Example("awful", "neg"), Example("great", "pos")]


def test_fit_build_and_evaluate_read_a_generator_once() -> None:
    # "object of type 'generator' has no len()"; predict already took one
    fast = TrainConfig(max_epochs=1, progress_bar=False, seed=0)
    by_list = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4), fast).fit(
        _toy(16), _toy(8, seed=1))
    by_generator = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4), fast).fit(
        (e for e in _toy(16)), (e for e in _toy(8, seed=1)))
    assert by_generator.evaluate(e for e in _toy(8, seed=2)).accuracy == \
        by_list.evaluate(_toy(8, seed=2)).accuracy
    np.testing.assert_array_equal(by_generator.predict_proba(["good film"]),
                                  by_list.predict_proba(["good film"]))
    assert Classifier(ClassifierConfig()).build(e for e in _toy(4)).labels is not None


def test_reader_errors(tmp_path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("review,stars\nx,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"text_column \(--text-column\) must name a column of "
                                         r"the header \['review', 'stars'\], got 'text'$"):
        read_examples(csv_path)
    # a spreadsheet's semicolons: the one-column header is the clue, now said
    csv_path.write_text("text;label\nx;1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"header \['text;label'\], got 'text'; the header is "
                                         r"one field holding ';': the file seems to be "
                                         r"delimited by ';', not ','"):
        read_examples(csv_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("1 fine\nlonely\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:2: expected '<label> <text>'"):
        read_examples(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="the file is empty"):
        read_examples(empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("1 tr\xe8s bien\n".encode("latin-1"))
    with pytest.raises(ValueError, match="as utf-8; the file is in another encoding"):
        read_examples(latin)
    assert read_examples(latin, encoding="latin-1")[0].text == "très bien"
    with pytest.raises(ValueError, match="format must be one of"):
        read_examples(latin, format="json")  # type: ignore[arg-type]


def test_columns_given_for_a_file_without_columns_are_an_error(tmp_path) -> None:
    # they were ignored: the lines were read as '<label> <text>' whatever the columns said
    lines = tmp_path / "reviews.txt"
    lines.write_text("1 a stirring , funny film\n0 dull\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"text_column='review' applies to the columns of a "
                                         r"CSV/TSV file, but '.*reviews\.txt' is read as "
                                         r"'lines', which has none \(each example has a label"):
        read_examples(lines, text_column="review")
    with pytest.raises(ValueError, match=r"label_column=None applies to"):
        read_examples(lines, label_column=None)
    (tmp_path / "imdb" / "pos").mkdir(parents=True)
    (tmp_path / "imdb" / "pos" / "1.txt").write_text("great\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"text_column='t' and label_column='l' .* 'folders'"):
        read_examples(tmp_path / "imdb", text_column="t", label_column="l")
    # the defaults, spelt out, are no error
    assert len(read_examples(lines, text_column="text", label_column="label")) == 2


def test_a_header_that_repeats_a_column_read_is_an_error(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,text,label\ntitle,body,pos\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.csv: the header \['text', 'text', 'label'\] names "
                                         r"column 'text' \(text_column, "
                                         r"--text-column\) 2 times"):
        read_examples(path)
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\tlabel\nok\tpos\tneg\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"names column 'label' \(label_column, "
                                         r"--label-column\) 2 times"):
        read_examples(tsv)
    # a repeated column that is not read is no ambiguity
    path.write_text("text,label,note,note\nok,pos,a,b\n", encoding="utf-8")
    assert read_examples(path) == [Example("ok", "pos")]
    with pytest.raises(ValueError, match=r"text_column \(--text-column\) and label_column "
                                         r"\(--label-column\) name the same column 'label'"):
        read_examples(path, text_column="label")


def test_read_raw_texts_from_stdin(monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"first text\n\nsecond\n")))
    assert read_raw_texts("-") == ["first text", "", "second"]


def test_raw_texts_keep_blank_lines_and_split_on_newlines_only(tmp_path) -> None:
    path = tmp_path / "raw.txt"
    path.write_bytes("one\r\n\r\n  \ntwo\u2028half\x0cpage\x1cend\u0085x\n".encode())
    # text i is line i: blank lines stay (as empty texts), U+2028 & co. do not end a line
    assert read_raw_texts(path) == ["one", "", "  ", "two\u2028half\x0cpage\x1cend\u0085x"]


def test_lines_reader_splits_on_newlines_only(tmp_path) -> None:
    path = tmp_path / "sst.txt"
    path.write_text("1 good\u2028film\r\n0 bad\x0bfilm\x1d!\n", encoding="utf-8")
    assert read_examples(path) == [Example("good\u2028film", "1"), Example("bad\x0bfilm\x1d!", "0")]


def test_a_tsv_file_read_as_lines_is_an_error(tmp_path) -> None:
    # text<TAB>label read as '<label> <text>' would take each text's first word as its label
    path = tmp_path / "swapped.txt"
    path.write_text("a good film\t1\nbad\t0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"swapped.txt: every line is 'text<TAB>label', as "
                                         r"a TSV file's lines are.*--format tsv"):
        read_examples(path)
    # a tab in some lines only is text, and a tab after the label separates it from the text
    path.write_text("1 a good\tfilm\n0 bad\n", encoding="utf-8")
    assert read_examples(path) == [Example("a good\tfilm", "1"), Example("bad", "0")]
    path.write_text("pos\tgreat movie\nneg\tawful film\n", encoding="utf-8")
    assert read_examples(path) == [Example("great movie", "pos"), Example("awful film", "neg")]


def test_folder_reader_skips_hidden_and_unsup_folders_or_reads_named_classes(tmp_path) -> None:
    root = tmp_path / "aclImdb" / "train"
    for folder, text in (("neg", "awful"), ("pos", "great"), ("unsup", "unlabelled"),
                         (".ipynb_checkpoints", "a notebook's copy")):
        (root / folder).mkdir(parents=True)
        (root / folder / "1_1.txt").write_text(text, encoding="utf-8")
    (root / "urls_pos.txt").write_text("http://x\n", encoding="utf-8")
    assert read_examples(root) == [Example("awful", "neg"), Example("great", "pos")]
    assert read_folders_format(root, classes=["pos", "neg"]) == [Example("great", "pos"),
                                                                 Example("awful", "neg")]
    with pytest.raises(FileNotFoundError, match=r"classes: no such folder: .*neutral"):
        read_folders_format(root, classes=["neg", "neutral"])
    (root / "empty").mkdir()
    with pytest.raises(ValueError, match=r"classes: folder .*empty holds no '\*\.txt' files"):
        read_folders_format(root, classes=["neg", "empty"])
    with pytest.raises(TypeError, match="classes must be a sequence of folder names, got the "
                                        "str 'pos'"):
        read_folders_format(root, classes="pos")
    # one empty review is an example with no text, as an empty CSV field is; it stopped the read
    (root / "pos" / "2_1.txt").write_text(" \n", encoding="utf-8")
    assert read_folders_format(root, classes=["pos"]) == [Example("great", "pos"),
                                                          Example("", "pos")]


def test_csv_rows_must_match_the_header_and_hold_a_label(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"two\nlines", pos \ngreat movie, really,1\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.csv:4: expected 2 fields as in the header "
                                         r"\['text', 'label'\], got 3: \['great movie', ' really', "
                                         r"'1'\]; quote a field that holds the delimiter ','"):
        read_examples(path)
    path.write_text("text,label\nonly a text\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.csv:2: expected 2 fields .*, got 1"):
        read_examples(path)
    path.write_text("text,label\nfine,pos\nok, \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.csv:3: label column 'label' is empty"):
        read_examples(path)
    path.write_text('text,label\n"two\nlines", pos \n\nbad,neg\n', encoding="utf-8")
    assert read_examples(path) == [Example("two\nlines", "pos"), Example("bad", "neg")]
    assert read_examples(path, label_column=None) == [Example("two\nlines"), Example("bad")]


def test_metrics_against_hand_computed_values(tmp_path) -> None:
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    matrix = confusion_matrix(y_true, y_pred, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert accuracy(matrix) == pytest.approx(4 / 6)
    # per-class F1: 0: p=1/2 r=1/2 -> 1/2; 1: p=2/3 r=1 -> 4/5; 2: p=1 r=1/2 -> 2/3
    assert macro_f1(matrix) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    png = plot_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("y_true", "y_pred", "error", "message"), [
    ([0, -1], [0, 1], ValueError, "y_true must hold class indices in [0, 2), got -1 at position 1"),
    ([0, 1], [0, 2], ValueError, "y_pred must hold class indices in [0, 2), got 2 at position 1"),
    ([0, 1.0], [0, 1], TypeError, "y_true must hold int class indices in [0, 2), got float 1.0 "
                                  "at position 1"),
    ([0, 1], [True, 1], TypeError, "y_pred must hold int class indices in [0, 2), got bool True "
                                   "at position 0"),
    (np.array([0.5, 1.0]), [0, 1], TypeError, "y_true must hold int class indices in [0, 2), "
                                              "got float64 0.5 at position 0"),
    ([torch.tensor(True), 1], [0, 1], TypeError, "y_true must hold int class indices in "
                                                 "[0, 2), got Tensor tensor(True) at position 0"),
    # (numpy's "setting an array element with a sequence ... inhomogeneous shape")
    ([torch.tensor([1]), 1], [0, 1], ValueError, "y_true must be a 1-d sequence of class "
                                                 "indices or a column (N, 1) of them, got "
                                                 "items of different shapes"),
])
def test_confusion_matrix_refuses_labels_out_of_range_or_not_int(y_true, y_pred, error,
                                                                  message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        confusion_matrix(y_true, y_pred, 2)
    assert confusion_matrix(np.array([0, 1]), [np.int64(1), 1], 2).tolist() == [[0, 1], [0, 1]]
    # each prediction's logits.argmax(): 0-d integer tensors (refused as no ints)
    assert confusion_matrix([torch.tensor(1), torch.tensor(0)], [torch.tensor(1), 1], 2
                            ).tolist() == [[0, 1], [0, 1]]


def test_confusion_matrix_reads_a_column_of_labels_as_scikit_learn_does() -> None:
    # (a column (N, 1) was refused; scikit-learn's metrics ravel it)
    expected = [[1, 0], [1, 1]]
    assert confusion_matrix(np.array([[0], [1], [1]]), [0, 0, 1], 2).tolist() == expected
    assert confusion_matrix([[0], [1], [1]], torch.tensor([[0], [0], [1]]), 2).tolist() == \
        expected
    assert confusion_matrix([np.array([0]), np.array([1]), np.array([1])], (0, 0, 1), 2
                            ).tolist() == expected
    with pytest.raises(TypeError, match=r"^y_true must hold int class indices in \[0, 2\), got "
                                        r"float64 0\.5 at position 0$"):
        confusion_matrix(np.array([[0.5], [1.0], [1.0]]), [0, 0, 1], 2)


@pytest.mark.parametrize(("y_true", "error", "message"), [
    (np.array([[0, 1, 1]]), ValueError, "y_true must be a 1-d sequence of class indices or a "
                                        "column (N, 1) of them, got shape (1, 3)"),
    (np.zeros((3, 2), dtype=int), ValueError, "y_true must be a 1-d sequence of class indices "
                                              "or a column (N, 1) of them, got shape (3, 2)"),
    ([[0], [0.5], [1]], TypeError, "y_true must hold int class indices in [0, 2), got float "
                                   "0.5 at position 1"),
    ([[0], [1], [True]], TypeError, "y_true must hold int class indices in [0, 2), got bool "
                                    "True at position 2"),
    ([[0], [1], [2]], ValueError, "y_true must hold class indices in [0, 2), got 2 at "
                                  "position 2"),
    ([[0], [1]], ValueError, "y_true and y_pred must have the same length, got 2 and 3"),
])
def test_confusion_matrix_names_what_is_wrong_in_a_column_or_row(y_true, error,
                                                                 message) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        confusion_matrix(y_true, [0, 1, 1], 2)


@pytest.mark.parametrize(("num_classes", "error", "message"), [
    (0, ValueError, "num_classes must be an int >= 1, got 0"),
    (2.0, TypeError, "num_classes must be an int >= 1, got float 2.0"),
    (True, TypeError, "num_classes must be an int >= 1, got bool True"),
])
def test_confusion_matrix_checks_num_classes(num_classes, error, message) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        confusion_matrix([0], [0], num_classes)


def test_matrix_metrics_refuse_labels_where_a_confusion_matrix_is_expected(tmp_path) -> None:
    # (a column of labels gave accuracy 2/3 here, and other functions numpy's errors)
    from lstmkit.classification.metrics import (
        classification_report,
        macro_f1,
        per_class_scores,
        present_classes,
    )

    for labels, shape in ((np.array([[0], [1], [1]]), "(3, 1)"), ([0, 1, 1], "(3,)")):
        message = ("matrix must be a (K, K) confusion matrix (as confusion_matrix returns it), "
                   f"got shape {shape}")
        for metric in (accuracy, per_class_scores, present_classes, macro_f1):
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                metric(labels)
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            classification_report(labels, ["a", "b", "c"])
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            plot_confusion_matrix(labels, ["a", "b", "c"], tmp_path / "cm.png")
    with pytest.raises(TypeError, match=r"^matrix must hold counts \(ints or floats\), got bool "
                                        r"values$"):
        accuracy(np.eye(2, dtype=bool))
    assert accuracy(np.eye(2) / 2) == 1.0  # (a normalised matrix: floats)


def test_report_and_plot_refuse_fewer_label_names_than_classes(tmp_path) -> None:
    from lstmkit.classification.metrics import classification_report

    matrix = confusion_matrix([0, 1, 2], [0, 1, 2], 3)
    message = "labels must name each of the 3 classes of the confusion matrix, got 2 labels"
    with pytest.raises(ValueError, match=message):
        classification_report(matrix, ["a", "b"])
    with pytest.raises(ValueError, match=message):
        plot_confusion_matrix(matrix, ["a", "b"], tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()
    # names that are no names: a column of them failed inside the table's formatting, and
    # one str was read as its letters
    for labels, message in [([["a"], ["b"], ["c"]], r"got list \['a'\] at position 0"),
                            (np.array([["a"], ["b"], ["c"]]), r"got ndarray .* at position 0"),
                            (["a", "b", None], r"got NoneType None at position 2"),
                            ("abc", r"^labels must be a sequence of names, one per class, got a "
                                    r"single str 'abc'$")]:
        with pytest.raises(TypeError, match=message):
            classification_report(matrix, labels)
        with pytest.raises(TypeError, match=message):
            plot_confusion_matrix(matrix, labels, tmp_path / "cm.png")
    # numbers are names too, numpy's as their values (range(K) worked before the check)
    for labels in (range(3), np.array([0, 1, 2]), ["0", np.int64(1), np.str_("2")]):
        assert classification_report(matrix, labels).splitlines()[1].startswith("0  ")
    with pytest.raises(ValueError, match=r"got 2 labels: \['0', '1'\]$"):
        classification_report(matrix, np.array([0, 1]))
    assert plot_confusion_matrix(matrix, range(3), tmp_path / "cm.png").is_file()


def test_confusion_plot_leaves_the_callers_matplotlib_backend_alone(tmp_path,
                                                                      pdf_backend) -> None:
    import matplotlib

    png = plot_confusion_matrix(np.array([[2, 1], [0, 3]]), ["a", "b"], tmp_path / "cm.png")
    assert matplotlib.get_backend() == "pdf"  # a notebook's inline plots keep working
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "attention"])
def test_network_ignores_padding(pooling: str) -> None:
    net = LSTMClassifier(20, 3, 8, pad_index=0, unk_index=1, hidden_size=6, pooling=pooling,
                         dropout=0.0).eval()
    tokens = torch.tensor([[5, 6, 7, 0, 0]])
    out_padded = net(tokens, torch.tensor([3]))
    out_plain = net(tokens[:, :3], torch.tensor([3]))
    assert out_padded.shape == (1, 3)
    assert torch.allclose(out_padded, out_plain, atol=1e-6)


def test_config_validation_messages() -> None:
    with pytest.raises(ValueError, match="pooling must be one of"):
        ClassifierConfig(pooling="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\), got 1.5"):
        ClassifierConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"unknown model config key\(s\) \['hiden_size'\]"):
        ClassifierConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ValueError, match="vectors_vocab=5 needs vectors, got None"):
        ClassifierConfig(vectors_vocab=5)


def test_classifier_learns_saves_loads_and_predicts(tmp_path) -> None:
    config = ClassifierConfig(hidden_size=16, embedding_dim=16, batch_size=16, dropout=0.1,
                              embedding_dropout=0.0, lstm={"forget_bias": 1.0})
    clf = Classifier(config, FAST).fit(_toy(160), _toy(40, seed=1))
    assert clf.history and "val_accuracy" in clf.history[-1]
    evaluation = clf.evaluate(_toy(100, seed=2))
    assert evaluation.accuracy > 0.9  # chance is 0.5
    assert evaluation.confusion.sum() == 100
    assert evaluation.labels == ["neg", "pos"]
    evaluation.plot_confusion(tmp_path / "cm.png")
    evaluation.write_predictions(tmp_path / "pred.tsv")
    header = (tmp_path / "pred.tsv").read_text().splitlines()[0]
    assert header == "gold\tpredicted\tp_neg\tp_pos\ttext"

    clf.save(tmp_path / "model")
    # what predict --output must not replace (classifier.SAVED_FILES) is what a save writes
    assert {p.name for p in (tmp_path / "model").iterdir()} <= set(SAVED_FILES)
    loaded = Classifier.load(tmp_path / "model")
    texts = ["a great film", "awful plot", "never seen words here"]
    assert np.allclose(clf.predict_proba(texts), loaded.predict_proba(texts), atol=1e-6)
    predictions = loaded.predict(texts)
    assert predictions[0].label == "pos" and predictions[1].label == "neg"
    assert sum(predictions[0].probabilities.values()) == pytest.approx(1.0)
    # longer than any training text (<= 9 tokens): documented to work, the LSTM runs on
    long_text = " ".join(["the film"] * 200 + ["great"])
    assert loaded.predict([long_text])[0].label in ("pos", "neg")
    with pytest.raises(TypeError, match=r"texts must be a sequence of str \(a list\), got a "
                                        r"single str"):
        loaded.predict("great")  # type: ignore[arg-type]


def test_unknown_label_in_test_set_is_an_error() -> None:
    clf = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))
    with pytest.raises(ValueError, match="test: example 2: unknown label 'neutral': expected "
                                         "one of the 2 seen in training"):
        clf.evaluate([Example("fine", "pos"), Example("meh", "neutral")], source="test")
    # a number written another way than in training is said to be one (as training says)
    numbers = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(
        [Example("good", "1"), Example("bad", "0")])
    with pytest.raises(ValueError, match=r"test: example 1: unknown label '1\.0': .*; the "
                                         r"model's label '1' is that number written another "
                                         r"way: write the labels as in training"):
        numbers.evaluate([Example("fine", "1.0")], source="test")
    with pytest.raises(ValueError, match=r"unknown label '2\.0': expected one of the 2 seen in "
                                         r"training \('0', '1'\)$"):
        numbers.evaluate([Example("fine", "2.0")], source="test")


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="train must hold at least 2 labels"):
        Classifier().build([Example("a", "x"), Example("b", "x")])
    with pytest.raises(ValueError, match="train: example 1 has no label"):
        Classifier().build([Example("a")])
    # as the file readers read them: a blank label refused, whitespace around one dropped
    # (" pos" and "pos " were two classes, and "" one)
    with pytest.raises(ValueError, match=r"train: example 3: label must not be empty or "
                                         r"blank, got ' '"):
        Classifier().build([Example("a", "x"), Example("b", "y"), Example("c", " ")])
    built = Classifier().build([Example("a", " pos"), Example("b", "pos "), Example("c", "neg")])
    assert sorted(built.labels.itos) == ["neg", "pos"]
    # a model trained before labels were stripped knows " pos" as it was written
    from lstmkit.classification.data import encode_labels
    from lstmkit.text import Vocabulary

    old = Vocabulary([" neg", " pos"], pad=None, unk=None)
    assert encode_labels([Example("a", " pos"), Example("b", " neg")], old) == [1, 0]


def test_load_rejects_a_folder_that_is_not_a_model(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a saved classifier"):
        Classifier.load(tmp_path)
    # a folder that is not there, or a file, was said to have no meta.json
    with pytest.raises(FileNotFoundError, match=r"'.*nothing' does not exist: give the folder "
                                                r"of a saved classifier"):
        Classifier.load(tmp_path / "nothing")
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"'.*model.pt' is a file, not the folder of a "
                                                r"saved classifier"):
        Classifier.load(tmp_path / "model.pt")


def test_text_vectors_file_initialises_embeddings(tmp_path) -> None:
    vec = tmp_path / "v.txt"
    vec.write_text("good 1 0 0 0\nbad 0 1 0 0\nthe 0 0 1 0\nfilm 0 0 0 1\n", encoding="utf-8")
    clf = Classifier(ClassifierConfig(vectors=str(vec), hidden_size=4)).build(_toy(10))
    weight = clf.model.embed.embedding.weight
    assert weight.shape[1] == 4
    if "good" in clf.words:
        assert weight[clf.words.index("good")].tolist() == [1, 0, 0, 0]
    with pytest.raises(ValueError, match="embedding_dim must equal the vectors' size 4"):
        Classifier(ClassifierConfig(vectors=str(vec), embedding_dim=8)).build(_toy(10))


def test_vectors_that_hold_almost_none_of_the_training_words_warn(tmp_path) -> None:
    import warnings

    vec = tmp_path / "de.txt"
    vec.write_text("gut 1 0\nschlecht 0 1\n", encoding="utf-8")  # another language
    train = [Example("good film", "pos"), Example("bad film", "neg")]
    with pytest.warns(UserWarning, match=r"vectors '.*de\.txt' hold 0 of the 3 training words "
                                         r"\(0\.0%\); the others start from random vectors"):
        Classifier(ClassifierConfig(vectors=str(vec), hidden_size=4)).build(train)
    # the words a vectors_vocab adds do not count: they are found by construction
    with pytest.warns(UserWarning, match=r"hold 0 of the 3 training words"):
        Classifier(ClassifierConfig(vectors=str(vec), vectors_vocab=2, hidden_size=4)
                   ).build(train)
    vec.write_text("Good 1 0\nschlecht 0 1\n", encoding="utf-8")  # 1 of 3, looked up lower-cased
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Classifier(ClassifierConfig(vectors=str(vec), hidden_size=4)).build(train)
    clf = Classifier(ClassifierConfig(vectors=str(vec), hidden_size=4),
                     FAST.replace(max_epochs=1)).fit(train)
    # the coverage is kept with the model, not only in the warning
    assert clf.vectors_coverage == pytest.approx(1 / 3)
    assert Classifier.load(clf.save(tmp_path / "m")).vectors_coverage == pytest.approx(1 / 3)


SST = Path("sentiment") / "sst"


def _sst_dir() -> Path | None:
    try:
        from lstmkit.datasets import data_dir

        folder = data_dir() / SST
    except FileNotFoundError:
        return None
    return folder if folder.is_dir() else None


@pytest.mark.skipif(_sst_dir() is None, reason="SST data folder not found (set LSTMKIT_DATA_DIR)")
def test_real_sst_files_read_with_expected_sizes() -> None:
    folder = _sst_dir()
    assert folder is not None
    sizes = [len(read_examples(folder / f"stsa.binary.{s}")) for s in ("train", "dev", "test")]
    assert sizes == [6920, 872, 1821]
    fine = read_examples(folder / "stsa.fine.train")
    assert len(fine) == 8544 and {e.label for e in fine} == {"0", "1", "2", "3", "4"}


def test_untrained_classifier_and_wrong_config_types() -> None:
    with pytest.raises(ValueError, match=r"the classifier has no model yet: call fit\(train, "
                                         r"dev\) or Classifier.load\(directory\) first"):
        Classifier().predict(["x"])
    with pytest.raises(TypeError, match="config must be a ClassifierConfig, got dict"):
        Classifier({"hidden_size": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="training must be a TrainConfig, got int"):
        Classifier(ClassifierConfig(), 3)


def test_snapshot_ensemble_averages_the_best_dev_checkpoints(tmp_path) -> None:
    from lstmkit.classification.model import ProbabilityAverage

    config = ClassifierConfig(hidden_size=8, embedding_dim=8, batch_size=16, dropout=0.1,
                              snapshots=3, label_smoothing=0.1)
    clf = Classifier(config, FAST).fit(_toy(80), _toy(30, seed=1))
    assert isinstance(clf.model, ProbabilityAverage) and len(clf.model.members) == 3
    dev_scores = [row["val_accuracy"] for row in clf.history]
    kept = [dev_scores[e] for e in clf.snapshot_epochs]
    assert kept == sorted(dev_scores, reverse=True)[:3]  # the three best dev checks
    texts = ["a great film", "awful plot"]
    tokens = [clf.encoder.encode(t) for t in texts]  # type: ignore[union-attr]
    from lstmkit.text import pad_sequences

    padded, lengths = pad_sequences(tokens, clf.words.pad_index)  # type: ignore[union-attr]
    with torch.no_grad():
        members = torch.stack([torch.softmax(m(padded, lengths), -1)
                               for m in clf.model.members]).mean(0)
    assert np.allclose(clf.predict_proba(texts), members.numpy(), atol=1e-6)
    clf.save(tmp_path / "ens")
    loaded = Classifier.load(tmp_path / "ens")
    assert isinstance(loaded.model, ProbabilityAverage) and len(loaded.model.members) == 3
    assert loaded.snapshot_epochs == clf.snapshot_epochs
    assert np.allclose(clf.predict_proba(texts), loaded.predict_proba(texts), atol=1e-6)


def test_class_weights_weigh_each_class_in_the_loss(monkeypatch) -> None:
    from torch.nn import functional as F

    import lstmkit.training

    train = [Example("good", "pos")] * 3 + [Example("bad", "neg")] * 9 + [Example("so", "mid")]
    taken = {}

    def no_training(network, loss, *args, **kwargs):  # keeps the loss the fit would use
        taken["loss"] = loss
        raise RuntimeError("stop")

    monkeypatch.setattr(lstmkit.training, "fit", no_training)
    logits = torch.randn(6, 3)
    for class_weight, expected in (("balanced", {"pos": 13 / 9, "neg": 13 / 27, "mid": 13 / 3}),
                                   ({"mid": 5}, {"pos": 1.0, "neg": 1.0, "mid": 5.0})):
        clf = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4,
                                          class_weight=class_weight))
        with pytest.raises(RuntimeError, match="stop"):
            clf.fit(train)
        labels = clf._ready()[1].itos
        weight = torch.tensor([expected[label] for label in labels])
        target = torch.tensor([0, 1, 2, 2, 1, 0])
        assert float(taken["loss"](logits, target)) == pytest.approx(
            float(F.cross_entropy(logits, target, weight=weight)))
    assert ClassifierConfig.from_dict(ClassifierConfig(class_weight={"a": 2}).to_dict()
                                      ).class_weight == {"a": 2.0}
    with pytest.raises(ValueError, match=r"class_weight names labels not in the training data: "
                                         r"\['maybe'\]"):
        Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4,
                                    class_weight={"maybe": 2.0})).fit(train)
    assert ClassifierConfig(class_weight={1: 2}).class_weight == {"1": 2.0}  # as YAML reads 1
    padded = [Example(e.text, {"pos": "01", "neg": "010", "mid": "²"}[e.label]) for e in train]
    with pytest.raises(ValueError, match=r"not in the training data: \['1', '8'\]; the labels "
                                         r"are \['01', '010', '²'\]; YAML reads an unquoted 01 "
                                         r"as the number 1, 010 as the number 8: quote the label "
                                         r"\('01': 3, '010': 0.5\)"):
        Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4, class_weight=yamlio.load(
            "{01: 3.0, 010: 0.5}"))).fit(padded)  # (010 is octal in YAML 1.1)
    # a refused class_weight leaves a trained classifier as it was (it was rebuilt first)
    monkeypatch.undo()
    trained = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4,
                                          class_weight={"mid": 2.0}), FAST).fit(train)
    with pytest.raises(ValueError, match=r"class_weight names labels not in the training data"):
        trained.fit([e for e in train if e.label != "mid"])
    assert trained.predict_proba(["good"]).shape == (1, 3)
    for bad in ("inverse", {"pos": 0}, {"pos": "2"}, {1.5: 2.0}, {True: 2.0},
                {"pos": float("inf")}):
        with pytest.raises(ValueError, match=r"class_weight must"):
            ClassifierConfig(class_weight=bad)  # type: ignore[arg-type]
    # an int past float's range (it compares below inf, then float() overflowed)
    with pytest.raises(ValueError, match=r"^class_weight must map labels to finite weights > 0, "
                                         r"got 'pos': an int of 401 digits \(a label"):
        ClassifierConfig(class_weight={"pos": 10**400})
    for big in (2**1024 - 1, float("nan")):  # (the former rounds to 2**1024 as a float)
        with pytest.raises(ValueError, match=r"^class_weight must map labels to finite"):
            ClassifierConfig(class_weight={"pos": big})
    assert ClassifierConfig(class_weight={"pos": 10**300}).class_weight == {"pos": 1e300}
    # numpy's labels and weights as Python's (np.int64(2) was refused as no number)
    weights = dict(zip(np.array(["pos", "neg"]), np.float32([0.3, 2]), strict=True))
    assert ClassifierConfig(class_weight=weights).class_weight == {"pos": 0.3, "neg": 2.0}
    assert ClassifierConfig(class_weight={"pos": np.int64(2)}).class_weight == {"pos": 2.0}
    # 1 and '1' are one label: one of the two weights was silently dropped
    with pytest.raises(ValueError, match=r"class_weight names the label\(s\) \['1'\] twice, "
                                         r"once as a number and once as text"):
        ClassifierConfig(class_weight={1: 2.0, "1": 3.0, "0": 1.0})
    assert ClassifierConfig(class_weight={1: 2, "0": 1.0}).class_weight == {"1": 2.0, "0": 1.0}


def test_snapshot_and_label_smoothing_errors() -> None:
    with pytest.raises(ValueError, match="snapshots must be an int >= 1, got 0"):
        ClassifierConfig(snapshots=0)
    with pytest.raises(ValueError, match=r"label_smoothing must be a float in \[0, 1\), "
                                         r"got 1.0"):
        ClassifierConfig(label_smoothing=1.0)
    clf = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4, snapshots=2), FAST)
    with pytest.raises(ValueError, match="snapshots=2 picks checkpoints on dev data, got "
                                         "dev=None"):
        clf.fit(_toy(20))
    # more snapshots than the run's checks: fewer are averaged, said (it was silent)
    config = ClassifierConfig(hidden_size=4, embedding_dim=4, snapshots=5)
    with pytest.warns(UserWarning, match=r"^model.snapshots=5, but the run made 2 validation "
                                         r"check\(s\) of val_accuracy \(in 2 epoch\(s\)\), so "
                                         r"the snapshot ensemble averages 2"):
        clf = Classifier(config, dataclasses.replace(FAST, max_epochs=2)).fit(
            _toy(20), _toy(10, seed=1))
    assert len(clf.snapshot_epochs) == 2 and len(clf.model.members) == 2


def test_ensemble_trains_differently_seeded_networks_and_round_trips(tmp_path) -> None:
    from lstmkit.classification.model import ProbabilityAverage

    config = ClassifierConfig(hidden_size=8, embedding_dim=8, batch_size=16, dropout=0.1,
                              ensemble=2, snapshots=2)
    clf = Classifier(config, FAST).fit(_toy(80), _toy(30, seed=1))
    assert isinstance(clf.model, ProbabilityAverage) and len(clf.model.members) == 4
    assert [row["member"] for row in clf.history] == [0.0] * 4 + [1.0] * 4
    assert len(clf.snapshot_epochs) == 4
    first, third = clf.model.members[0], clf.model.members[2]
    assert not torch.equal(first.lstm.weight_hh_l0, third.lstm.weight_hh_l0)
    assert clf.evaluate(_toy(60, seed=2)).accuracy > 0.8
    clf.save(tmp_path / "ens")
    texts = ["a great film", "awful plot"]
    loaded = Classifier.load(tmp_path / "ens")
    assert np.allclose(clf.predict_proba(texts), loaded.predict_proba(texts), atol=1e-6)
    with pytest.raises(ValueError, match="ensemble must be an int >= 1, got 0"):
        ClassifierConfig(ensemble=0)


def test_a_seeded_run_does_not_depend_on_earlier_random_draws() -> None:
    config = ClassifierConfig(hidden_size=8, embedding_dim=8, batch_size=16)
    short = FAST.replace(max_epochs=1)
    torch.manual_seed(123)
    first = Classifier(config, short).fit(_toy(40), _toy(10, seed=1))
    torch.rand(1000)  # what ran before in the process must not matter
    second = Classifier(config, short).fit(_toy(40), _toy(10, seed=1))
    assert first.model is not None and second.model is not None
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name]), name


def test_adversarial_training_perturbs_the_word_embeddings() -> None:
    training = FAST.replace(adversarial=0.5)
    clf = Classifier(ClassifierConfig(hidden_size=16, embedding_dim=16, batch_size=16),
                     training).fit(_toy(200), _toy(50, seed=1))
    assert clf.model.adversarial_inputs() == [clf.model.embed]  # type: ignore[union-attr]
    last = clf.history[-1]
    assert last["train_adversarial_loss"] > last["train_loss"]
    assert clf.evaluate(_toy(100, seed=2)).accuracy > 0.9


def _unk_row_after_one_epoch(config: ClassifierConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``<unk>`` embedding before and after a short seeded run (fit seeds, then builds)."""
    from lstmkit.training import seed_everything

    seed_everything(0)
    before = Classifier(config).build(_toy(40))
    clf = Classifier(config, FAST.replace(max_epochs=1)).fit(_toy(40))
    unk = clf.words.unk_index  # type: ignore[union-attr]
    return (before.model.embed.embedding.weight[unk].detach(),  # type: ignore[union-attr]
            clf.model.embed.embedding.weight[unk].detach())  # type: ignore[union-attr]


def test_default_word_dropout_trains_the_unk_embedding() -> None:
    config = ClassifierConfig(hidden_size=8, embedding_dim=8, batch_size=8)
    assert config.min_freq == 1 and config.word_dropout > 0
    before, after = _unk_row_after_one_epoch(config)
    assert not torch.equal(before, after)
    # without word dropout no training token is <unk>: its row would stay untrained
    before, after = _unk_row_after_one_epoch(config.replace(word_dropout=0.0))
    assert torch.equal(before, after)


def test_a_save_that_stops_part_way_leaves_a_folder_that_load_refuses(
        tmp_path, monkeypatch) -> None:
    first = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))
    saved = first.save(tmp_path / "m")
    (saved / "checkpoints").mkdir()  # what else the folder holds is left alone
    other = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(
        [Example("an entirely different vocabulary", "pos"), Example("here", "neg")])

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    # the new vocabulary is in place when writing the weights fails
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        other.save(saved)
    monkeypatch.undo()
    assert json.loads((saved / "words.json").read_text()) != \
        json.loads(json.dumps(first.words.to_dict()))
    # never the new words with the old weights: without meta.json it is not a saved model
    with pytest.raises(FileNotFoundError, match=r"is not a saved classifier: it has no meta.json"):
        Classifier.load(saved)
    assert sorted(p.name for p in saved.iterdir()) == [
        ".save.lock", "checkpoints", "config.json", "labels.json", "model.pt", "training.json",
        "words.json"]
    other.save(saved)  # saving again mends it
    assert Classifier.load(saved).words == other.words


def test_load_checks_the_format_version_and_a_damaged_model_file(tmp_path) -> None:
    from lstmkit import __version__

    clf = Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))
    saved = clf.save(tmp_path / "m")
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["format_version"] == 1 and meta["lstmkit_version"] == __version__
    (saved / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    version = re.escape(__version__)
    with pytest.raises(ValueError, match=rf"saved classifier '{re.escape(str(saved))}' has "
                                         rf"format_version 99 \(written by lstmkit {version}\), "
                                         rf"but this lstmkit \({version}\) reads format_version "
                                         "1"):
        Classifier.load(saved)
    damaged = clf.save(tmp_path / "d")
    good = (damaged / "model.pt").read_bytes()
    for broken in (b"not a model", good[: len(good) // 2], b""):
        (damaged / "model.pt").write_bytes(broken)
        with pytest.raises(ValueError, match=rf"saved classifier '{re.escape(str(damaged))}': "
                                             "model.pt cannot be read"):
            Classifier.load(damaged)
    (damaged / "model.pt").write_bytes(good)
    config = json.loads((damaged / "config.json").read_text())
    (damaged / "config.json").write_text(json.dumps({**config, "hidden_size": 5}))
    with pytest.raises(ValueError, match=r"the weights in model.pt do not fit the network"):
        Classifier.load(damaged)
    (damaged / "config.json").write_text('{"hidden_size": 4\n')
    with pytest.raises(ValueError, match=r"config.json: not valid JSON \(Expecting "):
        Classifier.load(damaged)
    (damaged / "words.json").unlink()
    (damaged / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match=r"is not a saved classifier \(no words.json\)"):
        Classifier.load(damaged)


def _kill_member(monkeypatch, member: int) -> None:  # type: ignore[no-untyped-def]
    """Make ``lstmkit.training.fit`` raise at the start of epoch 1 of network ``member``."""
    import lightning.pytorch as pl

    import lstmkit.training

    class Killed(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: object) -> None:
            if trainer.current_epoch == 1:
                raise RuntimeError("killed")

    real = lstmkit.training.fit
    calls = []

    def fit(*args, callbacks=(), **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        extra = [Killed()] if len(calls) == member + 1 else []
        return real(*args, callbacks=[*callbacks, *extra], **kwargs)

    monkeypatch.setattr(lstmkit.training, "fit", fit)


@pytest.mark.parametrize(("ensemble", "snapshots"), [(1, 1), (2, 1), (1, 2)])
def test_resumed_run_predicts_like_an_uninterrupted_one(tmp_path, monkeypatch, ensemble: int,
                                                        snapshots: int) -> None:
    train, dev = _toy(48, seed=1), _toy(16, seed=2)
    config = ClassifierConfig(hidden_size=8, embedding_dim=8, batch_size=8,
                              ensemble=ensemble, snapshots=snapshots)

    def training(name: str) -> TrainConfig:
        return FAST.replace(max_epochs=3, checkpoint_dir=tmp_path / name)

    whole = Classifier(config, training("whole")).fit(train, dev)
    with monkeypatch.context() as patch:
        _kill_member(patch, member=ensemble - 1)
        with pytest.raises(RuntimeError, match="killed"):
            Classifier(config, training("cut")).fit(train, dev)
    resumed = Classifier(config, training("cut")).fit(train, dev, resume=True)
    texts = [e.text for e in dev]
    np.testing.assert_allclose(resumed.predict_proba(texts), whole.predict_proba(texts),
                               rtol=1e-5, atol=1e-6)
    assert resumed.snapshot_epochs == whole.snapshot_epochs
    if ensemble > 1:  # each network checkpoints in its own folder
        assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [".lock", "member0",
                                                                        "member1"]
        assert (tmp_path / "cut" / "member1" / "last.ckpt").is_file()


def test_devices_auto_trains_on_one_of_several_gpus(two_gpus_fit_settings) -> None:
    handed = two_gpus_fit_settings
    config = ClassifierConfig(hidden_size=4, embedding_dim=4)
    with pytest.raises(KeyboardInterrupt):
        Classifier(config, FAST.replace(devices="auto", accelerator="auto")).fit(_toy(8))
    assert handed[0].devices == 1
    with pytest.raises(KeyboardInterrupt):  # every GPU when asked for (DDP)
        Classifier(config, FAST.replace(devices=-1, accelerator="auto")).fit(_toy(8))
    assert handed[1].devices == -1


def test_resume_needs_a_checkpoint_dir() -> None:
    with pytest.raises(ValueError, match=r"training\.checkpoint_dir=None"):
        Classifier(ClassifierConfig(hidden_size=8), FAST).fit(_toy(8), resume=True)


def test_cased_vectors_are_added_lower_cased_when_the_model_lowercases(tmp_path) -> None:
    path = tmp_path / "cased.txt"
    path.write_text("Great 0.5 0.5\nFilm 0.25 0.25\nthe 0.1 0.1\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="hold 0 of the 4 training words"):  # none of them
        clf = Classifier(ClassifierConfig(vectors=str(path), vectors_vocab=3, hidden_size=4),
                         FAST).build([Example("a dull plot", "neg"), Example("fine", "pos")])
    assert "great" in clf.words and "Great" not in clf.words
    weights = clf.model.embed.embedding.weight.detach()
    assert weights[clf.encoder.encode("Great Film")].tolist() == [[0.5, 0.5], [0.25, 0.25]]


@pytest.mark.parametrize("kind", [int, np.int64, str])
def test_labels_that_are_numbers_are_known_by_their_str(kind) -> None:
    train = [Example(e.text, kind(int(e.label == "pos"))) for e in _toy(40)]
    clf = Classifier(ClassifierConfig(hidden_size=8, embedding_dim=8), FAST).fit(train, train)
    assert clf.label_names == ["0", "1"]
    evaluation = clf.evaluate(train)
    assert evaluation.gold == [str(int(e.label)) for e in train]
    assert evaluation.confusion.sum() == len(train)


def test_nan_label_is_an_error_naming_the_example() -> None:
    train = [Example("good", 1.0), Example("bad", 0.0), Example("ok", float("nan"))]
    with pytest.raises(ValueError, match=r"train: example 3: label must not be NaN"):
        Classifier(ClassifierConfig(hidden_size=8, embedding_dim=8), FAST).build(train)


def test_label_order_is_deterministic_and_one_number_written_two_ways_is_an_error() -> None:
    from lstmkit.classification.classifier import _label_key

    assert sorted({"b", "10", "9", "1_0", "nan", "a"}, key=_label_key) == [
        "9", "10", "1_0", "a", "b", "nan"]
    train = [Example("good", "1"), Example("bad", "0"), Example("fine", "1.0")]
    with pytest.raises(ValueError, match=r"train: labels '1' and '1.0' are the same number"):
        Classifier(ClassifierConfig(hidden_size=8, embedding_dim=8), FAST).build(train)


def test_tsv_fields_are_literal_quotes_included(tmp_path) -> None:
    path = tmp_path / "quotes.tsv"
    path.write_text('text\tlabel\n"Wow" said no one\tneg\n"Best film ever\tpos\n'
                    'great cast\tpos\nawful " plot\tneg\n', encoding="utf-8")
    assert read_examples(path) == [Example('"Wow" said no one', "neg"),
                                   Example('"Best film ever', "pos"),
                                   Example("great cast", "pos"), Example('awful " plot', "neg")]


@pytest.mark.parametrize("content, line, message", [
    ('text,label\n"Wow" said no one,neg\n', 2, "',' expected after '\"'"),
    ('text,label\nfine,pos\n"Best film ever,pos\ngreat cast,pos\n', 3, "unexpected end of data"),
    ("text,label\rgood movie,pos\rbad movie,neg\r", 1, "ends lines with CR only"),
])
def test_malformed_csv_is_a_value_error_naming_file_and_line(tmp_path, content, line,
                                                              message) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8", newline="")
    with pytest.raises(ValueError, match=rf"bad.csv:{line}: not valid CSV .*{re.escape(message)}"):
        read_examples(path)


def test_csv_and_tsv_fields_may_be_longer_than_the_csv_module_default(tmp_path) -> None:
    import csv

    big = " ".join(["word"] * 30000)  # 150k characters, over csv.field_size_limit()
    (tmp_path / "big.csv").write_text(f'text,label\n"{big}",pos\nshort,neg\n', encoding="utf-8")
    (tmp_path / "big.tsv").write_text(f"text\tlabel\n{big}\tpos\nshort\tneg\n", encoding="utf-8")
    for name in ("big.csv", "big.tsv"):
        assert [len(e.text) for e in read_examples(tmp_path / name)] == [len(big), 5]
    assert csv.field_size_limit() == 131072  # left as it was


def test_write_predictions_keeps_a_text_with_line_breaks_on_its_row(tmp_path) -> None:
    from lstmkit.classification import Prediction, write_predictions

    texts = ["line one\nline two", "cr\ronly", "tab\there", "back\\slash", "plain"]
    predictions = [Prediction(t, "pos", {"neg": 0.25, "pos": 0.75}) for t in texts]
    write_predictions(tmp_path / "p.tsv", predictions, ["neg", "pos"], gold=["pos"] * 5)
    rows = (tmp_path / "p.tsv").read_bytes().decode("utf-8").split("\n")
    assert rows[-1] == "" and len(rows) == len(texts) + 2
    assert rows[0] == "gold\tpredicted\tp_neg\tp_pos\ttext"
    assert [r.split("\t")[-1] for r in rows[1:-1]] == [
        "line one\\nline two", "cr\\ronly", "tab\\there", "back\\\\slash", "plain"]
    assert all(len(r.split("\t")) == 5 for r in rows[1:-1])


@pytest.mark.parametrize("name", ["d.json", "d.jsonl", "d.parquet", "d.txt.gz"])
def test_auto_format_refuses_the_suffix_of_another_format(tmp_path, name) -> None:
    path = tmp_path / name
    path.write_text('{"text": "good", "label": "pos"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: \..* files cannot be read; "
                                         r"supported: a folder .*\.csv, \.tsv, or"):
        read_examples(path)
    assert read_examples(path, "lines") == [Example('"good", "label": "pos"}', '{"text":')]


@pytest.mark.parametrize("name", ["train.conll", "dev.CoNLLu", "t.bio"])
def test_auto_format_refuses_a_tagging_file_and_points_to_the_tagger(tmp_path, name) -> None:
    """A CoNLL file's 'token<TAB>tag' lines are not '<label> <text>' ones: read as lines, a
    tagging file became thousands of one-word examples with the words as labels."""
    path = tmp_path / name
    path.write_text("@paulwalk\tO\nLondon\tB-location\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: a \.\w+ file holds a tag per "
                                         r"token .* lstmkit\.tagging\.read_conll \(`lstmkit "
                                         r"tag`\)"):
        read_examples(path)
    assert read_examples(path, "lines")[0] == Example("O", "@paulwalk")  # when asked for


def test_input_with_cr_only_line_endings_is_an_error(tmp_path) -> None:
    path = tmp_path / "mac.txt"
    path.write_bytes(b"great film\rawful\r")
    with pytest.raises(ValueError, match=r"mac.txt: lines end with CR only"):
        read_raw_texts(path)
    path.write_bytes(b"1 great film\r0 awful\r")
    with pytest.raises(ValueError, match=r"mac.txt: lines end with CR only"):
        read_examples(path)
    path.write_bytes(b"great film\r\nawful\r\n")
    assert read_raw_texts(path) == ["great film", "awful"]


def test_unknown_dev_label_and_non_str_text_name_where_they_are(tmp_path) -> None:
    train = _toy(20)
    (tmp_path / "dev.txt").write_text("pos good film\nneutral a film\n", encoding="utf-8")
    clf = Classifier(ClassifierConfig(hidden_size=8, embedding_dim=8), FAST)
    with pytest.raises(ValueError, match=r"dev: example 2 \(.*dev.txt:2\): unknown label "
                                         r"'neutral'"):
        clf.fit(train, read_examples(tmp_path / "dev.txt"))
    with pytest.raises(TypeError, match=r"train: example 21: text must be a str, got float "
                                        r"\(nan; an empty cell\?\)"):
        clf.fit([*train, Example(float("nan"), "pos")])
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got float"):
        clf.fit(train).predict(["good", float("nan")])


def _built() -> Classifier:
    """An untrained classifier (enough for the inference checks)."""
    return Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4)).build(_toy(20))


def test_predict_takes_any_iterable_of_str_once() -> None:
    import pandas as pd

    clf = _built()
    texts = ["a great film", "awful plot", "the actors"]
    expected = clf.predict_proba(texts)
    predictions = clf.predict(t for t in texts)
    assert [p.text for p in predictions] == texts
    assert np.allclose([[p.probabilities[k] for k in clf.label_names] for p in predictions],
                       expected)
    assert np.allclose(clf.predict_proba(iter(texts)), expected)
    series = pd.Series(texts, index=[7, 3, 5])  # a filtered DataFrame column
    assert [p.text for p in clf.predict(series)] == texts
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got float nan"):
        clf.predict(t for t in ["fine", float("nan")])  # type: ignore[misc]


def test_predict_and_evaluate_show_progress_on_request(capsys) -> None:
    clf = _built()
    texts = ["a great film", "awful plot", "the actors"] * 3
    expected = clf.predict_proba(texts)
    assert capsys.readouterr().err == ""  # (off by default)
    assert np.allclose(clf.predict_proba(texts, batch_size=2, progress=True), expected)
    bar = capsys.readouterr().err
    assert "0/9" in bar and "texts/s" in bar, bar  # over the texts (cleared at the end)
    clf.predict(texts, progress=None)  # None: a bar on a terminal only (stderr is not one)
    clf.predict(texts, batch_size=9, progress=True)  # one batch: no bar
    assert capsys.readouterr().err == ""
    clf.evaluate([Example(t, "pos") for t in texts], progress=True)  # (256 a batch)
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match=r"progress must be True, False or None, got 'yes'"):
        clf.predict(texts, progress="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_predict_batch_size_must_be_a_positive_int(batch_size: object) -> None:
    clf = _built()
    error = ValueError if type(batch_size) is int else TypeError  # (a wrong kind)
    message = (rf"batch_size must be an int >= 1, got {batch_size}$" if error is ValueError
               else rf"batch_size must be an int >= 1, got {type(batch_size).__name__} "
                    rf"{re.escape(repr(batch_size))}$")
    with pytest.raises(error, match=message):
        clf.predict(["a great film"], batch_size=batch_size)
    with pytest.raises(error, match=message):
        clf.predict_proba(["a great film"], batch_size=batch_size)
    assert clf.predict_proba(["a", "b", "c"], batch_size=1).sum(axis=1) == pytest.approx(1.0)


def test_naming_dev_accuracy_as_the_monitor_keeps_the_best_epoch() -> None:
    config = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=16)
    named = FAST.replace(max_epochs=1, monitor="val_accuracy")  # monitor_mode left at "min"
    for dev_monitor in (None, False):
        clf = Classifier(config, named, dev_monitor=dev_monitor).fit(_toy(16), _toy(8, seed=1))
        assert (clf.training.monitor, clf.training.monitor_mode) == ("val_accuracy", "max")


def test_without_a_seed_the_batch_order_is_drawn_afresh(shuffle_seeds) -> None:
    from lstmkit.classification import classifier as module

    seeds = shuffle_seeds(module)
    config = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=8, ensemble=2)
    unseeded = FAST.replace(max_epochs=1, seed=None)
    Classifier(config, unseeded).fit(_toy(16))
    Classifier(config, unseeded).fit(_toy(16))
    assert len(seeds) == 4 and len(set(seeds)) == 4  # each network of each run its own
    seeds.clear()
    Classifier(config, FAST.replace(max_epochs=1, seed=3)).fit(_toy(16))
    assert seeds == [3, 4]


def test_a_model_saved_with_freeze_embeddings_and_no_vectors_loads_with_a_warning(
        tmp_path) -> None:
    clf = _built()
    saved = clf.save(tmp_path / "m")
    config = json.loads((saved / "config.json").read_text())
    config["freeze_embeddings"] = True  # as versions before the vectors check saved it
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match=r"config.json: freeze_embeddings=True without vectors "
                                         r"is read as False: it only kept the random "
                                         r"embeddings fixed in training"):
        loaded = Classifier.load(saved)
    assert loaded.config == clf.config
    texts = ["a great film", "awful plot"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))
    with pytest.raises(ValueError, match=r"freeze_embeddings=True needs vectors"):
        ClassifierConfig.from_dict(config)  # a new configuration with it is still an error


def test_an_unseeded_run_follows_the_global_seed_and_resumes_like_an_uninterrupted_one(
        tmp_path) -> None:
    train, texts = _toy(24, seed=1), ["a great film", "awful plot", "the actors were dull"]
    config = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=4)

    def run(name: str, epochs: int, global_seed: int, resume: bool = False) -> np.ndarray:
        torch.manual_seed(global_seed)
        training = FAST.replace(max_epochs=epochs, seed=None, checkpoint_dir=tmp_path / name)
        return Classifier(config, training).fit(train, resume=resume).predict_proba(texts)

    whole = run("whole", 3, global_seed=0)
    # seeding torch reproduces an unseeded run, batch order included
    np.testing.assert_array_equal(run("again", 3, global_seed=0), whole)
    run("cut", 1, global_seed=0)
    # resumed under another global state: the checkpoint holds the batch order's seed
    np.testing.assert_array_equal(run("cut", 3, global_seed=5, resume=True), whole)


def test_a_resume_with_other_model_settings_is_refused_naming_them(tmp_path) -> None:
    config = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=8)
    training = FAST.replace(max_epochs=1, checkpoint_dir=tmp_path / "ckpt")
    Classifier(config, training).fit(_toy(16))
    smoothed = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=8,
                                label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"other settings \(model.label_smoothing: 0.0 there, "
                                         r"0.1 here\)"):
        Classifier(smoothed, training.replace(max_epochs=2)).fit(_toy(16), resume=True)
    # another seed: the weights would be the checkpoint's seed's, training.json this one's
    with pytest.raises(ValueError, match=r"other settings \(training.seed: 0 there, 4 here\)"):
        Classifier(config, training.replace(max_epochs=2, seed=4)).fit(_toy(16), resume=True)
    # the same number of words, one of them another: each embedding row would read another
    # word (a shuffled training file gives such a vocabulary too)
    renamed = [Example(e.text.replace("plot", "story"), e.label) for e in _toy(16)]
    with pytest.raises(ValueError, match=r"other settings \(.*vocabulary.words: '\d+ entries "
                                         r"from the training data, sha256 \w+' there, '\d+ "
                                         r"entries from the training data, sha256 \w+' here\)"):
        Classifier(config, training.replace(max_epochs=2)).fit(renamed, resume=True)
    # the same words and labels, other examples: the labels swapped (it resumed, and the
    # checkpoint's optimiser went on with other data)
    swapped = [Example(e.text, {"pos": "neg", "neg": "pos"}[e.label]) for e in _toy(16)]
    with pytest.raises(ValueError, match=r"other settings \(training and dev examples: "
                                         r"'16 training and no dev examples, sha256 (\w{12})' "
                                         r"there, '16 training and no dev examples, sha256 "
                                         r"(?!\1)\w{12}' here\)"):
        Classifier(config, training.replace(max_epochs=2)).fit(swapped, resume=True)
    # texts and labels written with spaces around are the same examples (a lines file's
    # reader strips them, a CSV's and pandas do not)
    spaced = [Example(f" {e.text}  ", f" {e.label} ") for e in _toy(16)]  # texts too
    assert len(Classifier(config, training.replace(max_epochs=2)).fit(
        spaced, resume=True).history) == 2
    resumed = Classifier(config, training.replace(max_epochs=2)).fit(_toy(16), resume=True)
    assert len(resumed.history) == 2


def test_examples_of_another_type_are_refused_naming_the_argument() -> None:
    import pandas as pd

    from lstmkit.classification import Classifier, ClassifierConfig

    clf = Classifier(ClassifierConfig(hidden_size=8, embedding_dim=8))
    with pytest.raises(TypeError, match=r"^train: example 1 must be a lstmkit.classification."
                                        r"Example\(text, label\), got tuple \('good', 'pos'\)"):
        clf.fit([("good", "pos"), ("bad", "neg")])
    frame = pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]})
    with pytest.raises(TypeError, match=r"^train must be a sequence of lstmkit.classification."
                                        r"Example\(text, label\), got a DataFrame; from a "
                                        r"DataFrame: \[Example"):
        clf.fit(frame)


def test_the_report_shows_no_scores_for_a_class_neither_in_the_data_nor_predicted() -> None:
    from lstmkit.classification.metrics import classification_report

    # class 0 absent: its row read 0.0000 while the macro F1 (1.0) left it out, unsaid
    report = classification_report(confusion_matrix([1, 1, 2], [1, 1, 2], 3), ["0", "1", "2"])
    rows = report.splitlines()
    assert rows[1].split() == ["0", "-", "-", "-", "0"]
    assert rows[-1].split("  ", 1)[1].strip() == (
        "1.0000  (over the 2 of 3 classes in the data or the predictions)")
    from lstmkit.classification.classifier import _per_class  # metrics.json's, alike

    assert _per_class(confusion_matrix([1, 1, 2], [1, 1, 2], 3), ["0", "1", "2"])["0"] == {
        "precision": None, "recall": None, "f1": None, "support": 0}
    every = classification_report(confusion_matrix([0, 1], [1, 1], 2), ["0", "1"])
    assert every.splitlines()[-1].split() == ["macro", "F1", "0.3333"]


def test_a_dev_set_may_be_any_sequence() -> None:
    # a pandas Series or numpy array of examples: fit failed on its truth value
    import pandas as pd

    config = ClassifierConfig(hidden_size=4, embedding_dim=4, batch_size=8)
    for dev in (pd.Series(_toy(8, seed=1)), np.array(_toy(8, seed=1), dtype=object)):
        assert len(Classifier(config, FAST.replace(max_epochs=1)).fit(_toy(16), dev).history) == 1

