"""Runs for the browser tests, created with the SDK against a live server (run as a
script: ``python _data.py``, with RUNTRACK_URL set)."""

from __future__ import annotations

import math
import struct
import tempfile
import zlib
from pathlib import Path

import runtrack

PROJECT = "ui-demo"
SWEEP_PROJECT = "ui-sweeps"
LINEAGE_PROJECT = "ui-lineage"
XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss=1</script>"


def _png(width: int = 8, height: int = 8) -> bytes:
    """A tiny valid PNG (a red square), made with the standard library."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    ids: list[str] = []
    for i in range(24):
        lr = 10 ** (-1 - (i % 4))
        with runtrack.init(
            project=PROJECT,
            name=f"run-{i:02d}",
            config={"lr": lr, "depth": 2 + i % 5, "model": {"kind": "gbm" if i % 2 else "mlp"}},
            tags={"stage": "prod" if i % 3 == 0 else "dev"},
        ) as run:
            for step in range(60):
                run.log(
                    {
                        "loss": math.exp(-step / (10 + i)) + 0.01 * i,
                        "acc": 1 - 0.5 / (1 + step + i),
                    },
                    step=step,
                )
            ids.append(run.id)
    # a run whose every field carries an HTML/JS payload
    with runtrack.init(
        project=PROJECT,
        name=XSS_IMG,
        config={"payload": XSS_SCRIPT, "nested": {"html": XSS_IMG}},
        tags={"evil": XSS_SCRIPT},
        notes=f"notes {XSS_IMG} {XSS_SCRIPT}",
    ) as run:
        for step in range(10):
            run.log({XSS_IMG: float(step)}, step=step)
        print(f"{XSS_SCRIPT} printed to the console")
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "files"
            (d / "sub").mkdir(parents=True)
            (d / "evil.html").write_text(f"<html><body>{XSS_IMG}{XSS_SCRIPT}</body></html>")
            (d / "evil.svg").write_text(
                '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1">'
                f"{XSS_SCRIPT}</svg>"
            )
            (d / "sub" / "notes.txt").write_text(f"plain text {XSS_IMG}\n")
            (d / "table.csv").write_text(f"a,b\n1,{XSS_IMG}\n")
            (d / "red.png").write_bytes(_png())
            run.log_artifact(str(d), name="evidence", type="dataset")
        xss_id = run.id
    # a model with two versions, registered from two runs
    for k in range(2):
        with runtrack.init(project=PROJECT, name=f"train-model-{k}") as run:
            run.log({"auc": 0.8 + 0.05 * k}, step=0)
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "model.bin"
                f.write_bytes(bytes([k]) * 64)
                run.log_artifact(str(f), name="churn-model", type="model")
        runtrack.register_model("churn-model:latest", "churn", project=PROJECT)
    _sweep()
    _lineage()
    print(",".join([*ids, xss_id]))


def _lineage() -> None:
    """prepare-0, prepare-1 -> raw-data:v0, v1 -> train -> clf:v0 -> evaluate -> report:v0,
    and a custom alias of raw-data moved twice, with reasons."""
    p = LINEAGE_PROJECT
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.csv"
        for k in range(2):
            raw.write_text(f"a,b\n{k},2\n")
            with runtrack.init(project=p, name=f"prepare-{k}") as run:
                run.log_artifact(str(raw), name="raw-data", type="dataset")
        with runtrack.init(project=p, name="train") as run:
            run.use_artifact("raw-data:latest")
            model = Path(tmp) / "model.bin"
            model.write_bytes(b"weights")
            run.log_artifact(str(model), name="clf", type="model")
        with runtrack.init(project=p, name="evaluate") as run:
            run.use_artifact("clf:latest")
            report = Path(tmp) / "report.txt"
            report.write_text("auc 0.9")
            run.log_artifact(str(report), name="report", type="report")
    api = runtrack.Api()
    api.set_artifact_alias("raw-data", "golden", "v0", project=p, reason="first clean cut")
    api.set_artifact_alias("raw-data", "golden", "v1", project=p, reason=f"dupes fixed {XSS_IMG}")


def _sweep() -> None:
    """A small sweep with complete, pruned and failed trials (in a project of its own)."""
    spec = {
        "name": "lr-depth-search",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {
            "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
            "depth": {"distribution": "int", "min": 2, "max": 8},
            "opt": {"values": ["adam", XSS_IMG]},  # a payload as a categorical value
        },
        "pruner": {"type": "median", "n_startup_trials": 3},
        "budget": {"trials": 12},
        "seed": 1,
    }

    def train(run: runtrack.Run) -> None:
        cfg = run.config
        if cfg["depth"] == 8:
            raise RuntimeError("depth 8 does not fit in memory")
        for epoch in range(5):
            loss = abs(math.log10(cfg["lr"]) + 2.5) + 0.1 * cfg["depth"] + 1.0 / (epoch + 1)
            run.log({"val_loss": loss}, step=epoch)
            if run.should_prune():
                raise runtrack.TrialPruned()

    runtrack.sweep(spec, train, count=12, project=SWEEP_PROJECT)

    two = {
        "name": "accuracy-vs-latency",
        "metrics": [
            {"name": "val_loss", "goal": "minimize"},
            {"name": "latency", "goal": "minimize"},
        ],
        "parameters": {"width": {"distribution": "int", "min": 1, "max": 64}},
        "budget": {"trials": 6},
        "seed": 2,
    }

    def trade_off(run: runtrack.Run) -> None:
        width = run.config["width"]
        run.log({"val_loss": 1.0 / width, "latency": 0.5 * width})

    runtrack.sweep(two, trade_off, count=6, project=SWEEP_PROJECT)


if __name__ == "__main__":
    main()
