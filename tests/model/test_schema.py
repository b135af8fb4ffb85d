"""Schema: YAML round trips, inference, and every kind of invalid schema file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from model.errors import DataError, SchemaError, UserError
from model.schema import CategoricalFeature, NumericFeature, Schema, infer_schema, load_schema

GOOD = {
    "target": {"name": "y", "task": "binary", "classes": ["no", "yes"], "positive_class": "yes"},
    "features": [
        {"name": "age", "type": "numeric", "min": 18, "max": 120, "nullable": False},
        {"name": "color", "type": "categorical", "categories": ["red", "blue"], "on_unknown": "error"},
    ],
}


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    schema = load_schema(path)
    assert schema.features[0] == NumericFeature("age", min=18.0, max=120.0, nullable=False)
    assert schema.features[1] == CategoricalFeature("color", ("red", "blue"), on_unknown="error")
    assert schema.target.classes == ("no", "yes")
    assert Schema.from_dict(schema.to_dict()) == schema


def test_positive_class_orders_binary_classes() -> None:
    raw = {**GOOD, "target": {"name": "y", "task": "binary", "classes": ["yes", "no"], "positive_class": "yes"}}
    assert Schema.from_dict(raw).target.classes == ("no", "yes")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s["features"][0].update(type="text"), "unknown type 'text'"),
        (lambda s: s["features"][0].update(min=200), "min 200.0 is greater than max"),
        (lambda s: s["features"][0].update(nullable="yes"), "'nullable' must be true or false"),
        (lambda s: s["features"][0].update(colour=1), "unknown key(s) ['colour']"),
        (lambda s: s["features"][1].update(categories=[]), "'categories' must be a non-empty list"),
        (lambda s: s["features"][1].update(categories=["a", "a"]), "duplicate categories"),
        (lambda s: s["features"][1].update(on_unknown="drop"), "on_unknown must be one of"),
        (lambda s: s["features"].append({"name": "age", "type": "numeric"}), "duplicate feature name(s) ['age']"),
        (lambda s: s["target"].update(task="ranking"), "target task must be one of"),
        (lambda s: s["target"].update(positive_class="maybe"), "positive_class 'maybe' is not one of"),
        (lambda s: s.update(features=[]), "'features' must be a non-empty list"),
        (lambda s: s.update(extra=1), "unknown top-level key(s) ['extra']"),
        (lambda s: s["features"].append({"name": "y", "type": "numeric"}), "target 'y' is also listed as a feature"),
    ],
)
def test_invalid_schema_is_rejected_with_a_reason(tmp_path: Path, mutate, message: str) -> None:
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert message in info.value.message
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [("features: [unclosed", SchemaError, "not valid YAML"), ("- just a list", SchemaError, "expected a mapping")],
)
def test_unparseable_schema_files(tmp_path: Path, text: str, error: type, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(error, match=message):
        load_schema(path)


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="schema file not found"):
        load_schema(tmp_path / "nope.yaml")


def test_infer_types_nullability_and_rarer_positive_class() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.0, None, 3.0, 4.0],
            "i": [1, 2, 3, 4],
            "s": ["a", "b", None, "a"],
            "flag": [True, False, True, True],
            "y": ["bad", "good", "good", "good"],
        }
    )
    schema = infer_schema(frame, "y")
    kinds = {f.name: (f.type, f.nullable) for f in schema.features}
    assert kinds == {
        "n": ("numeric", True),
        "i": ("numeric", False),
        "s": ("categorical", True),
        "flag": ("categorical", False),
    }
    assert schema.target.task == "binary"
    assert schema.target.classes == ("good", "bad")
    assert any("rarer class" in note for note in schema.notes)


@pytest.mark.parametrize(
    ("y", "task", "classes"),
    [
        ([0, 1, 1, 0], "binary", (0, 1)),
        ([0.5, 1.5, 2.25, 3.0], "regression", ()),
        (["a", "b", "c", "a"], "multiclass", ("a", "b", "c")),
    ],
)
def test_infer_task(y: list, task: str, classes: tuple) -> None:
    schema = infer_schema(pd.DataFrame({"x": [1, 2, 3, 4], "y": y}), "y")
    assert (schema.target.task, schema.target.classes) == (task, classes)


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "message"),
    [
        (pd.DataFrame({"x": [1, 2], "y": [1, 1]}), {}, DataError, "single class 1"),
        (pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), {"positive_class": "c"}, UserError, "'c' is not a value"),
        (pd.DataFrame({"x": [1, 2], "y": [0, 1]}), {"target": "z"}, UserError, "target column 'z' not found"),
        (pd.DataFrame({"y": [0, 1]}), {}, UserError, "no feature columns"),
        (pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), {"task": "regression"}, DataError, "is not numeric"),
    ],
)
def test_infer_rejects(frame: pd.DataFrame, kwargs: dict, error: type, message: str) -> None:
    target = kwargs.pop("target", "y")
    with pytest.raises(error, match=message):
        infer_schema(frame, target, **kwargs)


@pytest.mark.parametrize(
    "target",
    [
        {"name": "y", "task": "binary", "positive_class": True},
        {"name": "y", "task": "binary", "classes": [False, True]},
    ],
)
def test_yaml_booleans_as_classes_ask_for_quotes(target: dict) -> None:
    with pytest.raises(SchemaError, match="quote them"):
        Schema.from_dict({"target": target, "features": [{"name": "x", "type": "numeric"}]})
