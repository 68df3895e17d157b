"""Where the real datasets live: ``LSTMKIT_DATA_DIR``, else ``../shared/data`` next to the repo.

Data is never copied into the repository; benchmarks and real-data tests find it here.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LSTMKIT_DATA_DIR"


def _candidates() -> list[Path]:
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    found: list[Path] = []
    for start in starts:
        for folder in (start, *start.parents):
            found.append(folder / ".." / "shared" / "data")
            found.append(folder / "shared" / "data")
    return found


def data_dir() -> Path:
    """The data folder.

    Resolution order: the ``LSTMKIT_DATA_DIR`` environment variable (must exist), else the
    first ``shared/data`` folder found beside the repository by walking up from the current
    directory and from this package's location (``<repo>/../shared/data``).

    Raises:
        FileNotFoundError: naming ``LSTMKIT_DATA_DIR`` when nothing is found.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{ENV_VAR}={env!r} is not a directory")
        return path.resolve()
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError(
        "no data folder found: set the environment variable "
        f"{ENV_VAR} to the folder holding the datasets (expected <repo>/../shared/data)"
    )


def data_path(*parts: str) -> Path:
    """A file under :func:`data_dir`, which must exist (``data_path("timeseries", "ett",
    "ETTh1.csv")``)."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist under {ENV_VAR} data folder")
    return path
