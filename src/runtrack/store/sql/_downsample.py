"""Downsampled metric series from per-chunk envelopes, without reading every point.

A series is stored in chunks of ``CHUNK_POINTS`` points (``_metrics``), and a chunk is
never changed once written: a merge of trailing chunks writes new ones under new
sequence numbers and deletes the old. So ``(run, key, seq)`` names immutable content,
and what a chart needs of a chunk can be computed once and kept:

* its **envelope**: the first and last points and, per bucket of ``BUCKET`` points, the
  minimum and the maximum (with their steps; times are added the first time a chart
  asks for a time axis). ~130 points stand for 8,192.

A request for ~2,000 points of a 1,000,000-point series then reads the chunks' step
ranges (no blobs), concatenates ~15,000 envelope points and keeps the extremes of those
(the extremes of the envelopes are the extremes of the series). Only when a zoomed range
holds too few chunks for the envelopes to be fine enough are its raw points decoded.

Envelopes live in a bounded in-memory cache of the store (per process; each process
fills its own): a cache of immutable facts, so servers stay stateless. The envelopes of
full chunks (the ones never rewritten) are also kept in ``metric_envelopes``, so that a
server that just started reads ~130 stored points per chunk instead of decoding 8,192:

* **at write**: the write that creates a full chunk computes its envelope from the points
  in hand and stores it in the same transaction (``write_envelopes``), when numpy is
  already imported in the writing process (a training script almost always, a server
  always: it loads numpy at start-up). That costs ~0.25 ms per 8,192-point chunk, ~5 %
  of the write's CPU. Without numpy loaded, importing it (~0.15 s) or the pure-Python
  extremes (~1 ms per chunk) would cost ingestion 20-30 %, so the write leaves them to
  the read. A failure to compute them never fails the write (logged at debug level).
* **at read**: a full chunk whose envelope is missing (written without numpy, or before
  this existed) is decoded once, by the first chart that reads it, and its envelope
  written after the read (``save_envelopes``: best effort, in a transaction of its own,
  never failing or delaying the read for long).

Both compute the same envelope (``_keep``: the codec is lossless). Times are not part of
a written envelope; the first chart on a time axis adds them. A merge only rewrites the
trailing chunks, which are never full, and seqs are never reused: a stored envelope is
never stale. Trailing chunks' envelopes are computed on read and only cached in memory.

Two levels. The envelope above (``FINE``: 128 points per bucket, ~130 points and ~2.6 KB
a chunk) is what a zoomed-in chart needs; a zoomed-out chart of a long series needs far
less: 2,000 points of a 1,000,000-point series are buckets of ~1,000 points. So each full
chunk also has an **overview** (``OVERVIEW``: 512 points per bucket, 16 buckets, ~34
points), kept compact in ``metric_overviews`` (~370 bytes: uint16 positions, float64
values, the steps only when they are not regular): the first view of a 1,000,000-point
series reads ~45 KB instead of ~320 KB. A request takes the coarsest level whose buckets
are still finer than the ones it asks for (``_level``), else the raw points. The
overview of a full chunk is computed from its envelope (``coarsen``: a 512-point bucket
is four 128-point ones, so its minimum and maximum are among theirs, first occurrences
included: the same points as from the raw values), written with it, or, for a chunk
stored before overviews existed, by the first read that wants it (from the stored
envelope: no chunk decoded) and saved like the envelopes.
"""

from __future__ import annotations

import logging
import struct
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table, and_, bindparam, insert, select, text, tuple_, update
from sqlalchemy.engine import Connection

from ..downsample import DownsampledSeries, XAxis, downsample, extremes, in_range
from . import _codec
from ._engine import _BUSY_TIMEOUT_MS
from .schema import metric_chunks, metric_envelopes, metric_overviews

log = logging.getLogger("runtrack")

BUCKET = 128  # points of a chunk per envelope bucket (64 buckets in a full chunk)
OVERVIEW_BUCKET = 512  # points per overview bucket (16 in a full chunk)
RAW, FINE, OVERVIEW = -1, 0, 1  # what a series is drawn from: points, envelopes, overviews
_SIZE = {FINE: BUCKET, OVERVIEW: OVERVIEW_BUCKET}
_IN_BATCH = 400
assert _codec.CHUNK_POINTS % OVERVIEW_BUCKET == 0 and OVERVIEW_BUCKET % BUCKET == 0
assert _codec.CHUNK_POINTS <= 0xFFFF  # overview positions are uint16


@dataclass(slots=True)
class Envelope:
    """The points of one chunk that a chart of any zoom level needs."""

    n: int
    steps: array[int]
    values: array[float]
    times: array[float] | None  # filled on the first request for a time axis
    positions: array[int]  # indices of the kept points inside the chunk


CacheKey = tuple[str, str, int, int, int]  # run, key, seq, n, level


class EnvelopeCache:
    """A bounded LRU of envelopes by (run, key, seq, n, level). Thread-safe."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[CacheKey, Envelope] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k: CacheKey) -> Envelope | None:
        with self._lock:
            env = self._items.get(k)
            if env is not None:
                self._items.move_to_end(k)
            return env

    def put(self, k: CacheKey, env: Envelope) -> None:
        with self._lock:
            self._items[k] = env
            self._items.move_to_end(k)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class _Chunk(NamedTuple):  # a tuple: a series has ~100 of them per 1,000,000 points
    key: str
    seq: int
    n: int
    step_min: int
    step_max: int


def _chunks(conn: Connection, run_id: str, keys: Sequence[str]) -> dict[str, list[_Chunk]]:
    c = metric_chunks.c
    out: dict[str, list[_Chunk]] = {k: [] for k in keys}
    for i in range(0, len(keys), _IN_BATCH):
        q = (
            select(c.key, c.seq, c.n, c.step_min, c.step_max)
            .where(c.run_id == run_id, c.key.in_(keys[i : i + _IN_BATCH]))
            .order_by(c.key, c.seq)
        )
        make = _Chunk._make
        for r in conn.execute(q).all():
            out[r[0]].append(make(r))
    return out


def _blobs(
    conn: Connection, run_id: str, wanted: Sequence[tuple[str, int]], column: str
) -> dict[tuple[str, int], tuple[bytes, bytes]]:
    """(steps blob, ``column`` blob) of the chunks named by (key, seq)."""
    return {k: (v[0], v[1]) for k, v in _columns(conn, run_id, wanted, "steps", column).items()}


def _columns(
    conn: Connection, run_id: str, wanted: Sequence[tuple[str, int]], *columns: str
) -> dict[tuple[str, int], tuple[bytes, ...]]:
    """The blobs ``columns`` of the chunks named by (key, seq)."""
    c = metric_chunks.c
    cols = [getattr(c, name) for name in columns]
    out: dict[tuple[str, int], tuple[bytes, ...]] = {}
    for i in range(0, len(wanted), _IN_BATCH):
        part = list(wanted[i : i + _IN_BATCH])
        q = select(c.key, c.seq, *cols).where(
            and_(c.run_id == run_id, tuple_(c.key, c.seq).in_(part))
        )
        for r in conn.execute(q):
            out[(r[0], r[1])] = tuple(r[2:])
    return out


_LITTLE = sys.byteorder == "little"


def _pack(a: array[Any]) -> bytes:
    if not _LITTLE:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _unpack(typecode: str, blob: bytes | memoryview) -> array[Any]:
    a: array[Any] = array(typecode)
    a.frombytes(blob)
    if not _LITTLE:
        a.byteswap()
    return a


def _by_chunk(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    run_id: str,
    wanted: Sequence[tuple[str, int]],
    build: Callable[..., Envelope],
) -> dict[tuple[str, int], Envelope]:
    """``build(*columns)`` of each row of a per-chunk table (envelopes, overviews) among
    the chunks named by (key, seq). Asked by key and range of seqs (what a chart wants is
    mostly every full chunk of its keys): a list of (key, seq) pairs costs 2-3 times more
    to send and look up."""
    c = table.c
    want = set(wanted)
    if not want:
        return {}
    keys = list(dict.fromkeys(key for key, _ in wanted))
    lo, hi = min(seq for _, seq in want), max(seq for _, seq in want)
    out: dict[tuple[str, int], Envelope] = {}
    for i in range(0, len(keys), _IN_BATCH):
        q = select(c.key, c.seq, *(c[name] for name in columns)).where(
            c.run_id == run_id, c.key.in_(keys[i : i + _IN_BATCH]), c.seq.between(lo, hi)
        )
        for key, seq, *rest in conn.execute(q).all():
            if (key, seq) in want:
                out[(key, seq)] = build(*rest)
    return out


def _envelope_of(
    n: int, positions: bytes, steps: bytes, times: bytes | None, vals: bytes
) -> Envelope:
    return Envelope(
        n,
        _unpack("q", steps),
        _unpack("d", vals),
        None if times is None else _unpack("d", times),
        array("q", _unpack("i", positions)),
    )


def _stored(
    conn: Connection, run_id: str, wanted: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Envelope]:
    """The envelopes of ``metric_envelopes`` among the chunks named by (key, seq)."""
    cols = ("n", "positions", "steps", "times", "vals")
    return _by_chunk(conn, metric_envelopes, cols, run_id, wanted, _envelope_of)


# -- overviews: a full chunk's envelope at ``OVERVIEW_BUCKET`` points per bucket, compact
_OV_HEAD = struct.Struct("<BHqq")  # flags, count, first step, stride
_IRREGULAR = 1  # flag: the steps follow the values (else first + position * stride)


def _pack_overview(env: Envelope) -> bytes:
    """An overview as ``metric_overviews.points``: header, positions (uint16), values
    (float64), and the steps (int64) only when they are not first + position * stride."""
    pos, steps, k = env.positions, env.steps, len(env.positions)
    flags, first, stride = 0, 0, 0
    if k:
        if k > 1 and pos[-1] != pos[0]:
            stride = (steps[-1] - steps[0]) // (pos[-1] - pos[0])
        first = steps[0] - pos[0] * stride
        if not all(s == first + p * stride for p, s in zip(pos, steps, strict=True)):
            flags, first, stride = _IRREGULAR, 0, 0
    try:
        head = _OV_HEAD.pack(flags, k, first, stride)
    except struct.error:  # a stride beyond int64 (steps spanning the whole range)
        flags, head = _IRREGULAR, _OV_HEAD.pack(_IRREGULAR, k, 0, 0)
    parts = [head, _pack(array("H", pos)), _pack(env.values)]
    if flags & _IRREGULAR:
        parts.append(_pack(steps))
    return b"".join(parts)


_HEAD_SIZE = _OV_HEAD.size


def _unpack_overview(n: int, blob: bytes, times: bytes | None) -> Envelope:
    flags, k, first, stride = _OV_HEAD.unpack_from(blob)
    at = _HEAD_SIZE + 2 * k
    pos: array[int] = array("H")
    pos.frombytes(blob[_HEAD_SIZE:at])
    values: array[float] = array("d")
    values.frombytes(blob[at : at + 8 * k])
    if not _LITTLE:
        pos.byteswap()
        values.byteswap()
    if flags & _IRREGULAR:
        steps = _unpack("q", blob[at + 8 * k : at + 16 * k])
    else:
        steps = array("q", [first + p * stride for p in pos])
    # (positions stay uint16: only indexed, never concatenated with int64 arrays)
    return Envelope(n, steps, values, None if times is None else _unpack("d", times), pos)


def _stored_overviews(
    conn: Connection, run_id: str, wanted: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Envelope]:
    """The overviews of ``metric_overviews`` among the chunks named by (key, seq)."""
    cols = ("n", "points", "times")
    return _by_chunk(conn, metric_overviews, cols, run_id, wanted, _unpack_overview)


def coarsen(env: Envelope, size: int = OVERVIEW_BUCKET) -> Envelope:
    """The envelope at ``size`` points per bucket of a chunk, from its envelope at a
    finer level whose buckets divide ``size`` (a full chunk's): the first and last
    points, and per bucket of ``size`` the first minimum and the first maximum (NaN
    ignored; a bucket of NaN keeps its first point), exactly what ``_keep_at`` picks from
    the chunk's points (each finer bucket keeps its own first minimum and maximum)."""
    pos, vals, m = env.positions, env.values, len(env.positions)
    if m <= 2:
        return env
    keep = {0, m - 1}
    inf = float("inf")
    i = 0
    while i < m:
        bucket = pos[i] // size
        v = vals[i]
        lo = inf if v != v else v
        hi = -inf if v != v else v
        lo_at = hi_at = i
        j = i + 1
        while j < m and pos[j] // size == bucket:
            v = vals[j]
            if v == v:  # NaN is never a minimum nor a maximum (inf may tie with it)
                if v < lo:
                    lo, lo_at = v, j
                if v > hi:
                    hi, hi_at = v, j
            j += 1
        keep.add(lo_at)
        keep.add(hi_at)
        i = j
    idx = sorted(keep)
    return Envelope(
        env.n,
        array("q", [env.steps[i] for i in idx]),
        array("d", [vals[i] for i in idx]),
        None if env.times is None else array("d", [env.times[i] for i in idx]),
        array("q", [pos[i] for i in idx]),
    )


@dataclass(slots=True)
class Unsaved:
    """What a read computed that the database does not keep yet, for ``save_envelopes``:
    envelopes and overviews of full chunks, and times of stored ones that had none."""

    run_id: str = ""
    new: dict[tuple[str, int], Envelope] = field(default_factory=dict)
    times: dict[tuple[str, int], Envelope] = field(default_factory=dict)
    new_overviews: dict[tuple[str, int], Envelope] = field(default_factory=dict)
    overview_times: dict[tuple[str, int], Envelope] = field(default_factory=dict)

    def clear(self) -> None:
        self.new.clear()
        self.times.clear()
        self.new_overviews.clear()
        self.overview_times.clear()

    def noted(self, level: int) -> tuple[dict[tuple[str, int], Envelope], ...]:
        """(new, times) of a level."""
        if level == OVERVIEW:
            return self.new_overviews, self.overview_times
        return self.new, self.times


def _row(run_id: str, key: str, seq: int, env: Envelope) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": key,
        "seq": seq,
        "n": env.n,
        "positions": _pack(array("i", env.positions)),
        "steps": _pack(env.steps),
        "times": None if env.times is None else _pack(env.times),
        "vals": _pack(env.values),
    }


def _overview_row(run_id: str, key: str, seq: int, env: Envelope) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": key,
        "seq": seq,
        "n": env.n,
        "points": _pack_overview(env),
        "times": None if env.times is None else _pack(env.times),
    }


_INSERT_ENVELOPES = insert(metric_envelopes)
_INSERT_OVERVIEWS = insert(metric_overviews)


def _set_times(table: Any) -> Any:
    return (
        update(table)
        .where(
            table.c.run_id == bindparam("r"),
            table.c.key == bindparam("k"),
            table.c.seq == bindparam("s"),
            table.c.times.is_(None),
        )
        .values(times=bindparam("t"))
    )


_SET_TIMES = _set_times(metric_envelopes)
_SET_OVERVIEW_TIMES = _set_times(metric_overviews)
_SAVING = threading.Lock()


def _sqlite_busy_timeout(conn: Connection, ms: int) -> None:
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(f"PRAGMA busy_timeout = {int(ms)}")
    finally:
        cur.close()


def _time_rows(
    run_id: str, times: dict[tuple[str, int], Envelope], new: dict[tuple[str, int], Envelope]
) -> list[dict[str, Any]]:
    return [
        {"r": run_id, "k": key, "s": seq, "t": _pack(env.times)}
        for (key, seq), env in times.items()
        if env.times is not None and (key, seq) not in new
    ]


def save_envelopes(engine: Engine, unsaved: Unsaved) -> None:
    """Keep what a read computed in ``metric_envelopes`` and ``metric_overviews``. Best
    effort: a failure (a concurrent writer holding the database, the run deleted
    meanwhile, another server saving the same envelopes) is logged and forgotten; a
    later read tries again. Waits for the database's lock 200 ms at most."""
    run_id = unsaved.run_id
    rows = [_row(run_id, key, seq, env) for (key, seq), env in unsaved.new.items()]
    overviews = [
        _overview_row(run_id, key, seq, env) for (key, seq), env in unsaved.new_overviews.items()
    ]
    times = _time_rows(run_id, unsaved.times, unsaved.new)
    overview_times = _time_rows(run_id, unsaved.overview_times, unsaved.new_overviews)
    if not rows and not times and not overviews and not overview_times:
        return
    try:
        # one save at a time per process (the charts of a page arrive together): they
        # wait for each other here rather than in the database's lock
        with _SAVING, engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # on the driver's connection: no transaction begun
                _sqlite_busy_timeout(conn, 200)
            try:
                with conn.begin():
                    if not sqlite:
                        conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
                    for stmt, batch in ((_INSERT_ENVELOPES, rows), (_INSERT_OVERVIEWS, overviews)):
                        for i in range(0, len(batch), _IN_BATCH):
                            conn.execute(stmt, batch[i : i + _IN_BATCH])
                    if times:
                        conn.execute(_SET_TIMES, times)
                    if overview_times:
                        conn.execute(_SET_OVERVIEW_TIMES, overview_times)
            finally:
                if sqlite:
                    _sqlite_busy_timeout(conn, _BUSY_TIMEOUT_MS)
    except Exception as e:  # a cache write never fails the read
        log.debug("metric envelopes not saved: %s", e)


def _steps_at(blob: bytes, positions: Sequence[int]) -> array[int]:
    """The steps of a chunk at the given positions (no decoding for regular steps)."""
    reg = _codec.regular_steps(blob)
    if reg is not None:
        first, stride, _ = reg
        return array("q", [first + i * stride for i in positions])
    steps = _codec.decode_steps(blob)
    return array("q", [steps[i] for i in positions])


def _steps_of(blob: bytes) -> array[int]:
    reg = _codec.regular_steps(blob)
    if reg is not None:
        first, stride, n = reg
        if stride == 0:
            return array("q", [first]) * n
        return array("q", range(first, first + n * stride, stride))
    return array("q", _codec.decode_steps(blob))


def _keep_at(values: array[float], size: int) -> list[int]:
    """The positions of a chunk's points that its envelope at ``size`` points per bucket
    keeps."""
    n = len(values)
    return extremes(values, max(1, n // size)) if n > 4 else list(range(n))


def _keep(values: array[float]) -> list[int]:
    """The positions of a chunk's points that its envelope keeps."""
    return _keep_at(values, BUCKET)


def _envelope(steps_blob: bytes, vals_blob: bytes, size: int = BUCKET) -> Envelope:
    values = _codec.decode_floats(vals_blob)
    keep = _keep_at(values, size)
    return Envelope(
        len(values),
        _steps_at(steps_blob, keep),
        array("d", [values[i] for i in keep]),
        None,
        array("q", keep),
    )


def envelope_of(steps: array[int], values: array[float]) -> Envelope:
    """The envelope of a chunk from its points before encoding: the same as
    ``_envelope`` of its encoded columns (the codec is lossless), without decoding."""
    keep = _keep(values)
    return Envelope(
        len(values),
        array("q", [steps[i] for i in keep]),
        array("d", [values[i] for i in keep]),
        None,
        array("q", keep),
    )


# Envelopes of full chunks computed by the write that creates them: None (the default)
# when numpy is already imported (a training script, a server: ~0.25 ms per chunk, ~5 %
# of a write), never otherwise (numpy's import, or ~1 ms per chunk in pure Python, would
# cost a write 20-30 %: a chart's first read computes them then). True/False force it.
WRITE_ENVELOPES: bool | None = None

FullChunk = tuple[str, int, "array[int]", "array[float]"]  # key, seq, steps, values


def envelopes_at_write() -> bool:
    """Whether a write computes the envelopes of the full chunks it creates."""
    if WRITE_ENVELOPES is None:
        return "numpy" in sys.modules
    return WRITE_ENVELOPES


def write_envelopes(conn: Connection, run_id: str, full: Sequence[FullChunk]) -> None:
    """Store the envelopes and overviews of full chunks just written, in the writer's
    transaction (a chart's first view then reads ~34 stored points per chunk instead of
    decoding 8,192). A failure to compute them is logged and leaves them to the read
    path; a database error is the write's, and rolls all of it back."""
    try:
        rows, overviews = [], []
        for key, seq, s, v in full:
            env = envelope_of(s, v)
            rows.append(_row(run_id, key, seq, env))
            overviews.append(_overview_row(run_id, key, seq, coarsen(env)))
    except Exception as e:  # never fails nor loses the metric write
        log.debug("metric envelopes not computed at write: %s", e)
        return
    for stmt, batch in ((_INSERT_ENVELOPES, rows), (_INSERT_OVERVIEWS, overviews)):
        for i in range(0, len(batch), _IN_BATCH):
            conn.execute(stmt, batch[i : i + _IN_BATCH])


def _level(total: int, points: int) -> int:
    """What a range of ``total`` points is drawn from at ``points`` points: the coarsest
    stored level that still gives at least ``points`` points, else the raw points."""
    if total <= points or total // BUCKET * 2 < points:
        return RAW
    if total // OVERVIEW_BUCKET * 2 >= points:
        return OVERVIEW
    return FINE


def read_downsampled(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    points: int,
    x: XAxis,
    start: float | None,
    end: float | None,
    cache: EnvelopeCache,
    unsaved: Unsaved | None = None,
) -> dict[str, DownsampledSeries]:
    """About ``points`` points of each key, extremes kept; ``start``/``end`` bound the
    steps (a zoomed chart). Unknown keys are absent from the answer. What is computed
    here and not kept in the database yet is noted in ``unsaved``, for
    ``save_envelopes`` after the read."""
    if unsaved is not None:
        unsaved.run_id = run_id
    keys = list(dict.fromkeys(keys))
    chunks = _chunks(conn, run_id, keys)
    out: dict[str, DownsampledSeries] = {}
    raw_wanted: list[tuple[str, int]] = []
    env_wanted: dict[int, dict[tuple[str, int], int]] = {FINE: {}, OVERVIEW: {}}
    have: dict[tuple[str, int], Envelope] = {}  # the envelopes at the level of their key
    plan: dict[str, tuple[int, list[_Chunk]]] = {}
    for key in keys:
        inside = [
            ch
            for ch in chunks[key]
            if (start is None or ch.step_max >= start) and (end is None or ch.step_min <= end)
        ]
        if not chunks[key]:
            continue
        level = _level(sum(ch.n for ch in inside), points)
        plan[key] = (level, inside)
        for ch in inside:
            if level == RAW:
                raw_wanted.append((key, ch.seq))
                continue
            env = cache.get((run_id, key, ch.seq, ch.n, level))
            if env is None:
                env_wanted[level][(key, ch.seq)] = ch.n
            else:
                have[(key, ch.seq)] = env
    for level, wanted in env_wanted.items():
        if wanted:
            have.update(_load_envelopes(conn, run_id, wanted, level, cache, unsaved))
    if x == "time":
        _add_times(conn, run_id, plan, cache, unsaved)
    raw_vals = _blobs(conn, run_id, raw_wanted, "vals") if raw_wanted else {}
    raw_times = _blobs(conn, run_id, raw_wanted, "times") if raw_wanted and x == "time" else {}
    for key, (level, inside) in plan.items():
        raw = level == RAW
        xs: array[float] = array("d")
        ys: array[float] = array("d")
        steps: array[int] = array("q")
        total = 0
        for ch in inside:
            if raw:
                steps_blob, vals_blob = raw_vals[(key, ch.seq)]
                steps.extend(_steps_of(steps_blob))
                ys.extend(_codec.decode_floats(vals_blob))
                if x == "time":
                    xs.extend(_codec.decode_floats(raw_times[(key, ch.seq)][1]))
            else:
                env = have.get((key, ch.seq)) or _recompute(conn, run_id, key, ch.seq, level)
                if x == "time" and env.times is None:
                    _fill_times(conn, run_id, key, ch.seq, env)
                steps.extend(env.steps)
                ys.extend(env.values)
                if env.times is not None and x == "time":
                    xs.extend(env.times)
            total += ch.n
        i, j = in_range(steps, start, end)
        if (i, j) != (0, len(steps)):
            total = total if not raw else j - i
            steps, ys = steps[i:j], ys[i:j]
            if x == "time":
                xs = xs[i:j]
        xaxis: Sequence[float] = xs if x == "time" else steps
        series = downsample(key, xaxis, ys, points, total=total if not raw else len(ys))
        out[key] = series
    return out


def _load_envelopes(
    conn: Connection,
    run_id: str,
    wanted: dict[tuple[str, int], int],
    level: int,
    cache: EnvelopeCache,
    unsaved: Unsaved | None,
) -> dict[tuple[str, int], Envelope]:
    """The envelopes at ``level`` of the chunks ``wanted`` ((key, seq) -> points), also
    put in the cache: the stored ones, else computed (an overview from the chunk's
    envelope, else from its points; full chunks' noted in ``unsaved``). Only full chunks
    have stored envelopes (the others get merged)."""
    got: dict[tuple[str, int], Envelope] = {}

    def put(k: tuple[str, int], env: Envelope, lvl: int = level) -> None:
        cache.put((run_id, k[0], k[1], env.n, lvl), env)
        if lvl == level:
            got[k] = env

    full = [k for k, n in wanted.items() if n == _codec.CHUNK_POINTS]
    partial = [k for k, n in wanted.items() if n != _codec.CHUNK_POINTS]
    new, _ = unsaved.noted(level) if unsaved is not None else ({}, {})
    if full:
        read = _stored_overviews if level == OVERVIEW else _stored
        for k, env in read(conn, run_id, full).items():
            if env.n == wanted[k]:
                put(k, env)
        full = [k for k in full if k not in got]
    if full and level == OVERVIEW:
        # a chunk stored before overviews existed (or whose overview was not saved):
        # from its envelope, in memory or stored, without decoding the chunk
        fine: dict[tuple[str, int], Envelope] = {}
        missing: list[tuple[str, int]] = []
        for key, seq in full:
            known = cache.get((run_id, key, seq, wanted[(key, seq)], FINE))
            if known is None:
                missing.append((key, seq))
            else:
                fine[(key, seq)] = known
        if missing:
            fine.update(
                (k, env) for k, env in _stored(conn, run_id, missing).items() if env.n == wanted[k]
            )
        for k, env in fine.items():
            over = coarsen(env)
            put(k, over)
            new[k] = over
        full = [k for k in full if k not in got]
    if full:
        # without their times (decoding those would double the cost): a time-axis
        # chart adds them (``_add_times``), and they are stored then
        for k, (steps_blob, vals_blob) in _blobs(conn, run_id, full, "vals").items():
            env = _envelope(steps_blob, vals_blob)
            put(k, env, FINE)
            if unsaved is not None:
                unsaved.new[k] = env
            if level == OVERVIEW:
                env = coarsen(env)
                put(k, env)
                new[k] = env
    if partial:
        size = _SIZE[level]
        for k, (steps_blob, vals_blob) in _blobs(conn, run_id, partial, "vals").items():
            put(k, _envelope(steps_blob, vals_blob, size))
    return got


def _recompute(conn: Connection, run_id: str, key: str, seq: int, level: int) -> Envelope:
    """An envelope evicted between its computation and its use (a tiny cache)."""
    steps_blob, vals_blob = _blobs(conn, run_id, [(key, seq)], "vals")[(key, seq)]
    env = _envelope(steps_blob, vals_blob)
    if level == OVERVIEW:
        return (
            coarsen(env)
            if env.n == _codec.CHUNK_POINTS
            else _envelope(steps_blob, vals_blob, OVERVIEW_BUCKET)
        )
    return env


def _add_times(
    conn: Connection,
    run_id: str,
    plan: dict[str, tuple[int, list[_Chunk]]],
    cache: EnvelopeCache,
    unsaved: Unsaved | None,
) -> None:
    """Give the envelopes of a time-axis request their points' times (once per chunk;
    those of full chunks noted in ``unsaved``, to be stored)."""
    missing: dict[tuple[str, int], tuple[int, int]] = {}  # (key, seq) -> (n, level)
    for key, (level, inside) in plan.items():
        if level == RAW:
            continue
        for ch in inside:
            env = cache.get((run_id, key, ch.seq, ch.n, level))
            if env is not None and env.times is None:
                missing[(key, ch.seq)] = (ch.n, level)
    if not missing:
        return
    for (key, seq), (_, times_blob) in _blobs(conn, run_id, list(missing), "times").items():
        n, level = missing[(key, seq)]
        env = cache.get((run_id, key, seq, n, level))
        if env is not None:
            times = _codec.decode_floats(times_blob)
            env.times = array("d", (times[i] for i in env.positions))
            if unsaved is not None and n == _codec.CHUNK_POINTS:
                unsaved.noted(level)[1][(key, seq)] = env


def _fill_times(conn: Connection, run_id: str, key: str, seq: int, env: Envelope) -> None:
    _, times_blob = _blobs(conn, run_id, [(key, seq)], "times")[(key, seq)]
    times = _codec.decode_floats(times_blob)
    env.times = array("d", (times[i] for i in env.positions))
