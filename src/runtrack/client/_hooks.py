"""End runs properly however the process ends.

* normal exit without ``finish()``: ``finished`` (atexit);
* an uncaught exception: ``failed`` with the traceback (``sys.excepthook``);
  ``KeyboardInterrupt`` (SIGINT): ``killed``;
* SIGTERM: ``killed``, then the default action (the process still exits by SIGTERM);
* SIGKILL or a power cut cannot be caught: the run stops beating and the store marks it
  ``crashed``; its journal is replayed by ``runtrack sync`` or the next ``init``.

Installed once per process, chaining to whatever hooks were there before.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType

from ..errors import TrialPruned
from ._state import STATE

log = logging.getLogger("runtrack")
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            _finish_all("killed", "interrupted (KeyboardInterrupt / SIGINT)")
        elif issubclass(exc_type, TrialPruned):  # a sweep trial stopped by its pruner
            _end_trials_pruned()
            print("runtrack: trial pruned", file=sys.stderr)
            return  # not an error: no traceback
        else:
            _finish_all("failed", "".join(traceback.format_exception(exc_type, exc, tb)))
        previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous in (signal.SIG_DFL, None) or callable(previous):
                signal.signal(signal.SIGTERM, _make_term_handler(previous))
        except (ValueError, OSError):  # pragma: no cover - embedded interpreters
            pass


def _make_term_handler(previous: object):  # type: ignore[no-untyped-def]
    ending = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        if ending.is_set():
            # a second SIGTERM while the first one ends the runs (an agent's child gets
            # one from the parent-death signal and may get another): returning lets the
            # first one record the end; dying here would lose it (SIGKILL still kills)
            return
        ending.set()
        _finish_all("killed", "terminated by SIGTERM")
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    return on_term


def _finish_all(status: str, error: str | None) -> None:
    with STATE.lock:
        runs = list(reversed(STATE.runs))
    for run in runs:
        try:
            run.finish(status, error)
        except Exception:  # pragma: no cover - keep ending the others
            log.exception("runtrack: could not finish run %s", run.id)


def _end_trials_pruned() -> None:
    from ._trial import end_pruned

    with STATE.lock:
        runs = list(reversed(STATE.runs))
    for run in runs:
        try:
            if run._trial is not None:
                end_pruned(run)
            else:
                run.finish("finished")
        except Exception:  # pragma: no cover - keep ending the others
            log.exception("runtrack: could not finish run %s", run.id)


def _at_exit() -> None:
    _finish_all("finished", None)
