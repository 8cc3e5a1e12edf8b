"""Metric series in SQL: appending points as compressed chunks, reading them back.

Appending (inside the caller's transaction):

1. ``run.log`` records are transposed into one column per key (steps, times, values)
   with C-level slicing: records that share a key set are laid out row-major in one
   ``array('d')`` and ``big[i::n]`` is key ``i``'s column.
2. Each key's new points are merged into its trailing not-yet-full chunks LSM-style:
   push the new run, then merge the last two runs while the older is not larger than
   the newer. Trailing chunk sizes stay strictly decreasing (at most log2 of
   ``CHUNK_POINTS`` of them), small writes do not leave small chunks behind, and every
   point is re-encoded O(log CHUNK_POINTS) times at most. A merged run that reaches
   ``CHUNK_POINTS`` is split into full chunks, which are never rewritten.
3. Step and time columns are usually identical for every key logged together, so their
   encodings are memoised by content for the duration of one write.
4. The per-key summary (last, min, max, count, last step) is updated from the new points
   only; min/max ignore NaN.
5. The chart envelopes of the new full chunks are stored in the same transaction, from
   the points in hand, when numpy is already loaded (``_downsample.write_envelopes``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.engine import Connection

from ...entities import MetricSeries, MetricsRecord
from . import _codec, _downsample
from .schema import metric_chunks, metric_summaries

Columns = tuple["array[int]", "array[float]", "array[float]"]  # steps, times, values
_IN_BATCH = 400  # keys per IN (...) list, well under every backend's parameter limit


@dataclass
class SummaryRow:
    """The mutable working copy of one ``metric_summaries`` row during a write."""

    key: str
    exists: bool
    value: float | None
    last: float | None
    min: float | None
    max: float | None
    count: int
    last_step: int | None
    tail: list[tuple[int, int]]
    next_seq: int

    def tail_text(self) -> str:
        return ",".join(f"{s}:{n}" for s, n in self.tail)


def transpose(records: Sequence[MetricsRecord]) -> dict[str, Columns]:
    """Per-key (steps, times, values) columns, each in logged order."""
    out: dict[str, Columns] = {}
    i, n = 0, len(records)
    while i < n:
        keys = records[i].keys
        j = i + 1
        while j < n and (records[j].keys is keys or records[j].keys == keys):
            j += 1
        group = records[i:j]
        steps = array("q", [r.step for r in group])
        times = array("d", [r.time for r in group])
        big = array("d")
        for r in group:
            big.extend(r.values)
        width = len(keys)
        for k, key in enumerate(keys):
            col = big[k::width] if width > 1 else big
            acc = out.get(key)
            out[key] = (
                (steps, times, col)
                if acc is None
                else (acc[0] + steps, acc[1] + times, acc[2] + col)
            )
        i = j
    return out


def _nan_min(col: Sequence[float]) -> float | None:
    m = min(col)
    if m != m:  # min() only returns NaN when the first value is NaN
        finite = [v for v in col if v == v]
        return min(finite) if finite else None
    return m


def _nan_max(col: Sequence[float]) -> float | None:
    m = max(col)
    if m != m:
        finite = [v for v in col if v == v]
        return max(finite) if finite else None
    return m


def _lo(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _hi(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _sql_float(v: float | None) -> float | None:
    """NaN has no SQL representation on SQLite; summaries keep it as NULL."""
    return None if v is None or math.isnan(v) else v


def _parse_tail(text: str) -> list[tuple[int, int]]:
    if not text:
        return []
    return [(int(s), int(n)) for s, n in (part.split(":") for part in text.split(","))]


def load_summaries(conn: Connection, run_id: str, keys: Iterable[str]) -> dict[str, SummaryRow]:
    t = metric_summaries.c
    out: dict[str, SummaryRow] = {}
    keys = list(keys)
    for i in range(0, len(keys), _IN_BATCH):
        rows = conn.execute(
            select(
                t.key,
                t.value,
                t.last,
                t.min,
                t.max,
                t.count.label("points"),
                t.last_step,
                t.tail,
                t.next_seq,
            ).where(t.run_id == run_id, t.key.in_(keys[i : i + _IN_BATCH]))
        )
        for r in rows:  # (a Row's .count is tuple.count: hence the label)
            out[r.key] = SummaryRow(
                r.key,
                True,
                r.value,
                r.last,
                r.min,
                r.max,
                r.points,
                r.last_step,
                _parse_tail(r.tail),
                r.next_seq,
            )
    for key in keys:
        if key not in out:
            out[key] = SummaryRow(key, False, None, None, None, None, 0, None, [], 0)
    return out


class Memo:
    """Encodings of step/time columns by content, for one write."""

    def __init__(self) -> None:
        self.steps: dict[bytes, tuple[bytes, int, int]] = {}
        self.times: dict[bytes, bytes] = {}

    def enc_steps(self, a: array[int]) -> tuple[bytes, int, int]:
        """The encoded column with its smallest and largest step."""
        raw = a.tobytes()
        hit = self.steps.get(raw)
        if hit is None:
            blob = _codec.encode_steps(a)
            reg = _codec.regular_steps(blob)
            if reg is not None:  # no need to look at every step
                lo, hi = (a[0], a[-1]) if reg[1] >= 0 else (a[-1], a[0])
            else:
                lo, hi = min(a), max(a)
            hit = self.steps[raw] = (blob, lo, hi)
        return hit

    def enc_times(self, a: array[float]) -> bytes:
        raw = a.tobytes()
        hit = self.times.get(raw)
        if hit is None:
            hit = self.times[raw] = _codec.encode_floats(a)
        return hit


Plan = dict[str, tuple[int, Columns]]  # key -> (index of the first merged tail run, cols)


def plan_append(
    columns: Mapping[str, Columns], summaries: Mapping[str, SummaryRow]
) -> tuple[Plan, list[tuple[str, int]]]:
    """Which trailing chunks each key's new points merge with: the plan, and the
    (key, seq) of the chunks to read and replace (none for a run's first points)."""
    plans: Plan = {}
    wanted: list[tuple[str, int]] = []
    for key, cols in columns.items():
        row = summaries[key]
        stack = [*(n for _, n in row.tail), len(cols[2])]
        while len(stack) >= 2 and stack[-2] <= stack[-1]:
            stack[-2:] = [stack[-2] + stack[-1]]
        first = len(stack) - 1  # tail runs [first:] are merged with the new points
        plans[key] = (first, cols)
        wanted.extend((key, seq) for seq, _ in row.tail[first:])
    return plans, wanted


def chunk_rows(
    run_id: str,
    plans: Plan,
    summaries: dict[str, SummaryRow],
    old: Mapping[tuple[str, int], Columns],
    memo: Memo | None = None,
    full: list[_downsample.FullChunk] | None = None,
) -> list[dict[str, Any]]:
    """The chunk rows to insert for a plan; updates ``summaries`` in place. ``memo`` may
    be shared by the runs of one write (their step columns are often alike); the points
    of the full chunks are added to ``full`` when given (for their envelopes)."""
    memo = memo or Memo()
    inserts: list[dict[str, Any]] = []
    for key, (first, cols) in plans.items():
        steps, times, vals = cols
        row = summaries[key]
        merged = row.tail[first:]
        if merged:
            parts = [old[(key, seq)] for seq, _ in merged]
            steps = sum((p[0] for p in parts), array("q")) + steps
            times = sum((p[1] for p in parts), array("d")) + times
            vals = sum((p[2] for p in parts), array("d")) + vals
        new_tail = row.tail[:first]
        total = len(vals)
        for start in range(0, total, _codec.CHUNK_POINTS):
            end = min(start + _codec.CHUNK_POINTS, total)
            s, t, v = steps[start:end], times[start:end], vals[start:end]
            seq = row.next_seq
            row.next_seq += 1
            step_blob, step_min, step_max = memo.enc_steps(s)
            inserts.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "seq": seq,
                    "n": end - start,
                    "step_min": step_min,
                    "step_max": step_max,
                    "codec": _codec.CODEC,
                    "steps": step_blob,
                    "times": memo.enc_times(t),
                    "vals": _codec.encode_floats(v),
                }
            )
            if end - start < _codec.CHUNK_POINTS:
                new_tail.append((seq, end - start))
            elif full is not None:
                full.append((key, seq, s, v))
        _update_summary(row, cols)
        row.tail = new_tail
    return inserts


INSERT_CHUNKS = insert(metric_chunks)  # built once: its cache key is memoised
INSERT_SUMMARIES = insert(metric_summaries)
_DELETE_CHUNKS = delete(metric_chunks).where(
    metric_chunks.c.run_id == bindparam("r"),
    metric_chunks.c.key == bindparam("k"),
    metric_chunks.c.seq == bindparam("s"),
)


def append(
    conn: Connection,
    run_id: str,
    columns: Mapping[str, Columns],
    summaries: dict[str, SummaryRow],
) -> None:
    """Append every key's new points; updates ``summaries`` in place (not written).
    The envelopes of the new full chunks are stored with them (``_downsample``)."""
    plans, wanted = plan_append(columns, summaries)
    old = _load_chunks(conn, run_id, wanted)
    full: list[_downsample.FullChunk] | None = [] if _downsample.envelopes_at_write() else None
    inserts = chunk_rows(run_id, plans, summaries, old, full=full)
    if wanted:
        conn.execute(_DELETE_CHUNKS, [{"r": run_id, "k": k, "s": s} for k, s in wanted])
    if inserts:
        conn.execute(INSERT_CHUNKS, inserts)
    if full:
        _downsample.write_envelopes(conn, run_id, full)


def _update_summary(row: SummaryRow, cols: Columns) -> None:
    steps, _, vals = cols
    if not len(vals):
        return
    row.count += len(vals)
    row.last = vals[-1]
    row.last_step = steps[-1]
    row.min = _lo(row.min, _nan_min(vals))
    row.max = _hi(row.max, _nan_max(vals))


def _load_chunks(
    conn: Connection, run_id: str, wanted: list[tuple[str, int]]
) -> dict[tuple[str, int], Columns]:
    out: dict[tuple[str, int], Columns] = {}
    c = metric_chunks.c
    for i in range(0, len(wanted), _IN_BATCH):
        part = wanted[i : i + _IN_BATCH]
        rows = conn.execute(
            select(c.key, c.seq, c.steps, c.times, c.vals).where(
                c.run_id == run_id, tuple_(c.key, c.seq).in_(part)
            )
        )
        for r in rows:
            out[(r.key, r.seq)] = (
                array("q", _codec.decode_steps(r.steps)),
                _codec.decode_floats(r.times),
                _codec.decode_floats(r.vals),
            )
    return out


def summary_rows(
    run_id: str,
    project_id: int,
    rows: Iterable[SummaryRow],
    user_summary: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The working copies as rows: (new keys to insert, existing keys to update)."""
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        override = user_summary.get(row.key)
        if isinstance(override, int | float) and not isinstance(override, bool):
            row.value = _sql_float(float(override))
        else:
            row.value = _sql_float(row.last)
        values = {
            "value": row.value,
            "last": _sql_float(row.last),
            "min": row.min,
            "max": row.max,
            "count": row.count,
            "last_step": row.last_step,
            "tail": row.tail_text(),
            "next_seq": row.next_seq,
        }
        if row.exists:
            changed.append({"b_key": row.key, **values})
        else:
            new.append({"run_id": run_id, "key": row.key, "project_id": project_id, **values})
            row.exists = True
    return new, changed


_UPDATE_SUMMARIES = (
    update(metric_summaries)
    .where(
        and_(
            metric_summaries.c.run_id == bindparam("b_run"),
            metric_summaries.c.key == bindparam("b_key"),
        )
    )
    .values(
        {
            name: bindparam(name)
            for name in ("value", "last", "min", "max", "count", "last_step", "tail", "next_seq")
        }
    )
)


def save_summaries(
    conn: Connection,
    run_id: str,
    project_id: int,
    rows: Iterable[SummaryRow],
    user_summary: Mapping[str, Any],
) -> None:
    """Write the working copies back (insert new keys, update existing ones)."""
    new, changed = summary_rows(run_id, project_id, rows, user_summary)
    if new:
        conn.execute(INSERT_SUMMARIES, new)
    if changed:
        for c in changed:
            c["b_run"] = run_id
        conn.execute(_UPDATE_SUMMARIES, changed)


def read_history(
    conn: Connection, run_id: str, keys: Sequence[str] | None
) -> dict[str, MetricSeries]:
    """Decode every chunk of the keys in one pass per column: value and time columns are
    concatenated as raw bytes and turned into one ``array('d')``; steps that advance by a
    constant stride across all chunks (the usual case) become a ``range``, at no cost."""
    c = metric_chunks.c
    query = select(c.key, c.steps, c.times, c.vals).where(c.run_id == run_id)
    batches: list[Any] = [query]
    if keys is not None:
        keys = list(dict.fromkeys(keys))
        batches = [
            query.where(c.key.in_(keys[i : i + _IN_BATCH])) for i in range(0, len(keys), _IN_BATCH)
        ]
    parts: dict[str, tuple[list[bytes], list[bytes | bytearray], list[bytes | bytearray]]] = {}
    for q in batches:
        for r in conn.execute(q.order_by(c.key, c.seq)):
            acc = parts.get(r.key)
            if acc is None:
                acc = parts[r.key] = ([], [], [])
            acc[0].append(r.steps)
            acc[1].append(_codec.decode_floats_raw(r.times))
            acc[2].append(_codec.decode_floats_raw(r.vals))
    order = keys if keys is not None else sorted(parts)
    return {
        k: MetricSeries(
            k,
            _steps(parts[k][0]),
            _codec.floats_from_raw(b"".join(parts[k][2])),
            _codec.floats_from_raw(b"".join(parts[k][1])),
        )
        for k in order
        if k in parts
    }


def _steps(blobs: list[bytes]) -> Sequence[int]:
    runs = [_codec.regular_steps(b) for b in blobs]
    if all(r is not None for r in runs):
        first: int | None = None
        stride: int | None = None
        last = total = 0
        for f, s, n in runs:  # type: ignore[misc]
            if n == 0:
                continue
            if first is None:
                first = f
            else:
                gap = f - last
                if stride is None:
                    stride = gap
                elif gap != stride:
                    break
            if n > 1:
                if stride is None:
                    stride = s
                elif s != stride:
                    break
            last = f + (n - 1) * s
            total += n
        else:
            if first is None:
                return range(0)
            if total == 1:
                return range(first, first + 1)
            if stride:
                return range(first, first + total * stride, stride)
    out: list[int] = []
    for b in blobs:
        out.extend(_codec.decode_steps(b))
    return out
