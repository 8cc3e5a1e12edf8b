"""Chart overviews (``metric_overviews``): each full chunk's envelope at 512 points per
bucket, compact, what a zoomed-out chart of a long series reads. The same points as
computed from the raw values (NaN, inf, -0.0, repeated extremes), written with the chunk
or derived from its stored envelope by the first read of a database written before they
existed, never stale after merges, gone with the run; a zoomed range still gets the
envelopes or the raw points."""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

import pytest
from _chunks import FULL, full_chunks, rows, write_batches

from runtrack.entities import MetricsRecord, RunBatch
from runtrack.store.downsample import _extremes_py, extremes
from runtrack.store.sql import _codec, _downsample
from runtrack.store.sql._engine import make_engine
from runtrack.store.sql._migrate import current_revision
from runtrack.store.sql.store import SqlStore

RUN = "overrun001"


def _value(rnd: random.Random, step: int) -> float:
    v = math.cos(step / 900) + rnd.random() * 0.2
    if step % 4_999 == 7:
        v = 1e6 + step  # spikes
    if step % 23_000 < 700:
        v = math.nan  # whole overview buckets of NaN
    if step % 6_007 == 3:
        v = -math.inf
    if step % 7_919 == 5:
        v = math.inf
    if step % 3_001 == 0:
        v = -0.0
    return v


def _records(n: int, seed: int) -> list[MetricsRecord]:
    """``n`` steps of "a" (regular steps) and "c" at some of them (irregular)."""
    rnd = random.Random(seed)
    out: list[MetricsRecord] = []
    for step in range(n):
        v = _value(rnd, step)
        t = 1.7e9 + step * 0.5
        out.append(MetricsRecord(len(out) + 1, step * 3, t, ("a",), [v]))
        if step % 3 == 0 or step % 5 == 0:
            out.append(MetricsRecord(len(out) + 1, step * 3, t, ("c",), [-v]))
    return out


def _overviews(url: str) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in rows(url, "SELECT key, seq FROM metric_overviews ORDER BY 1, 2")]


def _key(env: _downsample.Envelope) -> tuple[Any, ...]:
    times = None if env.times is None else [repr(t) for t in env.times]
    return (env.n, list(env.positions), list(env.steps), [repr(v) for v in env.values], times)


def _raw_overview(steps: array[int], values: array[float]) -> tuple[Any, ...]:
    """The overview of a chunk computed from its raw points, the plain way."""
    keep = _downsample._keep_at(values, _downsample.OVERVIEW_BUCKET)
    return (len(values), keep, [steps[i] for i in keep], [repr(values[i]) for i in keep], None)


def _check_stored_overviews(url: str, *, times: bool = False) -> int:
    """Every stored overview is what the raw points of its chunk give."""
    chunks = {
        (r[0], r[1]): (bytes(r[2]), bytes(r[3]), bytes(r[4]))
        for r in rows(url, "SELECT key, seq, steps, vals, times FROM metric_chunks")
    }
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            stored = _downsample._stored_overviews(c, RUN, list(chunks))
    finally:
        engine.dispose()
    for (key, seq), env in stored.items():
        steps_blob, vals_blob, times_blob = chunks[(key, seq)]
        steps = array("q", _codec.decode_steps(steps_blob))
        want = _raw_overview(steps, _codec.decode_floats(vals_blob))
        if times:
            decoded = _codec.decode_floats(times_blob)
            want = (*want[:4], [repr(decoded[i]) for i in want[1]])
        assert _key(env) == want, (key, seq)
    return len(stored)


def test_an_overview_keeps_the_extremes_of_the_raw_points() -> None:
    """From the envelope (``coarsen``), the first minimum and maximum of every 512-point
    bucket and the first and last points: exactly what the raw points give; and the
    compact row reads back the same, regular steps or not."""
    for seed in range(120):
        rnd = random.Random(seed)
        values = array("d", [rnd.choice([rnd.gauss(0, 1), 0.5, 0.0]) for _ in range(FULL)])
        for _ in range(rnd.randrange(0, 400)):  # NaN, inf, -inf, -0.0, repeated extremes
            values[rnd.randrange(FULL)] = rnd.choice(
                [math.nan, math.inf, -math.inf, -0.0, 0.0, 9.0, -9.0]
            )
        if seed % 3 == 0:  # a run of NaN (and infinities) over whole buckets
            lo, span = rnd.randrange(FULL - 2_000), rnd.randrange(2_000)
            fill = rnd.choice([math.nan, math.inf, -math.inf])
            for i in range(lo, lo + span):
                values[i] = fill if rnd.random() < 0.8 else math.nan
        if seed % 2:
            steps = array("q", range(seed, seed + 3 * FULL, 3))
        elif seed % 4 == 0:
            steps = array("q", sorted(rnd.sample(range(10 * FULL), FULL)))
        else:  # steps near the ends of int64: no stride fits, stored as they are
            steps = array("q", [-(2**63) + i for i in range(FULL // 2)])
            steps.extend(range(2**63 - FULL // 2, 2**63))
        over = _downsample.coarsen(_downsample.envelope_of(steps, values))
        assert _key(over) == _raw_overview(steps, values), seed
        back = _downsample._unpack_overview(over.n, _downsample._pack_overview(over), None)
        assert _key(back) == _key(over), seed
        row = _downsample._overview_row(RUN, "k", 0, over)
        regular = seed % 2 == 1
        # ~34 points: uint16 positions and float64 values, int64 steps only if irregular
        assert len(row["points"]) == 19 + len(over.positions) * (10 if regular else 18)


def test_extremes_buckets_evenly_when_the_points_do_not_divide() -> None:
    """numpy's and the plain algorithm keep the same points for any size (a partial chunk,
    the final pass over envelopes): buckets [b*n//k, (b+1)*n//k), every one of them."""
    for seed in range(200):
        rnd = random.Random(seed)
        n = rnd.randrange(5, 12_000)
        buckets = rnd.randrange(1, n // 2)
        values = array("d", [rnd.choice([rnd.gauss(0, 1), 1.0, 0.0]) for _ in range(n)])
        for _ in range(rnd.randrange(0, 40)):
            values[rnd.randrange(n)] = rnd.choice([math.nan, -0.0, 7.0])
        if n > 2 * buckets + 2:
            assert extremes(values, buckets) == _extremes_py(values, buckets), seed
    # 4,150 points to ~2,000: ~2,000 points (not 1,662 as with equal padded buckets)
    values = array("d", [math.sin(i) for i in range(4_150)])
    assert len(extremes(values, 999)) >= 1_990


@pytest.mark.usefixtures("at_write")
def test_the_write_stores_an_overview_per_full_chunk(url: str) -> None:
    records = _records(110_000, 1)
    sizes = [9_000, 1, 4_321, 50_000, 2_000, 2_000]  # merges of the tail chunks
    sizes.append(len(records) - sum(sizes))
    for i, size in enumerate(sizes):
        done = sum(sizes[:i])
        write_batches(url, RUN, records[done : done + size], [size], create=i == 0)
        assert _overviews(url) == full_chunks(url)
    assert {k for k, _ in full_chunks(url)} == {"a", "c"}
    assert _check_stored_overviews(url) == len(full_chunks(url)) > 15


@pytest.mark.usefixtures("at_write")
def test_many_small_writes_leave_no_stale_overview(url: str) -> None:
    records = _records(45_000, 2)
    write_batches(url, RUN, records[:1], [1], create=True)
    s = SqlStore(url)
    try:
        for i in range(1, len(records), 1_499):
            s.write(RunBatch(RUN, "main", tuple(records[i : i + 1_499])))
            assert _overviews(url) == full_chunks(url)
    finally:
        s.close()
    assert _check_stored_overviews(url) == len(full_chunks(url)) > 0


_REQUESTS: list[tuple[int, str, float | None, float | None]] = [
    (300, "step", None, None),  # overviews (and the partial chunks' points)
    (300, "time", None, None),
    (1_000, "step", None, None),  # envelopes
    (3_000, "step", None, None),  # raw points
    (200, "step", 30_000, 300_000),  # a zoomed range: overviews of fewer chunks
    (600, "time", 60_000, 200_000),  # envelopes
    (2_000, "step", 90_000, 120_000),  # raw points
]


def _answers(url: str) -> list[Any]:
    """Every request, from a store that just started (nothing cached in memory)."""
    s = SqlStore(url)
    try:
        out = []
        for p, x, lo, hi in _REQUESTS:
            got = s.get_history_downsampled(RUN, ["a", "c"], p, x, lo, hi)  # type: ignore[arg-type]
            out.append(
                {
                    k: ([*map(repr, v.x)], [*map(repr, v.y)], v.total, v.exact)
                    for k, v in got.items()
                }
            )
        return out
    finally:
        s.close()


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """What the reads do: chunks decoded (their sizes), envelopes and overviews read."""
    seen: dict[str, list[int]] = {"decoded": [], "envelopes": [], "overviews": []}
    envelope, stored, overviews = (
        _downsample._envelope,
        _downsample._stored,
        _downsample._stored_overviews,
    )

    def spy_envelope(steps: bytes, vals: bytes, *size: int) -> _downsample.Envelope:
        env = envelope(steps, vals, *size)
        seen["decoded"].append(env.n)
        return env

    def spy_stored(conn: Any, run_id: str, wanted: Any) -> Any:
        got = stored(conn, run_id, wanted)
        seen["envelopes"].append(len(got))
        return got

    def spy_overviews(conn: Any, run_id: str, wanted: Any) -> Any:
        got = overviews(conn, run_id, wanted)
        seen["overviews"].append(len(got))
        return got

    monkeypatch.setattr(_downsample, "_envelope", spy_envelope)
    monkeypatch.setattr(_downsample, "_stored", spy_stored)
    monkeypatch.setattr(_downsample, "_stored_overviews", spy_overviews)
    return seen


def test_a_zoomed_out_chart_reads_only_overviews_and_zoom_gets_full_detail(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
    records = _records(140_000, 3)
    write_batches(url, RUN, records, [70_000, 3_333], create=True)
    seen = _spy(monkeypatch)
    s = SqlStore(url)
    try:
        full = s.get_history(RUN, ["a"])["a"]
        got = s.get_history_downsampled(RUN, ["a"], 500)["a"]
        # the full chunks' overviews only: no envelope read, no full chunk decoded
        assert sum(seen["overviews"]) == sum(1 for k, _ in full_chunks(url) if k == "a") > 10
        assert seen["envelopes"] == [] and FULL not in seen["decoded"]
        assert got.total == 140_000 and not got.exact and 400 <= len(got.x) <= 500
        finite = [v for v in full.value if v == v]
        assert max(got.y) == max(finite) == math.inf and min(got.y) == min(finite)
        assert max(v for v in got.y if v != math.inf) == max(v for v in finite if v != math.inf)
        assert min(v for v in got.y if v != -math.inf) == min(v for v in finite if v != -math.inf)
        real = dict(zip(full.step, full.value, strict=True))
        pairs = zip(got.x, got.y, strict=True)
        assert all(real[a] == b or (b != b and real[a] != real[a]) for a, b in pairs)
        assert (got.x[0], got.x[-1]) == (full.step[0], full.step[-1])
        # zoomed in: the envelopes, then the raw points (every point of the range)
        seen["envelopes"].clear()
        mid = s.get_history_downsampled(RUN, ["a"], 500, "step", 30_000, 300_000)["a"]
        assert seen["envelopes"] and not mid.exact
        near = s.get_history_downsampled(RUN, ["a"], 2_000, "step", 99_000, 102_000)["a"]
        assert near.exact and list(near.x) == list(range(99_000, 102_001, 3))
        assert [repr(v) for v in near.y] == [repr(real[x]) for x in near.x]
    finally:
        s.close()


def test_overviews_stored_read_or_computed_give_the_same_answers(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(130_000, 4)
    sizes = [20_000, 777, 40_000, 5_000]
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
    write_batches(url, RUN, records, sizes, create=True)
    seen = _spy(monkeypatch)
    stored = _answers(url)
    assert FULL not in seen["decoded"]
    # the envelopes kept, the overviews forgotten: derived from the envelopes (no chunk
    # decoded) and saved
    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM metric_overviews")
    seen["decoded"].clear()
    assert _answers(url) == stored
    assert FULL not in seen["decoded"]
    charted = [(k, q) for k, q in full_chunks(url) if k == "a"]  # "c" is too short
    assert _overviews(url) == charted
    # nothing kept: every chunk decoded, both levels saved again
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM metric_overviews")
        c.exec_driver_sql("DELETE FROM metric_envelopes")
    engine.dispose()
    seen["decoded"].clear()
    assert _answers(url) == stored
    assert seen["decoded"].count(FULL) >= len(charted)
    assert _overviews(url) == charted
    assert _check_stored_overviews(url, times=True) == len(charted)  # a time-axis chart
    assert _answers(url) == stored
    s = SqlStore(url)
    try:
        s.delete_run(RUN)
    finally:
        s.close()
    assert _overviews(url) == []  # gone with the run


def test_a_database_from_before_overviews_is_upgraded_and_read_alike(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at revision 0005 (envelopes, no overviews): upgraded in place (points,
    envelopes kept); its first zoomed-out chart derives the overviews from the stored
    envelopes, without decoding a chunk, and saves them."""
    from alembic import command
    from alembic.config import Config

    from runtrack.store.sql._migrate import MIGRATIONS

    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
    records = _records(120_000, 5)
    write_batches(url, RUN, records, [60_000], create=True)
    expected = _answers(url)
    points_before = rows(url, "SELECT key, seq, n, vals FROM metric_chunks ORDER BY 1, 2")
    envelopes_before = rows(url, "SELECT * FROM metric_envelopes ORDER BY key, seq")
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert current_revision(engine) == "0005"
    engine.dispose()

    SqlStore(url, auto_upgrade=True).close()
    engine = make_engine(url)
    assert current_revision(engine) == "0006"
    engine.dispose()
    assert _overviews(url) == []
    assert rows(url, "SELECT key, seq, n, vals FROM metric_chunks ORDER BY 1, 2") == points_before
    assert rows(url, "SELECT * FROM metric_envelopes ORDER BY key, seq") == envelopes_before
    seen = _spy(monkeypatch)
    assert _answers(url) == expected
    assert FULL not in seen["decoded"]
    assert _overviews(url) == [(k, q) for k, q in full_chunks(url) if k == "a"]
    assert _check_stored_overviews(url, times=True) > 0
    assert _answers(url) == expected
