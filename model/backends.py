"""The two inference engines behind `Predictor`: daal4py (oneDAL) and XGBoost itself.

Both take the preprocessed float32 matrix and return raw outputs: P(positive) for binary, an
(n, k) probability matrix for multiclass, values for regression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from model.convert import convert

if TYPE_CHECKING:
    import xgboost as xgb

BACKENDS = ("daal4py", "xgboost")


class Daal4pyBackend:
    """oneDAL inference on a model converted once, at load time."""

    name = "daal4py"

    def __init__(self, booster: xgb.Booster, task: str, n_classes: int) -> None:
        import daal4py

        self._d4p = daal4py
        self.task = task
        self.n_classes = n_classes
        self.model = convert(booster)
        self._daal_model = self.model.daal_model_
        # oneDAL computes SHAP values for binary and regression models only; multiclass explanations
        # come from XGBoost itself, so the booster is kept for that case alone.
        self._booster = booster if task == "multiclass" else None

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Return raw outputs for a C-contiguous float32 matrix."""
        # A prediction algorithm object keeps its result table sized to the first call, so a
        # fresh one is built per call; that costs about a microsecond.
        if self.task == "regression":
            algo = self._d4p.gbt_regression_prediction(fptype="float")
            return np.asarray(algo.compute(x, self._daal_model).prediction).ravel()
        algo = self._d4p.gbt_classification_prediction(
            nClasses=self.n_classes, fptype="float", resultsToEvaluate="computeClassProbabilities"
        )
        probabilities = np.asarray(algo.compute(x, self._daal_model).probabilities)
        return probabilities[:, 1] if self.task == "binary" else probabilities

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Return SHAP contributions: (n, columns + 1), or (n, classes, columns + 1); the last column is the bias."""
        if self._booster is not None:
            return XGBoostBackend(self._booster, self.task, self.n_classes).contributions(x)
        return np.asarray(self.model.predict(x, pred_contribs=True))


class XGBoostBackend:
    """Plain XGBoost inference (`inplace_predict`), for comparison and as a fallback."""

    name = "xgboost"

    def __init__(self, booster: xgb.Booster, task: str, n_classes: int) -> None:
        self.booster = booster
        self.task = task
        self.n_classes = n_classes

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Return raw outputs for a float32 matrix."""
        out = np.asarray(self.booster.inplace_predict(x))
        if self.task == "multiclass":
            return out.reshape(len(x), self.n_classes)
        return out.ravel()

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Return SHAP contributions as XGBoost computes them."""
        import xgboost as xgb

        return np.asarray(self.booster.predict(xgb.DMatrix(x, missing=np.nan), pred_contribs=True))


def make_backend(name: str, booster: xgb.Booster, task: str, n_classes: int) -> Any:
    """Build the named backend around `booster`."""
    if name == "daal4py":
        return Daal4pyBackend(booster, task, n_classes)
    return XGBoostBackend(booster, task, n_classes)
