"""Lambda events as AWS documents them, filled in per request (pytest-free: the compose smoke test imports it).

The event files in tests/fixtures/events/ follow AWS's documented examples: "Input format of a Lambda
function for proxy integration" (REST API, v1), "Create AWS Lambda proxy integrations for HTTP APIs"
(payload format 2.0, the `$default` stage and a named stage), and "Lambda functions as targets of an
Application Load Balancer" (with and without multi-value headers). `make_event` keeps everything in
them and replaces only the request line, headers, query string and body, in each format's own way.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

EVENTS = Path(__file__).resolve().parent / "fixtures" / "events"
# kind -> fixture file
KINDS = {
    "rest-v1": "apigw-rest-v1.json",
    "http-v2": "apigw-http-v2.json",
    "http-v2-stage": "apigw-http-v2-stage.json",
    "alb": "alb.json",
    "alb-multivalue": "alb-multivalue.json",
}
STAGE = "prod"  # the named stage of apigw-http-v2-stage.json


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
