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
    code = "import sys, lstmkit; print('lightning' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_the_command_line_starts_without_torch_and_the_layer_is_named_when_needed() -> None:
    # `import lstmkit` brought torch in (2-3 s): Ctrl-C then was a traceback from the middle
    # of torch's import, before the command's handler ran, and `lstmkit --help` waited for it
    code = ("import sys, lstmkit.cli.main as m; m.build_parser(); "
            "print('torch' in sys.modules); import lstmkit; "
            "print(lstmkit.LSTM.__module__, lstmkit.nn.LSTMCell.__name__, "
            "lstmkit.plot_trace.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "lstmkit.nn.layer", "LSTMCell", "plot_trace"]
    # a saved program's lstmkit_reference operators are registered with the kernel's (here
    # switched off: registered all the same, and no build is waited for)
    import os

    code = ("import torch; from lstmkit.kernels.cpu.loader import load_extension\n"
            "try:\n    load_extension()\nexcept Exception:\n    pass\n"
            "print(hasattr(torch.ops.lstmkit_reference, 'keep_mask'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "LSTMKIT_DISABLE_FUSED": "1"})
    assert done.stdout.strip() == "True"
