"""Classification metrics and the confusion-matrix plot."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from lstmkit.nn.config import exact_int, plain_value, positive_int


def _class_indices(values: Sequence[int], name: str, num_classes: int) -> np.ndarray:
    """``values`` as an int64 array, each checked to be an integer (not a bool) in
    ``[0, num_classes)``; the error names ``name`` and the first bad value and its position.
    A column (N, 1) is read as its N values, as scikit-learn's metrics read it."""
    try:
        array = np.asarray(values)
    except ValueError:  # (numpy's "inhomogeneous shape": a list holding a list)
        raise ValueError(f"{name} must be a 1-d sequence of class indices or a column (N, 1) "
                         "of them, got items of different shapes") from None
    items: Any = values  # (each one's type is checked below)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
        items = list(chain.from_iterable(values)) if isinstance(values, list | tuple) else array
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of class indices or a column (N, 1) "
                         f"of them, got shape {array.shape}")
    # a list's bools and floats may have become ints in the array; its types are checked
    # in bulk, one by one only to name the first wrong one
    types = set(map(type, items)) if isinstance(items, list | tuple) else set()
    if array.dtype.kind not in "iu" or any(
            issubclass(kind, bool | np.bool_) or not issubclass(kind, int | np.integer)
            for kind in types):
        for at, value in enumerate(items):
            if exact_int(value) is None:  # (a numpy scalar by its value: float64 0.5)
                raise TypeError(f"{name} must hold int class indices in [0, {num_classes}), "
                                f"got {type(value).__name__} {plain_value(value)!r} at "
                                f"position {at}")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        at = int(bad[0])
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}), got "
                         f"{array[at]} at position {at}")
    return array.astype(np.int64)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``(K, K)`` counts; row = true class, column = predicted class.

    ``y_true`` and ``y_pred`` hold int class indices in ``[0, num_classes)`` (numpy ints and
    0-d integer tensors too; not floats nor bools), each 1-d or a column (N, 1), which is
    read as its N values (as scikit-learn does; a row (1, N) is refused).
    """
    num_classes = positive_int("num_classes", num_classes)
    true = _class_indices(y_true, "y_true", num_classes)
    pred = _class_indices(y_pred, "y_pred", num_classes)
    if len(true) != len(pred):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(true)} and {len(pred)}"
        )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def _square(matrix: Any) -> np.ndarray:
    """``matrix`` as an array, checked to be a (K, K) confusion matrix of counts: the
    class labels themselves (1-d, or a column (N, 1)) would give a score of nothing."""
    array = np.asarray(matrix)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"matrix must be a (K, K) confusion matrix (as confusion_matrix "
                         f"returns it), got shape {array.shape}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"matrix must hold counts (ints or floats), got {array.dtype} values")
    return array


def _label_names(matrix: np.ndarray, labels: Sequence[str | int]) -> list[str]:
    """The names of the ``(K, K)`` ``matrix``'s classes, one per class (a shorter list would
    drop classes, a longer one has names for none): each label a str, or a number written
    as its str (``range(K)``: ``0``, ``1``, ...); a sequence where a name is wanted (a
    column (K, 1) of them) failed inside the table's formatting, and one str was read as
    its letters."""
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of names, one per class, got a single str "
                        f"{labels!r}")
    names = []
    for at, label in enumerate(labels):
        plain = plain_value(label)
        if not isinstance(plain, str | int | float):
            raise TypeError(f"labels must hold class names (str, or numbers), got "
                            f"{type(label).__name__} {plain!r:.60} at position {at}")
        names.append(str(plain))
    if len(names) != len(matrix):
        raise ValueError(f"labels must name each of the {len(matrix)} classes of the "
                         f"confusion matrix, got {len(names)} labels: {names!r}")
    return names


def accuracy(matrix: np.ndarray) -> float:
    """The share of the (K, K) ``matrix``'s counts on its diagonal (0 when it holds none)."""
    matrix = _square(matrix)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else 0.0


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class of the (K, K) ``matrix`` (0 where
    undefined, as scikit-learn)."""
    matrix = _square(matrix)
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def present_classes(matrix: np.ndarray) -> np.ndarray:
    """(K,) bool: the classes that occur in the truth or the predictions, which alone have
    scores (the others' are undefined, left out of the macro F1)."""
    matrix = _square(matrix)
    return (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean F1 over the classes that occur in the truth or the predictions."""
    matrix = _square(matrix)
    present = present_classes(matrix)
    f1 = per_class_scores(matrix)["f1"]
    return float(f1[present].mean()) if present.any() else 0.0


def classification_report(matrix: np.ndarray, labels: Sequence[str | int]) -> str:
    """A plain-text table: precision, recall, F1, support per class; accuracy and macro F1.

    ``labels``: the classes' names (str, or numbers: ``range(K)``), one per row of ``matrix``."""
    matrix = _square(matrix)
    labels = _label_names(matrix, labels)
    scores = per_class_scores(matrix)
    present = present_classes(matrix)
    width = max(len(label) for label in [*labels, "macro F1"])
    lines = [f"{'':{width}}  precision  recall      f1  support"]
    for k, label in enumerate(labels):
        if not present[k]:  # neither in the truth nor predicted: no score, none averaged
            lines.append(f"{label:{width}}  {'-':>9}  {'-':>6}  {'-':>6}  {0:7d}")
            continue
        lines.append(
            f"{label:{width}}  {scores['precision'][k]:9.4f}  {scores['recall'][k]:6.4f}  "
            f"{scores['f1'][k]:6.4f}  {int(scores['support'][k]):7d}"
        )
    lines.append(f"{'accuracy':{width}}  {accuracy(matrix):.4f}  (n={int(matrix.sum())})")
    lines.append(f"{'macro F1':{width}}  {macro_f1(matrix):.4f}" + (
        f"  (over the {int(present.sum())} of {len(labels)} classes in the data or the "
        "predictions)" if 0 < present.sum() < len(labels) else ""))
    return "\n".join(lines)


def plot_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str | int], path: str | Path, *, title: str = ""
) -> Path:
    """Save the confusion matrix as a PNG: counts, shaded by row-normalised recall.

    ``labels``: the classes' names (str, or numbers: ``range(K)``), one per row of ``matrix``."""
    matrix = _square(matrix)
    labels = _label_names(matrix, labels)
    # a Figure of its own, not pyplot's: drawing needs no backend, and the caller's (a
    # notebook's inline one) stays as it is
    from matplotlib.figure import Figure

    K = len(labels)
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig = Figure(figsize=(1.2 + 0.7 * K, 1.0 + 0.7 * K))
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(K), labels, rotation=45, ha="right")
    ax.set_yticks(range(K), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(K):
        for j in range(K):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title or f"accuracy {accuracy(matrix):.3f}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
