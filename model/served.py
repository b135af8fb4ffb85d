"""What every predictor takes from a bundle: its identity, schema, classes, and the encoding of rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from model.bundle import MANIFEST_FILE, PREPROCESSOR_FILE, Bundle
from model.errors import ValidationError
from model.preprocess import Preprocessor

if TYPE_CHECKING:
    import numpy as np


class Results:
    """One batch's results as per-row dicts already (a remote endpoint's answer): what `Predictions` gives from its
    arrays, without numpy."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def records(self) -> list[dict[str, Any]]:
        """Return the result dicts."""
        return self._rows

    def labels(self) -> list[Any] | None:
        """Return each row's label, or None for values (regression), as the first result's members say."""
        return [r["label"] for r in self._rows] if self._rows and "label" in self._rows[0] else None

    def output_rows(self) -> list[Any]:
        """Return each row's number (probability of the positive class, or value) or, multiclass, its class
        probabilities in class order."""
        rows = self._rows
        if rows and "probabilities" in rows[0]:
            return [list(r["probabilities"].values()) for r in rows]
        key = "probability" if rows and "probability" in rows[0] else "value"
        return [r[key] for r in rows]

    def class_names(self) -> list[str]:
        """Return the multiclass results' class names, in order (empty otherwise)."""
        rows = self._rows
        return [str(c) for c in rows[0]["probabilities"]] if rows and "probabilities" in rows[0] else []


class ServedBundle:
    """The part of a predictor that needs only the bundle's manifest and preprocessor, not the model."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.name = bundle.name
        self.version = bundle.version
        with bundle.building(MANIFEST_FILE):
            self.task = bundle.task
            self.schema = bundle.schema
            self.classes = list(self.schema.target.classes)
        with bundle.building(PREPROCESSOR_FILE):
            self.preprocessor = Preprocessor.from_dict(bundle.json(PREPROCESSOR_FILE))

    def encode(self, records: Any, ignore_unknown: bool = False) -> np.ndarray:
        """Return the encoded float32 matrix of records, columns (`Preprocessor.transform`) or an encoded matrix."""
        import numpy as np

        if isinstance(records, np.ndarray):
            return self._check_matrix(records)
        return self.preprocessor.transform(records, ignore_unknown=ignore_unknown)

    def _check_matrix(self, x: np.ndarray) -> np.ndarray:
        """Return `x` as C-contiguous float32 if its width fits the model, else raise `ValidationError`."""
        import numpy as np

        if x.ndim != 2 or x.shape[1] != self.preprocessor.n_columns:
            raise ValidationError(
                f"expected an encoded matrix of shape (n, {self.preprocessor.n_columns}), got {x.shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)
