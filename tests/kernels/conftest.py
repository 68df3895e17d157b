"""The fused extension, built once per test session (or the reason it cannot be built here)."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def fused_ext() -> ModuleType:
    from lstmkit.kernels.cpu.loader import ExtensionUnavailableError, load_extension

    try:
        return load_extension()
    except ExtensionUnavailableError as err:  # no compiler or ninja: a stated skip, not a pass
        pytest.skip(str(err))
