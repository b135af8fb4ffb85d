"""The fitted preprocessing that turns records into the model's float32 matrix, and back into JSON.

Numeric features become one float32 column each (NaN for missing). Categorical features become
one-hot columns, one per category seen in the training split, in schema order; a missing, unknown
or never-trained category is NaN in all of that feature's columns, so XGBoost's learned default
direction handles it.

What a value means is decided once, in `model.schema.coerce_numeric` and `coerce_category`. Two
paths apply those rules and give the same matrix and the same error details: a plain loop over dicts
(`encode_rows`, for a few records, without numpy) and a column-wise encoder (`transform_columns`)
that reads whole columns with a few numpy calls and calls the rules only for the values its shortcuts
do not cover. Records in a batch, a pandas frame (training), CSV and the columnar request formats all
reach the column-wise encoder; `transform` picks the path for what it is given.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from model.errors import SchemaError, ValidationError
from model.schema import (
    ABSENT,
    NUMBER_LITERALS,
    CategoricalFeature,
    Feature,
    NumericFeature,
    Problem,
    Schema,
    category_text,
    coerce_category,
    coerce_numeric,
    show,
    show_name,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# numpy is imported where it is used, not here: the SageMaker edge validates and encodes small batches
# (`encode_rows`) without it, and importing numpy is a fifth of that Lambda's cold-start budget.

FORMAT_VERSION = 1
MAX_DETAILS = 50
NAN = float("nan")
# From this many records on, `transform_records` encodes a batch column-wise (a few numpy calls per column);
# below it, the per-row loop is faster. Both give the same matrix and errors.
COLUMNAR_MIN_ROWS = 16
_NUMBER_TYPES = frozenset({int, float, type(None)})
# The encoded matrix is float32: numeric bounds never reach past its range (a larger value would become inf).
FLOAT32_MAX = 3.4028234663852886e38  # float(np.finfo(np.float32).max), checked in the tests


@dataclass(frozen=True)
class _Slot:
    """Where one feature lands in the output row, compiled once."""

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

    @property
    def block(self) -> tuple[int, int]:
        """Return the [first, last) encoded columns of a categorical feature (consecutive; empty if untrained)."""
        return (self.all_columns[0], self.all_columns[-1] + 1) if self.all_columns else (0, 0)


@dataclass(frozen=True)
class Factorized:
    """A column as codes into its distinct values (-1 for a missing value): how frames and Arrow hold categories.

    The rules then run once per distinct value rather than once per row.
    """

    codes: np.ndarray
    uniques: list[Any]


if TYPE_CHECKING:
    Column = Sequence[Any] | np.ndarray | Factorized  # a list of values, a numpy array, or codes and distinct values
    _Found = tuple[int, int, dict[str, Any]]  # (row, position in the row, detail): they sort into the loop's order
    _Numeric = tuple[int, _Slot, Sequence[Any] | np.ndarray, np.ndarray]  # position, slot, values, float64 reading


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
        self._order = tuple(s.name for s in self._slots)
        self._template = [0.0] * len(self.columns)
        self._onehot: dict[int, np.ndarray] = {}

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
        trained = {}
        for feature in schema.features:
            if isinstance(feature, CategoricalFeature):
                known = frozenset(feature.categories)
                # The texts as serving reads them (a "1.0" counted in the data is category "1" where that is one).
                seen = {coerce_category(text, known) for text in present.get(feature.name, set())}
                trained[feature.name] = [c for c in feature.categories if c in seen]
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

    def transform(self, data: Any, ignore_unknown: bool = False, source: str | None = None) -> np.ndarray:
        """Validate and encode records (a list of dicts), columns (a mapping of name to values) or a DataFrame.

        The one entry point: it picks the path for what it is given; every path gives the same matrix and
        raises the same `ValidationError` details for the same values.
        """
        if isinstance(data, list):
            return self.transform_records(data, ignore_unknown)
        if isinstance(data, Mapping):
            n = _column_length(next(iter(data.values()))) if data else 0
            return self.transform_columns(data, n, ignore_unknown, source)
        return self.transform_frame(data, source)  # a frame's other columns (its target, an id) are no features

    def transform_records(self, records: list[Any], ignore_unknown: bool = False) -> np.ndarray:
        """Validate and encode a list of dicts; raise `ValidationError` listing every row/field problem."""
        import numpy as np

        if len(records) >= COLUMNAR_MIN_ROWS and set(map(type, records)) == {dict}:
            columns, unknown = self._record_columns(records, ignore_unknown)
            return self._encode_columns(columns, len(records), unknown, None)
        rows = self.encode_rows(records, ignore_unknown)
        return np.array(rows, dtype=np.float32).reshape(len(rows), len(self.columns))

    def transform_columns(
        self, columns: Mapping[str, Column], n_rows: int, ignore_unknown: bool = False, source: str | None = None
    ) -> np.ndarray:
        """Validate and encode columns (every one `n_rows` long); a column not in the schema is unknown in every row."""
        import numpy as np

        if n_rows < COLUMNAR_MIN_ROWS:  # a few rows: the loop is faster than a few numpy calls per column
            lists = {name: _values(column) for name, column in columns.items()}
            # A column is in every row: only a feature's cell can be absent (an unknown column is unknown throughout).
            features = self._names
            records = [
                {name: v[i] for name, v in lists.items() if v[i] is not ABSENT or name not in features}
                for i in range(n_rows)
            ]
            try:
                rows = self.encode_rows(records, ignore_unknown)
            except ValidationError as exc:
                if not source:
                    raise
                raise ValidationError(f"{source}: {exc.message}", details=exc.details) from None
            return np.array(rows, dtype=np.float32).reshape(n_rows, len(self.columns))
        unknown: list[_Found] = []
        if not ignore_unknown:
            extra = [name for name in columns if name not in self._names]
            base = len(self._slots)
            unknown = [
                (i, base + k, _problem(i, show_name(name), "unknown feature", "unknown_feature"))
                for i in range(min(n_rows, MAX_DETAILS))
                for k, name in enumerate(extra)
            ]
        return self._encode_columns(columns, n_rows, unknown, source)

    def transform_frame(
        self, frame: pd.DataFrame, source: str | None = None, ignore_unknown: bool = True
    ) -> np.ndarray:
        """Validate and encode a DataFrame column-wise; raise `ValidationError` naming row, column and value.

        Other columns (the target, an id) are ignored unless `ignore_unknown` is False. A frame cannot tell a
        missing cell from an absent field: both are missing values.
        """
        return self.transform_columns(_frame_columns(frame, self._slots), len(frame), ignore_unknown, source)

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
                value = record.get(slot.name, ABSENT)
                if slot.numeric:
                    # The common case inline; anything else through the rule (`_number_cell`).
                    if type(value) is float or type(value) is int:
                        try:
                            number = float(value)
                        except OverflowError:
                            number = NAN
                        if slot.lo <= number <= slot.hi:
                            row[slot.column] = number
                            continue
                    cell = _number_cell(slot, value)
                    if isinstance(cell, Problem):
                        problems.append(_problem(i, slot.name, cell.text, cell.code))
                    else:
                        row[slot.column] = cell
                    continue
                if type(value) is str:
                    hit = slot.columns.get(value)
                    if hit is not None:
                        row[hit] = 1.0
                        continue
                code = _category_cell(slot, value)
                if isinstance(code, Problem):
                    problems.append(_problem(i, slot.name, code.text, code.code))
                elif code >= 0:
                    row[code] = 1.0
                else:
                    for col in slot.all_columns:
                        row[col] = NAN
            if not ignore_unknown and not names.issuperset(record):
                problems.extend(
                    _problem(i, show_name(key), "unknown feature", "unknown_feature")
                    for key in record
                    if key not in names
                )
            rows.append(row)
            if len(problems) >= MAX_DETAILS:
                break
        if problems:
            raise ValidationError(_summary(problems), details=problems[:MAX_DETAILS])
        return rows

    def _record_columns(
        self, records: list[dict[str, Any]], ignore_unknown: bool
    ) -> tuple[dict[str, Column], list[_Found]]:
        """Return the records' values per feature (`ABSENT` where a record lacks one) and their unknown fields."""
        order = self._order
        k = len(order)
        try:
            flat = _gather(records, order)
            columns: dict[str, Column] = {name: flat[j::k] for j, name in enumerate(order)}
            complete = True
        except KeyError:  # a record lacks a feature
            columns = {name: [r.get(name, ABSENT) for r in records] for name in order}
            complete = False
        unknown: list[_Found] = []
        # With every feature present, a record as long as the feature list holds nothing else.
        if not ignore_unknown and not (complete and set(map(len, records)) == {k}):
            names = self._names
            for i, record in enumerate(records):
                if not names.issuperset(record):
                    unknown.extend(
                        (i, k + p, _problem(i, show_name(key), "unknown feature", "unknown_feature"))
                        for p, key in enumerate(record)
                        if key not in names
                    )
                    if len(unknown) >= MAX_DETAILS:
                        break
        return columns, unknown

    def _encode_columns(
        self, columns: Mapping[str, Column], n: int, unknown: list[_Found], source: str | None
    ) -> np.ndarray:
        """Encode columns of `n` values each; raise `ValidationError` with the loop's details in the loop's order."""
        import numpy as np

        out = np.empty((n, len(self.columns)), dtype=np.float32)
        found: list[_Found] = []
        # A refused value may not fit float32; the matrix is then never returned. The numeric checks' sums may
        # overflow (and +inf plus -inf is NaN): a column whose sum is not finite is looked at cell by cell anyway.
        with np.errstate(over="ignore", invalid="ignore"):
            self._fill(out, columns, n, found)
        if found or unknown:
            problems = [detail for _, _, detail in sorted(found + unknown, key=lambda f: (f[0], f[1]))][:MAX_DETAILS]
            prefix = f"{source}: " if source else ""
            raise ValidationError(prefix + _summary(problems), details=problems)
        return out

    def _fill(self, out: np.ndarray, columns: Mapping[str, Column], n: int, found: list[_Found]) -> None:
        """Write every feature's encoded columns into `out`, adding refused cells to `found`."""
        import numpy as np

        numeric: list[_Numeric] = []
        for position, slot in enumerate(self._slots):
            column = columns.get(slot.name)
            if slot.numeric:
                # Read now, checked below, all numeric columns at once (None: read and checked cell by cell).
                column, values = _numeric_values(slot, position, column, n, found)
                if values is None:
                    out[:, slot.column] = _numeric_cells(slot, position, column, found)
                else:
                    numeric.append((position, slot, column, values))
                continue
            first, last = slot.block
            codes = _category_column(slot, position, column, n, found)
            if first == last:
                continue
            table = self._onehot.get(position)
            if table is None:
                # Row c is the one-hot of column `first + c`; the last row (code -1) is NaN in all of them.
                table = np.vstack([np.eye(last - first, dtype=np.float32), np.full((1, last - first), NAN, np.float32)])
                self._onehot[position] = table
            # Codes are encoded columns (`first + c`), -1 for all-NaN: one take of the table fills the block.
            codes -= first
            codes[codes < 0] = last - first
            out[:, first:last] = table.take(codes, axis=0)
        if numeric:
            block = np.stack([values for _, _, _, values in numeric])
            _check_numeric(block, numeric, found)
            out[:, [slot.column for _, slot, _, _ in numeric]] = block.T


def _number_cell(slot: _Slot, value: Any) -> float | Problem:
    """Return the float a numeric feature's cell holds (NaN when missing and allowed), or its `Problem`."""
    number = coerce_numeric(value)
    if number is None:
        return NAN if slot.nullable else Problem("missing_required", "required, got " + _missing_text(value))
    if isinstance(number, Problem):
        return number
    if number < slot.lo or number > slot.hi:
        return Problem("out_of_range", _range(number, slot))
    return number


def _category_cell(slot: _Slot, value: Any) -> int | Problem:
    """Return the encoded column a categorical feature's cell sets (-1: NaN in all of them), or its `Problem`."""
    text = coerce_category(value, slot.known)
    if text is None:
        return -1 if slot.nullable else Problem("missing_required", "required, got " + _missing_text(value))
    if isinstance(text, Problem):
        return text
    column = slot.columns.get(text)
    if column is not None:
        return column
    if slot.unknown_is_error and text not in slot.known:
        return Problem("unknown_category", f"unknown category {show(text)}")
    return -1


def _numeric_values(
    slot: _Slot, position: int, column: Column | None, n: int, found: list[_Found]
) -> tuple[Sequence[Any] | np.ndarray, np.ndarray | None]:
    """Return a numeric feature's column (as values) and its float64 reading (NaN where missing), not yet checked
    against the feature's range and nullability (`_check_numeric`); None where the shortcut does not read it."""
    if column is None:
        column = [ABSENT] * n
    if isinstance(column, Factorized):
        column = [column.uniques[c] if c >= 0 else None for c in column.codes.tolist()]
    return column, _float_column(column)


def _numeric_cells(slot: _Slot, position: int, column: Sequence[Any] | np.ndarray, found: list[_Found]) -> np.ndarray:
    """Return a numeric feature's float64 column read cell by cell through the rule, adding refused cells to `found`."""
    import numpy as np

    cells = [_number_cell(slot, v) for v in column]
    bad = [i for i, c in enumerate(cells) if type(c) is not float]
    _add(found, slot, position, ((i, cells[i]) for i in bad[:MAX_DETAILS]))
    return np.array([NAN if type(c) is not float else c for c in cells], dtype=np.float64)


def _check_numeric(block: np.ndarray, numeric: list[_Numeric], found: list[_Found]) -> None:
    """Add to `found` every cell of the numeric columns (`block`'s rows) out of its feature's range, or missing
    where that is not allowed; a few reductions over all the columns decide the common case (none)."""
    import numpy as np

    slots = [slot for _, slot, _, _ in numeric]
    lo = np.array([s.lo for s in slots])
    hi = np.array([s.hi for s in slots])
    # fmin/fmax skip NaN (a column of NaN only gives NaN, and is looked at closely); a NaN sum means a NaN cell.
    suspect = ~((lo <= np.fmin.reduce(block, axis=1)) & (np.fmax.reduce(block, axis=1) <= hi))
    required = np.array([not s.nullable for s in slots])
    if required.any():
        suspect |= required & np.isnan(np.add.reduce(block, axis=1))
    for j in np.flatnonzero(suspect).tolist():
        position, slot, column, _ = numeric[j]
        values = block[j]
        missing = np.isnan(values)
        refused = ~missing & ~((values >= slot.lo) & (values <= slot.hi))
        if not slot.nullable:
            refused |= missing
        if refused.any():
            rows = np.flatnonzero(refused)[:MAX_DETAILS].tolist()
            _add(found, slot, position, ((i, _number_cell(slot, _item(column, i))) for i in rows))


def _float_column(column: Sequence[Any] | np.ndarray) -> np.ndarray | None:
    """Return the column as float64 (None and NaN as NaN) where only ints, floats and None are in it, else None."""
    import numpy as np

    if isinstance(column, np.ndarray):
        if column.dtype.kind in "fiu":
            return column.astype(np.float64, copy=False)
        return None
    types = set(map(type, column))
    if types == {str}:
        # Text cells (CSV): all number literals, checked in one pass, then parsed by numpy as `float` would.
        joined = "\n".join(column)
        if joined.count("\n") != len(column) - 1 or not NUMBER_LITERALS.fullmatch(joined):
            return None
        return np.array(column, dtype=np.float64)
    if not types <= _NUMBER_TYPES:
        return None
    try:
        return np.array(column, dtype=np.float64)
    except OverflowError:  # an int beyond float64
        return None


def _category_column(slot: _Slot, position: int, column: Column | None, n: int, found: list[_Found]) -> np.ndarray:
    """Return each row's encoded column for a categorical feature (-1: all NaN), adding refused cells to `found`."""
    import numpy as np

    if column is None:
        column = [ABSENT] * n
    if isinstance(column, Factorized):
        cells = [_category_cell(slot, v) for v in column.uniques]
        lookup = np.array([-1 if isinstance(c, Problem) else c for c in cells] + [-1], dtype=np.intp)
        codes = lookup[column.codes]  # code -1 (missing) picks the -1 at the end
        refused = [(u, c) for u, c in enumerate(cells) if isinstance(c, Problem)]
        if not slot.nullable:
            refused.append((-1, Problem("missing_required", "required, got null")))
        for u, problem in refused:
            rows = np.flatnonzero(column.codes == u)[:MAX_DETAILS].tolist()
            _add(found, slot, position, ((i, problem) for i in rows))
        return codes
    values: list[Any] = column.tolist() if isinstance(column, np.ndarray) else list(column)
    try:
        codes = np.fromiter(map(slot.columns.get, values, repeat(-1)), dtype=np.intp, count=n)
    except TypeError:  # an unhashable (nested) value: every cell through the rule
        codes = np.full(n, -1, dtype=np.intp)
    bad: list[tuple[int, Problem]] = []
    nullable = slot.nullable
    for i in np.flatnonzero(codes < 0).tolist():
        value = values[i]
        if value is None and nullable:
            continue
        cell = _category_cell(slot, value)
        if isinstance(cell, Problem):
            bad.append((i, cell))
        else:
            codes[i] = cell
            if len(bad) >= MAX_DETAILS:
                break
    _add(found, slot, position, bad)
    return codes


def _add(found: list[_Found], slot: _Slot, position: int, cells: Any) -> None:
    """Add (row, Problem) pairs of one feature to `found`."""
    found.extend((i, position, _problem(i, slot.name, p.text, p.code)) for i, p in cells)


def _item(column: Sequence[Any] | np.ndarray, i: int) -> Any:
    """Return cell `i` as a Python value (numpy scalars unwrapped)."""
    value = column[i]
    return value.item() if hasattr(value, "item") and not isinstance(value, (dict, list)) else value


def _values(column: Column) -> list[Any]:
    """Return a column as a list of Python values."""
    if isinstance(column, Factorized):
        return [column.uniques[c] if c >= 0 else None for c in column.codes.tolist()]
    return column.tolist() if hasattr(column, "tolist") else list(column)


def _column_length(column: Column) -> int:
    return len(column.codes) if isinstance(column, Factorized) else len(column)


def _frame_columns(frame: pd.DataFrame, slots: list[_Slot]) -> dict[str, Column]:
    """Return a frame's columns in the forms `transform_columns` reads fastest (other columns by name only)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Column] = {}
    wanted = {s.name: s for s in slots}
    for name in frame.columns:
        slot = wanted.get(name)
        if slot is None:  # only its name matters (an unknown feature, or ignored)
            columns[str(name)] = [None] * len(frame)
            continue
        series = frame[name]
        numeric_dtype = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
        if slot.numeric and numeric_dtype and series.dtype != object:
            columns[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif not slot.numeric and (
            numeric_dtype or pd.api.types.infer_dtype(series, skipna=True) in _FACTORIZABLE_KINDS
        ):
            codes, uniques = pd.factorize(series)  # a missing value gets code -1
            columns[name] = Factorized(np.asarray(codes, dtype=np.intp), list(uniques.tolist()))
        else:
            # pandas' own missing markers (NA, NaT) are missing values, as None is.
            columns[name] = series.astype(object).where(series.notna(), None).tolist()
    return columns


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


def _problem(row: int | None, field: str | None, problem: str, code: str) -> dict[str, Any]:
    return {"row": row, "field": field, "problem": problem, "code": code}


def _summary(problems: list[dict[str, Any]]) -> str:
    first = problems[0]
    where = f"row {first['row']}, " if first["row"] is not None else ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    field = f"field {first['field']!r}: " if first["field"] else ""
    return f"{where}{field}{first['problem']}{more}"


def _range(value: float, slot: _Slot) -> str:
    return f"{float(value):g} is outside the allowed range [{slot.lo:g}, {slot.hi:g}]"


def _missing_text(value: Any) -> str:
    return "nothing (field absent)" if value is ABSENT else "null"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
