"""lstmkit: the LSTM, complete, fast and practical."""

__version__ = "0.1.0"
