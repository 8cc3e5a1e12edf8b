"""The model registry in SQL: registered models, their numbered versions (each one
artifact version and the run that made it), aliases moved with a reason, the append-only
audit log of every alias change, and promotion gates checked before an alias moves."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ...artifacts.manifest import validate_alias, validate_artifact_name
from ...entities import (
    AliasEvent,
    FrozenMap,
    ModelVersion,
    RegisteredModel,
    RunRecord,
    utc_from_timestamp,
)
from ...errors import (
    ModelNotFoundError,
    PromotionRefusedError,
    ValidationError,
)
from ...validation import check_tags
from ._artifacts import versions_by_id
from ._engine import insert_if_absent
from ._records import dumps, loads
from .schema import (
    model_alias_events,
    model_aliases,
    model_versions,
    projects,
    registered_models,
)

MAX_REASON: Final = 2000
MAX_DESCRIPTION: Final = 10_000
_NUMBER: Final = re.compile(r"v?([0-9]{1,9})")
_GATE_KEYS: Final = frozenset({"aliases", "tags", "metrics", "audit_score"})
_AUDIT_SCORE_KEY: Final = "audit.score"  # the summary key `runtrack audit` records
_OPS: Final = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_CONDITION: Final = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*")

LoadRun = Callable[[Connection, str], RunRecord | None]


# --------------------------------------------------------------------------------------
# Names and references
# --------------------------------------------------------------------------------------
def validate_model_name(name: object) -> str:
    """Like an artifact name: letters, digits, '.', '_', '-'; at most 128 characters."""
    try:
        return validate_artifact_name(name)
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("artifact name", "model name")) from None


def validate_model_alias(alias: object) -> str:
    alias = validate_alias(alias)
    if alias.isdigit():
        raise ValidationError(f"invalid alias {alias!r}: numbers name versions")
    if alias == "latest":
        raise ValidationError(
            "'latest' always names a model's newest version; it cannot be set or removed"
        )
    return alias


def parse_model_ref(ref: object) -> tuple[str, int | str | None]:
    """``name@alias`` -> (name, alias); ``name/3``, ``name@3``, ``name@v3`` -> (name, 3);
    ``name`` or ``name@latest`` -> (name, None): the newest version."""
    if not isinstance(ref, str) or not ref:
        raise ValidationError(
            f"model reference {ref!r} must be 'name', 'name@alias' or 'name/version'"
        )
    if "@" in ref:
        name, _, sel = ref.partition("@")
    elif "/" in ref:
        name, _, sel = ref.partition("/")
        if not sel.isdigit():
            raise ValidationError(
                f"model reference {ref!r}: after '/' comes a version number, e.g. {name}/3"
            )
    else:
        name, sel = ref, "latest"
    validate_model_name(name)
    m = _NUMBER.fullmatch(sel)
    if m:
        return name, int(m.group(1))
    if sel == "latest":
        return name, None
    return name, validate_model_alias(sel)


def check_reason(reason: object) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ValidationError(f"reason must be a string of at most {MAX_REASON} characters")
    return reason.strip() or None


def check_description(text: object) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
        raise ValidationError(
            f"description must be a string of at most {MAX_DESCRIPTION} characters"
        )
    return text


# --------------------------------------------------------------------------------------
# Promotion gates
# --------------------------------------------------------------------------------------
def check_gates(gates: object) -> list[dict[str, Any]]:
    """Validate and normalise gates: a list of
    ``{"aliases": [...] (default: every alias), "tags": {key: value or None},
    "metrics": {key: ">= 0.85"}, "audit_score": 80}``. A required tag with value None only
    has to exist; ``audit_score`` is the least ``runtrack audit`` score (0-100) of the
    version's run."""
    if isinstance(gates, Mapping):
        gates = [gates]
    if not isinstance(gates, list | tuple):
        raise ValidationError("gates must be a list of gate objects")
    out: list[dict[str, Any]] = []
    for i, gate in enumerate(gates):
        where = f"gate {i + 1}"
        if not isinstance(gate, Mapping):
            raise ValidationError(f"{where} must be an object")
        unknown = set(gate) - _GATE_KEYS
        if unknown:
            raise ValidationError(
                f"{where}: unknown key(s) {sorted(unknown, key=repr)}; a gate has 'aliases', "
                "'tags', 'metrics' and 'audit_score'"
            )
        norm: dict[str, Any] = {}
        aliases = gate.get("aliases")
        if aliases is not None:
            if isinstance(aliases, str) or not isinstance(aliases, list | tuple):
                raise ValidationError(f"{where}: aliases must be a list of alias names")
            norm["aliases"] = [validate_model_alias(a) for a in aliases]
        tags = gate.get("tags") or {}
        if isinstance(tags, list | tuple):
            tags = dict.fromkeys(tags)
        if not isinstance(tags, Mapping):
            raise ValidationError(f"{where}: tags must map tag names to a value (or null)")
        norm["tags"] = {
            str(k): (None if v is None else str(v)) for k, v in check_tags_or_keys(tags).items()
        }
        metrics = gate.get("metrics") or {}
        if not isinstance(metrics, Mapping):
            raise ValidationError(f"{where}: metrics must map metric keys to conditions")
        norm_metrics: dict[str, str] = {}
        for key, cond in metrics.items():
            op, value = parse_condition(key, cond, where)
            norm_metrics[str(key)] = f"{op} {value!r}"
        norm["metrics"] = norm_metrics
        threshold = gate.get("audit_score")
        if threshold is not None:
            norm["audit_score"] = _check_audit_score(threshold, where)
        if not norm["tags"] and not norm["metrics"] and "audit_score" not in norm:
            raise ValidationError(
                f"{where} requires nothing: give it tags, metrics or an audit_score"
            )
        out.append(norm)
    return out


def _check_audit_score(value: object, where: str) -> int | float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 100  # NaN fails too
    ):
        raise ValidationError(f"{where}: audit_score {value!r} must be a number from 0 to 100")
    return value


def check_tags_or_keys(tags: Mapping[Any, Any]) -> dict[str, str | None]:
    present = {k: v for k, v in tags.items() if v is not None}
    checked = check_tags(present)
    out: dict[str, str | None] = {}
    for k in tags:
        if not isinstance(k, str) or not k:
            raise ValidationError(f"tag name {k!r} must be a non-empty string")
        out[k] = checked.get(k)
    return out


def parse_condition(key: object, cond: object, where: str) -> tuple[str, float]:
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{where}: metric key {key!r} must be a non-empty string")
    if isinstance(cond, int | float) and not isinstance(cond, bool):
        return ">=", float(cond)
    m = _CONDITION.fullmatch(cond) if isinstance(cond, str) else None
    if m is None:
        raise ValidationError(
            f"{where}: condition {cond!r} for {key!r} must look like '>= 0.85' "
            "(operators >=, >, <=, <, ==, !=)"
        )
    try:
        value = float(m.group(2))
    except ValueError:
        raise ValidationError(f"{where}: {m.group(2)!r} in {cond!r} is not a number") from None
    if math.isnan(value):
        raise ValidationError(f"{where}: a condition cannot compare with NaN")
    return m.group(1), value


def gate_failures(
    gates: Sequence[Mapping[str, Any]],
    alias: str,
    version: ModelVersion,
    run: RunRecord | None,
) -> list[str]:
    """Every unmet requirement of the gates that apply to ``alias``, in plain words."""
    failures: list[str] = []
    tags = {**(dict(run.tags) if run else {}), **dict(version.tags)}
    for gate in gates:
        aliases = gate.get("aliases")
        if aliases is not None and alias not in aliases:
            continue
        for key, expected in (gate.get("tags") or {}).items():
            if key not in tags:
                failures.append(f"tag {key!r} is missing (required by the gate)")
            elif expected is not None and tags[key] != expected:
                failures.append(f"tag {key!r} is {tags[key]!r}, the gate requires {expected!r}")
        for key, cond in (gate.get("metrics") or {}).items():
            op, value = parse_condition(key, cond, "gate")
            if run is None:
                failures.append(f"metric {key!r} cannot be checked: the run was deleted")
                continue
            actual = run.summary.get(key)
            if not isinstance(actual, int | float) or isinstance(actual, bool):
                failures.append(f"run {run.id} has no metric {key!r} (gate: {key} {op} {value:g})")
            elif math.isnan(actual) or not _OPS[op](float(actual), value):
                failures.append(f"{key} = {actual:g} does not satisfy {op} {value:g}")
        threshold = gate.get("audit_score")
        if threshold is not None:
            failures.extend(_audit_failures(run, float(threshold)))
    return failures


def _audit_failures(run: RunRecord | None, threshold: float) -> list[str]:
    if run is None:
        return ["the audit score cannot be checked: the run was deleted"]
    score = run.summary.get(_AUDIT_SCORE_KEY)
    if not isinstance(score, int | float) or isinstance(score, bool) or math.isnan(score):
        return [f"run {run.id} has no audit score: run `runtrack audit {run.id}`"]
    if score < threshold:
        return [f"audit score {score:g} < {threshold:g} (run {run.id}; see `runtrack audit`)"]
    return []


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def _model_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    m = registered_models.c
    query = select(registered_models).where(m.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ModelNotFoundError(f"no registered model {name!r}")
    return row


def model_project(conn: Connection, name: str) -> str:
    """The project owning a registered model (for permission checks)."""
    validate_model_name(name)
    m, p = registered_models.c, projects.c
    project = conn.execute(
        select(p.name)
        .select_from(registered_models.join(projects, p.id == m.project_id))
        .where(m.name == name)
    ).scalar()
    if project is None:
        raise ModelNotFoundError(f"no registered model {name!r}")
    return str(project)


def _to_versions(conn: Connection, rows: Sequence[Any], model: str) -> list[ModelVersion]:
    if not rows:
        return []
    arts = versions_by_id(conn, sorted({r.artifact_version_id for r in rows}), {})
    by_version: dict[int, list[str]] = {}
    ma = model_aliases.c
    for r in conn.execute(
        select(ma.alias, ma.version).where(ma.model_id == rows[0].model_id).order_by(ma.alias)
    ):
        by_version.setdefault(r.version, []).append(r.alias)
    latest = conn.execute(
        select(func.max(model_versions.c.version)).where(
            model_versions.c.model_id == rows[0].model_id
        )
    ).scalar()
    out = []
    for r in rows:
        aliases = by_version.get(r.version, [])
        if r.version == latest:
            aliases = sorted([*aliases, "latest"])
        out.append(
            ModelVersion(
                model=model,
                version=r.version,
                artifact=arts[r.artifact_version_id],
                run_id=r.run_id,
                tags=FrozenMap(loads(r.tags)),
                description=r.description,
                created_by=r.created_by,
                created_at=utc_from_timestamp(r.created_at),  # type: ignore[arg-type]
                aliases=tuple(aliases),
            )
        )
    return out


def get_version(conn: Connection, ref: str) -> tuple[ModelVersion, str | None]:
    """The version a reference names, and the alias it named (if any)."""
    version, alias, _ = get_version_with_id(conn, ref)
    return version, alias


def get_version_with_id(conn: Connection, ref: str) -> tuple[ModelVersion, str | None, int]:
    """``get_version`` and the id of the artifact version behind it."""
    name, sel = parse_model_ref(ref)
    model = _model_row(conn, name)
    mv = model_versions.c
    alias = sel if isinstance(sel, str) else None
    if sel is None:
        number = conn.execute(select(func.max(mv.version)).where(mv.model_id == model.id)).scalar()
        if number is None:
            raise ModelNotFoundError(f"registered model {name!r} has no versions")
    elif isinstance(sel, int):
        number = sel
    else:
        ma = model_aliases.c
        number = conn.execute(
            select(ma.version).where(ma.model_id == model.id, ma.alias == sel)
        ).scalar()
        if number is None:
            raise ModelNotFoundError(f"registered model {name!r} has no alias {sel!r}")
    row = conn.execute(
        select(model_versions).where(mv.model_id == model.id, mv.version == number)
    ).first()
    if row is None:
        raise ModelNotFoundError(f"registered model {name!r} has no version {number}")
    return _to_versions(conn, [row], name)[0], alias, int(row.artifact_version_id)


def list_versions(conn: Connection, name: str) -> list[ModelVersion]:
    validate_model_name(name)
    model = _model_row(conn, name)
    mv = model_versions.c
    rows = list(
        conn.execute(select(model_versions).where(mv.model_id == model.id).order_by(mv.version))
    )
    return _to_versions(conn, rows, name)


def _to_model(conn: Connection, row: Any, project: str) -> RegisteredModel:
    mv, ma = model_versions.c, model_aliases.c
    count, top = conn.execute(
        select(func.count(mv.id), func.max(mv.version)).where(mv.model_id == row.id)
    ).one()
    aliases = {
        r.alias: r.version
        for r in conn.execute(
            select(ma.alias, ma.version).where(ma.model_id == row.id).order_by(ma.alias)
        )
    }
    return RegisteredModel(
        name=row.name,
        project=project,
        description=row.description,
        created_by=row.created_by,
        created_at=utc_from_timestamp(row.created_at),  # type: ignore[arg-type]
        latest_version=top,
        version_count=int(count),
        aliases=FrozenMap(aliases),
        gates=tuple(FrozenMap(g) for g in loads(row.gates)),
    )


def get_model(conn: Connection, name: str) -> RegisteredModel:
    validate_model_name(name)
    row = _model_row(conn, name)
    return _to_model(conn, row, model_project(conn, name))


def list_models(conn: Connection, project_ids: Sequence[int] | None) -> list[RegisteredModel]:
    m, p = registered_models.c, projects.c
    query = (
        select(registered_models, p.name.label("project"))
        .select_from(registered_models.join(projects, p.id == m.project_id))
        .order_by(m.name)
    )
    if project_ids is not None:
        query = query.where(m.project_id.in_(list(project_ids) or [-1]))
    return [_to_model(conn, r, r.project) for r in conn.execute(query)]


def history(conn: Connection, name: str, alias: str | None) -> list[AliasEvent]:
    validate_model_name(name)
    model = _model_row(conn, name)
    e = model_alias_events.c
    query = select(model_alias_events).where(e.model_id == model.id).order_by(e.at, e.id)
    if alias is not None:
        query = query.where(e.alias == validate_model_alias(alias))
    return [
        AliasEvent(
            subject=name,
            alias=r.alias,
            from_version=r.from_version,
            to_version=r.to_version,
            actor=r.actor,
            reason=r.reason,
            at=utc_from_timestamp(r.at),  # type: ignore[arg-type]
        )
        for r in conn.execute(query)
    ]


def version_at(conn: Connection, name: str, alias: str, at: float) -> ModelVersion | None:
    """The version ``alias`` pointed at, at time ``at`` (None: it was not set)."""
    validate_model_name(name)
    alias = validate_model_alias(alias)
    model = _model_row(conn, name)
    e = model_alias_events.c
    number = conn.execute(
        select(e.to_version)
        .where(e.model_id == model.id, e.alias == alias, e.at <= at)
        .order_by(e.at.desc(), e.id.desc())
        .limit(1)
    ).scalar()
    if number is None:
        return None
    mv = model_versions.c
    row = conn.execute(
        select(model_versions).where(mv.model_id == model.id, mv.version == number)
    ).first()
    if row is None:  # the version was deleted since: describe what it was as best we can
        return None
    return _to_versions(conn, [row], name)[0]


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def register(
    conn: Connection,
    name: str,
    artifact_version_id: int,
    *,
    run_id: str | None,
    project_id: int,
    actor: str,
    tags: Mapping[str, str],
    description: str | None,
    now: float,
) -> ModelVersion:
    """A new version of ``name`` (created on first use, owned by ``project_id``) for the
    artifact version; registering one artifact version twice returns its version."""
    insert_if_absent(
        conn,
        registered_models,
        {
            "name": name,
            "project_id": project_id,
            "description": None,
            "gates": "[]",
            "next_version": 1,
            "created_by": actor,
            "created_at": now,
        },
        ("name",),
    )
    model = _model_row(conn, name, lock=True)
    mv = model_versions.c
    row = conn.execute(
        select(model_versions).where(
            mv.model_id == model.id, mv.artifact_version_id == artifact_version_id
        )
    ).first()
    if row is None:
        number = model.next_version
        conn.execute(
            update(registered_models)
            .where(registered_models.c.id == model.id)
            .values(next_version=number + 1)
        )
        conn.execute(
            insert(model_versions).values(
                model_id=model.id,
                version=number,
                artifact_version_id=artifact_version_id,
                run_id=run_id,
                tags=dumps(dict(tags)),
                description=description,
                created_by=actor,
                created_at=now,
            )
        )
        row = conn.execute(
            select(model_versions).where(mv.model_id == model.id, mv.version == number)
        ).one()
    return _to_versions(conn, [row], name)[0]


def _event(
    conn: Connection,
    model_id: int,
    alias: str,
    old: int | None,
    new: int | None,
    actor: str,
    reason: str | None,
    now: float,
) -> None:
    conn.execute(
        insert(model_alias_events).values(
            model_id=model_id,
            alias=alias,
            from_version=old,
            to_version=new,
            actor=actor,
            reason=reason,
            at=round(now, 6),  # microseconds: what a datetime read back can hold
        )
    )


def set_alias(
    conn: Connection,
    name: str,
    alias: str,
    version: int | None,
    *,
    actor: str,
    reason: str | None,
    now: float,
    load_run: LoadRun,
) -> ModelVersion | None:
    """Point ``alias`` at ``version`` (None: remove it) after the promotion gates passed;
    append the change to the audit log. Refused: ``PromotionRefusedError``, nothing
    written. Setting an alias to where it already points changes nothing."""
    validate_model_name(name)
    alias = validate_model_alias(alias)
    model = _model_row(conn, name, lock=True)
    ma, mv = model_aliases.c, model_versions.c
    current = conn.execute(
        select(ma.version).where(ma.model_id == model.id, ma.alias == alias)
    ).scalar()
    if version is None:
        if current is not None:
            conn.execute(delete(model_aliases).where(ma.model_id == model.id, ma.alias == alias))
            _event(conn, model.id, alias, current, None, actor, reason, now)
        return None
    row = conn.execute(
        select(model_versions).where(mv.model_id == model.id, mv.version == version)
    ).first()
    if row is None:
        raise ModelNotFoundError(f"registered model {name!r} has no version {version}")
    target = _to_versions(conn, [row], name)[0]
    if current == version:
        return target
    gates = loads(model.gates)
    if gates:
        run = None if target.run_id is None else load_run(conn, target.run_id)
        failures = gate_failures(gates, alias, target, run)
        if failures:
            raise PromotionRefusedError(
                f"cannot point {name}@{alias} at version {version}: " + "; ".join(failures)
            )
    conn.execute(delete(model_aliases).where(ma.model_id == model.id, ma.alias == alias))
    conn.execute(insert(model_aliases).values(model_id=model.id, alias=alias, version=version))
    _event(conn, model.id, alias, current, version, actor, reason, now)
    return _to_versions(conn, [row], name)[0]


def set_gates(conn: Connection, name: str, gates: list[dict[str, Any]]) -> RegisteredModel:
    validate_model_name(name)
    model = _model_row(conn, name, lock=True)
    conn.execute(
        update(registered_models)
        .where(registered_models.c.id == model.id)
        .values(gates=dumps(gates))
    )
    return get_model(conn, name)


def set_description(conn: Connection, name: str, text: str | None) -> None:
    model = _model_row(conn, name, lock=True)
    conn.execute(
        update(registered_models).where(registered_models.c.id == model.id).values(description=text)
    )


def set_version_tags(
    conn: Connection, name: str, version: int, tags: Mapping[str, str]
) -> ModelVersion:
    """Merge tags into a model version's tags."""
    model = _model_row(conn, name, lock=True)
    mv = model_versions.c
    row = conn.execute(
        select(model_versions).where(mv.model_id == model.id, mv.version == version)
    ).first()
    if row is None:
        raise ModelNotFoundError(f"registered model {name!r} has no version {version}")
    merged = {**loads(row.tags), **tags}
    conn.execute(update(model_versions).where(mv.id == row.id).values(tags=dumps(merged)))
    return get_version(conn, f"{name}/{version}")[0]


def drop_model_versions_of(
    conn: Connection, artifact_version_id: int, *, actor: str, now: float
) -> None:
    """The artifact version is being deleted (forced): its model versions go with it and
    the aliases on them are removed, each removal audited."""
    mv, ma = model_versions.c, model_aliases.c
    for row in conn.execute(
        select(mv.id, mv.model_id, mv.version).where(mv.artifact_version_id == artifact_version_id)
    ).all():
        for alias in (
            conn.execute(
                select(ma.alias).where(ma.model_id == row.model_id, ma.version == row.version)
            )
            .scalars()
            .all()
        ):
            conn.execute(
                delete(model_aliases).where(ma.model_id == row.model_id, ma.alias == alias)
            )
            _event(
                conn,
                row.model_id,
                alias,
                row.version,
                None,
                actor,
                f"version {row.version} deleted with its artifact version",
                now,
            )
        conn.execute(delete(model_versions).where(mv.id == row.id))


def versions_of_run(conn: Connection, run_id: str) -> list[str]:
    """``model/N`` of every model version made by the run."""
    mv, m = model_versions.c, registered_models.c
    return [
        f"{r.name}/{r.version}"
        for r in conn.execute(
            select(m.name, mv.version)
            .select_from(model_versions.join(registered_models, m.id == mv.model_id))
            .where(mv.run_id == run_id)
        )
    ]
