"""lstmkit: the LSTM, complete, fast and practical."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.nn import LSTM, LSTMCell, LSTMState, LSTMTrace, plot_trace
    from lstmkit.tagging import Tagger

__version__ = "0.1.0"

# what the package names, imported when first named: the layer brings torch, the
# applications Lightning and pandas; so `import lstmkit` (and the command line's start,
# where Ctrl-C must already be handled) imports neither
_LAZY = {"LSTM": "lstmkit.nn", "LSTMCell": "lstmkit.nn", "LSTMState": "lstmkit.nn",
         "LSTMTrace": "lstmkit.nn", "plot_trace": "lstmkit.nn",
         "Forecaster": "lstmkit.forecasting", "Classifier": "lstmkit.classification",
         "Tagger": "lstmkit.tagging"}
_SUBPACKAGES = ("classification", "cli", "datasets", "demo", "forecasting", "kernels", "nn",
                "saving", "serving", "tagging", "text", "training", "yamlio")

__all__ = ["LSTM", "Classifier", "Forecaster", "LSTMCell", "LSTMState", "LSTMTrace", "Tagger",
           "__version__", "plot_trace"]


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:  # (lstmkit.nn without importing it first, as before)
        return importlib.import_module(f"lstmkit.{name}")
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
