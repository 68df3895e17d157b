"""lstmkit: the LSTM, complete, fast and practical."""

import atexit as _atexit
import sys as _sys
from typing import TYPE_CHECKING, Any

from lstmkit.nn import LSTM, LSTMCell, LSTMState, LSTMTrace, plot_trace

if TYPE_CHECKING:
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.tagging import Tagger

__version__ = "0.1.0"

# the applications, imported when first named (they bring Lightning, pandas ...)
_APPLICATIONS = {"Forecaster": "lstmkit.forecasting", "Classifier": "lstmkit.classification",
                 "Tagger": "lstmkit.tagging"}

__all__ = ["LSTM", "Classifier", "Forecaster", "LSTMCell", "LSTMState", "LSTMTrace", "Tagger",
           "__version__", "plot_trace"]


def __getattr__(name: str) -> Any:
    if name in _APPLICATIONS:
        import importlib

        return getattr(importlib.import_module(_APPLICATIONS[name]), name)
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_APPLICATIONS})


def _end_process_group() -> None:
    """:func:`lstmkit.training.fit.end_process_group`, where training was loaded: registered
    at ``import lstmkit``, so that it runs after the exit handlers the program registers."""
    fit = _sys.modules.get("lstmkit.training.fit")
    if fit is not None:
        fit.end_process_group()


_atexit.register(_end_process_group)
