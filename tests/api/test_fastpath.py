"""The `/predict` fast path answers exactly as the Flask route does: same status, headers, body, metrics and log line.

Every request here is sent twice to fresh apps: once as served (the fast path takes what it can), once with the
fast path switched off (`create_app(..., fast_path=False)`, so Flask answers everything). A spy on Flask's
dispatch tells which of them answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask

from api.services import EXTENSION
from model.data import credit_risk
from model.predictor import Predictions

KEY = "fast-path-key"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()


def records(n: int) -> list[dict[str, Any]]:
    frame = credit_risk(n, seed=5).drop(columns=["loan_status"])
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


def send(app: Flask, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    response = app.test_client().post("/predict", data=body, headers={"X-Request-Id": "req-1", **headers})
    return response.status_code, dict(response.headers), response.get_data()


def metrics_of(app: Flask) -> list[str]:
    """The request and row samples (not the latency, which differs run to run)."""
    text = app.extensions[EXTENSION].metrics.exposition().decode()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(
            ("treeport_requests_total", "treeport_rows_predicted_total", "treeport_request_seconds_count")
        )
    )


def both_ways(
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
    **settings: Any,
) -> dict[str, Any]:
    """Send one request to an app as served and to one without the fast path; return what each did."""
    out: dict[str, Any] = {}
    for way in ("served", "flask"):
        with monkeypatch.context() as patch:
            app = make_app(fast_path=way == "served", **settings)
            dispatched: list[str] = []
            full_dispatch = app.full_dispatch_request
            patch.setattr(app, "full_dispatch_request", lambda d=dispatched, f=full_dispatch: d.append("flask") or f())
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="treeport.access"):
                status, response_headers, data = send(app, body, headers)
            [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "treeport.access"]
            line.pop("ms")
            out[way] = {
                "status": status,
                "headers": response_headers,
                "body": data,
                "log": line,
                "metrics": metrics_of(app),
                "by": "flask" if dispatched else "fast path",
            }
    return out


JSON = {"Content-Type": "application/json"}
CASES = {
    "one row": (json.dumps({"instances": records(1)}).encode(), JSON, {}, 200),
    "three rows": (json.dumps({"instances": records(3)}).encode(), JSON, {}, 200),
    "200 rows (the batch encoder)": (json.dumps({"instances": records(200)}).encode(), JSON, {}, 200),
    "charset parameter": (
        json.dumps({"instances": records(1)}).encode(),
        {"Content-Type": "Application/JSON; charset=utf-8"},
        {},
        200,
    ),
    "schema violation (answered by the fast path)": (
        json.dumps({"instances": [{**records(1)[0], "loan_amnt": "lots"}]}).encode(),
        JSON,
        {},
        422,
    ),
    "unknown feature ignored": (
        json.dumps({"instances": [{**records(1)[0], "extra": 1}]}).encode(),
        JSON,
        {"ignore_unknown_features": True},
        200,
    ),
    "valid API key": (
        json.dumps({"instances": records(1)}).encode(),
        {**JSON, "x-api-key": KEY},
        {"api_keys": (DIGEST,)},
        200,
    ),
    "valid bearer token": (
        json.dumps({"instances": records(1)}).encode(),
        {**JSON, "Authorization": f"Bearer {KEY}"},
        {"api_keys": (DIGEST,)},
        200,
    ),
}
# What the fast path hands to Flask: these must come out exactly as Flask alone answers them.
TO_FLASK = {
    "wrong API key": (
        json.dumps({"instances": records(1)}).encode(),
        {**JSON, "x-api-key": "no"},
        {"api_keys": (DIGEST,)},
        401,
    ),
    "no API key": (json.dumps({"instances": records(1)}).encode(), JSON, {"api_keys": (DIGEST,)}, 401),
    "malformed JSON": (b'{"instances": [', JSON, {}, 400),
    "NaN literal (orjson refuses, the json module names it)": (b'{"instances": [{"person_age": NaN}]}', JSON, {}, 400),
    "no instances member": (b'{"rows": []}', JSON, {}, 400),
    "empty instances": (b'{"instances": []}', JSON, {}, 400),
    "too many rows": (json.dumps({"instances": records(3)}).encode(), JSON, {"max_rows": 2}, 413),
    "body over the limit": (json.dumps({"instances": records(3)}).encode(), JSON, {"max_body_bytes": 100}, 413),
    "CSV": (b"person_age\n30\n", {"Content-Type": "text/csv"}, {}, 422),
    "no content type": (b"{}", {}, {}, 415),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_answers_as_flask_does(
    case: str, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers, settings, status = CASES[case]
    out = both_ways(make_app, monkeypatch, caplog, body, headers, **settings)
    assert out["served"]["by"] == "fast path" and out["flask"]["by"] == "flask"
    assert out["served"]["status"] == status
    for key in ("status", "headers", "body", "log", "metrics"):
        assert out["served"][key] == out["flask"][key], key


@pytest.mark.parametrize("case", list(TO_FLASK))
def test_what_the_fast_path_leaves_to_flask(
    case: str, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers, settings, status = TO_FLASK[case]
    out = both_ways(make_app, monkeypatch, caplog, body, headers, **settings)
    assert out["served"]["by"] == "flask"
    assert out["served"]["status"] == status
    for key in ("status", "headers", "body", "log", "metrics"):
        assert out["served"][key] == out["flask"][key], key


def test_no_model_loaded_is_flasks_503(make_app: Callable[..., Flask]) -> None:
    app = make_app(load_model=False)
    response = app.test_client().post("/predict", json={"instances": records(1)})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_not_ready"


def test_an_unexpected_failure_is_an_opaque_500(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug inside the prediction is logged with its traceback and answered as Flask's handler answers it."""
    app = make_app()
    predictor = app.extensions[EXTENSION].state.predictor

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(predictor, "predict_batch", broken)
    with caplog.at_level(logging.ERROR, logger="treeport.api"):
        response = app.test_client().post("/predict", json={"instances": records(1)})
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": []}
    }
    assert "secret internals" not in response.get_data(as_text=True)
    assert any(r.exc_info for r in caplog.records if r.name == "treeport.api")


def test_what_orjson_cannot_write_is_written_as_flask_writes_it(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An integer past 64 bits (orjson refuses it) comes out through the json module, on both paths alike."""
    bodies = {}
    for way in ("served", "flask"):
        with monkeypatch.context() as patch:
            app = make_app(fast_path=way == "served")
            patch.setattr(app.extensions[EXTENSION].state.predictor, "predict_batch", lambda *a, **k: _Unwritable())
            response = app.test_client().post("/predict", json={"instances": records(1)})
            assert response.status_code == 200
            bodies[way] = response.get_data()
    assert bodies["served"] == bodies["flask"]
    assert b'"value":1180591620717411303424' in bodies["served"]


class _Unwritable(Predictions):
    """A result orjson refuses (an integer past 64 bits), and no arrays for the direct writer to take instead."""

    def __init__(self) -> None:
        super().__init__("multiclass", (), np.zeros((1, 0), dtype=np.float32))

    def records(self) -> list[dict[str, Any]]:
        return [{"value": 2**70}]
