"""Models as objects: an in-memory model to a directory of files plus a document, and back.

    from runtrack.models import save_model, load_model_dir

    doc = save_model(pipeline, Path("out/model"), input_example=X[:5])
    model = load_model_dir(Path("out/model"))       # in another process, years later

A *flavor* says how a kind of model is stored: ``sklearn`` (joblib), ``pytorch`` (state
dict + class, or a ``torch.export`` / TorchScript copy), ``xgboost`` (UBJSON),
``lightgbm`` (text format; wrappers with joblib) and ``pickle`` for anything else. It is
detected from the object's type without importing any library. ``runtrack-model.json``
beside the files records the flavor, how to load, the input example, the signature and
the environment (Python, library versions, every installed distribution). See
``docs/models.md``.

Security: loading a pickle, joblib, TorchScript or torch.export file runs code stored
in the file. Load only models from people and servers you trust. The content hashes the
artifact layer verifies prove that a file is the one that was recorded, not that it is
safe. Torch state dicts are read with ``weights_only=True`` (no code runs); xgboost and
LightGBM boosters are read from their libraries' own non-pickle formats.

Importing this package imports no numpy, torch, scikit-learn or joblib: each flavor
imports its library when it saves or loads.
"""

from __future__ import annotations

from ._document import DOCUMENT_FILE, FORMAT_VERSION
from ._load import load_input_example, load_model_dir, read_model_info
from ._registry import FLAVORS, detect_flavor
from ._save import save_model
from ._warnings import ModelEnvironmentWarning, ModelWarning

__all__ = [
    "DOCUMENT_FILE",
    "FLAVORS",
    "FORMAT_VERSION",
    "ModelEnvironmentWarning",
    "ModelWarning",
    "detect_flavor",
    "load_input_example",
    "load_model_dir",
    "read_model_info",
    "save_model",
]
