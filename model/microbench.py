"""A short, interleaved timing of daal4py against XGBoost on one model: how fast this machine serves it.

Used by `treeport doctor` to compare instance types in seconds, not as a benchmark of record (bench/ is that).
Both engines predict the same float32 matrix; their calls alternate, so a noisy neighbour slows both alike,
and the figure reported per cell is the median call. The rows are synthetic: each cell of column j is one of
the model's own split thresholds on feature j nudged to either side, so rows take varied paths down the trees
(a column the trees never split on is 0). That makes the comparison fair between engines, not a measure of
any real traffic.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.backends import Daal4pyBackend, XGBoostBackend

BATCHES = (1, 1000)
DEFAULT_SECONDS = 2.0


@dataclass(frozen=True)
class EngineTiming:
    """Median microseconds per call of each engine on one batch size, and how many calls were timed."""

    batch: int
    daal4py_us: float
    xgboost_us: float
    calls: int

    @property
    def speedup(self) -> float:
        """Return how many times faster daal4py answered than XGBoost (above 1: daal4py is faster)."""
        return self.xgboost_us / self.daal4py_us if self.daal4py_us > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "batch": self.batch,
            "daal4py_us": round(self.daal4py_us, 2),
            "xgboost_us": round(self.xgboost_us, 2),
            "speedup": round(self.speedup, 3),
            "calls": self.calls,
        }


def probe_rows(model_json: bytes, n_columns: int, rows: int, seed: int = 0) -> np.ndarray:
    """Return a (rows, n_columns) float32 matrix of values next to the model's split thresholds."""
    thresholds: list[list[float]] = [[] for _ in range(n_columns)]
    trees = json.loads(model_json)["learner"]["gradient_booster"]["model"]["trees"]
    for tree in trees:
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                thresholds[int(tree["split_indices"][node])].append(float(tree["split_conditions"][node]))
    rng = np.random.default_rng(seed)
    x = np.zeros((rows, n_columns), dtype=np.float32)
    for column, values in enumerate(thresholds):
        if values:
            picked = rng.choice(np.asarray(values), size=rows)
            nudge = rng.choice([-1.0, 1.0], size=rows) * np.maximum(np.abs(picked) * 1e-3, 1e-3)
            x[:, column] = picked + nudge
    return x


def compare_engines(
    model_json: bytes,
    task: str,
    n_classes: int,
    n_columns: int,
    threads: int,
    seconds: float = DEFAULT_SECONDS,
    batches: tuple[int, ...] = BATCHES,
) -> list[EngineTiming]:
    """Time daal4py and XGBoost on the same rows for about `seconds` in all; one result per batch size."""
    daal = Daal4pyBackend(model_json, task, n_classes, threads)
    booster = XGBoostBackend(model_json, task, n_classes, threads)
    x_all = probe_rows(model_json, n_columns, max(batches))
    budget = seconds / len(batches)
    results = []
    for batch in batches:
        x = np.ascontiguousarray(x_all[:batch])
        daal.outputs(x), booster.outputs(x)  # first calls build caches and thread pools: not timed
        daal_times: list[float] = []
        xgb_times: list[float] = []
        deadline = time.perf_counter() + budget
        while time.perf_counter() < deadline or not daal_times:
            t = time.perf_counter()
            daal.outputs(x)
            daal_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            booster.outputs(x)
            xgb_times.append(time.perf_counter() - t)
        results.append(
            EngineTiming(
                batch=batch,
                daal4py_us=statistics.median(daal_times) * 1e6,
                xgboost_us=statistics.median(xgb_times) * 1e6,
                calls=len(daal_times),
            )
        )
    return results
