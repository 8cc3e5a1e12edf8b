"""Reading a saved model back: ``load_model_dir``, ``read_model_info``, ``load_input_example``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import RuntrackError, ValidationError
from ._code import activate_code
from ._document import model_file, read_document
from ._env import check_versions, require_library, version_differences
from ._example import load_example
from ._registry import get_flavor

__all__ = ["load_input_example", "load_model_dir", "read_model_info"]


def read_model_info(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The model document of ``directory`` (``ValidationError`` if there is none)."""
    return read_document(Path(directory))


def load_model_dir(directory: str | os.PathLike[str]) -> Any:
    """The model saved in ``directory`` by :func:`save_model`, ready to predict.

    Torch modules come back in eval mode, on the CPU. The model's ``code_paths`` are put
    first on ``sys.path``. Warns ``ModelEnvironmentWarning`` when a library the model was
    saved with has another version here. Raises ``ValidationError`` when the directory is
    not a model, its flavor's library is not installed (naming the package and the
    version it was saved with), or the files cannot be loaded here.

    Loading pickle, joblib, TorchScript and torch.export files runs code from them: load
    only models you trust. Verifying the files' hashes is the caller's job.
    """
    directory = Path(directory)
    doc = read_document(directory)
    flavor = get_flavor(doc["flavor"])
    require_library(doc)
    code_paths = doc.get("code_paths") or []
    activate_code(directory, [str(p) for p in code_paths])
    try:
        model = flavor.load(directory, doc["load"])
    except RuntrackError:
        raise
    except Exception as exc:
        diffs = version_differences(doc)
        hint = (
            f"; it was saved with other library versions ({', '.join(diffs)}): install "
            "the ones recorded in runtrack-model.json ('packages')"
            if diffs
            else ""
        )
        raise ValidationError(
            f"could not load the {flavor.name} model in {directory} "
            f"({type(exc).__name__}: {exc}){hint}"
        ) from exc
    check_versions(doc)
    return model


def load_input_example(directory: str | os.PathLike[str]) -> Any:
    """The input example saved with the model, or None (see ``_example`` for the types)."""
    directory = Path(directory)
    info = read_document(directory).get("input_example")
    if not isinstance(info, dict):
        return None
    model_file(directory, info.get("file"))  # refuses a path leading outside
    return load_example(directory, info)
