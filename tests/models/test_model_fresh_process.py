"""Models saved here load in a fresh interpreter and predict the same.

One child process saves torch models whose class lives in its ``__main__`` (a script);
one more loads every model of the module (one interpreter start for all flavors).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _model_objects import ThresholdModel

from runtrack.models import read_model_info, save_model

np = pytest.importorskip("numpy")

HERE = Path(__file__).resolve().parent
HAS = {
    name: importlib.util.find_spec(name) is not None
    for name in ("sklearn", "torch", "xgboost", "lightgbm")
}

TRAIN_SCRIPT = """
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from runtrack.models import read_model_info, save_model


class ScriptNet(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out)

    def forward(self, x):
        return torch.tanh(self.norm(self.lin(x)))


class Unscriptable(nn.Module):
    def forward(self, x):
        return [v * 2 for v in x.tolist()]  # a comprehension over a list: not scriptable


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    net = ScriptNet(4, 3)
    net(torch.rand(16, 4))  # train mode: moves the batch-norm statistics
    x = torch.rand(7, 4)
    np.save(out / "script_x.npy", x.numpy())
    net.eval()
    with torch.no_grad():
        np.save(out / "script_expected.npy", net(x).numpy())
    net.train()
    save_model(net, out / "torch_main_export", input_example=x[:1])
    save_model(
        net, out / "torch_main_code", init_kwargs={"n_in": 4, "n_out": 3}, code_paths=[__file__]
    )
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_model(Unscriptable(), out / "torch_main_only")
    (out / "warnings.txt").write_text("\\n".join(str(w.message) for w in caught))
"""

LOADER = """
import json, sys, warnings
warnings.simplefilter("error")
import numpy as np
from runtrack.models import load_model_dir, read_model_info

results = {}
for case in json.loads(sys.argv[1]):
    try:
        model = load_model_dir(case["dir"])
        X = np.load(case["x"])
        call = case["call"]
        if call == "forward":
            import torch
            with torch.no_grad():
                y = model(torch.from_numpy(X)).numpy()
        elif call == "rows":
            y = np.asarray(model.predict(X.tolist()))
        else:
            y = getattr(model, call)(X)
        np.save(case["out"], np.asarray(y))
        cls = type(model)
        results[case["name"]] = {
            "class": cls.__module__ + "." + cls.__qualname__,
            "training": getattr(model, "training", None),
            "loader": read_model_info(case["dir"])["load"].get("loader"),
            "torch_loaded": "torch" in sys.modules,
        }
        if cls.__name__ == "ExportedModule":
            model.eval()
            try:
                model.train()
            except Exception as exc:
                results[case["name"]]["train_error"] = type(exc).__name__ + ": " + str(exc)
    except Exception as exc:
        results[case["name"]] = {"error": repr(exc)}
print(json.dumps(results))
"""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


class Cases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[dict[str, str]] = []

    def add(self, name: str, model: Any, X: Any, expected: Any, call: str, **save: Any) -> None:
        x_path, exp_path = self.root / f"{name}_x.npy", self.root / f"{name}_expected.npy"
        np.save(x_path, X)
        np.save(exp_path, np.asarray(expected))
        save_model(model, self.root / name, **save)
        self.add_saved(name, x_path, exp_path, call)

    def add_saved(self, name: str, x_path: Path, exp_path: Path, call: str) -> None:
        out = self.root / f"{name}_out.npy"
        self.items.append(
            {
                "name": name,
                "dir": str(self.root / name),
                "x": str(x_path),
                "expected": str(exp_path),
                "out": str(out),
                "call": call,
            }
        )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Save one model per flavor, load them all in one new interpreter."""
    root = tmp_path_factory.mktemp("fresh")
    env = _child_env()
    trainer = None
    if HAS["torch"]:  # runs while this process builds the other models
        script = root / "scripts" / "trainscript.py"
        script.parent.mkdir()
        script.write_text(TRAIN_SCRIPT)
        trainer = subprocess.Popen(
            [sys.executable, "-W", "error", str(script), str(root)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    rng = np.random.RandomState(1)
    X = rng.rand(60, 4)
    y = (X[:, 0] > X[:, 2]).astype(np.int64)
    cases = Cases(root)
    model = ThresholdModel(0.5)
    cases.add("pickle", model, X, model.predict(X.tolist()), "rows", input_example=X.tolist())
    if HAS["sklearn"]:
        from sklearn.ensemble import RandomForestClassifier

        rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        cases.add("sklearn", rf, X, rf.predict_proba(X), "predict_proba", input_example=X)
    if HAS["xgboost"]:
        import xgboost as xgb

        clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
        cases.add("xgboost", clf, X, clf.predict_proba(X), "predict_proba")
        booster = clf.get_booster()
        cases.add("xgboost_booster", booster, X, booster.inplace_predict(X), "inplace_predict")
    if HAS["lightgbm"]:
        import lightgbm as lgb

        lclf = lgb.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(X, y)
        cases.add("lightgbm", lclf, X, lclf.predict_proba(X), "predict_proba")
        lb = lclf.booster_
        cases.add("lightgbm_booster", lb, X, lb.predict(X), "predict")
    if HAS["torch"]:
        import torch
        from _model_nets import TinyNet

        torch.manual_seed(0)
        net = TinyNet(4, 2).eval()
        Xf = X.astype(np.float32)
        with torch.no_grad():
            expected = net(torch.from_numpy(Xf)).numpy()
        cases.add("torch_class", net, Xf, expected, "forward", init_kwargs={"n_in": 4, "n_out": 2})

    if trainer is not None:
        _, err = trainer.communicate(timeout=120)
        assert trainer.returncode == 0, err
        for name in ("torch_main_export", "torch_main_code", "torch_main_only"):
            cases.add_saved(name, root / "script_x.npy", root / "script_expected.npy", "forward")

    proc = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(cases.items)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    return {c["name"]: {**c, **results[c["name"]]} for c in cases.items}


NEEDS = {
    "pickle": None,
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "xgboost_booster": "xgboost",
    "lightgbm": "lightgbm",
    "lightgbm_booster": "lightgbm",
    "torch_class": "torch",
    "torch_main_export": "torch",
    "torch_main_code": "torch",
}


@pytest.mark.parametrize("name", list(NEEDS))
def test_fresh_process_predicts_the_same(name: str, fresh: dict[str, Any]) -> None:
    if NEEDS[name] and not HAS[NEEDS[name]]:
        pytest.skip(f"{NEEDS[name]} is not installed")
    case = fresh[name]
    assert "error" not in case, case["error"]
    got, expected = np.load(case["out"]), np.load(case["expected"])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_fresh_process_rebuilds_the_right_objects(fresh: dict[str, Any]) -> None:
    assert fresh["pickle"]["class"] == "_model_objects.ThresholdModel"
    assert not fresh["pickle"]["torch_loaded"]  # loading a pickle model imports no torch
    if HAS["torch"]:
        assert fresh["torch_class"]["class"] == "_model_nets.TinyNet"
        assert fresh["torch_class"]["loader"] == "class"
        assert fresh["torch_class"]["training"] is False
        export = fresh["torch_main_export"]
        assert export["loader"] == "torch_export", export
        assert export["class"] == "runtrack.models._torch_export.ExportedModule"
        assert export["training"] is False
        assert export["train_error"].startswith("ValidationError: this model was loaded from")
        code = fresh["torch_main_code"]
        assert code["loader"] == "class" and code["class"] == "trainscript.ScriptNet", code
        assert code["training"] is False
    if HAS["xgboost"]:
        assert fresh["xgboost"]["class"] == "xgboost.sklearn.XGBClassifier"
    if HAS["lightgbm"]:
        assert fresh["lightgbm_booster"]["class"] == "lightgbm.basic.Booster"


def test_main_class_without_portable_copy_loads_only_where_main_defines_it(
    fresh: dict[str, Any],
) -> None:
    if not HAS["torch"]:
        pytest.skip("torch is not installed")
    case = fresh["torch_main_only"]
    caught = (Path(case["dir"]).parent / "warnings.txt").read_text()
    assert "Unscriptable is defined in __main__ and no portable copy could be made" in caught
    assert read_model_info(case["dir"])["load"]["class"] == "__main__:Unscriptable"
    assert case["error"].startswith("ValidationError(")
    assert "whose __main__ defines it" in case["error"]
