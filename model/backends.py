"""The two inference engines behind `Predictor`: daal4py (oneDAL) and XGBoost itself.

Both are built from the bundle's `model.json` bytes and take the preprocessed float32 matrix. They
return raw outputs: P(positive) for binary, an (n, k) probability matrix for multiclass, values for
regression. The daal4py backend imports neither xgboost nor scikit-learn (see `model.onedal`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from model.onedal import build_models, daal4py_core

if TYPE_CHECKING:
    import xgboost as xgb

BACKENDS = ("daal4py", "xgboost")
# Prediction algorithm objects kept per thread, one per row count (see `Daal4pyBackend._algorithm`).
_CACHED_ALGORITHMS = 64
# From this many rows on, daal4py predicts on the NaN-free form of the matrix (`model.onedal.NanFreeInputs`): about
# a third less oneDAL time at 10,000 rows; below it (measured here: between 64 and 256 rows) making that form costs
# more than it saves. Both models give the same outputs.
NAN_FREE_MIN_ROWS = 128


def load_booster(model_json: bytes, threads: int | None = None) -> xgb.Booster:
    """Return an XGBoost booster loaded from JSON bytes."""
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(model_json))
    if threads:
        booster.set_param({"nthread": threads})
    return booster


class Daal4pyBackend:
    """oneDAL inference on a model built once, at load time."""

    name = "daal4py"

    def __init__(self, model_json: bytes, task: str, n_classes: int, threads: int | None = None) -> None:
        self._core = daal4py_core()
        if threads:
            self._core.daalinit(threads)
        self.task = task
        self.n_classes = n_classes
        plain, nan_free = build_models(model_json)
        self._model = plain.model
        self._nan_free_model = nan_free.model
        self._inputs = nan_free.inputs
        self._model_json = model_json
        self._booster: Any = None
        self._local = threading.local()

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Return raw outputs for a C-contiguous float32 matrix (a fresh array the caller owns)."""
        algo = self._algorithm(len(x))
        model = self._model
        if len(x) >= NAN_FREE_MIN_ROWS and self._inputs is not None:
            x, model = self._inputs.apply(x), self._nan_free_model
        # The result is a view of the algorithm's own result table, which its next call overwrites: copy it.
        if self.task == "regression":
            return np.array(algo.compute(x, model).prediction).ravel()
        probabilities = np.asarray(algo.compute(x, model).probabilities)
        return np.array(probabilities[:, 1]) if self.task == "binary" else np.array(probabilities)

    def _algorithm(self, rows: int) -> Any:
        """Return this thread's prediction algorithm object for `rows` rows, built on first use.

        An algorithm object sizes its result table on its first call and refuses another row count
        afterwards; building one costs about as much as predicting a single row, so one is kept per
        row count (a bounded cache) and per thread (calls on one object must not overlap).
        """
        cache: dict[int, Any] | None = getattr(self._local, "algorithms", None)
        if cache is None:
            cache = self._local.algorithms = {}
        algo = cache.get(rows)
        if algo is None:
            if len(cache) >= _CACHED_ALGORITHMS:
                cache.clear()
            if self.task == "regression":
                algo = self._core.gbt_regression_prediction(fptype="float")
            else:
                algo = self._core.gbt_classification_prediction(
                    nClasses=self.n_classes, fptype="float", resultsToEvaluate="computeClassProbabilities"
                )
            cache[rows] = algo
        return algo

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Return SHAP contributions: (n, columns + 1), or (n, classes, columns + 1); the last column is the bias.

        These come from XGBoost's TreeSHAP (the booster is loaded on first use). oneDAL's own
        `shapContributions` was measured against it here (daal4py 2026.2): its rows still sum to the
        margin, but on some models it moves up to ~3.6 between the bias and one feature, and it has
        no multiclass support, so it is not used.
        """
        if self._booster is None:
            self._booster = load_booster(self._model_json)
        return XGBoostBackend.from_booster(self._booster, self.task, self.n_classes).contributions(x)


class XGBoostBackend:
    """Plain XGBoost inference (`inplace_predict`), for comparison and as a fallback."""

    name = "xgboost"

    def __init__(self, model_json: bytes, task: str, n_classes: int, threads: int | None = None) -> None:
        self.booster = load_booster(model_json, threads)
        self.task = task
        self.n_classes = n_classes

    @classmethod
    def from_booster(cls, booster: xgb.Booster, task: str, n_classes: int) -> XGBoostBackend:
        """Wrap an already-loaded booster (training has one in hand)."""
        backend = cls.__new__(cls)
        backend.booster, backend.task, backend.n_classes = booster, task, n_classes
        return backend

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


def make_backend(name: str, model_json: bytes, task: str, n_classes: int, threads: int | None = None) -> Any:
    """Build the named backend from the bundle's model bytes."""
    if name == "daal4py":
        return Daal4pyBackend(model_json, task, n_classes, threads)
    return XGBoostBackend(model_json, task, n_classes, threads)
