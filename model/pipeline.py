"""The training pipeline: wires the plain step functions from data to a published bundle.

load -> schema -> split -> fit preprocessor (train only) -> xgboost.train -> evaluate (test)
-> gate -> convert to daal4py -> parity (test rows) -> publish (LATEST last)
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from model import bundle as bundle_io
from model.backends import Daal4pyBackend, XGBoostBackend
from model.convert import Parity, convert, converted_outputs, parity
from model.data import CREDIT_RISK_TARGET, DEFAULT_ROWS, DEFAULT_SEED, credit_risk, read_table
from model.errors import DataError, ModelRejected
from model.evaluate import evaluate, gate, thresholds_for
from model.hardware import allowed_cpus, isa_flags
from model.preprocess import Preprocessor
from model.schema import Schema, Task, infer_schema, infer_target, load_schema
from model.store import open_store
from model.train import encode_target, split, train_booster, xgb_params

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
    threads: int | None = None
    drop_unlabelled: bool = False


@dataclass
class TrainResult:
    """What a successful run published."""

    name: str
    version: str
    location: str
    metrics: dict[str, float]
    parity: Parity
    notes: list[str]
    seconds: dict[str, float]
    manifest: dict[str, Any]


def load_data(config: TrainConfig) -> tuple[Any, str]:
    """Return the training frame and a description of its source (the synthetic set when no data is given)."""
    if config.data:
        return read_table(config.data), config.data
    return credit_risk(config.rows, config.seed), f"synthetic credit-risk (rows={config.rows}, seed={config.seed})"


def resolve_schema(config: TrainConfig, frame: Any, source: str) -> Schema:
    """Return the schema from `--schema`, or infer it from the data and `--target`."""
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
    return infer_schema(frame, target_name, config.positive_class, config.task, source)


def run_training(config: TrainConfig) -> TrainResult:
    """Train, evaluate, gate, convert, check parity and publish; raise `ModelRejected` if gated out."""
    bundle_io.check_name(config.name)
    store = open_store(config.store)
    threads = config.threads or allowed_cpus()
    clock: dict[str, float] = {}
    started = time.perf_counter()

    frame, source = load_data(config)
    schema = resolve_schema(config, frame, source)
    notes = list(schema.notes)
    if config.drop_unlabelled and schema.target.name in frame.columns:
        labelled = frame[schema.target.name].notna()
        if not labelled.all():
            notes.append(f"dropped {int((~labelled).sum())} row(s) with no {schema.target.name!r} value")
            frame = frame[labelled].reset_index(drop=True)
    y = encode_target(frame, schema.target, source)
    parts = split(y, stratify=schema.target.task != "regression", seed=config.seed, source=source)
    train_frame = frame.iloc[parts.train]
    preprocessor = Preprocessor.fit(train_frame, schema)
    x_all = preprocessor.transform_frame(frame, source)
    clock["prepare_s"] = time.perf_counter() - started

    n_classes = len(schema.target.classes) if schema.target.task == "multiclass" else 2
    params = xgb_params(schema.target.task, n_classes, config.params, config.seed, threads)
    t = time.perf_counter()
    booster, curves = train_booster(params, x_all[parts.train], y[parts.train], x_all[parts.valid], y[parts.valid])
    clock["train_s"] = time.perf_counter() - t

    x_test, y_test = x_all[parts.test], y[parts.test]
    reference = XGBoostBackend.from_booster(booster, schema.target.task, n_classes).outputs(x_test)
    metrics = evaluate(schema.target.task, y_test, reference)
    thresholds = thresholds_for(schema.target.task, config.thresholds)
    failures = gate(metrics, thresholds)
    if failures:
        raise ModelRejected(f"model rejected by the gate: {'; '.join(failures)}")

    model_bytes = bytes(booster.save_raw("json"))
    x_test = np.ascontiguousarray(x_test)
    t = time.perf_counter()
    official = convert(booster)
    clock["convert_s"] = time.perf_counter() - t
    # Two conversions are checked: daal4py's own convert_model, and the builder the Predictor uses
    # to serve from model.json without importing xgboost (model.onedal); both must match XGBoost.
    checks = {
        "convert_model": parity(schema.target.task, reference, converted_outputs(official, schema.target.task, x_test)),
        "served": parity(
            schema.target.task,
            reference,
            Daal4pyBackend(model_bytes, schema.target.task, n_classes, threads).outputs(x_test),
        ),
    }
    for which, check in checks.items():
        if not check.ok:
            raise ModelRejected(
                f"daal4py parity check ({which}) failed on {check.rows} test rows: max |diff| "
                f"{check.max_abs_diff:.3g}, label agreement {check.label_agreement:.4%}"
            )
    check = checks["served"]

    version = bundle_io.new_version(model_bytes)
    report = {"metrics": metrics, "thresholds": thresholds, "learning_curve": curves}
    files = {
        bundle_io.MODEL_FILE: model_bytes,
        bundle_io.PREPROCESSOR_FILE: bundle_io.to_json_bytes(preprocessor.to_dict()),
        bundle_io.METRICS_FILE: bundle_io.to_json_bytes(report),
    }
    clock["total_s"] = time.perf_counter() - started
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": schema.target.task,
        "schema": schema.to_dict(),
        "metrics": metrics,
        "thresholds": thresholds,
        "parity": check.to_dict(),
        "parity_convert_model": checks["convert_model"].to_dict(),
        "params": params,
        "trees": {"rounds": booster.num_boosted_rounds()},
        "columns": preprocessor.n_columns,
        "training": {
            "source": source,
            "rows": len(frame),
            "train_rows": len(parts.train),
            "valid_rows": len(parts.valid),
            "test_rows": len(parts.test),
            "seed": config.seed,
            "seconds": {k: round(v, 3) for k, v in clock.items()},
        },
        "libraries": library_versions(),
        "cpu": {"isa": isa_flags(), "machine": platform.machine(), "threads": threads},
    }
    bundle_io.publish(store, config.name, version, files, manifest)
    return TrainResult(
        name=config.name,
        version=version,
        location=store.location(f"{config.name}/{version}"),
        metrics=metrics,
        parity=check,
        notes=notes,
        seconds=clock,
        manifest=manifest,
    )


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a bundle depends on (all already imported by training)."""
    import sys

    out = {"python": platform.python_version()}
    for module in ("xgboost", "daal4py", "numpy", "pandas", "sklearn"):
        version = getattr(sys.modules.get(module), "__version__", None)
        if version:
            out[module] = str(version)
    for dist in ("scikit-learn-intelex", "treeport"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
