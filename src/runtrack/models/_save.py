"""``save_model``: an in-memory model to a directory of files and its document."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RuntrackError, ValidationError
from ._code import copy_code
from ._document import DOCUMENT_FILE, FORMAT, FORMAT_VERSION, json_value, write_document
from ._env import imported_libraries, installed_distributions, module_version, python_info
from ._example import save_example, truncate
from ._flavor import Flavor, SaveRequest, class_name
from ._registry import choose_flavor
from ._signature import infer_signature, user_signature

__all__ = ["save_model"]

_MAX_ERROR = 500  # characters kept of an inference error in the document


def save_model(
    obj: Any,
    directory: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] = (),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``obj`` into ``directory`` (created if missing, else it must be empty).

    Returns the model document, also written as ``directory/runtrack-model.json`` (last,
    so a directory without it is not a model). ``flavor`` forces one (``pickle`` saves any
    picklable object); ``input_example`` (its first 5 rows are kept) is used to infer the
    signature, which ``signature`` replaces; ``init_kwargs`` (pytorch only) rebuild the
    module's class; ``code_paths`` (files or directories) are copied under ``code/`` and
    put on ``sys.path`` at load; ``metadata`` (JSON) is kept as the document's
    ``metadata``.

    Raises ``ValidationError`` for a non-empty directory, an unknown flavor or one that
    does not fit the object, an object that cannot be saved (unpicklable, a torch module
    whose class cannot be rebuilt), non-JSON ``metadata``/``init_kwargs``/``signature``.
    On any error the directory is left empty. A failing signature inference or an input
    example that cannot be stored does not fail the save: the document says why
    (``signature_error``, ``input_example_error``).
    """
    directory = Path(directory)
    chosen = choose_flavor(obj, flavor)
    user_meta = _json_mapping(metadata, "metadata") or {}
    kwargs = _json_mapping(init_kwargs, "init_kwargs")
    if kwargs is not None and chosen.name != "pytorch":
        raise ValidationError("init_kwargs are used only by the pytorch flavor")
    sig = user_signature(signature) if signature is not None else None
    _prepare(directory)
    try:
        code = copy_code(code_paths, directory)
        example, example_error = _truncated(input_example)
        request = SaveRequest(directory, example, kwargs, code)
        try:
            spec = chosen.save(obj, request)
        except (RuntrackError, OSError):
            raise
        except Exception as exc:
            raise ValidationError(
                f"could not save the {class_name(type(obj))} with the {chosen.name} flavor "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        doc: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "flavor": chosen.name,
            "class": class_name(type(obj)),
            "load": spec,
            "files": [],
            "code_paths": [c.relpath for c in code],
        }
        if example_error is not None:
            doc.update(input_example=None, input_example_error=example_error)
        else:
            doc.update(_example_entry(example, directory))
        doc.update(_signature_entry(chosen, obj, example, sig))
        library = chosen.library()
        doc["library"] = (
            {"name": library[1], "module": library[0], "version": module_version(library[0])}
            if library
            else None
        )
        doc["libraries"] = imported_libraries()
        doc["python"] = python_info()
        doc["metadata"] = user_meta
        doc["runtrack_version"] = _runtrack_version()
        doc["created_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["files"] = _files(directory)
        doc["packages"] = installed_distributions()
        write_document(directory, doc)
    except BaseException:
        _empty(directory)
        raise
    return doc


def _json_mapping(value: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a mapping, not {type(value).__name__}")
    out = json_value(dict(value), what)
    assert isinstance(out, dict)
    return out


def _prepare(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise ValidationError(
            f"{directory} is not empty: save_model writes into an empty or new directory "
            "(e.g. tempfile.mkdtemp()) so that no stale file becomes part of the model"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _truncated(example: Any) -> tuple[Any, str | None]:
    if example is None:
        return None, None
    try:
        return truncate(example), None
    except Exception as exc:  # an odd example must not fail the save
        return None, _error_text(exc)


def _example_entry(example: Any, directory: Path) -> dict[str, Any]:
    if example is None:
        return {"input_example": None}
    try:
        return {"input_example": save_example(example, directory)}
    except Exception as exc:
        for name in ("input_example.npy", "input_example.npz", "input_example.json"):
            (directory / name).unlink(missing_ok=True)
        return {"input_example": None, "input_example_error": _error_text(exc)}


def _signature_entry(
    flavor: Flavor, obj: Any, example: Any, given: dict[str, Any] | None
) -> dict[str, Any]:
    if given is not None:
        return {"signature": given}
    if example is None:
        return {"signature": None}
    try:
        return {"signature": json_value(infer_signature(flavor.outputs, obj, example), "sig")}
    except Exception as exc:  # inference is a courtesy: it never fails the save
        return {"signature": None, "signature_error": _error_text(exc)}


def _error_text(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, RuntrackError) else f"{type(exc).__name__}: {exc}"
    return text[:_MAX_ERROR]


def _files(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != DOCUMENT_FILE
    )


def _empty(directory: Path) -> None:
    """Remove what a failed save wrote (the directory was empty when it started)."""
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _runtrack_version() -> str:
    root = sys.modules.get("runtrack")
    return str(getattr(root, "__version__", "unknown"))
