"""runtrack's YAML loader: PyYAML's safe loader reading YAML 1.2 exponent floats."""

from __future__ import annotations

import math

import pytest

from runtrack import _yaml
from runtrack.errors import ValidationError
from runtrack.sweeps.spec import load_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-4", 1e-4),
        ("-2E+3", -2000.0),
        ("+3e2", 300.0),
        (".5e-2", 0.005),
        ("1.5e3", 1500.0),  # YAML 1.1 forms keep working
        ("0.1", 0.1),
        ("10", 10),
        ("1_000e2", 100000.0),
    ],
)
def test_numbers(text: str, value: float) -> None:
    got = _yaml.safe_load(f"v: {text}")["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["1e", "e5", "1e-4x", "'1e-4'", "1.2.3e4", "v1e4"])
def test_strings_stay_strings(text: str) -> None:
    assert isinstance(_yaml.safe_load(f"v: {text}")["v"], str)


def test_hex_is_not_an_exponent() -> None:
    assert _yaml.safe_load("v: 0x1e")["v"] == 30


def test_infinity_and_still_safe() -> None:
    assert math.isinf(_yaml.safe_load("v: .inf")["v"])
    with pytest.raises(_yaml.YAMLError):
        _yaml.safe_load("v: !!python/object/apply:os.system ['true']")


def test_a_sweep_spec_with_exponent_bounds() -> None:
    spec = load_yaml(
        "metric: {name: loss, goal: minimize}\n"
        "parameters:\n"
        "  lr: {distribution: log_uniform, min: 1e-4, max: 1e-1}\n"
        "  wd: {distribution: uniform, min: 0, max: 5E-2}\n"
    )
    assert spec["parameters"]["lr"]["min"] == 1e-4
    assert spec["parameters"]["wd"]["max"] == 0.05
    with pytest.raises(ValidationError, match=r"parameters\.lr\.min: '1e-4' must be a number"):
        load_yaml(
            "metric: {name: loss}\n"
            "parameters: {lr: {distribution: log_uniform, min: '1e-4', max: 1}}\n"
        )


def _alias_bomb(levels: int) -> str:
    """Each level a list of nine references to the level before: 9**levels strings."""
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once() -> None:
    import time

    started = time.process_time()
    with pytest.raises(_yaml.YAMLError, match="expands to more than 100,000 values"):
        _yaml.safe_load(_alias_bomb(8))  # 43 million strings from 400 bytes
    assert time.process_time() - started < 5  # linear in the document, not in 9**8
    with pytest.raises(ValidationError, match="not valid YAML: the document expands"):
        load_yaml("metric: {name: y}\n" + _alias_bomb(8))


def test_a_document_that_contains_itself_or_nests_too_deep_is_refused() -> None:
    with pytest.raises(_yaml.YAMLError, match="contains itself"):
        _yaml.safe_load("a: &a [1, *a]\n")
    with pytest.raises(_yaml.YAMLError, match="nests more than 100 levels"):
        _yaml.safe_load("a: " + "[" * 101 + "]" * 101 + "\n")
    assert _yaml.safe_load("a: " + "[" * 99 + "]" * 99 + "\n")["a"]


def test_aliases_used_a_few_times_are_fine() -> None:
    doc = _yaml.safe_load(_alias_bomb(3) + "base: &b {lr: 0.1}\nother: {<<: *b, wd: 1}\n")
    assert len(doc["l2"]) == 9 and doc["l2"][0][0] == ["x"] * 9
    assert doc["other"] == {"lr": 0.1, "wd": 1}
