"""Config normalisation, flattening and merging (runtrack.client._config)."""

from __future__ import annotations

import argparse
import enum
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from runtrack.client._config import (
    MAX_DEPTH,
    flatten_config,
    merge_config,
    normalize_config,
)
from runtrack.entities import FrozenMap
from runtrack.errors import ConfigError, ValidationError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1


class Mode(enum.StrEnum):
    TRAIN = "train"


@dataclass
class Optim:
    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class TrainConfig:
    epochs: int = 10
    optim: Optim = field(default_factory=Optim)
    color: Color = Color.RED
    out: Path = Path("/tmp/out")


# --------------------------------------------------------------------------------------
# accepted inputs
# --------------------------------------------------------------------------------------
def test_none_is_empty() -> None:
    assert normalize_config(None) == {}


def test_plain_types_are_kept() -> None:
    config = {
        "i": 3,
        "f": 0.5,
        "b": True,
        "n": None,
        "s": "adam",
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "nested": {"depth": 6, "list": [1, 2.0, "x", None, [True]]},
    }
    out = normalize_config(config)
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    assert math.isnan(out["nan"]) and out["inf"] == math.inf and out["ninf"] == -math.inf
    assert out["nested"] == {"depth": 6, "list": [1, 2.0, "x", None, [True]]}
    assert type(out["nested"]["list"][1]) is float
    out["nested"]["depth"] = 7
    assert config["nested"]["depth"] == 6  # type: ignore[index]  # a copy, never the input


def test_containers_become_lists_and_sets_are_sorted() -> None:
    out = normalize_config({"t": (1, 2), "s": {3, 1, 2}, "fs": frozenset({"b", "a"})})
    assert out == {"t": [1, 2], "s": [1, 2, 3], "fs": ["a", "b"]}
    mixed = normalize_config({"m": {1, "a", None}})["m"]
    assert sorted(map(repr, mixed)) == sorted(["1", "'a'", "None"])
    assert normalize_config({"m": {1, "a", None}})["m"] == mixed  # deterministic


def test_mapping_subclasses_and_frozenmap() -> None:
    assert normalize_config(OrderedDict(a=1)) == {"a": 1}
    out = normalize_config(FrozenMap({"a": {"b": [1, 2]}}))
    assert out == {"a": {"b": [1, 2]}} and type(out["a"]) is dict and type(out["a"]["b"]) is list


def test_argparse_namespace() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args(["--fast"])
    assert normalize_config(args) == {"lr": 0.01, "layers": [1, 2], "fast": True}


def test_dataclass_recursively() -> None:
    out = normalize_config(TrainConfig())
    assert out == {
        "epochs": 10,
        "optim": {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999]},
        "color": "red",
        "out": "/tmp/out",
    }
    assert normalize_config({"cfg": TrainConfig(epochs=3)})["cfg"]["epochs"] == 3


def test_omegaconf_dictconfig_is_resolved() -> None:
    cfg = OmegaConf.create(
        {"lr": 0.1, "model": {"depth": 4, "width": "${model.depth}"}, "layers": [1, {"a": 2}]}
    )
    out = normalize_config(cfg)
    assert out == {"lr": 0.1, "model": {"depth": 4, "width": 4}, "layers": [1, {"a": 2}]}
    assert type(out["model"]) is dict
    nested = normalize_config({"outer": cfg.model, "lst": cfg.layers})
    assert nested == {"outer": {"depth": 4, "width": 4}, "lst": [1, {"a": 2}]}


def test_omegaconf_structured_config_with_enum() -> None:
    out = normalize_config(OmegaConf.structured(TrainConfig))
    assert out["color"] == "red" and out["optim"]["betas"] == [0.9, 0.999]


def test_omegaconf_bad_interpolation_is_config_error() -> None:
    cfg = OmegaConf.create({"a": "${missing.key}"})
    with pytest.raises(ConfigError, match="could not be resolved"):
        normalize_config(cfg)


def test_numpy_values() -> None:
    out = normalize_config(
        {
            "i": np.int64(3),
            "f": np.float32(0.5),
            "f64": np.float64(0.25),
            "b": np.bool_(True),
            "s": np.str_("x"),
            "arr": np.arange(4),
            "mat": np.ones((2, 2)),
            "zero_d": np.array(7),
        }
    )
    assert out == {
        "i": 3,
        "f": 0.5,
        "f64": 0.25,
        "b": True,
        "s": "x",
        "arr": [0, 1, 2, 3],
        "mat": [[1.0, 1.0], [1.0, 1.0]],
        "zero_d": 7,
    }
    assert [type(out[k]) for k in ("i", "f", "f64", "b", "s", "zero_d")] == [
        int,
        float,
        float,
        bool,
        str,
        int,
    ]
    assert type(out["arr"][0]) is int
    json.dumps(out)


def test_paths_enums_and_dates() -> None:
    out = normalize_config(
        {
            "p": Path("data") / "x.csv",
            "pp": PurePosixPath("/a/b"),
            "c": Color.BLUE,
            "lvl": Level.LOW,
            "mode": Mode.TRAIN,
            "dt": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "d": date(2024, 1, 2),
            "t": time(12, 30),
        }
    )
    assert out == {
        "p": str(Path("data") / "x.csv"),
        "pp": "/a/b",
        "c": "blue",
        "lvl": 1,
        "mode": "train",
        "dt": "2024-01-02T03:04:05+00:00",
        "d": "2024-01-02",
        "t": "12:30:00",
    }
    assert type(out["lvl"]) is int and type(out["mode"]) is str


def test_str_and_number_subclasses_become_builtins() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    out = normalize_config({Name("k"): Name("v"), "n": Count(3)})
    assert out == {"k": "v", "n": 3}
    assert [type(k) for k in out] == [str, str] and type(out["k"]) is str
    assert type(out["n"]) is int


def test_strenum_keys_are_accepted() -> None:
    assert normalize_config({Mode.TRAIN: 1}) == {"train": 1}


def test_dotted_keys_without_collision_are_allowed() -> None:
    assert normalize_config({"a.b": 1, "a": {"c": 2}}) == {"a.b": 1, "a": {"c": 2}}


# --------------------------------------------------------------------------------------
# rejections
# --------------------------------------------------------------------------------------
def _fn() -> None:
    pass


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"model": {"act": _fn}},
            "config value at 'model.act' has type function, which cannot be recorded; "
            "use a str, number, bool, None, list or dict",
        ),
        ({"b": b"bytes"}, "config value at 'b' has type bytes"),
        ({"c": 1 + 2j}, "config value at 'c' has type complex"),
        ({"o": object()}, "config value at 'o' has type object"),
        ({"l": [1, [2, _fn]]}, "config value at 'l[1][1]' has type function"),
        ({"big": np.zeros(1001)}, "config value at 'big' is an array of 1,001 elements"),
        ({"dt64": np.zeros(3, dtype="V2")}, None),
        ({1: "x"}, "config key 1 at the top level has type int; config keys must be str"),
        ({"a": {None: 1}}, "config key None at 'a' has type NoneType"),
        ({"a": {("t",): 1}}, "has type tuple; config keys must be str"),
        ({"": 1}, "config key at the top level is empty"),
        ({"k" * 251: 1}, "is 251 characters long; config keys are at most 250"),
        ({"a\nb": 1}, "contains a control character"),
        ({"a\x00": 1}, "contains a control character"),
        ({"a\x7fb": 1}, "contains a control character"),
        ({"a.b": 1, "a": {"b": 2}}, "config key 'a.b' is given twice"),
        ({"x": {"a.b": 1, "a": {"b": 2}}}, "config key 'x.a.b' is given twice"),
        ({"a.b": 1, "a": {"b": {"c": 2}}}, "'a.b' is both a value and a section"),
    ],
)
def test_rejections(config: dict[Any, Any], message: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_config(config)
    if message is not None:
        assert message in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_long_keys_up_to_250_are_fine() -> None:
    assert normalize_config({"k" * 250: 1}) == {"k" * 250: 1}


@pytest.mark.parametrize("top", [[1, 2], "lr=0.1", 3, b"x", OmegaConf.create([1, 2])])
def test_top_level_must_be_mapping_like(top: object) -> None:
    with pytest.raises(ConfigError, match=r"config has type .* which cannot be recorded"):
        normalize_config(top)


def test_too_deep_is_config_error_not_recursion_error() -> None:
    ok: dict[str, Any] = {}
    node = ok
    for _ in range(MAX_DEPTH - 1):
        node["a"] = {}
        node = node["a"]
    normalize_config(ok)

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match="nested more than 50 levels"):
        normalize_config(deep)

    lst: list[Any] = []
    cur = lst
    for _ in range(5000):
        cur.append([])
        cur = cur[0]
    with pytest.raises(ConfigError, match="nested more than 50 levels"):
        normalize_config({"l": lst})


def test_cycles_are_config_errors() -> None:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    with pytest.raises(ConfigError, match="'self' contains itself"):
        normalize_config(d)
    lst: list[Any] = [1]
    lst.append(lst)
    with pytest.raises(ConfigError, match=r"'l\[1\]' contains itself"):
        normalize_config({"l": lst})

    @dataclass
    class Node:
        child: Any = None

    root = Node()
    root.child = Node(child=root)
    with pytest.raises(ConfigError, match="contains itself"):
        normalize_config(root)


def test_shared_but_acyclic_values_are_fine() -> None:
    shared = {"x": 1}
    assert normalize_config({"a": shared, "b": shared, "c": [shared, shared]}) == {
        "a": {"x": 1},
        "b": {"x": 1},
        "c": [{"x": 1}, {"x": 1}],
    }


# --------------------------------------------------------------------------------------
# flatten / merge
# --------------------------------------------------------------------------------------
def test_flatten() -> None:
    config = {"lr": 0.1, "model": {"depth": 6, "act": {"name": "relu"}}, "l": [1, {"a": 2}]}
    assert flatten_config(config) == {
        "lr": 0.1,
        "model.depth": 6,
        "model.act.name": "relu",
        "l": [1, {"a": 2}],
    }
    assert flatten_config({"empty": {}, "a": {"b": {}}}) == {"empty": {}, "a.b": {}}
    assert flatten_config(FrozenMap({"a": {"b": [1, 2]}})) == {"a.b": [1, 2]}
    assert flatten_config({}) == {}


def test_merge_adds_keys_at_any_depth() -> None:
    recorded = {"lr": 0.001, "model": {"depth": 6}}
    merged = merge_config(recorded, {"epochs": 10, "model": {"width": 128}})
    assert merged == {"lr": 0.001, "model": {"depth": 6, "width": 128}, "epochs": 10}
    assert recorded == {"lr": 0.001, "model": {"depth": 6}}  # not modified


def test_merge_accepts_identical_values() -> None:
    recorded = {"lr": 0.001, "nan": math.nan, "l": [1, 2], "m": {"a": None}, "n": 10.0}
    merged = merge_config(recorded, {"lr": 0.001, "nan": float("nan"), "l": (1, 2), "n": 10})
    assert merged["lr"] == 0.001 and math.isnan(merged["nan"]) and merged["n"] == 10.0
    assert type(merged["n"]) is float  # the recorded value stays


def test_merge_refuses_changes() -> None:
    with pytest.raises(ConfigError) as info:
        merge_config({"lr": 0.001}, {"lr": 0.01})
    assert str(info.value) == (
        "config key 'lr' is already recorded as 0.001; recorded values cannot change (got 0.01)"
    )
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"m": {"d": 6}}, {"m": {"d": 7}}, "'m.d' is already recorded as 6"),
        ({"m": {"d": 6}}, {"m": 1}, "'m' is already recorded as {'d': 6}"),
        ({"m": 1}, {"m": {"d": 1}}, "'m' is already recorded as 1"),
        ({"flag": 1}, {"flag": True}, "'flag' is already recorded as 1"),
        ({"s": "adam"}, {"s": "sgd"}, "recorded as 'adam'; recorded values cannot change"),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, "'l' is already recorded as [1, 2]"),
        ({"x": None}, {"x": 0}, "'x' is already recorded as None"),
        ({"n": math.nan}, {"n": 1.0}, "'n' is already recorded as nan"),
    ]
    for recorded, update, message in cases:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            merge_config(recorded, update)


def test_merge_validates_the_update_and_collisions() -> None:
    with pytest.raises(ConfigError, match="has type function"):
        merge_config({}, {"f": _fn})
    with pytest.raises(ConfigError, match="given twice"):
        merge_config({"a": {"b": 1}}, {"a.b": 1})
    assert merge_config({"a": 1}, FrozenMap({"b": {"c": 2}})) == {"a": 1, "b": {"c": 2}}
