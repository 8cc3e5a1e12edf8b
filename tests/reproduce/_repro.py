"""Helpers for the reproduce tests: a small git repository with a deterministic training
script (pure Python: seeded, reads a CSV recorded with use_dataset, logs metrics)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from runtrack.cli import cli

TRAIN = textwrap.dedent(
    """
    import argparse, csv, os, random, sys
    import runtrack

    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/train.csv")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-everything", action="store_true")
    p.add_argument("--noise", action="store_true", help="an unseeded random generator")
    p.add_argument("--fail-if", default=None, help="exit 3 when this file exists")
    args = p.parse_args()
    if args.seed_everything:
        runtrack.seed_everything(args.seed)
    else:
        random.seed(args.seed)
    with runtrack.init(project="repro", config=args) as run:
        run.use_dataset(args.data, name="train")
        rows = [float(r[0]) for r in csv.reader(open(args.data))]
        w = 0.0
        for epoch in range(args.epochs):
            for x in random.sample(rows, len(rows)):
                w += args.lr * (x - w)
            run.log({"loss": (w - 3.0) ** 2}, step=epoch)
        if args.noise:
            w += random.Random().random() * 1e-3
        if args.fail_if and os.path.exists(args.fail_if):
            print("boom: the marker file exists", flush=True)
            raise SystemExit(3)
        run.summary["w"] = w
    print("RUN", run.id)
    """
).lstrip()

DATA = "1\n2\n3\n4\n5\n6\n"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@dataclass
class Project:
    root: Path
    outside: Path  # a directory outside the repository (for data kept there)

    @classmethod
    def create(cls, root: Path, outside: Path) -> Project:
        root.mkdir(parents=True)
        outside.mkdir(parents=True)
        git(root, "init", "-q", "-b", "main")
        (root / "train.py").write_text(TRAIN)
        (root / "data").mkdir()
        (root / "data" / "train.csv").write_text(DATA)
        (root / ".gitignore").write_text("data/ignored*.csv\n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "first")
        return cls(root, outside)

    def commit(self, message: str = "change") -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def train(self, *args: str, script: str = "train.py") -> str:
        """Run the script as a user would (from the repository); returns the run id."""
        done = subprocess.run(
            [sys.executable, script, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        found = re.search(r"^RUN (\w+)$|\(run (\w+)\)", done.stdout, re.MULTILINE)
        assert found, done.stdout
        return found.group(1) or found.group(2)


def reproduce(*args: str) -> tuple[int, dict[str, Any], str]:
    """``runtrack reproduce ... --json`` (or ``rerun``): (exit code, document, stderr)."""
    result = CliRunner().invoke(cli, [*args, "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout), result.stderr


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
