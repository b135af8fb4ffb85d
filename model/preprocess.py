"""The fitted preprocessing that turns records into the model's float32 matrix, and back into JSON.

Numeric features become one float32 column each (NaN for missing). Categorical features become
one-hot columns, one per category seen in the training split, in schema order; a missing, unknown
or never-trained category is NaN in all of that feature's columns, so XGBoost's learned default
direction handles it. Two paths produce the same matrix: `transform_frame` (vectorised, for files
and batches) and `transform_records` (a plain loop over dicts, for the single-row request path).
"""

from __future__ import annotations

import math
import numbers
from array import array
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, cycle, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from model.errors import SchemaError, ValidationError
from model.schema import CategoricalFeature, Feature, NumericFeature, Schema, category_text

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# numpy is imported where it is used, not here: the SageMaker edge validates and encodes small batches
# (`encode_rows`) without it, and importing numpy is a fifth of that Lambda's cold-start budget.

FORMAT_VERSION = 1
MAX_DETAILS = 50
NAN = float("nan")
# From this many records on, `transform_records` encodes a whole batch with a few numpy calls (see
# `_transform_columns`); below it, the per-row loop is faster. Both give the same matrix.
COLUMNAR_MIN_ROWS = 16
_NUMBER_TYPES = frozenset({int, float, type(None)})
_CATEGORY_TYPES = frozenset({str, type(None)})
# The encoded matrix is float32: numeric bounds never reach past its range (a larger value would become inf).
FLOAT32_MAX = 3.4028234663852886e38  # float(np.finfo(np.float32).max), checked in the tests


@dataclass(frozen=True)
class _Slot:
    """Where one feature lands in the output row, compiled once for the records loop."""

    name: str
    numeric: bool
    column: int
    lo: float
    hi: float
    nullable: bool
    columns: dict[str, int]
    all_columns: tuple[int, ...]
    known: frozenset[str]
    unknown_is_error: bool


@dataclass(frozen=True)
class _Columnar:
    """The features grouped by kind, compiled once, for `Preprocessor._transform_columns`."""

    numeric_names: tuple[str, ...]
    numeric_columns: np.ndarray
    numeric_required: np.ndarray
    numeric_lo: np.ndarray
    numeric_hi: np.ndarray
    categorical_names: tuple[str, ...]
    categorical_required: tuple[int, ...]
    # (position, trained categories -> column, values that are no error) of each `on_unknown: error` feature
    categorical_checked: tuple[tuple[int, dict[str, int], frozenset[str | None]], ...]
    lookups: tuple[dict[str, int], ...]
    blocks: tuple[tuple[int, int], ...]
    one_hot_columns: np.ndarray

    @classmethod
    def of(cls, slots: list[_Slot]) -> _Columnar:
        """Group `slots` by kind."""
        import numpy as np

        numeric = [s for s in slots if s.numeric]
        categorical = [s for s in slots if not s.numeric]
        return cls(
            numeric_names=tuple(s.name for s in numeric),
            numeric_columns=np.array([s.column for s in numeric], dtype=np.intp),
            numeric_required=np.array([not s.nullable for s in numeric], dtype=bool),
            numeric_lo=np.array([s.lo for s in numeric], dtype=np.float64),
            numeric_hi=np.array([s.hi for s in numeric], dtype=np.float64),
            categorical_names=tuple(s.name for s in categorical),
            categorical_required=tuple(j for j, s in enumerate(categorical) if not s.nullable),
            categorical_checked=tuple(
                (j, s.columns, s.known | {None}) for j, s in enumerate(categorical) if s.unknown_is_error
            ),
            lookups=tuple(s.columns for s in categorical),
            # A feature's one-hot columns are consecutive; an empty block (no trained category) is (c, c).
            blocks=tuple((s.all_columns[0], s.all_columns[-1] + 1) if s.all_columns else (0, 0) for s in categorical),
            one_hot_columns=np.array([c for s in categorical for c in s.all_columns], dtype=np.intp),
        )


class Preprocessor:
    """Validates records against the schema's features and encodes them as a float32 matrix."""

    def __init__(self, features: tuple[Feature, ...], trained_categories: dict[str, list[str]]) -> None:
        self.features = features
        self.trained_categories = trained_categories
        self.columns: list[str] = []
        self._slots: list[_Slot] = []
        for feature in features:
            if isinstance(feature, NumericFeature):
                self._slots.append(
                    _Slot(
                        feature.name,
                        True,
                        len(self.columns),
                        -FLOAT32_MAX if feature.min is None else max(feature.min, -FLOAT32_MAX),
                        FLOAT32_MAX if feature.max is None else min(feature.max, FLOAT32_MAX),
                        feature.nullable,
                        {},
                        (),
                        frozenset(),
                        False,
                    )
                )
                self.columns.append(feature.name)
            else:
                cats = trained_categories.get(feature.name, [])
                columns = {cat: len(self.columns) + i for i, cat in enumerate(cats)}
                self._slots.append(
                    _Slot(
                        feature.name,
                        False,
                        -1,
                        0.0,
                        0.0,
                        feature.nullable,
                        columns,
                        tuple(columns.values()),
                        frozenset(feature.categories),
                        feature.on_unknown == "error",
                    )
                )
                self.columns.extend(f"{feature.name}={cat}" for cat in cats)
        self._names = frozenset(f.name for f in features)
        self._template = [0.0] * len(self.columns)

    @cached_property
    def _columnar(self) -> _Columnar:
        return _Columnar.of(self._slots)

    def feature_columns(self) -> list[tuple[str, tuple[int, ...]]]:
        """Return each feature with the encoded columns it owns (one for numeric, its one-hots for categorical)."""
        return [(s.name, (s.column,) if s.numeric else s.all_columns) for s in self._slots]

    @property
    def n_columns(self) -> int:
        """Return the width of the encoded matrix."""
        return len(self.columns)

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema) -> Preprocessor:
        """Fit on the training split: record which categories each categorical feature shows there."""
        present = {
            feature.name: set(category_texts(frame[feature.name].dropna())) if feature.name in frame else set()
            for feature in schema.features
            if isinstance(feature, CategoricalFeature)
        }
        return cls.from_present(schema, present)

    @classmethod
    def from_present(cls, schema: Schema, present: dict[str, set[str]]) -> Preprocessor:
        """Build from the category texts each categorical feature shows in the training split, however counted.

        `fit` counts them in one pandas frame; the Dask engine counts them across a cluster. Both end here,
        so the encoded columns are the schema's categories, in schema order, that training actually saw.
        """
        trained = {
            feature.name: [c for c in feature.categories if c in present.get(feature.name, set())]
            for feature in schema.features
            if isinstance(feature, CategoricalFeature)
        }
        return cls(schema.features, trained)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored as `preprocessor.json`."""
        return {
            "format_version": FORMAT_VERSION,
            "features": [f.to_dict() for f in self.features],
            "trained_categories": self.trained_categories,
            "columns": self.columns,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Preprocessor:
        """Rebuild from `to_dict` output, checking that the stored column order still matches."""
        if raw.get("format_version") != FORMAT_VERSION:
            raise SchemaError(f"preprocessor.json: unsupported format_version {raw.get('format_version')!r}")
        schema = Schema.from_dict(
            {"target": {"name": "\0target", "task": "regression"}, "features": raw["features"]},
            source="preprocessor.json",
        )
        pre = cls(schema.features, {k: list(v) for k, v in raw["trained_categories"].items()})
        if pre.columns != raw["columns"]:
            raise SchemaError("preprocessor.json: stored columns do not match the features")
        return pre

    def transform_records(self, records: list[Any], ignore_unknown: bool = False) -> np.ndarray:
        """Validate and encode a list of dicts; raise `ValidationError` listing every row/field problem."""
        import numpy as np

        if len(records) >= COLUMNAR_MIN_ROWS:
            encoded = self._transform_columns(records, ignore_unknown)
            if encoded is not None:
                return encoded
        rows = self.encode_rows(records, ignore_unknown)
        return np.array(rows, dtype=np.float32).reshape(len(rows), len(self.columns))

    def encode_rows(self, records: list[Any], ignore_unknown: bool = False) -> list[list[float]]:
        """Validate and encode a list of dicts row by row, without numpy: the rows as lists of Python floats.

        The values are those of `transform_records` before its float32 rounding (see `float32_rows`).
        """
        rows: list[list[float]] = []
        problems: list[dict[str, Any]] = []
        names = self._names
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                problems.append(_problem(i, None, f"expected an object, got {_kind(record)}", "row_not_object"))
                continue
            row = self._template.copy()
            for slot in self._slots:
                value = record.get(slot.name)
                if slot.numeric:
                    if value is None:
                        if slot.nullable:
                            row[slot.column] = NAN
                        else:
                            problems.append(
                                _problem(
                                    i, slot.name, "required, got " + _missing(record, slot.name), "missing_required"
                                )
                            )
                    elif type(value) is float or type(value) is int or _is_number(value):
                        try:
                            value = float(value)
                        except OverflowError:  # an int beyond float64
                            value = math.inf if value > 0 else -math.inf
                        if value != value or value in (math.inf, -math.inf):
                            problems.append(
                                _problem(i, slot.name, f"expected a finite number, got {value!r}", "non_finite_number")
                            )
                        elif value < slot.lo or value > slot.hi:
                            problems.append(_problem(i, slot.name, _range(value, slot), "out_of_range"))
                        else:
                            row[slot.column] = value
                    else:
                        problems.append(
                            _problem(
                                i, slot.name, f"expected a number, got {_show(value)}", _type_code(value, "number")
                            )
                        )
                    continue
                if value is None:
                    if not slot.nullable:
                        problems.append(
                            _problem(i, slot.name, "required, got " + _missing(record, slot.name), "missing_required")
                        )
                    for col in slot.all_columns:
                        row[col] = NAN
                    continue
                if type(value) is not str:
                    if type(value) is int:
                        value = str(value)
                    else:
                        problems.append(
                            _problem(
                                i,
                                slot.name,
                                f"expected a string category, got {_show(value)}",
                                _type_code(value, "string"),
                            )
                        )
                        continue
                hit = slot.columns.get(value)
                if hit is not None:
                    row[hit] = 1.0
                    continue
                if slot.unknown_is_error and value not in slot.known:
                    problems.append(_problem(i, slot.name, f"unknown category {value!r}", "unknown_category"))
                for col in slot.all_columns:
                    row[col] = NAN
            if not ignore_unknown and not names.issuperset(record):
                problems.extend(
                    _problem(i, str(key), "unknown feature", "unknown_feature") for key in record if key not in names
                )
            rows.append(row)
            if len(problems) >= MAX_DETAILS:
                break
        if problems:
            raise ValidationError(_summary(problems), details=problems[:MAX_DETAILS])
        return rows

    def _transform_columns(self, records: list[Any], ignore_unknown: bool) -> np.ndarray | None:
        """Encode a batch a few numpy calls per kind of feature; return None if any value needs the per-row loop.

        Only the plain case is taken here: every record an exact dict holding every feature, numbers exact
        ints or floats within range, categories exact strings, no missing required value and (unless ignored)
        no unknown field. Anything else, valid or not, returns None, and `transform_records` runs its loop,
        which encodes the same way and reports every problem: both paths give the same matrix and errors.
        """
        import numpy as np

        n = len(records)
        if set(map(type, records)) != {dict}:
            return None
        cols = self._columnar
        try:
            numbers = _gather(records, cols.numeric_names)
            categories = _gather(records, cols.categorical_names)
        except KeyError:  # an absent field: the loop reads it as missing
            return None
        if not ignore_unknown and set(map(len, records)) != {len(self._names)}:
            # Every feature is present, so a record with more keys than features has an unknown one.
            return None
        out = np.empty((n, len(self.columns)), dtype=np.float32)
        if numbers:
            if not set(map(type, numbers)) <= _NUMBER_TYPES:
                return None
            try:
                matrix = np.array(numbers, dtype=np.float64).reshape(n, len(cols.numeric_names))  # None -> NaN
            except OverflowError:  # an int beyond float64
                return None
            missing = np.isnan(matrix)
            # A NaN that was not a None is a NaN value; a None in a required feature is an error.
            if np.count_nonzero(missing) != numbers.count(None) or missing[:, cols.numeric_required].any():
                return None
            if ((matrix < cols.numeric_lo) | (matrix > cols.numeric_hi)).any():  # infinities included
                return None
            out[:, cols.numeric_columns] = matrix
        if categories:
            if not set(map(type, categories)) <= _CATEGORY_TYPES:
                return None
            k = len(cols.categorical_names)
            if categories.count(None) and any(None in categories[j::k] for j in cols.categorical_required):
                return None
            for j, lookup, known in cols.categorical_checked:
                if not set(categories[j::k]).difference(lookup) <= known:
                    return None
            codes = np.fromiter(
                map(dict.get, cycle(cols.lookups), categories, repeat(-1)), dtype=np.intp, count=n * k
            ).reshape(n, k)
            hit = codes >= 0
            out[:, cols.one_hot_columns] = 0.0
            out[np.nonzero(hit)[0], codes[hit]] = 1.0
            if not hit.all():
                for feature in np.flatnonzero(~hit.all(axis=0)).tolist():
                    first, last = cols.blocks[feature]
                    out[~hit[:, feature], first:last] = NAN
        return out

    def transform_frame(self, frame: pd.DataFrame, source: str | None = None) -> np.ndarray:
        """Validate and encode a DataFrame (vectorised); raise `ValidationError` naming column, row and value."""
        import numpy as np
        import pandas as pd

        out = np.zeros((len(frame), len(self.columns)), dtype=np.float32)
        problems: list[dict[str, Any]] = []
        for slot in self._slots:
            if slot.name not in frame.columns:
                if not slot.nullable:
                    problems.append(_problem(None, slot.name, "required column is missing", "missing_required"))
                elif slot.numeric:
                    out[:, slot.column] = np.nan
                else:
                    out[:, list(slot.all_columns)] = np.nan
                continue
            series = frame[slot.name]
            missing = series.isna().to_numpy()
            if missing.any() and not slot.nullable:
                problems.append(
                    _problem(int(np.argmax(missing)), slot.name, "required, got a missing value", "missing_required")
                )
            if slot.numeric:
                if pd.api.types.is_bool_dtype(series):
                    problems.append(
                        _problem(0, slot.name, f"expected a number, got {_show(series.iloc[0])}", "boolean_not_number")
                    )
                    continue
                numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                bad = np.isnan(numbers) & ~missing
                if bad.any():
                    row = int(np.argmax(bad))
                    problems.append(
                        _problem(row, slot.name, f"expected a number, got {_show(series.iloc[row])}", "expected_number")
                    )
                    continue
                with np.errstate(invalid="ignore"):
                    out_of_range = ~np.isnan(numbers) & ((numbers < slot.lo) | (numbers > slot.hi))
                    out_of_range |= np.isinf(numbers)
                if out_of_range.any():
                    row = int(np.argmax(out_of_range))
                    problems.append(_problem(row, slot.name, _range(numbers[row], slot), "out_of_range"))
                    continue
                out[:, slot.column] = numbers
                continue
            text = category_texts(series)
            encoded = np.zeros((len(frame), len(slot.all_columns)), dtype=np.float32)
            known = np.zeros(len(frame), dtype=bool)
            for j, cat in enumerate(slot.columns):
                hit = text == cat
                encoded[hit, j] = 1.0
                known |= hit
            unknown = ~known & ~missing
            if slot.unknown_is_error and unknown.any():
                unseen = unknown & ~np.isin(text, list(slot.known))
                if unseen.any():
                    row = int(np.argmax(unseen))
                    problems.append(_problem(row, slot.name, f"unknown category {text[row]!r}", "unknown_category"))
                    continue
            encoded[~known] = np.nan
            out[:, list(slot.all_columns)] = encoded
        if problems:
            prefix = f"{source}: " if source else ""
            raise ValidationError(prefix + _summary(problems), details=problems)
        return out


# pandas' inferred kinds of an object column whose equal values all have the same category text: `unique`
# and `factorize` merge equal values (True == 1), which is harmless only when bools do not mix with numbers.
_FACTORIZABLE_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "boolean", "empty"})


def category_texts(series: pd.Series) -> np.ndarray:
    """Return `category_text` of every value as an object array, missing values left as they are.

    Each distinct value is converted once (a million-row column has a handful of categories), except in
    an object column mixing bools with numbers, where every value is converted on its own.
    """
    import numpy as np
    import pandas as pd

    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _FACTORIZABLE_KINDS:
        return series.map(category_text, na_action="ignore").to_numpy(dtype=object)
    codes, uniques = pd.factorize(series)  # a missing value gets code -1
    texts = np.array([*(category_text(u) for u in uniques), np.nan], dtype=object)
    return texts[codes]


def _gather(records: list[dict[str, Any]], names: tuple[str, ...]) -> list[Any]:
    """Return the named fields of every record, row after row, in one flat list; KeyError if one is absent."""
    if not names:
        return []
    if len(names) == 1:
        return list(map(itemgetter(names[0]), records))
    return list(chain.from_iterable(map(itemgetter(*names), records)))


def float32_rows(rows: list[list[float]]) -> list[list[float]]:
    """Return the rows rounded to float32 as Python floats: what `transform_records(...).tolist()` gives."""
    return [array("f", row).tolist() for row in rows]


def _is_number(value: Any) -> bool:
    """Return whether `value` is a real number and not a boolean (numpy's scalars are registered as numbers)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _problem(row: int | None, field: str | None, problem: str, code: str) -> dict[str, Any]:
    return {"row": row, "field": field, "problem": problem, "code": code}


def _type_code(value: Any, expected: str) -> str:
    """Return the detail code for a value of the wrong JSON type."""
    if isinstance(value, bool):
        return f"boolean_not_{expected}"
    if isinstance(value, (dict, list)):
        return "nested_value"
    return f"expected_{expected}"


def _summary(problems: list[dict[str, Any]]) -> str:
    first = problems[0]
    where = f"row {first['row']}, " if first["row"] is not None else ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    field = f"field {first['field']!r}: " if first["field"] else ""
    return f"{where}{field}{first['problem']}{more}"


def _range(value: float, slot: _Slot) -> str:
    return f"{float(value):g} is outside the allowed range [{slot.lo:g}, {slot.hi:g}]"


def _missing(record: dict[str, Any], name: str) -> str:
    return "null" if name in record else "nothing (field absent)"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _kind(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
