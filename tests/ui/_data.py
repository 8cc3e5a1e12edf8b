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
    print(",".join([*ids, xss_id]))


if __name__ == "__main__":
    main()
