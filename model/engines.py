"""Training engines: the types a training run passes around, the steps both engines share, the local engine,
and the registry that names the engines.

An engine runs the first half of the pipeline (read, schema, split, fit the preprocessor on the training rows,
boost) and hands back a `Trained`; `model.pipeline` judges, converts and publishes it, whichever engine made it.
`train_local` (this process) is here; `model.distributed.train_on_dask` (xgboost.dask) is imported only when
asked for, by name, so that neither the local engine nor serving ever loads Dask. Both engines share
`load_data`, `resolve_schema`, `labelled_masks` (`--drop-unlabelled`), `split_labels` and `split_sizes`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.backends import XGBoostBackend
from model.data import CREDIT_RISK_TARGET, DEFAULT_ROWS, DEFAULT_SEED, credit_risk, read_table
from model.errors import DataError, UserError
from model.preprocess import Preprocessor
from model.schema import Schema, Task, infer_schema, infer_target, load_schema
from model.train import Split, encode_target, split, train_booster, xgb_params

DEFAULT_NAME = "credit-risk"


@dataclass
class TrainConfig:
    """Everything `run_training` needs; the CLI and the SageMaker entrypoint fill it."""

    store: str
    name: str = DEFAULT_NAME
    data: str | None = None
    schema_path: str | None = None
    target: str | None = None
    positive_class: str | None = None
    task: Task | None = None
    rows: int = DEFAULT_ROWS
    seed: int = DEFAULT_SEED
    params: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    default_thresholds: bool = True
    """Apply the task's default gate thresholds under `thresholds`; False: `thresholds` alone are the gate."""
    threads: int | None = None
    drop_unlabelled: bool = False
    engine: str = "local"
    """Where to train: "local" (this process) or "dask" (xgboost.dask on a Dask cluster, see model/distributed.py)."""
    scheduler: str | None = None
    """Dask engine: the scheduler address (tcp://host:8786); None starts a LocalCluster on 127.0.0.1."""
    workers: int | None = None
    """Dask engine without a scheduler: the LocalCluster's worker processes (default: the CPUs allowed)."""
    progress: bool = False
    """Report boosting rounds on stderr as they happen (a bar on a terminal, a line every 50 rounds elsewhere)."""


@dataclass
class Trained:
    """What a training engine hands to `publish_trained`: the model, and the test-split evidence to judge it by."""

    schema: Schema
    preprocessor: Preprocessor
    booster: Any
    params: dict[str, Any]
    curves: dict[str, list[float]]
    y_test: np.ndarray
    scores_test: np.ndarray
    """XGBoost's outputs on every test row (P(positive) for binary), in test-row order."""
    x_parity: np.ndarray
    """Encoded test rows for the daal4py parity checks (all of them locally; a bounded prefix on Dask)."""
    reference_parity: np.ndarray
    """XGBoost's outputs on `x_parity`."""
    notes: list[str]
    source: str
    rows: dict[str, int]
    clock: dict[str, float]
    engine: dict[str, Any]
    records_parity: list[dict[str, Any]] | None = None
    """The raw test rows `x_parity` was encoded from, as records a client would send; the serving path must encode
    them to the same matrix (None where the engine brings no raw rows back: Dask)."""


def load_data(config: TrainConfig) -> tuple[Any, str]:
    """Return the training frame and a description of its source (the synthetic set when no data is given)."""
    if config.data:
        return read_table(config.data), config.data
    return credit_risk(config.rows, config.seed), f"synthetic credit-risk (rows={config.rows}, seed={config.seed})"


def resolve_schema(config: TrainConfig, frame: Any, source: str, infer: Callable[..., Schema] = infer_schema) -> Schema:
    """Return the schema from `--schema`, or infer it from the data and `--target`.

    `frame` needs `columns` and `frame[name]` (a pandas Series); `infer` is called as `infer_schema` is
    (the Dask engine passes a table whose data stays on the cluster, and an inference that runs there).
    """
    if config.schema_path:
        schema = load_schema(config.schema_path)
        missing = [n for n in [*schema.feature_names, schema.target.name] if n not in frame.columns]
        if missing:
            raise DataError(f"{source}: column(s) {missing} from {config.schema_path} not found in the data")
        if schema.target.task != "regression" and not schema.target.classes:
            inferred, _ = infer_target(
                frame[schema.target.name],
                schema.target.name,
                str(schema.target.positive_class)
                if schema.target.positive_class is not None
                else config.positive_class,
                schema.target.task,
                source,
                positive_origin=f"positive_class in {config.schema_path}",
            )
            schema = Schema(features=schema.features, target=inferred)
        return schema
    target_name = config.target or (CREDIT_RISK_TARGET if not config.data else None)
    if target_name is None:
        raise DataError(f"{source}: pass --target COLUMN or --schema FILE to say what to predict")
    return infer(frame, target_name, config.positive_class, config.task, source)


def labelled_masks(config: TrainConfig, schema: Schema, labels: list[Any], notes: list[str]) -> list[Any] | None:
    """With `--drop-unlabelled`, return for each piece of the target column the mask of its labelled rows and
    note how many rows are dropped; return None when nothing is to be dropped."""
    if not config.drop_unlabelled:
        return None
    masks = [piece.notna() for piece in labels]
    missing = sum(int((~mask).sum()) for mask in masks)
    if not missing:
        return None
    notes.append(f"dropped {missing} row(s) with no {schema.target.name!r} value")
    return masks


def split_labels(config: TrainConfig, schema: Schema, y: np.ndarray, source: str) -> Split:
    """Return the seeded train/valid/test split of the encoded labels (stratified for classification)."""
    return split(y, stratify=schema.target.task != "regression", seed=config.seed, source=source)


def split_sizes(rows: int, parts: Split) -> dict[str, int]:
    """Return the row counts a manifest records: all rows, and each part's."""
    return {
        "rows": rows,
        "train_rows": len(parts.train),
        "valid_rows": len(parts.valid),
        "test_rows": len(parts.test),
    }


def train_local(config: TrainConfig, threads: int) -> Trained:
    """Read, split, preprocess and boost in this process; return the model and its test-split evidence."""
    clock: dict[str, float] = {}
    started = time.perf_counter()
    frame, source = load_data(config)
    schema = resolve_schema(config, frame, source)
    notes = list(schema.notes)
    if schema.target.name in frame.columns:
        masks = labelled_masks(config, schema, [frame[schema.target.name]], notes)
        if masks is not None:
            frame = frame[masks[0]].reset_index(drop=True)
    y = encode_target(frame, schema.target, source)
    parts = split_labels(config, schema, y, source)
    train_frame = frame.iloc[parts.train]
    preprocessor = Preprocessor.fit(train_frame, schema)
    x_all = preprocessor.transform_frame(frame, source)
    clock["prepare_s"] = time.perf_counter() - started

    n_classes = class_count(schema)
    params = xgb_params(schema.target.task, n_classes, config.params, config.seed, threads)
    t = time.perf_counter()
    booster, curves = train_booster(
        params, x_all[parts.train], y[parts.train], x_all[parts.valid], y[parts.valid], progress=config.progress
    )
    clock["train_s"] = time.perf_counter() - t

    x_test = np.ascontiguousarray(x_all[parts.test])
    reference = XGBoostBackend.from_booster(booster, schema.target.task, n_classes).outputs(x_test)
    test_frame = frame.iloc[parts.test]
    present = [name for name in schema.feature_names if name in test_frame.columns]
    # As a client sends them: pandas' missing markers become null.
    records_parity = test_frame[present].astype(object).where(test_frame[present].notna(), None).to_dict("records")
    return Trained(
        schema=schema,
        preprocessor=preprocessor,
        booster=booster,
        params=params,
        curves=curves,
        y_test=y[parts.test],
        scores_test=reference,
        x_parity=x_test,
        reference_parity=reference,
        notes=notes,
        source=source,
        rows=split_sizes(len(frame), parts),
        clock=clock,
        engine={"name": "local", "threads": threads},
        records_parity=records_parity,
    )


def class_count(schema: Schema) -> int:
    """Return the number of classes the booster predicts (2 for binary and, by convention, regression)."""
    return len(schema.target.classes) if schema.target.task == "multiclass" else 2


Engine = Callable[[TrainConfig, int], Trained]
"""`engine(config, threads)`: read, split, preprocess and boost; return the model and its test-split evidence."""

ENGINES: dict[str, str] = {
    "local": "model.engines:train_local",
    "dask": "model.distributed:train_on_dask",
}
"""Engine name to `module:function`, imported only when that engine is asked for."""

# What an engine needs beyond the base install, named in the error when it is missing.
_EXTRAS = {"dask": ("treeport[dask]", ("dask", "distributed"))}


def engine(name: str) -> Engine:
    """Return the engine called `name` (UserError for an unknown one, or one whose libraries are missing)."""
    if name not in ENGINES:
        raise UserError(f"unknown training engine {name!r} (expected one of {list(ENGINES)})")
    module_name, _, function = ENGINES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra, roots = _EXTRAS.get(name, ("", ()))
        if not extra or str(exc.name).split(".")[0] not in roots:
            raise
        raise UserError(f"--engine {name} needs {exc.name}, which is not installed: pip install '{extra}'") from None
    found: Engine = getattr(module, function)
    return found
