"""Recovery by the next init on the machine, and Hydra apps recorded end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _support import subprocess_env


def _env(tmp_path: Path) -> dict[str, str]:
    return subprocess_env(tmp_path)


def test_next_init_recovers_a_killed_process(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["RUNTRACK_FLUSH_INTERVAL"] = "30"  # nothing shipped before the kill
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
            import runtrack, time
            run = runtrack.init(project="r")
            for i in range(500):
                run.log({"x": float(i)})
            print(run.id, flush=True)
            time.sleep(60)
        """),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    time.sleep(2.5)  # recovery leaves journals younger than 2 s alone
    env["RUNTRACK_FLUSH_INTERVAL"] = "0.5"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import runtrack, time
            with runtrack.init(project="r") as run:
                deadline = time.time() + 30
                while time.time() < deadline:
                    r = runtrack.Api().run("{run_id}")
                    if r.metrics.get("x") and r.metrics["x"].count == 500:
                        break
                    time.sleep(0.2)
            print(r.status, r.metrics["x"].count)
        """),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["crashed", "500"]


HYDRA_APP = textwrap.dedent("""
    import hydra, runtrack
    from omegaconf import DictConfig

    @hydra.main(version_base=None, config_path="conf", config_name="train")
    def main(cfg: DictConfig) -> None:
        with runtrack.init(project="hy", config=cfg) as run:
            run.log({"loss": cfg.optim.lr * 10})
            print("RUN", run.id)

    main()
""")


def test_hydra_overrides_and_composed_config_are_recorded(tmp_path: Path) -> None:
    pytest.importorskip("hydra")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text(
        "optim:\n  lr: 0.1\n  warmup: ${optim.lr}\nmodel:\n  depth: 4\n"
    )
    (tmp_path / "app.py").write_text(HYDRA_APP)
    env = _env(tmp_path)
    out = subprocess.run(
        [sys.executable, "app.py", "optim.lr=0.01", "+extra=7"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run_id = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("RUN"))
    import runtrack

    r = runtrack.Api(f"sqlite:///{tmp_path / 'rt' / 'runtrack.db'}").run(run_id)
    assert r.config == {"optim": {"lr": 0.01, "warmup": 0.01}, "model": {"depth": 4}, "extra": 7}
    hydra = r.provenance["hydra"]
    assert list(hydra["overrides"]) == ["optim.lr=0.01", "+extra=7"]
    assert hydra["config_name"] == "train"
