"""Every route through the Flask test client: responses, error statuses and codes, auth, CSV and JSON."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.settings import Settings
from model.errors import UserError
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.conftest import error_code, train_into

KEY = "s3cret-key"
KEY_DIGEST = hashlib.sha256(KEY.encode()).hexdigest()


def error_of(response: Any) -> tuple[int, str]:
    """Return (status, error code), checking the error body's shape."""
    code = error_code(response.request.path, response.get_json())
    assert "Traceback" not in response.get_data(as_text=True)
    return response.status_code, code


def csv_body(records: list[dict[str, Any]]) -> str:
    header = list(records[0])
    lines = [",".join(header)]
    lines += [",".join("" if r[k] is None else str(r[k]) for k in header) for r in records]
    return "\n".join(lines) + "\n"


# ---- /predict ------------------------------------------------------------------------------------


def test_predict_json(client: FlaskClient, record: dict, credit_store: tuple[Path, TrainResult]) -> None:
    response = client.post("/predict", json={"instances": [record, {**record, "loan_grade": "G"}]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == {"name": "credit-risk", "version": credit_store[1].version}
    assert len(body["predictions"]) == 2
    for p in body["predictions"]:
        assert set(p) == {"label", "probability"} and p["label"] in (0, 1)
        assert (p["label"] == 1) == (p["probability"] >= 0.5)
    assert body["predictions"][1]["probability"] > body["predictions"][0]["probability"]


def test_predict_matches_the_predictor(
    client: FlaskClient, record: dict, credit_store: tuple[Path, TrainResult]
) -> None:
    expected = Predictor.load(credit_store[0].as_uri(), "credit-risk").predict([record])
    assert client.post("/predict", json={"instances": [record]}).get_json()["predictions"] == expected


def test_predict_csv_with_header_equals_json(client: FlaskClient, record: dict) -> None:
    records = [record, {**record, "person_emp_length": None, "loan_intent": "VENTURE"}]
    from_csv = client.post("/predict", data=csv_body(records), content_type="text/csv")
    from_json = client.post("/predict", json={"instances": records})
    assert from_csv.status_code == 200
    assert from_csv.get_json()["predictions"] == from_json.get_json()["predictions"]


def test_missing_nullable_fields_become_missing(client: FlaskClient, record: dict) -> None:
    del record["person_emp_length"]
    record["loan_int_rate"] = None
    assert client.post("/predict", json={"instances": [record]}).status_code == 200


def test_field_level_details(client: FlaskClient, record: dict) -> None:
    bad = {**record, "loan_amnt": "abc", "person_age": True}
    response = client.post("/predict", json={"instances": [record, bad]})
    assert error_of(response) == (422, "schema_violation")
    details = response.get_json()["error"]["details"]
    assert {
        "row": 1,
        "field": "loan_amnt",
        "problem": "expected a number, got 'abc'",
        "code": "expected_number",
    } in details
    assert any(d["field"] == "person_age" and d["code"] == "boolean_not_number" for d in details)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"", "application/json", 400, "empty_body"),
        (b'{"instances": [{"person_age": NaN}]}', "application/json", 400, "non_finite_number"),
        (b'{"instances": [{"person_age": Infinity}]}', "application/json", 400, "non_finite_number"),
        (b"[1, 2]", "application/json", 400, "invalid_body_type"),
        (b'"instances"', "application/json", 400, "invalid_body_type"),
        (b"{}", "application/json", 400, "missing_instances"),
        (b'{"instances": {}}', "application/json", 400, "instances_not_array"),
        (b'{"instances": [], "x": 1}', "application/json", 400, "unknown_body_field"),
        (b'{"instances": []}', "application/json", 400, "empty_instances"),
        (b'{"instances": [1]}', "application/json", 422, "schema_violation"),
        (b'{"instances": [{"zodiac": "leo"}]}', "application/json", 422, "schema_violation"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_encoding"),
        (b"a,b\n1", "text/csv", 400, "malformed_csv"),
        (b"person_age\n", "text/csv", 400, "empty_instances"),
        (b"<x/>", "application/xml", 415, "unsupported_media_type"),
        (b"instances", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies(client: FlaskClient, body: bytes, content_type: str, status: int, code: str) -> None:
    assert error_of(client.post("/predict", data=body, content_type=content_type)) == (status, code)


def test_no_content_type_is_415(client: FlaskClient) -> None:
    assert error_of(client.post("/predict", data=b'{"instances": []}')) == (415, "unsupported_media_type")


def test_unknown_features_can_be_ignored(make_app: Callable[..., Flask], record: dict) -> None:
    client = make_app(ignore_unknown_features=True).test_client()
    assert client.post("/predict", json={"instances": [{**record, "zodiac": "leo"}]}).status_code == 200


def test_row_limit(make_app: Callable[..., Flask], record: dict) -> None:
    client = make_app(max_rows=3).test_client()
    assert client.post("/predict", json={"instances": [record] * 3}).status_code == 200
    assert error_of(client.post("/predict", json={"instances": [record] * 4})) == (413, "too_many_rows")
    csv = csv_body([record] * 4)
    assert error_of(client.post("/predict", data=csv, content_type="text/csv")) == (413, "too_many_rows")


def test_body_limit(make_app: Callable[..., Flask], record: dict) -> None:
    client = make_app(max_body_bytes=2000).test_client()
    assert client.post("/predict", json={"instances": [record]}).status_code == 200
    assert error_of(client.post("/predict", json={"instances": [record] * 20})) == (413, "payload_too_large")


# ---- /explain ------------------------------------------------------------------------------------


def test_explain_contributions_sum_to_the_margin(client: FlaskClient, record: dict) -> None:
    records = [record, {**record, "loan_grade": "E", "person_emp_length": None}]
    explained = client.post("/explain", json={"instances": records}).get_json()
    predicted = client.post("/predict", json={"instances": records}).get_json()["predictions"]
    for explanation, prediction in zip(explained["explanations"], predicted, strict=True):
        assert set(explanation["contributions"]) == set(record)  # one-hot columns summed back to features
        total = sum(explanation["contributions"].values()) + explanation["bias"]
        assert total == pytest.approx(explanation["margin"], abs=1e-5)
        p = prediction["probability"]
        assert explanation["margin"] == pytest.approx(math.log(p / (1 - p)), abs=1e-4)


def test_explain_multiclass_via_predictor(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    store, _ = trained["multiclass"]
    predictor = Predictor.load(store.as_uri(), "multiclass")
    rows = [{"x1": 0.5, "x2": 3.0, "color": "red", "size": "L"}]
    explanation = predictor.explain(rows)[0]["classes"]
    assert set(explanation) == {"bronze", "gold", "silver"}
    for per_class in explanation.values():
        total = sum(per_class["contributions"].values()) + per_class["bias"]
        assert total == pytest.approx(per_class["margin"], abs=1e-5)


def test_explain_bad_input(client: FlaskClient) -> None:
    assert error_of(client.post("/explain", json={"instances": []})) == (400, "empty_instances")


# ---- health, metadata, metrics -------------------------------------------------------------------


def test_health_ready_metadata(client: FlaskClient, credit_store: tuple[Path, TrainResult]) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json()["model"]["version"] == credit_store[1].version
    meta = client.get("/metadata").get_json()
    assert meta["task"] == "binary" and meta["backend"] == "daal4py"
    assert [f["name"] for f in meta["schema"]["features"]][:2] == ["person_age", "person_income"]
    assert meta["metrics"]["auc"] > 0.7 and meta["parity"]["max_abs_diff"] <= 1e-5


def test_not_ready_without_a_model(make_app: Callable[..., Flask], record: dict) -> None:
    client = make_app(model_name="absent").test_client()
    assert client.get("/health").status_code == 200
    for response in (
        client.get("/ready"),
        client.get("/ping"),
        client.get("/metadata"),
        client.get("/v2/health/ready"),
        client.post("/predict", json={"instances": [record]}),
    ):
        assert error_of(response) == (503, "model_not_ready")
    assert "absent" in client.get("/ready").get_json()["error"]["message"]


def test_metrics_count_requests_and_rows(client: FlaskClient, record: dict) -> None:
    for _ in range(3):
        client.post("/predict", json={"instances": [record, record]})
    client.post("/predict", json={"instances": []})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'treeport_requests_total{method="POST",route="/predict",status="200"} 3.0' in text
    assert 'treeport_requests_total{method="POST",route="/predict",status="400"} 1.0' in text
    assert 'treeport_rows_predicted_total{route="/predict"} 6.0' in text
    assert 'treeport_model_info{backend="daal4py",name="credit-risk"' in text
    assert "treeport_request_seconds_bucket" in text


def test_request_id_echoed_or_generated(client: FlaskClient) -> None:
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-Id": "bad id\x01"}).headers["X-Request-Id"]
    assert len(generated) == 32 and generated != "bad id\x01"


def test_one_json_log_line_per_request(client: FlaskClient, record: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="treeport.access"):
        client.post("/predict", json={"instances": [record]}, headers={"X-Request-Id": "req-1"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "treeport.access"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "req-1" and lines[0]["status"] == 200 and lines[0]["rows"] == 1


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nope", 404, "not_found"),
        ("get", "/predict", 405, "method_not_allowed"),
        ("post", "/health", 405, "method_not_allowed"),
    ],
)
def test_werkzeug_errors_are_json(client: FlaskClient, method: str, path: str, status: int, code: str) -> None:
    assert error_of(getattr(client, method)(path)) == (status, code)


# ---- auth ----------------------------------------------------------------------------------------


@pytest.fixture
def secured(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(api_keys=(KEY_DIGEST,)).test_client()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"x-api-key": "wrong"}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {KEY}"}, 401),
        ({"x-api-key": KEY}, 200),
        ({"Authorization": f"Bearer {KEY}"}, 200),
    ],
)
def test_api_keys(secured: FlaskClient, record: dict, headers: dict, status: int) -> None:
    response = secured.post("/predict", json={"instances": [record]}, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert error_of(response) == (401, "unauthorized")


@pytest.mark.parametrize("path", ["/health", "/ready", "/ping", "/v2/health/live", "/v2/health/ready"])
def test_probes_stay_open(secured: FlaskClient, path: str) -> None:
    assert secured.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/metadata", "/metrics", "/openapi.json", "/v2/models/credit-risk"])
def test_other_routes_need_a_key(secured: FlaskClient, path: str) -> None:
    assert error_of(secured.get(path)) == (401, "unauthorized")
    assert secured.get(path, headers={"x-api-key": KEY}).status_code == 200


# ---- SageMaker -----------------------------------------------------------------------------------


def encoded_csv(client: FlaskClient, credit_store: tuple[Path, TrainResult], records: list[dict]) -> str:
    predictor = Predictor.load(credit_store[0].as_uri(), "credit-risk")
    x = predictor.encode(records)
    return "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in x) + "\n"


def test_invocations_csv_matches_predict(
    client: FlaskClient, record: dict, credit_store: tuple[Path, TrainResult]
) -> None:
    records = [record, {**record, "person_emp_length": None, "loan_grade": "D"}]
    body = encoded_csv(client, credit_store, records)
    via_invocations = client.post("/invocations", data=body, content_type="text/csv")
    assert via_invocations.status_code == 200
    assert (
        via_invocations.get_json()["predictions"]
        == client.post("/predict", json={"instances": records}).get_json()["predictions"]
    )
    as_csv = client.post("/invocations", data=body, content_type="text/csv", headers={"Accept": "text/csv"})
    assert as_csv.mimetype == "text/csv"
    probabilities = [float(line) for line in as_csv.get_data(as_text=True).splitlines()]
    assert probabilities == [p["probability"] for p in via_invocations.get_json()["predictions"]]


def test_invocations_json_records(client: FlaskClient, record: dict) -> None:
    response = client.post("/invocations", json={"instances": [record]})
    assert response.status_code == 200 and len(response.get_json()["predictions"]) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("1,2,3\n", "text/csv", 422, "wrong_column_count"),
        ("", "text/csv", 400, "empty_instances"),
        ("x" + ",0" * 25 + "\n", "text/csv", 422, "schema_violation"),
        ("inf" + ",0" * 25 + "\n", "text/csv", 422, "non_finite_number"),
        ("1", "application/octet-stream", 415, "unsupported_media_type"),
    ],
)
def test_invocations_errors(client: FlaskClient, body: str, content_type: str, status: int, code: str) -> None:
    assert error_of(client.post("/invocations", data=body, content_type=content_type)) == (status, code)


# ---- Open Inference Protocol V2 ------------------------------------------------------------------


def feature_tensors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tensors = []
    for name, value in records[0].items():
        datatype = "BYTES" if isinstance(value, str) else "FP64"
        tensors.append(
            {"name": name, "shape": [len(records)], "datatype": datatype, "data": [r[name] for r in records]}
        )
    return tensors


def test_v2_metadata_and_health(client: FlaskClient) -> None:
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/models/credit-risk/ready").get_json() == {"name": "credit-risk", "ready": True}
    meta = client.get("/v2/models/credit-risk").get_json()
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["loan_grade"] == "BYTES"


def test_v2_round_trip_per_feature_tensors(client: FlaskClient, record: dict) -> None:
    records = [record, {**record, "loan_grade": "F"}]
    response = client.post("/v2/models/credit-risk/infer", json={"id": "42", "inputs": feature_tensors(records)})
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == "42" and body["model_name"] == "credit-risk"
    outputs = {o["name"]: o for o in body["outputs"]}
    expected = client.post("/predict", json={"instances": records}).get_json()["predictions"]
    assert outputs["predict"]["data"] == [p["label"] for p in expected]
    assert outputs["predict_proba"]["shape"] == [2, 2]
    assert outputs["predict_proba"]["data"][1::2] == pytest.approx([p["probability"] for p in expected], abs=1e-6)


def test_v2_preprocessed_tensor(client: FlaskClient, record: dict, credit_store: tuple[Path, TrainResult]) -> None:
    predictor = Predictor.load(credit_store[0].as_uri(), "credit-risk")
    x = predictor.encode([record])
    tensor = {
        "name": "input-0",
        "shape": list(x.shape),
        "datatype": "FP32",
        "data": [None if np.isnan(v) else float(v) for v in x.ravel()],
    }
    # NaN cannot travel in JSON, so a preprocessed row with a missing value is refused; this one has none.
    assert None not in tensor["data"]
    body = client.post("/v2/models/credit-risk/infer", json={"inputs": [tensor]}).get_json()
    assert body["outputs"][1]["data"][1] == pytest.approx(predictor.predict([record])[0]["probability"], abs=1e-6)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"inputs": []}, 400, "invalid_inputs"),
        ({"inputs": [{"name": "x"}]}, 400, "invalid_inputs"),
        ({"inputs": [{"name": "person_age", "shape": [2], "datatype": "FP32", "data": [1]}]}, 422, "shape_mismatch"),
        ({"inputs": [{"name": "person_age", "shape": [1], "datatype": "FLOAT", "data": [1]}]}, 400, "invalid_inputs"),
        ({"inputs": [{"name": "t", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, 422, "shape_mismatch"),
        ([1], 400, "invalid_body_type"),
    ],
)
def test_v2_errors(client: FlaskClient, payload: Any, status: int, code: str) -> None:
    assert error_of(client.post("/v2/models/credit-risk/infer", json=payload)) == (status, code)


def test_v2_unknown_model(client: FlaskClient) -> None:
    assert error_of(client.get("/v2/models/other")) == (404, "model_not_found")


def test_v2_feature_tensor_validation_reaches_the_schema(client: FlaskClient, record: dict) -> None:
    tensors = feature_tensors([{**record, "loan_amnt": "lots"}])
    assert error_of(client.post("/v2/models/credit-risk/infer", json={"inputs": tensors})) == (422, "schema_violation")


# ---- settings ------------------------------------------------------------------------------------


def test_settings_from_env() -> None:
    env = {
        "TREEPORT_MODEL_STORE": "s3://bucket/models",
        "TREEPORT_MODEL_NAME": "churn",
        "TREEPORT_BACKEND": "xgboost",
        "TREEPORT_API_KEYS": f" {KEY_DIGEST.upper()} , ",
        "TREEPORT_MAX_ROWS": "50",
        "TREEPORT_THREADS": "3",
        "TREEPORT_IGNORE_UNKNOWN_FEATURES": "true",
        "TREEPORT_RELOAD_SECONDS": "2.5",
    }
    s = Settings.from_env(env)
    assert (s.model_store, s.model_name, s.backend, s.api_keys) == (
        "s3://bucket/models",
        "churn",
        "xgboost",
        (KEY_DIGEST,),
    )
    assert (s.max_rows, s.threads, s.ignore_unknown_features, s.reload_seconds) == (50, 3, True, 2.5)
    assert Settings.from_env({}).max_body_bytes == 6 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TREEPORT_MAX_ROWS": "many"}, "TREEPORT_MAX_ROWS must be a number"),
        ({"TREEPORT_MAX_ROWS": "0"}, "TREEPORT_MAX_ROWS must be at least 1"),
        ({"TREEPORT_BACKEND": "onnx"}, "TREEPORT_BACKEND must be one of"),
        ({"TREEPORT_API_KEYS": "plaintext-key"}, "SHA-256 hex digests"),
        ({"TREEPORT_IGNORE_UNKNOWN_FEATURES": "maybe"}, "must be 1/0 or true/false"),
        ({"TREEPORT_RELOAD_SECONDS": "-1"}, "must not be negative"),
        ({"TREEPORT_BACKEND": "sagemaker"}, "needs TREEPORT_SAGEMAKER_ENDPOINT"),
        (
            {"TREEPORT_BACKEND": "sagemaker", "TREEPORT_SAGEMAKER_ENDPOINT": "credit/../../x"},
            "must be a SageMaker endpoint name",
        ),
        ({"TREEPORT_BACKEND": "sagemaker", "TREEPORT_SAGEMAKER_ENDPOINT": "-leading"}, "SageMaker endpoint name"),
        ({"TREEPORT_BACKEND": "sagemaker", "TREEPORT_SAGEMAKER_ENDPOINT": "x" * 64}, "SageMaker endpoint name"),
    ],
)
def test_bad_settings(env: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Settings.from_env(env)


def test_serving_backends_are_the_model_backends_and_sagemaker() -> None:
    from api.settings import SERVING_BACKENDS
    from model.backends import BACKENDS

    assert (*BACKENDS, "sagemaker") == SERVING_BACKENDS


def test_xgboost_backend_serves_the_same_answers(make_app: Callable[..., Flask], record: dict) -> None:
    fast = make_app().test_client().post("/predict", json={"instances": [record]}).get_json()["predictions"][0]
    plain = (
        make_app(backend="xgboost")
        .test_client()
        .post("/predict", json={"instances": [record]})
        .get_json()["predictions"][0]
    )
    assert fast["label"] == plain["label"] and fast["probability"] == pytest.approx(plain["probability"], abs=1e-5)


def test_app_serves_a_pinned_version(tmp_path: Path, mixed_csv: Path, make_app: Callable[..., Flask]) -> None:
    first = train_into(tmp_path, name="m", data=str(mixed_csv), target="approved", seed=1)
    train_into(tmp_path, name="m", data=str(mixed_csv), target="approved", seed=2)
    from api.app import create_app

    app = create_app(Settings(model_store=tmp_path.as_uri(), model_name="m", model_version=first.version))
    assert app.test_client().get("/ready").get_json()["model"]["version"] == first.version
