"""The OpenAPI document: valid OpenAPI 3.1, in step with the app's routes, and fuzzed against the app."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from api.inputs import JSONL_TYPES
from api.openapi import openapi_document
from api.routes.table import OPEN_ENDPOINTS, ROUTES
from api.services import EXTENSION
from model.codes import ERROR_CODES

# Flask answers OPTIONS on every rule and HEAD on every GET rule by itself; they are not operations.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def app_operations(app: Flask) -> dict[str, set[str]]:
    """Return {OpenAPI path: methods} for every rule the app serves (Flask's `static` aside)."""
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        out.setdefault(path, set()).update(m.lower() for m in (rule.methods or set()) - AUTOMATIC_METHODS)
    return out


def documented_operations(document: dict[str, Any]) -> dict[str, set[str]]:
    return {path: {m for m in item if m in HTTP_METHODS} for path, item in document["paths"].items()}


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_document_is_built_once() -> None:
    assert openapi_document() is openapi_document()


def test_served_document_is_the_document_of_the_served_schema(app: Flask) -> None:
    schema = app.extensions[EXTENSION].state.predictor.schema
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == openapi_document(schema)
    validate(openapi_document(schema))


def test_document_without_a_model_is_generic(make_app: Callable[..., Flask]) -> None:
    response = make_app(load_model=False).test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == openapi_document(None)


def test_record_is_derived_from_the_model_schema(app: Flask) -> None:
    """Each feature's type, range, nullability and categories, as the served model's `Schema` says."""
    schema = app.extensions[EXTENSION].state.predictor.schema
    record = openapi_document(schema)["components"]["schemas"]["Record"]
    assert list(record["properties"]) == schema.feature_names
    assert record["additionalProperties"] is False
    assert record["required"] == [f.name for f in schema.features if not f.nullable]
    for feature in schema.features:
        prop = record["properties"][feature.name]
        if feature.type == "numeric":
            assert prop["type"] == (["number", "null"] if feature.nullable else "number")
            if feature.min is not None:
                assert prop["minimum"] == feature.min
            if feature.max is not None:
                assert prop["maximum"] == feature.max
        else:
            assert prop["examples"] == list(feature.categories[:20])


def test_a_record_valid_by_the_document_is_predicted(app: Flask, record: dict[str, Any]) -> None:
    schema = app.extensions[EXTENSION].state.predictor.schema
    document = openapi_document(schema)
    jsonschema.validate(record, {"components": document["components"], **document["components"]["schemas"]["Record"]})
    assert app.test_client().post("/predict", json={"instances": [record]}).status_code == 200


def test_paths_are_the_route_table() -> None:
    document = openapi_document()
    assert {(r.path, r.method.lower()) for r in ROUTES} == {
        (path, method) for path, item in document["paths"].items() for method in item
    }
    for r in ROUTES:
        assert document["paths"][r.path][r.method.lower()]["operationId"] == r.operation_id


def test_error_codes_are_the_code_table() -> None:
    document = openapi_document()
    assert document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"] == list(
        ERROR_CODES
    )
    assert "`too_many_rows`" in document["components"]["responses"]["PayloadTooLarge"]["description"]


def test_every_route_and_method_is_documented(app: Flask) -> None:
    documented = documented_operations(openapi_document())
    for path, methods in app_operations(app).items():
        assert path in documented, f"route {path} is not in the OpenAPI document"
        missing = methods - documented[path]
        assert not missing, f"{path}: methods {sorted(missing)} are not documented"


def test_every_documented_operation_exists(app: Flask) -> None:
    served = app_operations(app)
    for path, methods in documented_operations(openapi_document()).items():
        assert path in served, f"documented path {path} is not a route of the app"
        extra = methods - served[path]
        assert not extra, f"{path}: documented methods {sorted(extra)} are not served"


def test_security_matches_the_open_probes(app: Flask) -> None:
    document = openapi_document()
    schemes = set(document["components"]["securitySchemes"])
    assert schemes == {"ApiKeyHeader", "BearerAuth"}
    assert document["components"]["securitySchemes"]["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    open_paths = {
        re.sub(r"<([^<>]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint in OPEN_ENDPOINTS
    }
    assert open_paths == {
        "/health",
        "/ready",
        "/ping",
        "/execution-parameters",
        "/v2/health/live",
        "/v2/health/ready",
    }
    assert open_paths == {r.path for r in ROUTES if not r.auth}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if path in open_paths:
                assert op["security"] == [], f"{method} {path} must be open"
                assert "401" not in op["responses"]
            else:
                assert {next(iter(s)) for s in op["security"]} == schemes, f"{method} {path} must need a key"
                assert "401" in op["responses"]


def test_error_responses_use_the_error_schema() -> None:
    document = openapi_document()
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            errors = {s for s in op["responses"] if s != "200"}
            assert "405" in errors, f"{method} {path}"
            for status in errors:
                name = op["responses"][status]["$ref"].rsplit("/", 1)[1]
                schema = responses[name]["content"]["application/json"]["schema"]
                expected = "V2Error" if path.startswith("/v2") else "Error"
                assert schema == {"$ref": f"#/components/schemas/{expected}"}, f"{method} {path} {status}"
            if method == "post":
                assert {"400", "413", "415", "422", "503"} <= errors, f"{method} {path}"
            if "{name}" in path:
                assert "404" in errors, f"{method} {path}"


def test_request_bodies() -> None:
    paths = openapi_document()["paths"]
    formats = {"application/json", "text/csv", *JSONL_TYPES, "application/vnd.apache.arrow.stream"}
    for path in ("/predict", "/explain", "/invocations"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert set(content) == formats, path
        assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/JsonRowsRequest"}
    assert paths["/invocations"]["post"]["requestBody"]["content"]["text/csv"]["schema"] == {
        "$ref": "#/components/schemas/CsvMatrix"
    }
    answers = {"application/json", "text/csv", "application/jsonlines", "application/vnd.apache.arrow.stream"}
    for path in ("/predict", "/invocations"):
        assert set(paths[path]["post"]["responses"]["200"]["content"]) == answers, path
        assert "406" in paths[path]["post"]["responses"], path
    assert set(paths["/execution-parameters"]["get"]["responses"]["200"]["content"]) == {"application/json"}
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    record = openapi_document(None)["components"]["schemas"]["Record"]
    assert record["additionalProperties"] == {"$ref": "#/components/schemas/FeatureValue"}
    value = openapi_document()["components"]["schemas"]["FeatureValue"]
    assert set(value["type"]) == {"number", "string", "null"}


def test_responses_match_the_document(app: Flask, record: dict[str, Any]) -> None:
    """Real answers of each route validate against the documented response schemas."""
    client = app.test_client()
    document = openapi_document(app.extensions[EXTENSION].state.predictor.schema)
    registry_root = {"components": document["components"]}

    def check(path: str, method: str, response: Any) -> None:
        op = document["paths"][path][method]
        spec = op["responses"][str(response.status_code)]
        if "$ref" in spec:
            spec = document["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
        schema = spec["content"]["application/json"]["schema"]
        jsonschema.validate(response.get_json(), {**registry_root, **schema})

    body = {"instances": [record]}
    check("/predict", "post", client.post("/predict", json=body))
    check("/explain", "post", client.post("/explain", json=body))
    check("/invocations", "post", client.post("/invocations", json=body))
    check("/predict", "post", client.post("/predict", json={"dataframe_split": {"columns": ["a"], "data": [[1]]}}))
    check("/predict", "post", client.post("/predict", json=body, headers={"Accept": "application/xml"}))
    check("/execution-parameters", "get", client.get("/execution-parameters"))
    check("/predict", "post", client.post("/predict", json={"instances": [{**record, "loan_amnt": "x"}]}))
    check("/v2/models/{name}/infer", "post", client.post("/v2/models/credit-risk/infer", json={"inputs": []}))
    for path in ("/health", "/ready", "/metadata", "/v2", "/v2/health/live", "/v2/health/ready"):
        check(path, "get", client.get(path))
    check("/v2/models/{name}", "get", client.get("/v2/models/credit-risk"))
    check("/v2/models/{name}", "get", client.get("/v2/models/nope"))
    check("/v2/models/{name}/ready", "get", client.get("/v2/models/credit-risk/ready"))
    tensors = [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
        for k, v in record.items()
    ]
    infer = client.post("/v2/models/credit-risk/infer", json={"id": "r1", "inputs": tensors})
    assert infer.status_code == 200
    check("/v2/models/{name}/infer", "post", infer)


# ---- property-based fuzzing driven by /openapi.json -------------------------------------------------

# Examples per fuzz item (25 items: 15 operations x generation modes x model names; operations with nothing
# to vary stop after one). About 1,005 requests; the run takes 20-35 s on an idle machine.
FUZZ_EXAMPLES = 50
FUZZ_CASES = [
    (path, method.upper(), mode, name)
    for path, item in sorted(openapi_document()["paths"].items())
    for method, op in item.items()
    # Negative generation needs something to break: a body or a parameter (not every probe has one).
    for mode in (GenerationMode if "requestBody" in op or "parameters" in op else [GenerationMode.POSITIVE])
    # V2 model routes: random names (the 404 path), and the served model's name so bodies reach the model.
    for name in ([None, "credit-risk"] if "{name}" in path else [None])
    if not (name and mode is GenerationMode.NEGATIVE and "requestBody" not in op)
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "method", "mode", "name"),
    FUZZ_CASES,
    ids=[f"{m} {p} {g.value}{' ' + n if n else ''}" for p, m, g, n in FUZZ_CASES],
)
def test_fuzz_never_a_server_error(
    make_app: Callable[..., Flask], path: str, method: str, mode: GenerationMode, name: str | None
) -> None:
    """Schemathesis generates requests from the served /openapi.json and calls the app in-process (WSGI).

    Valid (positive) and schema-violating (negative) requests alike must never get a 5xx. The schema is
    loaded inside the test, not through `schemathesis.pytest.from_fixture`: schemathesis 4.x's lazy
    fixture loader writes `request.node._nodeid`, which pytest 9 no longer has.
    """
    app = make_app(max_rows=50)
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]
    calls: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters={"name": name} if name else None))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        calls.append(response.status_code)

    fuzz()
    assert calls, "schemathesis generated no requests"
    FUZZ_STATUSES[(path, method, mode.value, name)] = calls


# Statuses of every fuzz request, by case: what `test_fuzz_reaches_the_model` sums up.
FUZZ_STATUSES: dict[tuple[str, str, str, str | None], list[int]] = {}


@pytest.mark.slow
def test_fuzz_reaches_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    """With records described by the served model's schema, valid generated bodies get predictions (a 200).

    Runs after the fuzz cases above (pytest keeps file order) and prints the share of requests answered 200.
    """
    if len(FUZZ_STATUSES) != len(FUZZ_CASES):
        pytest.skip("the fuzz cases did not all run in this session (run the whole file)")
    total = sum(len(v) for v in FUZZ_STATUSES.values())
    ok = sum(v.count(200) for v in FUZZ_STATUSES.values())
    with capsys.disabled():
        print(f"\nfuzz: {ok} of {total} requests answered 200 ({100 * ok / total:.1f}%)")
        for (path, method, mode, name), v in sorted(FUZZ_STATUSES.items(), key=lambda kv: str(kv[0])):
            print(f"  {method} {path} {mode}{' ' + name if name else ''}: {v.count(200)}/{len(v)}")
    for path in ("/predict", "/explain", "/invocations"):
        positive = FUZZ_STATUSES[(path, "POST", GenerationMode.POSITIVE.value, None)]
        assert 200 in positive, f"no generated valid body for {path} reached the model: {sorted(set(positive))}"
