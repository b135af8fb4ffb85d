"""Splitting and fitting: seeded (stratified) train/valid/test split and `xgboost.train` with early stopping."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from model.errors import DataError, UserError
from model.schema import Target, class_value

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

DEFAULT_PARAMS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 6,
    "eta": 0.1,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 1.0,
    "num_boost_round": 500,
    "early_stopping_rounds": 30,
}
OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
EVAL_METRICS = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}


@dataclass(frozen=True)
class Split:
    """Row positions of the train, validation and test parts."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def encode_target(frame: pd.DataFrame, target: Target, source: str = "data") -> np.ndarray:
    """Return the label vector: class indices for classification (positive = 1), floats for regression."""
    import pandas as pd

    if target.name not in frame.columns:
        raise DataError(f"{source}: target column {target.name!r} not found; columns are {list(frame.columns)}")
    series = frame[target.name]
    missing = series.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{source}: target column {target.name!r} has {int(missing.sum())} missing value(s), "
            f"first at row {int(np.argmax(missing))} (pass --drop-unlabelled to train without those rows)"
        )
    if target.task == "regression":
        numbers = pd.to_numeric(series, errors="coerce")
        bad = numbers.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"{source}: target {target.name!r} row {row}: expected a number, got {series.iloc[row]!r}")
        return numbers.to_numpy(dtype=np.float32)
    index = {c: i for i, c in enumerate(target.classes)}
    labels = np.empty(len(series), dtype=np.float32)
    for row, value in enumerate(series.tolist()):
        key = class_value(value)
        if key not in index:
            raise DataError(
                f"{source}: target {target.name!r} row {row}: {value!r} is not one of {list(target.classes)}"
            )
        labels[row] = index[key]
    present = np.unique(labels)
    if len(present) < 2:
        only = target.classes[int(present[0])]
        raise DataError(f"{source}: target column {target.name!r} has a single class {only!r}; a classifier needs two")
    return labels


def split(
    y: np.ndarray,
    stratify: bool,
    seed: int,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    source: str = "data",
) -> Split:
    """Split row positions into train/valid/test, stratified by label for classification."""
    n = len(y)
    if n < 20:
        raise DataError(f"{source}: need at least 20 labelled rows to train, validate and test; got {n}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(n)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for idx in groups:
        idx = rng.permutation(idx)
        n_test = round(len(idx) * test_fraction)
        n_valid = round(len(idx) * valid_fraction)
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_valid])
        parts[0].append(idx[n_test + n_valid :])
    train, valid, test = (np.sort(np.concatenate(p)) for p in parts)
    if min(len(train), len(valid), len(test)) == 0:
        raise DataError(f"{source}: {n} rows are too few for a train/valid/test split")
    return Split(train=train, valid=valid, test=test)


def xgb_params(task: str, n_classes: int, overrides: dict[str, Any], seed: int, threads: int) -> dict[str, Any]:
    """Return the full parameter set: defaults, then the task's objective, then user overrides."""
    params = dict(DEFAULT_PARAMS)
    params.update(objective=OBJECTIVES[task], eval_metric=EVAL_METRICS[task], seed=seed, nthread=threads)
    if task == "multiclass":
        params["num_class"] = n_classes
    unknown_rounds = {k for k in overrides if k in ("n_estimators", "num_round")}
    if unknown_rounds:
        raise UserError(f"use num_boost_round instead of {sorted(unknown_rounds)}")
    params.update(overrides)
    return params


def _whole_number(value: Any, name: str, minimum: int) -> int:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value) or value < minimum:
        raise UserError(f"--param {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def train_booster(
    params: dict[str, Any], x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray
) -> tuple[xgb.Booster, dict[str, list[float]]]:
    """Fit with `xgboost.train`, early-stopping on the validation split; return the booster and its eval history."""
    import xgboost as xgb

    params = dict(params)
    rounds = _whole_number(params.pop("num_boost_round"), "num_boost_round", minimum=1)
    early = _whole_number(params.pop("early_stopping_rounds") or 0, "early_stopping_rounds", minimum=0)
    dtrain = xgb.QuantileDMatrix(x_train, label=y_train)
    dvalid = xgb.DMatrix(x_valid, label=y_valid)
    history: dict[str, dict[str, list[float]]] = {}
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=[(dtrain, "train"), (dvalid, "valid")],
            early_stopping_rounds=early or None,
            evals_result=history,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as exc:
        raise UserError(f"XGBoost rejected the training parameters: {str(exc).splitlines()[0]}") from None
    if early and booster.best_iteration is not None and booster.num_boosted_rounds() > booster.best_iteration + 1:
        booster = booster[: booster.best_iteration + 1]
    curves = {f"{part}_{metric}": values for part, metrics in history.items() for metric, values in metrics.items()}
    return booster, curves
