"""YAML for configuration files and ``--set`` values.

PyYAML follows YAML 1.1, which reads ``1e-3`` or ``1.5e3`` (an exponent without both a
dot and a sign) as a string, so a learning rate written that way would be refused as "not
a number". :func:`load` reads it as the float it is, as YAML 1.2 does.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads every exponent float (``1e-3``, ``1.5e3``), and
    keeps a date that does not exist (``2024-02-30``) as text, for the setting that reads it
    to refuse by name (PyYAML raises a bare "day is out of range for month")."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        """A mapping; a key written twice in it is an error (PyYAML keeps the last one, so a
        second ``model:`` block would drop the first one's settings without a word)."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue  # a key in a merged mapping (<<: *base) may be written again here
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice in one mapping (lines "
                    f"{seen[key]} and {line}); merge them into one", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load(text: str, source: str | Path | None = None) -> Any:
    """Parse YAML ``text`` (safe: plain data only); an error names ``source`` (the file read)
    where given."""
    stream: Any = text
    if source is not None:
        stream = io.StringIO(text)
        stream.name = str(source)  # what PyYAML's error marks name
    return yaml.load(stream, Loader=_Loader)  # a SafeLoader subclass: plain data only


def load_value(text: str) -> Any:
    """A ``--set KEY=VALUE`` value: YAML (``true``, ``1e-3``, ``[a, b]``), except that a value
    starting with ``%`` (a date format, ``%d/%m/%Y``), which YAML reads as a directive, is
    its text. Other text that is not YAML stays an error (``[ckpt`` is a typo)."""
    if text.lstrip().startswith("%"):
        return text
    return load(text)
