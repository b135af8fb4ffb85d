"""Splitting and fitting: seeded (stratified) train/valid/test split, `xgboost.train` with early stopping, progress."""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

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
# Progress: a plain line every PROGRESS_EVERY rounds when not on a terminal; a bar redrawn at most every
# BAR_REDRAW_SECONDS on one.
PROGRESS_EVERY = 50
BAR_REDRAW_SECONDS = 0.1
BAR_WIDTH = 30


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


def boosting_rounds(params: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """Return the parameters without the round settings, the number of rounds and the early-stopping patience."""
    params = dict(params)
    rounds = _whole_number(params.pop("num_boost_round"), "num_boost_round", minimum=1)
    early = _whole_number(params.pop("early_stopping_rounds") or 0, "early_stopping_rounds", minimum=0)
    return params, rounds, early


def keep_best(booster: xgb.Booster, early: int) -> xgb.Booster:
    """Return the booster cut back to its best round when early stopping ran on past it."""
    if early and booster.best_iteration is not None and booster.num_boosted_rounds() > booster.best_iteration + 1:
        return booster[: booster.best_iteration + 1]
    return booster


def history_curves(history: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Return XGBoost's evaluation history flattened to `{part}_{metric}` curves (e.g. `valid_logloss`)."""
    return {f"{part}_{metric}": list(values) for part, metrics in history.items() for metric, values in metrics.items()}


def train_booster(
    params: dict[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    progress: bool = False,
) -> tuple[xgb.Booster, dict[str, list[float]]]:
    """Fit with `xgboost.train`, early-stopping on the validation split; return the booster and its eval history.

    With `progress`, the rounds are reported on stderr as they happen (see `ProgressPrinter`).
    """
    import xgboost as xgb

    params, rounds, early = boosting_rounds(params)
    dtrain = xgb.QuantileDMatrix(x_train, label=y_train)
    dvalid = xgb.DMatrix(x_valid, label=y_valid)
    history: dict[str, dict[str, list[float]]] = {}
    printer = progress_printer(rounds) if progress else None
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=[(dtrain, "train"), (dvalid, "valid")],
            early_stopping_rounds=early or None,
            evals_result=history,
            verbose_eval=False,
            callbacks=[progress_callback(printer)] if printer else None,
        )
    except xgb.core.XGBoostError as exc:
        raise UserError(f"XGBoost rejected the training parameters: {str(exc).splitlines()[0]}") from None
    finally:
        if printer:
            printer.close()
    return keep_best(booster, early), history_curves(history)


class ProgressPrinter:
    """Reports boosting rounds with the latest validation metric.

    On a terminal it redraws one bar line (at most ten times a second); elsewhere (a log, a pipe, a CI job)
    it writes a plain line every `every` rounds, plus the last round if training went past the first line.
    Safe to call from another thread (the Dask engine's event handler runs on the client's loop thread).
    """

    def __init__(self, total: int, stream: TextIO, terminal: bool, every: int = PROGRESS_EVERY) -> None:
        self.total = total
        self.stream = stream
        self.terminal = terminal
        self.every = every
        self._lock = threading.Lock()
        self._round = 0
        self._metric = ""
        self._value = math.nan
        self._printed_round = 0
        self._drawn_at = 0.0
        self._closed = False

    def update(self, round_: int, metric: str, value: float) -> None:
        """Record that `round_` (1-based) finished with validation `metric` = `value`, and show it when due."""
        with self._lock:
            if self._closed or round_ <= self._round:
                return
            self._round, self._metric, self._value = round_, metric, value
            if self.terminal:
                now = time.monotonic()
                if now - self._drawn_at >= BAR_REDRAW_SECONDS or round_ == self.total:
                    self._drawn_at = now
                    self._draw()
            elif round_ % self.every == 0:
                self._line()

    def close(self, last: tuple[int, str, float] | None = None) -> None:
        """Finish the display; `last` is the final (round, metric, value) if the caller knows it for sure."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if last is not None and last[0] >= self._round:
                self._round, self._metric, self._value = last
            if self._round == 0:
                return
            if self.terminal:
                self._draw()
                self.stream.write("\n")
            elif self._round >= self.every and self._printed_round != self._round:
                self._line()
            self.stream.flush()

    def _status(self) -> str:
        early = " (early stop)" if self._closed and self._round < self.total else ""
        return f"{self._round}/{self.total}, valid {self._metric} {self._value:.5f}{early}"

    def _draw(self) -> None:
        done = round(BAR_WIDTH * self._round / self.total)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        self.stream.write(f"\rtraining [{bar}] {self._status()}\x1b[K")
        self.stream.flush()

    def _line(self) -> None:
        self._printed_round = self._round
        self.stream.write(f"training: round {self._status()}\n")
        self.stream.flush()


def progress_printer(total: int) -> ProgressPrinter:
    """Return a printer on stderr, drawing a bar when stdout is a terminal (stdout itself stays for results)."""
    stdout = sys.stdout
    return ProgressPrinter(total, sys.stderr, terminal=bool(stdout is not None and stdout.isatty()))


def last_valid_metric(evals_log: dict[str, dict[str, list[float]]]) -> tuple[str, float] | None:
    """Return the validation set's last metric (the one early stopping watches) and its latest value."""
    metrics = evals_log.get("valid") or {}
    if not metrics:
        return None
    name = list(metrics)[-1]
    values = metrics[name]
    if not values:
        return None
    latest = values[-1]
    # XGBoost keeps (mean, std) pairs in cross-validation; training keeps plain floats.
    return name, float(latest[0] if isinstance(latest, tuple) else latest)


def progress_callback(printer: ProgressPrinter) -> xgb.callback.TrainingCallback:
    """Return an XGBoost callback that feeds `printer` after every round."""
    return _progress_callback_class()(printer)


@functools.cache
def _progress_callback_class() -> Callable[[ProgressPrinter], xgb.callback.TrainingCallback]:
    # Built on first use: importing xgboost at module level would slow every `treeport` command.
    import xgboost as xgb

    class ProgressCallback(xgb.callback.TrainingCallback):
        """Feeds a `ProgressPrinter` after every boosting round."""

        def __init__(self, printer: ProgressPrinter) -> None:
            super().__init__()
            self.printer = printer

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            latest = last_valid_metric(evals_log)
            if latest is not None:
                self.printer.update(epoch + 1, *latest)
            return False

    return ProgressCallback
