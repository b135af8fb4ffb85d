"""`Predictor`: loads a verified bundle once and answers `predict(records)`; no web framework in sight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.backends import BACKENDS, make_backend
from model.bundle import BASELINE_FILE, LATEST, MODEL_FILE, PREPROCESSOR_FILE, Bundle, load_bundle
from model.errors import UserError
from model.hardware import allowed_cpus
from model.served import ServedBundle
from model.store import open_store


class Predictor(ServedBundle):
    """A loaded model: schema, preprocessor and an inference backend built once, at load time."""

    def __init__(self, bundle: Bundle, backend: str = "daal4py", threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise UserError(f"unknown backend {backend!r} (expected one of {list(BACKENDS)})")
        super().__init__(bundle)
        self.threads = threads or allowed_cpus()
        n_classes = len(self.classes) if self.task == "multiclass" else 2
        with bundle.building(MODEL_FILE):
            self.backend = make_backend(backend, bundle.files[MODEL_FILE], self.task, n_classes, self.threads)
        self.backend_name = backend
        self.observer: Callable[[np.ndarray, np.ndarray], None] | None = None
        """Called with every encoded matrix `predict` answers and the outputs for it, which it may keep (neither is
        changed afterwards); drift counting, `api.monitoring`. None: nothing is called."""

    @classmethod
    def load(
        cls, store_uri: str, name: str, version: str = LATEST, backend: str = "daal4py", threads: int | None = None
    ) -> Predictor:
        """Load and verify a bundle from a store URI and build a Predictor on it."""
        bundle = load_bundle(
            open_store(store_uri), name, version, only=(MODEL_FILE, PREPROCESSOR_FILE), optional=(BASELINE_FILE,)
        )
        return cls(bundle, backend=backend, threads=threads)

    def predict(self, records: Any, ignore_unknown: bool = False) -> list[dict[str, Any]]:
        """Return one result per row for a list of dicts, columns by name, a DataFrame, or an encoded matrix.

        Binary: `{"label", "probability"}` (probability of the positive class); multiclass:
        `{"label", "probabilities": {class: p}}`; regression: `{"value"}`.
        """
        return self.predict_batch(records, ignore_unknown).records()

    def predict_batch(self, records: Any, ignore_unknown: bool = False) -> Predictions:
        """Return the predictions of what `predict` takes as arrays (`Predictions`), before any per-row dict is made.

        A batch written straight to JSON, CSV or Arrow (the HTTP layer) never needs the dicts.
        """
        x = self.encode(records, ignore_unknown)
        outputs = self.backend.outputs(x)
        if self.observer is not None:
            self.observer(x, outputs)
        return Predictions(self.task, tuple(self.classes), outputs)

    def explain(self, records: Any, ignore_unknown: bool = False) -> list[dict[str, Any]]:
        """Return SHAP contributions per raw feature (one-hot columns summed back) with the bias.

        Contributions plus bias add up to the margin (log-odds for binary, the value for regression);
        multiclass rows hold one such explanation per class.
        """
        contributions = self.backend.contributions(self.encode(records, ignore_unknown))
        groups = self.preprocessor.feature_columns()
        if self.task != "multiclass":
            return [_explanation(row, groups) for row in contributions]
        return [
            {"classes": {cls: _explanation(row[k], groups) for k, cls in enumerate(self.classes)}}
            for row in contributions
        ]

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Return the backend's raw outputs for an encoded matrix."""
        return self.backend.outputs(self._check_matrix(x))


@dataclass(frozen=True)
class Predictions:
    """One batch's predictions as the backend gave them: what `records` shapes into a result dict per row."""

    task: str
    classes: tuple[Any, ...]
    """The class labels in output order (binary: negative, positive); empty for regression."""
    outputs: np.ndarray
    """float32: the positive class's probability per row (binary), a row of class probabilities (multiclass), or
    the value (regression)."""

    def __len__(self) -> int:
        return len(self.outputs)

    def labels(self) -> list[Any] | None:
        """Return each row's predicted label (the positive class from probability 0.5 up); None for regression."""
        if self.task == "regression":
            return None
        if self.task == "binary":
            negative, positive = self.classes
            return [positive if p >= 0.5 else negative for p in self.outputs.tolist()]
        classes = self.classes
        return [classes[max(range(len(row)), key=row.__getitem__)] for row in self.outputs.tolist()]

    def output_rows(self) -> list[Any]:
        """Return the outputs as Python floats: one per row, or (multiclass) a list of class probabilities per row."""
        return self.outputs.tolist()  # float32 values exactly

    def class_names(self) -> list[str]:
        """Return the class names of multiclass probabilities, in order (empty otherwise)."""
        return [str(c) for c in self.classes] if self.task == "multiclass" else []

    def records(self) -> list[dict[str, Any]]:
        """Return one result dict per row (see `Predictor.predict`)."""
        # `tolist` gives Python floats (the float32 outputs exactly, as `astype(float)` would, without the copy).
        if self.task == "binary":
            negative, positive = self.classes
            return [{"label": positive if p >= 0.5 else negative, "probability": p} for p in self.outputs.tolist()]
        if self.task == "multiclass":
            classes = self.classes
            return [
                {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
                for label, row in zip(self.labels() or (), self.outputs.tolist(), strict=True)
            ]
        return [{"value": v} for v in self.outputs.tolist()]


def _explanation(row: np.ndarray, groups: list[tuple[str, tuple[int, ...]]]) -> dict[str, Any]:
    """Sum one row's column contributions per feature; NaN one-hot cells contribute through their columns too."""
    values = row.astype(float)
    contributions = {name: float(values[list(cols)].sum()) if cols else 0.0 for name, cols in groups}
    bias = float(values[-1])
    return {"contributions": contributions, "bias": bias, "margin": float(values.sum())}
