"""daal4py conversion of a trained booster, and the parity check against XGBoost's own predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xgboost as xgb

PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Parity:
    """How closely the daal4py model reproduces XGBoost on the same rows."""

    max_abs_diff: float
    label_agreement: float
    rows: int
    tolerance: float = PARITY_TOLERANCE

    @property
    def ok(self) -> bool:
        """Return whether the parity meets the publishing bar."""
        return self.max_abs_diff <= self.tolerance and self.label_agreement == 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest form."""
        return {
            "max_abs_diff": self.max_abs_diff,
            "label_agreement": self.label_agreement,
            "rows": self.rows,
            "tolerance": self.tolerance,
        }


def convert(booster: xgb.Booster) -> Any:
    """Return the daal4py model (`daal4py.mb.GBTDAALModel`) built from an XGBoost booster."""
    import daal4py

    return daal4py.mb.convert_model(booster)


def converted_outputs(model: Any, task: str, x: np.ndarray) -> np.ndarray:
    """Return a `daal4py.mb.GBTDAALModel`'s outputs in the backends' form."""
    if task == "regression":
        return np.asarray(model.predict(x))
    probabilities = np.asarray(model.predict_proba(x))
    return probabilities[:, 1] if task == "binary" else probabilities


def labels_of(task: str, outputs: np.ndarray) -> np.ndarray:
    """Return class indices (or the values themselves, for regression) from model outputs."""
    if task == "binary":
        return (outputs >= 0.5).astype(np.int64)
    if task == "multiclass":
        return outputs.argmax(axis=1)
    return outputs


def parity(task: str, reference: np.ndarray, candidate: np.ndarray) -> Parity:
    """Compare XGBoost's outputs (`reference`) with daal4py's (`candidate`) on the same rows."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        return Parity(max_abs_diff=float("inf"), label_agreement=0.0, rows=len(reference))
    diff = float(np.max(np.abs(reference - candidate))) if reference.size else 0.0
    tolerance = PARITY_TOLERANCE
    if task == "regression":
        # Both engines sum trees in float32, in different orders: for values far from 1 the
        # rounding alone exceeds 1e-5, so the bar is 1e-5 relative to the largest |value|.
        tolerance *= max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
        agreement = 1.0
    else:
        agreement = float(np.mean(labels_of(task, reference) == labels_of(task, candidate))) if len(reference) else 1.0
    return Parity(max_abs_diff=diff, label_agreement=agreement, rows=len(reference), tolerance=tolerance)
