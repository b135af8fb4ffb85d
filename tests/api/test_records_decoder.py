"""msgspec's typed decoding of large record bodies (api/records.py) gives the encoder what the common path gives:
the same matrix, or the same refusal, for every body; and it takes the bodies it is for."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import ApiError
from api.inputs import check_json_size, json_rows, jsonl_rows, parse_json
from api.records import MIN_BYTES, RecordDecoder
from api.services import EXTENSION
from model.errors import ValidationError
from model.schema import CategoricalFeature, NumericFeature
from tests.api.conftest import RECORD

ROWS = 400  # some 100 KB of records: over MIN_BYTES
ODD_VALUES = [
    None,
    "30",
    " 30 ",
    True,
    False,
    0,
    -0.0,
    1e308,
    2**70,
    -(2**63) - 1,
    1.5,
    "RENT",
    "rent",
    "",
    "1",
    [1],
    {"a": 1},
    "x" * 3,
    "\u00e9",
]


CHANGES = st.lists(
    st.tuples(
        st.integers(0, ROWS - 1),
        st.sampled_from(sorted(RECORD)),
        st.one_of(st.sampled_from(ODD_VALUES), st.just("<absent>"), st.just("<unknown>")),
    ),
    max_size=4,
)
"""Edits of a body's records: a field set to an odd value, taken out, or an unknown one added."""


def edited_records(changes: list[tuple[int, str, Any]]) -> list[Any]:
    """Return `ROWS` copies of the example record with `changes` (drawn from `CHANGES`) made."""
    rows: list[Any] = [dict(RECORD) for _ in range(ROWS)]
    for i, field, value in changes:
        if value == "<absent>":
            rows[i].pop(field, None)
        elif value == "<unknown>":
            rows[i]["zodiac"] = "leo"
        else:
            rows[i][field] = value
    return rows


def outcome(plane: Any, predictor: Any, body: bytes, common: bool) -> Any:
    """Return the encoded matrix of `body`, or what refused it, by the data plane or by the common path alone."""
    try:
        if common:
            limits = plane.limits(predictor)
            check_json_size(body, limits)
            rows = json_rows(parse_json(body), limits)
        else:
            rows = plane.json_rows(body, predictor)
        return predictor.encode(rows)
    except ValidationError as exc:
        return ("invalid", exc.message, exc.details)
    except ApiError as exc:
        return ("refused", exc.status, exc.code, exc.message)


def assert_same(got: Any, want: Any) -> None:
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), got
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


@pytest.fixture
def served(app: Flask) -> tuple[Any, Any]:
    services = app.extensions[EXTENSION]
    return services.dataplane, services.state.predictor


def body_of(rows: list[Any], **envelope: Any) -> bytes:
    return json.dumps({"instances": rows, **envelope}).encode()


@pytest.mark.parametrize("lines", [False, True], ids=["instances", "json-lines"])
def test_a_clean_body_takes_the_typed_path_and_gives_the_same_matrix(served: tuple[Any, Any], lines: bool) -> None:
    plane, predictor = served
    rows = [dict(RECORD) for _ in range(ROWS)]
    if lines:
        body, decoded, result = jsonl_of(rows), plane.decoded_jsonl, jsonl_outcome
    else:
        body, decoded, result = body_of(rows), plane.decoded_records, outcome
    assert len(body) >= MIN_BYTES
    columns = decoded(body, predictor, plane.limits(predictor))
    assert columns is not None and list(columns) == predictor.schema.feature_names
    assert_same(result(plane, predictor, body, common=False), result(plane, predictor, body, common=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=CHANGES,
    row_kind=st.sampled_from(["records", "one row not an object", "an extra envelope member"]),
)
def test_every_body_gives_what_the_common_path_gives(
    served: tuple[Any, Any], changes: list[tuple[int, str, Any]], row_kind: str
) -> None:
    plane, predictor = served
    rows = edited_records(changes)
    envelope: dict[str, Any] = {}
    if row_kind == "one row not an object":
        rows[ROWS // 2] = [1, 2]
    elif row_kind == "an extra envelope member":
        envelope["parameters"] = {}
    body = body_of(rows, **envelope)
    assert_same(outcome(plane, predictor, body, common=False), outcome(plane, predictor, body, common=True))


@pytest.mark.parametrize(
    "text",
    [
        b'{"person_age": NaN}',
        b'{"person_age": 1e400}',
        b'{"person_age": "\\ud800"}',
        b'{"person_age": 1' + b"0" * 5000 + b"}",
    ],
    ids=["nan-literal", "beyond-float64", "lone-surrogate", "5000-digit-int"],
)
def test_what_msgspec_refuses_goes_the_common_way(served: tuple[Any, Any], text: bytes) -> None:
    plane, predictor = served
    clean = json.dumps(dict(RECORD)).encode()
    body = b'{"instances": [' + b", ".join([clean] * ROWS + [text]) + b"]}"
    assert plane.decoded_records(body, predictor, plane.limits(predictor)) is None
    assert_same(outcome(plane, predictor, body, common=False), outcome(plane, predictor, body, common=True))


def test_more_objects_than_rows_allowed_are_not_decoded(served: tuple[Any, Any]) -> None:
    """Rows are bounded before msgspec allocates them: a body with more `{` than the row limit goes the common way,
    which counts its values exactly."""
    plane, predictor = served
    limits = plane.limits(predictor)
    body = body_of([{"person_home_ownership": "{" * 10} for _ in range(limits.max_rows // 8)])
    assert body.count(b"{") > limits.max_rows
    assert RecordDecoder(predictor.schema.features).columns(body, limits) is None


def test_small_bodies_and_no_features_take_the_common_path(served: tuple[Any, Any]) -> None:
    plane, predictor = served
    limits = plane.limits(predictor)
    assert RecordDecoder(predictor.schema.features).columns(body_of([dict(RECORD)]), limits) is None
    assert RecordDecoder([]).columns(body_of([{}] * 20_000), limits) is None


def test_features_of_any_name() -> None:
    """Names msgspec can match are decoded; one it refuses to match (a quote, a backslash, a control character)
    leaves every body to the common path rather than failing."""
    from api.inputs import Limits

    names = ["class", "a b", "ünï", "", "f1", "__init__", "x" * 300, "__struct_fields__"]
    features = [CategoricalFeature(n, ("1.5",)) for n in names]
    limits = Limits.for_model(10_000, len(names) + 1)
    row = {n: 1.5 for n in names}
    columns = RecordDecoder(features).columns(body_of([row] * 3000), limits)
    assert columns is not None and list(columns) == names
    assert all(column == [1.5] * 3000 for column in columns.values())
    for odd in ('a"b', "a\\b", "a\nb"):
        decoder = RecordDecoder([*features, CategoricalFeature(odd, ("1",))])
        assert decoder.columns(body_of([{**row, odd: 1.0}] * 3000), limits) is None


@pytest.mark.parametrize("nullable", [True, False])
def test_numeric_columns_are_floats_unless_a_required_one_holds_a_null(nullable: bool) -> None:
    """Numbers (integers too) become float64, null NaN, where the feature may be missing; a required feature with a
    null keeps its values, so that the refusal names the null."""
    from api.inputs import Limits

    features = [NumericFeature("n", nullable=nullable), CategoricalFeature("c", ("a",))]
    limits = Limits.for_model(10_000, 3)
    rows = [{"n": 1, "c": "a"}, {"n": 2.5, "c": "a"}, {"n": None, "c": "a"}] * 2000
    columns = RecordDecoder(features).columns(body_of(rows), limits)
    assert columns is not None
    if nullable:
        assert isinstance(columns["n"], np.ndarray) and columns["n"].dtype == np.float64
        np.testing.assert_array_equal(columns["n"][:3], [1.0, 2.5, np.nan])
    else:
        assert columns["n"][:3] == [1.0, 2.5, None]
    assert columns["c"][:2] == ["a", "a"]
    full = RecordDecoder(features).columns(body_of([{"n": 3, "c": "a"}] * 6000), limits)
    assert full is not None and isinstance(full["n"], np.ndarray)
    for other in ("3", True, [1]):  # text, a boolean, a nested value: the rule's business, the common path's
        assert RecordDecoder(features).columns(body_of([{"n": other, "c": "a"}] * 6000), limits) is None


# ---- JSON Lines of records ------------------------------------------------------------------------------------


def jsonl_outcome(plane: Any, predictor: Any, body: bytes, common: bool) -> Any:
    """Return the encoded matrix of a JSON Lines body, or what refused it, by the data plane or the common path."""
    try:
        if common:
            rows = jsonl_rows(body, plane.limits(predictor))
        else:
            rows = plane.records(body, "application/jsonlines", predictor)
        return predictor.encode(rows)
    except ValidationError as exc:
        return ("invalid", exc.message, exc.details)
    except ApiError as exc:
        return ("refused", exc.status, exc.code, exc.message)


def jsonl_of(rows: list[Any]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=CHANGES,
    # What can stand between and around the lines: the line ends, blank lines, spaces, a BOM, a lone CR, a record
    # split over two lines or two on one.
    text_edits=st.lists(
        st.tuples(
            st.integers(0, ROWS - 1),
            st.sampled_from(
                ["crlf", "blank line", "trailing spaces", "leading spaces", "lone cr", "split record", "two on a line"]
            ),
        ),
        max_size=3,
    ),
    start=st.sampled_from([b"", b"\n", b"\xef\xbb\xbf", b"\r\n"]),
)
def test_every_json_lines_body_gives_what_the_common_path_gives(
    served: tuple[Any, Any], changes: list[tuple[int, str, Any]], text_edits: list[tuple[int, str]], start: bytes
) -> None:
    plane, predictor = served
    rows = edited_records(changes)
    lines = [json.dumps(r).encode() for r in rows]
    ends = [b"\n"] * ROWS
    for i, edit in text_edits:
        if edit == "crlf":
            ends[i] = b"\r\n"
        elif edit == "blank line":
            ends[i] = b"\n\n"
        elif edit == "trailing spaces":
            lines[i] += b"  \t"
        elif edit == "leading spaces":
            lines[i] = b"  " + lines[i]
        elif edit == "lone cr":
            lines[i] = lines[i].replace(b", ", b",\r", 1)
        elif edit == "split record":
            lines[i] = lines[i].replace(b", ", b",\n", 1)
        elif edit == "two on a line" and i + 1 < ROWS:
            ends[i] = b", "
    body = start + b"".join(line + end for line, end in zip(lines, ends, strict=True))
    assert_same(jsonl_outcome(plane, predictor, body, False), jsonl_outcome(plane, predictor, body, True))


def test_more_lines_than_rows_allowed_are_not_decoded(served: tuple[Any, Any]) -> None:
    plane, predictor = served
    limits = plane.limits(predictor)
    body = jsonl_of([dict(RECORD)] * (limits.max_rows + 1))
    assert RecordDecoder(predictor.schema.features).jsonl_columns(body, limits) is None
    assert jsonl_outcome(plane, predictor, body, False)[:3] == ("refused", 413, "too_many_rows")


def test_invocations_json_lines_of_records_match_predict(app: Flask) -> None:
    """`/invocations` (Batch Transform) takes the same typed path for records; lines of encoded arrays are left to
    the common path."""
    client = app.test_client()
    body = jsonl_of([dict(RECORD, person_age=20 + i % 50) for i in range(ROWS)])
    want = client.post("/predict", json={"instances": [json.loads(line) for line in body.splitlines()]})
    got = client.post("/invocations", data=body, content_type="application/jsonlines")
    assert got.status_code == want.status_code == 200
    assert got.get_json()["predictions"] == want.get_json()["predictions"]
