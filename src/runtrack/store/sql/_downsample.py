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
fills its own): a cache of immutable facts, so servers stay stateless.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select, tuple_
from sqlalchemy.engine import Connection

from ..downsample import DownsampledSeries, XAxis, downsample, extremes, in_range
from . import _codec
from .schema import metric_chunks

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
    c = metric_chunks.c
    col = getattr(c, column)
    out: dict[tuple[str, int], tuple[bytes, bytes]] = {}
    for i in range(0, len(wanted), _IN_BATCH):
        part = list(wanted[i : i + _IN_BATCH])
        q = select(c.key, c.seq, c.steps, col.label("data")).where(
            and_(c.run_id == run_id, tuple_(c.key, c.seq).in_(part))
        )
        for r in conn.execute(q):
            out[(r.key, r.seq)] = (r.steps, r.data)
    return out


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


def _envelope(steps_blob: bytes, vals_blob: bytes) -> Envelope:
    values = _codec.decode_floats(vals_blob)
    n = len(values)
    keep = extremes(values, max(1, n // BUCKET)) if n > 4 else list(range(n))
    return Envelope(
        n,
        _steps_at(steps_blob, keep),
        array("d", [values[i] for i in keep]),
        None,
        array("q", keep),
    )


def read_downsampled(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    points: int,
    x: XAxis,
    start: float | None,
    end: float | None,
    cache: EnvelopeCache,
) -> dict[str, DownsampledSeries]:
    """About ``points`` points of each key, extremes kept; ``start``/``end`` bound the
    steps (a zoomed chart). Unknown keys are absent from the answer."""
    keys = list(dict.fromkeys(keys))
    chunks = _chunks(conn, run_id, keys)
    out: dict[str, DownsampledSeries] = {}
    raw_wanted: list[tuple[str, int]] = []
    env_wanted: list[tuple[str, int]] = []
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
                env_wanted.append((key, ch.seq))
    if env_wanted:
        blobs = _blobs(conn, run_id, env_wanted, "vals")
        for (key, seq), (steps_blob, vals_blob) in blobs.items():
            env = _envelope(steps_blob, vals_blob)
            cache.put((run_id, key, seq, env.n), env)
    if x == "time":
        _add_times(conn, run_id, plan, cache)
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


def _recompute(conn: Connection, run_id: str, key: str, seq: int) -> Envelope:
    """An envelope evicted between its computation and its use (a tiny cache)."""
    steps_blob, vals_blob = _blobs(conn, run_id, [(key, seq)], "vals")[(key, seq)]
    return _envelope(steps_blob, vals_blob)


def _add_times(
    conn: Connection,
    run_id: str,
    plan: dict[str, tuple[bool, list[_Chunk]]],
    cache: EnvelopeCache,
) -> None:
    """Give the envelopes of a time-axis request their points' times (once per chunk)."""
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


def _fill_times(conn: Connection, run_id: str, key: str, seq: int, env: Envelope) -> None:
    _, times_blob = _blobs(conn, run_id, [(key, seq)], "times")[(key, seq)]
    times = _codec.decode_floats(times_blob)
    env.times = array("d", (times[i] for i in env.positions))
