"""The LSTM itself: equations, cell, layer, state, initialisers, weight layouts and tracing.

Depends on torch only (matplotlib for plotting a trace).
"""

from lstmkit.nn.cell import LSTMCell
from lstmkit.nn.config import LSTMConfig
from lstmkit.nn.layer import LSTM
from lstmkit.nn.state import LSTMState
from lstmkit.nn.trace import LSTMTrace, plot_trace

__all__ = ["LSTM", "LSTMCell", "LSTMConfig", "LSTMState", "LSTMTrace", "plot_trace"]
