"""The model document: ``runtrack-model.json`` beside the model's files.

The document is the only thing a loader trusts to know what the files are. Its keys (all
written by :func:`runtrack.models.save_model`; ``docs/models.md`` shows an example)::

    format, format_version      "runtrack-model", 1
    flavor                      sklearn | pytorch | xgboost | lightgbm | pickle
    class                       the model's class, "module.qualname"
    load                        the flavor's recipe: format, files, how to rebuild
    files                       every file of the model, relative POSIX paths, sorted
    code_paths                  copied user code put on sys.path at load (may be empty)
    library                     {"name", "module", "version"} of the flavor's library, or null
    libraries                   {distribution: version} of the libraries the model used
    python                      {"version", "implementation"}
    packages                    ["name==version", ...]: every installed distribution, sorted
    input_example               {"file", "type", ...} or null (+ "input_example_error")
    signature                   {"inputs": [...], "outputs": [...]} or null (+ "signature_error")
    metadata                    the caller's own JSON mapping
    created_at, runtrack_version
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import ValidationError

__all__ = [
    "DOCUMENT_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "json_value",
    "model_file",
    "read_document",
    "write_document",
]

DOCUMENT_FILE: Final = "runtrack-model.json"
FORMAT: Final = "runtrack-model"
FORMAT_VERSION: Final = 1


def json_value(value: Any, what: str) -> Any:
    """``value`` as plain JSON (tuples become lists), or a ``ValidationError`` naming ``what``."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{what} must hold only JSON values (str, finite numbers, bool, None, lists, "
            f"dicts with string keys): {exc}"
        ) from None


def write_document(directory: Path, document: Mapping[str, Any]) -> None:
    """Write the document last, through a temporary name, so it exists only when complete."""
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    tmp = directory / (DOCUMENT_FILE + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, directory / DOCUMENT_FILE)


def read_document(directory: Path) -> dict[str, Any]:
    """The document of a model directory, checked for the keys a loader needs."""
    path = Path(directory) / DOCUMENT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            f"{directory} is not a runtrack model directory: it has no {DOCUMENT_FILE}"
        ) from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValidationError(f"{path} is not a runtrack model document")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationError(f"{path} has no valid format_version")
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"{path} has format version {version}; this runtrack reads versions up to "
            f"{FORMAT_VERSION}: upgrade runtrack to load this model"
        )
    for key, kind in (("flavor", str), ("load", dict)):
        if not isinstance(doc.get(key), kind):
            raise ValidationError(f"{path} has no valid {key!r}")
    return doc


def model_file(directory: Path, relpath: object) -> Path:
    """The file a document names, refused unless it is a plain relative path inside."""
    if (
        not isinstance(relpath, str)
        or not relpath
        or relpath.startswith("/")
        or "\\" in relpath
        or any(part in ("", ".", "..") for part in relpath.split("/"))
    ):
        raise ValidationError(f"the model document names an invalid file path: {relpath!r}")
    return Path(directory) / relpath


def _no_constant(name: str) -> float:
    if name in ("NaN", "Infinity", "-Infinity"):
        raise ValueError(f"{name} is not JSON")
    return math.nan  # pragma: no cover - json only calls this for the three names
