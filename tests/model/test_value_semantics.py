"""One value semantics for every input path (issue 14, section 1).

For generated schemas and rows, the per-row loop (`encode_rows`), the batch encoder on records, the column-wise
encoder (`transform_columns`), the pandas frame path (training), the API's CSV path (pyarrow's string columns, or
Python's csv module where a body has quotes) and its Arrow path give the same matrix and the same error details;
headerless CSV's fast paths (pyarrow's float parser, and numpy's where pyarrow is not installed) give what its
checking loop gives, bit for bit and errors included; and without pyarrow, CSV with a header split by `str.split`
gives what Python's csv module gave.
The loop is the reference; each other path is fed the same rows in its own form.

Two things a format cannot say are normalised before comparing, and only those:
- a frame, and a set of columns, has a cell for every row: a field one record holds and another lacks is, in the
  columnar forms, present in every row (None where the record lacked it);
- CSV carries no types: its rows are generated only from values whose text reads back as the same value
  (no bool or numeric-looking string in a numeric field, no text that CSV reading trims or drops).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.columnar import _csv_module_columns, arrow_columns, csv_columns, csv_matrix, csv_matrix_loop
from api.errors import ApiError
from api.inputs import Limits, line_text, lines_of
from bench.invocations import pyarrow_unimportable
from model.errors import ValidationError
from model.preprocess import COLUMNAR_MIN_ROWS, Preprocessor
from model.schema import (
    ABSENT,
    CategoricalFeature,
    NumericFeature,
    Problem,
    Schema,
    Target,
    coerce_category,
    coerce_numeric,
)

CATEGORY_POOL = ("1", "2", "10", "-3", "A", "b", "True", "False", "é", "日本", "1.5", "x y")
LITERALS = ("1.0", "2.00", "1e1", "+2", "-3.0", "01", "1.50")
BIG_INTS = (2**53 + 1, 2**63, 2**64 + 7, 10**30, 10**308, 10**400, -(10**400))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Unicode, CSV's own specials (comma, quote, newline) and digits, so that some texts spell numbers.
ALPHABET = st.sampled_from(list('aZé日ü ,"\n;x1.0+-e\u00a0'))


def _text(csv_safe: bool) -> st.SearchStrategy[str]:
    if csv_safe:  # CSV reading trims cells and reads an empty one as missing
        return st.text(ALPHABET, min_size=1, max_size=6).filter(lambda t: t == t.strip())
    return st.text(ALPHABET, max_size=6)


def numeric_values(csv_safe: bool) -> st.SearchStrategy[Any]:
    """Values a numeric field may be sent."""
    options: list[st.SearchStrategy[Any]] = [
        st.none(),
        st.just(math.nan),
        st.integers(-(2**70), 2**70),
        st.sampled_from(BIG_INTS),
        st.floats(allow_nan=False, allow_infinity=not csv_safe, width=64),
        st.sampled_from((0.5, 1.0, 17.0, 1e39, -1e39)),
        _text(csv_safe),
    ]
    if not csv_safe:
        options += [st.booleans(), st.sampled_from(LITERALS), st.just([1]), st.just({"a": 1})]
    return st.one_of(options).filter(lambda v: not (csv_safe and isinstance(v, str) and _spells_number(v)))


def category_values(csv_safe: bool) -> st.SearchStrategy[Any]:
    """Values a categorical field may be sent: codes as numbers, as literals, unicode, bools, NaN, None."""
    options: list[st.SearchStrategy[Any]] = [
        st.none(),
        st.just(math.nan),
        st.sampled_from(CATEGORY_POOL),
        st.sampled_from(LITERALS),
        # Whole-number codes up to 2**53: a frame holding them beside a missing value makes them float64, exactly.
        st.integers(-(2**53), 2**53),
        st.sampled_from((1.0, 2.0, 10.0, 1.5, -3.0)),
        st.booleans(),
        _text(csv_safe),
    ]
    if not csv_safe:
        options += [st.just([1]), st.just({"a": 1})]
    return st.one_of(options)


def _spells_number(text: str) -> bool:
    from model.schema import number_literal

    return number_literal(text) is not None


@st.composite
def schemas(draw: st.DrawFn) -> tuple[Schema, Preprocessor]:
    """A schema of 1-4 features and a preprocessor trained on a subset of each feature's categories."""
    n = draw(st.integers(1, 4))
    features: list[NumericFeature | CategoricalFeature] = []
    present: dict[str, set[str]] = {}
    for i in range(n):
        name = f"f{i}"
        nullable = draw(st.booleans())
        if draw(st.booleans()):
            lo = draw(st.one_of(st.none(), st.sampled_from((-10.0, 0.0, 18.0))))
            hi = draw(st.one_of(st.none(), st.sampled_from((100.0, 1e6))))
            features.append(NumericFeature(name, min=lo, max=hi, nullable=nullable))
        else:
            cats = draw(st.lists(st.sampled_from(CATEGORY_POOL), min_size=1, max_size=6, unique=True))
            on_unknown = draw(st.sampled_from(("missing", "error")))
            features.append(CategoricalFeature(name, tuple(cats), nullable=nullable, on_unknown=on_unknown))
            present[name] = set(draw(st.lists(st.sampled_from(cats), max_size=len(cats))))
    schema = Schema(features=tuple(features), target=Target("y", "regression"))
    return schema, Preprocessor.from_present(schema, present)


@st.composite
def cases(draw: st.DrawFn, csv_safe: bool = False) -> tuple[Preprocessor, list[dict[str, Any]]]:
    """A preprocessor and 1-40 rows with missing and extra fields."""
    schema, pre = draw(schemas())
    extra = draw(st.lists(st.sampled_from(("zodiac", "f9", "ünï")), max_size=2, unique=True))
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        row: dict[str, Any] = {}
        for feature in schema.features:
            if not csv_safe and draw(st.integers(0, 9)) == 0:
                continue  # absent
            values = numeric_values(csv_safe) if isinstance(feature, NumericFeature) else category_values(csv_safe)
            row[feature.name] = draw(values)
        for name in extra:
            if draw(st.booleans()):
                row[name] = draw(st.sampled_from((1, "x", None)))
        rows.append(row)
    return pre, rows


def outcome(encode: Any) -> np.ndarray | list[dict[str, Any]]:
    """Return the matrix a path gives, or its error details."""
    try:
        return np.asarray(encode(), dtype=np.float32)
    except ValidationError as exc:
        return exc.details


def assert_same(got: Any, want: Any) -> None:
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), got
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)  # NaN in the same cells counts as equal
    else:
        assert got == want


def loop(pre: Preprocessor, records: list[dict[str, Any]], ignore_unknown: bool = False) -> Any:
    """The reference: the per-row loop."""
    shape = (len(records), pre.n_columns)
    return outcome(lambda: np.array(pre.encode_rows(records, ignore_unknown), dtype=np.float32).reshape(shape))


def filled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as a columnar form sees them: every field any row holds, in every row (None where absent)."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in names} for r in rows]


@SETTINGS
@given(cases())
def test_batch_encoder_on_records_matches_the_loop(case: tuple[Preprocessor, list[dict[str, Any]]]) -> None:
    pre, rows = case
    records = rows * -(-COLUMNAR_MIN_ROWS // len(rows))  # at least COLUMNAR_MIN_ROWS: the batch encoder
    for ignore in (False, True):
        assert_same(outcome(lambda i=ignore: pre.transform_records(records, i)), loop(pre, records, ignore))


@SETTINGS
@given(cases())
def test_columns_match_the_loop(case: tuple[Preprocessor, list[dict[str, Any]]]) -> None:
    pre, rows = case
    names = list(dict.fromkeys(k for r in rows for k in r))
    features = {f.name for f in pre.features}
    # A feature a record lacks is absent in that row; a column of another name exists in every row.
    records = [{k: r.get(k, None if k not in features else ABSENT) for k in names} for r in rows]
    records = [{k: v for k, v in r.items() if v is not ABSENT} for r in records]
    columns = {name: [r.get(name, ABSENT) for r in rows] for name in names}
    assert_same(outcome(lambda: pre.transform_columns(columns, len(rows))), loop(pre, records))
    if columns:  # (an empty mapping says nothing of how many rows it has)
        assert_same(outcome(lambda: pre.transform(columns)), loop(pre, records))


@SETTINGS
@given(cases())
def test_frame_matches_the_loop(case: tuple[Preprocessor, list[dict[str, Any]]]) -> None:
    pre, rows = case
    records = filled(rows)
    frame = pd.DataFrame(records, columns=list(records[0]) if records[0] else None)
    assert_same(outcome(lambda: pre.transform_frame(frame, ignore_unknown=False)), loop(pre, records))
    assert_same(outcome(lambda: pre.transform_frame(frame)), loop(pre, records, ignore_unknown=True))


def _csv_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


ODD_CELLS = (
    "+1",
    ".5",
    "5.",
    "1e5",
    "1E5",
    "0x10",
    "1_0",
    " 1",
    "1 ",
    "\t2",
    "  ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "00012",
    "\u0661",
    "\uff11",
    "1d5",
    "1.5e",
    "e5",
    "--1",
    "0.1f",
    "\xa01",
    "3.0",
    "12345678901234567890123",
    "A",
    " A ",
    "",
)
CSV_CELLS = st.one_of(
    st.sampled_from(ODD_CELLS),
    st.from_regex(r"[ \t]?[+-]?[0-9]{0,3}[.]?[0-9]{0,3}([eE][+-]?[0-9]{1,3})?[ \t]?", fullmatch=True),
)


@SETTINGS
@given(
    numbers=st.lists(CSV_CELLS, min_size=1, max_size=12),
    categories=st.lists(CSV_CELLS, min_size=12, max_size=12),
    nullable=st.booleans(),
)
def test_csv_typed_reading_matches_the_csv_module_on_odd_cells(
    numbers: list[str], categories: list[str], nullable: bool
) -> None:
    """pyarrow reading a numeric column as numbers (and a categorical one dictionary-encoded) gives what the strict
    csv module's texts give through the rule: the same matrix, or the same error details; and so does the reading
    without pyarrow."""
    assert_csv_typed_reading_matches(numbers, categories, nullable)


@pytest.mark.parametrize("cell", ODD_CELLS)
@pytest.mark.parametrize("nullable", [True, False])
def test_csv_typed_reading_matches_the_csv_module_on_each_odd_cell(cell: str, nullable: bool) -> None:
    """Each odd cell among readable ones (one unreadable cell in a column sends all of it the text way)."""
    assert_csv_typed_reading_matches(["1.5", cell, "2"], ["A", "1", cell], nullable)
    assert_csv_typed_reading_matches(["1.5", "-3", "2"], ["A", cell, "3.0"], nullable)


@pytest.mark.parametrize("cell", ["-0", "+0", "0", "-0.0", "-0e0", "-00"])
def test_csv_zeros_read_as_the_rule_reads_them(cell: str) -> None:
    """pyarrow reads "-0" as -0.0, the rule as 0: below a feature's minimum the refusal says which."""
    assert_csv_typed_reading_matches(["20", cell, "30"], ["A", "1", "A"], False, minimum=18.0)


def assert_csv_typed_reading_matches(
    numbers: list[str], categories: list[str], nullable: bool, minimum: float | None = None
) -> None:
    schema = Schema(
        features=(
            NumericFeature("n", min=minimum, nullable=nullable),
            CategoricalFeature("c", ("A", "1", "3.0"), nullable=nullable),
        ),
        target=Target("y", "regression"),
    )
    pre = Preprocessor.from_present(schema, {"c": {"A", "1", "3.0"}})
    body = ("n,c\n" + "".join(f"{v},{categories[i]}\n" for i, v in enumerate(numbers))).encode()
    limits = Limits.for_model(1000, 2)
    want = outcome(lambda: pre.transform(_csv_module_columns(body, limits)))
    assert_same(outcome(lambda: pre.transform(csv_columns(body, limits, pre.features))), want)
    with pyarrow_unimportable():  # `str.split` and numpy, as in the images
        columns = csv_columns(body, limits, pre.features)
    assert_same(outcome(lambda: pre.transform(columns)), want)


@contextmanager
def maybe_without_pyarrow(arrow: bool) -> Iterator[None]:
    if arrow:
        yield
    else:
        with pyarrow_unimportable():
            yield


@SETTINGS
@pytest.mark.parametrize("arrow", [True, False], ids=["pyarrow", "without-pyarrow"])
@given(case=cases(csv_safe=True))
def test_csv_with_header_matches_the_loop(arrow: bool, case: tuple[Preprocessor, list[dict[str, Any]]]) -> None:
    pre, rows = case
    records = filled(rows)
    header = list(records[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_csv_text(r[k]) for k in header] for r in records])
    with maybe_without_pyarrow(arrow):
        columns = csv_columns(out.getvalue().encode(), Limits.for_model(1000, len(pre.features)), pre.features)
    assert_same(outcome(lambda: pre.transform(columns)), loop(pre, records))


# Cells of CSV with a header: numbers in every spelling (and what no rule reads as one), texts of categories, blanks.
NUMBER_CELL = st.one_of(
    st.sampled_from(["", "1", "-0", "+0", "-0.0", "1.", ".5", "+.5", "1e3", "1E-3", "1e400", "-1e400", "00012"]),
    st.sampled_from(
        ["0.1", "16777217", "9007199254740993", "123456789012345678901234", "1" * 30, "0." + "0" * 22 + "1"]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.19g}"),
    st.integers(-(10**30), 10**30).map(str),
)
HEADER_CELL = st.one_of(
    NUMBER_CELL,
    st.sampled_from([" 2 ", "\t3", "\u0661", "0x1", "1_0", "nan", "e", ".", "-", "--1", "1.2.3", "1-2", "1e5.5"]),
    st.sampled_from(CATEGORY_POOL),
    st.text(st.sampled_from(list("aZé日ü ;x1.0+-e\u00a0\x00")), max_size=6),
)


@SETTINGS
@given(
    case=schemas(),
    extra=st.booleans(),
    # Columns (five: features and an unknown one), each of numbers only or of anything; 1 to 30 rows.
    columns=st.integers(1, 30).flatmap(
        lambda n: st.lists(
            st.one_of(st.lists(NUMBER_CELL, min_size=n, max_size=n), st.lists(HEADER_CELL, min_size=n, max_size=n)),
            min_size=5,
            max_size=5,
        )
    ),
    wrong_width=st.booleans(),
    blank_lines=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_csv_with_header_without_pyarrow_reads_as_the_csv_module_did(
    case: tuple[Schema, Preprocessor],
    extra: bool,
    columns: list[list[str]],
    wrong_width: bool,
    blank_lines: bool,
    line_end: str,
) -> None:
    """Without pyarrow, CSV with a header is split by `str.split` into the forms pyarrow's path gives (float64 numeric
    columns, codes of categories); the reference is what that path was before: Python's csv module over the body's
    lines (`lines_of`), each cell a text (or None) for the rules. Any body, not only CSV-safe values: both read the
    same texts. (The same matrix, but for the sign of a zero: the csv module's path reads "-0" as -0.0 or 0.0 as
    its column does or does not have an empty cell, numpy's `float` or the rule's `int`.)"""
    schema, pre = case
    header = [f.name for f in schema.features] + (["zodiac"] if extra else [])
    rows = [list(row[: len(header)]) for row in zip(*columns, strict=True)]
    if wrong_width:
        rows[-1] = rows[-1][:-1] if len(header) > 1 else [*rows[-1], "1"]
    lines = [",".join(row) for row in rows]
    if blank_lines:
        lines = [text for line in lines for text in (line, "")]
    body = (",".join(header) + line_end + line_end.join(lines) + line_end).encode()
    limits = Limits.for_model(1000, len(pre.features))

    def read(parse: Any) -> Any:
        try:
            columns = parse()
        except ApiError as exc:
            return (exc.status, exc.code, exc.message)
        return outcome(lambda: pre.transform(columns))

    with pyarrow_unimportable():
        got = read(lambda: csv_columns(body, limits, pre.features))
    want = read(lambda: _csv_module_columns(lines_of(line_text(body)), limits))
    assert_same(got, want)


@SETTINGS
@given(cells=st.lists(NUMBER_CELL, min_size=1, max_size=40))
def test_csv_with_header_without_pyarrow_reads_numbers_as_the_rule_does(cells: list[str]) -> None:
    """A numeric feature's column of number literals is read into float64 as the rule reads each (`number_literal`,
    bit for bit: "-0" is 0), an empty cell as NaN; a column with an infinity in it is left as texts, for the rule to
    refuse by name."""
    from model.schema import number_literal

    body = ("x,zodiac\n" + "".join(f"{cell},1\n" for cell in cells)).encode()
    with pyarrow_unimportable():
        column = csv_columns(body, Limits.for_model(1000, 1), [NumericFeature("x")])["x"]
    read = [number_literal(cell) if cell else math.nan for cell in cells]
    assert None not in read  # (every cell of NUMBER_CELL spells a number, or is empty)
    values = np.array(read, dtype=np.float64)
    if np.isinf(values).any():
        assert column == [cell or None for cell in cells]
    else:
        assert isinstance(column, np.ndarray)
        np.testing.assert_array_equal(column.view(np.uint64), values.view(np.uint64))


def test_csv_with_header_without_pyarrow_reads_long_numbers_exactly() -> None:
    """17 to 19 digits (beyond float64's exact integers): read bit for bit as `float` reads them, never to within a
    bit, since the rules check ranges in float64. Seeded random values: hypothesis's examples tend to simple ones."""
    rng = np.random.default_rng(11)
    cells = [f"{x:.{d}g}" for x in rng.uniform(-1e4, 1e4, 3000) for d in (17, 18, 19)]
    body = ("x,zodiac\n" + "".join(f"{cell},1\n" for cell in cells)).encode()
    with pyarrow_unimportable():
        column = csv_columns(body, Limits.for_model(10_000, 1), [NumericFeature("x")])["x"]
    want = np.array([float(cell) for cell in cells])
    np.testing.assert_array_equal(column.view(np.uint64), want.view(np.uint64))


def _arrow_stream(table: Any) -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@SETTINGS
@given(cases(), st.booleans())
def test_arrow_matches_the_loop(case: tuple[Preprocessor, list[dict[str, Any]]], dictionaries: bool) -> None:
    """Arrow carries types: the reference is the loop over the values the stream holds (`to_pylist`)."""
    import pyarrow as pa

    pre, rows = case
    records = filled(rows)
    arrays = {}
    for name in records[0]:
        try:
            array = pa.array([r[name] for r in records], from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            continue  # a column Arrow cannot hold in one type (ints and texts mixed): no Arrow body has it
        if dictionaries and (pa.types.is_string(array.type) or pa.types.is_integer(array.type)):
            array = array.dictionary_encode()
        arrays[name] = array
    if not arrays:
        return
    table = pa.table(arrays)
    held = table.to_pylist()
    columns = arrow_columns(_arrow_stream(table), Limits.for_model(1000, len(pre.features)), pre.features)
    assert_same(outcome(lambda: pre.transform(columns)), loop(pre, held))


def _near_float32_midpoints(x: float) -> list[str]:
    """Texts at and beside the midpoint between a float32 and the next one up: where reading a number first as float64
    (as `float` does) and then rounding to float32 decides the last bit, and an approximate reading would not."""
    low = np.float32(x)
    mid = (float(low) + float(np.nextafter(low, np.float32(np.inf)))) / 2  # exact in float64
    exact = f"{Decimal(mid):f}"
    beside = [float(np.nextafter(mid, np.inf)), float(np.nextafter(mid, -np.inf))]
    return [*(f"{v:.{digits}g}" for v in (mid, *beside) for digits in (16, 17, 18, 19, 20)), exact[:24], exact[:25]]


# Texts a preprocessed CSV cell may hold: numbers in every spelling, and what is no number or no finite one.
CELL_TEXT = st.one_of(
    st.floats(allow_nan=False, width=32).map(repr),
    st.floats(allow_nan=False).map(repr),
    st.integers(-(10**40), 10**40).map(str),
    st.floats(-1e6, 1e6, width=32).flatmap(lambda x: st.sampled_from(_near_float32_midpoints(x))),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.20f}"[:26]),
    st.sampled_from(
        ["", " ", "1e39", "-1e39", "nan", "inf", "-Infinity", "1_0", " 2 ", "+.5", "1.", "\u0661", "0x1", "e"]
    ),
    st.sampled_from(
        ["-0", "+0", "-0.0", "-.5", "00012", ".", "-", "+", "--1", "1.2.3", "1e", "1E5", "1e-5", "5-", "1e400", "NaN"]
    ),
    st.sampled_from(
        [
            "\u0661\u0662",
            "1__0",
            "\t1",
            "1\t",
            '"1"',
            "0.000000000000000000001",
            "123456789012345678901234",
            "1234567890123456789012345",
            "18446744073709551616",
            "9007199254740993",
            "16777217",
            "3.4028235e38",
            "340282356779733661637539395458142568447",
            "340282356779733661637539395458142568448",
            "3.4028235677973366e+38",
        ]
    ),
    st.text(st.sampled_from(list("0123456789.+-eE_ ")), max_size=6),
    st.text(st.sampled_from(list("0123456789.")), min_size=15, max_size=26),
)


def _matrix_outcome(parse: Any) -> Any:
    try:
        return parse()
    except ApiError as exc:
        return (exc.status, exc.code, exc.message)


def assert_same_bits(got: Any, want: np.ndarray) -> None:
    """Assert the same float32 matrix bit for bit: -0.0 is not 0.0, and NaN is the loop's NaN."""
    assert isinstance(got, np.ndarray), got
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@settings(SETTINGS, max_examples=150)
@pytest.mark.parametrize("arrow", [True, False], ids=["pyarrow", "without-pyarrow"])
@given(
    rows=st.integers(1, 4).flatmap(
        lambda w: st.lists(st.lists(CELL_TEXT, min_size=w, max_size=w), min_size=1, max_size=20)
    ),
    wrong_width=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    blank_lines=st.booleans(),
    last_line_end=st.booleans(),
    bom=st.booleans(),
)
def test_headerless_csv_fast_path_matches_the_loop(
    arrow: bool,
    rows: list[list[str]],
    wrong_width: bool,
    line_end: str,
    blank_lines: bool,
    last_line_end: bool,
    bom: bool,
) -> None:
    width = len(rows[0])
    if wrong_width:
        rows[-1] = rows[-1][:-1] if width > 1 else [*rows[-1], "1"]
    lines = [",".join(row) for row in rows]
    if blank_lines:
        lines = ["", *[text for line in lines for text in (line, "")]]
    body = ("\ufeff" if bom else "").encode() + line_end.join(lines).encode() + (line_end.encode() * last_line_end)

    if not lines_of(body):
        return  # only blank lines: no rows (a 400 `empty_instances`, tested with the hostile requests)
    with maybe_without_pyarrow(arrow):
        got = _matrix_outcome(lambda: csv_matrix(body, width, Limits(1000, 10**9)))
    want = _matrix_outcome(lambda: csv_matrix_loop(lines_of(body), width))
    if isinstance(want, np.ndarray):
        assert_same_bits(got, want)
    else:
        assert got == want


def test_headerless_csv_without_pyarrow_rounds_to_float32_as_the_loop_does() -> None:
    """Texts of 17 to 19 digits beside float32 midpoints, where a value read to within a float64 bit or two (as numpy's
    path reads such long ones) can round to the other float32: that path must see it and read those cells by `float`.
    Seeded random floats, as hypothesis's examples tend to simple ones, whose midpoints are read exactly anyway."""
    rng = np.random.default_rng(7)
    texts = []
    for x in np.concatenate([rng.uniform(-1e4, 1e4, 2000), rng.uniform(-1, 1, 2000)]).astype(np.float32):
        texts += _near_float32_midpoints(float(x))
    body = "".join(f"{a},{b}\n" for a, b in zip(texts[::2], texts[1::2], strict=True)).encode()
    with pyarrow_unimportable():
        got = csv_matrix(body, 2, Limits(100_000, 10**9))
    assert_same_bits(got, csv_matrix_loop(lines_of(body), 2))


def _body_of(cells: list[str], width: int = 2) -> bytes:
    """Rows of `width` cells, the cells given first and then "1"s: 50,000 cells, so that several blocks are read."""
    cells = cells + ["1"] * (50_000 - len(cells))
    return "".join(",".join(cells[i : i + width]) + "\n" for i in range(0, len(cells), width)).encode()


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (_body_of(["1.5", "-0", "", "1e-5", "16777217", "0.33000001311302185", "11.789999961853027"]), None),
        (_body_of(["1.5"] * 40_000 + ["nan"]), "non_finite_number"),
        (_body_of(["1.5"] * 40_000 + ["-inf"]), "non_finite_number"),
        (_body_of(["1.5"] * 40_000 + ["1e400"]), "non_finite_number"),
        (_body_of(["1.5"] * 40_000 + ["3.4028236e38"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["340282356779733661637539395458142568448"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["1_0"]), None),  # `float` reads it, so the loop does
        (_body_of(["1.5"] * 40_000 + [" 2 "]), None),
        (_body_of(["1.5"] * 40_000 + ["\u0661\u0662"]), None),
        (_body_of(["1.5"] * 40_000 + ["1-2"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["1.2.3"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["-"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ['"1"']), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["x"]), "schema_violation"),
        (_body_of(["1.5"] * 40_000 + ["1,2"]), "wrong_column_count"),
        (_body_of(["1.5"] * 40_000) + b"1\n", "wrong_column_count"),
        (_body_of(["1.5"] * 40_000).replace(b"\n", b"\r\n") + b"\r\n\r\n", None),
        (b"\n\n" + _body_of(["1.5"] * 40_000).replace(b"\n", b"\n\n"), None),
        (_body_of(["1.5"] * 40_000, width=1) + b"\n\n", None),
    ],
    ids=lambda v: v if isinstance(v, str) or v is None else None,
)
def test_headerless_csv_without_pyarrow_refuses_what_the_loop_refuses(body: bytes, want: str | None) -> None:
    """Bodies of 50,000 cells (the blocks `_number_cells` reads, and a problem in a late one), each a kind the loop
    reads or refuses: without pyarrow the answer is the loop's, matrix bit for bit or error code and message."""
    width = 1 if body.count(b",") < 1000 else 2
    with pyarrow_unimportable():
        got = _matrix_outcome(lambda: csv_matrix(body, width, Limits(100_000, 10**9)))
    reference = _matrix_outcome(lambda: csv_matrix_loop(lines_of(body), width))
    if want is None:
        assert_same_bits(got, reference)
    else:
        assert got == reference
        assert got[1] == want


# --- the rules themselves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (None, None),
        (math.nan, None),
        (ABSENT, None),
        (np.float32(1.5), 1.5),
        (np.int64(7), 7.0),
        (10**400, Problem("non_finite_number", "expected a finite number, got inf")),
        (math.inf, Problem("non_finite_number", "expected a finite number, got inf")),
        (True, Problem("boolean_not_number", "expected a number, got True")),
        (np.bool_(False), Problem("boolean_not_number", "expected a number, got np.False_")),
        ("3", 3.0),  # as CSV's cells, and a frame read from CSV, say it
        (" -2.5e1 ", -25.0),
        ("3 apples", Problem("expected_number", "expected a number, got '3 apples'")),
        ("nan", Problem("expected_number", "expected a number, got 'nan'")),
        ([1], Problem("nested_value", "expected a number, got an array")),
    ],
)
def test_coerce_numeric(value: Any, want: Any) -> None:
    assert coerce_numeric(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("A", "A"),
        ("Z", "Z"),  # unknown: the feature decides whether that is an error
        (1, "1"),
        (1.0, "1"),  # as pandas reads whole-number codes beside a missing value
        (np.float64(2.0), "2"),
        (1.5, "1.5"),
        ("1.0", "1"),  # CSV's text of the code 1.0
        ("+1", "1"),
        ("1.5", "1.5"),
        ("01", "1"),
        ("2.0", "2"),  # not a category either, but named as the number 2.0 is
        (True, "True"),  # how a bool column is inferred
        (None, None),
        (math.nan, None),
        ({"a": 1}, Problem("nested_value", "expected a string category, got an object")),
    ],
)
def test_coerce_category(value: Any, want: Any) -> None:
    assert coerce_category(value, frozenset({"A", "1", "2", "1.5", "True"})) == want


def test_a_text_that_is_a_category_is_never_renamed() -> None:
    assert coerce_category("1.0", frozenset({"1", "1.0"})) == "1.0"
    assert coerce_category("007", frozenset({"7", "007"})) == "007"


def test_long_unknown_names_and_values_are_truncated_in_details() -> None:
    schema = Schema(features=(CategoricalFeature("c", ("a",), on_unknown="error"),), target=Target("y", "regression"))
    pre = Preprocessor.from_present(schema, {"c": {"a"}})
    for n in (1, COLUMNAR_MIN_ROWS):
        with pytest.raises(ValidationError) as info:
            pre.transform_records([{"c": "v" * 10_000, "k" * 10_000: 1}] * n)
        details = info.value.details
        assert {d["code"] for d in details} == {"unknown_category", "unknown_feature"}
        assert all(len(d["problem"]) < 100 and len(d["field"]) <= 60 for d in details)
        assert len(info.value.message) < 200


@SETTINGS
@given(st.lists(st.sampled_from([b"a", b"bb", b"\n", b",", b"\n\n"]), max_size=30))
def test_longest_line_is_the_longest_split(pieces: list[bytes]) -> None:
    from api.columnar import longest_line

    text = b"".join(pieces)
    assert longest_line(text) == max(map(len, text.split(b"\n")))


def test_numeric_sums_that_overflow_are_refusals_not_warnings() -> None:
    """Values of both signs near float64's limit (a sum of +inf and -inf is NaN) are refused by range, cell by cell,
    without a floating-point warning (pytest makes one an error; the fuzzer found it as a 500 on /explain)."""
    schema = Schema(features=(NumericFeature("n", nullable=False),), target=Target("y", "regression"))
    pre = Preprocessor.from_present(schema, {})
    # +inf and -inf: what the json module reads 1e400 and -1e400 as (and what numpy's pairwise sums of large
    # values of both signs can reach), whose sum is NaN.
    records = [{"n": math.inf}] * COLUMNAR_MIN_ROWS + [{"n": -math.inf}] * COLUMNAR_MIN_ROWS
    with pytest.raises(ValidationError) as refused:
        pre.transform(records)
    assert [d["row"] for d in refused.value.details] == list(range(2 * COLUMNAR_MIN_ROWS))
    assert {d["code"] for d in refused.value.details} == {"non_finite_number"}
