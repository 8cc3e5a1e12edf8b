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
"""

from __future__ import annotations

import logging
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, bindparam, insert, select, text, tuple_, update
from sqlalchemy.engine import Connection

from ..downsample import DownsampledSeries, XAxis, downsample, extremes, in_range
from . import _codec
from ._engine import _BUSY_TIMEOUT_MS
from .schema import metric_chunks, metric_envelopes

log = logging.getLogger("runtrack")

BUCKET = 128  # points of a chunk per envelope bucket (64 buckets in a full chunk)
_IN_BATCH = 400


@dataclass(slots=True)
class Envelope:
    """The points of one chunk that a chart of any zoom level needs."""

    n: int
    steps: array[int]
    values: array[float]
    times: array[float] | None  # filled on the first request for a time axis
    positions: array[int]  # indices of the kept points inside the chunk


class EnvelopeCache:
    """A bounded LRU of envelopes by (run, key, seq, n). Thread-safe."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str, int, int], Envelope] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k: tuple[str, str, int, int]) -> Envelope | None:
        with self._lock:
            env = self._items.get(k)
            if env is not None:
                self._items.move_to_end(k)
            return env

    def put(self, k: tuple[str, str, int, int], env: Envelope) -> None:
        with self._lock:
            self._items[k] = env
            self._items.move_to_end(k)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class _Chunk:
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
        for r in conn.execute(q):
            out[r.key].append(_Chunk(r.key, r.seq, r.n, r.step_min, r.step_max))
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


def _unpack(typecode: str, blob: bytes) -> array[Any]:
    a: array[Any] = array(typecode)
    a.frombytes(blob)
    if not _LITTLE:
        a.byteswap()
    return a


def _stored(
    conn: Connection, run_id: str, wanted: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Envelope]:
    """The envelopes of ``metric_envelopes`` among the chunks named by (key, seq).
    Asked by key and range of seqs (what a chart wants is mostly every full chunk of its
    keys): a list of (key, seq) pairs costs 2-3 times more to send and look up."""
    e = metric_envelopes.c
    want = set(wanted)
    if not want:
        return {}
    keys = list(dict.fromkeys(key for key, _ in wanted))
    lo, hi = min(seq for _, seq in want), max(seq for _, seq in want)
    out: dict[tuple[str, int], Envelope] = {}
    for i in range(0, len(keys), _IN_BATCH):
        q = select(e.key, e.seq, e.n, e.positions, e.steps, e.times, e.vals).where(
            e.run_id == run_id, e.key.in_(keys[i : i + _IN_BATCH]), e.seq.between(lo, hi)
        )
        for key, seq, n, positions, steps, times, vals in conn.execute(q):
            if (key, seq) in want:
                out[(key, seq)] = Envelope(
                    n,
                    _unpack("q", steps),
                    _unpack("d", vals),
                    None if times is None else _unpack("d", times),
                    array("q", _unpack("i", positions)),
                )
    return out


@dataclass(slots=True)
class Unsaved:
    """What a read computed that the database does not keep yet, for ``save_envelopes``:
    envelopes of full chunks, and times of stored envelopes that had none."""

    run_id: str = ""
    new: dict[tuple[str, int], Envelope] = field(default_factory=dict)
    times: dict[tuple[str, int], Envelope] = field(default_factory=dict)

    def clear(self) -> None:
        self.new.clear()
        self.times.clear()


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


_INSERT_ENVELOPES = insert(metric_envelopes)
_SET_TIMES = (
    update(metric_envelopes)
    .where(
        metric_envelopes.c.run_id == bindparam("r"),
        metric_envelopes.c.key == bindparam("k"),
        metric_envelopes.c.seq == bindparam("s"),
        metric_envelopes.c.times.is_(None),
    )
    .values(times=bindparam("t"))
)
_SAVING = threading.Lock()


def _sqlite_busy_timeout(conn: Connection, ms: int) -> None:
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(f"PRAGMA busy_timeout = {int(ms)}")
    finally:
        cur.close()


def save_envelopes(engine: Engine, unsaved: Unsaved) -> None:
    """Keep what a read computed in ``metric_envelopes``. Best effort: a
    failure (a concurrent writer holding the database, the run deleted meanwhile, another
    server saving the same envelopes) is logged and forgotten; a later read tries again.
    Waits for the database's lock 200 ms at most."""
    run_id = unsaved.run_id
    rows = [_row(run_id, key, seq, env) for (key, seq), env in unsaved.new.items()]
    times = [
        {"r": run_id, "k": key, "s": seq, "t": _pack(env.times)}
        for (key, seq), env in unsaved.times.items()
        if env.times is not None and (key, seq) not in unsaved.new
    ]
    if not rows and not times:
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
                    for i in range(0, len(rows), _IN_BATCH):
                        conn.execute(_INSERT_ENVELOPES, rows[i : i + _IN_BATCH])
                    if times:
                        conn.execute(_SET_TIMES, times)
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


def _keep(values: array[float]) -> list[int]:
    """The positions of a chunk's points that its envelope keeps."""
    n = len(values)
    return extremes(values, max(1, n // BUCKET)) if n > 4 else list(range(n))


def _envelope(steps_blob: bytes, vals_blob: bytes) -> Envelope:
    values = _codec.decode_floats(vals_blob)
    keep = _keep(values)
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
    """Store the envelopes of full chunks just written, in the writer's transaction
    (a chart's first view then reads ~130 stored points per chunk instead of decoding
    8,192). A failure to compute them is logged and leaves them to the read path; a
    database error is the write's, and rolls all of it back."""
    try:
        rows = [_row(run_id, key, seq, envelope_of(s, v)) for key, seq, s, v in full]
    except Exception as e:  # never fails nor loses the metric write
        log.debug("metric envelopes not computed at write: %s", e)
        return
    for i in range(0, len(rows), _IN_BATCH):
        conn.execute(_INSERT_ENVELOPES, rows[i : i + _IN_BATCH])


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
    env_wanted: dict[tuple[str, int], int] = {}
    plan: dict[str, tuple[bool, list[_Chunk]]] = {}
    for key in keys:
        inside = [
            ch
            for ch in chunks[key]
            if (start is None or ch.step_max >= start) and (end is None or ch.step_min <= end)
        ]
        if not chunks[key]:
            continue
        total = sum(ch.n for ch in inside)
        # raw points when the envelopes would be too coarse for this many points
        raw = total <= points or total // BUCKET * 2 < points
        plan[key] = (raw, inside)
        for ch in inside:
            if raw:
                raw_wanted.append((key, ch.seq))
            elif cache.get((run_id, key, ch.seq, ch.n)) is None:
                env_wanted[(key, ch.seq)] = ch.n
    if env_wanted:
        _load_envelopes(conn, run_id, env_wanted, cache, unsaved)
    if x == "time":
        _add_times(conn, run_id, plan, cache, unsaved)
    raw_vals = _blobs(conn, run_id, raw_wanted, "vals") if raw_wanted else {}
    raw_times = _blobs(conn, run_id, raw_wanted, "times") if raw_wanted and x == "time" else {}
    for key, (raw, inside) in plan.items():
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
                env = cache.get((run_id, key, ch.seq, ch.n)) or _recompute(
                    conn, run_id, key, ch.seq
                )
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
    cache: EnvelopeCache,
    unsaved: Unsaved | None,
) -> None:
    """Put the envelopes of the chunks ``wanted`` ((key, seq) -> points) in the cache:
    the stored ones, else computed from the chunks (full ones noted in ``unsaved``).
    Only full chunks have stored envelopes (the others get merged)."""
    full = [k for k, n in wanted.items() if n == _codec.CHUNK_POINTS]
    partial = [k for k, n in wanted.items() if n != _codec.CHUNK_POINTS]
    if full:
        stored = _stored(conn, run_id, full)
        for (key, seq), env in stored.items():
            if env.n == wanted[(key, seq)]:
                cache.put((run_id, key, seq, env.n), env)
        full = [k for k in full if k not in stored or stored[k].n != wanted[k]]
    if full:
        # without their times (decoding those would double the cost): a time-axis
        # chart adds them (``_add_times``), and they are stored then
        for (key, seq), (steps_blob, vals_blob) in _blobs(conn, run_id, full, "vals").items():
            env = _envelope(steps_blob, vals_blob)
            cache.put((run_id, key, seq, env.n), env)
            if unsaved is not None:
                unsaved.new[(key, seq)] = env
    if partial:
        for (key, seq), (steps_blob, vals_blob) in _blobs(conn, run_id, partial, "vals").items():
            env = _envelope(steps_blob, vals_blob)
            cache.put((run_id, key, seq, env.n), env)


def _recompute(conn: Connection, run_id: str, key: str, seq: int) -> Envelope:
    """An envelope evicted between its computation and its use (a tiny cache)."""
    steps_blob, vals_blob = _blobs(conn, run_id, [(key, seq)], "vals")[(key, seq)]
    return _envelope(steps_blob, vals_blob)


def _add_times(
    conn: Connection,
    run_id: str,
    plan: dict[str, tuple[bool, list[_Chunk]]],
    cache: EnvelopeCache,
    unsaved: Unsaved | None,
) -> None:
    """Give the envelopes of a time-axis request their points' times (once per chunk;
    those of full chunks noted in ``unsaved``, to be stored)."""
    missing: list[tuple[str, int]] = []
    for key, (raw, inside) in plan.items():
        if raw:
            continue
        for ch in inside:
            env = cache.get((run_id, key, ch.seq, ch.n))
            if env is not None and env.times is None:
                missing.append((key, ch.seq))
    if not missing:
        return
    for (key, seq), (_, times_blob) in _blobs(conn, run_id, missing, "times").items():
        for ch in plan[key][1]:
            if ch.seq == seq:
                env = cache.get((run_id, key, seq, ch.n))
                if env is not None:
                    times = _codec.decode_floats(times_blob)
                    env.times = array("d", (times[i] for i in env.positions))
                    if unsaved is not None and ch.n == _codec.CHUNK_POINTS:
                        unsaved.times[(key, seq)] = env


def _fill_times(conn: Connection, run_id: str, key: str, seq: int, env: Envelope) -> None:
    _, times_blob = _blobs(conn, run_id, [(key, seq)], "times")[(key, seq)]
    times = _codec.decode_floats(times_blob)
    env.times = array("d", (times[i] for i in env.positions))
