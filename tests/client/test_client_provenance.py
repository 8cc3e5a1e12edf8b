"""Environment, command, Hydra and seed provenance (runtrack.client.provenance.*)."""

from __future__ import annotations

import getpass
import json
import os
import platform
import random
import socket
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtrack.client.provenance import environment
from runtrack.client.provenance.command import capture_command, entry_point, host, user
from runtrack.client.provenance.environment import (
    capture_environment,
    normalize_package_name,
    parse_nvidia_smi,
)
from runtrack.client.provenance.hydra import capture_hydra
from runtrack.client.provenance.seeds import seed_everything
from runtrack.errors import ValidationError


def run_python(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------
def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = capture_environment(packages=True)
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["python"]["executable"] == sys.executable
    assert env["python"]["implementation"] == "CPython"
    assert env["packages"]["pytest"] == pytest.__version__
    assert env["packages"]["numpy"] == np.__version__
    assert "pyyaml" in env["packages"]  # normalised (PyYAML)
    assert list(env["packages"]) == sorted(env["packages"])
    assert env["os"]["system"] and env["os"]["platform"]
    assert env["cpu"]["logical"] == os.cpu_count()
    assert env["ram_total_bytes"] > 0
    assert isinstance(env["gpus"], list)
    assert env["env"] == {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    json.dumps(env)


def test_environment_without_packages() -> None:
    assert capture_environment(packages=False)["packages"] is None


def test_normalize_package_name() -> None:
    assert normalize_package_name("Scikit_Learn") == "scikit-learn"
    assert normalize_package_name("zope.interface") == "zope-interface"
    assert normalize_package_name("A--B__c") == "a-b-c"


def test_gpus_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        "echo '0, NVIDIA A100-SXM4-40GB, 40960, 535.104.05, GPU-aaaa'\n"
        "echo '1, NVIDIA A100-SXM4-40GB, 40960, 535.104.05, GPU-bbbb'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    gpus = capture_environment(packages=False)["gpus"]
    assert gpus == [
        {
            "index": 0,
            "name": "NVIDIA A100-SXM4-40GB",
            "memory_total_mb": 40960,
            "driver": "535.104.05",
            "uuid": "GPU-aaaa",
        },
        {
            "index": 1,
            "name": "NVIDIA A100-SXM4-40GB",
            "memory_total_mb": 40960,
            "driver": "535.104.05",
            "uuid": "GPU-bbbb",
        },
    ]


def test_failing_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert capture_environment(packages=False)["gpus"] == []


def test_parse_nvidia_smi_tolerates_odd_rows() -> None:
    assert parse_nvidia_smi("\ngarbage\n0, T4, [N/A], 470.1, GPU-x\n") == [
        {"index": 0, "name": "T4", "memory_total_mb": None, "driver": "470.1", "uuid": "GPU-x"}
    ]


def test_accelerators_only_from_already_imported_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runtrack.client.provenance.environment import _ACCELERATOR_MODULES

    for name in _ACCELERATOR_MODULES:  # other tests may have imported xgboost & co.
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert capture_environment(packages=False)["accelerators"] == {}

    torch = types.ModuleType("torch")
    torch.__version__ = "2.3.1+cu121"  # type: ignore[attr-defined]
    torch.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    torch.cuda = types.SimpleNamespace(is_available=lambda: False)  # type: ignore[attr-defined]
    cudnn = types.SimpleNamespace(is_available=lambda: True, version=lambda: 8902)
    torch.backends = types.SimpleNamespace(cudnn=cudnn)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert capture_environment(packages=False)["accelerators"] == {
        "torch": "2.3.1+cu121",
        "torch.cuda": "12.1",
        "torch.cuda_available": False,
        "torch.cudnn": 8902,
    }


# --------------------------------------------------------------------------------------
# command, host, user
# --------------------------------------------------------------------------------------
def test_capture_command_in_process() -> None:
    info = capture_command()
    assert info["argv"] == sys.argv
    assert info["pid"] == os.getpid()
    assert info["cwd"] == os.getcwd()
    assert info["executable"] == sys.executable
    assert 0 < info["start_time"] <= __import__("time").time()
    assert info["entry_kind"] in ("module", "script")
    json.dumps(info)


def test_entry_point_of_a_script_a_module_and_dash_c(tmp_path: Path) -> None:
    show = (
        "import json\n"
        "from runtrack.client.provenance.command import capture_command\n"
        "print(json.dumps(capture_command()))\n"
    )
    script = tmp_path / "train.py"
    script.write_text(show)
    info = json.loads(run_python(str(script), "--lr", "0.1", cwd=tmp_path))
    assert info["entry_kind"] == "script"
    assert info["entry_point"] == str(script.resolve())
    assert info["argv"] == [str(script), "--lr", "0.1"]
    assert info["cwd"] == str(tmp_path)

    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "train.py").write_text(show)
    info = json.loads(run_python("-m", "proj.train", "--epochs", "3", cwd=tmp_path))
    assert info["entry_kind"] == "module"
    assert info["entry_point"] == "-m proj.train"
    assert info["script"] == str((pkg / "train.py").resolve())
    assert info["orig_argv"][-4:] == ["-m", "proj.train", "--epochs", "3"]

    info = json.loads(run_python("-c", show))
    assert (info["entry_kind"], info["entry_point"], info["script"]) == ("command", "-c", None)


def test_entry_point_interactive_and_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [""])
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert entry_point() == ("interactive", "interactive", None)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert entry_point() == ("notebook", "notebook", None)


def test_host_and_user_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert host() and user()

    def boom(*args: Any) -> str:
        raise OSError("no")

    monkeypatch.setattr(socket, "gethostname", boom)
    monkeypatch.setattr(platform, "node", lambda: "")
    assert host() == "unknown"
    monkeypatch.setattr(getpass, "getuser", boom)
    assert user() == str(os.getuid())


def test_deleted_cwd_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def gone() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "getcwd", gone)
    assert capture_command()["cwd"] is None


# --------------------------------------------------------------------------------------
# hydra
# --------------------------------------------------------------------------------------
def test_hydra_not_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "hydra", raising=False)
    assert capture_hydra() is None


@pytest.fixture
def hydra_config(tmp_path: Path) -> Iterator[None]:
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "config.yaml").write_text("defaults:\n  - model: small\n  - _self_\nlr: 0.1\n")
    (conf / "model" / "small.yaml").write_text("depth: 2\n")
    (conf / "model" / "big.yaml").write_text("depth: 12\n")
    with initialize_config_dir(config_dir=str(conf), version_base=None, job_name="train"):
        cfg = compose("config", overrides=["lr=0.5", "model=big"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        try:
            yield
        finally:
            HydraConfig.instance().cfg = None


def test_hydra_initialized_in_process(hydra_config: None, tmp_path: Path) -> None:
    info = capture_hydra()
    assert info is not None
    assert info["overrides"] == ["lr=0.5", "model=big"]
    assert info["config_name"] == "config"
    assert info["job_name"] == "train"
    assert info["choices"]["model"] == "big"
    assert {"path": str(tmp_path / "conf"), "schema": "file", "provider": "main"} in info[
        "config_sources"
    ]
    json.dumps(info)


def test_hydra_imported_but_not_initialized() -> None:
    import hydra  # noqa: F401

    assert capture_hydra() is None


def test_hydra_main_application(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("lr: 0.1\nepochs: 3\n")
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import json
            import hydra
            from runtrack.client._config import normalize_config
            from runtrack.client.provenance.hydra import capture_hydra

            @hydra.main(config_path="conf", config_name="config", version_base=None)
            def main(cfg):
                print("RESULT", json.dumps({"hydra": capture_hydra(),
                                            "config": normalize_config(cfg)}))

            main()
            """
        )
    )
    out = run_python("app.py", "lr=0.01", "+seed=7", cwd=tmp_path)
    result = json.loads(out.split("RESULT ", 1)[1])
    info = result["hydra"]
    assert info["overrides"] == ["lr=0.01", "+seed=7"]
    assert info["config_name"] == "config"
    assert info["mode"] == "RUN"
    assert Path(info["runtime_output_dir"]).is_dir()
    assert Path(info["runtime_output_dir"]).is_relative_to(tmp_path)
    assert result["config"] == {"lr": 0.01, "epochs": 3, "seed": 7}


# --------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------
@pytest.fixture
def restore_random_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    py_state = random.getstate()
    np_state = np.random.get_state()
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)


def test_seed_everything(restore_random_state: None) -> None:
    seeded = seed_everything(42)
    assert seeded["python"] == 42 and seeded["numpy"] == 42 and seeded["PYTHONHASHSEED"] == 42
    assert os.environ["PYTHONHASHSEED"] == "42"
    first = (random.random(), np.random.rand())
    seed_everything(42)
    assert (random.random(), np.random.rand()) == first
    seed_everything(2**32 - 1)
    seed_everything(0)


def test_seed_everything_without_numpy_or_torch(
    restore_random_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtrack.client.provenance import seeds

    monkeypatch.setattr(seeds, "_installed", lambda name: False)
    assert seed_everything(1) == {"python": 1, "PYTHONHASHSEED": 1}


def test_seed_everything_seeds_torch_when_installed(
    restore_random_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtrack.client.provenance import seeds

    calls: list[tuple[str, int]] = []
    torch = types.ModuleType("torch")
    torch.manual_seed = lambda s: calls.append(("cpu", s))  # type: ignore[attr-defined]
    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_available=lambda: True, manual_seed_all=lambda s: calls.append(("cuda", s))
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(seeds, "_installed", lambda name: name == "torch")
    assert seed_everything(7) == {"python": 7, "torch": 7, "torch.cuda": 7, "PYTHONHASHSEED": 7}
    assert calls == [("cpu", 7), ("cuda", 7)]


@pytest.mark.parametrize("bad", [True, False, 1.0, "42", None, -1, 2**32, np.float64(3)])
def test_seed_everything_rejects_bad_seeds(bad: Any, restore_random_state: None) -> None:
    with pytest.raises(ValidationError, match="seed must be"):
        seed_everything(bad)
    assert "PYTHONHASHSEED" not in os.environ


def test_numpy_integer_seed_is_accepted(restore_random_state: None) -> None:
    assert seed_everything(np.int64(3).item())["python"] == 3


def test_environment_module_has_no_side_effects_on_import() -> None:
    assert environment.DETERMINISM_ENV_VARS[0] == "PYTHONHASHSEED"
