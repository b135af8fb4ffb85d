"""The training pipeline: wires the plain step functions from data to a published bundle.

load -> schema -> split -> fit preprocessor (train only) -> xgboost.train -> evaluate (test)
-> gate -> convert to daal4py -> parity (test rows) -> drift baseline (test rows) -> report -> publish (LATEST last)

The first half runs on an engine (`model.engines`): `train_local` in this process, or
`model.distributed.train_on_dask` (xgboost.dask on a Dask cluster; imported only when asked for). Both hand a
`Trained` to the second half, `publish_trained`, so every bundle is judged, converted and published the same
way; `publish_trained` is its steps in order: `judge` (evaluate and gate), `check_parity`,
`check_serving_encoding`, `build_baseline`, `build_report`, `build_manifest`, then `bundle.publish`.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from model import bundle as bundle_io
from model.backends import Daal4pyBackend
from model.convert import Parity, convert, converted_outputs, parity
from model.drift import fit_baseline
from model.engines import DEFAULT_NAME, TrainConfig, Trained, class_count, engine
from model.errors import ModelRejected, ValidationError
from model.evaluate import evaluate, gate, thresholds_for
from model.hardware import allowed_cpus, isa_flags
from model.preprocess import Preprocessor
from model.report import importance_by_feature, report_files
from model.store import Store, open_store

# Re-exported: callers build a TrainConfig and get a TrainResult from this module.
__all__ = ["DEFAULT_NAME", "TrainConfig", "TrainResult", "Trained", "publish_trained", "run_training"]


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


def run_training(config: TrainConfig) -> TrainResult:
    """Train, evaluate, gate, convert, check parity and publish; raise `ModelRejected` if gated out.

    The engine (`config.engine`) only decides where the data is read, preprocessed and boosted; what
    it hands back goes through the same gate, conversion, parity checks, report and publish.
    """
    bundle_io.check_name(config.name)
    train = engine(config.engine)
    store = open_store(config.store)
    threads = config.threads or allowed_cpus()
    started = time.perf_counter()
    trained = train(config, threads)
    return publish_trained(config, store, trained, threads, started)


@dataclass(frozen=True)
class Judged:
    """The test-split verdict on a trained model: its metrics and the thresholds they passed."""

    metrics: dict[str, float]
    thresholds: dict[str, float]


def judge(config: TrainConfig, trained: Trained) -> Judged:
    """Evaluate on the test split and apply the gate; raise `ModelRejected` naming every failed threshold."""
    task = trained.schema.target.task
    metrics = evaluate(task, trained.y_test, trained.scores_test)
    thresholds = thresholds_for(task, config.thresholds, defaults=config.default_thresholds)
    failures = gate(metrics, thresholds)
    if failures:
        raise ModelRejected(f"model rejected by the gate: {'; '.join(failures)}")
    return Judged(metrics, thresholds)


def check_parity(trained: Trained, model_bytes: bytes, threads: int, clock: dict[str, float]) -> dict[str, Parity]:
    """Check both daal4py conversions against XGBoost on the parity rows; raise `ModelRejected` if one differs.

    Two conversions are checked: daal4py's own convert_model, and the builder the Predictor uses to serve
    from model.json without importing xgboost (model.onedal); both must match XGBoost.
    """
    task = trained.schema.target.task
    x_parity = np.ascontiguousarray(trained.x_parity)
    reference = trained.reference_parity
    t = time.perf_counter()
    official = convert(trained.booster)
    clock["convert_s"] = time.perf_counter() - t
    served = Daal4pyBackend(model_bytes, task, class_count(trained.schema), threads)
    checks = {
        "convert_model": parity(task, reference, converted_outputs(official, task, x_parity)),
        "served": parity(task, reference, served.outputs(x_parity)),
    }
    for which, check in checks.items():
        if not check.ok:
            raise ModelRejected(
                f"daal4py parity check ({which}) failed on {check.rows} test rows: max |diff| "
                f"{check.max_abs_diff:.3g}, label agreement {check.label_agreement:.4%}"
            )
    return checks


def check_serving_encoding(
    preprocessor: Preprocessor, records: list[dict[str, Any]] | None, x: np.ndarray
) -> dict[str, Any]:
    """Encode the test rows as records, as serving does, and raise `ModelRejected` unless that gives `x` exactly.

    Training encodes a frame; a request's records take another path. Both read values by the same rules, and this
    checks it on the data the model was judged on. Returns the manifest's summary of the check.
    """
    if records is None:
        return {"rows": 0, "checked": False, "reason": "the engine brings no raw test rows back"}
    try:
        served = preprocessor.transform_records(records, ignore_unknown=True)
    except ValidationError as exc:
        raise ModelRejected(f"the serving path refuses a test row that training encoded: {exc.message}") from None
    same = (served == x) | (np.isnan(served) & np.isnan(x)) if served.shape == x.shape else np.zeros((1, 1), bool)
    if not same.all():
        row, col = (int(i) for i in np.argwhere(~same)[0])
        raise ModelRejected(
            f"the serving path encodes test row {row} differently from training "
            f"(column {preprocessor.columns[col]!r}: {served[row, col]!r} against {x[row, col]!r})"
        )
    return {"rows": len(records), "checked": True, "matches": True}


def build_baseline(trained: Trained, clock: dict[str, float]) -> bytes:
    """Return `baseline.json`: the drift baseline of the test rows the model was judged on, and its outputs there.

    The served model's view of what live traffic should look like (model/drift.py): the encoded parity rows (every
    test row locally, a bounded prefix on Dask) and XGBoost's outputs on them, which daal4py matches (parity).
    """
    t = time.perf_counter()
    schema = trained.schema
    baseline = fit_baseline(
        trained.preprocessor,
        np.asarray(trained.x_parity),
        np.asarray(trained.reference_parity),
        schema.target.task,
        list(schema.target.classes),
    )
    clock["baseline_s"] = time.perf_counter() - t
    return bundle_io.to_json_bytes(baseline.to_dict())


def build_report(
    config: TrainConfig, version: str, trained: Trained, judged: Judged, clock: dict[str, float]
) -> dict[str, bytes]:
    """Return the report files (metrics.json and the plots) of the bundle."""
    t = time.perf_counter()
    report = report_files(
        title=f"{config.name} {version}",
        task=trained.schema.target.task,
        y_true=trained.y_test,
        scores=trained.scores_test,
        metrics=judged.metrics,
        thresholds=judged.thresholds,
        curves=trained.curves,
        rounds_kept=trained.booster.num_boosted_rounds(),
        importance=importance_by_feature(trained.booster, trained.preprocessor),
    )
    clock["report_s"] = time.perf_counter() - t
    return report


def build_manifest(
    config: TrainConfig,
    trained: Trained,
    judged: Judged,
    checks: dict[str, Parity],
    threads: int,
    clock: dict[str, float],
) -> dict[str, Any]:
    """Return the manifest of the bundle (the checksums are added by `bundle.publish`)."""
    booster = trained.booster
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": trained.schema.target.task,
        "schema": trained.schema.to_dict(),
        "metrics": judged.metrics,
        "thresholds": judged.thresholds,
        "parity": checks["served"].to_dict(),
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


def publish_trained(config: TrainConfig, store: Store, trained: Trained, threads: int, started: float) -> TrainResult:
    """Judge (evaluate and gate), check parity, write the report and the manifest, and publish the bundle."""
    clock = dict(trained.clock)
    judged = judge(config, trained)
    model_bytes = bytes(trained.booster.save_raw("json"))
    checks = check_parity(trained, model_bytes, threads, clock)
    serving = check_serving_encoding(trained.preprocessor, trained.records_parity, trained.x_parity)
    version = bundle_io.new_version(model_bytes)
    files = {
        bundle_io.MODEL_FILE: model_bytes,
        bundle_io.PREPROCESSOR_FILE: bundle_io.to_json_bytes(trained.preprocessor.to_dict()),
        bundle_io.BASELINE_FILE: build_baseline(trained, clock),
        **build_report(config, version, trained, judged, clock),
    }
    clock["total_s"] = time.perf_counter() - started
    manifest = build_manifest(config, trained, judged, checks, threads, clock)
    manifest["parity_serving_encoding"] = serving
    bundle_io.publish(store, config.name, version, files, manifest)
    return TrainResult(
        name=config.name,
        version=version,
        location=store.location(f"{config.name}/{version}"),
        metrics=judged.metrics,
        parity=checks["served"],
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
