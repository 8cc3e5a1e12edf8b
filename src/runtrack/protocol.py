"""The wire form of writes: ops and records as JSON-compatible dicts.

Used by the journal (on disk) and by the REST store and server (over HTTP), so one
encoding is tested once. Decoding validates the shape and raises ``ValidationError``
naming the problem: a decoder may face an untrusted peer. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .entities import (
    ArtifactFile,
    ArtifactOp,
    ArtifactSpec,
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    InputOp,
    NotesOp,
    Op,
    ProvenanceOp,
    StatusOp,
    SummaryOp,
    TagsOp,
)
from .errors import ValidationError


def spec_to_json(spec: ArtifactSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "digest": spec.digest,
        "metadata": dict(spec.metadata),
        "aliases": list(spec.aliases),
        "files": [[f.path, f.digest, f.size] for f in spec.files],
    }


def spec_from_json(d: Mapping[str, Any]) -> ArtifactSpec:
    try:
        files = tuple(ArtifactFile(str(p), str(g), int(s)) for p, g, s in d["files"])
        return ArtifactSpec(
            name=d["name"],
            type=d["type"],
            files=files,
            digest=d["digest"],
            metadata=dict(d.get("metadata") or {}),
            aliases=tuple(d.get("aliases") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed artifact spec: {exc!r}") from None


def op_to_json(op: Op) -> dict[str, Any]:
    kind = op.KIND
    if isinstance(op, ConfigOp | SummaryOp):
        return {"kind": kind, "values": dict(op.values)}
    if isinstance(op, TagsOp):
        return {"kind": kind, "tags": dict(op.tags)}
    if isinstance(op, NotesOp | ConsoleOp):
        return {"kind": kind, "text": op.text}
    if isinstance(op, StatusOp):
        return {"kind": kind, "status": op.status, "time": op.time, "error": op.error}
    if isinstance(op, ProvenanceOp):
        return {"kind": kind, "data": dict(op.data)}
    if isinstance(op, InputOp):
        return {"kind": kind, "dataset": op.dataset.to_json()}
    if isinstance(op, ArtifactOp):
        return {"kind": kind, "spec": spec_to_json(op.spec)}
    raise ValidationError(f"unknown op {type(op).__name__}")


def op_from_json(d: Any) -> Op:
    if not isinstance(d, Mapping) or not isinstance(d.get("kind"), str):
        raise ValidationError("an op must be an object with a 'kind'")
    kind = d["kind"]
    try:
        if kind == "config":
            return ConfigOp(_mapping(d["values"]))
        if kind == "summary":
            return SummaryOp(_mapping(d["values"]))
        if kind == "tags":
            return TagsOp(_mapping(d["tags"]))
        if kind == "notes":
            return NotesOp(d["text"])
        if kind == "console":
            return ConsoleOp(d["text"])
        if kind == "status":
            return StatusOp(d["status"], float(d["time"]), d.get("error"))
        if kind == "provenance":
            return ProvenanceOp(_mapping(d["data"]))
        if kind == "input":
            return InputOp(DatasetInput.from_json(_mapping(d["dataset"])))
        if kind == "artifact":
            return ArtifactOp(spec_from_json(_mapping(d["spec"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed {kind!r} op: {exc!r}") from None
    raise ValidationError(f"unknown op kind {kind!r}")


def _mapping(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise TypeError(f"expected an object, got {type(v).__name__}")
    return dict(v)
