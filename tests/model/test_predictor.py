"""Predictor: response shapes per task, daal4py == xgboost, records == frame == matrix, threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.errors import UserError, ValidationError
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.conftest import mixed_frame

ROWS = [
    {"x1": 0.3, "x2": 4.0, "color": "red", "size": "M"},
    {"x1": -1.2, "x2": None, "color": None, "size": "S"},
    {"x1": 2.0, "color": "ultraviolet", "size": "XL"},  # x2 absent, unknown colour
]


@pytest.fixture(scope="module")
def predictors(trained: dict[str, tuple[Path, TrainResult]]) -> dict[str, Predictor]:
    return {task: Predictor.load(store.as_uri(), result.name, threads=1) for task, (store, result) in trained.items()}


def test_binary_shape(predictors: dict[str, Predictor]) -> None:
    out = predictors["binary"].predict(ROWS)
    assert len(out) == 3
    for row in out:
        assert set(row) == {"label", "probability"} and row["label"] in ("yes", "no")
        assert 0.0 <= row["probability"] <= 1.0
        assert (row["label"] == "yes") == (row["probability"] >= 0.5)


def test_multiclass_shape(predictors: dict[str, Predictor]) -> None:
    for row in predictors["multiclass"].predict(ROWS):
        assert set(row["probabilities"]) == {"bronze", "gold", "silver"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)


def test_regression_shape(predictors: dict[str, Predictor]) -> None:
    out = predictors["regression"].predict(ROWS)
    assert all(set(r) == {"value"} and isinstance(r["value"], float) for r in out)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_daal4py_matches_xgboost(trained: dict[str, tuple[Path, TrainResult]], task: str) -> None:
    store, _ = trained[task]
    frame = mixed_frame(rows=300, seed=11)
    fast = Predictor.load(store.as_uri(), task, backend="daal4py")
    plain = Predictor.load(store.as_uri(), task, backend="xgboost")
    x = fast.preprocessor.transform_frame(frame)
    scale = max(1.0, float(np.abs(plain.outputs(x)).max())) if task == "regression" else 1.0
    np.testing.assert_allclose(fast.outputs(x), plain.outputs(x), rtol=0, atol=1e-5 * scale)
    assert [r.get("label") for r in fast.predict(frame)] == [r.get("label") for r in plain.predict(frame)]


def test_records_frame_and_matrix_inputs_agree(predictors: dict[str, Predictor]) -> None:
    p = predictors["binary"]
    from_records = p.predict(ROWS)
    from_frame = p.predict(pd.DataFrame(ROWS))
    from_matrix = p.predict(p.preprocessor.transform_records(ROWS))
    assert from_records == from_frame == from_matrix


def test_credit_risk_model_on_generated_rows(
    trained: dict[str, tuple[Path, TrainResult]], credit_frame: pd.DataFrame
) -> None:
    store, _ = trained["credit"]
    p = Predictor.load(store.as_uri(), "credit-risk")
    records = credit_frame.drop(columns="loan_status").head(50).to_dict("records")
    records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in records]
    out = p.predict(records)
    assert {r["label"] for r in out} <= {0, 1} and len(out) == 50


def test_bad_records_raise_validation_errors(predictors: dict[str, Predictor]) -> None:
    with pytest.raises(ValidationError) as info:
        predictors["binary"].predict([{"x1": "abc", "size": "M"}])
    assert info.value.details == [
        {"row": 0, "field": "x1", "problem": "expected a number, got 'abc'", "code": "expected_number"}
    ]


def test_wrong_matrix_shape(predictors: dict[str, Predictor]) -> None:
    with pytest.raises(ValidationError, match="expected an encoded matrix of shape"):
        predictors["binary"].predict(np.zeros((2, 3), dtype=np.float32))


def test_unknown_backend(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    with pytest.raises(UserError, match="unknown backend 'onnx'"):
        Predictor.load(trained["binary"][0].as_uri(), "binary", backend="onnx")
