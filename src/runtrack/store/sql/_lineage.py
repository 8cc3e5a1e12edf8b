"""Lineage in SQL: the graph run -used-> artifact version -produced-by-> run, with the
datasets runs read, walked breadth-first upstream or downstream, one batch of queries per
level (a graph of N levels costs O(N) round trips, not one per node)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ...entities import Lineage, LineageEdge, LineageNode, utc_from_timestamp
from ...errors import RunNotFoundError, ValidationError
from ...validation import check_existing_run_id
from ._artifacts import versions_by_id
from .schema import projects, run_inputs, run_outputs, run_uses, runs

MAX_NODES: Final = 10_000
_BATCH: Final = 400

Direction = Literal["up", "down"]


def check_direction(direction: object) -> Direction:
    if direction not in ("up", "down"):
        raise ValidationError(
            f"direction {direction!r} must be 'up' (where it came from) or 'down' (what came of it)"
        )
    return direction


def check_depth(depth: object) -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValidationError(f"depth {depth!r} must be an integer >= 0 or None (no limit)")
    return depth


def _chunks(items: Iterable[str | int]) -> Iterable[list[str | int]]:
    items = list(items)
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def walk(
    conn: Connection,
    root: tuple[str, str | int],
    direction: Direction,
    depth: int | None,
) -> Lineage:
    """``root``: ("run", run_id), ("artifact", version_id) or ("dataset", digest)."""
    kind, key = root
    runs_seen: dict[str, int] = {}
    versions_seen: dict[int, int] = {}
    datasets_seen: dict[str, int] = {}
    edges: set[tuple[str, str, str]] = set()
    frontier_runs: set[str] = set()
    frontier_versions: set[int] = set()
    frontier_datasets: set[str] = set()
    if kind == "run":
        runs_seen[str(key)] = 0
        frontier_runs.add(str(key))
    elif kind == "artifact":
        versions_seen[int(key)] = 0
        frontier_versions.add(int(key))
    else:
        datasets_seen[str(key)] = 0
        frontier_datasets.add(str(key))
    level = 0
    truncated = False
    u, o, i = run_uses.c, run_outputs.c, run_inputs.c
    while (frontier_runs or frontier_versions or frontier_datasets) and (
        depth is None or level < depth
    ):
        level += 1
        next_runs: set[str] = set()
        next_versions: set[int] = set()
        next_datasets: set[str] = set()
        if direction == "down":
            for part in _chunks(frontier_versions):  # version -> runs that used it
                for r in conn.execute(select(u.version_id, u.run_id).where(u.version_id.in_(part))):
                    edges.add((f"v{r.version_id}", f"r{r.run_id}", "used"))
                    next_runs.add(r.run_id)
            for part in _chunks(frontier_datasets):  # dataset -> runs that read it
                for r in conn.execute(select(i.digest, i.run_id).where(i.digest.in_(part))):
                    edges.add((f"d{r.digest}", f"r{r.run_id}", "read"))
                    next_runs.add(r.run_id)
            for part in _chunks(frontier_runs):  # run -> versions it produced
                for r in conn.execute(select(o.run_id, o.version_id).where(o.run_id.in_(part))):
                    edges.add((f"r{r.run_id}", f"v{r.version_id}", "produced"))
                    next_versions.add(r.version_id)
        else:
            for part in _chunks(frontier_versions):  # version <- runs that produced it
                for r in conn.execute(select(o.version_id, o.run_id).where(o.version_id.in_(part))):
                    edges.add((f"r{r.run_id}", f"v{r.version_id}", "produced"))
                    next_runs.add(r.run_id)
            for part in _chunks(frontier_runs):  # run <- versions it used, datasets it read
                for r in conn.execute(select(u.run_id, u.version_id).where(u.run_id.in_(part))):
                    edges.add((f"v{r.version_id}", f"r{r.run_id}", "used"))
                    next_versions.add(r.version_id)
                for r in conn.execute(select(i.run_id, i.digest).where(i.run_id.in_(part))):
                    edges.add((f"d{r.digest}", f"r{r.run_id}", "read"))
                    next_datasets.add(r.digest)
        frontier_runs = {x for x in next_runs if x not in runs_seen}
        frontier_versions = {x for x in next_versions if x not in versions_seen}
        frontier_datasets = {x for x in next_datasets if x not in datasets_seen}
        for x in frontier_runs:
            runs_seen[x] = level
        for v in frontier_versions:
            versions_seen[v] = level
        for d in frontier_datasets:
            datasets_seen[d] = level
        if len(runs_seen) + len(versions_seen) + len(datasets_seen) > MAX_NODES:
            truncated = True
            break
    return _build(
        conn, kind, key, direction, depth, runs_seen, versions_seen, datasets_seen, edges, truncated
    )


def _build(
    conn: Connection,
    kind: str,
    key: str | int,
    direction: Direction,
    depth: int | None,
    runs_seen: dict[str, int],
    versions_seen: dict[int, int],
    datasets_seen: dict[str, int],
    edges: set[tuple[str, str, str]],
    truncated: bool,
) -> Lineage:
    names: dict[int, str] = {
        r.id: r.name for r in conn.execute(select(projects.c.id, projects.c.name))
    }
    ids: dict[str, str] = {}
    nodes: list[LineageNode] = []
    rc = runs.c
    found_runs: set[str] = set()
    for part in _chunks(runs_seen):
        for r in conn.execute(
            select(
                rc.id, rc.name, rc.status, rc.project_id, rc.user, rc.start_time, rc.end_time
            ).where(rc.id.in_(part))
        ):
            found_runs.add(r.id)
            ids[f"r{r.id}"] = f"run:{r.id}"
            nodes.append(
                LineageNode(
                    id=f"run:{r.id}",
                    kind="run",
                    label=r.name,
                    project=names.get(r.project_id),
                    depth=runs_seen[r.id],
                    data={
                        "status": r.status,
                        "user": r.user,
                        "start_time": _iso(r.start_time),
                        "end_time": _iso(r.end_time),
                    },
                )
            )
    for run_id in runs_seen.keys() - found_runs:  # a deleted run still named by an edge
        ids[f"r{run_id}"] = f"run:{run_id}"
        nodes.append(
            LineageNode(
                id=f"run:{run_id}",
                kind="run",
                label=run_id,
                project=None,
                depth=runs_seen[run_id],
                data={"deleted": True},
            )
        )
    versions = versions_by_id(conn, sorted(versions_seen), names)
    for vid, v in versions.items():
        node_id = f"artifact:{v.full_ref}"
        ids[f"v{vid}"] = node_id
        nodes.append(
            LineageNode(
                id=node_id,
                kind="artifact",
                label=v.ref,
                project=v.project,
                depth=versions_seen[vid],
                data={
                    "type": v.type,
                    "digest": v.digest,
                    "size": v.size,
                    "file_count": v.file_count,
                    "aliases": list(v.aliases),
                    "created_by": v.created_by,
                },
            )
        )
    dataset_info: dict[str, tuple[str, str]] = {}
    i = run_inputs.c
    for part in _chunks(datasets_seen):  # one path per digest, however many runs read it
        query = (
            select(i.digest, func.min(i.path).label("path"))
            .where(i.digest.in_(part))
            .group_by(i.digest)
        )
        for d in conn.execute(query):
            dataset_info[d.digest] = (d.path, d.path.rsplit("/", 1)[-1])
    for digest, level in datasets_seen.items():
        path, label = dataset_info.get(digest, ("", digest[:12]))
        ids[f"d{digest}"] = f"dataset:{digest}"
        nodes.append(
            LineageNode(
                id=f"dataset:{digest}",
                kind="dataset",
                label=label or digest[:12],
                project=None,
                depth=level,
                data={"digest": digest, "path": path},
            )
        )
    root_key = {"run": f"r{key}", "artifact": f"v{key}", "dataset": f"d{key}"}[kind]
    if root_key not in ids:
        raise RunNotFoundError(f"lineage root {key!r} does not exist")
    out_edges = [
        LineageEdge(ids[s], ids[t], k)  # type: ignore[arg-type]
        for s, t, k in edges
        if s in ids and t in ids
    ]
    out_edges.sort(key=lambda e: (e.source, e.target, e.kind))
    nodes.sort(key=lambda n: (n.depth, n.kind, n.id))
    return Lineage(
        root=ids[root_key],
        direction=direction,
        depth=depth,
        nodes=tuple(nodes),
        edges=tuple(out_edges),
        truncated=truncated,
    )


def _iso(ts: float | None) -> str | None:
    dt = utc_from_timestamp(ts)
    return None if dt is None else dt.isoformat()


def run_exists(conn: Connection, run_id: str) -> bool:
    check_existing_run_id(run_id)
    return conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None
