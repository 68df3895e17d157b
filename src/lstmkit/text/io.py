"""Reading text files with errors that say what went wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path


def read_text(path: str | Path, encoding: str = "utf-8", *, allow_empty: bool = False) -> str:
    """The whole content of a text file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not valid in ``encoding`` (the message names the encoding that
            was tried, the byte offset, and the ``encoding`` argument / ``--encoding`` flag to
            choose another), or it is empty (unless ``allow_empty``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: cannot decode byte {raw[err.start:err.start + 1]!r} at offset {err.start} "
            f"as {encoding}; the file is in another encoding: pass encoding= (on the command "
            f"line --encoding), e.g. 'latin-1' or 'cp1252'"
        ) from None
    except LookupError:
        raise ValueError(f"encoding must be a codec Python knows, got {encoding!r}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not allow_empty and not text.strip():
        raise ValueError(f"{path}: the file is empty (expected at least one example)")
    return text


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Lines of a non-empty text file, without line terminators."""
    return read_text(path, encoding).splitlines()
