"""End runs properly however the process ends.

* normal exit without ``finish()``: ``finished`` (atexit);
* ``sys.exit(code)`` with an error code (not 0 or None) from the main thread: ``failed``,
  with the exception being handled when it was called (Hydra catches a task's exception,
  prints it and calls ``sys.exit(1)``: the run keeps that traceback). ``sys.exit`` is
  wrapped for this, as W&B does; ``raise SystemExit(3)`` bypasses the wrapper and ends the
  run ``finished``, and a program that catches the ``SystemExit`` and then exits normally
  still has its runs ``failed`` (the code it asked for is all a hook can see);
* an uncaught exception: ``failed`` with the traceback (``sys.excepthook``);
  ``KeyboardInterrupt`` (SIGINT): ``killed``;
* SIGTERM: ``killed``, then the default action (the process still exits by SIGTERM), or
  the handler that was there before runtrack's. A signal handler runs in the main thread
  between two bytecodes, so it may interrupt runtrack's own code holding a lock that
  ending the run needs (``run.log`` in a tight loop, 14 of 40 SIGTERMs hung so). When the
  interrupted stack is inside runtrack, the handler raises :class:`Terminated` instead:
  the code unwinds (releasing its locks, as KeyboardInterrupt does on SIGINT), and the
  runs are ended by ``sys.excepthook`` (or ``Run.__exit__``, or atexit);
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
from typing import NoReturn

from ..errors import TrialPruned
from ._state import STATE

log = logging.getLogger("runtrack")
_installed = False
TERMINATED = "terminated by SIGTERM"
_ENDING = threading.Event()  # the runs are being ended for good: a SIGTERM now is ignored
_UNWINDING = threading.Event()  # a SIGTERM raised Terminated, not yet acted on
_previous_term: object = signal.SIG_DFL  # the SIGTERM handler before runtrack's


class Terminated(BaseException):
    """SIGTERM, raised in the main thread when it interrupted runtrack's own code; not an
    ``Exception``, so ``except Exception`` in a training loop lets it through."""


# why the process asked to exit with an error (sys.exit from the main thread), or None
_exit_error: str | None = None


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
        if issubclass(exc_type, Terminated):
            _ENDING.set()
            _finish_all("killed", TERMINATED)
            _pass_on_term()
            return  # the default SIGTERM prints nothing either
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
    _wrap_sys_exit()
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous in (signal.SIG_DFL, None) or callable(previous):
                signal.signal(signal.SIGTERM, _make_term_handler(previous))
        except (ValueError, OSError):  # pragma: no cover - embedded interpreters
            pass


def _wrap_sys_exit() -> None:
    previous_exit = sys.exit

    def exit(status: str | int | None = None, /) -> NoReturn:
        global _exit_error
        if threading.current_thread() is threading.main_thread():
            _exit_error = _exit_reason(status, sys.exc_info()[1])
        previous_exit(status)

    exit.__doc__ = previous_exit.__doc__
    sys.exit = exit


def _exit_reason(status: object, handling: BaseException | None) -> str | None:
    """What ends a run whose process calls ``sys.exit(status)`` (None: success), with the
    exception it was handling if any (its traceback says why)."""
    if status is None or status == 0:
        return None
    if isinstance(status, int) and not isinstance(status, bool):
        why = f"the process exited with code {status} (sys.exit)"
    else:
        why = f"the process exited with code 1: sys.exit({status!r})"
    if handling is not None and not isinstance(handling, SystemExit | KeyboardInterrupt):
        text = "".join(traceback.format_exception(handling))
        why = f"{why}, while handling:\n{text}"
    return why


def _make_term_handler(previous: object):  # type: ignore[no-untyped-def]
    global _previous_term
    _previous_term = previous

    def on_term(signum: int, frame: FrameType | None) -> None:
        if _ENDING.is_set():
            # a second SIGTERM while the first one ends the runs (an agent's child gets
            # one from the parent-death signal and may get another): returning lets the
            # first one record the end; dying here would lose it (SIGKILL still kills)
            return
        if _inside_runtrack(frame):
            if not _UNWINDING.is_set():
                _UNWINDING.set()
                raise Terminated(TERMINATED)
            return
        _ENDING.set()
        _finish_all("killed", TERMINATED)
        _pass_on_term(frame)

    return on_term


def _inside_runtrack(frame: FrameType | None) -> bool:
    """Whether the interrupted main thread is running runtrack's code (which may hold a
    lock); runtrack takes its locks only inside its own functions."""
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name == "runtrack" or name.startswith("runtrack."):
            return True
        frame = frame.f_back
    return False


def _pass_on_term(frame: FrameType | None = None) -> None:
    """After the runs ended: the handler that was there before, or SIGTERM's default
    action (the process ends by the signal, as its parent expects)."""
    previous = _previous_term
    if callable(previous):
        previous(signal.SIGTERM, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


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
    unwound = _UNWINDING.is_set() and not _ENDING.is_set()
    _ENDING.set()
    if unwound:  # Terminated ended the program without our excepthook (replaced?)
        _finish_all("killed", TERMINATED)
        _pass_on_term()
    elif _exit_error is None:
        _finish_all("finished", None)
    else:
        _finish_all("failed", _exit_error)
