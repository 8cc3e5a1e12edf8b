"""``runtrack.init()`` and the module-level helpers that act on the current run."""

from __future__ import annotations

import copy
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import configdoc
from .. import settings as settings_mod
from ..entities import NewRun, ProvenanceOp, RunRecord, RunSpec, StatusOp
from ..errors import ConfigError, StoreUnavailableError, ValidationError
from ..ids import new_run_id, new_run_name, new_stream_id
from ..validation import (
    check_existing_run_id,
    check_group,
    check_notes,
    check_project,
    check_run_name,
    check_tags,
)
from ._config import normalize_config
from ._journal import journal_path
from ._reproduction import link_from_env
from ._sink import JournalSink, NullSink
from ._state import STATE
from .run import Run

if TYPE_CHECKING:
    from ..store.base import TrackingStore

logger = logging.getLogger("runtrack")


def init(
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: Mapping[str, Any] | None = None,
    notes: str | None = None,
    group: str | None = None,
    parent: Run | RunRecord | str | None = None,
    resume: str | None = None,
    mode: str | None = None,
) -> Run:
    """Start recording a run (or continue one with ``resume=RUN_ID``) and make it current.

    Where data goes comes from the environment (``RUNTRACK_URL``, ``RUNTRACK_DIR``,
    ``RUNTRACK_MODE``); see ``docs/settings.md``. ``config`` is a dict, an
    ``argparse.Namespace``, a dataclass or an OmegaConf/Hydra ``DictConfig`` (resolved).
    Provenance (git, command, environment, packages, hardware), system metrics and the
    console output are captured in the background with no further code.
    """
    if mode is not None and (not isinstance(mode, str) or mode not in settings_mod.MODES):
        raise ValidationError(f"mode {mode!r} must be one of {', '.join(settings_mod.MODES)}")
    s = settings_mod.load(mode=mode)
    cfg = normalize_config(config)
    # runtrack reproduce / rerun: link, config overrides, pinned artifacts (from the env)
    link = link_from_env() if resume is None and s.mode != "disabled" else None
    not_applied: list[str] = []
    if link is not None and link.overrides:
        cfg, not_applied = link.apply(config, cfg)
    configdoc.flatten(cfg)
    clean_tags = check_tags(tags)
    if link is not None:
        clean_tags = link.tags(clean_tags)
    check_notes(notes)
    check_group(group)
    if name is not None:
        check_run_name(name)
    parent_id = _parent_id(parent)
    trial = None
    if resume is None and s.mode != "disabled":
        from ._trial import trial_from_env

        trial = trial_from_env()  # started by a sweep agent: record into the trial's run
        if trial is not None:
            resume = trial[1]
    if resume is not None:
        check_existing_run_id(resume)
    if project is not None:
        check_project(project)

    if s.mode == "disabled":
        return _register(
            Run(
                id=resume or new_run_id(),
                name=name or "disabled",
                project=project or s.project,
                config=cfg,
                tags=clean_tags,
                notes=notes,
                group=group,
                parent_id=parent_id,
                mode="disabled",
                sink=NullSink(),
            ),
            s,
            capture=False,
        )
    if resume is not None:
        run = _resume(s, resume, project, cfg, clean_tags, notes, trial is not None)
        if trial is not None:
            from ._trial import attach

            attach(run, trial[0], STATE.store(s))
        return run

    spec = RunSpec(
        id=new_run_id(),
        project=project or check_project(s.project),
        name=name or new_run_name(),
        user=_user(),
        host=_host(),
        start_time=time.time(),
        config=cfg,
        tags=clean_tags,
        notes=notes,
        group=group,
        parent_id=parent_id,
    )
    store = STATE.store(s) if s.mode == "online" else None
    pending_create: RunSpec | None = None
    where = (s.store_url, spec.project)
    if store is not None and s.url and where in STATE.created_in:
        # this process has already created a run there (the server is reachable and the
        # token may write to the project): the run is created with its first records, in
        # the first request of its shipper, and init() does not wait for the network
        pending_create = spec
    elif store is not None:
        try:
            # create_runs, not create_run: a team server commits the runs that many jobs
            # start at the same moment in one transaction (and a retry is harmless)
            store.create_runs([NewRun(spec)])
            STATE.created_in.add(where)
        except StoreUnavailableError as exc:
            logger.warning(
                "runtrack: store unreachable (%s); logging locally, the run will be "
                "created when it is back",
                exc,
            )
            pending_create = spec
    sink = _open_sink(s, spec, store, resume=False, create=pending_create)
    run = Run(
        id=spec.id,
        name=spec.name,
        project=spec.project,
        config=cfg,
        tags=clean_tags,
        notes=notes,
        group=group,
        parent_id=parent_id,
        mode=s.mode,
        sink=sink,
        store=store,
        artifacts=STATE.artifact_store(s, spec.project if store is not None else None),
        spool=STATE.artifact_store(s) if store is not None and s.url else None,
        cache_dir=s.cache_dir,
    )
    if link is not None:
        link.attach(run, not_applied)
    return _register(run, s, capture=True)


def _resume(
    s: settings_mod.Settings,
    run_id: str,
    project: str | None,
    cfg: dict[str, Any],
    tags: dict[str, str],
    notes: str | None,
    trial: bool = False,
) -> Run:
    if s.mode != "online":
        raise ValidationError(
            "resume= needs the store (mode online); offline runs cannot resume a recorded run"
        )
    store = STATE.store(s)
    rec = store.get_run(run_id)
    if project is not None and project != rec.project:
        if trial:
            raise ValidationError(
                f"this process runs a trial of a sweep in project {rec.project!r}, but "
                f"init() asks for project {project!r}: create the sweep in {project!r} or "
                "drop project= from init()"
            )
        raise ValidationError(f"run {run_id} belongs to project {rec.project!r}, not {project!r}")
    recorded = rec.config.to_dict()
    try:
        added = configdoc.merge(recorded, cfg)  # raises ConfigError if a value would change
    except ConfigError as exc:
        if not trial:
            raise
        raise ConfigError(
            f"{exc}. This run is a sweep trial: its config holds the parameters the sweep "
            "chose; read them from run.config (or pass them on the command line with "
            "${name} in the sweep's command) instead of setting other values"
        ) from None
    spec = RunSpec(
        id=rec.id,
        project=rec.project,
        name=rec.name,
        user=rec.user,
        host=rec.host,
        start_time=rec.start_time.timestamp(),
        config=recorded,
        tags=dict(rec.tags),
        notes=rec.notes,
        group=rec.group,
        parent_id=rec.parent_id,
    )
    sink = _open_sink(s, spec, store, resume=True)
    if rec.status != "running":  # a crashed (or ended) run is running again
        sink.op(StatusOp("running", time.time()))
    last = rec.last_step
    user_summary = {k: v for k, v in rec.summary.items() if k not in rec.metrics}
    run = Run(
        id=rec.id,
        name=rec.name,
        project=rec.project,
        config=added,
        tags=dict(rec.tags),
        notes=rec.notes,
        group=rec.group,
        parent_id=rec.parent_id,
        mode="online",
        sink=sink,
        store=store,
        artifacts=STATE.artifact_store(s, rec.project),
        spool=STATE.artifact_store(s) if s.url else None,
        cache_dir=s.cache_dir,
        first_step=0 if last is None else last + 1,
        summary=user_summary,
    )
    if added != recorded:
        run.config._record(cfg)  # record only the new keys (merge checked them)
    if tags:
        run.set_tags(tags)
    if notes is not None:
        run.set_notes(notes)
    return _register(run, s, capture=True)


def _register(run: Run, s: settings_mod.Settings, *, capture: bool) -> Run:
    from . import _hooks

    with STATE.lock:
        STATE.runs.append(run)
    run._on_finish = _unregister
    if capture:
        _start_capture(run, s)
        _hooks.install()
        if run.mode == "online" and s.store_url not in STATE.recovered:
            from ._sync import recover_in_background

            STATE.recovered.add(s.store_url)
            recover_in_background(
                s.journal_dir,
                s.store_url,
                STATE.store(s),
                STATE.artifact_store(s),
                STATE.artifact_target(s),
            )
        if not s.quiet:
            where = "offline, ship with `runtrack sync`" if run.mode == "offline" else s.store_url
            print(
                f"runtrack: run {run.name} ({run.id}) in project {run.project} [{where}]",
                file=sys.stderr,
            )
    return run


def _unregister(run: Run) -> None:
    with STATE.lock:
        if run in STATE.runs:
            STATE.runs.remove(run)


def _open_sink(
    s: settings_mod.Settings,
    spec: RunSpec,
    store: TrackingStore | None,
    *,
    resume: bool,
    create: RunSpec | None = None,
) -> JournalSink:
    """A new stream of the run: its journal, and with a store its shipper and heartbeat.
    On a team server, the shipper first uploads the blobs of artifacts that were
    spooled locally while the server was unreachable."""
    stream = new_stream_id()
    prepare = None
    if store is not None and s.url:
        from ._sync import blob_copier

        prepare = blob_copier(STATE.artifact_store(s), STATE.artifact_store(s, spec.project))
    return JournalSink(
        journal_path(s.journal_dir, spec.id, stream),
        _header(s, spec, stream, resume=resume),
        run_id=spec.id,
        stream=stream,
        store=store,
        flush_interval=s.flush_interval,
        heartbeat_interval=s.beat_every,
        create=create,
        prepare=prepare,
    )


def _header(
    s: settings_mod.Settings, spec: RunSpec, stream: str, *, resume: bool
) -> dict[str, Any]:
    return {
        "run": spec.to_json(),
        "stream": stream,
        "mode": s.mode,
        "resume": resume,
        "target": s.store_url if s.mode == "online" else None,
        "pid": os.getpid(),
        "host": spec.host,
    }


def _parent_id(parent: Any) -> str | None:
    if parent is None:
        return None
    if isinstance(parent, str):
        return check_existing_run_id(parent)
    pid = getattr(parent, "id", None)
    if isinstance(pid, str):
        return check_existing_run_id(pid)
    raise ValidationError(f"parent must be a run or a run id, got {type(parent).__name__}")


def _user() -> str:
    from .provenance.command import user

    return user()


def _host() -> str:
    from .provenance.command import host

    return host()


def _start_capture(run: Run, s: settings_mod.Settings) -> None:
    """Provenance in a background thread; system metrics and console while running."""
    from .provenance.command import capture_command

    run._record_provenance("command", capture_command())
    with STATE.lock:
        seeds = dict(STATE.seeds)
    if seeds:
        run._record_provenance("seeds", seeds)
    from .provenance.determinism import capture_determinism

    def refresh_determinism() -> None:  # scripts turn these on after init: look again
        now = capture_determinism()
        if now != run._provenance.get("determinism"):
            run._record_provenance("determinism", now)

    with STATE.lock:
        shared = STATE.shared_provenance
        reused = copy.deepcopy(shared) if shared else None
    if reused is not None:  # a sweep agent's later trial: the first trial's capture
        sections = {"determinism": capture_determinism(), **reused}
        run._provenance.update(sections)
        run._sink.op(ProvenanceOp(sections))
        run._finishers.append(refresh_determinism)
        _start_monitors(run, s)
        return

    def capture() -> None:
        from .provenance.environment import capture_environment
        from .provenance.git import capture_git
        from .provenance.hydra import capture_hydra

        sections: dict[str, Any] = {"determinism": capture_determinism()}
        try:
            if s.capture_git:
                sections["git"] = capture_git(
                    __import__("pathlib").Path.cwd(),
                    diff_max_bytes=s.diff_max_bytes,
                    untracked_file_max_bytes=s.untracked_file_max_bytes,
                )
            sections["environment"] = capture_environment(packages=s.capture_packages)
            hydra = capture_hydra()
            if hydra is not None:
                sections["hydra"] = hydra
        except Exception:  # pragma: no cover - provenance must never break training
            logger.debug("provenance capture failed", exc_info=True)
        with STATE.lock:
            if STATE.shared_provenance is not None and not STATE.shared_provenance:
                STATE.shared_provenance.update(
                    copy.deepcopy({k: v for k, v in sections.items() if k != "determinism"})
                )
        if run.status == "running" and sections:
            run._provenance.update(sections)
            run._sink.op(ProvenanceOp(sections))

    thread = threading.Thread(target=capture, name="runtrack-provenance", daemon=True)
    thread.start()
    # a run ended by a signal (SIGTERM, Ctrl-C) is expected to go at once: its provenance
    # gets a moment, not the minute a normal end waits for it
    run._finishers.append(lambda: thread.join(timeout=3 if run._ending == "killed" else 60))
    run._finishers.append(refresh_determinism)
    _start_monitors(run, s)


def _start_monitors(run: Run, s: settings_mod.Settings) -> None:
    """System metrics and the console capture, while the run runs."""
    if s.system_metrics_interval > 0:
        from ._monitor import SystemMonitor

        counter = [0]

        def emit(values: dict[str, float]) -> None:
            run._log_system(values, counter[0])
            counter[0] += 1

        monitor = SystemMonitor(s.system_metrics_interval, emit)
        monitor.start()
        run._finishers.append(monitor.stop)
    if s.console:
        from ..entities import ConsoleOp
        from ._console import ConsoleCapture

        console = ConsoleCapture(lambda text: run._op(ConsoleOp(text)), s.console_max_bytes)
        console.start()
        run._finishers.insert(0, console.stop)


# -- module-level helpers acting on the current run -------------------------------------
def current_run() -> Run | None:
    with STATE.lock:
        return STATE.runs[-1] if STATE.runs else None


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """``run.log`` on the current run."""
    STATE.current().log(data, step=step)


def finish(status: str = "finished", error: str | None = None) -> None:
    """``run.finish`` on the current run (nothing to do if there is none)."""
    run = current_run()
    if run is not None:
        run.finish(status, error)


def seed_everything(seed: int) -> dict[str, int]:
    """Seed python's ``random``, numpy and torch (those installed) and record the seeds in
    the current run (or in the next one started)."""
    from .provenance.seeds import seed_everything as _seed

    seeded = _seed(seed)
    with STATE.lock:
        STATE.seeds.update(seeded)
        seeds = dict(STATE.seeds)
        runs = list(STATE.runs)
    for run in runs:
        if run.status == "running" and run.mode != "disabled":
            run._record_provenance("seeds", seeds)
    return seeded
