"""The training process's side of ``runtrack reproduce`` and ``runtrack rerun``.

``runtrack reproduce`` starts the recorded command with a few environment variables that
``runtrack.init`` and ``run.use_artifact`` honour (a user may set them by hand too):

* ``RUNTRACK_REPRODUCE_OF=<run id>`` (or ``RUNTRACK_RERUN_OF=<run id>``): every run the
  process starts is linked to that run: a tag ``reproduction_of`` (``rerun_of``) and a
  provenance section ``reproduction`` ``{"of", "kind", "config_overrides",
  "pinned_artifacts", "not_applied"}``;
* ``RUNTRACK_REPRODUCE_REPORT=<file>``: the id of each run started is appended to the file
  (one per line), so the command that started the process knows which runs it made;
* ``RUNTRACK_CONFIG_OVERRIDES=<JSON object>``: ``{"dotted.key": value}``. With it set,
  ``import runtrack`` makes ``argparse`` give these values to the options whose ``dest``
  is such a key, as if they had been typed on the command line (so a script that seeds
  from ``args.seed`` before ``init`` gets the new seed); then ``runtrack.init`` sets them
  in the config it is given (in the user's own object too when it is a dict, a
  ``Namespace`` or a mutable dataclass, so the script trains with what it records) and
  records them. A value set only in the record is reported (``not_applied``);
* ``RUNTRACK_PIN_ARTIFACTS=<JSON object>``: ``{"project/name": "vN"}``: ``use_artifact``
  of that artifact by alias (``name``, ``name:latest``, ``name:prod``) resolves to the
  pinned version instead; an explicit ``name:vM`` is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from ..errors import ValidationError

if TYPE_CHECKING:
    from .run import Run

__all__ = [
    "ENV_CONFIG_OVERRIDES",
    "ENV_PIN_ARTIFACTS",
    "ENV_REPORT",
    "ENV_REPRODUCE_OF",
    "ENV_RERUN_OF",
    "Link",
    "hook_argparse",
    "link_from_env",
    "pinned_ref",
]

ENV_REPRODUCE_OF: Final = "RUNTRACK_REPRODUCE_OF"
ENV_RERUN_OF: Final = "RUNTRACK_RERUN_OF"
ENV_REPORT: Final = "RUNTRACK_REPRODUCE_REPORT"
ENV_CONFIG_OVERRIDES: Final = "RUNTRACK_CONFIG_OVERRIDES"
ENV_PIN_ARTIFACTS: Final = "RUNTRACK_PIN_ARTIFACTS"

_RUN_ID = re.compile(r"[0-9a-z]{1,32}")
_VERSION = re.compile(r"v\d+")
_log = logging.getLogger("runtrack")


@dataclass(frozen=True, slots=True)
class Link:
    """What the environment asks ``init`` to do for a reproduction or a rerun."""

    kind: Literal["reproduction", "rerun"] | None
    of: str | None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    pins: Mapping[str, str] = field(default_factory=dict)
    report: str | None = None

    @property
    def tag(self) -> str | None:
        if self.kind is None:
            return None
        return "reproduction_of" if self.kind == "reproduction" else "rerun_of"

    def tags(self, tags: dict[str, str]) -> dict[str, str]:
        """The run's tags with the link added (it wins over a user tag of that name)."""
        if self.tag is None or self.of is None:
            return tags
        return {**tags, self.tag: self.of}

    def apply(self, config: Any, cfg: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Set the overrides in the user's ``config`` object (where it can be changed in
        place) and in its normalised copy ``cfg``; returns (cfg, keys set only in the
        record because the user's object could not be changed)."""
        from ._config import normalize_config

        not_applied = [key for key, value in self.overrides.items() if not _set(config, key, value)]
        if len(not_applied) < len(self.overrides):
            cfg = normalize_config(config)  # the object changed: record what it holds now
        for key in not_applied:
            _set(cfg, key, self.overrides[key])
        if not_applied:
            _log.warning(
                "runtrack: %s=%s could not be set in the script's %s config object; "
                "recorded, but the script may not use the new value",
                ENV_CONFIG_OVERRIDES,
                ",".join(not_applied),
                type(config).__name__,
            )
        return normalize_config(cfg), not_applied

    def attach(self, run: Run, not_applied: list[str]) -> None:
        """Record the link in the run's provenance and report the run's id."""
        if self.of is not None or self.overrides or self.pins:
            run._record_provenance(
                "reproduction",
                {
                    "of": self.of,
                    "kind": self.kind,
                    "config_overrides": dict(self.overrides),
                    "pinned_artifacts": dict(self.pins),
                    "not_applied": not_applied,
                    "set_by_argparse": sorted(_ARGPARSE_SET & set(self.overrides)),
                },
            )
        if self.report:
            try:
                with open(self.report, "a", encoding="utf-8") as fh:
                    fh.write(run.id + "\n")
            except OSError as exc:
                _log.warning("runtrack: cannot write %s=%s: %s", ENV_REPORT, self.report, exc)


def link_from_env(environ: Mapping[str, str] | None = None) -> Link | None:
    """The link the environment asks for, or None when none of the variables is set.

    Raises ``ValidationError`` naming the variable when a value is malformed."""
    env = os.environ if environ is None else environ
    reproduce_of = env.get(ENV_REPRODUCE_OF) or None
    rerun_of = env.get(ENV_RERUN_OF) or None
    report = env.get(ENV_REPORT) or None
    overrides = _json_object(env, ENV_CONFIG_OVERRIDES)
    pins = _pins(env)
    if not (reproduce_of or rerun_of or report or overrides or pins):
        return None
    if reproduce_of and rerun_of:
        raise ValidationError(f"set {ENV_REPRODUCE_OF} or {ENV_RERUN_OF}, not both")
    of = reproduce_of or rerun_of
    if of is not None and not _RUN_ID.fullmatch(of):
        name = ENV_REPRODUCE_OF if reproduce_of else ENV_RERUN_OF
        raise ValidationError(f"{name}={of!r} is not a run id")
    kind: Literal["reproduction", "rerun"] | None = (
        "reproduction" if reproduce_of else "rerun" if rerun_of else None
    )
    return Link(kind=kind, of=of, overrides=overrides, pins=pins, report=report)


def pinned_ref(ref: str, project: str, environ: Mapping[str, str] | None = None) -> str:
    """``ref`` with its alias replaced by the version ``RUNTRACK_PIN_ARTIFACTS`` pins."""
    pins = _pins(os.environ if environ is None else environ)
    if not pins:
        return ref
    head, sep, rest = ref.partition("/")
    where, local = (head, rest) if sep else (project, ref)
    name, _, alias = local.partition(":")
    if _VERSION.fullmatch(alias):
        return ref
    version = pins.get(f"{where}/{name}")
    if version is None:
        return ref
    pinned = f"{name}:{version}"
    _log.info("runtrack: %s pinned to %s/%s by %s", ref, where, pinned, ENV_PIN_ARTIFACTS)
    return f"{head}/{pinned}" if sep else pinned


_ARGPARSE_SET: set[str] = set()  # override keys argparse has given to an option


def hook_argparse(environ: Mapping[str, str] | None = None) -> None:
    """Give ``RUNTRACK_CONFIG_OVERRIDES``' values to ``argparse`` options of those dests
    (``import runtrack`` calls this when the variable is set). Never raises: a malformed
    value is left for ``init`` to report."""
    import argparse

    try:
        overrides = _json_object(os.environ if environ is None else environ, ENV_CONFIG_OVERRIDES)
    except ValidationError:
        return
    parser_class = argparse.ArgumentParser
    original = parser_class.parse_known_args
    if not overrides or getattr(original, "_runtrack_overrides", False):
        return

    def parse_known_args(
        self: argparse.ArgumentParser, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = original(self, args, namespace)
        dests = {action.dest for action in self._actions}
        for key, value in overrides.items():
            if key in dests and hasattr(ns, key):
                setattr(ns, key, value)
                _ARGPARSE_SET.add(key)
        return ns, extras

    parse_known_args._runtrack_overrides = True  # type: ignore[attr-defined]
    parser_class.parse_known_args = parse_known_args  # type: ignore[method-assign,assignment]


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = env.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise ValidationError(f"{name} must be a JSON object with non-empty string keys")
    return value


def _pins(env: Mapping[str, str]) -> dict[str, str]:
    pins = _json_object(env, ENV_PIN_ARTIFACTS)
    for key, version in pins.items():
        if "/" not in key or not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise ValidationError(
                f"{ENV_PIN_ARTIFACTS} maps 'project/name' to 'vN'; got {key!r}: {version!r}"
            )
    return pins


def _set(obj: Any, dotted: str, value: Any) -> bool:
    """Set ``dotted`` (``a.b.c``) in a dict / Namespace / mutable dataclass tree, in place.
    False when some level cannot be changed (the object is left as it was)."""
    parts = dotted.split(".")
    node = obj
    # a key that contains dots itself ({"a.b": 1}) is set as it is
    if isinstance(node, MutableMapping) and dotted in node:
        parts = [dotted]
    for part in parts[:-1]:
        if isinstance(node, Mapping):
            if part not in node:
                if not isinstance(node, MutableMapping):
                    return False
                node[part] = {}
            node = node[part]
        elif hasattr(node, "__dict__") and hasattr(node, part):
            node = getattr(node, part)
        else:
            return False
    last = parts[-1]
    try:
        if isinstance(node, MutableMapping):
            node[last] = value
        elif isinstance(node, Mapping) or node is None:
            return False
        elif type(node).__module__ == "argparse":
            setattr(node, last, value)
        elif last in getattr(node, "__dataclass_fields__", ()):  # a new attribute would
            setattr(node, last, value)  # not be a field: not recorded, so not set
        else:
            return False
    except (TypeError, AttributeError, ValueError, KeyError):  # frozen dataclass, read-only
        return False
    return True
