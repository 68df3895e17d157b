"""What every saved lstmkit model directory shares: the format version in its ``meta.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def check_format_version(meta: dict[str, Any], what: str, directory: Path,
                         expected: int) -> None:
    """A ValueError unless ``meta`` (a saved ``what``'s ``meta.json``) holds format version
    ``expected``; it names the saved version, the lstmkit that wrote it and this one."""
    from lstmkit import __version__

    version = meta.get("format_version")
    if version != expected:
        writer = meta.get("lstmkit_version", "an unrecorded version")
        raise ValueError(
            f"saved {what} {str(directory)!r} has format_version {version!r} (written by "
            f"lstmkit {writer}), but this lstmkit ({__version__}) reads format_version "
            f"{expected}; retrain it or load it with the lstmkit version that wrote it")
