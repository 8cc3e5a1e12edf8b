"""``runtrack lineage REF``: where an artifact, model or run came from, or what came of it,
as a tree."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import click

from ._common import STATUS_STYLE, emit_json, handle_errors, json_option, open_api
from ._registry import console, lineage_json

# what the child is to its parent, by edge kind and direction
_RELATION = {
    ("up", "produced"): "produced by",
    ("up", "used"): "used",
    ("up", "read"): "read",
    ("down", "produced"): "produced",
    ("down", "used"): "used by",
    ("down", "read"): "read by",
}
_MODEL_VERSION = re.compile(r"[^@/:]+/[0-9]+")


@click.command()
@click.argument("ref")
@click.option("--down", is_flag=True, help="What came of REF (default: where it came from).")
@click.option(
    "--depth",
    "-d",
    type=click.IntRange(min=1),
    metavar="N",
    help="At most N edges from REF (default: all).",
)
@click.option("--project", "-p", metavar="PROJECT", help="Project of an artifact REF.")
@json_option
@handle_errors
def lineage(ref: str, down: bool, depth: int | None, project: str | None, as_json: bool) -> None:
    """The lineage of REF as a tree: runs (name, id, status), artifact versions (ref, type,
    aliases) and datasets (path, digest). REF is an artifact (NAME:vN, NAME:ALIAS,
    PROJECT/NAME:vN), a model (NAME@ALIAS, NAME/VERSION), a run id or dataset:SHA256.
    Upward (default): what REF was made from; --down: what was made from REF. A node
    reached again is shown once and then marked "(see above)"."""
    api = open_api()
    direction = "down" if down else "up"
    graph = api.lineage(_root(api, ref), direction, depth, project=project)
    if as_json:
        emit_json(lineage_json(graph))
        return
    con = console()
    con.print(_tree(graph))
    if len(graph.nodes) == 1:
        con.print(
            "(nothing recorded "
            + ("downstream: no run used it yet)" if down else "upstream: no inputs were recorded)")
        )
    if graph.truncated:
        con.print("[yellow](truncated: the node limit was reached; use --depth)[/]")


def _root(api: Any, ref: str) -> str:
    """``name/3`` names a model version (the Api takes ``name@alias``): its artifact."""
    if _MODEL_VERSION.fullmatch(ref):
        from ..errors import ModelNotFoundError

        try:
            version = api.model_version(ref)
        except ModelNotFoundError:
            return ref  # project/name: an artifact after all
        return str(version.artifact.full_ref)
    return ref


def _label(node: Any, root_project: str | None) -> str:
    from rich.markup import escape

    data = node.data
    if node.kind == "run":
        status = str(data.get("status", "?"))
        style = STATUS_STYLE.get(status, "")
        run_id = node.id.removeprefix("run:")
        where = f"  project {node.project}" if node.project != root_project else ""
        return (
            f"[bold]run[/] {escape(node.label)}  [dim]{run_id}[/]  [{style}]{status}[/]"
            f"{escape(where)}"
        )
    if node.kind == "artifact":
        ref = node.label if node.project == root_project else node.id.removeprefix("artifact:")
        aliases = ", ".join(data.get("aliases") or ())
        return f"[bold]artifact[/] [cyan]{escape(ref)}[/]  {escape(str(data.get('type', '')))}" + (
            f"  [dim]aliases:[/] {escape(aliases)}" if aliases else ""
        )
    digest = str(data.get("digest") or node.id.removeprefix("dataset:"))
    path = str(data.get("path") or node.label)
    return f"[bold]dataset[/] {escape(path)}  [dim]sha256 {digest[:12]}[/]"


def _tree(graph: Any) -> Any:
    from rich.tree import Tree

    nodes = {n.id: n for n in graph.nodes}
    up = graph.direction == "up"
    children: dict[str, list[tuple[str, str]]] = {}
    for e in graph.edges:
        parent, child = (e.target, e.source) if up else (e.source, e.target)
        if parent in nodes and child in nodes:
            children.setdefault(parent, []).append((child, e.kind))
    root = nodes[graph.root]
    # projects are named only where they differ from the usual one (the root's)
    projects = Counter(n.project for n in graph.nodes if n.project)
    root_project = root.project or (projects.most_common(1)[0][0] if projects else None)
    tree = Tree(_label(root, root_project))
    seen = {root.id}

    def order(item: tuple[str, str]) -> tuple[str, str]:
        n = nodes[item[0]]
        return (n.kind, n.label)

    def grow(branch: Any, node_id: str) -> None:
        for child_id, kind in sorted(children.get(node_id, ()), key=order):
            relation = _RELATION.get((graph.direction, kind), kind)
            text = f"[dim]{relation}[/] {_label(nodes[child_id], root_project)}"
            if child_id in seen:
                branch.add(text + "  [dim](see above)[/]")
                continue
            seen.add(child_id)
            grow(branch.add(text), child_id)

    grow(tree, root.id)
    return tree
