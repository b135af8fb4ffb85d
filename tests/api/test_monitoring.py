"""Drift monitoring in one app: `GET /monitoring`, the `treeport_drift_*` gauges, a bundle without a baseline, and
`TREEPORT_DRIFT=off` (api/monitoring.py). Counting across gunicorn workers: tests/api/test_gunicorn_drift.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.monitoring import SCORE_FEATURE, drift_directory
from api.openapi import openapi_document
from api.services import EXTENSION
from api.settings import Settings
from model.bundle import BASELINE_FILE, MANIFEST_FILE
from model.data import CREDIT_RISK_TARGET, credit_risk
from model.errors import UserError
from model.pipeline import TrainResult
from tests.conftest import error_code

SHIFTED = ("person_income", "loan_intent", "loan_int_rate")
"""The features `served_rows(shift=True)` moves away from the training data; every other one is left as drawn."""


def served_rows(rows: int, seed: int, shift: bool) -> list[dict[str, Any]]:
    """Return credit-risk records as a client sends them, drawn like the training data; with `shift`, incomes
    tripled, most loans for VENTURE, and half the interest rates missing (a numeric, a categorical and a null rate)."""
    frame = credit_risk(rows, seed=seed).drop(columns=[CREDIT_RISK_TARGET])
    if shift:
        rng = np.random.default_rng(seed)
        frame["person_income"] = frame["person_income"] * 3
        frame.loc[rng.random(rows) < 0.7, "loan_intent"] = "VENTURE"
        frame["loan_int_rate"] = frame["loan_int_rate"].astype(float)
        frame.loc[rng.random(rows) < 0.5, "loan_int_rate"] = np.nan
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in records(frame)]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the frame's rows as plain-Python records (numpy scalars converted, as JSON would carry them)."""
    return json.loads(frame.to_json(orient="records"))


def send(client: FlaskClient, rows: list[dict[str, Any]], batch: int = 50) -> None:
    """POST `rows` to /predict in batches; every answer must be a 200."""
    for start in range(0, len(rows), batch):
        response = client.post("/predict", json={"instances": rows[start : start + batch]})
        assert response.status_code == 200, response.get_json()


def psi_by_feature(report: dict[str, Any]) -> dict[str, float]:
    """Return {feature: PSI} of a /monitoring report."""
    return {f["name"]: f["psi"] for f in report["features"]}


def check_documented(report: dict[str, Any], app: Flask) -> None:
    """The /monitoring answer validates against its OpenAPI component."""
    document = openapi_document(app.extensions[EXTENSION].state.predictor.schema)
    schema = document["components"]["schemas"]["MonitoringResponse"]
    jsonschema.validate(report, {"components": document["components"], **schema})


def drift_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return {(sample name, sorted labels): value} of the treeport_drift_* samples of a Prometheus exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("treeport_drift")
        for s in family.samples
    }


def test_a_fresh_app_reports_no_rows(client: FlaskClient, app: Flask, credit_store: tuple[Path, TrainResult]) -> None:
    report = client.get("/monitoring").get_json()
    assert report["status"] == "no_rows" and report["rows"] == 0 and report["psi_max"] is None
    assert report["model"] == {"name": "credit-risk", "version": credit_store[1].version}
    assert report["scope"] == "process" and report["threshold"] == 0.2
    assert report["window"]["kind"] == "sliding" and report["window"]["seconds"] == 3600
    assert {f["status"] for f in report["features"]} == {"no_rows"}
    check_documented(report, app)


def test_training_data_shows_no_drift(client: FlaskClient, app: Flask) -> None:
    rows = served_rows(1000, seed=31, shift=False)
    send(client, rows)
    report = client.get("/monitoring").get_json()
    check_documented(report, app)
    assert report["rows"] == len(rows) and report["counters"] == 1
    assert report["status"] == "ok" and not report["alarm"] and report["drifting"] == []
    assert max(psi_by_feature(report).values()) < 0.1
    assert report["score"]["psi"] < 0.1


def test_a_shift_raises_the_psi_of_exactly_the_shifted_features(client: FlaskClient, app: Flask) -> None:
    rows = served_rows(1000, seed=32, shift=True)
    send(client, rows, batch=1)  # one row per request, as the hot path sees most traffic
    report = client.get("/monitoring").get_json()
    check_documented(report, app)
    psi = psi_by_feature(report)
    assert report["rows"] == len(rows)
    assert sorted(report["drifting"]) == sorted(SHIFTED), psi
    assert all(psi[f] > 0.2 for f in SHIFTED) and all(v < 0.1 for f, v in psi.items() if f not in SHIFTED), psi
    assert report["status"] == "drifting" and report["alarm"] and report["psi_max"] == max(psi.values())
    rate = next(f for f in report["features"] if f["name"] == "loan_int_rate")
    assert rate["missing"]["actual"] == pytest.approx(0.5, abs=0.05) and rate["missing"]["expected"] < 0.15


def test_every_path_to_the_model_is_counted(client: FlaskClient, record: dict[str, Any]) -> None:
    """/predict (fast path and Flask's CSV), /invocations and the Open Inference Protocol all go through the hook."""
    assert client.post("/predict", json={"instances": [record, record]}).status_code == 200
    csv = ",".join(record) + "\n" + ",".join(str(v) for v in record.values()) + "\n"
    assert client.post("/predict", data=csv, content_type="text/csv").status_code == 200
    assert client.post("/invocations", json={"instances": [record]}).status_code == 200
    tensors = [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
        for k, v in record.items()
    ]
    assert client.post("/v2/models/credit-risk/infer", json={"inputs": tensors}).status_code == 200
    assert client.post("/explain", json={"instances": [record]}).status_code == 200  # not a prediction: not counted
    assert client.get("/monitoring").get_json()["rows"] == 5


def test_gauges_in_metrics(client: FlaskClient, credit_store: tuple[Path, TrainResult]) -> None:
    send(client, served_rows(600, seed=33, shift=True))
    report = client.get("/monitoring").get_json()
    samples = drift_samples(client.get("/metrics").get_data(as_text=True))
    model = (("model", "credit-risk"), ("version", credit_store[1].version))
    for feature in report["features"]:
        labels = tuple(sorted((*model, ("feature", feature["name"]))))
        assert samples[("treeport_drift_psi", labels)] == pytest.approx(feature["psi"])
    score = tuple(sorted((*model, ("feature", SCORE_FEATURE))))
    assert samples[("treeport_drift_psi", score)] == pytest.approx(report["score"]["psi"])
    assert samples[("treeport_drift_psi_max", model)] == pytest.approx(report["psi_max"])
    assert samples[("treeport_drift_rows", model)] == 600
    assert samples[("treeport_drift_alarm", model)] == 1.0
    assert samples[("treeport_drift_threshold", ())] == 0.2


def test_threshold_and_window_settings(make_app: Callable[..., Flask]) -> None:
    client = make_app(drift_threshold=5.0, drift_window_seconds=0).test_client()
    send(client, served_rows(300, seed=34, shift=True))
    report = client.get("/monitoring").get_json()
    assert report["threshold"] == 5.0 and report["window"]["kind"] == "since_start"
    assert report["status"] == "ok" and report["drifting"] == [] and max(psi_by_feature(report).values()) > 0.2


def test_drift_off_counts_nothing(make_app: Callable[..., Flask], record: dict[str, Any]) -> None:
    app = make_app(drift=False)
    client = app.test_client()
    assert app.extensions[EXTENSION].state.predictor.observer is None
    assert client.post("/predict", json={"instances": [record]}).status_code == 200
    report = client.get("/monitoring").get_json()
    assert report["status"] == "off" and "TREEPORT_DRIFT=off" in report["reason"] and "rows" not in report
    check_documented(report, app)
    assert drift_samples(client.get("/metrics").get_data(as_text=True)) == {("treeport_drift_threshold", ()): 0.2}


def without_baseline(store: Path, tmp_path: Path, version: str) -> Path:
    """Return a copy of `store` whose bundle has no baseline (as bundles trained before baselines), still verifying."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    folder = copy / "credit-risk" / version
    (folder / BASELINE_FILE).unlink()
    manifest = json.loads((folder / MANIFEST_FILE).read_bytes())
    del manifest["files"][BASELINE_FILE]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return copy


def test_a_bundle_without_a_baseline_still_serves(
    tmp_path: Path, credit_store: tuple[Path, TrainResult], record: dict[str, Any]
) -> None:
    store = without_baseline(credit_store[0], tmp_path, credit_store[1].version)
    app = create_app(Settings(model_store=store.as_uri()))
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    assert client.post("/predict", json={"instances": [record]}).status_code == 200
    report = client.get("/monitoring").get_json()
    assert report["status"] == "no_baseline" and BASELINE_FILE in report["reason"]
    check_documented(report, app)
    assert ("treeport_drift_rows", (("model", "credit-risk"), ("version", credit_store[1].version))) not in (
        drift_samples(client.get("/metrics").get_data(as_text=True))
    )


def test_an_unusable_baseline_is_reported_and_serving_goes_on(
    tmp_path: Path, credit_store: tuple[Path, TrainResult], record: dict[str, Any]
) -> None:
    """A baseline whose checksum matches but which is not one (written by a bug, or by hand) stops only the counting."""
    store = tmp_path / "store"
    shutil.copytree(credit_store[0], store)
    folder = store / "credit-risk" / credit_store[1].version
    data = b'{"format_version": 1}'
    (folder / BASELINE_FILE).write_bytes(data)
    manifest = json.loads((folder / MANIFEST_FILE).read_bytes())
    manifest["files"][BASELINE_FILE] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    client = create_app(Settings(model_store=store.as_uri())).test_client()
    assert client.post("/predict", json={"instances": [record]}).status_code == 200
    report = client.get("/monitoring").get_json()
    assert report["status"] == "baseline_unusable" and "not a usable baseline" in report["reason"]


def test_a_tampered_baseline_refuses_the_bundle(tmp_path: Path, credit_store: tuple[Path, TrainResult]) -> None:
    """The baseline is checksummed like every other file: a changed byte refuses the bundle (503, not served)."""
    store = tmp_path / "store"
    shutil.copytree(credit_store[0], store)
    path = store / "credit-risk" / credit_store[1].version / BASELINE_FILE
    path.write_bytes(path.read_bytes().replace(b'"rows"', b'"rowz"'))
    app = create_app(Settings(model_store=store.as_uri(), load_retry_max_seconds=60.0))
    try:
        response = app.test_client().get("/monitoring")
        assert response.status_code == 503 and error_code("/monitoring", response.get_json()) == "model_not_ready"
        assert "checksum mismatch" in response.get_json()["error"]["message"]
    finally:
        app.extensions[EXTENSION].state.stop_polling()


def test_monitoring_needs_a_model_and_a_key(make_app: Callable[..., Flask]) -> None:
    client = make_app(load_model=False).test_client()
    response = client.get("/monitoring")
    assert response.status_code == 503 and error_code("/monitoring", response.get_json()) == "model_not_ready"
    key = "k" * 20
    secured = make_app(api_keys=(hashlib.sha256(key.encode()).hexdigest(),)).test_client()
    response = secured.get("/monitoring")
    assert response.status_code == 401 and error_code("/monitoring", response.get_json()) == "unauthorized"
    assert secured.get("/monitoring", headers={"x-api-key": key}).status_code == 200
    assert client.post("/monitoring").status_code == 405


def test_counts_are_shared_through_a_folder(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """Two apps (two workers, as far as the counts go) pointed at one folder report the rows of both."""
    first = make_app(drift_dir=str(tmp_path)).test_client()
    second = make_app(drift_dir=str(tmp_path)).test_client()
    send(first, served_rows(200, seed=35, shift=False))
    send(second, served_rows(100, seed=36, shift=False))
    # A reader flushes its own buffer; the other app's rows arrive with its background flush (at most a second).
    deadline = time.monotonic() + 10
    while first.get("/monitoring").get_json()["rows"] < 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    for client in (first, second):
        report = client.get("/monitoring").get_json()
        assert report["scope"] == "workers" and report["counters"] == 2 and report["rows"] == 300


def test_drift_directory_and_settings() -> None:
    assert drift_directory(Settings(), {}) is None
    assert drift_directory(Settings(), {"PROMETHEUS_MULTIPROC_DIR": "/run/prom"}) == Path("/run/prom/drift")
    assert drift_directory(Settings(drift_dir="/x"), {"PROMETHEUS_MULTIPROC_DIR": "/run/prom"}) == Path("/x")
    env = {"TREEPORT_DRIFT": "off", "TREEPORT_DRIFT_WINDOW_SECONDS": "600", "TREEPORT_DRIFT_THRESHOLD": "0.1"}
    s = Settings.from_env(env)
    assert (s.drift, s.drift_window_seconds, s.drift_threshold) == (False, 600.0, 0.1)
    assert Settings.from_env({"TREEPORT_DRIFT": "on"}).drift is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TREEPORT_DRIFT": "maybe"}, "TREEPORT_DRIFT must be 1/0 or true/false"),
        ({"TREEPORT_DRIFT_WINDOW_SECONDS": "10"}, "DRIFT_WINDOW_SECONDS must be 0"),
        ({"TREEPORT_DRIFT_WINDOW_SECONDS": "-1"}, "DRIFT_WINDOW_SECONDS must be 0"),
        ({"TREEPORT_DRIFT_WINDOW_SECONDS": "x"}, "must be a number"),
        ({"TREEPORT_DRIFT_THRESHOLD": "0"}, "DRIFT_THRESHOLD must be a positive"),
        ({"TREEPORT_DRIFT_THRESHOLD": "inf"}, "DRIFT_THRESHOLD must be a positive"),
    ],
)
def test_bad_drift_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Settings.from_env(env)


def test_a_model_swap_counts_the_new_model_from_zero(
    make_app: Callable[..., Flask],
    tmp_path: Path,
    trained: dict[str, tuple[Path, TrainResult]],
    credit_store: tuple[Path, TrainResult],
) -> None:
    """A reload (here: another model set on the app) counts the new model from zero; with shared counts, the old
    version's rows stay reported beside it until they leave the window."""
    from model.predictor import Predictor

    app = make_app(drift_dir=str(tmp_path))
    client = app.test_client()
    send(client, served_rows(100, seed=37, shift=False))
    store, result = trained["binary"]
    app.extensions[EXTENSION].state.set(Predictor.load(store.as_uri(), "binary"))
    report = client.get("/monitoring").get_json()
    assert report["model"] == {"name": "binary", "version": result.version}
    assert report["status"] == "no_rows" and report["rows"] == 0
    samples = drift_samples(client.get("/metrics").get_data(as_text=True))
    assert samples[("treeport_drift_rows", (("model", "credit-risk"), ("version", credit_store[1].version)))] == 100
    assert samples[("treeport_drift_rows", (("model", "binary"), ("version", result.version)))] == 0


@pytest.mark.parametrize(
    ("task", "score_kind"), [("binary", "score"), ("multiclass", "label"), ("regression", "score")]
)
def test_every_task_is_monitored(trained: dict[str, tuple[Path, TrainResult]], task: str, score_kind: str) -> None:
    """The score is the positive-class probability, the predicted class, or the value, each binned and compared.

    No verdict is asserted here: these models' baselines hold about 120 test rows, whose sampling noise alone comes
    near the threshold (the credit-risk tests above, on 800 baseline rows, assert the verdicts)."""
    from tests.conftest import mixed_frame

    store, _ = trained[task]
    client = create_app(Settings(model_store=store.as_uri(), model_name=task)).test_client()
    frame = mixed_frame(rows=600, seed=8).drop(columns=["approved", "tier", "amount"])
    rows = [{k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for k, v in r.items()}
            for r in records(frame)]  # fmt: skip
    send(client, rows)
    report = client.get("/monitoring").get_json()
    assert report["rows"] == 600 and report["score"]["kind"] == score_kind
    assert sum(b["actual"] for b in report["score"]["bins"]) == pytest.approx(1.0)
    values = [*psi_by_feature(report).values(), report["score"]["psi"]]
    assert report["psi_max"] == max(values) and all(v >= 0 for v in values)
    if score_kind == "label":
        assert [b["label"] for b in report["score"]["bins"]][1:] == ["bronze", "gold", "silver"]
