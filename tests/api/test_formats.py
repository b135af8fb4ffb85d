"""Every request and response format (issue 15): the same rows predict the same, per format and per task, and each
format's malformed bodies get their own 4xx and code.

The reference is `/predict` with JSON `{"instances": [...]}` records; every other format carries the same rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.settings import Settings
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.api.conftest import RECORD
from tests.conftest import error_code, mixed_frame

JSON = "application/json"
CSV = "text/csv"
JSONL = "application/jsonlines"
ARROW = "application/vnd.apache.arrow.stream"
TASKS = ("binary", "multiclass", "regression", "credit")
ROWS = 40


# ---- the same rows in every format --------------------------------------------------------------------------------


def rows_for(task: str) -> list[dict[str, Any]]:
    """Rows of the task's features, with missing values (None), as a client would send them."""
    if task == "credit":
        from model.data import credit_risk

        frame = credit_risk(ROWS, seed=5).drop(columns=["loan_status"])
    else:
        frame = mixed_frame(ROWS, seed=9)[["x1", "x2", "color", "size"]]
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in records]


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(rows[0]))
    writer.writerows([["" if v is None else repr(v) if isinstance(v, float) else v for v in r.values()] for r in rows])
    return out.getvalue().encode()


def as_arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def as_jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def split(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(rows[0])
    return {"columns": columns, "data": [[r[c] for c in columns] for r in rows], "index": list(range(len(rows)))}


FORMATS: dict[str, Callable[[list[dict[str, Any]]], tuple[bytes, str]]] = {
    "dataframe_split": lambda rows: (json.dumps({"dataframe_split": split(rows)}).encode(), JSON),
    "dataframe_split-no-index": lambda rows: (
        json.dumps({"dataframe_split": {k: v for k, v in split(rows).items() if k != "index"}}).encode(),
        JSON,
    ),
    "dataframe_records": lambda rows: (json.dumps({"dataframe_records": rows}).encode(), JSON),
    "inputs-columns": lambda rows: (json.dumps({"inputs": {k: [r[k] for r in rows] for k in rows[0]}}).encode(), JSON),
    "inputs-records": lambda rows: (json.dumps({"inputs": rows}).encode(), JSON),
    "csv": lambda rows: (as_csv(rows), CSV),
    "csv-crlf-blank-lines": lambda rows: (b"\r\n" + as_csv(rows).replace(b"\n", b"\r\n \r\n"), CSV),
    "jsonl": lambda rows: (as_jsonl(rows), JSONL),
    "ndjson-blank-lines": lambda rows: (b"\n" + as_jsonl(rows).replace(b"\n", b"\n\t\n"), "application/x-ndjson"),
    "arrow": lambda rows: (as_arrow(pa.Table.from_pylist(rows)), ARROW),
    "arrow-dictionary-columns": lambda rows: (
        as_arrow(
            pa.table(
                {
                    k: pa.array([r[k] for r in rows]).dictionary_encode()
                    if any(isinstance(r[k], str) for r in rows)
                    else pa.array([r[k] for r in rows], pa.float32() if k == "x1" else None)
                    for k in rows[0]
                }
            )
        ),
        ARROW,
    ),
}


@pytest.fixture(scope="module")
def apps(trained: dict[str, tuple[Path, TrainResult]]) -> dict[str, Flask]:
    """One app per task, each serving that task's model."""
    out = {}
    for task, (store, result) in trained.items():
        out[task] = create_app(Settings(model_store=store.as_uri(), model_name=result.name))
    return out


def predictions(client: FlaskClient, path: str, body: bytes, content_type: str, accept: str = JSON) -> Any:
    response = client.post(path, data=body, content_type=content_type, headers={"Accept": accept})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_predicts_as_records(apps: dict[str, Flask], task: str, fmt: str) -> None:
    client = apps[task].test_client()
    rows = rows_for(task)
    if fmt == "arrow-dictionary-columns" and task == "credit":
        pytest.skip("the float32 column is the mixed data set's x1")
    want = predictions(client, "/predict", json.dumps({"instances": rows}).encode(), JSON).get_json()
    body, content_type = FORMATS[fmt](rows)
    for path in ("/predict", "/invocations"):
        got = predictions(
            client,
            path,
            body,
            content_type + (";header=present" if path == "/invocations" and content_type == CSV else ""),
        ).get_json()
        if fmt == "arrow-dictionary-columns":  # x1 went as float32: compare within its rounding
            assert [p.get("label") for p in got["predictions"]] == [p.get("label") for p in want["predictions"]]
            continue
        assert got == want, (path, fmt)


@pytest.mark.parametrize("task", TASKS)
def test_every_response_format_carries_the_json_predictions(apps: dict[str, Flask], task: str) -> None:
    client = apps[task].test_client()
    body = json.dumps({"instances": rows_for(task)}).encode()
    want = predictions(client, "/predict", body, JSON).get_json()["predictions"]

    as_lines = predictions(client, "/predict", body, JSON, accept=JSONL)
    assert as_lines.mimetype == JSONL
    assert [json.loads(line) for line in as_lines.get_data().splitlines()] == want

    as_csv_lines = predictions(client, "/predict", body, JSON, accept=CSV)
    assert as_csv_lines.mimetype == CSV
    lines = as_csv_lines.get_data(as_text=True).splitlines()
    assert len(lines) == len(want)
    for line, p in zip(lines, want, strict=True):
        expected = p.get("probability", p.get("value"))
        cells = [float(c) for c in line.split(",")]
        assert cells == (list(p["probabilities"].values()) if "probabilities" in p else [expected])

    as_arrow_stream = predictions(client, "/predict", body, JSON, accept=ARROW)
    assert as_arrow_stream.mimetype == ARROW
    table = pa.ipc.open_stream(as_arrow_stream.get_data()).read_all()
    assert (
        table.schema.metadata[b"treeport.model.name"].decode() == apps[task].extensions["treeport"].state.predictor.name
    )
    for row, p in zip(table.to_pylist(), want, strict=True):
        if "probabilities" in p:
            assert row["label"] == p["label"]
            assert row["probabilities"] == {str(k): v for k, v in p["probabilities"].items()}
        else:
            assert row == p


def test_invocations_headerless_formats_match_predict(apps: dict[str, Flask]) -> None:
    """Preprocessed rows as headerless CSV and as JSON Lines arrays predict what raw records do."""
    app = apps["credit"]
    client = app.test_client()
    rows = rows_for("credit")
    predictor: Predictor = app.extensions["treeport"].state.predictor
    matrix = predictor.encode(rows).tolist()
    want = predictions(client, "/predict", json.dumps({"instances": rows}).encode(), JSON).get_json()
    lines = "".join(",".join("" if v != v else repr(v) for v in row) + "\n" for row in matrix).encode()
    assert predictions(client, "/invocations", lines, CSV).get_json() == want
    arrays = as_jsonl([[None if v != v else v for v in row] for row in matrix])
    assert predictions(client, "/invocations", arrays, JSONL).get_json() == want
    # SageMaker Batch Transform: SplitType Line, CSV in, CSV out, one line per input line.
    out = predictions(client, "/invocations", lines, CSV, accept=CSV).get_data(as_text=True).splitlines()
    assert [float(v) for v in out] == [p["probability"] for p in want["predictions"]]


def test_the_fast_path_answers_every_json_shape_as_flask_does(
    make_app: Callable[..., Flask], record: dict[str, Any]
) -> None:
    rows = [record, {**record, "person_emp_length": None, "loan_grade": "G"}] * 10
    fast, slow = make_app().test_client(), make_app(fast_path=False).test_client()
    for name in ("dataframe_split", "dataframe_records", "inputs-columns"):
        body, content_type = FORMATS[name](rows)
        a = fast.post("/predict", data=body, content_type=content_type)
        b = slow.post("/predict", data=body, content_type=content_type)
        assert (a.status_code, a.get_data()) == (b.status_code, b.get_data()) and a.status_code == 200, name


# ---- validation is column-wise, with the same details as records ----------------------------------------------


BAD_ROWS = [
    dict(RECORD),
    {**RECORD, "person_age": "old", "loan_grade": 7},
    {**RECORD, "person_income": None},
    {**RECORD, "loan_int_rate": True},
] * 5


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "inputs-columns", "jsonl", "arrow-texts"])
def test_problems_have_the_same_details_in_every_format(client: FlaskClient, fmt: str) -> None:
    want = client.post("/predict", json={"instances": BAD_ROWS})
    assert want.status_code == 422
    if fmt == "arrow-texts":  # Arrow carries types: every value as text, so the numbers are number literals
        texts = [{k: None if v is None else str(v) for k, v in r.items()} for r in BAD_ROWS]
        body, content_type = as_arrow(pa.Table.from_pylist(texts)), ARROW
        want = client.post("/predict", json={"instances": texts})
    else:
        body, content_type = FORMATS[fmt](BAD_ROWS)
    got = client.post("/predict", data=body, content_type=content_type)
    assert got.status_code == 422, got.get_data(as_text=True)
    assert got.get_json() == want.get_json()


def test_csv_problems_have_the_details_of_the_same_text_records(client: FlaskClient) -> None:
    texts = [{k: "" if v is None else str(v) for k, v in r.items()} for r in BAD_ROWS]
    body = as_csv(texts)
    want = client.post("/predict", json={"instances": [{k: v or None for k, v in r.items()} for r in texts]})
    got = client.post("/predict", data=body, content_type=CSV)
    assert got.status_code == want.status_code == 422
    assert got.get_json() == want.get_json()


# ---- malformed bodies of each format ------------------------------------------------------------------------


def arrow_body(**columns: Any) -> bytes:
    return as_arrow(pa.table(columns))


def compressed_arrow() -> bytes:
    table = pa.Table.from_pylist([RECORD] * 3)
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


SPLIT = split([RECORD])
MALFORMED = [
    # JSON envelopes
    ("ambiguous", JSON, json.dumps({"instances": [RECORD], "dataframe_split": SPLIT}), 400, "ambiguous_body"),
    ("split-not-object", JSON, json.dumps({"dataframe_split": [1]}), 400, "invalid_dataframe_split"),
    ("split-no-columns", JSON, json.dumps({"dataframe_split": {"data": [[1]]}}), 400, "invalid_dataframe_split"),
    ("split-number-column", JSON, json.dumps({"dataframe_split": {"columns": [1], "data": [[1]]}}), 400,
     "invalid_dataframe_split"),
    ("split-duplicate-columns", JSON, json.dumps({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}),
     400, "invalid_dataframe_split"),
    ("split-ragged-row", JSON, json.dumps({"dataframe_split": {**SPLIT, "data": [SPLIT["data"][0], [1]]}}), 400,
     "invalid_dataframe_split"),
    ("split-row-not-array", JSON, json.dumps({"dataframe_split": {"columns": ["a"], "data": [{"a": 1}]}}), 400,
     "invalid_dataframe_split"),
    ("split-short-index", JSON, json.dumps({"dataframe_split": {**SPLIT, "index": []}}), 400,
     "invalid_dataframe_split"),
    ("split-extra-member", JSON, json.dumps({"dataframe_split": {**SPLIT, "dtype": {}}}), 400,
     "invalid_dataframe_split"),
    ("split-no-rows", JSON, json.dumps({"dataframe_split": {"columns": ["a"], "data": []}}), 400, "empty_instances"),
    ("split-empty-rows", JSON, json.dumps({"dataframe_split": {"columns": [], "data": [[]]}}), 422,
     "schema_violation"),
    ("split-nested-value", JSON, json.dumps({"dataframe_split": {**SPLIT, "data": [[[1]] * len(RECORD)]}}), 422,
     "schema_violation"),
    ("records-not-array", JSON, json.dumps({"dataframe_records": {"a": 1}}), 400, "instances_not_array"),
    ("inputs-scalar", JSON, json.dumps({"inputs": 3}), 400, "instances_not_array"),
    ("inputs-uneven-columns", JSON, json.dumps({"inputs": {"person_age": [1, 2], "loan_amnt": [1]}}), 400,
     "invalid_columns"),
    ("inputs-column-not-array", JSON, json.dumps({"inputs": {"person_age": 30}}), 400, "invalid_columns"),
    ("inputs-empty", JSON, json.dumps({"inputs": {}}), 400, "empty_instances"),
    ("inputs-empty-columns", JSON, json.dumps({"inputs": {"person_age": []}}), 400, "empty_instances"),
    ("extra-member", JSON, json.dumps({"dataframe_records": [RECORD], "params": {}}), 400, "unknown_body_field"),
    # JSON Lines
    ("jsonl-bad-line", JSONL, json.dumps(RECORD) + "\n{\n", 400, "malformed_json"),
    ("jsonl-two-values-on-a-line", JSONL, json.dumps(RECORD) + "," + json.dumps(RECORD), 400, "malformed_json"),
    ("jsonl-nan-literal", JSONL, '{"person_age": NaN}\n', 400, "non_finite_number"),
    ("jsonl-blank", JSONL, "\n \n\t\n", 400, "empty_body"),
    ("jsonl-arrays-on-predict", JSONL, "[1, 2]\n", 422, "schema_violation"),
    ("jsonl-bad-utf8", JSONL, b'{"a": "\xff"}\n', 400, "invalid_encoding"),
    # Arrow
    ("arrow-garbage", ARROW, b"not arrow at all", 400, "malformed_arrow"),
    ("arrow-truncated", ARROW, as_arrow(pa.Table.from_pylist([RECORD]))[:-40], 400, "malformed_arrow"),
    ("arrow-compressed", ARROW, compressed_arrow(), 400, "malformed_arrow"),
    ("arrow-empty", ARROW, b"", 400, "empty_body"),
    ("arrow-no-rows", ARROW, as_arrow(pa.Table.from_pylist([RECORD]).slice(0, 0)), 400, "empty_instances"),
    ("arrow-bool-number", ARROW, arrow_body(person_age=[True]), 422, "schema_violation"),
    ("arrow-nested", ARROW, arrow_body(person_age=[[1, 2]], loan_grade=[["A"]]), 422, "schema_violation"),
    ("arrow-unknown-column", ARROW, as_arrow(pa.Table.from_pylist([{**RECORD, "zodiac": "leo"}])), 422,
     "schema_violation"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_bodies(client: FlaskClient, content_type: str, body: Any, status: int, code: str) -> None:
    response = client.post("/predict", data=body, content_type=content_type)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert error_code("/predict", response.get_json()) == code


def test_invocations_jsonl_rows_are_checked_as_csv_rows(client: FlaskClient, app: Flask) -> None:
    width = app.extensions["treeport"].state.predictor.preprocessor.n_columns
    for body, status, code, where in [
        ("[1, 2]\n", 422, "wrong_column_count", "line 0"),
        (json.dumps([1] * width) + "\n" + json.dumps(["x"] * width), 422, "schema_violation", "line 1 column 0"),
        (json.dumps([True] * width), 422, "schema_violation", "line 0 column 0"),
        (json.dumps([1e39] * width), 422, "schema_violation", "float32"),
        ("[" + ",".join(["1" * 400] * width) + "]", 422, "non_finite_number", "line 0 column 0"),
        (json.dumps([1] * width) + "\n" + json.dumps(RECORD), 400, "malformed_jsonl", "mixes"),
    ]:
        response = client.post("/invocations", data=body, content_type=JSONL)
        assert response.status_code == status, body[:80]
        assert error_code("/invocations", response.get_json()) == code
        assert where in response.get_json()["error"]["message"]


# ---- limits --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "inputs-columns", "csv", "jsonl", "arrow"])
def test_the_row_limit_holds_in_every_format(make_app: Callable[..., Flask], fmt: str) -> None:
    client = make_app(max_rows=5).test_client()
    body, content_type = FORMATS[fmt]([RECORD] * 6)
    response = client.post("/predict", data=body, content_type=content_type)
    assert response.status_code == 413
    assert error_code("/predict", response.get_json()) == "too_many_rows"
    ok = client.post("/predict", data=FORMATS[fmt]([RECORD] * 5)[0], content_type=content_type)
    assert ok.status_code == 200


def test_explain_has_its_own_row_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_explain_rows=3).test_client()
    response = client.post("/explain", json={"instances": [RECORD] * 4})
    assert response.status_code == 413
    assert error_code("/explain", response.get_json()) == "too_many_rows"
    assert "/explain" in response.get_json()["error"]["message"]
    assert client.post("/explain", json={"instances": [RECORD] * 3}).status_code == 200
    assert client.post("/predict", json={"instances": [RECORD] * 4}).status_code == 200


def test_explain_row_limit_setting() -> None:
    assert Settings().max_explain_rows == 100
    assert Settings.from_env({"TREEPORT_MAX_EXPLAIN_ROWS": "7"}).max_explain_rows == 7


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"instances":[' + b"{}," * 3000 + b"{}]}", JSON),
        (b'{"instances":[' + b"1," * 3000 + b"1]}", JSON),
        (b'{"dataframe_split":{"columns":[],"data":[' + b"[]," * 3000 + b"[]]}}", JSON),
        (b"{}\n" * 3000, JSONL),
        (b"person_age\n" + b"1\n" * 3000, CSV),
    ],
    ids=["empty-objects", "scalar-rows", "split-empty-rows", "jsonl-empty-objects", "csv-one-column"],
)
def test_many_small_rows_are_refused_before_parsing(
    make_app: Callable[..., Flask], body: bytes, content_type: str
) -> None:
    client = make_app(max_rows=100).test_client()
    response = client.post("/predict", data=body, content_type=content_type)
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert error_code("/predict", response.get_json()) == "too_many_rows"


def test_commas_in_strings_do_not_count_as_values(make_app: Callable[..., Flask]) -> None:
    """The cheap bound counts every comma; a body over it is counted again without its strings."""
    client = make_app(max_rows=2).test_client()
    rows = [{**RECORD, "loan_intent": "," * 500}] * 2
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


# ---- Accept --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "status", "media"),
    [
        (None, 200, JSON),
        ("*/*", 200, JSON),
        ("application/json", 200, JSON),
        ("text/csv", 200, CSV),
        ("text/*", 200, CSV),
        ("application/jsonlines", 200, JSONL),
        ("application/x-ndjson", 200, "application/x-ndjson"),
        (ARROW, 200, ARROW),
        ("text/csv;q=0.5, application/json", 200, JSON),
        ("application/json;q=0.1, application/jsonlines;q=0.9", 200, JSONL),
        ("application/json;q=0, text/csv", 200, CSV),
        ("application/xml", 406, JSON),
        ("application/json;q=0", 406, JSON),
    ],
)
def test_accept_negotiation(make_app: Callable[..., Flask], accept: str | None, status: int, media: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    for fast_path in (True, False):
        client = make_app(fast_path=fast_path).test_client()
        for path in ("/predict", "/invocations"):
            response = client.post(path, json={"instances": [RECORD]}, headers=headers)
            assert (response.status_code, response.mimetype) == (status, media), (path, fast_path)
            if status == 406:
                assert error_code(path, response.get_json()) == "not_acceptable"


def test_explain_answers_json_only(client: FlaskClient) -> None:
    response = client.post("/explain", json={"instances": [RECORD]}, headers={"Accept": "text/csv"})
    assert response.status_code == 406
    assert error_code("/explain", response.get_json()) == "not_acceptable"


# ---- SageMaker Batch Transform ---------------------------------------------------------------------------------


def test_execution_parameters(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREEPORT_WORKERS", "3")
    key = hashlib.sha256(b"k").hexdigest()
    client = make_app(api_keys=(key,), max_body_bytes=4 * 1024 * 1024).test_client()
    response = client.get("/execution-parameters")  # no key: SageMaker calls it as it calls /ping
    assert response.status_code == 200
    assert response.get_json() == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 4}


def test_execution_parameters_default_payload_is_sagemakers(client: FlaskClient) -> None:
    body = client.get("/execution-parameters").get_json()
    assert body["MaxPayloadInMB"] == 6 and body["BatchStrategy"] == "MULTI_RECORD"
    assert body["MaxConcurrentTransforms"] >= 1


def test_numeric_matrix_checks_each_value() -> None:
    from api.inputs import numeric_matrix

    assert numeric_matrix([[1, None, 2.5]], 3, "row").tolist()[0][0] == 1.0
    assert math.isnan(numeric_matrix([[1, None, 2.5]], 3, "row")[0, 1])
    assert numeric_matrix([[1, 2]], 2, "row").dtype == np.float32


def test_v2_values_are_bounded_before_parsing(make_app: Callable[..., Flask], app: Flask) -> None:
    client = make_app(max_rows=10).test_client()
    width = app.extensions["treeport"].state.predictor.preprocessor.n_columns
    wide = {"name": "x", "shape": [10, width], "datatype": "FP32", "data": [0.5] * (10 * width)}
    assert client.post("/v2/models/credit-risk/infer", json={"inputs": [wide]}).status_code == 200
    many = {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0] * 100_000}
    response = client.post("/v2/models/credit-risk/infer", json={"inputs": [many]})
    assert response.status_code == 413
    assert error_code("/v2/models/credit-risk/infer", response.get_json()) == "too_many_rows"


def test_the_value_limit_counts_encoded_columns_where_they_outnumber_the_features() -> None:
    """A preprocessed row (headerless CSV, JSON Lines arrays, V2's [N, F]) holds a value per encoded column."""
    from types import SimpleNamespace

    from api.dataplane import DataPlane
    from api.state import ModelState

    settings = Settings(max_rows=100)
    plane = DataPlane(settings, ModelState(settings))
    # Three features, one of them with 200 categories: 202 encoded columns.
    wide: Any = SimpleNamespace(schema=SimpleNamespace(features=(1, 2, 3)), preprocessor=SimpleNamespace(n_columns=202))
    assert plane.limits(wide).max_values == 100 * (2 * 202 + 8) + 1024
    narrow: Any = SimpleNamespace(
        schema=SimpleNamespace(features=tuple(range(11))), preprocessor=SimpleNamespace(n_columns=5)
    )
    assert plane.limits(narrow).max_values == 100 * (2 * 11 + 8) + 1024
    assert plane.limits(narrow, explain=True).max_rows == settings.max_explain_rows


def test_without_pyarrow_csv_still_predicts_and_arrow_is_refused(
    apps: dict[str, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serving and Lambda images leave pyarrow out: CSV (with a header, and headerless on /invocations) then goes
    through the csv module and the cell loop with the same answers, and Arrow is a 415 in and a 406 out.

    `sys.modules["pyarrow"] = None` is what Python itself does for a module that cannot be imported: `import pyarrow`
    raises ImportError and `importlib.util.find_spec` finds nothing, as in an image without it."""
    import sys

    app = apps["credit"]
    client = app.test_client()
    rows = rows_for("credit")
    body = json.dumps({"instances": rows}).encode()
    want = predictions(client, "/predict", body, JSON).get_json()
    matrix = app.extensions["treeport"].state.predictor.encode(rows).tolist()
    headerless = "".join(",".join("" if v != v else repr(v) for v in row) + "\n" for row in matrix).encode()
    arrow = FORMATS["arrow"](rows)[0]
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    assert predictions(client, "/predict", as_csv(rows), CSV).get_json() == want
    assert predictions(client, "/invocations", headerless, CSV).get_json() == want
    out = predictions(client, "/invocations", headerless, CSV, accept=CSV).get_data(as_text=True).splitlines()
    assert [float(v) for v in out] == [p["probability"] for p in want["predictions"]]
    refused = client.post("/predict", data=arrow, content_type=ARROW)
    assert refused.status_code == 415
    assert error_code("/predict", refused.get_json()) == "unsupported_media_type"
    assert "needs pyarrow" in refused.get_json()["error"]["message"]
    not_answered = client.post("/predict", data=body, content_type=JSON, headers={"Accept": ARROW})
    assert not_answered.status_code == 406
    assert error_code("/predict", not_answered.get_json()) == "not_acceptable"
    # Arrow among others: the next acceptable type answers.
    answered = client.post("/predict", data=body, content_type=JSON, headers={"Accept": f"{ARROW}, {JSONL};q=0.5"})
    assert answered.status_code == 200
    assert answered.mimetype == JSONL
