"""Configuration YAML: exponent floats are numbers, everything else as in safe_load."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml

from lstmkit import yamlio


@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", 0.001), ("1.5e3", 1500.0), ("-2E+5", -200000.0), (".5e2", 50.0),
    ("1.0e-3", 0.001), ("10", 10), ("1_000", 1000), ("3.", 3.0), ("1e3x", "1e3x"),
    ("v1e3", "v1e3"), ("2021-01-01", datetime.date(2021, 1, 1)), ("true", True),
])
def test_exponent_floats_are_numbers(text: str, value: object) -> None:
    assert yamlio.load(f"a: {text}") == {"a": value}
    if text in ("1e-3", "1.5e3", "-2E+5", ".5e2"):  # strings to YAML 1.1
        assert yaml.safe_load(f"a: {text}") == {"a": text}
    else:
        assert yaml.safe_load(f"a: {text}") == {"a": value}  # the rest reads as before


def test_still_safe() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        yamlio.load("!!python/object/apply:os.system ['true']")


def test_a_date_that_does_not_exist_stays_text() -> None:
    with pytest.raises(ValueError, match="day is out of range"):
        yaml.safe_load("a: 2024-02-30")
    assert yamlio.load("a: 2024-02-30") == {"a": "2024-02-30"}
    assert yamlio.load("a: 2024-02-29") == {"a": datetime.date(2024, 2, 29)}


def test_a_set_value_starting_with_a_percent_sign_is_its_text() -> None:
    # '%' starts a YAML directive: a date format given to --set failed to parse
    assert yamlio.load_value("%d/%m/%Y") == "%d/%m/%Y"
    assert yamlio.load_value("1e-3") == 0.001 and yamlio.load_value("[a, b]") == ["a", "b"]
    with pytest.raises(yaml.YAMLError):  # a typo is not taken as text
        yamlio.load_value("[ckpt")


def test_a_key_written_twice_in_a_mapping_is_an_error_naming_the_file_and_lines(
        tmp_path: Path) -> None:
    from lstmkit.forecasting.config import load_config

    text = "data:\n  target: [y]\nmodel:\n  lookback: 24\nmodel:\n  hidden_size: 8\n"
    with pytest.raises(yaml.YAMLError, match=r"the key 'model' is written twice in one mapping "
                                             r"\(lines 3 and 5\)"):
        yamlio.load(text)
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(yaml.YAMLError, match=r'(?s)written twice.*in "' + re.escape(str(path))):
        load_config(path)
    with pytest.raises(yaml.YAMLError, match="'lookback' is written twice"):
        yamlio.load("model: {lookback: 1, lookback: 2}")
    # a merged mapping's key may be written again, as YAML allows; lists repeat freely
    assert yamlio.load("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2") == {"base": {"x": 1},
                                                                "other": {"x": 2}}
    assert yamlio.load("- a: 1\n- a: 2") == [{"a": 1}, {"a": 2}]
