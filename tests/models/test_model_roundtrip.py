"""save_model -> load_model_dir in this process, for every flavor; documents, signatures,
warnings and errors."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from _model_objects import ThresholdModel

from runtrack.errors import ValidationError
from runtrack.models import (
    DOCUMENT_FILE,
    ModelEnvironmentWarning,
    ModelWarning,
    detect_flavor,
    load_input_example,
    load_model_dir,
    read_model_info,
    save_model,
)

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any]:
    rng = np.random.RandomState(0)
    X = rng.rand(80, 4)
    y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
    return X, y


def edit_document(directory: Path, **changes: Any) -> None:
    path = directory / DOCUMENT_FILE
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


# -- sklearn ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline(data: tuple[Any, Any]) -> Any:
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)


def test_sklearn_pipeline_round_trip_and_document(
    pipeline: Any, data: tuple[Any, Any], tmp_path: Path
) -> None:
    X, _ = data
    doc = save_model(pipeline, tmp_path / "m", input_example=X, metadata={"team": "churn"})

    loaded = load_model_dir(tmp_path / "m")
    assert type(loaded) is type(pipeline)
    assert (loaded.predict(X) == pipeline.predict(X)).all()
    assert np.allclose(loaded.predict_proba(X), pipeline.predict_proba(X))

    assert read_model_info(tmp_path / "m") == doc
    assert doc["flavor"] == "sklearn" and doc["class"] == "sklearn.pipeline.Pipeline"
    assert doc["load"] == {
        "format": "joblib",
        "file": "model.joblib",
        "main_references": [],
        "files": ["model.joblib"],
    }
    assert doc["files"] == ["input_example.npy", "model.joblib"]
    assert doc["metadata"] == {"team": "churn"}
    assert doc["signature"] == {
        "inputs": [{"name": None, "dtype": "float64", "shape": [-1, 4]}],
        "outputs": [
            {"name": "predict", "dtype": "int64", "shape": [-1]},
            {"name": "predict_proba", "dtype": "float64", "shape": [-1, 2]},
        ],
    }
    example = load_input_example(tmp_path / "m")
    assert example.shape == (5, 4) and np.array_equal(example, X[:5])


def test_environment_is_recorded(pipeline: Any, tmp_path: Path) -> None:
    import sklearn

    doc = save_model(pipeline, tmp_path / "m")
    assert doc["library"] == {
        "name": "scikit-learn",
        "module": "sklearn",
        "version": sklearn.__version__,
    }
    assert doc["libraries"]["scikit-learn"] == sklearn.__version__
    assert doc["libraries"]["numpy"] == np.__version__
    assert doc["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    packages = doc["packages"]
    names = [p.partition("==")[0] for p in packages]
    assert names == sorted(set(names))
    assert f"numpy=={np.__version__}" in packages
    assert any(p.startswith("scikit-learn==") for p in packages)
    assert doc["signature"] is None and "signature_error" not in doc
    assert doc["input_example"] is None


def test_version_mismatch_warns(pipeline: Any, tmp_path: Path) -> None:
    save_model(pipeline, tmp_path / "m")
    doc = read_model_info(tmp_path / "m")
    edit_document(tmp_path / "m", libraries={**doc["libraries"], "scikit-learn": "0.0.1"})
    with pytest.warns(ModelEnvironmentWarning, match=r"scikit-learn 0\.0\.1 -> "):
        loaded = load_model_dir(tmp_path / "m")
    assert type(loaded) is type(pipeline)


def test_missing_library_names_package_and_version(pipeline: Any, tmp_path: Path) -> None:
    save_model(pipeline, tmp_path / "m")
    edit_document(
        tmp_path / "m",
        library={"name": "nosuch-ml", "module": "runtrack_nosuch_ml", "version": "3.1.4"},
    )
    with pytest.raises(ValidationError, match=r"needs nosuch-ml .*3\.1\.4.*pip install"):
        load_model_dir(tmp_path / "m")


def test_signature_failure_does_not_fail_the_save(pipeline: Any, tmp_path: Path) -> None:
    wrong = np.zeros((3, 7))  # the pipeline expects 4 features
    doc = save_model(pipeline, tmp_path / "m", input_example=wrong)
    assert doc["signature"] is None
    assert "ValueError" in doc["signature_error"] and "features" in doc["signature_error"]
    assert doc["input_example"]["shape"] == [3, 7]
    assert load_model_dir(tmp_path / "m") is not None


def test_given_signature_overrides(pipeline: Any, data: tuple[Any, Any], tmp_path: Path) -> None:
    sig = {"inputs": [{"name": "x", "dtype": "float32", "shape": (-1, 4)}], "outputs": []}
    doc = save_model(pipeline, tmp_path / "m", input_example=data[0], signature=sig)
    assert doc["signature"] == {
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
        "outputs": [],
    }
    with pytest.raises(ValidationError, match="signature must be a mapping"):
        save_model(pipeline, tmp_path / "n", signature={"in": []})


# -- pytorch ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def test_torch_importable_class_round_trip(torch: Any, tmp_path: Path) -> None:
    from _model_nets import TinyNet

    torch.manual_seed(0)
    net = TinyNet(4, 3)
    net.train()
    x = torch.rand(6, 4)
    doc = save_model(net, tmp_path / "m", input_example=x, init_kwargs={"n_in": 4, "n_out": 3})

    assert net.training  # inference ran in eval mode and restored the caller's mode
    assert doc["load"]["loader"] == "class"
    assert doc["load"]["class"] == "_model_nets:TinyNet"
    assert doc["load"]["init_kwargs"] == {"n_in": 4, "n_out": 3}
    assert doc["files"] == ["input_example.npy", "state_dict.pt"]
    assert doc["signature"] == {
        "inputs": [{"name": None, "dtype": "float32", "shape": [-1, 4]}],
        "outputs": [{"name": "output", "dtype": "float32", "shape": [-1, 3]}],
    }
    loaded = load_model_dir(tmp_path / "m")
    assert type(loaded) is TinyNet and not loaded.training
    net.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    example = load_input_example(tmp_path / "m")
    assert isinstance(example, torch.Tensor) and torch.equal(example, x[:5])


def test_torch_dict_outputs_and_no_init_args(torch: Any, tmp_path: Path) -> None:
    from _model_nets import TwoHeads

    net = TwoHeads().eval()
    x = np.ones((2, 3), dtype=np.float32)  # a numpy example is fed as a tensor
    doc = save_model(net, tmp_path / "m", input_example=x)
    assert doc["load"]["init_kwargs"] is None
    assert doc["signature"]["outputs"] == [
        {"name": "logits", "dtype": "float32", "shape": [-1, 2]},
        {"name": "score", "dtype": "float64", "shape": [-1]},
    ]
    loaded = load_model_dir(tmp_path / "m")
    t = torch.from_numpy(x)
    assert torch.equal(loaded(t)["score"], net(t)["score"])


def test_torch_needing_init_args_without_init_kwargs(torch: Any, tmp_path: Path) -> None:
    from _model_nets import TinyNet

    with pytest.raises(ValidationError, match=r"needs n_in, n_out.*init_kwargs=\{"):
        save_model(TinyNet(4, 3), tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []  # a failed save leaves nothing behind


def test_torch_init_kwargs_that_build_another_model(torch: Any, tmp_path: Path) -> None:
    from _model_nets import TinyNet

    with pytest.raises(ValidationError, match=r"parameters differ.*body\.0\.weight"):
        save_model(TinyNet(4, 3), tmp_path / "m", init_kwargs={"n_in": 5, "n_out": 3})
    with pytest.raises(ValidationError, match="init_kwargs do not fit TinyNet"):
        save_model(TinyNet(4, 3), tmp_path / "m", init_kwargs={"n_in": 4, "width": 3})
    with pytest.raises(ValidationError, match="init_kwargs must hold only JSON"):
        save_model(TinyNet(4, 3), tmp_path / "m", init_kwargs={"n_in": object()})


def test_torch_local_class_is_saved_as_torchscript(torch: Any, tmp_path: Path) -> None:
    class Local(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * 2

    net = Local()
    doc = save_model(net, tmp_path / "m")  # no example: torch.jit.script
    assert doc["load"]["loader"] == "torchscript" and doc["load"]["portable"] == "model.ts"
    loaded = load_model_dir(tmp_path / "m")
    x = torch.rand(3, 2)
    assert not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x))


def test_torch_local_class_without_portable_copy_is_refused(torch: Any, tmp_path: Path) -> None:
    class Unscriptable(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return [v * 2 for v in x.tolist()]  # comprehension over a list: not scriptable

    with pytest.raises(ValidationError, match=r"cannot be imported by name.*jit.script failed"):
        save_model(Unscriptable(), tmp_path / "m")


def test_forced_flavor_must_fit(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"flavor 'pytorch' saves torch.nn.Module.*'pickle'"):
        save_model([1, 2], tmp_path / "m", flavor="pytorch")
    with pytest.raises(ValidationError, match="unknown model flavor 'onnx'"):
        save_model([1, 2], tmp_path / "m", flavor="onnx")


# -- xgboost / lightgbm -------------------------------------------------------------------
def test_xgboost_booster_and_classifier(data: tuple[Any, Any], tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = data
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    assert detect_flavor(clf) == "xgboost" and detect_flavor(clf.get_booster()) == "xgboost"

    doc = save_model(clf, tmp_path / "clf", input_example=X)
    assert doc["load"]["kind"] == "sklearn" and doc["load"]["class"] == "XGBClassifier"
    assert doc["load"]["file"] == "model.ubj"
    assert doc["signature"]["outputs"][1] == {
        "name": "predict_proba",
        "dtype": "float32",
        "shape": [-1, 2],
    }
    loaded = load_model_dir(tmp_path / "clf")
    assert type(loaded) is xgb.XGBClassifier
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))

    save_model(clf.get_booster(), tmp_path / "booster", input_example=X)
    booster = load_model_dir(tmp_path / "booster")
    assert np.array_equal(booster.inplace_predict(X), clf.get_booster().inplace_predict(X))


def test_xgboost_unfitted_model_is_a_clear_error(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    with pytest.raises(ValidationError, match=r"could not save the xgboost.sklearn.XGBRegressor"):
        save_model(xgb.XGBRegressor(), tmp_path / "m")


def test_lightgbm_booster_and_classifier(data: tuple[Any, Any], tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    clf = lgb.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(X, y)
    assert detect_flavor(clf) == "lightgbm"

    doc = save_model(clf, tmp_path / "clf", input_example=X)
    assert doc["load"]["format"] == "joblib" and doc["load"]["booster"] == "booster.txt"
    loaded = load_model_dir(tmp_path / "clf")
    assert type(loaded) is lgb.LGBMClassifier
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    native = lgb.Booster(model_file=str(tmp_path / "clf" / "booster.txt"))  # pickle-free copy
    assert np.allclose(native.predict(X), clf.predict_proba(X)[:, 1])

    doc = save_model(clf.booster_, tmp_path / "booster", input_example=X)
    assert doc["load"]["format"] == "text" and doc["files"][-1] == "model.txt"
    assert doc["signature"]["outputs"] == [{"name": "predict", "dtype": "float64", "shape": [-1]}]
    booster = load_model_dir(tmp_path / "booster")
    assert np.array_equal(booster.predict(X), clf.booster_.predict(X))


# -- pickle -------------------------------------------------------------------------------
def test_pickle_fallback_with_a_json_example(tmp_path: Path) -> None:
    model = ThresholdModel(0.5)
    rows = [[0.1, 2.0], [0.9, 1.0], [0.7, 0.0], [0.2, 1.0], [0.6, 3.0], [0.8, 0.5]]
    assert detect_flavor(model) == "pickle"
    doc = save_model(model, tmp_path / "m", input_example=rows)
    assert doc["load"]["format"] == "joblib"
    assert doc["input_example"] == {"file": "input_example.json", "type": "json"}
    assert load_input_example(tmp_path / "m") == rows[:5]
    assert doc["signature"] == {
        "inputs": [{"name": None, "dtype": "float64", "shape": [-1, 2]}],
        "outputs": [{"name": "predict", "dtype": "int64", "shape": [-1]}],
    }
    assert load_model_dir(tmp_path / "m") == model


def test_unstorable_example_does_not_fail_the_save(tmp_path: Path) -> None:
    doc = save_model({"w": 1}, tmp_path / "m", input_example={"when": object()})
    assert doc["input_example"] is None and "cannot be stored" in doc["input_example_error"]
    assert doc["files"] == ["model.joblib"]
    assert load_model_dir(tmp_path / "m") == {"w": 1}


class HoldsLambda:
    def __init__(self) -> None:
        self.fn = lambda x: x


class HoldsLock:
    def __init__(self) -> None:
        self.lock = threading.Lock()


@pytest.mark.parametrize(
    ("obj", "reason"),
    [(HoldsLambda(), "lambda"), (HoldsLock(), "_thread.lock")],
    ids=["lambda", "lock"],
)
def test_unpicklable_objects_are_refused(obj: Any, reason: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=rf"cannot be pickled \(.*{reason}.*module level"):
        save_model(obj, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_main_references_warn_and_fail_clearly_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class MainThing:
        pass

    MainThing.__module__, MainThing.__qualname__ = "__main__", "MainThing"
    main = sys.modules["__main__"]
    with monkeypatch.context() as patch:
        patch.setattr(main, "MainThing", MainThing, raising=False)
        with pytest.warns(ModelWarning, match="refers to MainThing, defined in the script"):
            doc = save_model(MainThing(), tmp_path / "m")
        assert doc["load"]["main_references"] == ["MainThing"]
        assert type(load_model_dir(tmp_path / "m")) is MainThing
    with pytest.raises(ValidationError, match="defined in the script that saved it"):
        load_model_dir(tmp_path / "m")


# -- bad inputs and documents -------------------------------------------------------------
def test_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "stale.bin").write_bytes(b"x")
    with pytest.raises(ValidationError, match="is not empty"):
        save_model({"w": 1}, tmp_path / "m")
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["stale.bin"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="metadata must hold only JSON"):
        save_model({"w": 1}, tmp_path / "m", metadata={"x": {1, 2}})
    with pytest.raises(ValidationError, match="init_kwargs are used only by the pytorch"):
        save_model({"w": 1}, tmp_path / "m", init_kwargs={"a": 1})
    with pytest.raises(ValidationError, match=r"code path .* does not exist"):
        save_model({"w": 1}, tmp_path / "m", code_paths=[str(tmp_path / "missing.py")])
    assert list((tmp_path / "m").iterdir()) == []


def test_documents_that_cannot_be_loaded(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a runtrack model directory"):
        load_model_dir(tmp_path)
    save_model({"w": 1}, tmp_path / "m")
    edit_document(tmp_path / "m", format_version=99)
    with pytest.raises(ValidationError, match=r"format version 99.*upgrade runtrack"):
        read_model_info(tmp_path / "m")
    edit_document(tmp_path / "m", format_version=1, flavor="onnx")
    with pytest.raises(ValidationError, match="unknown model flavor 'onnx'"):
        load_model_dir(tmp_path / "m")
    edit_document(tmp_path / "m", flavor="pickle", load={"format": "joblib", "file": "../x"})
    with pytest.raises(ValidationError, match=r"invalid file path: '\.\./x'"):
        load_model_dir(tmp_path / "m")


def test_code_paths_are_copied_and_put_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    (src / "featlib").mkdir(parents=True)
    (src / "featlib" / "__init__.py").write_text("SCALE = 3\n")
    doc = save_model({"w": 1}, tmp_path / "m", code_paths=[str(src / "featlib")])
    assert doc["code_paths"] == ["code/featlib"]
    assert "code/featlib/__init__.py" in doc["files"]
    monkeypatch.setattr(sys, "path", list(sys.path))
    load_model_dir(tmp_path / "m")
    assert sys.path[0] == str((tmp_path / "m" / "code").resolve())


def test_torch_script_module_is_kept_as_torchscript(torch: Any, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(torch.nn.Linear(3, 2))
    doc = save_model(scripted, tmp_path / "m", input_example=torch.ones(2, 3))
    assert doc["load"]["loader"] == "torchscript"
    assert doc["signature"]["outputs"] == [{"name": "output", "dtype": "float32", "shape": [-1, 2]}]
    loaded = load_model_dir(tmp_path / "m")
    x = torch.rand(4, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x), scripted(x))
