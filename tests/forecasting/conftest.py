"""Fixtures of the forecasting tests; the helpers live in forecast_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from forecast_helpers import make_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()
