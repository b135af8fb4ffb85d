"""lambda/handler.py: every documented event kind reaches the same Flask app and gets the same answers as HTTP.

The handlers here are built the way Lambda builds them: lambda/handler.py executed with TREEPORT_*
settings in the environment, so the module-level `handler` is what answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request

from api.lambda_adapter import LambdaHandler, adapt, build_handler
from api.settings import Settings
from api.state import ModelState
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.api.conftest import RECORD
from tests.lambda_.conftest import (
    KEY,
    KINDS,
    ROOT,
    STAGE,
    clear_treeport_env,
    decode,
    make_event,
    run_like_lambda,
)

JSON = "application/json"
CSV = "text/csv"
CSV_BODY = (",".join(RECORD) + "\n" + ",".join(str(v) for v in RECORD.values()) + "\n").encode()
GOOD_JSON = json.dumps({"instances": [RECORD, {**RECORD, "loan_grade": "G"}]}).encode()

# (case id, method, path, content type, body, expected status, expected error code or None for 200)
CASES: list[tuple[str, str, str, str | None, bytes | None, int, str | None]] = [
    ("json", "POST", "/predict", JSON, GOOD_JSON, 200, None),
    ("json-utf8-charset", "POST", "/predict", f"{JSON}; charset=utf-8", GOOD_JSON, 200, None),
    ("csv", "POST", "/predict", CSV, CSV_BODY, 200, None),
    ("malformed-json", "POST", "/predict", JSON, b'{"instances": [', 400, "malformed_json"),
    ("empty-body", "POST", "/predict", JSON, None, 400, "empty_body"),
    ("wrong-content-type", "POST", "/predict", "application/xml", b"<instances/>", 415, "unsupported_media_type"),
    (
        "schema-violation",
        "POST",
        "/predict",
        JSON,
        json.dumps({"instances": [{**RECORD, "loan_amnt": "abc"}]}).encode(),
        422,
        "schema_violation",
    ),
    ("no-such-route", "POST", "/nope", JSON, GOOD_JSON, 404, "not_found"),
    ("wrong-method", "GET", "/predict", None, None, 405, "method_not_allowed"),
]


@pytest.fixture(scope="module")
def expected(credit_store: tuple[Path, TrainResult]) -> dict[str, list[dict[str, Any]]]:
    """What the Predictor itself answers for the JSON and the CSV good bodies."""
    predictor = Predictor.load(credit_store[0].as_uri(), "credit-risk")
    return {"json": predictor.predict([RECORD, {**RECORD, "loan_grade": "G"}]), "csv": predictor.predict([RECORD])}


def headers_for(content_type: str | None, body: bytes | None, content_length: bool) -> list[tuple[str, str]]:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    if content_length:
        headers.append(("Content-Length", str(len(body or b""))))
    return headers


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "no-content-length"])
@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize(
    ("case", "method", "path", "content_type", "body", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_event_answers_like_http(
    lambda_handler: LambdaHandler,
    credit_store: tuple[Path, TrainResult],
    expected: dict[str, list[dict[str, Any]]],
    kind: str,
    case: str,
    method: str,
    path: str,
    content_type: str | None,
    body: bytes | None,
    status: int,
    code: str | None,
    base64_body: bool,
    content_length: bool,
) -> None:
    event = make_event(
        kind,
        method,
        path,
        body,
        headers_for(content_type, body, content_length),
        base64_body=base64_body,
        query=[("explain", "no"), ("explain", "still no")],
    )
    response = decode(lambda_handler(event, None))
    assert response.headers["content-type"] == "application/json"
    if code is not None:
        assert response.error() == (status, code)
        return
    assert response.status == 200, response.body
    payload = response.json()
    assert payload["model"] == {"name": "credit-risk", "version": credit_store[1].version}
    assert payload["predictions"] == expected["csv" if case == "csv" else "json"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_response_header_form_follows_the_event(lambda_handler: LambdaHandler, kind: str) -> None:
    """Events that carry `multiValueHeaders` (REST APIs; ALBs with them on) get them back; others `headers`.

    An ALB target group with multi-value headers enabled ignores a `headers` field in the answer.
    """
    event = make_event(kind, "GET", "/health", headers=[("X-Request-Id", "req-42")])
    raw = lambda_handler(event, None)
    response = decode(raw)
    assert response.status == 200 and response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "req-42"
    multi = kind in ("rest-v1", "alb-multivalue")
    assert ("multiValueHeaders" in raw) is multi
    assert ("headers" in raw) is not multi
    assert raw["isBase64Encoded"] is False


@pytest.mark.parametrize("kind", list(KINDS))
def test_binary_body_that_is_not_utf8(lambda_handler: LambdaHandler, kind: str) -> None:
    """Only a base64 body can carry bytes that are not UTF-8; the app must still answer 400, not crash."""
    body = b'{"instances": ["\xff\xfe"]}'
    event = make_event(kind, body=body, headers=[("Content-Type", JSON)], base64_body=True)
    assert decode(lambda_handler(event, None)).error() == (400, "invalid_encoding")


@pytest.mark.parametrize("kind", list(KINDS))
def test_body_over_the_limit(credit_store: tuple[Path, TrainResult], lambda_handler: LambdaHandler, kind: str) -> None:
    handler = build_handler(Settings(model_store=credit_store[0].as_uri(), max_body_bytes=256))
    event = make_event(kind, body=GOOD_JSON, headers=[("Content-Type", JSON)], base64_body=kind == "alb")
    assert decode(handler(event, None)).error() == (413, "payload_too_large")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("key_headers", "status"),
    [
        ([], 401),
        ([("x-api-key", "wrong")], 401),
        ([("x-api-key", KEY)], 200),
        ([("Authorization", f"Bearer {KEY}")], 200),
    ],
    ids=["no-key", "wrong-key", "x-api-key", "bearer"],
)
def test_api_keys(secured_handler: LambdaHandler, kind: str, key_headers: list[tuple[str, str]], status: int) -> None:
    event = make_event(kind, body=GOOD_JSON, headers=[("Content-Type", JSON), *key_headers])
    response = decode(secured_handler(event, None))
    if status == 401:
        assert response.error() == (401, "unauthorized")
    else:
        assert response.status == 200 and len(response.json()["predictions"]) == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_probes_stay_open_with_api_keys(secured_handler: LambdaHandler, kind: str) -> None:
    assert decode(secured_handler(make_event(kind, "GET", "/ready"), None)).status == 200


# ---- what the adapter hands the app ----------------------------------------------------------------


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app that answers with what Werkzeug (hence Flask) sees of the request."""
    request = Request(environ)
    seen = {
        "method": request.method,
        "script_root": request.script_root,
        "path": request.path,
        "args": request.args.to_dict(flat=False),
        "content_type": request.content_type,
        "content_length": request.content_length,
        "body": request.get_data().decode("latin-1"),
        "multi": request.headers.get("X-Multi"),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


QUERY = [("q", "a b&c=d"), ("q", "ü/%"), ("empty", "")]


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "no-content-length"])
@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_adapter_translation(lambda_handler: LambdaHandler, kind: str, base64_body: bool, content_length: bool) -> None:
    """Method, path (stage stripped), query string, repeated headers, body and its length, for each event kind."""
    body = '{"ünïcode": 1}'.encode()
    headers = [("Content-Type", JSON), ("X-Multi", "a"), ("X-Multi", "b")]
    if content_length:
        headers.append(("Content-Length", str(len(body))))
    event = make_event(kind, "PUT", "/v2/models/x/infer", body, headers, base64_body=base64_body, query=QUERY)
    seen = decode(adapt(echo)(event, None)).json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/v2/models/x/infer"
    assert seen["script_root"] == (f"/{STAGE}" if kind == "http-v2-stage" else "")
    # Without multi-value support an ALB passes only the last value of a repeated name.
    single_valued = kind == "alb"
    assert seen["args"] == (
        {"q": ["ü/%"], "empty": [""]} if single_valued else {"q": ["a b&c=d", "ü/%"], "empty": [""]}
    )
    assert seen["multi"] == ("b" if single_valued else "a,b")
    assert seen["content_type"] == JSON
    assert seen["body"].encode("latin-1") == body
    assert seen["content_length"] == len(body)


@pytest.mark.parametrize(
    ("stage", "raw_path", "script_root", "path"),
    [
        ("prod", "/prod/predict", "/prod", "/predict"),
        ("prod", "/prod", "/prod", "/"),
        ("prod", "/production/predict", "", "/production/predict"),  # only a whole segment is the stage
        ("prod", "/predict", "", "/predict"),  # custom domain mapping: rawPath has no stage
        ("$default", "/predict", "", "/predict"),
    ],
)
def test_strip_stage(lambda_handler: LambdaHandler, stage: str, raw_path: str, script_root: str, path: str) -> None:
    event = make_event("http-v2", "GET", raw_path)
    event["requestContext"]["stage"] = stage
    seen = decode(adapt(echo)(event, None)).json()
    assert (seen["script_root"], seen["path"]) == (script_root, path)


def test_rest_api_keeps_its_path_on_a_named_stage(lambda_handler: LambdaHandler) -> None:
    """A REST API's `path` never has the stage (only requestContext.path does), so nothing is stripped."""
    event = make_event("rest-v1", "GET", f"/{STAGE}/x")
    assert event["requestContext"]["stage"] == STAGE
    seen = decode(adapt(echo)(event, None)).json()
    assert (seen["script_root"], seen["path"]) == ("", f"/{STAGE}/x")


# ---- built once, invoked many times ------------------------------------------------------------------


def test_app_and_model_are_built_once(credit_store: tuple[Path, TrainResult], monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    original = ModelState.open_predictor

    def counting(self: ModelState, version: str) -> Any:
        loads.append(version)
        return original(self, version)

    monkeypatch.setattr(ModelState, "open_predictor", counting)
    clear_treeport_env(monkeypatch)
    monkeypatch.setenv("TREEPORT_MODEL_STORE", credit_store[0].as_uri())
    handler = build_handler()  # what lambda/handler.py does at import, in Lambda's init phase
    assert loads == ["LATEST"]
    for kind in KINDS:
        event = make_event(kind, body=GOOD_JSON, headers=[("Content-Type", JSON)])
        assert decode(handler(event, None)).status == 200
    assert loads == ["LATEST"]
    # One app kept its state across invocations: its request counter saw all of them.
    metrics = decode(handler(make_event("http-v2", "GET", "/metrics"), None)).body.decode()
    line = next(m for m in metrics.splitlines() if m.startswith("treeport_requests_total") and '"/predict"' in m)
    assert line.endswith(f" {float(len(KINDS))}")


def test_lambda_runtime_import(credit_store: tuple[Path, TrainResult]) -> None:
    """As the runtime does it: the task root on sys.path, `import handler`, call `handler.handler`."""
    event = make_event("http-v2-stage", body=GOOD_JSON, headers=[("content-type", JSON)])
    done = run_like_lambda(event, {"TREEPORT_MODEL_STORE": credit_store[0].as_uri()})
    response = decode(json.loads(done.stdout.splitlines()[-1]))
    assert response.status == 200 and len(response.json()["predictions"]) == 2


def test_importable_as_lambda_dot_handler(credit_store: tuple[Path, TrainResult]) -> None:
    """`lambda` is a keyword but a fine folder name: `importlib.import_module("lambda.handler")` works."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEPORT_")}
    env["TREEPORT_MODEL_STORE"] = credit_store[0].as_uri()
    script = "import importlib; m = importlib.import_module('lambda.handler'); print(callable(m.handler))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True
    )
    assert done.stdout.strip() == "True"


def test_a_failed_model_load_fails_the_init(tmp_path: Path) -> None:
    """Lambda retries a failed init on the next invocation; an init that "succeeds" unready would 503 for life."""
    event = make_event("http-v2", "GET", "/ready")
    done = run_like_lambda(event, {"TREEPORT_MODEL_STORE": (tmp_path / "empty-store").as_uri()}, check=False)
    assert done.returncode != 0, done.stdout
    assert "ModelNotReady" in done.stderr and "no promoted version of model 'credit-risk'" in done.stderr


@pytest.mark.parametrize("kind", list(KINDS))
def test_arrow_in_and_out_through_the_adapter(lambda_handler: LambdaHandler, kind: str) -> None:
    """An Arrow body arrives base64-encoded (binary) and the Arrow answer leaves base64-encoded, in every event kind;
    a JSON Lines answer is text."""
    import io

    import pyarrow as pa

    table = pa.Table.from_pylist([RECORD, {**RECORD, "loan_grade": "G"}])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    arrow = "application/vnd.apache.arrow.stream"
    want = decode(lambda_handler(make_event(kind, body=GOOD_JSON, headers=[("Content-Type", JSON)]), None))
    event = make_event(
        kind, body=sink.getvalue(), headers=[("Content-Type", arrow), ("Accept", arrow)], base64_body=True
    )
    raw = lambda_handler(event, None)
    assert raw["isBase64Encoded"] is True
    got = pa.ipc.open_stream(decode(raw).body).read_all().to_pylist()
    assert got == json.loads(want.body)["predictions"]
    lines = make_event(kind, body=GOOD_JSON, headers=[("Content-Type", JSON), ("Accept", "application/jsonlines")])
    raw = lambda_handler(lines, None)
    assert raw["isBase64Encoded"] is False
    assert [json.loads(line) for line in decode(raw).body.splitlines()] == json.loads(want.body)["predictions"]
