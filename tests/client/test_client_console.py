"""stdout/stderr capture (runtrack.client._console)."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from typing import Any

import pytest

from runtrack.client._console import ConsoleCapture


class FakeTTY(io.StringIO):
    """A terminal-like text stream with the attributes libraries look at."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.flushes = 0
        self.custom = "kept"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:
        self.flushes += 1


class Log:
    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            self.chunks.append(text)

    @property
    def text(self) -> str:
        with self.lock:
            return "".join(self.chunks)


def fake_streams(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeTTY, FakeTTY]:
    """Fake terminals as sys.stdout/stderr; set inside the test (pytest re-installs its own
    capture streams between fixture setup and the test call)."""
    out, err = FakeTTY(1), FakeTTY(2)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return out, err


@pytest.fixture
def log() -> Log:
    return Log()


def test_tees_and_restores(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    streams = fake_streams(monkeypatch)
    out, err = streams
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    assert sys.stdout is not out and sys.stderr is not err
    print("hello", 42)
    print("oops", file=sys.stderr)
    assert sys.stdout.write("direct\n") == 7
    cap.stop()
    assert sys.stdout is out and sys.stderr is err
    assert out.getvalue() == "hello 42\ndirect\n"
    assert err.getvalue() == "oops\n"
    assert log.text == "hello 42\noops\ndirect\n"
    print("after stop")
    assert "after stop" not in log.text


def test_stream_behaviour_passes_through(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    out, _ = fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    tee: Any = sys.stdout
    assert tee.encoding == "utf-8" and tee.errors == "strict"
    assert tee.isatty() is True
    assert tee.fileno() == 1 and sys.stderr.fileno() == 2
    assert tee.custom == "kept"
    assert tee.getvalue() == ""  # any method of the original
    assert isinstance(sys.stdout, io.TextIOBase)
    tee.flush()
    assert out.flushes == 1
    tee.custom = "changed"
    assert out.custom == "changed"
    with pytest.raises(TypeError):
        tee.write(b"bytes are refused as by the original")
    tee.writelines(["a\n", "b\n"])
    assert out.getvalue() == "a\nb\n"
    assert "runtrack console tee" in repr(tee)
    cap.stop()


def test_lines_are_flushed_by_time(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000, flush_interval=0.05)
    cap.start()
    print("epoch 1")
    deadline = time.monotonic() + 5
    while log.text != "epoch 1\n":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cap.stop()


def test_partial_line_waits_for_stop(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1000, flush_interval=0.01)
    cap.start()
    sys.stdout.write("Enter a value: ")
    time.sleep(0.05)
    assert log.text == ""
    cap.stop()
    assert log.text == "Enter a value: "


def test_carriage_return_progress_keeps_last_state(
    monkeypatch: pytest.MonkeyPatch, log: Log
) -> None:
    _, err = fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    print("start")
    for i in range(101):
        sys.stderr.write(f"\r{i:3d}%|{'#' * (i // 10):10}|")
    sys.stderr.write("\n")
    sys.stdout.write("windows line\r\n")
    sys.stdout.write("split cr\r")
    sys.stdout.write("\n")
    sys.stdout.write("abc\rxy\n")
    cap.stop()
    assert log.text == "start\n100%|##########|\nwindows line\nsplit cr\nxy\n"
    assert err.getvalue().count("\r") == 101  # the terminal saw every update


def test_stdout_and_stderr_keep_separate_partial_lines(
    monkeypatch: pytest.MonkeyPatch, log: Log
) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    sys.stdout.write("loading... ")
    sys.stderr.write("warning: slow\n")
    sys.stdout.write("done\n")
    cap.stop()
    assert log.text == "warning: slow\nloading... done\n"


def test_cap_counts_what_is_not_captured(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    streams = fake_streams(monkeypatch)
    out, _ = streams
    cap = ConsoleCapture(log, 20)
    cap.start()
    print("0123456789")  # 11 bytes: fits
    print("é" * 10)  # 21 bytes: does not fit, capped from here on
    print("x")  # 2 bytes: would fit, but the log has no holes
    cap.stop()
    assert log.chunks[-1] == "[runtrack: 23 bytes of output not captured]\n"
    assert log.text == "0123456789\n[runtrack: 23 bytes of output not captured]\n"
    assert out.getvalue() == "0123456789\n" + "é" * 10 + "\nx\n"  # the terminal saw it all
    assert cap.emitted_bytes == 11 and cap.dropped_bytes == 23


def test_zero_cap_captures_nothing(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 0)
    cap.start()
    print("hi")
    cap.stop()
    assert log.chunks == ["[runtrack: 3 bytes of output not captured]\n"]


def test_big_output_is_emitted_before_the_timer(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 10_000_000, flush_interval=60, max_pending_bytes=1000)
    cap.start()
    for i in range(200):
        print(f"line {i:04d}")
    assert len(log.chunks) >= 1  # emitted without waiting 60 s
    cap.stop()
    assert log.text == "".join(f"line {i:04d}\n" for i in range(200))


def test_very_long_line_without_newline_is_bounded(
    monkeypatch: pytest.MonkeyPatch, log: Log
) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 10_000_000, max_pending_bytes=1)
    cap.start()
    for _ in range(100):
        sys.stdout.write("z" * 1000)
    assert len(log.text) >= 64 * 1024  # not all held in memory until a newline
    cap.stop()
    assert log.text == "z" * 100_000


def test_restores_only_its_own_streams(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    streams = fake_streams(monkeypatch)
    out, err = streams
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    ours = sys.stdout
    later = FakeTTY(5)
    sys.stdout = later  # e.g. a library or a notebook replaced it after us
    cap.stop()
    assert sys.stdout is later
    assert sys.stderr is err
    ours.write("still works\n")  # the old tee passes through and captures nothing
    assert out.getvalue() == "still works\n"
    assert "still works" not in log.text


def test_emit_errors_never_reach_print(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    streams = fake_streams(monkeypatch)

    def broken(text: str) -> None:
        raise RuntimeError("writer is gone")

    cap = ConsoleCapture(broken, 1_000_000, max_pending_bytes=1)
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        cap.start()
        print("one")
        print("two")
        cap.stop()
    assert streams[0].getvalue() == "one\ntwo\n"
    assert caplog.text.count("could not record console output") == 1


def test_emit_that_prints_does_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = fake_streams(monkeypatch)
    seen: list[str] = []

    def chatty(text: str) -> None:
        seen.append(text)
        print("emit says hi")  # goes to the terminal, not back into the log

    cap = ConsoleCapture(chatty, 1_000_000, max_pending_bytes=1)
    cap.start()
    print("user line")
    cap.stop()
    assert seen == ["user line\n"]
    assert streams[0].getvalue() == "user line\nemit says hi\n"


def test_original_stream_errors_are_the_callers(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    streams = fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    streams[0].close()
    with pytest.raises(ValueError, match="closed"):
        print("to a closed stream")
    cap.stop()
    assert log.text == ""


def test_many_threads(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 100_000_000, flush_interval=0.01)
    cap.start()

    def worker(n: int) -> None:
        stream = sys.stdout if n % 2 else sys.stderr
        for i in range(400):
            stream.write(f"thread {n} line {i}\n")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cap.stop()
    lines = log.text.splitlines()
    assert len(lines) == 8 * 400
    assert sorted(lines) == sorted(f"thread {n} line {i}" for n in range(8) for i in range(400))
    for n in range(8):  # each thread's lines stay in order
        mine = [line for line in lines if line.startswith(f"thread {n} ")]
        assert mine == [f"thread {n} line {i}" for i in range(400)]


def test_start_and_stop_are_idempotent(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    streams = fake_streams(monkeypatch)
    out, _ = streams
    cap = ConsoleCapture(log, 1000)
    cap.stop()  # before start: nothing to do
    cap = ConsoleCapture(log, 1000)
    cap.start()
    tee = sys.stdout
    cap.start()
    assert sys.stdout is tee
    print("x")
    cap.stop()
    cap.stop()
    assert sys.stdout is out
    assert log.text == "x\n"


def test_missing_stream_is_skipped(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    out = FakeTTY(1)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", None)
    cap = ConsoleCapture(log, 1000)
    cap.start()
    print("only stdout")
    cap.stop()
    assert sys.stderr is None and sys.stdout is out
    assert log.text == "only stdout\n"


def test_real_process_output(tmp_path: Any) -> None:
    """In a real interpreter: the terminal output is byte-identical and the log is kept."""
    import subprocess

    code = (
        "import sys\n"
        "from runtrack.client._console import ConsoleCapture\n"
        "log = []\n"
        "cap = ConsoleCapture(log.append, 10_000)\n"
        "cap.start()\n"
        "print('hello')\n"
        "sys.stderr.write('\\r10%\\r100%\\n')\n"
        "print(sys.stdout.encoding, sys.stdout.isatty(), sys.stdout.fileno())\n"
        "cap.stop()\n"
        "print(repr(''.join(log)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True)
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "hello"
    assert lines[1].endswith("False 1")
    assert lines[2] == repr(f"hello\n100%\n{lines[1]}\n")
    assert proc.stderr == b"\r10%\r100%\n"


def test_rich_and_click_write_through_the_tee(monkeypatch: pytest.MonkeyPatch, log: Log) -> None:
    import click
    from rich.console import Console

    out, err = fake_streams(monkeypatch)
    cap = ConsoleCapture(log, 1_000_000)
    cap.start()
    Console().print("[bold]rich[/bold] text")  # sees a terminal: writes ANSI styles
    Console(stderr=True).print("to stderr")
    click.echo("from click")
    click.echo("click err", err=True)
    cap.stop()
    assert "rich" in out.getvalue() and "\x1b[" in out.getvalue()
    assert "from click\n" in out.getvalue()
    assert err.getvalue().endswith("click err\n")
    for text in ("rich", "to stderr\n", "from click\n", "click err\n"):
        assert text in log.text
