"""Sequence tagging (NER): CoNLL I/O, tag schemes, a char+word BiLSTM-CRF, span metrics.

Example::

    from lstmkit.tagging import Tagger, TaggerConfig, read_conll
    from lstmkit.training import TrainConfig

    tagger = Tagger(TaggerConfig(vectors="glove-6b-50d"), TrainConfig(max_epochs=25))
    tagger.fit(read_conll("train.conll"), read_conll("dev.conll"))
    print(tagger.evaluate(read_conll("test.conll")).scores.table())
    tagger.predict(["Jeff Bezos founded Amazon in Seattle"])

CoNLL-2003 (4 columns, IOB1 tags): ``read_conll(path, tag_column=3, scheme="IOB1")``.
"""

from lstmkit.tagging.config import TaggerConfig
from lstmkit.tagging.conll import Sentence, read_conll, write_conll
from lstmkit.tagging.crf import CRF
from lstmkit.tagging.metrics import SpanF1, SpanScores, span_scores
from lstmkit.tagging.model import CharCNN, CharLSTM, LSTMCRFTagger, TaggerEnsemble
from lstmkit.tagging.schemes import (
    SCHEMES,
    Span,
    allowed_transitions,
    convert,
    spans_from_tags,
    tag_set,
    tags_from_spans,
    validate,
)
from lstmkit.tagging.tagger import Entity, TagEvaluation, Tagger

__all__ = [
    "CRF",
    "SCHEMES",
    "CharCNN",
    "CharLSTM",
    "Entity",
    "LSTMCRFTagger",
    "Sentence",
    "Span",
    "SpanF1",
    "SpanScores",
    "TagEvaluation",
    "Tagger",
    "TaggerConfig",
    "TaggerEnsemble",
    "allowed_transitions",
    "convert",
    "read_conll",
    "span_scores",
    "spans_from_tags",
    "tag_set",
    "tags_from_spans",
    "validate",
    "write_conll",
]
