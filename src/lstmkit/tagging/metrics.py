"""Entity-level precision, recall and F1, as conlleval computes them (seqeval, default mode).

Both gold and predicted tags are re-encoded in IOB2 first (lossless for valid sequences;
predictions that break a scheme are read the lenient conlleval way), so that the scores do
not depend on the scheme the model predicts in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lstmkit.tagging.schemes import spans_from_tags, tag_list, tags_from_spans


def to_iob2(tags: Sequence[str]) -> list[str]:
    return tags_from_spans(spans_from_tags(tags), len(tags), "IOB2")


@dataclass
class SpanScores:
    """Overall and per-type entity scores."""

    precision: float
    recall: float
    f1: float
    per_type: dict[str, dict[str, float | int]]

    def table(self) -> str:
        """conlleval-style table: one row per entity type, then the micro average."""
        width = max([len(t) for t in self.per_type] + [9])
        lines = [f"{'type':{width}}  precision  recall      f1  support"]
        for kind, s in sorted(self.per_type.items()):
            lines.append(f"{kind:{width}}  {s['precision']:9.4f}  {s['recall']:6.4f}  "
                         f"{s['f1']:6.4f}  {int(s['support']):7d}")
        lines.append(f"{'overall':{width}}  {self.precision:9.4f}  {self.recall:6.4f}  "
                     f"{self.f1:6.4f}  {sum(int(s['support']) for s in self.per_type.values()):7d}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "per_type": self.per_type}


def span_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
                ) -> SpanScores:
    """Entity-level scores of ``predicted`` against ``gold`` (tag sequences in any scheme)."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    for name, value in (("gold", gold), ("predicted", predicted)):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise TypeError(f"{name} must be a sequence of tag sequences, one per sentence, "
                            f"got {type(value).__name__} {value!r:.80}")
    gold = [tag_list(g, f"gold[{n}]") for n, g in enumerate(gold)]
    predicted = [tag_list(p, f"predicted[{n}]") for n, p in enumerate(predicted)]
    if len(gold) != len(predicted):
        raise ValueError(f"gold and predicted must hold as many sentences, got {len(gold)} "
                         f"and {len(predicted)}")
    if not gold:
        raise ValueError("gold and predicted must hold at least one sentence, got none")
    for n, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n + 1}: gold has {len(g)} tags and predicted "
                             f"{len(p)}; they must be as many (one per token)")
    y_true = [to_iob2(g) for g in gold]
    y_pred = [to_iob2(p) for p in predicted]
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per_type = {
        kind: {"precision": float(v["precision"]), "recall": float(v["recall"]),
               "f1": float(v["f1-score"]), "support": int(v["support"])}
        for kind, v in report.items() if not kind.endswith(" avg")
    }
    return SpanScores(
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        recall=float(recall_score(y_true, y_pred, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        per_type=per_type,
    )


class SpanF1:
    """Epoch-level entity F1 for the training engine (``update``/``compute``/``reset``):
    decodes each batch's emissions and scores the epoch's sentences together."""

    def __init__(self, decode: Callable[[torch.Tensor, torch.Tensor], list[list[int]]],
                 tag_names: Sequence[str]) -> None:
        self.decode = decode
        self.tag_names = list(tag_names)
        self.reset()

    def update(self, output: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> None:
        tags, lengths = target
        for row, path in zip(tags.tolist(), self.decode(output, lengths), strict=True):
            self.gold.append([self.tag_names[i] for i in row[: len(path)]])
            self.pred.append([self.tag_names[i] for i in path])

    def compute(self) -> float:
        return span_scores(self.gold, self.pred).f1 if self.gold else 0.0

    def reset(self) -> None:
        self.gold: list[list[str]] = []
        self.pred: list[list[str]] = []
