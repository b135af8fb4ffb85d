"""Preprocessor: train-only fit, one-hot layout, NaN handling, records path == frame path, field-level errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from model.errors import ValidationError
from model.preprocess import Preprocessor
from model.schema import CategoricalFeature, NumericFeature, Schema, Target

SCHEMA = Schema(
    features=(
        NumericFeature("age", min=18, max=100, nullable=False),
        NumericFeature("income"),
        CategoricalFeature("color", ("red", "green", "blue")),
        CategoricalFeature("grade", ("A", "B"), nullable=False, on_unknown="error"),
    ),
    target=Target("y", "binary", (0, 1), 1),
)
TRAIN = pd.DataFrame(
    {"age": [20, 30, 40], "income": [1.0, None, 3.0], "color": ["red", "blue", None], "grade": ["A", "B", "A"]}
)


@pytest.fixture
def pre() -> Preprocessor:
    return Preprocessor.fit(TRAIN, SCHEMA)


def test_fit_uses_only_categories_present_in_training_rows(pre: Preprocessor) -> None:
    # "green" is a known category but absent from the training rows: it gets no column.
    assert pre.columns == ["age", "income", "color=red", "color=blue", "grade=A", "grade=B"]


def test_json_round_trip_keeps_layout(pre: Preprocessor) -> None:
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again.columns == pre.columns
    rows = [{"age": 33, "income": 2.5, "color": "red", "grade": "B"}]
    np.testing.assert_array_equal(again.transform_records(rows), pre.transform_records(rows))


def test_encoding_of_known_missing_and_unknown_values(pre: Preprocessor) -> None:
    x = pre.transform_records(
        [
            {"age": 25, "income": 10, "color": "blue", "grade": "A"},
            {"age": 26, "color": None, "grade": "B"},
            {"age": 27, "income": None, "color": "purple", "grade": "A"},
            {"age": 28, "income": 1, "color": "green", "grade": "A"},
        ]
    )
    assert x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[0], [25, 10, 0, 1, 1, 0])
    assert math.isnan(x[1, 1]) and np.isnan(x[1, 2:4]).all()
    assert np.isnan(x[2, 1:4]).all()  # unknown category -> missing by default
    assert np.isnan(x[3, 2:4]).all()  # known but never trained -> missing
    np.testing.assert_array_equal(x[2, 4:], [1, 0])


def test_records_and_frame_paths_agree(pre: Preprocessor) -> None:
    rows = [
        {"age": 25, "income": 10.5, "color": "blue", "grade": "A"},
        {"age": 60, "income": None, "color": None, "grade": "B"},
        {"age": 99, "income": -3.0, "color": "orange", "grade": "A"},
    ]
    np.testing.assert_array_equal(pre.transform_records(rows), pre.transform_frame(pd.DataFrame(rows)))


@pytest.mark.parametrize(
    ("record", "field", "problem", "code"),
    [
        ({"age": "abc", "grade": "A"}, "age", "expected a number, got 'abc'", "expected_number"),
        ({"age": True, "grade": "A"}, "age", "expected a number, got True", "boolean_not_number"),
        ({"age": float("nan"), "grade": "A"}, "age", "required, got null", "missing_required"),
        ({"age": float("inf"), "grade": "A"}, "age", "expected a finite number", "non_finite_number"),
        ({"age": 17, "grade": "A"}, "age", "17 is outside the allowed range [18, 100]", "out_of_range"),
        ({"grade": "A"}, "age", "required, got nothing (field absent)", "missing_required"),
        ({"age": None, "grade": "A"}, "age", "required, got null", "missing_required"),
        ({"age": 30, "grade": "Z"}, "grade", "unknown category 'Z'", "unknown_category"),
        ({"age": 30, "grade": None}, "grade", "required, got null", "missing_required"),
        ({"age": 30, "grade": True}, "grade", "unknown category 'True'", "unknown_category"),
        ({"age": 30, "grade": 1.5}, "grade", "unknown category '1.5'", "unknown_category"),
        ({"age": 30, "grade": object()}, "grade", "expected a string category, got <object", "expected_string"),
        ({"age": 30, "grade": "A", "color": {"x": 1}}, "color", "got an object", "nested_value"),
        ({"age": 30, "grade": "A", "income": [1]}, "income", "expected a number, got an array", "nested_value"),
        ({"age": 30, "grade": "A", "zodiac": "leo"}, "zodiac", "unknown feature", "unknown_feature"),
    ],
)
def test_records_validation_names_row_and_field(
    pre: Preprocessor, record: dict, field: str, problem: str, code: str
) -> None:
    ok = {"age": 30, "grade": "A"}
    with pytest.raises(ValidationError) as info:
        pre.transform_records([ok, record])
    assert info.value.status == 422 and info.value.code == "schema_violation"
    detail = info.value.details[0]
    assert (detail["row"], detail["field"], detail["code"]) == (1, field, code)
    assert problem in detail["problem"]


def test_every_problem_is_reported(pre: Preprocessor) -> None:
    with pytest.raises(ValidationError) as info:
        pre.transform_records([{"age": "x", "grade": "Q"}, "not a dict", {"age": 30, "grade": "A"}])
    assert [(d["row"], d["field"]) for d in info.value.details] == [(0, "age"), (0, "grade"), (1, None)]


def test_unknown_features_can_be_ignored(pre: Preprocessor) -> None:
    x = pre.transform_records([{"age": 30, "grade": "A", "zodiac": "leo"}], ignore_unknown=True)
    assert x.shape == (1, pre.n_columns)


@pytest.mark.parametrize(
    ("column", "values", "problem"),
    [
        ("age", ["20", "abc", "30"], "row 1, field 'age': expected a number, got 'abc'"),
        ("age", [20, None, 30], "row 1, field 'age': required, got null"),
        ("age", [20, 30, 500], "row 2, field 'age': 500 is outside the allowed range [18, 100]"),
        ("grade", ["A", "B", "Q"], "row 2, field 'grade': unknown category 'Q'"),
    ],
)
def test_frame_validation_names_row_column_and_value(
    pre: Preprocessor, column: str, values: list, problem: str
) -> None:
    frame = pd.DataFrame({"age": [20, 30, 40], "grade": ["A", "A", "B"]})
    frame[column] = values
    with pytest.raises(ValidationError) as info:
        pre.transform_frame(frame, source="data.csv")
    assert info.value.message.startswith("data.csv: ")
    assert problem in info.value.message


def test_frame_missing_required_column(pre: Preprocessor) -> None:
    with pytest.raises(ValidationError, match=r"row 0, field 'grade': required, got nothing \(field absent\)"):
        pre.transform_frame(pd.DataFrame({"age": [20]}))


def test_frame_missing_nullable_column_is_nan(pre: Preprocessor) -> None:
    x = pre.transform_frame(pd.DataFrame({"age": [20], "grade": ["A"]}))
    assert np.isnan(x[0, 1:4]).all()


def test_whole_number_categories_match_when_pandas_reads_them_as_floats() -> None:
    schema = Schema(features=(CategoricalFeature("code", ("1", "2", "3")),), target=Target("y", "binary", (0, 1), 1))
    # A missing value makes pandas read the codes as 1.0, 2.0, ...; they must still be categories 1, 2, 3.
    frame = pd.DataFrame({"code": [1.0, 2.0, None, 3.0]})
    pre = Preprocessor.fit(frame, schema)
    assert pre.columns == ["code=1", "code=2", "code=3"]
    x = pre.transform_frame(frame)
    np.testing.assert_array_equal(x[[0, 1, 3]], np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(pre.transform_records([{"code": 2}]), x[[1]])


BATCH_EDGE_CASES = {
    "valid": {},
    "null_nullable_number": {"income": None},
    "absent_nullable_number": {"income": "<absent>"},
    "missing_category": {"color": None},
    "unknown_category_is_missing": {"color": "purple"},
    "untrained_known_category": {"color": "green"},
    "integer_category": {"color": 7},
    "numpy_number": {"income": np.float32(2.5)},
    "nan_number": {"income": math.nan},
    "infinite_number": {"income": math.inf},
    "huge_integer": {"income": 10**400},
    "out_of_range": {"age": 101},
    "boolean_number": {"income": True},
    "string_number": {"income": "3"},
    "null_required_number": {"age": None},
    "null_required_category": {"grade": None},
    "unknown_category_is_error": {"grade": "Z"},
    "unknown_field": {"shoe_size": 42},
    "not_an_object": "<list>",
}


def _batch(case: dict[str, object] | str, rows: int) -> list[object]:
    """Return `rows` valid records with the case applied to the middle one."""
    out: list[object] = [
        {"age": 20 + i % 70, "income": float(i) * 1.5, "color": ("red", "blue")[i % 2], "grade": "AB"[i % 2]}
        for i in range(rows)
    ]
    if case == "<list>":
        out[rows // 2] = [1, 2]
    else:
        record = dict(out[rows // 2])  # type: ignore[call-overload]
        for key, value in case.items():  # type: ignore[union-attr]
            if value == "<absent>":
                del record[key]
            else:
                record[key] = value
        out[rows // 2] = record
    return out


def test_float32_max_is_numpys() -> None:
    from model.preprocess import FLOAT32_MAX

    assert float(np.finfo(np.float32).max) == FLOAT32_MAX


def test_rows_without_numpy_are_the_matrix_values(pre: Preprocessor) -> None:
    """`encode_rows` rounded by `float32_rows` gives exactly `transform_records(...).tolist()`, NaN included."""
    from model.preprocess import float32_rows

    records = [
        {"age": 33, "income": 0.1, "color": "red", "grade": "A"},
        {"age": 18.5, "income": None, "color": None, "grade": "B"},
        {"age": 99, "income": 1e30, "color": "green", "grade": "A"},
    ]
    rows = float32_rows(pre.encode_rows(records))
    matrix = pre.transform_records(records).tolist()
    assert len(rows) == len(matrix)
    for got, want in zip(rows, matrix, strict=True):
        assert [("nan" if v != v else v) for v in got] == [("nan" if v != v else v) for v in want]
    assert rows[0][1] == float(np.float32(0.1)) != 0.1  # rounded to float32, as the model reads it


@pytest.mark.parametrize("ignore_unknown", [False, True])
@pytest.mark.parametrize("case", list(BATCH_EDGE_CASES))
def test_batch_path_matches_the_row_loop(
    pre: Preprocessor, monkeypatch: pytest.MonkeyPatch, case: str, ignore_unknown: bool
) -> None:
    # Batches of COLUMNAR_MIN_ROWS or more take the vectorised path; it must give the loop's matrix and errors.
    import model.preprocess as preprocess

    records = _batch(BATCH_EDGE_CASES[case] if case != "not_an_object" else "<list>", 3 * preprocess.COLUMNAR_MIN_ROWS)

    def run() -> np.ndarray | list[dict[str, object]]:
        try:
            return pre.transform_records(records, ignore_unknown=ignore_unknown)
        except ValidationError as exc:
            return exc.details

    batch = run()
    monkeypatch.setattr(preprocess, "COLUMNAR_MIN_ROWS", 10**9)
    loop = run()
    if isinstance(loop, np.ndarray):
        assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.flags.c_contiguous
        np.testing.assert_array_equal(batch, loop)  # NaN in the same cells counts as equal
    else:
        assert batch == loop
