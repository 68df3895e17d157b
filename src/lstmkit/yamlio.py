"""YAML for configuration files and ``--set`` values.

PyYAML follows YAML 1.1, which reads ``1e-3`` or ``1.5e3`` (an exponent without both a
dot and a sign) as a string, so a learning rate written that way would be refused as "not
a number". :func:`load` reads it as the float it is, as YAML 1.2 does.
"""

from __future__ import annotations

import re
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


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load(text: str) -> Any:
    """Parse YAML ``text`` (safe: plain data only)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: plain data only


def load_value(text: str) -> Any:
    """A ``--set KEY=VALUE`` value: YAML (``true``, ``1e-3``, ``[a, b]``), except that a value
    starting with ``%`` (a date format, ``%d/%m/%Y``), which YAML reads as a directive, is
    its text. Other text that is not YAML stays an error (``[ckpt`` is a typo)."""
    if text.lstrip().startswith("%"):
        return text
    return load(text)
