"""The team server under faults, with real processes: nothing ``log()`` accepted is lost
or stored twice, and the training loop is never blocked by the network."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import runtrack
from runtrack.store.rest import RestStore
from runtrack.testing.live import LiveServer, TcpProxy

CLIENT = textwrap.dedent("""
    import runtrack, sys, time
    n, pause = int(sys.argv[1]), float(sys.argv[2])
    run = runtrack.init(project="faults", config={"n": n})
    print(run.id, flush=True)
    worst = 0.0
    for i in range(n):
        t = time.perf_counter()
        run.log({"i": float(i), "sq": float(i * i)}, step=i)
        worst = max(worst, time.perf_counter() - t)
        time.sleep(pause)
    run.finish()
    print("worst", worst, flush=True)
""")


def _client_env(tmp_path: Path, url: str, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_URL=url,
        RUNTRACK_DIR=str(tmp_path / name),
        RUNTRACK_QUIET="1",
        RUNTRACK_FLUSH_INTERVAL="0.2",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
        RUNTRACK_HEARTBEAT_INTERVAL="1",
    )
    return env


def _start_client(
    tmp_path: Path, url: str, name: str, n: int, pause: float
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(n), str(pause)],
        env=_client_env(tmp_path, url, name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _finish(proc: subprocess.Popen[str], timeout: float = 180) -> float:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    worst = [line for line in out.splitlines() if line.startswith("worst")]
    return float(worst[0].split()[1])


def _assert_exact(url: str, run_id: str, n: int) -> None:
    store = RestStore(url)
    try:
        h = store.get_history(run_id, ["i", "sq"])
        assert list(h["i"].step) == list(range(n)), "a point is missing or stored twice"
        assert list(h["i"].value) == [float(i) for i in range(n)]
        assert list(h["sq"].value) == [float(i * i) for i in range(n)]
        assert store.get_run(run_id).status == "finished"
    finally:
        store.close()


def test_sdk_through_a_live_server(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "server") as server:
        proc, run_id = _start_client(tmp_path, server.url, "c", 500, 0)
        _finish(proc)
        _assert_exact(server.url, run_id, 500)
        env = _client_env(tmp_path, server.url, "reader")
        out = subprocess.run(
            [sys.executable, "-m", "runtrack.cli", "ls", "faults", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and run_id in out.stdout
        # the embedded store of the client machine was never used
        assert not (tmp_path / "c" / "runtrack.db").exists()


@pytest.mark.parametrize("clients,n", [(8, 1500)])
def test_server_killed_and_restarted_while_clients_log(
    tmp_path: Path, clients: int, n: int
) -> None:
    server = LiveServer(tmp_path / "server").start()
    try:
        procs = [_start_client(tmp_path, server.url, f"c{k}", n, 0.002) for k in range(clients)]
        time.sleep(1.5)
        server.kill(signal.SIGKILL)  # mid-flight: batches half-sent, answers lost
        time.sleep(2.0)
        server.start()
        for proc, _ in procs:
            _finish(proc)
        for _, run_id in procs:
            _assert_exact(server.url, run_id, n)
    finally:
        server.kill()


@pytest.mark.parametrize(
    "mode,cut_seconds",
    [
        ("refuse", 6),
        ("blackhole", 6),
        pytest.param("blackhole", 30, marks=pytest.mark.slow, id="blackhole-30s"),
    ],
)
def test_network_cut_loses_nothing_and_never_blocks_the_loop(
    tmp_path: Path, mode: str, cut_seconds: float
) -> None:
    with LiveServer(tmp_path / "server") as server:
        proxy = TcpProxy(server.port)
        try:
            n, pause = int(4000 * (cut_seconds + 4) / 10), 0.003
            proc, run_id = _start_client(tmp_path, proxy.url, "c", n, pause)
            time.sleep(1.0)
            proxy.cut(mode)
            time.sleep(cut_seconds)
            proxy.restore()
            worst = _finish(proc)
            assert worst < 0.05, f"a log() call waited {worst:.3f} s for the network"
            _assert_exact(server.url, run_id, n)
            store = RestStore(server.url)
            assert store.get_run(run_id).status == "finished"  # not falsely crashed
            store.close()
        finally:
            proxy.close()


def test_offline_run_synced_to_a_server_that_has_part_of_it(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "server") as server:
        env = _client_env(tmp_path, server.url, "laptop")
        env["RUNTRACK_MODE"] = "offline"
        code = textwrap.dedent("""
            import runtrack
            run = runtrack.init(project="offline", config={"a": 1})
            for i in range(3000):
                run.log({"x": float(i)}, step=i)
            run.finish()
            print(run.id)
        """)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        run_id = out.stdout.strip()
        # half of it reaches the server first (a sync cut short), replayed from the journal
        from runtrack.client._journal import JournalReader
        from runtrack.entities import RunBatch, RunSpec

        journal = next((tmp_path / "laptop" / "journals").glob("*.rtj"))
        reader = JournalReader(journal)
        records = [r for b in reader.read_all() for r in b]
        assert reader.header is not None
        store = RestStore(server.url)
        store.create_run(RunSpec.from_json(reader.header["run"]))
        store.write(RunBatch(run_id, reader.header["stream"], tuple(records[:1500])))
        env.pop("RUNTRACK_MODE")
        done = subprocess.run(
            [sys.executable, "-m", "runtrack.cli", "sync", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert (
            '"skipped": 1500' in done.stdout.replace("\n", " ").replace("  ", " ")
            or "1500" in done.stdout
        )
        h = store.get_history(run_id, ["x"])
        assert list(h["x"].step) == list(range(3000))
        assert store.get_run(run_id).status == "finished"
        assert runtrack.errors  # the SDK stays importable alongside (no side effects)
        store.close()


def test_sigterm_finishes_in_flight_writes_and_exits_cleanly(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "server", args=["--log-level", "info"]).start()
    try:
        procs = [_start_client(tmp_path, server.url, f"c{k}", 1500, 0.002) for k in range(3)]
        time.sleep(1.0)
        assert server.proc is not None
        started = time.monotonic()
        server.kill(signal.SIGTERM)
        # uvicorn finishes in-flight requests, then re-raises the signal (exit by SIGTERM)
        assert server.proc.returncode in (0, -signal.SIGTERM)
        assert "Finished server process" in server.log(), server.log()[-2000:]
        assert time.monotonic() - started < 30
        server.start()
        for proc, _ in procs:
            _finish(proc)
        for _, run_id in procs:
            _assert_exact(server.url, run_id, 1500)
    finally:
        server.kill()
