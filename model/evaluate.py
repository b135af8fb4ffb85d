"""Test-set metrics and the quality gate (a pure function of metrics and thresholds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.errors import UserError

DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "binary": {"auc": 0.60},
    "multiclass": {"accuracy": 0.0},
    "regression": {"r2": 0.0},
}
# Metrics where lower is better; the gate reads their threshold as a maximum.
LOWER_IS_BETTER = frozenset({"logloss", "brier", "rmse", "mae"})
METRICS = {
    "binary": ("auc", "pr_auc", "logloss", "accuracy", "brier"),
    "multiclass": ("logloss", "accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}


def evaluate(task: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Return the test metrics for `task` given labels and model outputs.

    `scores` is P(positive) for binary, an (n, k) probability matrix for multiclass, values for regression.
    """
    from sklearn import metrics

    if task == "binary":
        labels = (scores >= 0.5).astype(int)
        both = len(np.unique(y_true)) == 2
        return {
            "auc": float(metrics.roc_auc_score(y_true, scores)) if both else float("nan"),
            "pr_auc": float(metrics.average_precision_score(y_true, scores)) if both else float("nan"),
            "logloss": float(metrics.log_loss(y_true, scores, labels=[0, 1])),
            "accuracy": float(metrics.accuracy_score(y_true, labels)),
            "brier": float(metrics.brier_score_loss(y_true, scores)),
        }
    if task == "multiclass":
        k = scores.shape[1]
        labels = scores.argmax(axis=1)
        return {
            "logloss": float(metrics.log_loss(y_true, scores, labels=list(range(k)))),
            "accuracy": float(metrics.accuracy_score(y_true, labels)),
            "macro_f1": float(metrics.f1_score(y_true, labels, average="macro", labels=list(range(k)))),
        }
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, scores))),
        "mae": float(metrics.mean_absolute_error(y_true, scores)),
        "r2": float(metrics.r2_score(y_true, scores)),
    }


def thresholds_for(task: str, overrides: dict[str, float] | None = None, defaults: bool = True) -> dict[str, float]:
    """Return the gate thresholds for `task`: the defaults (unless `defaults` is False) updated with `overrides`
    (names checked)."""
    merged = dict(DEFAULT_THRESHOLDS[task]) if defaults else {}
    for name, value in (overrides or {}).items():
        if name not in METRICS[task]:
            raise UserError(f"unknown gate metric {name!r} for a {task} task (known: {list(METRICS[task])})")
        merged[name] = float(value)
    return merged


def gate(metrics: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    """Return the reasons a model fails its thresholds; empty when it passes."""
    failures = []
    for name, limit in thresholds.items():
        value = metrics.get(name, float("nan"))
        if name in LOWER_IS_BETTER:
            ok = value <= limit
            bound = "<="
        else:
            ok = value >= limit
            bound = ">="
        if not ok:  # NaN fails both comparisons, so an undefined metric never passes
            failures.append(f"{name} = {value:.4f}, required {bound} {limit}")
    return failures


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """Parse `metric=value` strings from the command line."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        try:
            out[name.strip()] = float(raw)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UserError(f"--gate expects METRIC=NUMBER, got {item!r}")
    return out


def summary_of(metrics: dict[str, Any]) -> str:
    """Return metrics as `name=value` pairs for one line of output."""
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
