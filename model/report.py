"""The bundle's `report/`: `metrics.json` plus PNG plots a person can look at.

Binary models get ROC, precision-recall and calibration curves on the test split; every model gets
feature importance by total gain (one-hot columns summed back to their raw feature) and the learning
curve from XGBoost's evaluation history. matplotlib is imported only here, only when a report is
written, and only through its Agg canvas (no pyplot, no global backend switch): serving never loads it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from model.bundle import METRICS_FILE, REPORT_PREFIX, to_json_bytes

if TYPE_CHECKING:
    import xgboost as xgb
    from matplotlib.figure import Figure

    from model.preprocess import Preprocessor

ROC_FILE = f"{REPORT_PREFIX}roc.png"
PR_FILE = f"{REPORT_PREFIX}precision_recall.png"
CALIBRATION_FILE = f"{REPORT_PREFIX}calibration.png"
IMPORTANCE_FILE = f"{REPORT_PREFIX}importance.png"
LEARNING_CURVE_FILE = f"{REPORT_PREFIX}learning_curve.png"
IMPORTANCE_TYPE = "total_gain"
TOP_FEATURES = 20
CALIBRATION_BINS = 10
FIGSIZE = (7.0, 5.0)
DPI = 100


def importance_by_feature(booster: xgb.Booster, preprocessor: Preprocessor) -> dict[str, float]:
    """Return each raw feature's total gain over all splits, its one-hot columns summed, largest first."""
    scores = booster.get_score(importance_type=IMPORTANCE_TYPE)
    names = booster.feature_names
    total: dict[str, float] = {}
    for feature, columns in preprocessor.feature_columns():
        gains = [scores.get(names[c] if names else f"f{c}", 0.0) for c in columns]
        # get_score gives one float per column for tree models (lists only for linear boosters).
        total[feature] = float(sum(g for g in gains if isinstance(g, float)))
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))


def report_files(
    *,
    title: str,
    task: str,
    y_true: np.ndarray,
    scores: np.ndarray,
    metrics: dict[str, float],
    thresholds: dict[str, float],
    curves: dict[str, list[float]],
    rounds_kept: int,
    importance: dict[str, float],
) -> dict[str, bytes]:
    """Return the report's files (bundle path -> bytes): `metrics.json` and the PNG plots for `task`.

    `scores` are the model's test-split outputs in the backends' form (P(positive) for binary).
    """
    plots: dict[str, Callable[[], Figure]] = {}
    if task == "binary" and len(np.unique(y_true)) == 2:
        plots[ROC_FILE] = lambda: _roc(title, y_true, scores, metrics)
        plots[PR_FILE] = lambda: _precision_recall(title, y_true, scores, metrics)
        plots[CALIBRATION_FILE] = lambda: _calibration(title, y_true, scores)
    plots[IMPORTANCE_FILE] = lambda: _importance(title, importance)
    plots[LEARNING_CURVE_FILE] = lambda: _learning_curve(title, curves, rounds_kept)
    files = {name: _png(draw()) for name, draw in plots.items()}
    summary = {
        "metrics": metrics,
        "thresholds": thresholds,
        "learning_curve": curves,
        "feature_importance": {"type": IMPORTANCE_TYPE, "by_feature": importance},
        "plots": sorted(files),
    }
    return {METRICS_FILE: to_json_bytes(summary), **files}


def _figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No timestamp or software metadata: the same model gives the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _roc(title: str, y_true: np.ndarray, scores: np.ndarray, metrics: dict[str, float]) -> Figure:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, scores)
    figure = _figure()
    ax = figure.add_subplot()
    ax.plot(fpr, tpr, color="tab:blue", lw=2, label=f"model (AUC = {metrics['auc']:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(f"ROC curve, test split ({len(y_true):,} rows)\n{title}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return figure


def _precision_recall(title: str, y_true: np.ndarray, scores: np.ndarray, metrics: dict[str, float]) -> Figure:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, scores)
    base_rate = float(np.mean(y_true))
    figure = _figure()
    ax = figure.add_subplot()
    ax.plot(recall, precision, color="tab:blue", lw=2, label=f"model (average precision = {metrics['pr_auc']:.4f})")
    ax.axhline(base_rate, color="grey", ls="--", lw=1, label=f"positive rate ({base_rate:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision")
    ax.set_title(f"Precision-recall curve, test split ({len(y_true):,} rows)\n{title}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return figure


def _calibration(title: str, y_true: np.ndarray, scores: np.ndarray) -> Figure:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y_true, scores, n_bins=CALIBRATION_BINS, strategy="quantile")
    figure = _figure()
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1))
    ax = figure.add_subplot(grid[0])
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    ax.plot(predicted, observed, "o-", color="tab:blue", lw=2, label=f"model ({CALIBRATION_BINS} quantile bins)")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed positive rate")
    ax.set_title(f"Calibration, test split ({len(y_true):,} rows)\n{title}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    hist = figure.add_subplot(grid[1], sharex=ax)
    hist.hist(scores, bins=50, range=(0, 1), color="tab:blue", alpha=0.7)
    hist.set(xlabel="predicted probability", ylabel="rows")
    hist.grid(alpha=0.3)
    return figure


def _importance(title: str, importance: dict[str, float]) -> Figure:
    total = sum(importance.values()) or 1.0
    top = list(importance.items())[:TOP_FEATURES]
    names = [name for name, _ in reversed(top)]
    shares = [100.0 * gain / total for _, gain in reversed(top)]
    figure = _figure()
    ax = figure.add_subplot()
    bars = ax.barh(names, shares, color="tab:blue")
    ax.bar_label(bars, fmt="%.1f%%", padding=3, fontsize=9)
    ax.set_xlim(0, max([*shares, 1.0]) * 1.15)
    ax.set_xlabel("share of total gain (%); one-hot columns summed per feature")
    shown = f"top {TOP_FEATURES} of {len(importance)}" if len(importance) > TOP_FEATURES else "all features"
    ax.set_title(f"Feature importance by gain ({shown})\n{title}", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return figure


def _learning_curve(title: str, curves: dict[str, list[float]], rounds_kept: int) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    styles = {"train": "--", "valid": "-"}
    for name, values in curves.items():
        part = name.split("_", 1)[0]
        ax.plot(range(1, len(values) + 1), values, ls=styles.get(part, ":"), lw=2, label=name)
    ax.axvline(rounds_kept, color="grey", ls=":", lw=1, label=f"kept: {rounds_kept} rounds")
    metrics = sorted({name.split("_", 1)[1] for name in curves if "_" in name})
    ax.set(xlabel="boosting round", ylabel=", ".join(metrics) or "metric")
    ax.set_title(f"Learning curve\n{title}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return figure


def describe(summary: dict[str, Any], top: int = 5) -> list[str]:
    """Return a few human lines about a report's `metrics.json`: its top features by gain."""
    importance = summary.get("feature_importance", {}).get("by_feature", {})
    total = sum(importance.values()) or 1.0
    # metrics.json is written with sorted keys, so the order by gain is restored here.
    ranked = sorted(importance.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [f"{name} {100.0 * gain / total:.1f}%" for name, gain in ranked]
