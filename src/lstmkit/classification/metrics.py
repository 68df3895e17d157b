"""Classification metrics and the confusion-matrix plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lstmkit.nn.config import exact_int


def _class_indices(values: Sequence[int], name: str, num_classes: int) -> np.ndarray:
    """``values`` as an int64 array, each checked to be an integer (not a bool) in
    ``[0, num_classes)``; the error names ``name`` and the first bad value and its position."""
    try:
        array = np.asarray(values)
    except ValueError:  # (numpy's "inhomogeneous shape": a list holding a list)
        raise ValueError(f"{name} must be a 1-d sequence of class indices, got items of "
                         "different shapes") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of class indices, got shape "
                         f"{array.shape}")
    # a list's bools and floats may have become ints in the array; its types are checked
    # in bulk, one by one only to name the first wrong one
    types = set(map(type, values)) if isinstance(values, list | tuple) else set()
    if array.dtype.kind not in "iu" or any(
            issubclass(kind, bool | np.bool_) or not issubclass(kind, int | np.integer)
            for kind in types):
        for at, value in enumerate(values):
            if exact_int(value) is None:
                raise TypeError(f"{name} must hold int class indices in [0, {num_classes}), "
                                f"got {type(value).__name__} {value!r} at position {at}")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        at = int(bad[0])
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}), got "
                         f"{array[at]} at position {at}")
    return array.astype(np.int64)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``(K, K)`` counts; row = true class, column = predicted class.

    ``y_true`` and ``y_pred`` hold int class indices in ``[0, num_classes)`` (numpy ints and
    0-d integer tensors too; not floats nor bools).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    true = _class_indices(y_true, "y_true", num_classes)
    pred = _class_indices(y_pred, "y_pred", num_classes)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def _check_labels(matrix: np.ndarray, labels: Sequence[str]) -> None:
    """One label per class of the ``(K, K)`` ``matrix``: a shorter list would drop classes
    (a longer one has names for none)."""
    if len(labels) != len(matrix):
        raise ValueError(f"labels must name each of the {len(matrix)} classes of the "
                         f"confusion matrix, got {len(labels)} labels: {list(labels)!r}")


def accuracy(matrix: np.ndarray) -> float:
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else 0.0


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined, as scikit-learn)."""
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
    return (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean F1 over the classes that occur in the truth or the predictions."""
    present = present_classes(matrix)
    f1 = per_class_scores(matrix)["f1"]
    return float(f1[present].mean()) if present.any() else 0.0


def classification_report(matrix: np.ndarray, labels: Sequence[str]) -> str:
    """A plain-text table: precision, recall, F1, support per class; accuracy and macro F1.

    ``labels``: the classes' names, one per row of ``matrix``."""
    _check_labels(matrix, labels)
    scores = per_class_scores(matrix)
    present = present_classes(matrix)
    width = max(len(str(label)) for label in [*labels, "macro F1"])
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
    matrix: np.ndarray, labels: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Save the confusion matrix as a PNG: counts, shaded by row-normalised recall.

    ``labels``: the classes' names, one per row of ``matrix``."""
    _check_labels(matrix, labels)
    # a Figure of its own, not pyplot's: drawing needs no backend, and the caller's (a
    # notebook's inline one) stays as it is
    from matplotlib.figure import Figure

    K = len(labels)
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig = Figure(figsize=(1.2 + 0.7 * K, 1.0 + 0.7 * K))
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(K), [str(label) for label in labels], rotation=45, ha="right")
    ax.set_yticks(range(K), [str(label) for label in labels])
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
