"""``Api.reproduce`` and ``Api.rerun``: run a recorded run again and compare (the work is
done by ``runtrack.reproduce``, imported when called)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..reproduce import Reporter
    from .api import Api


class ReproduceMethods:
    """Mixed into ``Api``."""

    def reproduce(
        self,
        run_id: str,
        *,
        verify: bool = True,
        tolerance: Sequence[str | float] | str | float | None = None,
        env: str | None = None,
        workdir: str | Path | None = None,
        keep: bool = False,
        repo: str | Path | None = None,
        timeout: float | None = None,
        reporter: Reporter | None = None,
    ) -> dict[str, Any]:
        """Run ``run_id`` again: its commit checked out in a git worktree with the stored
        diff applied, its datasets and artifacts checked by content hash, the same
        command, config and seeds, in a fresh venv with the recorded packages
        (``env="new"``, the default; ``RUNTRACK_REPRODUCE_ENV`` changes it) or in this
        interpreter (``env="current"``). The new run is tagged
        ``reproduction_of=<run_id>``. With ``verify``, every summary metric is compared
        within ``tolerance`` (absolute; default 0; ``"val/*=1e-6"`` per key).

        Returns ``{"verdict": "reproduced" | "differs" | "failed" (| "completed" without
        verify), "reproduction": new run id, "metrics": {key: {"original", "reproduced",
        "delta", ...}}, "reason", ...}``. Raises ``RunNotFoundError`` for an unknown run;
        whatever prevents the reproduction later is a ``failed`` verdict with its reason.
        """
        from ..reproduce import reproduce

        return reproduce(
            cast("Api", self),
            run_id,
            verify_metrics=verify,
            tolerance=tolerance,
            env=env,
            workdir=workdir,
            keep=keep,
            repo=repo,
            timeout=timeout,
            reporter=reporter,
        )

    def rerun(
        self,
        run_id: str,
        set: Mapping[str, Any] | Sequence[str] = (),
        *,
        verify: bool = False,
        tolerance: Sequence[str | float] | str | float | None = None,
        env: str | None = None,
        workdir: str | Path | None = None,
        keep: bool = False,
        repo: str | Path | None = None,
        timeout: float | None = None,
        reporter: Reporter | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`reproduce`, with config values changed: ``set={"lr": 0.01}`` or
        ``["lr=0.01"]`` (see docs/user-guide.md, "Reproducing a run", for how a value
        reaches the script). The new run is tagged ``rerun_of=<run_id>``; not verified
        unless asked."""
        import json

        from ..reproduce import parse_sets, reproduce

        if isinstance(set, Mapping):
            sets = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in set.items()}
        else:
            sets = parse_sets(list(set))
        return reproduce(
            cast("Api", self),
            run_id,
            verify_metrics=verify,
            tolerance=tolerance,
            env=env,
            workdir=workdir,
            keep=keep,
            repo=repo,
            sets=sets,
            timeout=timeout,
            reporter=reporter,
        )
