"""The fused C++ CPU kernel: every variant of :func:`lstmkit.nn.functional.lstm_scan`.

Nothing here is imported by :mod:`lstmkit.nn`; :mod:`lstmkit.kernels.dispatch` loads it on
demand, so the reference path works where no compiler exists. The extension is compiled on
first use (:mod:`.loader`) and cached on disk.
"""
