"""``runtrack.log_model``, ``runtrack.register_model``, ``runtrack.load_model``: models as
objects on top of artifacts (``runtrack.models`` turns an object into files and back) and
the registry.

Loading a model unpickles it (joblib, TorchScript...), and unpickling runs code stored in
the file. ``load_model`` verifies every file against the content hash recorded with the
version, which proves the file is the one that was logged, not that whoever logged it is
trustworthy: load models only from stores and people you trust.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NoActiveRunError, ValidationError

if TYPE_CHECKING:
    from ..entities import ArtifactVersion, ModelVersion
    from .run import Run

_MODEL_REF = re.compile(r"[^@/:]+(@[^@/:]+|/[0-9]+)")


def log_model(
    obj: Any,
    name: str,
    *,
    run: Run | None = None,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    code_paths: Sequence[str] = (),
    aliases: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    register: str | None = None,
) -> ArtifactVersion | None:
    """Save ``obj`` (scikit-learn, PyTorch, XGBoost, LightGBM, or anything joblib can
    pickle) with its environment, input example and signature, and log it as a version of
    artifact ``name`` (type ``model``) of the current run (or ``run``). ``register``: also
    register it as a new version of that registered model. Returns the version (None in
    disabled mode, or when the store is away and the version will be recorded later)."""
    from ..models import save_model
    from ._init import current_run

    target = run if run is not None else current_run()
    if target is None:
        raise NoActiveRunError("log_model needs a run: call runtrack.init() first (or run=)")
    with tempfile.TemporaryDirectory(prefix="runtrack-model-") as tmp:
        directory = Path(tmp) / "model"
        directory.mkdir()
        doc = save_model(
            obj,
            directory,
            flavor=flavor,
            input_example=input_example,
            signature=signature,
            init_kwargs=init_kwargs,
            code_paths=code_paths,
            metadata=metadata,
        )
        summary = {
            "flavor": doc.get("flavor"),
            "model_class": doc.get("class"),
            "signature": doc.get("signature"),
            "library": doc.get("library"),
            "python": (doc.get("python") or {}).get("version"),
            **dict(metadata or {}),
        }
        version = target.log_artifact(
            directory, name=name, type="model", aliases=list(aliases), metadata=summary
        )
    if register is not None and version is not None:
        register_model(version.full_ref, register)
    return version


def register_model(
    ref: str,
    name: str,
    *,
    project: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Register the artifact version ``ref`` (``churn-model:latest``, ``churn-model:v3``,
    ``project/churn-model:v3``) as a new version of registered model ``name``. Inside a run
    the run's project is the default."""
    from ._init import current_run
    from .api import Api

    run = current_run()
    if project is None and run is not None and "/" not in ref:
        project = run.project
        run._sink.ensure_created()
    return Api().register_model(ref, name, project=project, tags=tags, description=description)


def load_model(ref: str, *, project: str | None = None) -> Any:
    """The model object ``ref`` names: a registered model (``churn@production``,
    ``churn/3``, or ``churn``: its newest version) or an artifact version
    (``churn-model:v3``). Every file is verified against its content hash before it is
    loaded. Unpickling runs code: load only models you trust."""
    from ..errors import ModelNotFoundError
    from ..models import load_model_dir
    from .api import Api

    if not isinstance(ref, str) or not ref:
        raise ValidationError(f"model reference {ref!r} must be like 'churn@production'")
    api = Api()
    artifact_ref: str | None = None
    if _MODEL_REF.fullmatch(ref) or (":" not in ref and "/" not in ref):
        try:
            artifact_ref = api.model_version(ref).artifact.full_ref
        except ModelNotFoundError:
            if _MODEL_REF.fullmatch(ref):
                raise
    handle = api.artifact_handle(artifact_ref or ref, project)
    if handle.type != "model":
        raise ValidationError(
            f"{handle.full_ref} is an artifact of type {handle.type!r}, not a model logged "
            "with runtrack.log_model"
        )
    return load_model_dir(handle.download())
