"""Capture of a run's stdout and stderr into its log, while still printing them.

``sys.stdout`` and ``sys.stderr`` are replaced by tee objects: every ``write`` goes to the
original stream first, unchanged (its return value and exceptions are the caller's),
then the text is kept for the log. Anything else (``encoding``, ``isatty()``,
``fileno()``, ``buffer``, ``reconfigure()``...) is the original stream's, so tqdm, rich,
click and ``faulthandler`` behave as without runtrack. Bytes written to ``.buffer`` or
straight to the file descriptor bypass the capture.

What reaches ``emit``: whole lines (with their ``\\n``), in write order, batched about
once per ``flush_interval`` seconds by a daemon thread, or sooner when
``max_pending_bytes`` have accumulated. A line rewritten with carriage returns (progress
bars) is kept only in its last state. A partial line (no newline yet) waits for its end,
or for ``stop()``. stdout and stderr keep separate partial lines and share one log.

The log is capped at ``max_bytes`` (UTF-8 bytes of the lines as emitted): the first line
that does not fit and everything after it are counted, not emitted, and ``stop()`` emits
one final ``[runtrack: N bytes of output not captured]`` line (outside the cap).
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, TextIO

__all__ = ["ConsoleCapture"]

_log = logging.getLogger("runtrack")
_BREAKS = re.compile(r"(\r\n|\r|\n)")
_MAX_PARTIAL_LINE: Final = 64 * 1024  # characters: a longer line without "\n" is cut here


class ConsoleCapture:
    """Tees ``sys.stdout``/``sys.stderr`` into ``emit`` between ``start()`` and ``stop()``.

    Thread safety: writes from any number of threads are serialised by one lock, held
    while ``emit`` runs, so ``emit`` must be quick and must not wait on another thread
    that prints. Text printed by ``emit`` itself (or by a signal handler interrupting a
    write) is passed through but not captured. Nothing here ever raises into ``print``:
    an error in the capture or in ``emit`` is logged once and the text is dropped.
    ``start()`` and ``stop()`` are idempotent; a stopped capture cannot be restarted.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        max_bytes: int,
        *,
        flush_interval: float = 1.0,
        max_pending_bytes: int = 256 * 1024,
    ) -> None:
        self._emit = emit
        self._max_bytes = max(0, int(max_bytes))
        self._flush_interval = flush_interval
        self._max_pending_bytes = max_pending_bytes
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._emitted_bytes = 0
        self._dropped_bytes = 0
        self._capped = False
        self._tees: list[tuple[str, _Tee]] = []
        self._state = "new"
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._emit_failed = False

    @property
    def emitted_bytes(self) -> int:
        return self._emitted_bytes

    @property
    def dropped_bytes(self) -> int:
        return self._dropped_bytes

    def start(self) -> None:
        with self._lock:
            if self._state != "new":
                return
            self._state = "running"
            for name in ("stdout", "stderr"):
                original = getattr(sys, name)
                if original is None:  # pythonw, some daemons
                    continue
                tee = _Tee(self, original)
                self._tees.append((name, tee))
                setattr(sys, name, tee)
        self._flusher = threading.Thread(
            target=self._flush_loop, name="runtrack-console", daemon=True
        )
        self._flusher.start()

    def stop(self) -> None:
        """Restore the streams (when still ours), emit what is left and the cap note."""
        with self._lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
            for name, tee in self._tees:
                tee.active = False
                if getattr(sys, name) is tee:
                    setattr(sys, name, tee.original)
        self._wake.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(5.0)
        self._guarded(self._final_flush)

    # ----------------------------------------------------------------------------------
    # called by the tees, under no lock
    def _feed(self, tee: _Tee, text: str) -> None:
        self._guarded(lambda: self._feed_locked(tee, text))

    def _guarded(self, work: Callable[[], None]) -> None:
        local = self._local
        if getattr(local, "busy", False):
            return  # re-entered from emit or a signal handler: pass through only
        local.busy = True
        try:
            work()
        except Exception:
            self._report("runtrack: console capture failed")
        finally:
            local.busy = False

    def _feed_locked(self, tee: _Tee, text: str) -> None:
        with self._lock:
            for line in tee.lines.feed(text):
                self._add(line)
            if self._pending_bytes >= self._max_pending_bytes:
                self._emit_pending()

    def _add(self, line: str) -> None:
        size = len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))
        if not self._capped and self._emitted_bytes + self._pending_bytes + size > self._max_bytes:
            self._capped = True
        if self._capped:
            self._dropped_bytes += size
            return
        self._pending.append(line)
        self._pending_bytes += size

    def _emit_pending(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._emitted_bytes += self._pending_bytes
        self._pending.clear()
        self._pending_bytes = 0
        self._send(text)

    def _send(self, text: str) -> None:
        try:
            self._emit(text)
        except Exception:
            self._report("runtrack: could not record console output")

    def _report(self, message: str) -> None:
        if self._emit_failed:
            return
        self._emit_failed = True
        _log.warning("%s (further errors are not reported)", message, exc_info=True)

    def _flush_loop(self) -> None:
        while not self._wake.wait(self._flush_interval):
            self._guarded(self._flush_locked)

    def _flush_locked(self) -> None:
        with self._lock:
            self._emit_pending()

    def _final_flush(self) -> None:
        with self._lock:
            for _, tee in self._tees:
                rest = tee.lines.rest()
                if rest:
                    self._add(rest)
            self._emit_pending()
            if self._dropped_bytes:
                self._send(f"[runtrack: {self._dropped_bytes} bytes of output not captured]\n")


class _Lines:
    """Splits written text into lines, keeping only the last state of ``\\r`` rewrites."""

    __slots__ = ("_cr", "_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._cr = False

    def feed(self, text: str) -> list[str]:
        done: list[str] = []
        for piece in _BREAKS.split(text):
            if not piece:
                continue
            if piece == "\n" or piece == "\r\n":
                done.append("".join(self._parts) + "\n")
                self._parts.clear()
                self._size = 0
                self._cr = False
            elif piece == "\r":
                self._cr = True  # the next text rewrites the line; a "\n" keeps it
            else:
                if self._cr:
                    self._parts.clear()
                    self._size = 0
                    self._cr = False
                self._parts.append(piece)
                self._size += len(piece)
                if self._size >= _MAX_PARTIAL_LINE:
                    done.append("".join(self._parts))
                    self._parts.clear()
                    self._size = 0
        return done

    def rest(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._cr = False
        return text


class _Tee:
    """Stands in for a text stream: writes go to the original, then to the capture."""

    def __init__(self, capture: ConsoleCapture, original: TextIO) -> None:
        self.__dict__["_capture"] = capture
        self.__dict__["original"] = original
        self.__dict__["active"] = True
        self.__dict__["lines"] = _Lines()

    # what the capture needs ------------------------------------------------------------
    _capture: ConsoleCapture
    original: TextIO
    active: bool
    lines: _Lines

    def write(self, text: str) -> int:
        written = self.original.write(text)
        if self.active and isinstance(text, str) and text:
            self._capture._feed(self, text)
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.original.flush()

    # everything else is the original stream's -------------------------------------------
    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("active",):
            self.__dict__[name] = value
        else:
            setattr(self.original, name, value)

    def __repr__(self) -> str:
        return f"<runtrack console tee of {self.original!r}>"


io.TextIOBase.register(_Tee)
