"""lstmkit: the LSTM, complete, fast and practical."""

from lstmkit.nn import LSTM, LSTMCell, LSTMState, LSTMTrace, plot_trace

__version__ = "0.1.0"

__all__ = ["LSTM", "LSTMCell", "LSTMState", "LSTMTrace", "__version__", "plot_trace"]
