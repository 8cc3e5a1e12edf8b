"""The run's inputs, resolved by content hash before anything runs.

Datasets (``run.use_dataset``): a dataset that was inside the repository is looked for in
the worktree first (committed data comes with the commit), then at its recorded path; one
outside is looked for at its recorded path. The first copy whose hash matches is used (a
copy outside the worktree is linked into it, at the place the script expects). If none
matches, the dataset is reported by name and path with both hashes, and nothing runs.

Artifacts (``run.use_artifact``): each version the run used must still exist with the
same digest; the reproduction is pinned to those versions (``RUNTRACK_PIN_ARTIFACTS``), so
``use_artifact("data:latest")`` gets the version the original got even if the alias moved
since, which is reported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, RuntrackError
from ._common import Reporter, Stage, StepFailed, map_path

if TYPE_CHECKING:
    from ..client.api import Api
    from ..entities import ArtifactVersion, DatasetInput

__all__ = ["check_artifacts", "check_datasets", "pins"]


def check_datasets(
    datasets: Sequence[DatasetInput],
    root: str,
    worktree: Path,
    cache_dir: Path,
    reporter: Reporter,
) -> list[dict[str, Any]]:
    """One entry per dataset: ``{"name", "path", "digest", "status", "used", "found"}``
    (status ``ok``, ``changed`` or ``missing``). Raises ``StepFailed`` (stage ``inputs``)
    naming every dataset that changed or is missing, after checking them all."""
    from ..client.provenance.datasets import hash_dataset

    out: list[dict[str, Any]] = []
    if datasets:
        reporter.stage("checking datasets by content hash", total=len(datasets))
    for ds in datasets:
        inside = map_path(ds.path, root, worktree)
        places = [p for p in (inside, ds.path) if p is not None]
        entry: dict[str, Any] = {
            "name": ds.name,
            "path": ds.path,
            "digest": ds.digest,
            "status": "missing",
            "used": None,
            "found": [],
        }
        for place in dict.fromkeys(places):
            if not os.path.exists(place):
                continue
            try:
                digest = hash_dataset(place, cache_dir=cache_dir).digest
            except RuntrackError as exc:
                entry["found"].append({"path": place, "error": exc.message})
                continue
            entry["found"].append({"path": place, "digest": digest})
            if digest == ds.digest:
                entry["status"], entry["used"] = "ok", place
                break
        else:
            if entry["found"]:
                entry["status"] = "changed"
        if entry["status"] == "ok" and inside is not None and entry["used"] != inside:
            _link(Path(entry["used"]), Path(inside))
            entry["linked_into_worktree"] = inside
        out.append(entry)
        reporter.advance()
    bad = [e for e in out if e["status"] != "ok"]
    if bad:
        raise StepFailed(Stage.INPUTS, _describe(bad), datasets=out)
    return out


def check_artifacts(api: Api, used: Sequence[ArtifactVersion]) -> list[dict[str, Any]]:
    """One entry per artifact version the run used: ``{"ref", "digest", "status",
    "latest", "aliases", "pinned"}``. Raises ``StepFailed`` (stage ``inputs``) if one was
    deleted or its digest is not the recorded one."""
    pinned = pins(used)
    out: list[dict[str, Any]] = []
    for v in used:
        entry: dict[str, Any] = {
            "ref": v.full_ref,
            "digest": v.digest,
            "status": "ok",
            "pinned": pinned.get(f"{v.project}/{v.name}") == v.version,
        }
        try:
            now = api.store.get_artifact_version(v.project, v.ref)
        except NotFoundError:
            entry["status"] = "missing"
        else:
            if now.digest != v.digest:
                entry["status"] = "changed"
            entry["aliases"] = list(now.aliases)
        try:
            latest = api.store.get_artifact_version(v.project, v.name).version
        except NotFoundError:
            latest = None
        entry["latest"] = latest
        if latest is not None and latest != v.version:
            entry["note"] = f"{v.project}/{v.name}:latest is now {latest}; pinned to {v.version}"
        out.append(entry)
    bad = [e for e in out if e["status"] != "ok"]
    if bad:
        what = "; ".join(
            f"{e['ref']} {'was deleted' if e['status'] == 'missing' else 'changed digest'}"
            for e in bad
        )
        raise StepFailed(Stage.INPUTS, f"inputs changed: artifact {what}", artifacts=out)
    return out


def pins(used: Sequence[ArtifactVersion]) -> dict[str, str]:
    """``{"project/name": "vN"}`` for each artifact of which the run used one version
    (with several versions of one name, which alias gave which is unknown: not pinned)."""
    seen: dict[str, set[str]] = {}
    for v in used:
        seen.setdefault(f"{v.project}/{v.name}", set()).add(v.version)
    return {key: next(iter(vs)) for key, vs in seen.items() if len(vs) == 1}


def _describe(bad: list[dict[str, Any]]) -> str:
    parts = []
    for e in bad:
        label = f"dataset {e['name']!r} ({e['path']})" if e["name"] else f"dataset {e['path']}"
        if e["status"] == "missing":
            parts.append(f"{label} is missing")
            continue
        found = ", ".join(
            f"{f['path']}: sha256 {f['digest'][:12]}"
            if "digest" in f
            else f"{f['path']}: {f['error']}"
            for f in e["found"]
        )
        parts.append(f"{label} changed: sha256 {e['digest'][:12]} recorded, now {found}")
    return "inputs changed: " + "; ".join(parts)


def _link(source: Path, dest: Path) -> None:
    """Make ``dest`` (in the worktree) a symbolic link to the verified ``source``."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        import shutil

        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(source.resolve(), target_is_directory=source.is_dir())
