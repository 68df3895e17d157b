"""The package's top level."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_applications_are_named_at_the_top_and_imported_only_when_named() -> None:
    import lstmkit
    from lstmkit.classification import Classifier
    from lstmkit.forecasting import Forecaster
    from lstmkit.tagging import Tagger

    assert (lstmkit.Forecaster, lstmkit.Classifier, lstmkit.Tagger) == (
        Forecaster, Classifier, Tagger)
    assert {"Forecaster", "Classifier", "Tagger", "LSTM"} <= set(dir(lstmkit))
    with pytest.raises(AttributeError, match="module 'lstmkit' has no attribute 'Nothing'"):
        lstmkit.Nothing  # noqa: B018
    # the layer alone does not bring the applications' Lightning in
    code = "import sys, lstmkit; lstmkit.LSTM; print('lightning' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_the_command_line_parses_its_arguments_before_importing_torch() -> None:
    # `lstmkit --help` answers at once, and a Ctrl-C while a command starts (torch takes
    # seconds to import) meets the command line's handler, one line, not a traceback
    code = ("import sys; from lstmkit.cli.main import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'numpy', 'pandas', 'lightning'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    # the layer's names and subpackages are still there when named
    import lstmkit
    from lstmkit.nn import LSTM, plot_trace

    assert (lstmkit.LSTM, lstmkit.plot_trace, lstmkit.nn.LSTM) == (LSTM, plot_trace, LSTM)
    assert {"LSTM", "LSTMCell", "LSTMState", "LSTMTrace", "plot_trace"} <= set(dir(lstmkit))
