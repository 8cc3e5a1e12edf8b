#!/usr/bin/env python3
"""The model registry lookup target: ``Api().model("x@production")`` with its lineage, on a
store holding 2,000 runs and 10,000 artifact versions (target: <= 20 ms embedded, <= 50 ms
through ``runtrack server``).

    .venv/bin/python benchmarks/registry_lookup.py --out benchmarks/results/registry_lookup.json
    .venv/bin/python benchmarks/registry_lookup.py --quick             # smoke run, ~2 min
    .venv/bin/python benchmarks/registry_lookup.py --backends sqlite,server-pg --no-mlflow
    .venv/bin/python benchmarks/registry_lookup.py --work /tmp/rl --keep   # reuse the data

The store (built once per run, ~35 s, through runtrack's public ``SqlStore`` calls on
SQLite with a simulated clock, then copied to a scratch PostgreSQL database with COPY and
VACUUM ANALYZE as bench_targets.py does; the copy is checked against the original):

  * two projects: ``data-platform`` (ingest and prep runs) and ``churn`` (train, eval,
    report runs), 10 "weeks" of work over 180 days; each week 10 ingest, 20 prep,
    100 train, 50 eval and 20 report runs (2,000 runs);
  * ingest runs read a raw file (a dataset input) and log ``raw-k`` + ``raw-k-profile``;
    prep runs use a ``raw-k`` version (sometimes two) and log ``data-k`` + ``features-k``
    (20 dataset artifacts of each kind, 10 versions each); train runs use 1-3 data/feature
    versions across projects (``data-0`` is the popular one: 40% of the runs), read a
    labels file, warm-start from an earlier model version (``model-0`` runs: from the
    model in production, continuous training; others: 20% of runs), and log a
    ``model-m`` version and 7 ``ckpt-m`` checkpoint versions; eval runs use a model and a
    holdout data version and log ``eval-m`` + ``preds-m``; report runs use 3-5 eval versions
    and log ``weekly-report`` + ``plots`` (10,000 artifact versions, 4,272 uses);
  * every version is a manifest of reference files (``s3://...`` with size, sha256 and
    etag; no blobs), every run has config, tags, metric history and summaries, status
    finished, and the provenance ``runtrack.init`` records (command, git with a ~4 kB diff,
    the environment of this interpreter padded to 200 packages);
  * registered model ``x``: the best ``model-0`` version of weeks 3-10 (8 versions),
    ``production`` moved 6 times (one rollback) and ``staging`` 5 times (an audit log of
    11 events).

Timed (every figure through the public SDK in child processes with the environment a user
sets: ``RUNTRACK_DIR`` (embedded SQLite), ``RUNTRACK_DB=postgresql://...`` (embedded on
PostgreSQL), ``RUNTRACK_URL`` (a real ``runtrack server`` process, LiveServer, on PostgreSQL
and on SQLite)):

  model      ``m = Api().model("x@production"); m.lineage.nodes; m.commit; m.datasets``:
             --calls calls after --warmup in one process (median, p95, p99), and the first
             call of --fresh fresh interpreters (import, ``Api()`` and the first call
             timed apart).
  secondary  ``model_history("x", alias="production", at=t)`` (t between two moves),
             ``model_history("x")`` (the whole log), ``lineage("x@production")`` and
             ``lineage("data-platform/data-0:vN", direction="down")`` of the most used data
             version (hundreds of nodes).
  profile    in-process, each embedded backend: SQL statements per call and the time
             spent in the database driver (SQLAlchemy cursor events), and cProfile's top
             functions.
  mlflow     with /tmp/anchors/bin/python (the anchors venv, see README): MLflow 3's closest
             call, ``MlflowClient().get_model_version_by_alias("x", "production")`` +
             ``get_run(run_id)``, on 2,000 runs (20 params, 10 metrics, 5 tags each) and a
             registered model of 8 versions with the same alias history; direct SQLite and
             ``mlflow server``. MLflow has no lineage: it does less work for the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
ANCHOR_PYTHON = "/tmp/anchors/bin/python"
REF = "x@production"
MODEL = "x"
TARGET_EMBEDDED_MS = 20.0
TARGET_SERVER_MS = 50.0
BACKENDS = ("sqlite", "pg", "server-pg", "server-sqlite")


# ======================================================================================
# the data
# ======================================================================================
EXTRA_PACKAGES = """absl-py 2.1.0|accelerate 1.2.1|aiohappyeyeballs 2.4.4|aiohttp 3.11.11
aiosignal 1.3.2|albumentations 1.4.24|appdirs 1.4.4|argon2-cffi 23.1.0|arrow 1.3.0
asttokens 3.0.0|async-lru 2.0.4|attrs 24.3.0|babel 2.16.0|beautifulsoup4 4.12.3
bleach 6.2.0|boto3 1.35.90|botocore 1.35.90|catboost 1.2.7|category-encoders 2.6.4
comm 0.2.2|contourpy 1.3.1|cycler 0.12.1|datasets 3.2.0|debugpy 1.8.11|decorator 5.1.1
defusedxml 0.7.1|dill 0.3.8|executing 2.1.0|fastjsonschema 2.21.1|filelock 3.16.1
fonttools 4.55.3|fqdn 1.5.1|frozenlist 1.5.0|fsspec 2024.9.0|huggingface-hub 0.27.0
hydra-core 1.3.2|imbalanced-learn 0.13.0|ipykernel 6.29.5|ipython 8.31.0
ipywidgets 8.1.5|isoduration 20.11.0|jedi 0.19.2|jmespath 1.0.1|json5 0.10.0
jsonpointer 3.0.0|jupyter-client 8.6.3|jupyter-core 5.7.2|jupyterlab 4.3.4
kiwisolver 1.4.8|lightgbm 4.5.0|llvmlite 0.43.0|matplotlib 3.10.0|matplotlib-inline 0.1.7
mistune 3.1.0|multidict 6.1.0|multiprocess 0.70.16|nbclient 0.10.2|nbconvert 7.16.4
nbformat 5.10.4|nest-asyncio 1.6.0|networkx 3.4.2|notebook 7.3.2|numba 0.60.0
nvidia-cublas-cu12 12.4.5.8|nvidia-cuda-runtime-cu12 12.4.127|nvidia-cudnn-cu12 9.1.0.70
omegaconf 2.3.0|onnx 1.17.0|onnxruntime 1.20.1|opencv-python-headless 4.10.0.84
pandocfilters 1.5.1|parso 0.8.4|pexpect 4.9.0|pillow 11.1.0|plotly 5.24.1
polars 1.18.0|prometheus-client 0.21.1|prompt-toolkit 3.0.48|propcache 0.2.1
ptyprocess 0.7.0|pure-eval 0.2.3|pyarrow 18.1.0|pycparser 2.22|pyparsing 3.2.0
python-json-logger 3.2.1|pyzmq 26.2.0|regex 2024.11.6|rfc3339-validator 0.1.4
s3transfer 0.10.4|safetensors 0.4.5|seaborn 0.13.2|send2trash 1.8.3|shap 0.46.0
slicer 0.0.8|soupsieve 2.6|stack-data 0.6.3|statsmodels 0.14.4|sympy 1.13.1
tensorboard 2.18.0|terminado 0.18.1|tinycss2 1.4.0|tokenizers 0.21.0|torch 2.5.1
torchmetrics 1.6.1|torchvision 0.20.1|tornado 6.4.2|traitlets 5.14.3|transformers 4.47.1
triton 3.1.0|webcolors 24.11.1|webencodings 0.5.1|widgetsnbextension 4.0.13
xgboost 2.1.3|xxhash 3.5.0|yarl 1.18.3"""


def environment_section(target: int = 200) -> dict:
    """``capture_environment(packages=True)`` of this interpreter, its package list padded
    to ``target`` with a data-science stack (what a training venv holds)."""
    from runtrack.client.provenance.environment import capture_environment

    env = capture_environment(packages=True)
    pkgs = dict(env.get("packages") or {})
    for item in EXTRA_PACKAGES.replace("\n", "|").split("|"):
        if len(pkgs) >= target:
            break
        name, version = item.split()
        pkgs.setdefault(name, version)
    env["packages"] = dict(sorted(pkgs.items()))
    return env


def git_section(work: str) -> dict:
    """``capture_git`` of a scratch repository with a remote and an uncommitted change of
    ~4 kB (what a run started from a work tree being edited records)."""
    from pathlib import Path

    from runtrack.client.provenance.git import capture_git

    repo = os.path.join(work, "repo")
    os.makedirs(repo, exist_ok=True)
    git = ["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    lines = [
        f"def step_{i}(x, lr):\n    return x - lr * grad_{i}(x)  # update {i}\n" for i in range(120)
    ]
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.writelines(lines)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "https://git.example.org/team/churn-model.git"],
        check=True,
    )
    for i in range(0, 40, 2):  # ~4 kB of diff
        lines[i] = lines[i].replace("lr * grad", "lr * clip(grad").replace("(x)  #", "(x))  #")
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.writelines(lines)
    doc = capture_git(Path(repo), diff_max_bytes=2_000_000, untracked_file_max_bytes=200_000)
    assert doc and doc.get("diff"), doc
    return doc


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


class SimClock:
    """The store's clock during the build: the simulated time of the run being recorded."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def build(url: str, work: str, quick: bool, seed: int = 7) -> dict:
    """Populate the store at ``url`` through ``SqlStore``'s public calls; returns the
    manifest (references to time, counts, seconds)."""
    import hashlib
    import random
    from array import array

    import bench_targets as bt

    from runtrack.artifacts.manifest import manifest_digest
    from runtrack.entities import (
        ArtifactFile,
        ArtifactOp,
        ArtifactSpec,
        DatasetInput,
        InputOp,
        MetricsRecord,
        NewRun,
        OpRecord,
        ProvenanceOp,
        RunBatch,
        RunSpec,
        StatusOp,
        SummaryOp,
    )
    from runtrack.store.sql.store import SqlStore

    t_build = time.perf_counter()
    rnd = random.Random(seed)
    scale = 0.1 if quick else 1.0
    weeks = 10
    per_week = {
        k: max(1, round(v * scale))
        for k, v in {"ingest": 10, "prep": 20, "train": 100, "eval": 50, "report": 20}.items()
    }
    n_kinds = 20  # raw-k / data-k / features-k
    n_models = 10  # model-m / ckpt-m / eval-m / preds-m
    t_end = time.time() - 3600
    t_start = t_end - 180 * 86400
    week_s = (t_end - t_start) / weeks
    runs_per_week = sum(per_week.values())
    gap = week_s / runs_per_week
    clk = SimClock(t_start)
    store = SqlStore(url, auto_upgrade=True, clock=clk)

    env_doc = environment_section()
    git_doc = git_section(work)
    sweep = bt.make_runs(weeks * per_week["train"], seed=seed)  # configs/metrics of a sweep
    commits = [hashlib.sha1(f"commit-{w}".encode()).hexdigest() for w in range(weeks)]
    labels = [
        DatasetInput(
            path=f"s3://ml-labels/churn/labels-2026-{j + 1:02d}.parquet",
            digest=hashlib.sha256(f"labels-{j}".encode()).hexdigest(),
            size=48_000_000 + j * 1_000_000,
            file_count=1,
            kind="file",
            name=f"labels-{j}",
        )
        for j in range(5)
    ]

    versions: dict[str, list[str]] = {}  # "project/name" -> ["project/name:v0", ...]
    counts = {"runs": 0, "versions": 0, "uses": 0, "inputs": 0}
    use_count: dict[str, int] = {}
    cursor = t_start

    def files_of(project: str, name: str, run_id: str, kind: str) -> tuple:
        shapes = {
            "dataset": [(f"part-{i:05d}.parquet", 64_000_000) for i in range(8)],
            "features": [("features.parquet", 120_000_000), ("schema.json", 4_000)],
            "profile": [("profile.html", 900_000), ("stats.json", 40_000)],
            "model": [("model.txt", 12_000_000), ("MLmodel", 600), ("requirements.txt", 300)],
            "checkpoint": [("checkpoint.pt", 48_000_000)],
            "eval": [("metrics.json", 3_000), ("confusion.csv", 800)],
            "predictions": [("predictions.parquet", 30_000_000)],
            "report": [("report.html", 400_000)],
            "plots": [(f"plot-{i}.png", 120_000) for i in range(4)],
        }[kind]
        out = []
        for path, size in shapes:
            digest = hashlib.sha256(f"{project}/{name}/{run_id}/{path}".encode()).hexdigest()
            out.append(
                ArtifactFile(
                    path,
                    digest,
                    size + rnd.randint(0, 10_000),
                    f"s3://ml-artifacts/{project}/{name}/{digest[:16]}/{path}",
                    '"' + digest[:32] + '"',
                )
            )
        return tuple(out)

    def spec_of(project: str, name: str, kind: str, run_id: str, meta: dict) -> ArtifactSpec:
        files = files_of(project, name, run_id, kind)
        return ArtifactSpec(
            name=name, type=kind, files=files, digest=manifest_digest(files), metadata=meta
        )

    def record(
        project: str,
        role: str,
        week: int,
        config: dict,
        tags: dict,
        metrics: dict,
        outputs: list[ArtifactSpec],
        uses: list[str],
        inputs: list[DatasetInput] = (),
        history: int = 3,
    ) -> str:
        nonlocal cursor
        start = cursor + rnd.uniform(0, gap * 0.1)
        end = start + rnd.uniform(0.2, 0.8) * gap
        cursor += gap
        run_id = _b32(int(start * 1000), 9) + _b32(rnd.getrandbits(35), 7)
        prov = {
            "command": {
                "argv": [
                    f"{role}.py",
                    "--week",
                    str(week),
                    *(x for k, v in list(config.items())[:4] for x in (f"--{k}", str(v))),
                ],
                "orig_argv": ["/opt/venvs/churn/bin/python", f"{role}.py"],
                "entry_point": f"{role}.py",
                "entry_kind": "script",
                "script": f"/home/alice/churn/{role}.py",
                "cwd": "/home/alice/churn",
                "executable": "/opt/venvs/churn/bin/python",
                "pid": 10_000 + counts["runs"],
                "start_time": start,
            },
            "git": dict(git_doc, commit=commits[week], root="/home/alice/churn"),
            "environment": env_doc,
        }
        recs: list = []
        keys = tuple(metrics)
        for step in range(history):
            f = (step + 1) / history
            vals = array("d", [v * (0.8 + 0.2 * f) for v in metrics.values()])
            recs.append(MetricsRecord(len(recs) + 1, step, start + f * (end - start), keys, vals))
        recs.append(OpRecord(len(recs) + 1, ProvenanceOp(prov)))
        for d in inputs:
            recs.append(OpRecord(len(recs) + 1, InputOp(d)))
            counts["inputs"] += 1
        recs.append(OpRecord(len(recs) + 1, SummaryOp({"best_" + keys[0]: metrics[keys[0]]})))
        for spec in outputs:
            recs.append(OpRecord(len(recs) + 1, ArtifactOp(spec)))
        recs.append(OpRecord(len(recs) + 1, StatusOp("finished", end)))
        spec = RunSpec(
            id=run_id,
            project=project,
            name=f"{role}-w{week}-{counts['runs']}",
            user=rnd.choice(["alice", "bob", "carol", "dan"]),
            host=f"gpu-{rnd.randint(1, 8)}",
            start_time=start,
            config=config,
            tags=dict(tags, role=role, week=str(week)),
            group=f"week-{week}",
        )
        clk.t = start + 1
        store.create_runs([NewRun(spec, RunBatch(run_id, "s" + run_id[:12], tuple(recs)))])
        for ref in uses:
            clk.t = start + 2
            store.use_artifact(run_id, ref)
            use_count[ref] = use_count.get(ref, 0) + 1
            counts["uses"] += 1
        for spec_ in outputs:
            key = f"{project}/{spec_.name}"
            versions.setdefault(key, []).append(f"{key}:v{len(versions.get(key, []))}")
            counts["versions"] += 1
        counts["runs"] += 1
        clk.t = end
        return run_id

    def latest(key: str, pinned_p: float = 0.0) -> str | None:
        vs = versions.get(key)
        if not vs:
            return None
        if len(vs) > 1 and rnd.random() < pinned_p:
            return rnd.choice(vs[:-1])
        return vs[-1]

    registered: list[int] = []
    artifact_of: dict[int, str] = {}  # model version -> its artifact version
    production: int | None = None
    alias_plan = {  # week -> [(alias, model version number or "new", reason)]
        2: [("production", "new", "first model in production")],
        3: [("staging", "new", "candidate")],
        4: [("staging", "new", "candidate"), ("production", "staging", "auc +1.2 pt")],
        5: [("production", 1, "rollback: latency regression"), ("staging", "new", "candidate")],
        6: [("staging", "new", "candidate"), ("production", "staging", "latency fixed")],
        7: [("production", "new", "retrained on new data")],
        8: [("staging", "new", "candidate")],
        9: [("production", "new", "retrained on new data")],
    }
    history_at = None
    train_i = 0
    for week in range(weeks):
        for _ in range(per_week["ingest"]):
            k = counts["runs"] % n_kinds
            raw = DatasetInput(
                path=f"s3://landing/source-{k}/2026-w{week:02d}.csv.gz",
                digest=hashlib.sha256(f"landing-{k}-{week}-{rnd.random()}".encode()).hexdigest(),
                size=rnd.randint(10**8, 10**9),
                file_count=1,
                kind="file",
                name=f"source-{k}",
            )
            rid = f"ingest-{counts['runs']}"
            record(
                "data-platform",
                "ingest",
                week,
                {"source": f"source-{k}", "format": "csv", "dedupe": True},
                {"team": "data"},
                {"rows": float(rnd.randint(10**6, 10**7)), "bad_rows": float(rnd.randint(0, 999))},
                [
                    spec_of("data-platform", f"raw-{k}", "dataset", rid, {"rows": 1_000_000}),
                    spec_of("data-platform", f"raw-{k}-profile", "profile", rid, {}),
                ],
                [],
                [raw],
            )
        for i in range(per_week["prep"]):
            k = (week * per_week["prep"] + i) % n_kinds
            uses = [u for u in (latest(f"data-platform/raw-{k}"),) if u]
            if rnd.random() < 0.3:
                extra = latest(f"data-platform/raw-{rnd.randrange(n_kinds)}")
                if extra and extra not in uses:
                    uses.append(extra)
            rid = f"prep-{counts['runs']}"
            record(
                "data-platform",
                "prep",
                week,
                {"split": "time", "test_fraction": 0.2, "window_days": 90, "kind": k},
                {"team": "data"},
                {"rows_out": float(rnd.randint(10**6, 10**7)), "null_fraction": rnd.random() / 50},
                [
                    spec_of("data-platform", f"data-{k}", "dataset", rid, {"rows": 900_000}),
                    spec_of("data-platform", f"features-{k}", "features", rid, {"n": 240}),
                ],
                uses,
            )
        best0: tuple[float, str] | None = None  # the week's best model-0 version
        for _ in range(per_week["train"]):
            r = sweep[train_i]
            train_i += 1
            m = 0 if rnd.random() < 0.3 else rnd.randrange(1, n_models)
            k = 0 if rnd.random() < 0.4 else rnd.randrange(1, n_kinds)
            uses = [u for u in (latest(f"data-platform/data-{k}", pinned_p=0.2),) if u]
            for _ in range(rnd.randint(0, 2)):
                f = latest(f"data-platform/features-{rnd.randrange(n_kinds)}")
                if f and f not in uses:
                    uses.append(f)
            if m == 0 and production is not None:  # continuous training: from production
                uses.append(artifact_of[production])
            elif rnd.random() < 0.2 and versions.get(f"churn/model-{m}"):
                uses.append(rnd.choice(versions[f"churn/model-{m}"][-5:]))  # warm start
            rid = r["id"]
            outs = [
                spec_of(
                    "churn",
                    f"model-{m}",
                    "model",
                    rid,
                    {"framework": "lightgbm", "auc": r["metrics"]["auc"]},
                )
            ]
            outs += [
                spec_of("churn", f"ckpt-{m}", "checkpoint", rid + str(e), {"epoch": e})
                for e in range(7)
            ]
            record(
                "churn",
                "train",
                week,
                r["config"],
                r["tags"],
                r["metrics"],
                outs,
                uses,
                [rnd.choice(labels)],
                history=20,
            )
            if m == 0 and (best0 is None or r["metrics"]["auc"] > best0[0]):
                best0 = (r["metrics"]["auc"], versions["churn/model-0"][-1])
        for _ in range(per_week["eval"]):
            m = rnd.randrange(n_models)
            uses = [
                u
                for u in (
                    latest(f"churn/model-{m}", pinned_p=0.1),
                    latest(f"data-platform/data-{rnd.randrange(n_kinds)}"),
                )
                if u
            ]
            rid = f"eval-{counts['runs']}"
            record(
                "churn",
                "eval",
                week,
                {"threshold": 0.5, "holdout": "2026-q3"},
                {"team": "ml"},
                {"auc": 0.5 + rnd.random() / 2, "precision": rnd.random(), "recall": rnd.random()},
                [
                    spec_of("churn", f"eval-{m}", "eval", rid, {}),
                    spec_of("churn", f"preds-{m}", "predictions", rid, {}),
                ],
                uses,
            )
        for _ in range(per_week["report"]):
            evals = [v for m in range(n_models) for v in versions.get(f"churn/eval-{m}", [])[-2:]]
            uses = rnd.sample(evals, min(len(evals), rnd.randint(3, 5)))
            rid = f"report-{counts['runs']}"
            record(
                "churn",
                "report",
                week,
                {"audience": "weekly"},
                {"team": "ml"},
                {"pages": float(rnd.randint(3, 20))},
                [
                    spec_of("churn", "weekly-report", "report", rid, {}),
                    spec_of("churn", "plots", "plots", rid, {}),
                ],
                uses,
            )
        # the registry: the week's best model-0 version, aliases moved with reasons
        staged = None
        for alias, target, reason in alias_plan.get(week, []):
            if target == "new":
                if best0 is None:
                    continue
                mv = store.register_model(
                    MODEL,
                    "churn",
                    best0[1].split("/", 1)[1],
                    actor="alice",
                    tags={"week": str(week)},
                    description=f"best model-0 of week {week}",
                )
                registered.append(mv.version)
                artifact_of[mv.version] = best0[1]
                target = mv.version
            elif target == "staging":
                if staged is None:
                    continue
                target = staged
            clk.t += 600
            if alias == "production" and week == 5:
                history_at = clk.t - 300  # after week 4's promotion, before the rollback
            store.set_model_alias(MODEL, alias, int(target), actor="bob", reason=reason)
            if alias == "production":
                production = int(target)
            if alias == "staging":
                staged = int(target)
    store.close()
    down_ref = max(
        (r for r in use_count if "/data-" in r), key=lambda r: (use_count[r], r), default=None
    )
    return {
        "url": url,
        "counts": counts,
        "model_versions": len(registered),
        "history_at": history_at,
        "down_ref": down_ref,
        "down_ref_direct_uses": use_count.get(down_ref or "", 0),
        "build_s": time.perf_counter() - t_build,
        "provenance_bytes": {
            "git": len(json.dumps(git_doc)),
            "git_diff": len(git_doc.get("diff") or ""),
            "environment": len(json.dumps(env_doc)),
            "packages": len(env_doc["packages"]),
        },
        "quick": quick,
    }


def table_counts(url: str) -> dict:
    """Rows per table, straight from the database (what the store holds)."""
    from sqlalchemy import create_engine, func, select

    from runtrack.store.sql import schema

    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    out = {}
    with eng.connect() as c:
        for t in (
            "runs",
            "artifact_versions",
            "artifact_files",
            "run_uses",
            "run_outputs",
            "run_inputs",
            "run_provenance",
            "model_versions",
            "model_alias_events",
        ):
            out[t] = c.execute(select(func.count()).select_from(schema.metadata.tables[t])).scalar()
    eng.dispose()
    return out


def detail_signature(detail) -> dict:
    g = detail.lineage
    return {
        "version": detail.version.version,
        "artifact": detail.version.artifact.full_ref,
        "run": None if detail.run is None else detail.run.id,
        "root": g.root,
        "nodes": sorted(n.id for n in g.nodes),
        "edges": sorted([e.source, e.target, e.kind] for e in g.edges),
    }


# ======================================================================================
# children (fresh interpreters: this file with --_child)
# ======================================================================================
def _cpu_of_tree(pid: int) -> float:
    clk = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                data = f.read()
            fields = data[data.rfind(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / clk
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return total


def _times(fn, n: int) -> list[float]:
    pc = time.perf_counter
    out = []
    for _ in range(n):
        t0 = pc()
        fn()
        out.append((pc() - t0) * 1e3)
    return out


def child_fresh(spec: dict) -> dict:
    """One fresh process: ``import runtrack`` (lazy), the modules the first call needs
    (``spec["modules"]``: the client API, the store, SQLAlchemy's dialect and driver), then
    ``Api()`` and the first ``model()`` call (engine, connection, schema check, SQLAlchemy's
    statement caches still cold), then a second call."""
    import importlib

    pc = time.perf_counter
    t0 = pc()
    import runtrack

    t1 = pc()
    for mod in spec.get("modules", ()):
        importlib.import_module(mod)
    t2 = pc()
    api = runtrack.Api()
    m = api.model(spec["ref"])
    n = len(m.lineage.nodes)
    _ = (m.commit, m.datasets, m.run)
    t3 = pc()
    m = api.model(spec["ref"])
    t4 = pc()
    return {
        "import_ms": (t1 - t0) * 1e3,
        "modules_ms": (t2 - t1) * 1e3,
        "first_ms": (t3 - t2) * 1e3,
        "second_ms": (t4 - t3) * 1e3,
        "total_ms": (t3 - t0) * 1e3,
        "nodes": n,
    }


def child_warm(spec: dict) -> dict:
    import runtrack

    api = runtrack.Api()
    ref = spec["ref"]
    sig_detail = api.model(ref).detail
    sig = detail_signature(sig_detail)

    def lookup() -> None:
        m = api.model(ref)
        _ = (m.lineage.nodes, m.commit, m.datasets, m.run, m.metrics)

    _times(lookup, spec["warmup"])
    pid = spec.get("server_pid")
    c0 = _cpu_of_tree(pid) if pid else None
    p0 = time.process_time()
    t0 = time.perf_counter()
    model_ms = _times(lookup, spec["calls"])
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - p0
    server_cpu = None if pid is None else _cpu_of_tree(pid) - c0
    out = {
        "model_ms": model_ms,
        "client_cpu_ms_per_call": client_cpu / spec["calls"] * 1e3,
        "server_cpu_ms_per_call": None if server_cpu is None else server_cpu / spec["calls"] * 1e3,
        "loop_wall_s": wall,
        "signature": sig,
        "run_provenance_bytes": len(json.dumps(sig_detail.run.provenance, default=dict)),
    }
    n2 = spec["secondary_calls"]
    at = spec["history_at"]
    if at is not None:
        v = api.model_history(MODEL, alias="production", at=at)
        out["history_at_version"] = None if v is None else v.version
        _times(lambda: api.model_history(MODEL, alias="production", at=at), 5)
        out["history_at_ms"] = _times(
            lambda: api.model_history(MODEL, alias="production", at=at), n2
        )
    out["history_events"] = len(api.model_history(MODEL))
    out["history_ms"] = _times(lambda: api.model_history(MODEL), n2)
    _times(lambda: api.lineage(ref), 5)
    out["lineage_up_ms"] = _times(lambda: api.lineage(ref), n2)
    down = spec.get("down_ref")
    if down:
        g = api.lineage(down, direction="down")
        out["down_nodes"], out["down_edges"], out["down_truncated"] = (
            len(g.nodes),
            len(g.edges),
            g.truncated,
        )
        out["down_ms"] = _times(lambda: api.lineage(down, direction="down"), spec["down_calls"])
    return out


PROFILE_FUNCS = {  # runtrack functions whose cumulative time the profile reports
    ("_catalog.py", "model_detail"): "model_detail (all of it)",
    ("_registry.py", "get_version"): "  registry: resolve x@production -> model version",
    ("_catalog.py", "_load_run"): "  the run: record, outputs, provenance, used versions",
    ("_catalog.py", "_version_id"): "  the model's artifact version id",
    ("_lineage.py", "walk"): "  lineage walk (both phases)",
    ("_lineage.py", "_build"): "    lineage: build the nodes (runs, versions, datasets)",
    ("_artifacts.py", "versions_by_id"): "  (versions_by_id, wherever called)",
    ("_records.py", "aliases_of"): "  (aliases_of, wherever called)",
    ("_lineage.py", "lineage"): "lineage (all of it)",
}


def child_profile(spec: dict) -> dict:
    """In-process: statements per call (and rows, on PostgreSQL), time inside the driver,
    where the time goes by runtrack function, cProfile's top functions, and what labelling
    the lineage's dataset nodes reads."""
    import cProfile
    import io
    import pstats

    from sqlalchemy import event, func, select

    import runtrack
    from runtrack.store.sql.schema import run_inputs

    api = runtrack.Api()
    ref = spec["ref"]
    engine = api.store.engine
    stmts: list[tuple[str, int]] = []
    db_time = [0.0]
    started: list[float] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        started.append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        db_time[0] += time.perf_counter() - started.pop()
        stmts.append((statement, cursor.rowcount))  # SELECT rows: psycopg yes, sqlite3 -1

    out: dict = {}
    for label, fn, n in (
        ("model", lambda: api.model(ref), spec["calls"]),
        ("lineage_down", lambda: api.lineage(spec["down_ref"], direction="down"), 10),
    ):
        if label == "lineage_down" and not spec.get("down_ref"):
            continue
        for _ in range(5):
            fn()
        stmts.clear()
        db_time[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        wall = time.perf_counter() - t0
        n_stmts, driver_s = len(stmts), db_time[0]
        distinct: dict[str, list[float]] = {}
        for text, rows in stmts:
            key = " ".join(text.split())
            key = key[: key.find(" IN (") + 5] + "...)" if " IN (" in key else key[:150]
            d = distinct.setdefault(key, [0, 0])
            d[0] += 1 / n
            d[1] += max(rows, 0) / n
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            fn()
        prof.disable()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(22)
        st.sort_stats("cumulative").print_stats(30)
        profiled_total = max(ct for (_, _, _, ct, _) in st.stats.values())  # type: ignore[attr-defined]
        breakdown = {}
        for (path, _line, fname), (_cc, _nc, _tt, ct, _) in st.stats.items():  # type: ignore[attr-defined]
            name = PROFILE_FUNCS.get((os.path.basename(path), fname))
            if name and "/runtrack/" in path:
                breakdown[name] = {
                    "ms_per_call_profiled": ct / n * 1e3,
                    "share": ct / profiled_total,
                }
        out[label] = {
            "calls": n,
            "ms_per_call": wall / n * 1e3,
            "statements_per_call": n_stmts / n,
            "rows_per_call": sum(max(r, 0) for _, r in stmts) / n,
            "driver_ms_per_call": driver_s / n * 1e3,
            "statements": {
                k: {"per_call": round(v[0], 2), "rows_per_call": round(v[1], 1)}
                for k, v in sorted(distinct.items(), key=lambda x: -x[1][1])
            },
            "breakdown": dict(sorted(breakdown.items(), key=lambda x: -x[1]["share"])),
            "cprofile": buf.getvalue(),
        }
    # labelling the dataset nodes: _lineage._build reads every run_inputs row of each
    # digest to keep one path per digest; how many rows is that, and what would one row
    # per digest cost (the same answer: a path of the digest)
    digests = [n.id[8:] for n in api.model(ref).lineage.nodes if n.kind == "dataset"]
    i = run_inputs.c
    q_all = select(i.digest, i.path).where(i.digest.in_(digests))
    q_one = select(i.digest, func.min(i.path)).where(i.digest.in_(digests)).group_by(i.digest)

    def read_all() -> int:
        with engine.connect() as c:
            info: dict = {}
            rows = 0
            for d in c.execute(q_all):
                rows += 1
                info.setdefault(d.digest, (d.path, d.path.rsplit("/", 1)[-1]))
            return rows

    def read_one() -> int:
        with engine.connect() as c:
            return len(c.execute(q_one).all())

    rows_all, rows_one = read_all(), read_one()
    _times(read_all, 5)
    _times(read_one, 5)
    ms_all = sorted(_times(read_all, 50))[25]
    ms_one = sorted(_times(read_one, 50))[25]
    out["dataset_labels"] = {
        "dataset_nodes": len(digests),
        "rows_read_as_build_does": rows_all,
        "ms_as_build_does": ms_all,
        "rows_one_per_digest": rows_one,
        "ms_one_per_digest": ms_one,
    }
    return out


def child_first_call_profile(spec: dict) -> dict:
    """A fresh process, modules already imported: cProfile of ``Api()`` + the first
    ``model()`` call (what the first call costs beyond the imports)."""
    import cProfile
    import importlib
    import io
    import pstats

    import runtrack

    for mod in spec.get("modules", ()):
        importlib.import_module(mod)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    runtrack.Api().model(spec["ref"])
    prof.disable()
    wall = time.perf_counter() - t0
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(45)
    picks = {
        "make_engine": "create the engine",
        "ensure_schema": "check the schema revision",
        "connect": "connections (pool)",
        "_compile_w_cache": "compile statements (cold cache)",
        "_execute_context": "execute statements",
        "_find_and_load": "imports still done lazily",
        "model_detail": "model_detail",
    }
    found: dict[str, float] = {}
    for (path, _line, fname), (_cc, _nc, _tt, ct, _) in st.stats.items():  # type: ignore[attr-defined]
        label = picks.get(fname)
        if label and (fname != "connect" or "sqlalchemy/engine/base.py" in path):
            found[label] = max(found.get(label, 0.0), ct * 1e3)
    return {"wall_ms_profiled": wall * 1e3, "ms": found, "cprofile": buf.getvalue()}


def child_server_stages(spec: dict) -> dict:
    """What one GET /api/v1/model-detail costs, stage by stage, in-process on the
    server's database: the models router's permission check (``_check`` -> ``_owner`` ->
    ``store.get_model``), ``store.model_detail``, the wire form and msgpack on the server,
    msgpack and the records on the client; and the HTTP floor (GET /health)."""
    import httpx2
    import msgpack
    from sqlalchemy import event

    from runtrack.protocol import model_detail_from_wire, model_detail_to_wire
    from runtrack.store.rest import RestStore
    from runtrack.store.sql.store import SqlStore

    st = SqlStore(spec["db"])
    n = spec["calls"]
    count = [0]
    event.listen(st.engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    out: dict = {}

    def stage(label: str, fn) -> None:
        _times(fn, 10)
        c0 = count[0]
        vals = _times(fn, n)
        out[label] = {
            "median_ms": sorted(vals)[len(vals) // 2],
            "statements": (count[0] - c0) / n,
        }

    stage("permission check: store.get_model(name) (_check -> _owner)", lambda: st.get_model(MODEL))
    stage("store.model_detail(ref)", lambda: st.model_detail(spec["ref"]))
    d = st.model_detail(spec["ref"])
    stage("server: model_detail_to_wire", lambda: model_detail_to_wire(d))
    w = model_detail_to_wire(d)
    stage("server: msgpack.packb", lambda: msgpack.packb(w, use_bin_type=True))
    b = msgpack.packb(w, use_bin_type=True)
    stage("client: msgpack.unpackb", lambda: msgpack.unpackb(b, raw=False))
    u = msgpack.unpackb(b, raw=False)
    stage("client: model_detail_from_wire", lambda: model_detail_from_wire(u))
    with httpx2.Client(base_url=spec["server_url"]) as c:
        stage("HTTP floor: GET /health, keep-alive", lambda: c.get("/health"))
    rs = RestStore(spec["server_url"])
    stage("RestStore.model_detail(ref), end to end", lambda: rs.model_detail(spec["ref"]))
    out["payload_bytes"] = {
        "msgpack": len(b),
        "provenance_in_it": len(msgpack.packb(w["run"]["provenance"], use_bin_type=True)),
    }
    st.close()
    return out


# -- MLflow (run by the anchors venv's interpreter) -----------------------------------
def child_mlflow_build(spec: dict) -> dict:
    """2,000 runs (params, metrics, tags: the harness's raw-SQL clone of a real run) and
    registered model x: 8 versions, production/staging moved as in the runtrack store."""
    import types

    sys.path.insert(0, spec["shared"])
    from mlflow_anchor import MlflowAdapter

    t0 = time.perf_counter()
    a = MlflowAdapter(mode="sqlite")
    a.setup(spec["workdir"])
    runs = []
    with open(spec["runs_file"]) as f:
        spec_runs = json.load(f)
    for r in spec_runs:
        params = {}
        for k, v in r["config"].items():
            if isinstance(v, dict):
                params.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            else:
                params[k] = v
        tags = dict(
            r["tags"],
            **{
                "mlflow.source.git.commit": r["commit"],
                "mlflow.source.name": "train.py",
                "mlflow.user": "alice",
            },
        )
        runs.append(
            types.SimpleNamespace(name=r["name"], params=params, tags=tags, metrics=r["metrics"])
        )
    a.populate_runs("churn", runs)
    c = a.client
    exp = a._exp("churn")
    found = c.search_runs([exp], max_results=10)
    ids = [r.info.run_id for r in found]
    c.create_registered_model(MODEL)
    versions = []
    for i in range(8):
        run = c.get_run(ids[i])
        mv = c.create_model_version(
            MODEL, source=run.info.artifact_uri + "/model", run_id=ids[i], tags={"week": str(i)}
        )
        versions.append(int(mv.version))
    for alias, v in [  # the runtrack store's alias log, move for move
        ("production", 1),
        ("staging", 2),
        ("staging", 3),
        ("production", 3),
        ("production", 1),
        ("staging", 4),
        ("staging", 5),
        ("production", 5),
        ("production", 6),
        ("staging", 7),
        ("production", 8),
    ]:
        c.set_registered_model_alias(MODEL, alias, str(v))
    n_runs = len(c.search_runs([exp], max_results=5000))
    a.teardown()
    import mlflow

    return {
        "db": a.db,
        "runs": n_runs,
        "versions": versions,
        "build_s": time.perf_counter() - t0,
        "mlflow": mlflow.__version__,
    }


def child_mlflow_fresh(spec: dict) -> dict:
    pc = time.perf_counter
    t0 = pc()
    from mlflow.tracking import MlflowClient

    t1 = pc()
    c = MlflowClient(spec["uri"])
    mv = c.get_model_version_by_alias(MODEL, "production")
    run = c.get_run(mv.run_id)
    t2 = pc()
    assert run.info.run_id == mv.run_id
    mv = c.get_model_version_by_alias(MODEL, "production")
    c.get_run(mv.run_id)
    t3 = pc()
    return {
        "import_ms": (t1 - t0) * 1e3,
        "modules_ms": 0.0,
        "first_ms": (t2 - t1) * 1e3,
        "second_ms": (t3 - t2) * 1e3,
        "total_ms": (t2 - t0) * 1e3,
        "nodes": 0,
    }


def child_mlflow_warm(spec: dict) -> dict:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(spec["uri"])

    def lookup() -> None:
        mv = c.get_model_version_by_alias(MODEL, "production")
        run = c.get_run(mv.run_id)
        _ = (run.data.params, run.data.metrics, run.data.tags)

    _times(lookup, spec["warmup"])
    pid = spec.get("server_pid")
    c0 = _cpu_of_tree(pid) if pid else None
    p0 = time.process_time()
    model_ms = _times(lookup, spec["calls"])
    client_cpu = time.process_time() - p0
    mv = c.get_model_version_by_alias(MODEL, "production")
    return {
        "model_ms": model_ms,
        "client_cpu_ms_per_call": client_cpu / spec["calls"] * 1e3,
        "server_cpu_ms_per_call": None
        if pid is None
        else (_cpu_of_tree(pid) - c0) / spec["calls"] * 1e3,
        "signature": {"version": int(mv.version), "run": mv.run_id},
    }


CHILDREN = {
    "fresh": child_fresh,
    "warm": child_warm,
    "profile": child_profile,
    "server-stages": child_server_stages,
    "first-call-profile": child_first_call_profile,
    "mlflow-build": child_mlflow_build,
    "mlflow-fresh": child_mlflow_fresh,
    "mlflow-warm": child_mlflow_warm,
}


def child(mode: str, env: dict, python: str = sys.executable, timeout: float = 1800, **spec):
    p = subprocess.run(
        [python, os.path.abspath(__file__), "--_child", json.dumps(dict(spec, mode=mode))],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=spec.get("cwd") or HERE,
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {mode} failed (rc={p.returncode}):\n{p.stderr[-4000:]}")


# ======================================================================================
# the parent
# ======================================================================================
def base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNTRACK_", "MLFLOW_"))}
    env["RUNTRACK_QUIET"] = "1"
    return env


def summary(vals: list[float]) -> dict:
    from bench_targets import pct

    s = sorted(vals)
    return {
        "median": pct(s, 0.5),
        "p95": pct(s, 0.95),
        "p99": pct(s, 0.99),
        "min": s[0],
        "max": s[-1],
        "n": len(s),
    }


def measure(
    res,
    label: str,
    env: dict,
    args,
    info: dict,
    *,
    target: float | None,
    server_pid: int | None = None,
    python: str = sys.executable,
    mlflow: bool = False,
    modules: tuple[str, ...] = (),
) -> dict:
    """Fresh-process and warm figures of one backend."""
    pre = "mlflow-" if mlflow else ""
    spec = {"ref": REF, "uri": info.get("uri"), "modules": modules}
    child(pre + "fresh", env, python, **spec)  # warms the OS cache and the .pyc cache
    fresh = [child(pre + "fresh", env, python, **spec) for _ in range(args.fresh)]
    warm = child(
        pre + "warm",
        env,
        python,
        **spec,
        warmup=args.warmup,
        calls=args.calls,
        secondary_calls=args.secondary_calls,
        down_calls=args.down_calls,
        history_at=info.get("history_at"),
        down_ref=info.get("down_ref"),
        server_pid=server_pid,
    )
    what = (
        "MlflowClient: get_model_version_by_alias + get_run"
        if mlflow
        else 'Api().model("x@production") + .lineage/.commit/.datasets'
    )
    st = summary(warm["model_ms"])
    res.add(
        f"{what} [{label}], warm: per call",
        warm["model_ms"],
        "ms",
        target=target,
        p95=st["p95"],
        p99=st["p99"],
        client_cpu_ms=warm["client_cpu_ms_per_call"],
        server_cpu_ms=warm["server_cpu_ms_per_call"],
    )
    res.add(f"  same, p95 [{label}]", [st["p95"]], "ms")
    res.add(
        f"  fresh process: import + first call, total [{label}]",
        [f["total_ms"] for f in fresh],
        "ms",
        target=target,
    )
    res.add(
        f"    of which importing the client package [{label}]",
        [f["import_ms"] for f in fresh],
        "ms",
    )
    if not mlflow:
        res.add(
            "    of which importing the store's modules (SQLAlchemy + driver, or the HTTP "
            f"client) [{label}]",
            [f["modules_ms"] for f in fresh],
            "ms",
        )
    res.add(
        f"    of which the first call (connect, schema check, cold caches) [{label}]",
        [f["first_ms"] for f in fresh],
        "ms",
    )
    res.add(f"  fresh process: second call [{label}]", [f["second_ms"] for f in fresh], "ms")
    if warm.get("server_cpu_ms_per_call") is not None:
        res.add(f"  server process CPU per call [{label}]", [warm["server_cpu_ms_per_call"]], "ms")
    res.add(f"  client process CPU per call [{label}]", [warm["client_cpu_ms_per_call"]], "ms")
    if not mlflow:
        if "history_at_ms" in warm:
            res.add(
                f'model_history("x", alias="production", at=t) [{label}]',
                warm["history_at_ms"],
                "ms",
                answer=warm["history_at_version"],
            )
        res.add(
            f'model_history("x"): the audit log, {warm["history_events"]} events [{label}]',
            warm["history_ms"],
            "ms",
        )
        res.add(
            f'lineage("x@production") upstream, {len(warm["signature"]["nodes"])} nodes [{label}]',
            warm["lineage_up_ms"],
            "ms",
        )
        if "down_ms" in warm:
            res.add(
                f'lineage("{info["down_ref"]}", direction="down"), {warm["down_nodes"]} '
                f"nodes, {warm['down_edges']} edges [{label}]",
                warm["down_ms"],
                "ms",
                truncated=warm["down_truncated"],
            )
    return {
        "fresh": fresh,
        "warm": {k: v for k, v in warm.items() if not k.endswith("_ms")},
        "stats": st,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", help="write every figure as JSON")
    ap.add_argument("--quick", action="store_true", help="200 runs / 1,000 versions, few calls")
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (scratch database)")
    ap.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma list of " + ", ".join(BACKENDS)
    )
    ap.add_argument("--calls", type=int, default=None, help="timed calls per backend (300)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--fresh", type=int, default=None, help="fresh processes per backend (15)")
    ap.add_argument("--secondary-calls", type=int, default=None, help="(100)")
    ap.add_argument("--down-calls", type=int, default=None, help="(30)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--anchor-python", default=ANCHOR_PYTHON)
    ap.add_argument("--work", help="working directory (default: a fresh temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep --work (and reuse its store)")
    ap.add_argument("--_child", dest="child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print("RESULT " + json.dumps(CHILDREN[spec["mode"]](spec)), flush=True)
        return 0

    sys.path.insert(0, HERE)
    import bench_targets as bt
    from bench_targets import Results, loadavg, table

    import runtrack

    q = args.quick
    args.calls = args.calls or (60 if q else 300)
    args.fresh = args.fresh or (4 if q else 15)
    args.secondary_calls = args.secondary_calls or (20 if q else 100)
    args.down_calls = args.down_calls or (5 if q else 30)
    backends = [b for b in args.backends.split(",") if b]
    for b in backends:
        if b not in BACKENDS:
            ap.error(f"unknown backend {b}")
    bytecode_note = None
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None or sys.flags.dont_write_bytecode:
        os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(bt.CACHE, "pycache"))
        prefix = os.environ["PYTHONPYCACHEPREFIX"]
        bytecode_note = f"PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX={prefix}"
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "runtrack": runtrack.__version__,
        "loadavg_start": loadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": subprocess.run(
            ["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
    }
    conf = {k: v for k, v in vars(args).items() if k not in ("child", "out")}
    conf["bytecode"] = bytecode_note
    print(
        f"runtrack {runtrack.__version__}, {env['cpus']} cpus, load {env['loadavg_start']}; {conf}",
        flush=True,
    )

    work = args.work or tempfile.mkdtemp(prefix="rt-registry-")
    os.makedirs(work, exist_ok=True)
    emb_dir = os.path.join(work, "embedded")
    os.makedirs(emb_dir, exist_ok=True)
    sqlite_path = os.path.join(emb_dir, "runtrack.db")
    sqlite_url = "sqlite:///" + sqlite_path
    manifest_path = os.path.join(work, "build.json")
    res = Results()
    out: dict = {"env": env, "config": conf, "results": res.rows, "backends": {}}
    pg_name = None
    servers = []
    try:
        # -- build ---------------------------------------------------------------------
        if args.keep and os.path.exists(manifest_path):
            with open(manifest_path) as f:
                info = json.load(f)
            print(f"== reusing the store in {work}", flush=True)
        else:
            if os.path.exists(sqlite_path):
                for p in (sqlite_path, sqlite_path + "-wal", sqlite_path + "-shm"):
                    if os.path.exists(p):
                        os.remove(p)
            print("== building the store (SqlStore public calls, SQLite)...", flush=True)
            info = build(sqlite_url, work, q)
            import sqlite3

            con = sqlite3.connect(sqlite_path)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.execute("ANALYZE")
            con.close()
            with open(manifest_path, "w") as f:
                json.dump(info, f, indent=1)
        info["tables"] = table_counts(sqlite_url)
        print(
            f"  built in {info['build_s']:.0f} s: {info['counts']}; tables {info['tables']}; "
            f"model versions {info['model_versions']}; popular data version {info['down_ref']} "
            f"({info['down_ref_direct_uses']} direct uses)",
            flush=True,
        )
        out["store"] = info
        from runtrack.store.sql.store import SqlStore

        st = SqlStore(sqlite_url)
        ref_sig = detail_signature(st.model_detail(REF))
        st.close()
        out["store"]["model_lineage"] = {
            "nodes": len(ref_sig["nodes"]),
            "edges": len(ref_sig["edges"]),
            "version": ref_sig["version"],
            "artifact": ref_sig["artifact"],
        }
        print(
            f"  {REF} = version {ref_sig['version']} ({ref_sig['artifact']}), lineage "
            f"{len(ref_sig['nodes'])} nodes / {len(ref_sig['edges'])} edges",
            flush=True,
        )

        pg_url = None
        if any(b in ("pg", "server-pg") for b in backends):
            print(
                "== copying it to a scratch PostgreSQL database (COPY, VACUUM ANALYZE)...",
                flush=True,
            )
            pg_url, pg_name, secs = bt.pg_database(args.pg, sqlite_path)
            st = SqlStore(pg_url)
            pg_sig = detail_signature(st.model_detail(REF))
            st.close()
            if pg_sig != ref_sig:
                raise RuntimeError("model_detail differs between the SQLite store and its copy")
            out["store"]["pg_copy_s"] = secs
            print(f"  {pg_name} in {secs:.0f} s; model_detail identical to SQLite's", flush=True)

        # -- runtrack backends ---------------------------------------------------------
        for b in backends:
            t0 = time.perf_counter()
            print(f"== {b}", flush=True)
            e = base_env()
            pid = None
            if b == "sqlite":
                e["RUNTRACK_DIR"] = emb_dir
            elif b == "pg":
                e.update(RUNTRACK_DIR=os.path.join(work, "client-pg"), RUNTRACK_DB=pg_url)
            else:
                from pathlib import Path

                from runtrack.testing.live import LiveServer

                db = pg_url if b == "server-pg" else sqlite_url
                srv = LiveServer(
                    Path(work) / f"srv-{b}", db=db, artifacts=os.path.join(work, "srv-artifacts")
                )
                srv.start(timeout=60)
                servers.append(srv)
                pid = srv.proc.pid
                e.update(RUNTRACK_URL=srv.url, RUNTRACK_DIR=os.path.join(work, f"client-{b}"))
            target = TARGET_SERVER_MS if b.startswith("server") else TARGET_EMBEDDED_MS
            label = {
                "sqlite": "embedded SQLite",
                "pg": "embedded PostgreSQL",
                "server-pg": "server on PostgreSQL",
                "server-sqlite": "server on SQLite",
            }[b]
            modules = ["runtrack.client.api", "runtrack.client._registry_api"]
            if b.startswith("server"):
                modules += ["runtrack.store.rest", "runtrack.protocol", "httpx2", "msgpack"]
                modules += ["httpcore2", "h11"]
            else:
                modules += [
                    "runtrack.store.sql.store",
                    "runtrack.store.sql._catalog",
                    "sqlalchemy.dialects.sqlite"
                    if b == "sqlite"
                    else "sqlalchemy.dialects.postgresql.psycopg",
                ]
                if b == "pg":
                    modules.append("psycopg")
            r = measure(
                res, label, e, args, info, target=target, server_pid=pid, modules=tuple(modules)
            )
            if r["warm"]["signature"] != ref_sig:
                raise RuntimeError(f"{b}: the answer differs from SqlStore's on SQLite")
            if b in ("sqlite", "pg") and not args.no_profile:
                r["profile"] = child("profile", e, ref=REF, calls=50, down_ref=info.get("down_ref"))
                for k, p in r["profile"].items():
                    if k == "dataset_labels":
                        print(f"  dataset labels: {p}", flush=True)
                        continue
                    print(
                        f"  profile {k}: {p['ms_per_call']:.2f} ms/call in-process, "
                        f"{p['statements_per_call']:.1f} statements, driver "
                        f"{p['driver_ms_per_call']:.2f} ms",
                        flush=True,
                    )
            if not args.no_profile:
                r["first_call_profile"] = child("first-call-profile", e, ref=REF, modules=modules)
                print(f"  first call, profiled: {r['first_call_profile']['ms']}", flush=True)
            if b.startswith("server") and not args.no_profile:
                r["stages"] = child(
                    "server-stages", base_env(), ref=REF, calls=100, db=db, server_url=srv.url
                )
                for k, v in r["stages"].items():
                    if isinstance(v, dict) and "median_ms" in v:
                        print(
                            f"  stage {k}: {v['median_ms']:.2f} ms, {v['statements']:.0f} "
                            "statements",
                            flush=True,
                        )
            out["backends"][b] = r
            if servers and b.startswith("server"):
                servers.pop().kill()
            print(f"  ({b} took {time.perf_counter() - t0:.0f} s, load {loadavg()})", flush=True)

        # -- MLflow --------------------------------------------------------------------
        if not args.no_mlflow:
            if not os.path.exists(args.anchor_python):
                print(f"== MLflow: {args.anchor_python} not found, skipped", flush=True)
                out["mlflow"] = "skipped: no anchors venv"
            else:
                out["mlflow"] = bench_mlflow(res, args, work, info, servers)
    finally:
        for s in servers:
            s.kill()
        if pg_name:
            bt.pg_drop(args.pg, pg_name)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    env["loadavg_end"] = loadavg()
    print("\n" + table(res.rows))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {args.out}")
    return 0


def bench_mlflow(res, args, work: str, info: dict, servers: list) -> dict:
    import bench_targets as bt
    from bench_targets import loadavg

    sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))
    from anchor_common import free_port, kill_tree, process_tree, wait_cpu_settled, wait_http

    t0 = time.perf_counter()
    py = args.anchor_python
    e = base_env()
    e["PYTHONPYCACHEPREFIX"] = "/tmp/anchors-pycache"
    mdir = os.path.join(work, "mlflow")
    os.makedirs(mdir, exist_ok=True)
    n = info["counts"]["runs"]
    runs = [
        {
            "name": r["name"],
            "config": r["config"],
            "tags": r["tags"],
            "metrics": r["metrics"],
            "commit": f"{i:040x}",
        }
        for i, r in enumerate(bt.make_runs(n, seed=7))
    ]
    print(f"== MLflow ({py}): building {n} runs + registered model x...", flush=True)
    runs_file = os.path.join(mdir, "runs.json")
    with open(runs_file, "w") as f:
        json.dump(runs, f)
    built = child(
        "mlflow-build",
        e,
        py,
        workdir=mdir,
        runs_file=runs_file,
        shared=os.path.join(HERE, "..", "..", "shared", "bench"),
    )
    print(
        f"  built in {built['build_s']:.0f} s: {built['runs']} runs, versions "
        f"{built['versions']} (MLflow {built['mlflow']})",
        flush=True,
    )
    result = {"build": built}
    db_uri = "sqlite:///" + built["db"]
    r = measure(
        res, "MLflow direct SQLite", e, args, {"uri": db_uri}, target=None, python=py, mlflow=True
    )
    result["sqlite"] = r
    # the harness's server command line, on the same database
    port = free_port()
    log = open(os.path.join(mdir, "server.log"), "wb")  # noqa: SIM115
    cmd = [
        py,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        db_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        os.path.join(mdir, "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    ts = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, cwd=mdir, start_new_session=True, env=e
    )
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_http(uri + "/health", timeout=240, proc=proc)
        started = time.perf_counter() - ts
        wait_cpu_settled(lambda: process_tree(proc.pid))
        print(f"  mlflow server answered /health after {started:.0f} s", flush=True)
        r = measure(
            res,
            "MLflow server (SQLite)",
            e,
            args,
            {"uri": uri},
            target=None,
            server_pid=proc.pid,
            python=py,
            mlflow=True,
        )
        result["server"] = r
    finally:
        kill_tree(proc.pid)
        log.close()
    print(f"  (MLflow took {time.perf_counter() - t0:.0f} s, load {loadavg()})", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
