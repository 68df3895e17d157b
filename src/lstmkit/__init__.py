"""lstmkit: the LSTM, complete, fast and practical."""

import atexit as _atexit
import sys as _sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.nn import LSTM, LSTMCell, LSTMState, LSTMTrace, plot_trace
    from lstmkit.tagging import Tagger

__version__ = "0.1.0"

# the names of the top level, each imported from its module when first named: the layer
# brings torch, the applications Lightning and pandas; so `import lstmkit` (the command
# line's, before it parses its arguments) takes milliseconds, and a command's Ctrl-C meets
# the command line's handler, not an import
_NAMES = {"LSTM": "lstmkit.nn", "LSTMCell": "lstmkit.nn", "LSTMState": "lstmkit.nn",
          "LSTMTrace": "lstmkit.nn", "plot_trace": "lstmkit.nn",
          "Forecaster": "lstmkit.forecasting", "Classifier": "lstmkit.classification",
          "Tagger": "lstmkit.tagging"}

__all__ = ["LSTM", "Classifier", "Forecaster", "LSTMCell", "LSTMState", "LSTMTrace", "Tagger",
           "__version__", "plot_trace"]


def __getattr__(name: str) -> Any:
    import importlib.util

    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    if not name.startswith("_") and importlib.util.find_spec(f"lstmkit.{name}") is not None:
        return importlib.import_module(f"lstmkit.{name}")  # lstmkit.nn without importing it
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})


def _end_process_group() -> None:
    """:func:`lstmkit.training.fit.end_process_group`, where training was loaded: registered
    at ``import lstmkit``, so that it runs after the exit handlers the program registers."""
    fit = _sys.modules.get("lstmkit.training.fit")
    if fit is not None:
        fit.end_process_group()


_atexit.register(_end_process_group)
