"""The feature schema: what a model expects, read from YAML or inferred from data.

YAML shape (every key but `name` and `type` optional)::

    target: {name: loan_status, task: binary, positive_class: 1}
    features:
      - {name: person_age, type: numeric, min: 18, max: 120, nullable: false}
      - {name: loan_grade, type: categorical, categories: [A, B, C], on_unknown: missing}
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from model.errors import DataError, SchemaError, UserError

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
FEATURE_TYPES = ("numeric", "categorical")
ON_UNKNOWN = ("missing", "error")
ClassValue = int | str


@dataclass(frozen=True)
class NumericFeature:
    """A numeric input column; missing values allowed when `nullable`."""

    name: str
    min: float | None = None
    max: float | None = None
    nullable: bool = True
    type: Literal["numeric"] = "numeric"

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/JSON form, omitting unset bounds."""
        out: dict[str, Any] = {"name": self.name, "type": "numeric", "nullable": self.nullable}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical input column with its known categories (kept as strings)."""

    name: str
    categories: tuple[str, ...]
    nullable: bool = True
    on_unknown: Literal["missing", "error"] = "missing"
    type: Literal["categorical"] = "categorical"

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/JSON form."""
        return {
            "name": self.name,
            "type": "categorical",
            "categories": list(self.categories),
            "nullable": self.nullable,
            "on_unknown": self.on_unknown,
        }


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class Target:
    """The label column, its task and, for classification, its classes.

    For a binary task `classes` is `(negative, positive)`; for multiclass it is sorted.
    """

    name: str
    task: Task
    classes: tuple[ClassValue, ...] = ()
    positive_class: ClassValue | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/JSON form."""
        out: dict[str, Any] = {"name": self.name, "task": self.task}
        if self.task != "regression":
            out["classes"] = list(self.classes)
        if self.task == "binary":
            out["positive_class"] = self.positive_class
        return out


@dataclass(frozen=True)
class Schema:
    """Features in input order plus the target."""

    features: tuple[Feature, ...]
    target: Target
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def feature_names(self) -> list[str]:
        """Return the feature names in schema order."""
        return [f.name for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/JSON form (what the manifest stores)."""
        return {"target": self.target.to_dict(), "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, raw: Any, source: str = "schema") -> Schema:
        """Build a schema from its dict form, raising `SchemaError` naming `source` on any problem."""
        if not isinstance(raw, dict):
            raise SchemaError(f"{source}: expected a mapping with 'target' and 'features'")
        unknown = set(raw) - {"target", "features"}
        if unknown:
            raise SchemaError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
        features_raw = raw.get("features")
        if not isinstance(features_raw, list) or not features_raw:
            raise SchemaError(f"{source}: 'features' must be a non-empty list")
        features = tuple(_feature_from_dict(item, i, source) for i, item in enumerate(features_raw))
        names = [f.name for f in features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError(f"{source}: duplicate feature name(s) {dupes}")
        target = _target_from_dict(raw.get("target"), source)
        if target.name in names:
            raise SchemaError(f"{source}: target {target.name!r} is also listed as a feature")
        return cls(features=features, target=target)


def load_schema(path: str | Path) -> Schema:
    """Read a schema YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"schema file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read schema file {p}: {exc}") from None
    import yaml  # here, not at the top: serving never reads YAML, and PyYAML costs cold-start time

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{p}: not valid YAML ({exc})") from None
    return Schema.from_dict(raw, source=str(p))


def _feature_from_dict(item: Any, index: int, source: str) -> Feature:
    where = f"{source}: features[{index}]"
    if not isinstance(item, dict):
        raise SchemaError(f"{where}: expected a mapping with 'name' and 'type'")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{where}: 'name' must be a non-empty string")
    where = f"{source}: feature {name!r}"
    ftype = item.get("type")
    if ftype not in FEATURE_TYPES:
        raise SchemaError(f"{where}: unknown type {ftype!r} (expected one of {list(FEATURE_TYPES)})")
    nullable = item.get("nullable", True)
    if not isinstance(nullable, bool):
        raise SchemaError(f"{where}: 'nullable' must be true or false, got {nullable!r}")
    if ftype == "numeric":
        _reject_keys(item, {"name", "type", "min", "max", "nullable"}, where)
        lo, hi = (_bound(item.get(k), k, where) for k in ("min", "max"))
        if lo is not None and hi is not None and lo > hi:
            raise SchemaError(f"{where}: min {lo} is greater than max {hi}")
        return NumericFeature(name=name, min=lo, max=hi, nullable=nullable)
    _reject_keys(item, {"name", "type", "categories", "nullable", "on_unknown"}, where)
    cats = item.get("categories")
    if not isinstance(cats, list) or not cats:
        raise SchemaError(f"{where}: 'categories' must be a non-empty list")
    if any(isinstance(c, (bool, dict, list)) or c is None for c in cats):
        raise SchemaError(f"{where}: categories must be strings or numbers")
    categories = tuple(category_text(c) for c in cats)
    if len(set(categories)) != len(categories):
        raise SchemaError(f"{where}: duplicate categories")
    on_unknown = item.get("on_unknown", "missing")
    if on_unknown not in ON_UNKNOWN:
        raise SchemaError(f"{where}: on_unknown must be one of {list(ON_UNKNOWN)}, got {on_unknown!r}")
    return CategoricalFeature(name=name, categories=categories, nullable=nullable, on_unknown=on_unknown)


def _reject_keys(item: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(item) - allowed
    if extra:
        raise SchemaError(f"{where}: unknown key(s) {sorted(extra)}")


def _bound(value: Any, key: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SchemaError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def _target_from_dict(raw: Any, source: str) -> Target:
    if not isinstance(raw, dict):
        raise SchemaError(f"{source}: 'target' must be a mapping with 'name' and 'task'")
    _reject_keys(raw, {"name", "task", "classes", "positive_class"}, f"{source}: target")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{source}: target 'name' must be a non-empty string")
    task = raw.get("task")
    if task not in TASKS:
        raise SchemaError(f"{source}: target task must be one of {list(TASKS)}, got {task!r}")
    classes = tuple(raw.get("classes") or ())
    positive = raw.get("positive_class")
    if isinstance(positive, bool) or any(isinstance(c, bool) for c in classes):
        raise SchemaError(
            f"{source}: target classes must be strings or numbers; YAML reads unquoted yes/no/true/false as "
            "booleans, so quote them (positive_class: 'yes')"
        )
    if task == "binary":
        if classes and len(classes) != 2:
            raise SchemaError(f"{source}: a binary target needs exactly 2 classes, got {list(classes)}")
        if classes and positive is not None:
            if positive not in classes:
                raise SchemaError(f"{source}: positive_class {positive!r} is not one of {list(classes)}")
            classes = (classes[0] if classes[1] == positive else classes[1], positive)
    return Target(name=name, task=task, classes=classes, positive_class=positive)


@dataclass(frozen=True)
class ColumnSummary:
    """What schema inference needs to know of one column, however it was computed (pandas or Dask)."""

    name: str
    kind: Literal["bool", "numeric", "text"]
    nullable: bool
    values: frozenset[str] = frozenset()
    """The distinct category texts of a text column (`category_text` of each non-missing value)."""


def column_kind(dtype: Any) -> Literal["bool", "numeric", "text"]:
    """Return how inference treats a column of this dtype: booleans and numbers apart, anything else as text."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "text"


def summarize_column(series: pd.Series) -> ColumnSummary:
    """Return the `ColumnSummary` of an in-memory column."""
    kind = column_kind(series.dtype)
    values = frozenset(category_text(v) for v in series.dropna().unique()) if kind == "text" else frozenset()
    return ColumnSummary(str(series.name), kind, bool(series.isna().any()), values)


def features_from_summaries(summaries: list[ColumnSummary], target: str, source: str) -> tuple[Feature, ...]:
    """Return the inferred features: numbers numeric, anything else categorical (its values sorted)."""
    features: list[Feature] = []
    for column in summaries:
        if column.kind == "bool":
            features.append(CategoricalFeature(column.name, ("False", "True"), nullable=column.nullable))
        elif column.kind == "numeric":
            features.append(NumericFeature(column.name, nullable=column.nullable))
        else:
            if not column.values:
                raise UserError(f"{source}: column {column.name!r} has no values")
            features.append(CategoricalFeature(column.name, tuple(sorted(column.values)), nullable=column.nullable))
    if not features:
        raise UserError(f"{source}: no feature columns besides the target {target!r}")
    return tuple(features)


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    positive_class: str | None = None,
    task: Task | None = None,
    source: str = "data",
) -> Schema:
    """Infer a schema from a DataFrame: numbers become numeric features, anything else categorical.

    The task is inferred from the target when not given: strings or two distinct numbers are
    classification, other numbers regression. Decisions worth telling the user land in `notes`.
    """
    if target not in frame.columns:
        raise UserError(f"{source}: target column {target!r} not found; columns are {list(frame.columns)}")
    summaries = [summarize_column(frame[col]) for col in frame.columns if col != target]
    features = features_from_summaries(summaries, target, source)
    tgt, notes = infer_target(frame[target], target, positive_class, task, source)
    return Schema(features=features, target=tgt, notes=tuple(notes))


def infer_target(
    series: pd.Series,
    name: str,
    positive_class: str | None,
    task: Task | None,
    source: str,
    positive_origin: str = "--positive-class",
) -> tuple[Target, list[str]]:
    """Infer the target's task and classes; return it with notes on the choices made."""
    import pandas as pd

    values = series.dropna()
    if values.empty:
        raise DataError(f"{source}: target column {name!r} has no values")
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = values.unique()
    if len(distinct) < 2:
        raise DataError(
            f"{source}: target column {name!r} has a single class {class_value(distinct[0])!r}; "
            "there is nothing to learn (a classifier needs at least two classes)"
        )
    notes: list[str] = []
    if task is None:
        task = "binary" if len(distinct) == 2 or not numeric else "regression"
        if not numeric and len(distinct) > 2:
            task = "multiclass"
        notes.append(f"task inferred as {task} from target {name!r}")
    if task == "regression":
        if not numeric:
            raise DataError(f"{source}: regression target {name!r} is not numeric (e.g. {values.iloc[0]!r})")
        return Target(name=name, task="regression"), notes
    classes = sorted(class_value(v) for v in distinct)
    if len(classes) < 2:
        raise DataError(
            f"{source}: target column {name!r} has a single class {classes[0]!r}; a classifier needs at least two"
        )
    if task == "multiclass":
        return Target(name=name, task="multiclass", classes=tuple(classes)), notes
    if len(classes) != 2:
        raise DataError(f"{source}: binary target {name!r} has {len(classes)} classes: {classes[:10]}")
    if positive_class is not None:
        matches = [c for c in classes if str(c) == str(positive_class)]
        if not matches:
            raise UserError(
                f"{source}: {positive_origin} {positive_class!r} is not a value of {name!r} (values: {classes})"
            )
        positive = matches[0]
    elif numeric:
        positive = classes[1]
        notes.append(f"positive class is {positive!r} (the larger value of {name!r})")
    else:
        counts = values.map(class_value).value_counts()
        positive = min(classes, key=lambda c: (counts[c], str(c)))
        notes.append(
            f"positive class is {positive!r}, the rarer class of {name!r} "
            f"({int(counts[positive])} of {len(values)} rows); pass --positive-class to choose"
        )
    negative = classes[0] if classes[1] == positive else classes[1]
    return Target(name=name, task="binary", classes=(negative, positive), positive_class=positive), notes


def category_text(value: Any) -> str:
    """Return the canonical text of a category: integral numbers without a decimal point.

    A column of whole-number codes read with missing values becomes float in pandas (1 -> 1.0); both
    must name the same category, in the schema, in training data and in requests alike.
    """
    if isinstance(value, str):
        return value
    # numbers.Real and not Integral: Python and numpy floats (numpy registers its scalar types as numbers).
    if (
        isinstance(value, numbers.Real)
        and not isinstance(value, numbers.Integral)
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return str(int(float(value)))
    return str(value)


def class_value(value: Any) -> ClassValue:
    """Normalise a label to a JSON-friendly class value: integral numbers to int, others to str."""
    if isinstance(value, (bool,)):
        return str(value)
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        try:
            f = float(value)
        except (TypeError, ValueError):
            return str(value)
        if math.isfinite(f) and f == int(f):
            return int(f)
        return str(value)
    return str(value)


# --- What a value means: one rule per feature type, called by every path that reads values --------------------
#
# Every input path (records one by one, records or columns in a batch, a pandas frame for training, CSV and the
# columnar request formats) reads a value through `coerce_numeric` or `coerce_category`, or through a vectorised
# shortcut that a test pins to them (tests/model/test_values.py). The rules:
#   - missing: None, NaN, or a field that is absent (`ABSENT`); whether that is allowed is the feature's
#     `nullable`, not the rule's;
#   - numeric: an int or float (any `numbers.Real` but bool), as float64, or a string that spells a number literal
#     (CSV's cells, a frame read from CSV, and JSON alike); an int past float64 is infinite, and an infinity is an
#     error; a bool, any other string or a nested value is an error;
#   - categorical: a string as it is; a number as its `category_text` (1.0 and 1 are category "1", as pandas
#     reads whole-number codes); a bool as "True"/"False" (how a bool column is inferred); a string that spells a
#     number and is not itself a category is that number's text (CSV "1.0" is category "1"); a nested value is
#     an error.

_LITERAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
NUMBER_LITERAL = re.compile(_LITERAL)
# A column of number literals (surrounding whitespace allowed) joined by newlines: checked in one regex pass.
NUMBER_LITERALS = re.compile(rf"(?:[ \t]*{_LITERAL}[ \t]*\n)*[ \t]*{_LITERAL}[ \t]*")
# An integer literal with more digits than this is beyond float64 anyway (and Python refuses to parse integers
# over 4300 digits at all): it is read as a float, so it ends as an infinity.
MAX_INT_DIGITS = 300
SHOW_CHARS = 60


class Problem(NamedTuple):
    """Why a value is refused: a stable detail code and the text a client reads."""

    code: str
    text: str


class _Absent:
    """The type of `ABSENT`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""The value of a field a record does not hold (so an error can say "absent" rather than "null")."""


def is_missing(value: Any) -> bool:
    """Return whether `value` is missing: None, `ABSENT` or a NaN."""
    return value is None or value is ABSENT or (type(value) is float and value != value)


def number_literal(text: str) -> int | float | None:
    """Return the number a text cell spells (an int for an integer literal), or None when it spells none."""
    text = text.strip(" \t")
    if not NUMBER_LITERAL.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text) if len(text) <= MAX_INT_DIGITS else float(text)
    return float(text)


def coerce_numeric(value: Any) -> float | Problem | None:
    """Return the float64 a value means for a numeric feature, None when it is missing, or its `Problem`."""
    if value is None or value is ABSENT:
        return None
    if isinstance(value, str):
        number = number_literal(value)
        if number is None:
            return Problem("expected_number", f"expected a number, got {show(value)}")
        value = number
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # numpy's bool is no `numbers.Real`
        return Problem("boolean_not_number", f"expected a number, got {show(value)}")
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float64
            big: Any = value
            number = math.inf if big > 0 else -math.inf
        if number != number:
            return None
        if number in (math.inf, -math.inf):
            return Problem("non_finite_number", f"expected a finite number, got {number!r}")
        return number
    if isinstance(value, (dict, list)):
        return Problem("nested_value", f"expected a number, got {show(value)}")
    return Problem("expected_number", f"expected a number, got {show(value)}")


def coerce_category(value: Any, categories: frozenset[str] | set[str]) -> str | Problem | None:
    """Return the category text a value means for a feature with these categories, None if missing, or a Problem."""
    if type(value) is str:
        text = value
    elif value is None or value is ABSENT:
        return None
    elif isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return "True" if value else "False"
    elif isinstance(value, numbers.Real):
        if value != value:
            return None
        return category_text(value)
    elif isinstance(value, str):
        text = str(value)
    elif isinstance(value, (dict, list)):
        return Problem("nested_value", f"expected a string category, got {show(value)}")
    else:
        return Problem("expected_string", f"expected a string category, got {show(value)}")
    if text in categories:
        return text
    number = number_literal(text)
    return category_text(number) if number is not None and math.isfinite(number) else text


def show(value: Any) -> str:
    """Return a short text for a value in an error message (a long one truncated, a nested one by its kind)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 3] + "..."


def show_name(name: Any) -> str:
    """Return a field name as an error message names it: a long (client-sent) one truncated."""
    text = str(name)
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 3] + "..."
