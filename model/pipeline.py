"""The training pipeline: wires the plain step functions from data to a published bundle.

load -> schema -> split -> fit preprocessor (train only) -> xgboost.train -> evaluate (test)
-> gate -> convert to daal4py -> parity (test rows) -> report -> publish (LATEST last)

The first half runs on an engine: `train_local` in this process, or `model.distributed.train_on_dask`
(xgboost.dask on a Dask cluster; imported only when asked for). Both hand a `Trained` to the second
half, `publish_trained`, so every bundle is judged, converted and published the same way.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from model import bundle as bundle_io
from model.backends import Daal4pyBackend, XGBoostBackend
from model.convert import Parity, convert, converted_outputs, parity
from model.data import CREDIT_RISK_TARGET, DEFAULT_ROWS, DEFAULT_SEED, credit_risk, read_table
from model.errors import DataError, ModelRejected, UserError
from model.evaluate import evaluate, gate, thresholds_for
from model.hardware import allowed_cpus, isa_flags
from model.preprocess import Preprocessor
from model.report import importance_by_feature, report_files
from model.schema import Schema, Task, infer_schema, infer_target, load_schema
from model.store import Store, open_store
from model.train import encode_target, split, train_booster, xgb_params

DEFAULT_NAME = "credit-risk"
ENGINES = ("local", "dask")


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


def run_training(config: TrainConfig) -> TrainResult:
    """Train, evaluate, gate, convert, check parity and publish; raise `ModelRejected` if gated out.

    The engine (`config.engine`) only decides where the data is read, preprocessed and boosted; what
    it hands back goes through the same gate, conversion, parity checks, report and publish.
    """
    bundle_io.check_name(config.name)
    if config.engine not in ENGINES:
        raise UserError(f"unknown training engine {config.engine!r} (expected one of {list(ENGINES)})")
    store = open_store(config.store)
    threads = config.threads or allowed_cpus()
    started = time.perf_counter()
    if config.engine == "dask":
        try:
            from model.distributed import train_on_dask
        except ImportError as exc:
            if exc.name not in ("dask", "distributed") and not str(exc.name).startswith("dask."):
                raise
            raise UserError(
                f"--engine dask needs Dask ({exc.name} is not installed): pip install 'treeport[dask]'"
            ) from None
        trained = train_on_dask(config)
    else:
        trained = train_local(config, threads)
    return publish_trained(config, store, trained, threads, started)


def train_local(config: TrainConfig, threads: int) -> Trained:
    """Read, split, preprocess and boost in this process; return the model and its test-split evidence."""
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

    n_classes = class_count(schema)
    params = xgb_params(schema.target.task, n_classes, config.params, config.seed, threads)
    t = time.perf_counter()
    booster, curves = train_booster(
        params, x_all[parts.train], y[parts.train], x_all[parts.valid], y[parts.valid], progress=config.progress
    )
    clock["train_s"] = time.perf_counter() - t

    x_test = np.ascontiguousarray(x_all[parts.test])
    reference = XGBoostBackend.from_booster(booster, schema.target.task, n_classes).outputs(x_test)
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
        rows={
            "rows": len(frame),
            "train_rows": len(parts.train),
            "valid_rows": len(parts.valid),
            "test_rows": len(parts.test),
        },
        clock=clock,
        engine={"name": "local", "threads": threads},
    )


def class_count(schema: Schema) -> int:
    """Return the number of classes the booster predicts (2 for binary and, by convention, regression)."""
    return len(schema.target.classes) if schema.target.task == "multiclass" else 2


def publish_trained(config: TrainConfig, store: Store, trained: Trained, threads: int, started: float) -> TrainResult:
    """Evaluate on the test split, gate, convert, check parity, write the report and publish the bundle."""
    schema, booster = trained.schema, trained.booster
    task = schema.target.task
    n_classes = class_count(schema)
    clock = dict(trained.clock)
    metrics = evaluate(task, trained.y_test, trained.scores_test)
    thresholds = thresholds_for(task, config.thresholds)
    failures = gate(metrics, thresholds)
    if failures:
        raise ModelRejected(f"model rejected by the gate: {'; '.join(failures)}")

    model_bytes = bytes(booster.save_raw("json"))
    x_parity = np.ascontiguousarray(trained.x_parity)
    reference = trained.reference_parity
    t = time.perf_counter()
    official = convert(booster)
    clock["convert_s"] = time.perf_counter() - t
    # Two conversions are checked: daal4py's own convert_model, and the builder the Predictor uses
    # to serve from model.json without importing xgboost (model.onedal); both must match XGBoost.
    checks = {
        "convert_model": parity(task, reference, converted_outputs(official, task, x_parity)),
        "served": parity(task, reference, Daal4pyBackend(model_bytes, task, n_classes, threads).outputs(x_parity)),
    }
    for which, check in checks.items():
        if not check.ok:
            raise ModelRejected(
                f"daal4py parity check ({which}) failed on {check.rows} test rows: max |diff| "
                f"{check.max_abs_diff:.3g}, label agreement {check.label_agreement:.4%}"
            )
    check = checks["served"]

    version = bundle_io.new_version(model_bytes)
    t = time.perf_counter()
    report = report_files(
        title=f"{config.name} {version}",
        task=task,
        y_true=trained.y_test,
        scores=trained.scores_test,
        metrics=metrics,
        thresholds=thresholds,
        curves=trained.curves,
        rounds_kept=booster.num_boosted_rounds(),
        importance=importance_by_feature(booster, trained.preprocessor),
    )
    clock["report_s"] = time.perf_counter() - t
    files = {
        bundle_io.MODEL_FILE: model_bytes,
        bundle_io.PREPROCESSOR_FILE: bundle_io.to_json_bytes(trained.preprocessor.to_dict()),
        **report,
    }
    clock["total_s"] = time.perf_counter() - started
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "schema": schema.to_dict(),
        "metrics": metrics,
        "thresholds": thresholds,
        "parity": check.to_dict(),
        "parity_convert_model": checks["convert_model"].to_dict(),
        "params": trained.params,
        "trees": {"rounds": booster.num_boosted_rounds()},
        "columns": trained.preprocessor.n_columns,
        "training": {
            "source": trained.source,
            **trained.rows,
            "seed": config.seed,
            "engine": trained.engine,
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
        notes=trained.notes,
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
