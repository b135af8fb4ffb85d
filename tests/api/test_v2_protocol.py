"""The Open Inference Protocol (KServe V2 REST) where it goes beyond the basics the route tests cover.

Checked against KServe's "Open Inference Protocol (V2 Inference Protocol)" REST spec: `GET /v2` answers the
server metadata object (`name`, `version`, `extensions`); every error on a `/v2` route is the protocol's error
object, `{"error": "<message>"}` (Treeport adds its stable `code` and the row/field `details` beside it);
an inference request's `outputs` names the output tensors to return; `parameters` objects are read.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api.routes.table import ROUTES
from tests.api.conftest import RECORD

INFER = "/v2/models/credit-risk/infer"


def tensors(record: dict[str, Any] = RECORD) -> list[dict[str, Any]]:
    """One V2 tensor per feature of `record`."""
    return [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
        for k, v in record.items()
    ]


def oip_error(response: Any) -> tuple[int, str]:
    """Return (status, code) of an OIP error body, checking its shape: `error` is the message string."""
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    assert set(body) == {"error", "code", "details"}, body
    return response.status_code, body["code"]


def test_server_metadata(client: FlaskClient) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"name", "version", "extensions"}
    assert body["name"] == "treeport" and isinstance(body["version"], str) and body["version"]
    assert isinstance(body["extensions"], list)


def test_server_metadata_is_in_the_route_table() -> None:
    assert any(r.rule == "/v2" and r.method == "GET" for r in ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v2/models/other", None, 404, "model_not_found"),
        ("GET", "/v2/models/other/ready", None, 404, "model_not_found"),
        ("POST", INFER, {"inputs": []}, 400, "invalid_inputs"),
        ("POST", INFER, [1], 400, "invalid_body_type"),
        ("POST", INFER, {"inputs": tensors({**RECORD, "loan_amnt": "lots"})}, 422, "schema_violation"),
        ("GET", INFER, None, 405, "method_not_allowed"),
        ("GET", "/v2/nothing-here", None, 404, "not_found"),
        ("POST", INFER, {"inputs": tensors(), "outputs": [{"name": "nope"}]}, 400, "unknown_output"),
        ("POST", INFER, {"inputs": tensors(), "outputs": "predict"}, 400, "invalid_outputs"),
        (
            "POST",
            INFER,
            {"inputs": tensors(), "outputs": [{"name": "predict"}, {"name": "predict"}]},
            400,
            "invalid_outputs",
        ),
        ("POST", INFER, {"inputs": tensors(), "parameters": []}, 400, "invalid_parameters"),
        (
            "POST",
            INFER,
            {"inputs": tensors(), "outputs": [{"name": "predict", "parameters": 3}]},
            400,
            "invalid_parameters",
        ),
        ("POST", INFER, {"inputs": [{**tensors()[0], "parameters": "x"}, *tensors()[1:]]}, 400, "invalid_parameters"),
        (
            "POST",
            INFER,
            {"inputs": tensors(), "parameters": {"binary_data_output": True}},
            400,
            "unsupported_parameter",
        ),
        (
            "POST",
            INFER,
            {"inputs": tensors(), "outputs": [{"name": "predict", "parameters": {"binary_data": True}}]},
            400,
            "unsupported_parameter",
        ),
    ],
)
def test_v2_errors_have_the_oip_shape(
    client: FlaskClient, method: str, path: str, body: Any, status: int, code: str
) -> None:
    response = client.open(path, method=method, json=body)
    assert oip_error(response) == (status, code)


def test_v2_error_keeps_the_row_details(client: FlaskClient) -> None:
    body = client.post(INFER, json={"inputs": tensors({**RECORD, "loan_amnt": "lots"})}).get_json()
    assert body["details"] and body["details"][0]["field"] == "loan_amnt"


def test_non_v2_errors_keep_the_treeport_shape(client: FlaskClient) -> None:
    body = client.post("/predict", json={"instances": []}).get_json()
    assert set(body["error"]) == {"code", "message", "details"}


def test_v2_unauthorized_has_the_oip_shape(make_app: Any) -> None:
    import hashlib

    app = make_app(api_keys=(hashlib.sha256(b"k").hexdigest(),))
    assert oip_error(app.test_client().get("/v2/models/credit-risk")) == (401, "unauthorized")
    assert app.test_client().get("/v2/health/live").status_code == 200


@pytest.mark.parametrize(
    ("requested", "names"),
    [
        (None, ["predict", "predict_proba"]),
        ([{"name": "predict_proba"}], ["predict_proba"]),
        ([{"name": "predict"}], ["predict"]),
        ([{"name": "predict_proba"}, {"name": "predict"}], ["predict_proba", "predict"]),
    ],
)
def test_requested_outputs_are_the_outputs(client: FlaskClient, requested: Any, names: list[str]) -> None:
    payload: dict[str, Any] = {"inputs": tensors()}
    if requested is not None:
        payload["outputs"] = requested
    response = client.post(INFER, json=payload)
    assert response.status_code == 200, response.get_json()
    full = client.post(INFER, json={"inputs": tensors()}).get_json()["outputs"]
    by_name = {o["name"]: o for o in full}
    assert response.get_json()["outputs"] == [by_name[n] for n in names]


def test_parameters_that_change_nothing_are_accepted(client: FlaskClient) -> None:
    """`parameters` that change nothing here (MLServer's `content_type`, custom keys) are accepted."""
    payload = {
        "id": "p1",
        "parameters": {"content_type": "pd", "trace": "abc"},
        "inputs": [
            {**t, "parameters": {"content_type": "str" if t["datatype"] == "BYTES" else "np"}} for t in tensors()
        ],
        "outputs": [{"name": "predict", "parameters": {"content_type": "np"}}],
    }
    response = client.post(INFER, json=payload)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == "p1"
    assert [o["name"] for o in body["outputs"]] == ["predict"]
