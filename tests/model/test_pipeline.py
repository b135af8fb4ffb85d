"""The training pipeline end to end: three tasks, the split, the gate, parity, and data errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import bundle as bundle_io
from model.errors import DataError, ModelRejected, UserError
from model.evaluate import gate, thresholds_for
from model.pipeline import TrainResult
from model.store import FileStore
from model.train import split
from tests.conftest import train_into


@pytest.mark.parametrize(
    ("task", "metric_names"),
    [
        ("binary", {"auc", "pr_auc", "logloss", "accuracy", "brier"}),
        ("multiclass", {"logloss", "accuracy", "macro_f1"}),
        ("regression", {"rmse", "mae", "r2"}),
    ],
)
def test_each_task_trains_publishes_and_passes_parity(
    trained: dict[str, tuple[Path, TrainResult]], task: str, metric_names: set[str]
) -> None:
    store, result = trained[task]
    assert set(result.metrics) == metric_names
    assert result.parity.ok and result.parity.rows > 0
    assert result.manifest["task"] == task
    assert bundle_io.resolve_version(FileStore(store), task) == result.version


def test_learned_something(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    assert trained["binary"][1].metrics["auc"] > 0.8
    assert trained["multiclass"][1].metrics["accuracy"] > 0.6
    assert trained["regression"][1].metrics["r2"] > 0.5


def test_binary_string_target_records_the_positive_class(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    target = trained["binary"][1].manifest["schema"]["target"]
    assert target == {"name": "approved", "task": "binary", "classes": ["no", "yes"], "positive_class": "yes"}


def test_split_is_seeded_stratified_and_disjoint() -> None:
    y = np.array([0] * 800 + [1] * 200)
    a, b = split(y, stratify=True, seed=3), split(y, stratify=True, seed=3)
    np.testing.assert_array_equal(a.test, b.test)
    assert not set(a.train) & set(a.test) and not set(a.valid) & set(a.test) and not set(a.train) & set(a.valid)
    assert len(a.train) + len(a.valid) + len(a.test) == 1000
    for part in (a.train, a.valid, a.test):
        assert y[part].mean() == pytest.approx(0.2, abs=0.01)
    assert not np.array_equal(split(y, stratify=True, seed=4).test, a.test)


def test_split_refuses_tiny_data() -> None:
    with pytest.raises(DataError, match="at least 20 labelled rows"):
        split(np.array([0, 1] * 5), stratify=True, seed=0)


def test_gate_is_pure_and_reads_direction() -> None:
    assert gate({"auc": 0.7, "logloss": 0.4}, {"auc": 0.6, "logloss": 0.5}) == []
    assert gate({"auc": 0.55}, {"auc": 0.6}) == ["auc = 0.5500, required >= 0.6"]
    assert gate({"logloss": 0.9}, {"logloss": 0.5}) == ["logloss = 0.9000, required <= 0.5"]
    assert gate({"auc": float("nan")}, {"auc": 0.6}) != []
    with pytest.raises(UserError, match="unknown gate metric 'r2' for a binary task"):
        thresholds_for("binary", {"r2": 0.1})


def test_gate_rejection_publishes_nothing(tmp_path: Path, mixed_csv: Path) -> None:
    with pytest.raises(ModelRejected, match="rejected by the gate: auc = ") as info:
        train_into(tmp_path, name="m", data=str(mixed_csv), target="approved", thresholds={"auc": 0.9999})
    assert info.value.exit_code == 3
    assert bundle_io.list_models(FileStore(tmp_path)) == []


def test_noise_is_rejected_by_the_default_gate(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000), "y": rng.integers(0, 2, 2000)})
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ModelRejected, match=r"auc = 0\.[45]"):
        train_into(tmp_path / "store", name="noise", data=str(path), target="y")


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "message"),
    [
        (pd.DataFrame({"x": range(40), "y": [0, 1] * 20}), {"target": "z"}, UserError, "target column 'z' not found"),
        (pd.DataFrame({"x": range(40), "y": [1] * 40}), {"target": "y"}, DataError, "single class 1"),
        (
            pd.DataFrame({"x": range(40), "y": [0, 1] * 19 + [None, 1]}),
            {"target": "y"},
            DataError,
            "has 1 missing value(s), first at row 38",
        ),
        (pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), {"target": "y"}, DataError, "at least 20 labelled rows"),
        (pd.DataFrame({"x": range(40), "y": [0, 1] * 20}), {}, DataError, "pass --target COLUMN or --schema"),
    ],
)
def test_bad_training_data(tmp_path: Path, frame: pd.DataFrame, kwargs: dict, error: type, message: str) -> None:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(error) as info:
        train_into(tmp_path / "store", data=str(path), **kwargs)
    assert message in info.value.message
    assert str(path) in info.value.message


def test_schema_file_drives_training(tmp_path: Path, mixed_csv: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "target: {name: approved, task: binary, positive_class: 'yes'}\n"
        "features:\n"
        "  - {name: x1, type: numeric, nullable: false}\n"
        "  - {name: color, type: categorical, categories: [red, green, blue]}\n"
    )
    result = train_into(tmp_path / "store", name="s", data=str(mixed_csv), schema_path=str(schema))
    assert [f["name"] for f in result.manifest["schema"]["features"]] == ["x1", "color"]
    assert result.manifest["schema"]["target"]["classes"] == ["no", "yes"]


def test_schema_bounds_are_enforced_on_training_data(tmp_path: Path, mixed_csv: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "target: {name: approved, task: binary}\nfeatures:\n  - {name: x2, type: numeric, min: 0, max: 5}\n"
    )
    with pytest.raises(UserError, match=r"field 'x2': [\d.]+ is outside the allowed range \[0, 5\]"):
        train_into(tmp_path / "store", data=str(mixed_csv), schema_path=str(schema))


@pytest.mark.slow
def test_default_credit_risk_model_is_realistic(tmp_path: Path) -> None:
    result = train_into(tmp_path, params={"num_boost_round": 500, "max_depth": 6, "early_stopping_rounds": 30})
    assert 0.75 <= result.metrics["auc"] <= 0.97
    assert result.parity.max_abs_diff <= 1e-5
    assert result.manifest["training"]["rows"] == 50_000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_boost_round": "abc"}, "num_boost_round must be a whole number >= 1, got 'abc'"),
        ({"num_boost_round": 0}, "num_boost_round must be a whole number >= 1"),
        ({"early_stopping_rounds": 2.5}, "early_stopping_rounds must be a whole number >= 0"),
        ({"max_depth": "deep"}, "XGBoost rejected the training parameters"),
    ],
)
def test_bad_training_params_are_user_errors(tmp_path: Path, mixed_csv: Path, params: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        train_into(tmp_path, data=str(mixed_csv), target="approved", params=params)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_publish_encodes_the_test_rows_through_the_serving_path(
    trained: dict[str, tuple[Path, TrainResult]], task: str
) -> None:
    check = trained[task][1].manifest["parity_serving_encoding"]
    assert check["checked"] and check["matches"] and check["rows"] > 0


def test_serving_encoding_check_refuses_a_disagreement() -> None:
    from model.pipeline import check_serving_encoding
    from model.preprocess import Preprocessor
    from model.schema import CategoricalFeature, NumericFeature, Schema, Target

    schema = Schema(
        features=(NumericFeature("n"), CategoricalFeature("c", ("1", "2"))), target=Target("y", "regression")
    )
    pre = Preprocessor.from_present(schema, {"c": {"1", "2"}})
    records = [{"n": 1.5, "c": 1.0}, {"n": None, "c": "2"}]
    x = pre.transform_records(records)
    assert check_serving_encoding(pre, records, x)["matches"]
    wrong = x.copy()
    wrong[0, 1:] = np.nan  # as a path that read the code 1.0 as an unknown category would have it
    with pytest.raises(ModelRejected, match="test row 0 differently from training"):
        check_serving_encoding(pre, records, wrong)
    with pytest.raises(ModelRejected, match="refuses a test row"):
        check_serving_encoding(pre, [{"n": "many", "c": "1"}], x[:1])
