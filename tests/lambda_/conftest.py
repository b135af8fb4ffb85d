"""Lambda fixtures: AWS-documented events filled in per request, and handlers loaded as Lambda loads them.

The event files in tests/fixtures/events/ follow AWS's documented examples: "Input format of a Lambda
function for proxy integration" (REST API, v1), "Create AWS Lambda proxy integrations for HTTP APIs"
(payload format 2.0, the `$default` stage and a named stage), and "Lambda functions as targets of an
Application Load Balancer" (with and without multi-value headers). `make_event` keeps everything in
them and replaces only the request line, headers, query string and body, in each format's own way.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import importlib.util
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from model.pipeline import TrainResult
from tests.conftest import train_into

ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = ROOT / "lambda" / "handler.py"
EVENTS = ROOT / "tests" / "fixtures" / "events"

# kind -> fixture file
KINDS = {
    "rest-v1": "apigw-rest-v1.json",
    "http-v2": "apigw-http-v2.json",
    "http-v2-stage": "apigw-http-v2-stage.json",
    "alb": "alb.json",
    "alb-multivalue": "alb-multivalue.json",
}
STAGE = "prod"  # the named stage of apigw-http-v2-stage.json

KEY = "lambda-s3cret"
KEY_DIGEST = hashlib.sha256(KEY.encode()).hexdigest()

# Settings the tests set themselves; anything else in the environment would leak into `Settings.from_env()`.
_TREEPORT_VARS = (
    "MODEL_STORE",
    "MODEL_NAME",
    "MODEL_VERSION",
    "BACKEND",
    "SAGEMAKER_ENDPOINT",
    "SAGEMAKER_TIMEOUT_SECONDS",
    "API_KEYS",
    "MAX_ROWS",
    "MAX_BODY_BYTES",
    "THREADS",
    "IGNORE_UNKNOWN_FEATURES",
    "RELOAD_SECONDS",
    "LOAD_MODEL",
)


def make_event(
    kind: str,
    method: str = "POST",
    path: str = "/predict",
    body: bytes | None = None,
    headers: Sequence[tuple[str, str]] = (),
    *,
    base64_body: bool = False,
    query: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Return the `kind` event for one request; `headers` and `query` may repeat names (multi-value)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / KINDS[kind]).read_text()))
    text: str | None
    if body is None:
        text = None
    elif base64_body:
        text = base64.b64encode(body).decode()
    else:
        text = body.decode()
    if kind == "rest-v1":
        _fill_rest(event, method, path, headers, query)
    elif kind.startswith("http-v2"):
        _fill_http(event, method, path, headers, query, stage=STAGE if kind == "http-v2-stage" else None)
    else:
        _fill_alb(event, method, path, headers, query, multi=kind == "alb-multivalue")
    if text is None and kind.startswith("http-v2"):
        event.pop("body", None)  # HTTP APIs leave `body` out when there is none
    else:
        event["body"] = text
    event["isBase64Encoded"] = base64_body
    return event


def _grouped(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _template_headers(event: dict[str, Any], field: str) -> dict[str, Any]:
    """The fixture's own headers, less the body's (the test sets those)."""
    return {k: v for k, v in event[field].items() if k.lower() not in ("content-type", "content-length")}


def _fill_rest(
    event: dict[str, Any],
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
) -> None:
    # REST APIs send both forms; values are decoded; `path` has no stage, requestContext.path does.
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    multi = _template_headers(event, "multiValueHeaders")
    multi.update(_grouped(headers))
    event["multiValueHeaders"] = multi
    event["headers"] = {k: v[-1] for k, v in multi.items()}
    grouped = _grouped(query)
    event["multiValueQueryStringParameters"] = grouped or None
    event["queryStringParameters"] = {k: v[-1] for k, v in grouped.items()} or None


def _fill_http(
    event: dict[str, Any],
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
    stage: str | None,
) -> None:
    # HTTP APIs lowercase header names and join repeats with commas; rawPath carries a named stage.
    raw_path = f"/{stage}{path}" if stage else path
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    event["requestContext"]["http"]["method"] = method
    merged = _template_headers(event, "headers")
    for name, values in _grouped(headers).items():
        merged[name.lower()] = ",".join(values)
    event["headers"] = merged
    event["rawQueryString"] = urlencode(list(query), quote_via=quote)
    grouped = _grouped(query)
    if grouped:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in grouped.items()}
    else:
        event.pop("queryStringParameters", None)


def _fill_alb(
    event: dict[str, Any],
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
    multi: bool,
) -> None:
    # An ALB passes query parameters as the client encoded them, and, unless multi-value headers are
    # enabled on the target group, only the last value of a repeated header or parameter.
    event["httpMethod"] = method
    event["path"] = path
    encoded = [(quote(k, safe=""), quote(v, safe="")) for k, v in query]
    if multi:
        merged = _template_headers(event, "multiValueHeaders")
        for name, values in _grouped(headers).items():
            merged[name.lower()] = values
        event["multiValueHeaders"] = merged
        event["multiValueQueryStringParameters"] = _grouped(encoded)
    else:
        single = _template_headers(event, "headers")
        single.update({name.lower(): value for name, value in headers})
        event["headers"] = single
        event["queryStringParameters"] = {k: v for k, v in encoded}


@dataclass(frozen=True)
class LambdaResponse:
    """A handler's answer, decoded: status, headers (lowercase names, repeats joined) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: dict[str, Any]

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    def error(self) -> tuple[int, str]:
        """Return (status, error code), checking the error body's shape."""
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        assert b"Traceback" not in self.body
        return self.status, body["error"]["code"]


def decode(response: dict[str, Any]) -> LambdaResponse:
    """Decode what a handler returned, in either header form and either body encoding."""
    headers: dict[str, str] = {}
    for name, value in (response.get("headers") or {}).items():
        headers[name.lower()] = value
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(values)
    text = response.get("body") or ""
    body = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
    return LambdaResponse(int(response["statusCode"]), headers, body, response)


def load_handler_module(name: str = "treeport_lambda_handler") -> ModuleType:
    """Execute lambda/handler.py afresh (building its app from the environment, as Lambda's init does)."""
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clear_treeport_env(mp: pytest.MonkeyPatch) -> None:
    """Unset every TREEPORT_* setting the tests rely on."""
    for var in _TREEPORT_VARS:
        mp.delenv(f"TREEPORT_{var}", raising=False)


@pytest.fixture(scope="session")
def credit_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """A file store with the credit-risk model (4,000 synthetic rows) promoted to LATEST."""
    store = tmp_path_factory.mktemp("lambda-store")
    return store, train_into(store, rows=4000)


@pytest.fixture(scope="session")
def handler_module(credit_store: tuple[Path, TrainResult]) -> ModuleType:
    """lambda/handler.py loaded with TREEPORT_MODEL_STORE naming the credit-risk store (no API keys).

    The environment is restored as soon as the module is built (it reads settings once, at init), so the
    variables do not leak into the rest of the session.
    """
    with pytest.MonkeyPatch.context() as mp:
        clear_treeport_env(mp)
        mp.setenv("TREEPORT_MODEL_STORE", credit_store[0].as_uri())
        return load_handler_module()


@pytest.fixture(scope="session")
def secured_module(credit_store: tuple[Path, TrainResult]) -> ModuleType:
    """lambda/handler.py loaded with TREEPORT_API_KEYS set, so every model route needs `KEY`."""
    with pytest.MonkeyPatch.context() as mp:
        clear_treeport_env(mp)
        mp.setenv("TREEPORT_MODEL_STORE", credit_store[0].as_uri())
        mp.setenv("TREEPORT_API_KEYS", KEY_DIGEST)
        return load_handler_module("treeport_lambda_handler_secured")


def botocore_authorization(
    url: str,
    headers: dict[str, str],
    body: bytes,
    amz_date: str,
    *,
    key: str,
    secret: str,
    token: str | None,
    region: str,
    service: str = "sagemaker",
) -> str:
    """Return the Authorization header botocore's SigV4Auth writes for `POST url` with `headers` at `amz_date`."""
    request = AWSRequest(method="POST", url=url, headers=dict(headers), data=body)
    when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    original = botocore_auth.get_current_datetime
    botocore_auth.get_current_datetime = lambda: when  # type: ignore[assignment]
    try:
        botocore_auth.SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    finally:
        botocore_auth.get_current_datetime = original
    return str(request.headers["Authorization"])


_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=[0-9a-f]{64}$"
)


def signature_checks_out(url: str, headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Check a received request's SigV4 signature as AWS does: sign what it says it signed, compare.

    `headers` are the received ones, names lowercased; botocore does the signing.
    """
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        return False
    added_by_signer = ("host", "x-amz-date", "x-amz-security-token")
    signed = {n: headers[n] for n in match["names"].split(";") if n not in added_by_signer}
    expected = botocore_authorization(
        url,
        signed,
        body,
        headers["x-amz-date"],
        key=match["key"],
        secret=secret,
        token=headers.get("x-amz-security-token"),
        region=match["region"],
        service=match["service"],
    )
    return expected == headers["authorization"]
