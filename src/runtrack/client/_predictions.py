"""Per-example evaluation records: ``run.log_predictions`` and reading them back.

A prediction set is stored as a Parquet file (pyarrow) in an artifact of type
``predictions`` named ``predictions-<name>``: one row per example with its id, the true
value, the predicted label and/or score(s), and slice columns. Identical predictions make
identical bytes, so logging them again returns the existing version.

The *evaluation set* is identified by ``eval_set``: the sha256 of the example ids and the
true values (canonical little-endian encodings), independent of order. Two runs whose
prediction sets share it were scored on the same examples, so paired tests apply; the
comparison aligns their rows by id.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

    from ..entities import ArtifactVersion
    from .run import Run

Task = Literal["binary", "multiclass", "regression"]
ARTIFACT_TYPE = "predictions"
FILE_NAME = "predictions.parquet"
MAX_CLASSES = 1000


@dataclass(frozen=True)
class Predictions:
    """A prediction set read back: arrays aligned row by row."""

    name: str
    task: Task
    ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray | None
    y_score: np.ndarray | None  # binary: (n,) positive-class scores; multiclass: (n, k)
    classes: tuple[Any, ...]
    eval_set: str
    slices: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def artifact_name(name: str) -> str:
    return f"predictions-{name}"


def _array(value: Any, what: str) -> np.ndarray:
    import numpy as np

    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ValidationError(f"{what} cannot be read as an array: {exc}") from None
    if arr.dtype == object:
        raise ValidationError(f"{what} must hold numbers or strings, not mixed objects")
    return arr


def infer_task(y_true: np.ndarray, y_score: np.ndarray | None) -> Task:
    import numpy as np

    if y_score is not None and y_score.ndim == 2 and y_score.shape[1] > 2:
        return "multiclass"
    if y_true.dtype.kind == "f" and not np.all(np.isfinite(y_true) & (y_true == np.round(y_true))):
        return "regression"
    n_classes = len(np.unique(y_true))
    if n_classes > MAX_CLASSES:
        return "regression"
    return "binary" if n_classes <= 2 else "multiclass"


def eval_set_digest(ids: np.ndarray, y_true: np.ndarray) -> str:
    """sha256 over (id, y_true) pairs sorted by id: the same examples, in any order."""
    import numpy as np

    order = np.argsort(ids, kind="stable")
    h = hashlib.sha256()
    for arr in (ids[order], y_true[order]):
        if arr.dtype.kind in "US":
            h.update(b"s")
            for v in arr.tolist():
                b = str(v).encode()
                h.update(len(b).to_bytes(4, "little") + b)
        else:
            h.update(b"f" if arr.dtype.kind == "f" else b"i")
            cast = arr.astype("<f8" if arr.dtype.kind == "f" else "<i8")
            h.update(np.ascontiguousarray(cast).tobytes())
    return h.hexdigest()


def build_table(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    ids: Any = None,
    slices: Mapping[str, Any] | None = None,
    task: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The Parquet table and the version metadata of a prediction set (validated)."""
    import numpy as np
    import pyarrow as pa

    yt = _array(y_true, "y_true")
    if yt.ndim != 1 or len(yt) == 0:
        raise ValidationError("y_true must be a non-empty 1-D array")
    n = len(yt)
    if y_pred is None and y_score is None:
        raise ValidationError("give y_pred (labels or values) and/or y_score (scores)")
    yp = None if y_pred is None else _array(y_pred, "y_pred")
    ys = None if y_score is None else _array(y_score, "y_score").astype("f8", copy=False)
    if yp is not None and (yp.ndim != 1 or len(yp) != n):
        raise ValidationError(f"y_pred has shape {yp.shape}; expected ({n},) like y_true")
    if ys is not None:
        if ys.ndim not in (1, 2) or len(ys) != n:
            raise ValidationError(f"y_score has shape {ys.shape}; expected ({n},) or ({n}, k)")
        if not np.all(np.isfinite(ys)):
            raise ValidationError("y_score holds NaN or infinite values")
        if ys.ndim == 2 and ys.shape[1] == 2:
            ys = ys[:, 1]  # binary: the positive class's score
    if yt.dtype.kind == "f" and not np.all(np.isfinite(yt)):
        raise ValidationError("y_true holds NaN or infinite values")
    kind = task or infer_task(yt, ys)
    if kind not in ("binary", "multiclass", "regression"):
        raise ValidationError(f"task {task!r} must be binary, multiclass or regression")
    idx = np.arange(n) if ids is None else _array(ids, "ids")
    if idx.ndim != 1 or len(idx) != n:
        raise ValidationError(f"ids must be a 1-D array of {n} ids like y_true")
    if idx.dtype.kind not in "iuUS":
        raise ValidationError("ids must be integers or strings")
    if len(np.unique(idx)) != n:
        raise ValidationError("ids must be unique: each example once")
    classes: list[Any] = []
    if kind != "regression":
        classes = sorted(np.unique(yt).tolist())
        if kind == "binary" and len(classes) > 2:
            raise ValidationError(f"a binary task has at most 2 classes; y_true has {len(classes)}")
        if kind == "multiclass" and ys is not None and ys.ndim == 2 and ys.shape[1] < len(classes):
            raise ValidationError(
                f"y_score has {ys.shape[1]} columns but y_true has {len(classes)} classes"
            )
    columns: dict[str, Any] = {"id": idx, "y_true": yt}
    if yp is not None:
        columns["y_pred"] = yp
    if ys is not None:
        if ys.ndim == 1:
            columns["y_score"] = ys
        else:
            for j in range(ys.shape[1]):
                columns[f"y_score_{j}"] = ys[:, j]
    slice_names: list[str] = []
    for key, values in (slices or {}).items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValidationError(f"slice name {key!r} must be an identifier")
        arr = _array(values, f"slice {key!r}")
        if arr.ndim != 1 or len(arr) != n:
            raise ValidationError(f"slice {key!r} must have one value per example ({n})")
        columns[f"slice_{key}"] = arr
        slice_names.append(key)
    table = pa.table(
        {k: pa.array(v.tolist() if v.dtype.kind in "US" else v) for k, v in columns.items()}
    )
    meta = {
        "task": kind,
        "n": n,
        "classes": classes,
        "eval_set": eval_set_digest(idx, yt),
        "has_pred": yp is not None,
        "has_score": ys is not None,
        "score_columns": 0 if ys is None else (1 if ys.ndim == 1 else int(ys.shape[1])),
        "slices": slice_names,
    }
    return table, meta


def log_predictions(
    run: Run,
    name: str,
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    ids: Any = None,
    slices: Mapping[str, Any] | None = None,
    task: str | None = None,
) -> ArtifactVersion | None:
    """Store a prediction set as artifact ``predictions-<name>`` of the run."""
    import pyarrow.parquet as pq

    from ..artifacts.manifest import validate_artifact_name

    validate_artifact_name(artifact_name(name))
    table, meta = build_table(y_true, y_pred, y_score, ids, slices, task)
    with tempfile.TemporaryDirectory(prefix="runtrack-preds-") as tmp:
        path = Path(tmp) / FILE_NAME
        pq.write_table(table, path, compression="zstd", write_statistics=False)
        return run.log_artifact(
            path,
            name=artifact_name(name),
            type=ARTIFACT_TYPE,
            metadata={"prediction_set": name, **meta},
        )


def read_predictions(directory: Path, metadata: Mapping[str, Any]) -> Predictions:
    """A prediction set from its downloaded artifact directory and version metadata."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(directory / FILE_NAME)
    cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    k = int(metadata.get("score_columns", 0))
    score: np.ndarray | None
    if "y_score" in cols:
        score = cols["y_score"].astype("f8")
    elif k > 1:
        score = np.column_stack([cols[f"y_score_{j}"] for j in range(k)]).astype("f8")
    else:
        score = None
    return Predictions(
        name=str(metadata.get("prediction_set", "")),
        task=metadata["task"],
        ids=cols["id"],
        y_true=cols["y_true"],
        y_pred=cols.get("y_pred"),
        y_score=score,
        classes=tuple(metadata.get("classes") or ()),
        eval_set=str(metadata["eval_set"]),
        slices={s: cols[f"slice_{s}"] for s in metadata.get("slices") or ()},
    )
