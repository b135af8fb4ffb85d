"""A corpus of hostile requests: each must get its specific 4xx and error code, as JSON, never a traceback.

Every case names the route, the body and headers as sent on the wire, the settings of the app it is sent
to, and the status and `error.code` expected. Cases that once produced a 500 (or a silent 200) say so.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from api.services import EXTENSION
from tests.api.conftest import RECORD
from tests.conftest import error_code

JSON = "application/json"
CSV = "text/csv"
KEY = "the-right-key"
KEY_DIGEST = hashlib.sha256(KEY.encode()).hexdigest()
SECURED = {"api_keys": (KEY_DIGEST,)}
INFER = "/v2/models/credit-risk/infer"

# A body is bytes, or a function of the model's preprocessed width (for `[N, F]` tensors and /invocations CSV).
Body = bytes | Callable[[int], bytes] | None


@dataclass(frozen=True)
class Hostile:
    path: str
    body: Body
    status: int
    code: str
    method: str = "POST"
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    environ: dict[str, Any] = field(default_factory=dict)
    chunked: bool = False


def case(case_id: str, path: str, body: Body, status: int, code: str, **kw: Any) -> Any:
    return pytest.param(Hostile(path, body, status, code, **kw), id=case_id)


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def instances(*rows: Any) -> bytes:
    return js({"instances": list(rows)})


def row(**changes: Any) -> dict[str, Any]:
    return {**RECORD, **changes}


def raw_row(field_name: str, literal: str) -> bytes:
    """An `instances` body whose one field is the raw JSON text `literal` (json.dumps cannot write these)."""
    text = json.dumps({"instances": [row(**{field_name: 0})]})
    return text.replace(f'"{field_name}": 0', f'"{field_name}": {literal}').encode()


def tensors(**overrides: Any) -> list[dict[str, Any]]:
    """One V2 tensor per feature of RECORD, with per-feature overrides of whole tensors."""
    out = []
    for name, value in RECORD.items():
        tensor = {"name": name, "shape": [1], "datatype": "BYTES" if isinstance(value, str) else "FP64"}
        tensor["data"] = [value]
        out.append({**tensor, **overrides.get(name, {})})
    return out


def infer(*inputs: Any, **extra: Any) -> bytes:
    return js({"inputs": list(inputs), **extra})


def matrix_tensor(value: Any, rows: int = 1) -> Callable[[int], bytes]:
    """A preprocessed `[rows, F]` FP32 tensor whose every cell is `value` (raw JSON text when a str)."""

    def build(width: int) -> bytes:
        cells = ",".join([value if isinstance(value, str) else json.dumps(value)] * (rows * width))
        return f'{{"inputs":[{{"name":"x","shape":[{rows},{width}],"datatype":"FP32","data":[{cells}]}}]}}'.encode()

    return build


def csv_rows(cell: str, rows: int = 1, extra: int = 0) -> Callable[[int], bytes]:
    """Headerless /invocations CSV: `rows` lines of width (+ `extra`) cells, the first cell being `cell`."""

    def build(width: int) -> bytes:
        line = ",".join([cell] + ["1"] * (width - 1 + extra))
        return ("\n".join([line] * rows) + "\n").encode()

    return build


HEADER = ",".join(RECORD)
CSV_ROW = ",".join(str(v) for v in RECORD.values())
DEEP = 100_000

CASES = [
    # ---- JSON syntax --------------------------------------------------------------------------------
    case("json-unclosed-brace", "/predict", b'{"instances": [', 400, "malformed_json"),
    case("json-truncated", "/predict", instances(RECORD)[:40], 400, "malformed_json"),
    case("json-trailing-garbage", "/predict", instances(RECORD) + b" }{", 400, "malformed_json"),
    case("json-single-quotes", "/predict", b"{'instances': []}", 400, "malformed_json"),
    case("json-trailing-comma", "/predict", b'{"instances": [{"person_age": 30},]}', 400, "malformed_json"),
    case("json-comment", "/predict", b'{"instances": [] /* rows */}', 400, "malformed_json"),
    case("json-bare-word", "/predict", b"instances", 400, "malformed_json"),
    case("json-control-char-in-string", "/predict", b'{"instances": [{"loan_grade": "B\x01"}]}', 400, "malformed_json"),
    case("json-NaN-literal", "/predict", raw_row("person_age", "NaN"), 400, "non_finite_number"),
    case("json-Infinity-literal", "/predict", raw_row("loan_amnt", "Infinity"), 400, "non_finite_number"),
    case("json-minus-Infinity-literal", "/predict", raw_row("loan_amnt", "-Infinity"), 400, "non_finite_number"),
    case("json-100k-open-brackets", "/predict", b"[" * DEEP, 400, "malformed_json"),
    case(
        "json-100k-nested-arrays-in-instances",
        "/predict",
        b'{"instances": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        400,
        "malformed_json",
    ),
    case("json-100k-nested-objects", "/predict", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, "malformed_json"),
    # ---- JSON values the schema refuses (422 with per-field details) --------------------------------
    case("number-1e400-is-inf", "/predict", raw_row("person_income", "1e400"), 422, "schema_violation"),
    case("number-minus-1e400", "/predict", raw_row("person_income", "-1e400"), 422, "schema_violation"),
    # Was a 500: float() of an int beyond float64 raised OverflowError in the preprocessor.
    case("integer-400-digits", "/predict", raw_row("person_income", "1" + "0" * 400), 422, "schema_violation"),
    # Was a 500: Python refuses to parse integers of over 4300 digits (ValueError out of json.loads).
    case("integer-5000-digits", "/predict", raw_row("loan_amnt", "9" * 5000), 422, "schema_violation"),
    # Was a 500 under warnings-as-errors (and a silent inf otherwise): finite in float64, inf in float32.
    case("number-beyond-float32", "/predict", instances(row(person_income=1e39)), 422, "schema_violation"),
    case("text-for-number", "/predict", instances(row(person_age="30 years")), 422, "schema_violation"),
    case("boolean-for-number", "/predict", instances(row(loan_amnt=True)), 422, "schema_violation"),
    case("object-in-field", "/predict", instances(row(person_income={"$gt": 0})), 422, "schema_violation"),
    case("array-in-field", "/predict", instances(row(loan_grade=["A", "B"])), 422, "schema_violation"),
    case("unknown-feature-10k-char-name", "/predict", instances(row(**{"Z" * 10_000: 1})), 422, "schema_violation"),
    case("unknown-feature", "/predict", instances(row(__proto__=1)), 422, "schema_violation"),
    case("lone-surrogate-key", "/predict", instances(RECORD)[:-3] + b', "\\ud800": 1}]}', 422, "schema_violation"),
    case("rows-not-objects", "/predict", instances(1, "a", None, [1]), 422, "schema_violation"),
    # ---- JSON envelope --------------------------------------------------------------------------------
    case("null-body", "/predict", b"null", 400, "invalid_body_type"),
    case("empty-body", "/predict", b"", 400, "empty_body"),
    case("whitespace-body", "/predict", b" \r\n\t ", 400, "empty_body"),
    case("array-at-top-level", "/predict", js([RECORD]), 400, "invalid_body_type"),
    case("string-at-top-level", "/predict", js("instances"), 400, "invalid_body_type"),
    case("number-at-top-level", "/predict", b"42", 400, "invalid_body_type"),
    case("boolean-at-top-level", "/predict", b"true", 400, "invalid_body_type"),
    case("instances-object", "/predict", js({"instances": RECORD}), 400, "instances_not_array"),
    case("instances-string", "/predict", js({"instances": "[]"}), 400, "instances_not_array"),
    case("instances-number", "/predict", js({"instances": 1}), 400, "instances_not_array"),
    case("instances-null", "/predict", js({"instances": None}), 400, "instances_not_array"),
    case("instances-empty", "/predict", js({"instances": []}), 400, "empty_instances"),
    case("instances-missing", "/predict", js({"rows": [RECORD]}), 400, "missing_instances"),
    case("extra-top-level-field", "/predict", js({"instances": [RECORD], "debug": True}), 400, "unknown_body_field"),
    case("duplicate-instances-key", "/predict", b'{"instances": [], "instances": 5}', 400, "instances_not_array"),
    # ---- limits -----------------------------------------------------------------------------------------
    case("rows-over-max-rows", "/predict", instances(*[RECORD] * 6), 413, "too_many_rows", settings={"max_rows": 5}),
    case(
        "body-over-max-bytes",
        "/predict",
        instances(*[RECORD] * 10),
        413,
        "payload_too_large",
        settings={"max_body_bytes": 1000},
    ),
    case(
        "content-length-claims-over-max",
        "/predict",
        b"{}",
        413,
        "payload_too_large",
        settings={"max_body_bytes": 1000},
        environ={"CONTENT_LENGTH": "1000000"},
    ),
    # Chunked, no Content-Length, from a server that terminates the stream (gunicorn): the limit still holds.
    case(
        "chunked-body-over-max-bytes",
        "/predict",
        instances(*[RECORD] * 10),
        413,
        "payload_too_large",
        settings={"max_body_bytes": 1000},
        chunked=True,
        environ={"wsgi.input_terminated": True},
    ),
    # Chunked through a server that does not terminate the stream: Werkzeug reads nothing rather than hang.
    case("chunked-body-unterminated-stream", "/predict", instances(RECORD), 400, "empty_body", chunked=True),
    case(
        "content-length-not-a-number", "/predict", instances(RECORD), 400, "empty_body", environ={"CONTENT_LENGTH": "x"}
    ),
    # ---- content types -----------------------------------------------------------------------------------
    case("text-plain", "/predict", instances(RECORD), 415, "unsupported_media_type", content_type="text/plain"),
    case("application-xml", "/predict", b"<instances/>", 415, "unsupported_media_type", content_type="application/xml"),
    case(
        "multipart-form-data",
        "/predict",
        b'--b\r\nContent-Disposition: form-data; name="instances"\r\n\r\n[]\r\n--b--\r\n',
        415,
        "unsupported_media_type",
        content_type="multipart/form-data; boundary=b",
    ),
    case(
        "form-urlencoded",
        "/predict",
        b"instances=%5B%5D",
        415,
        "unsupported_media_type",
        content_type="application/x-www-form-urlencoded",
    ),
    case("no-content-type", "/predict", instances(RECORD), 415, "unsupported_media_type", content_type=None),
    case("json-lookalike-type", "/predict", instances(RECORD), 415, "unsupported_media_type", content_type="text/json"),
    case(
        "100k-char-content-type",
        "/predict",
        instances(RECORD),
        415,
        "unsupported_media_type",
        content_type="application/" + "x" * DEEP,
    ),
    # ---- encodings ----------------------------------------------------------------------------------------
    case(
        "charset-latin1-non-utf8-bytes",
        "/predict",
        instances(row(loan_intent="EDUCATION")).replace(b"EDUCATION", "ÉDUCATION".encode("latin-1")),
        400,
        "invalid_encoding",
        content_type="application/json; charset=latin-1",
    ),
    case("invalid-utf8", "/predict", b'{"instances": [{"loan_grade": "\xff\xfe"}]}', 400, "invalid_encoding"),
    case("overlong-utf8-slash", "/predict", b'{"instances": [{"loan_grade": "\xc0\xaf"}]}', 400, "invalid_encoding"),
    case("utf16-json", "/predict", json.dumps({"instances": [RECORD]}).encode("utf-16"), 400, "invalid_encoding"),
    # JSON has no charset parameter (RFC 8259): BOM-less UTF-16 of ASCII text is valid UTF-8, and not JSON.
    case(
        "utf16-json-declared",
        "/predict",
        json.dumps({"instances": [RECORD]}).encode("utf-16-le"),
        400,
        "malformed_json",
        content_type="application/json; charset=utf-16",
    ),
    case("utf32-json", "/predict", json.dumps({"instances": [RECORD]}).encode("utf-32"), 400, "invalid_encoding"),
    case("utf8-bom-json", "/predict", b"\xef\xbb\xbf" + instances(RECORD), 400, "malformed_json"),
    # ---- CSV with a header (/predict, /explain) -----------------------------------------------------------
    case(
        "csv-ragged-rows", "/predict", f"{HEADER}\n{CSV_ROW},extra\n".encode(), 400, "malformed_csv", content_type=CSV
    ),
    case("csv-short-row", "/predict", f"{HEADER}\n30,50000\n".encode(), 400, "malformed_csv", content_type=CSV),
    case(
        "csv-unterminated-quote",
        "/predict",
        f'{HEADER}\n"30,50000,RENT\n'.encode(),
        400,
        "malformed_csv",
        content_type=CSV,
    ),
    case(
        "csv-text-after-quote",
        "/predict",
        f'{HEADER}\n"30"x,{CSV_ROW}\n'.encode(),
        400,
        "malformed_csv",
        content_type=CSV,
    ),
    case("csv-header-only", "/predict", f"{HEADER}\n".encode(), 400, "empty_instances", content_type=CSV),
    case(
        "csv-duplicate-headers",
        "/predict",
        f"{HEADER},person_age\n{CSV_ROW},31\n".encode(),
        400,
        "malformed_csv",
        content_type=CSV,
    ),
    case("csv-empty", "/predict", b"\n\n\n", 400, "empty_body", content_type=CSV),
    case(
        "csv-nul-bytes",
        "/predict",
        f"{HEADER}\n{CSV_ROW}\n".replace("30,", "3\x000,", 1).encode(),
        422,
        "schema_violation",
        content_type=CSV,
    ),
    case(
        "csv-nan-cell",
        "/predict",
        f"{HEADER}\n{CSV_ROW}\n".replace("30,", "nan,", 1).encode(),
        422,
        "schema_violation",
        content_type=CSV,
    ),
    case(
        "csv-inf-cell",
        "/predict",
        f"{HEADER}\n{CSV_ROW}\n".replace("8000", "inf", 1).encode(),
        422,
        "schema_violation",
        content_type=CSV,
    ),
    case(
        "csv-field-over-128k",
        "/predict",
        f"{HEADER}\n{'9' * 140_000}\n".encode(),
        400,
        "malformed_csv",
        content_type=CSV,
    ),
    case("csv-invalid-utf8", "/predict", f"{HEADER}\n".encode() + b"\xff\n", 400, "invalid_encoding", content_type=CSV),
    case("csv-utf16", "/predict", f"{HEADER}\n{CSV_ROW}\n".encode("utf-16"), 400, "invalid_encoding", content_type=CSV),
    case(
        "csv-rows-over-max-rows",
        "/predict",
        (HEADER + f"\n{CSV_ROW}" * 6 + "\n").encode(),
        413,
        "too_many_rows",
        content_type=CSV,
        settings={"max_rows": 5},
    ),
    case("explain-NaN-literal", "/explain", raw_row("person_age", "NaN"), 400, "non_finite_number"),
    case("explain-text-plain", "/explain", CSV_ROW.encode(), 415, "unsupported_media_type", content_type="text/plain"),
    case("explain-rows-not-objects", "/explain", instances([1, 2]), 422, "schema_violation"),
    # ---- SageMaker /invocations (headerless preprocessed CSV, or JSON records) ----------------------------
    case("inv-csv-too-few-columns", "/invocations", b"1,2,3\n", 422, "wrong_column_count", content_type=CSV),
    case(
        "inv-csv-too-many-columns", "/invocations", csv_rows("1", extra=1), 422, "wrong_column_count", content_type=CSV
    ),
    case(
        "inv-csv-with-header-row", "/invocations", f"{HEADER}\n".encode(), 422, "wrong_column_count", content_type=CSV
    ),
    case("inv-csv-nan-cell", "/invocations", csv_rows("nan"), 422, "non_finite_number", content_type=CSV),
    case("inv-csv-inf-cell", "/invocations", csv_rows("inf"), 422, "non_finite_number", content_type=CSV),
    case(
        "inv-csv-minus-infinity-cell", "/invocations", csv_rows("-Infinity"), 422, "non_finite_number", content_type=CSV
    ),
    case("inv-csv-text-cell", "/invocations", csv_rows("RENT"), 422, "schema_violation", content_type=CSV),
    # Was a 500 under warnings-as-errors (and a silent inf otherwise): overflow casting to float32.
    case("inv-csv-beyond-float32", "/invocations", csv_rows("1e39"), 422, "schema_violation", content_type=CSV),
    case("inv-csv-nul-cell", "/invocations", csv_rows("1\x00"), 422, "schema_violation", content_type=CSV),
    case("inv-csv-blank", "/invocations", b"\n \n", 400, "empty_instances", content_type=CSV),
    case(
        "inv-csv-rows-over-max-rows",
        "/invocations",
        csv_rows("1", rows=6),
        413,
        "too_many_rows",
        content_type=CSV,
        settings={"max_rows": 5},
    ),
    case("inv-json-NaN-literal", "/invocations", raw_row("person_age", "NaN"), 400, "non_finite_number"),
    case("inv-json-top-level-array", "/invocations", js([RECORD]), 400, "invalid_body_type"),
    case("inv-xml", "/invocations", b"<x/>", 415, "unsupported_media_type", content_type="application/xml"),
    case("inv-no-content-type", "/invocations", b"1,2,3", 415, "unsupported_media_type", content_type=None),
    # ---- V2 infer ----------------------------------------------------------------------------------------
    case("v2-body-array", INFER, js([{"inputs": []}]), 400, "invalid_body_type"),
    case("v2-body-null", INFER, b"null", 400, "invalid_body_type"),
    case("v2-inputs-missing", INFER, js({"id": "1"}), 400, "invalid_inputs"),
    # The id is echoed back: only a string, and a bounded one (issue 13 item 11).
    case("v2-id-object", INFER, infer(*tensors(), id={"a": [1] * 1000}), 400, "invalid_id"),
    case("v2-id-number", INFER, infer(*tensors(), id=42), 400, "invalid_id"),
    case("v2-id-too-long", INFER, infer(*tensors(), id="x" * 257), 400, "invalid_id"),
    case("v2-inputs-empty", INFER, infer(), 400, "invalid_inputs"),
    case("v2-inputs-object", INFER, js({"inputs": tensors()[0]}), 400, "invalid_inputs"),
    case("v2-tensor-not-object", INFER, infer("person_age"), 400, "invalid_inputs"),
    case(
        "v2-tensor-missing-data",
        INFER,
        infer({"name": "person_age", "shape": [1], "datatype": "FP32"}),
        400,
        "invalid_inputs",
    ),
    case("v2-data-not-list", INFER, infer(*tensors(person_age={"data": "30"})), 400, "invalid_inputs"),
    case("v2-data-null", INFER, infer(*tensors(person_age={"data": None})), 400, "invalid_inputs"),
    case("v2-shape-negative", INFER, infer(*tensors(person_age={"shape": [-1]})), 400, "invalid_inputs"),
    case("v2-shape-boolean", INFER, infer(*tensors(person_age={"shape": [True]})), 400, "invalid_inputs"),
    case("v2-shape-float", INFER, infer(*tensors(person_age={"shape": [1.0]})), 400, "invalid_inputs"),
    case("v2-shape-empty", INFER, infer(*tensors(person_age={"shape": []})), 400, "invalid_inputs"),
    case("v2-shape-not-list", INFER, infer(*tensors(person_age={"shape": 1})), 400, "invalid_inputs"),
    case("v2-datatype-unknown", INFER, infer(*tensors(person_age={"datatype": "FLOAT"})), 400, "invalid_inputs"),
    # Was a 500: an unhashable datatype reached a frozenset lookup (found by the schemathesis fuzz test).
    case("v2-datatype-list", INFER, infer(*tensors(person_age={"datatype": ["FP32"]})), 400, "invalid_inputs"),
    case("v2-datatype-object", INFER, infer(*tensors(person_age={"datatype": {"t": "FP32"}})), 400, "invalid_inputs"),
    case("v2-name-not-string", INFER, infer(*tensors(person_age={"name": 7})), 400, "invalid_inputs"),
    case("v2-data-three-levels", INFER, infer(*tensors(person_age={"data": [[[30]]]})), 400, "invalid_inputs"),
    case("v2-duplicate-names", INFER, infer(*tensors(), tensors()[0]), 400, "invalid_inputs"),
    case("v2-data-count-vs-shape", INFER, infer(*tensors(person_age={"shape": [2]})), 422, "shape_mismatch"),
    case(
        "v2-row-counts-disagree",
        INFER,
        infer(*tensors(person_age={"shape": [2], "data": [30, 31]})),
        422,
        "shape_mismatch",
    ),
    case("v2-feature-tensor-3d", INFER, infer(*tensors(person_age={"shape": [1, 1, 1]})), 422, "shape_mismatch"),
    case(
        "v2-shape-wraps-int64",
        INFER,
        infer({"name": "x", "shape": [2**62 + 1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}),
        422,
        "shape_mismatch",
    ),
    case(
        "v2-shape-10k-huge-dims",
        INFER,
        infer({"name": "x", "shape": [10**9] * 10_000, "datatype": "FP32", "data": [1]}),
        422,
        "shape_mismatch",
    ),
    case(
        "v2-preprocessed-wrong-width",
        INFER,
        infer({"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}),
        422,
        "shape_mismatch",
    ),
    case("v2-preprocessed-strings", INFER, matrix_tensor('"1"'), 422, "schema_violation"),
    case("v2-preprocessed-nulls", INFER, matrix_tensor("null"), 422, "schema_violation"),
    case("v2-preprocessed-booleans", INFER, matrix_tensor("true"), 422, "schema_violation"),
    # Was a silent 200: 1e400 parses as inf and reached the model.
    case("v2-preprocessed-1e400", INFER, matrix_tensor("1e400"), 422, "non_finite_number"),
    # Was a 500 under warnings-as-errors (and a silent inf otherwise): overflow casting to float32.
    case("v2-preprocessed-beyond-float32", INFER, matrix_tensor(1e39), 422, "schema_violation"),
    case("v2-preprocessed-NaN-literal", INFER, matrix_tensor("NaN"), 400, "non_finite_number"),
    case(
        "v2-preprocessed-rows-over-max-rows",
        INFER,
        matrix_tensor(0.5, rows=6),
        413,
        "too_many_rows",
        settings={"max_rows": 5},
    ),
    case(
        "v2-feature-rows-over-max-rows",
        INFER,
        infer(*[{**t, "shape": [6], "data": t["data"] * 6} for t in tensors()]),
        413,
        "too_many_rows",
        settings={"max_rows": 5},
    ),
    case("v2-zero-rows", INFER, infer(*[{**t, "shape": [0], "data": []} for t in tensors()]), 400, "empty_instances"),
    case(
        "v2-unknown-feature",
        INFER,
        infer(*tensors(), {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}),
        422,
        "schema_violation",
    ),
    case(
        "v2-bool-for-number",
        INFER,
        infer(*tensors(person_age={"datatype": "BOOL", "data": [True]})),
        422,
        "schema_violation",
    ),
    case("v2-text-csv", INFER, CSV_ROW.encode(), 415, "unsupported_media_type", content_type=CSV),
    case("v2-unknown-model-infer", "/v2/models/no-such-model/infer", infer(*tensors()), 404, "model_not_found"),
    case("v2-unknown-model-metadata", "/v2/models/credit_risk", None, 404, "model_not_found", method="GET"),
    case("v2-model-name-encoded-slashes", "/v2/models/..%2f..%2fetc", None, 404, "not_found", method="GET"),
    case("v2-unknown-model-ready", "/v2/models/CREDIT-RISK/ready", None, 404, "model_not_found", method="GET"),
    # ---- methods and routes --------------------------------------------------------------------------------
    case("get-predict", "/predict", None, 405, "method_not_allowed", method="GET"),
    case("get-explain", "/explain", None, 405, "method_not_allowed", method="GET"),
    case("get-invocations", "/invocations", None, 405, "method_not_allowed", method="GET"),
    case("get-v2-infer", INFER, None, 405, "method_not_allowed", method="GET"),
    case("put-predict", "/predict", instances(RECORD), 405, "method_not_allowed", method="PUT"),
    case("delete-metadata", "/metadata", None, 405, "method_not_allowed", method="DELETE"),
    case("post-health", "/health", b"{}", 405, "method_not_allowed"),
    case("post-ping", "/ping", b"{}", 405, "method_not_allowed"),
    case("patch-v2-model", "/v2/models/credit-risk", b"{}", 405, "method_not_allowed", method="PATCH"),
    case("unknown-route", "/predictions", instances(RECORD), 404, "not_found"),
    case("trailing-slash", "/predict/", instances(RECORD), 404, "not_found"),
    case("path-traversal", "/../../etc/passwd", None, 404, "not_found", method="GET"),
    case("static-traversal", "/static/..%2f..%2fapi%2fapp.py", None, 404, "not_found", method="GET"),
    # Were HTML 308 redirects to the path with `//` merged (POST here: a 405 of the GET /v2/models/{name}).
    case("v2-empty-model-name", "/v2/models//infer", infer(*tensors()), 404, "not_found"),
    case("double-slash-in-probe", "/v2//health/live", None, 404, "not_found", method="GET"),
    case("double-slash-model-ready", "/v2/models//ready", None, 404, "not_found", method="GET"),
    case("very-long-path", "/" + "a" * 50_000, None, 404, "not_found", method="GET"),
    # ---- headers and keys ------------------------------------------------------------------------------------
    case("no-key", "/predict", instances(RECORD), 401, "unauthorized", settings=SECURED),
    case(
        "100k-char-api-key",
        "/predict",
        instances(RECORD),
        401,
        "unauthorized",
        settings=SECURED,
        headers={"x-api-key": "k" * DEEP},
    ),
    case(
        "basic-auth-with-the-key",
        "/predict",
        instances(RECORD),
        401,
        "unauthorized",
        settings=SECURED,
        headers={"Authorization": f"Basic {KEY}"},
    ),
    case(
        "bearer-without-token",
        "/predict",
        instances(RECORD),
        401,
        "unauthorized",
        settings=SECURED,
        headers={"Authorization": "Bearer    "},
    ),
    case(
        "non-ascii-api-key",
        "/predict",
        instances(RECORD),
        401,
        "unauthorized",
        settings=SECURED,
        headers={"x-api-key": "clé-ünïcode"},
    ),
    case(
        "key-with-trailing-space",
        "/metadata",
        None,
        401,
        "unauthorized",
        method="GET",
        settings=SECURED,
        headers={"x-api-key": KEY + " "},
    ),
    # With keys set, the key is checked before routing: an unknown route does not reveal itself.
    case("unknown-route-without-key", "/admin", None, 401, "unauthorized", method="GET", settings=SECURED),
    case(
        "hostile-request-id-and-bad-body",
        "/predict",
        b"{",
        400,
        "malformed_json",
        headers={"X-Request-Id": "<script>" + "x" * 10_000, "User-Agent": "\x7f" * 1000},
    ),
    case(
        "100k-char-accept-header",
        "/invocations",
        raw_row("loan_amnt", "Infinity"),
        400,
        "non_finite_number",
        headers={"Accept": "text/csv;q=0.5, " * 6000},
    ),
    # ---- the columnar and line formats (issue 15) and their limits (issue 13.6) ---------------------------------
    case("split-ragged", "/predict", js({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}), 400,
         "invalid_dataframe_split"),
    case("split-and-instances", "/predict", js({"instances": [RECORD], "dataframe_records": [RECORD]}), 400,
         "ambiguous_body"),
    case("inputs-uneven", "/predict", js({"inputs": {"a": [1], "b": [1, 2]}}), 400, "invalid_columns"),
    case("split-empty-rows-over-max-rows", "/predict", b'{"dataframe_split":{"columns":[],"data":[' + b"[]," * 99
         + b"[]]}}", 413, "too_many_rows", settings={"max_rows": 5}),
    case("records-of-nothing-over-max-rows", "/predict", b'{"instances":[' + b"{}," * 999 + b"{}]}", 413,
         "too_many_rows", settings={"max_rows": 5}),
    case("jsonl-broken-line", "/predict", js(RECORD) + b"\n{\"a\":\n", 400, "malformed_json",
         content_type="application/jsonlines"),
    case("jsonl-infinity", "/predict", b'{"loan_amnt": Infinity}\n', 400, "non_finite_number",
         content_type="application/x-ndjson"),
    case("jsonl-over-max-rows", "/predict", b"{}\n" * 10, 413, "too_many_rows", content_type="application/jsonlines",
         settings={"max_rows": 5}),
    case("jsonl-blank-lines-only", "/predict", b"\n \n\t\r\n" * 1000, 400, "empty_body",
         content_type="application/jsonlines"),
    case("inv-jsonl-short-array", "/invocations", b"[1, 2]\n", 422, "wrong_column_count",
         content_type="application/jsonlines"),
    case("arrow-garbage", "/predict", b"\xff\xff\xff\xff" + b"\x00" * 64, 400, "malformed_arrow",
         content_type="application/vnd.apache.arrow.stream"),
    case("arrow-text", "/predict", CSV_ROW.encode(), 400, "malformed_arrow",
         content_type="application/vnd.apache.arrow.stream"),
    case("accept-xml", "/predict", instances(RECORD), 406, "not_acceptable", headers={"Accept": "application/xml"}),
    case("explain-over-explain-rows", "/explain", instances(*[RECORD] * 3), 413, "too_many_rows",
         settings={"max_explain_rows": 2}),
    case("csv-blank-lines-with-spaces", "/predict", b" \r\n\t\n" * 5000, 400, "empty_body", content_type=CSV),
]  # fmt: skip


def wire_body(app: Flask, h: Hostile) -> bytes:
    body = h.body
    if callable(body):
        body = body(app.extensions[EXTENSION].state.predictor.preprocessor.n_columns)
    return body or b""


def send(app: Flask, h: Hostile) -> Any:
    body = wire_body(app, h)
    kwargs: dict[str, Any] = {"method": h.method, "headers": dict(h.headers), "environ_overrides": dict(h.environ)}
    if h.content_type is not None:
        kwargs["content_type"] = h.content_type
    if h.chunked:
        kwargs["input_stream"] = io.BytesIO(body)
        kwargs["headers"]["Transfer-Encoding"] = "chunked"
    elif h.body is not None:
        kwargs["data"] = body
    return app.test_client().open(h.path, **kwargs)


@pytest.mark.parametrize("h", CASES)
def test_hostile_request(make_app: Callable[..., Flask], h: Hostile) -> None:
    app = make_app(**h.settings)
    response = send(app, h)
    text = response.get_data(as_text=True)
    assert (response.status_code, response.mimetype) == (h.status, JSON), text[:500]
    body = json.loads(text)
    assert error_code(h.path, body) == h.code, body
    for marker in ("Traceback", 'File "', "Error:", "site-packages", "/work/"):
        assert marker not in text, f"{marker!r} leaked into the error body: {text[:500]}"
    sent = len(wire_body(app, h)) + len(h.path) + sum(len(v) for v in h.headers.values()) + len(h.content_type or "")
    assert len(text) <= 2 * sent + 4096, "the error body echoes more than twice the input"


def test_corpus_size() -> None:
    assert len(CASES) >= 45
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("padding", [0, 1])
def test_chunked_body_up_to_the_limit_is_read(make_app: Callable[..., Flask], padding: int) -> None:
    """A streamed body of exactly the limit, or one byte under, is read whole and predicted (not a 413)."""
    body = instances(RECORD)
    app = make_app(max_body_bytes=len(body) + padding)
    h = Hostile("/predict", body, 200, "", chunked=True, environ={"wsgi.input_terminated": True})
    response = send(app, h)
    assert response.status_code == 200, response.get_data(as_text=True)
    one_over = Hostile("/predict", body + b" ", 413, "", chunked=True, environ={"wsgi.input_terminated": True})
    if padding == 0:
        assert send(app, one_over).status_code == 413


def test_chunked_csv_over_the_limit_is_not_truncated(make_app: Callable[..., Flask]) -> None:
    """Cut off at the limit, a CSV body could end on a row boundary and predict fewer rows with a 200."""
    head = f"{HEADER}\n{CSV_ROW}\n".encode()
    app = make_app(max_body_bytes=len(head))
    h = Hostile("/predict", head + f"{CSV_ROW}\n".encode(), 413, "", content_type=CSV, chunked=True)
    response = send(app, Hostile(**{**h.__dict__, "environ": {"wsgi.input_terminated": True}}))
    assert response.status_code == 413, response.get_data(as_text=True)


def test_hostile_request_id_is_replaced(client: Any) -> None:
    response = client.post("/predict", data=b"{", content_type=JSON, headers={"X-Request-Id": "<script>"})
    assert response.headers["X-Request-Id"] != "<script>"
    assert len(response.headers["X-Request-Id"]) == 32
