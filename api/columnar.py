"""CSV and Apache Arrow bodies to columns, parsed in C by pyarrow, with the value rules of every other format.

- CSV with a header (`/predict`, `/explain`; `text/csv;header=present` on `/invocations`): every cell is text, as
  CSV says nothing of types. pyarrow splits the body into string columns; a numeric feature's column whose every
  cell spells a number literal (or is empty) becomes float64 in one cast, a categorical one becomes codes into its
  distinct texts (`Factorized`), and anything else is handed to `model.preprocess` as Python strings, which reads it
  through `coerce_numeric` / `coerce_category` exactly as the per-row loop would. Bodies with a quote character go
  to Python's strict `csv` module instead, as sent (pyarrow is lenient about text after a closing quote, and a
  quoted field's line ends and blanks are its own), counting rows as it reads and stopping past the limit. Where
  pyarrow is not installed (the serving and Lambda images), `str.split` cuts a body without quotes into the same
  forms, numeric columns read by numpy (below), and the csv module reads any body that split does not take whole.
- Headerless numeric CSV (`/invocations`): already-preprocessed rows, parsed straight into float64 columns; any body
  the fast path does not take whole (a quote, a non-number, NaN or an infinity, a value beyond float32, a row of
  the wrong width) is read again by the checking loop, which names the row and column. Without pyarrow, numpy reads
  the body's bytes as whole arrays (digits combined within 64-bit words), with the same refusals.
- Arrow IPC stream (`application/vnd.apache.arrow.stream`): typed columns, read without copying; the message
  headers are checked first, so that a compressed body (which could expand far beyond its size) or one of more
  rows than allowed is refused before any batch is decoded.

pyarrow and numpy are imported inside the functions: the sagemaker-backend Lambda, which imports this module's
callers, never parses these formats in a one-row request and must not pay for importing them.
"""

from __future__ import annotations

import csv
import io
import math
import struct
import sys
from collections.abc import Sequence
from functools import cache
from importlib.util import find_spec
from itertools import repeat
from typing import TYPE_CHECKING, Any

from api.errors import ApiError, malformed
from api.inputs import Limits, bounded_lines, count_lines, decode_text, lines_of
from model.preprocess import FLOAT32_MAX, Factorized
from model.schema import NumericFeature

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from model.schema import Feature

_PYARROW_FOUND: bool | None = None


def have_pyarrow() -> bool:
    """Return whether pyarrow can be imported here, without importing it.

    `pip install treeport` brings pyarrow; the serving and Lambda images leave it out (170 MB). Without it, CSV goes
    through Python's csv module and the cell-by-cell loop (same answers and messages, slower), and Arrow IPC bodies
    and answers are refused (415 and 406)."""
    global _PYARROW_FOUND
    if "pyarrow" in sys.modules:
        return sys.modules["pyarrow"] is not None
    if _PYARROW_FOUND is None:
        _PYARROW_FOUND = find_spec("pyarrow") is not None
    return _PYARROW_FOUND


def arrow_unavailable() -> ApiError:
    """Return the 415 for an Arrow body on a server without pyarrow."""
    return ApiError(
        415,
        "unsupported_media_type",
        "Content-Type 'application/vnd.apache.arrow.stream' needs pyarrow, which this server does not have; "
        "send JSON or CSV (or install pyarrow)",
    )


# Python's csv module refuses a field longer than this (its default `field_size_limit`); the fast path does too.
CSV_FIELD_LIMIT = 131072


# ---- CSV with a header -------------------------------------------------------------------------------------------


def csv_columns(body: bytes, limits: Limits, features: Sequence[Feature]) -> list[Any] | dict[str, Any]:
    """Return CSV with a header row as columns named by the header (values read as `csv_column` reads cells)."""
    if b'"' in body:  # quoted fields may hold line ends and blanks of their own: the csv module reads them as sent
        return _csv_module_columns(body, limits)
    text, n = bounded_lines(body, limits.max_rows + 1)
    text = text.lstrip(b"\n")  # (the same object when no blank line leads)
    if not text:
        raise malformed("empty_body", "request body is empty")
    header_end = text.find(b"\n")
    header = _csv_header(text[: header_end if header_end >= 0 else len(text)])
    if n - 1 > limits.max_rows:
        limits.check_rows(n - 1)
    limits.check_values((n - 1) * len(header), "CSV cells")
    kinds = {f.name: isinstance(f, NumericFeature) for f in features}
    roles = [kinds.get(name) for name in header]  # True: numeric feature, False: categorical, None: not a feature
    if not have_pyarrow():
        split = _split_columns(text, header, roles)
        if split is None:  # the strict reader says why
            return _csv_module_columns(lines_of(text), limits)
        limits.check_rows(split[1])
        return split[0]
    # First with the features' types, parsed and dictionary-encoded as pyarrow reads the cells; where a numeric cell
    # does not read so (or reads as no finite number), again as texts, column by column below.
    table = _arrow_text_table(text, len(header), roles)
    if table is not None:
        typed = _typed_columns(header, roles, table)
        if typed is not None:
            limits.check_rows(table.num_rows)  # blank lines skipped: the exact count
            return typed if header else [{} for _ in range(n - 1)]
    table = _arrow_text_table(text, len(header))
    if table is None:  # pyarrow refused the body: the strict reader says why
        return _csv_module_columns(lines_of(text), limits)
    limits.check_rows(table.num_rows)  # blank lines skipped: the exact count
    columns: dict[str, Any] = {}
    for name, column, numeric in zip(header, table.columns, roles, strict=True):
        if numeric is None:  # not a feature: only its name matters (unknown, or ignored)
            columns[name] = [None] * table.num_rows
        elif numeric:
            columns[name] = _numeric_text_column(column)
        else:
            columns[name] = _category_text_column(column)
    return columns if header else [{} for _ in range(n - 1)]


def _typed_columns(header: list[str], roles: list[bool | None], table: pa.Table) -> dict[str, Any] | None:
    """Return the columns of a table read with the features' types, or None where a numeric column holds a cell
    pyarrow read as no finite number ("nan", "inf", "1e400": the rule refuses those with their text)."""
    import numpy as np
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name, column, numeric in zip(header, table.columns, roles, strict=True):
        if numeric is None:
            columns[name] = [None] * table.num_rows
        elif numeric:
            values = column.to_numpy()  # NaN where a cell was empty (null)
            if _rule_reads(values, column.null_count):
                return None
            columns[name] = values
        else:
            encoded = column.combine_chunks()
            codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
            columns[name] = Factorized(codes, csv_column(encoded.dictionary.to_pylist()))
    return columns


def _csv_header(line: bytes) -> list[str]:
    """Return the header row's names (trimmed), refusing duplicates and text that is not UTF-8."""
    header = [h.strip() for h in next(csv.reader([decode_text(line)], strict=True), [])]
    if len(set(header)) != len(header):
        raise malformed("malformed_csv", "CSV header has duplicate column names")
    return header


def _arrow_text_table(text: bytes, width: int, roles: list[bool | None] | None = None) -> pa.Table | None:
    """Return the CSV's rows as a table of columns `f0`... (null where a cell is empty), or None where pyarrow
    refuses the body or Python's csv module would (a field over its limit), or is not installed.

    Without `roles` every column is text; with them a numeric feature's column (True) is float64 as pyarrow parses
    numbers (its cells trimmed of spaces, as `csv_column` trims them), a categorical one's (False) dictionary-encoded
    text, and None where a numeric cell is no number to pyarrow.
    """
    if not have_pyarrow():
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(text) > CSV_FIELD_LIMIT and longest_line(text) > CSV_FIELD_LIMIT:
        return None  # a line that long may hold a field over the limit: the csv module decides
    text_type = pa.string()
    types = {f"f{j}": text_type for j in range(width)}
    if roles is not None:
        category_type = pa.dictionary(pa.int32(), pa.string())
        for j, numeric in enumerate(roles):
            if numeric is not None:
                types[f"f{j}"] = pa.float64() if numeric else category_type
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, skip_rows=1, use_threads=False, block_size=max(len(text), 1 << 16)
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return table if table.num_columns == width else None


def longest_line(text: bytes) -> int:
    """Return the length of the longest line of `text` (line ends not counted): where its line ends are, by numpy."""
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n"))
    if not len(ends):
        return len(text)
    return int(max(ends[0], np.diff(ends).max(initial=0) - 1, len(text) - ends[-1] - 1))


def _numeric_text_column(column: pa.ChunkedArray) -> Any:
    """Return a numeric feature's CSV cells as float64 (NaN where empty) when pyarrow reads every one as
    `number_literal` does, else as texts for the rule to read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        values = pc.cast(column, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return csv_column(column.to_pylist())  # a cell pyarrow does not read as a number (" 1", "1_0", "x")
    if _rule_reads(values, column.null_count):
        return csv_column(column.to_pylist())
    return values


def _rule_reads(values: np.ndarray, null_count: int) -> bool:
    """Return whether a numeric column pyarrow parsed holds a cell only the rule reads right, so that its texts go
    to the rule: pyarrow also reads "nan" and "inf", which are no number literals (and "1e400", which the rule reads
    as an infinity and refuses), so a value that is not finite beyond the empty (null) cells; and a zero with its
    sign bit set, since pyarrow reads "-0" as -0.0 where the rule reads an integer literal (0)."""
    import numpy as np

    if int(np.count_nonzero(~np.isfinite(values))) != null_count:
        return True
    return bool(np.signbit(values[values == 0]).any())


def _category_text_column(column: pa.ChunkedArray) -> Factorized:
    """Return a categorical feature's CSV cells as codes into their distinct texts, trimmed as `csv_column` trims."""
    import numpy as np
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column).combine_chunks()
    uniques = csv_column(encoded.dictionary.to_pylist())
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    return Factorized(codes, uniques)


def _split_columns(text: bytes, header: list[str], roles: list[bool | None]) -> tuple[dict[str, Any], int] | None:
    """Return the columns of CSV without quotes split by `str.split` where pyarrow is not installed (in the forms
    pyarrow's path gives), and the number of rows; or None where the csv module must read the body (a row of another
    width, a field over its limit, text that is not UTF-8, no rows)."""
    width = len(header)
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    rows = [line for line in lines[1:] if line]  # blank lines skipped, as the csv module skips them
    if not width or not rows or set(map(str.count, rows, repeat(","))) != {width - 1}:
        return None
    if len(text) > CSV_FIELD_LIMIT and max(map(len, rows)) > CSV_FIELD_LIMIT:
        return None  # a line that long may hold a field over the limit: the csv module decides
    cells = ",".join(rows).split(",")
    columns: dict[str, Any] = {}
    numeric: list[str] = []
    for j, (name, kind) in enumerate(zip(header, roles, strict=True)):
        if kind is None:  # not a feature: only its name matters (unknown, or ignored)
            columns[name] = [None] * len(rows)
        elif kind:
            columns[name] = cells[j::width]
            numeric.append(name)
        else:
            columns[name] = _category_split_column(cells[j::width])
    # The numeric columns are read in one pass where every cell is a number, else one by one.
    values = _split_numbers([columns[name] for name in numeric]) if len(numeric) > 1 else None
    for i, name in enumerate(numeric):
        columns[name] = values[i] if values is not None else _numeric_split_column(columns[name])
    return columns, len(rows)


def _split_numbers(columns: list[list[str]]) -> Any:
    """Return each column's cells as float64 (NaN where empty) where `_number_cells` reads every one and none is an
    infinity, else None."""
    import numpy as np

    text = "".join("\n".join(cells) + "\n" for cells in columns).encode()
    values = _number_cells(text, _cell_ends(text), float32=False)
    if values is None or np.isinf(values).any():
        return None
    return values.reshape(len(columns), -1)


def _numeric_split_column(cells: list[str]) -> Any:
    """Return a numeric feature's CSV cells as float64 (NaN where empty) when each is a number literal that
    `_number_cells` reads, else as texts for the rule to read (as `_numeric_text_column` does)."""
    values = _split_numbers([cells])
    return csv_column(cells) if values is None else values[0]


def _category_split_column(cells: list[str]) -> Factorized:
    """Return a categorical feature's CSV cells as codes into their distinct texts (trimmed), -1 where empty."""
    import numpy as np

    texts = [cell for cell in dict.fromkeys(cells) if cell]
    codes = {cell: i for i, cell in enumerate(texts)}
    codes[""] = -1
    return Factorized(np.fromiter(map(codes.__getitem__, cells), dtype=np.intp, count=len(cells)), csv_column(texts))


def csv_column(cells: Sequence[str | None]) -> list[str | None]:
    """Return a CSV column's cells as values: an empty cell is missing, any other is its (trimmed) text.

    CSV carries no types: the schema's rules read a text as a number or a category (`model.schema`).
    """
    return [cell.strip() or None if cell is not None else None for cell in cells]


def _csv_module_columns(text: bytes, limits: Limits) -> list[Any] | dict[str, Any]:
    """Return CSV columns read by Python's strict `csv` module (quoted fields, or a body pyarrow refused)."""
    decoded = decode_text(text)
    reader = csv.reader(io.StringIO(decoded, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
                if len(rows) > limits.max_rows + 1:
                    limits.check_rows(len(rows) - 1)
    except csv.Error as exc:
        raise malformed("malformed_csv", f"malformed CSV: {exc}") from None
    if not rows:
        raise malformed("empty_body", "request body is empty")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise malformed("malformed_csv", "CSV header has duplicate column names")
    data = rows[1:]
    limits.check_rows(len(data))
    limits.check_values(len(data) * len(header), "CSV cells")
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise malformed("malformed_csv", f"CSV row {i} has {len(row)} fields; the header has {len(header)}")
    if not header:
        return [{} for _ in data]
    return {name: csv_column(cells) for name, cells in zip(header, zip(*data, strict=True), strict=True)}


# ---- numbers without pyarrow: numpy over the body's bytes ---------------------------------------------------------
#
# Without pyarrow, a body's numbers are read by whole-array arithmetic rather than a Python call per cell (`float`
# costs 50 ns for "1.5" and 160 ns for a 17-digit repr such as "11.789999961853027", most of the checking loop's
# time). Each cell's last 24 bytes are taken as three 64-bit words, right-aligned, the bytes before the cell masked
# off; the digits of a word are combined in three multiply-and-shift steps (eight digits to one integer, SIMD within
# a register), so a cell of digits with at most one point and a leading sign is an integer m over 10**q. Where
# m <= 2**53 and q <= 19 both are exact in float64 and one division gives the correctly rounded value, which is what
# `float` gives (Clinger's fast path; `float` rounds correctly too). Any other cell (an exponent, more than 24 bytes,
# a sign inside) is read by `float` itself, and one that `float` refuses hands the body back to the caller.

_CELL_BYTES = 24  # three words; a longer cell is read by `float`
_BLOCK_CELLS = 16384  # cells read at a time, so that their arrays stay in the CPU's cache
_NUMBER_BYTES = b"0123456789.eE+-,\n"  # a body with any other byte (a space, a letter, NaN, a quote) is not read here
_ONES = 0x0101010101010101  # a byte pattern times this: that byte in all eight places
_FLOAT32_DOUBT = 2.0**-48  # relative: far above the error of m / 10**q where m is rounded to float64 first


@cache
def _word_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return, per word of a cell's 24 bytes, the mask keeping a cell of each length (0-24 bytes) and the multiplier
    that turns a point's flag into the number of digits after it; and the powers of ten as uint64 and float64."""
    import numpy as np

    keep = np.zeros((3, _CELL_BYTES + 1), dtype=np.uint64)
    for length in range(_CELL_BYTES + 1):
        kept = bytes(_CELL_BYTES - length) + b"\xff" * length
        keep[:, length] = np.frombuffer(kept, dtype="<u8")
    # A flag 0x01 at byte b of word j (the cell's byte 8j + b), times this, has 23 - 8j - b (the digits after that
    # byte) in its top byte: the multiplier's byte i is what a flag at byte 7 - i must give.
    after = np.array([int.from_bytes(bytes(16 - 8 * j + i for i in range(8)), "little") for j in range(3)], np.uint64)
    exact_powers = np.array([10**k for k in range(20)], dtype=np.uint64)
    return keep, after, exact_powers, 10.0 ** np.arange(20)


def _cell_ends(text: bytes) -> np.ndarray:
    """Return where each cell of comma- and line-separated `text` ends (the offsets of its commas and line ends)."""
    import numpy as np

    data = np.frombuffer(text, dtype=np.uint8)
    separators = data == ord(",")
    separators |= data == ord("\n")
    return np.flatnonzero(separators)


def _number_cells(text: bytes, ends: np.ndarray, float32: bool) -> np.ndarray | None:
    """Return each cell's number as float64 (NaN where a cell is empty, an infinity beyond float64), or None where a
    cell is no number (or `text` holds a byte no number has): the caller's own path then reads the body and says why.

    `text` is the cells, each ended by the comma or line end at `ends`. With `float32`, each is read as `float` reads
    it, but that a value of more than 16 digits may be off in its last float64 bits where its float32 is certain to
    be that of `float`'s value (the matrix is float32). Without it, each is the float64 of the rule's reading
    (`model.schema.number_literal`: of these bytes, the texts `float` reads, as the same numbers but that an integer
    literal's zero, "-0", is 0 and not -0.0).
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    from model.schema import number_literal

    if text.translate(None, _NUMBER_BYTES) or not ends.size:
        return None
    data = np.frombuffer(text, dtype=np.uint8)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    first = data[starts]  # a cell's first byte (its separator when it is empty)
    # Cell i's last 24 bytes are row ends[i] of these windows (text[end - 24 : end], zeros before the body).
    windows = sliding_window_view(np.frombuffer(bytes(_CELL_BYTES) + text, dtype=np.uint8), _CELL_BYTES)
    values = np.empty(len(ends))
    readable = np.empty(len(ends), dtype=bool)
    for at in range(0, len(ends), _BLOCK_CELLS):
        block = slice(at, at + _BLOCK_CELLS)
        values[block], readable[block] = _read_cells(windows, ends[block], starts[block], first[block], float32)
    # An exponent, or a sign anywhere but first: such cells are found here (they are rare) and read by `float`.
    signs = (first == ord("-")) | (first == ord("+"))
    if b"e" in text or b"E" in text or text.count(b"-") + text.count(b"+") != int(np.count_nonzero(signs)):
        marks = np.flatnonzero((data == ord("e")) | (data == ord("E")) | (data == ord("-")) | (data == ord("+")))
        cells = np.searchsorted(ends, marks)
        sign = (data[marks] == ord("-")) | (data[marks] == ord("+"))
        readable[cells[~sign | (marks != starts[cells])]] = False
    empty = ends == starts
    values[empty] = np.nan
    others = np.flatnonzero(~readable & ~empty)
    for at in range(0, len(others), _BLOCK_CELLS):  # a block at a time: a Python object per cell only for a block
        cells = others[at : at + _BLOCK_CELLS]
        spans = zip(starts[cells].tolist(), ends[cells].tolist(), strict=True)
        if float32:
            try:
                values[cells] = [float(text[s:e]) for s, e in spans]
            except ValueError:
                return None
        else:
            read = [number_literal(text[s:e].decode()) for s, e in spans]
            numbers = [float(n) for n in read if n is not None]  # (an int of the rule's has at most 300 digits)
            if len(numbers) < len(read):
                return None
            values[cells] = numbers
    return values


def _read_cells(
    windows: np.ndarray, ends: np.ndarray, starts: np.ndarray, first: np.ndarray, float32: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return the numbers `_number_cells` reads from these cells' bytes, and where each was read (not: an empty cell,
    one to read by `float`, or no number; cells holding an exponent or an inner sign are found by the caller)."""
    import numpy as np

    _, _, exact_powers, powers = _word_tables()
    u64 = np.uint64
    negative = first == ord("-")
    digits_len = ends - starts - (negative | (first == ord("+")))
    kept = np.minimum(digits_len, _CELL_BYTES)
    words = windows[ends].view("<u8")  # (cells, 3): each cell's last 24 bytes as words, right-aligned
    m, points, after_point = _word_digits(words[:, 2], kept, 2)
    fits = np.ones(len(ends), dtype=bool)
    for j, scale in ((1, 10**8), (0, 10**16)):  # the other words, for cells longer than 8 and 16 bytes
        longer = np.flatnonzero(kept > 8 * (2 - j))
        if not longer.size:
            break
        value, more_points, more_after = _word_digits(words[longer, j], kept[longer], j)
        if j == 0:
            fits[longer] = value < u64(1844)  # m below 2**64
        value *= u64(scale)
        m[longer] += value
        points[longer] += more_points
        after_point[longer] += more_after
    has_point = points == 1
    readable = (points <= 1) & (digits_len > points) & (digits_len <= _CELL_BYTES) & fits
    q = np.where(has_point & readable, after_point, 0).astype(np.intp)
    readable &= q < len(powers)  # 10**q exact
    q[~readable] = 0
    low = m % exact_powers[q]
    m = np.where(has_point, (m - low) // u64(10) + low, m)  # the point's 0 taken out
    values = m.astype(np.float64)
    values /= powers[q]
    exact = m <= u64(2**53)
    if not float32:
        np.negative(values, out=values, where=negative & ((m != 0) | has_point))  # the rule's int("-0") is 0
        readable &= exact
    else:
        np.negative(values, out=values, where=negative)
        rounded = np.flatnonzero(readable & ~exact)
        if rounded.size:
            readable[rounded[~_float32_certain(values[rounded])]] = False
    return values, readable


def _word_digits(word: np.ndarray, kept: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return, for word `j` of each cell's last 24 bytes (the cell `kept` bytes long), the integer its digits spell
    (a point read as a 0), how many of its bytes are no digit, and the digits after such a byte (if it is the only)."""
    import numpy as np

    keep, after, _, _ = _word_tables()
    u64 = np.uint64
    x = word ^ u64(0x30 * _ONES)  # digits to 0-9, a point to 0x1E, anything else above 9
    x &= np.take(keep[j], kept)
    flags = x + u64(0x76 * _ONES)  # bytes above 9 set their top bit (the text is ASCII: no carries)
    flags |= x
    flags &= u64(0x80 * _ONES)
    flags >>= u64(7)
    points = flags * u64(_ONES)
    points >>= u64(56)
    after_point = flags * after[j]
    after_point >>= u64(56)
    flags *= u64(0x1E)
    x -= flags  # a point reads as a 0
    scratch = np.empty_like(x)
    for shift, pairs, mask in ((8, 10, 0x00FF00FF00FF00FF), (16, 100, 0x0000FFFF0000FFFF), (32, 10000, 0xFFFFFFFF)):
        np.right_shift(x, u64(shift), out=scratch)
        x *= u64(pairs)
        x += scratch
        x &= u64(mask)
    return x, points, after_point


def _float32_certain(values: np.ndarray) -> np.ndarray:
    """Return where each value's float32 rounding is that of every number within `_FLOAT32_DOUBT` of it."""
    import numpy as np

    single = values.astype(np.float32)
    nearest = single.astype(np.float64)
    toward = np.where(values > nearest, np.float32(np.inf), np.float32(-np.inf))
    half_gap = np.abs(np.nextafter(single, toward).astype(np.float64) - nearest) / 2
    return np.abs(values - nearest) < half_gap - np.abs(values) * _FLOAT32_DOUBT


# ---- headerless numeric CSV (/invocations) ----------------------------------------------------------------------


def csv_matrix(body: bytes, n_columns: int, limits: Limits) -> np.ndarray:
    """Parse headerless numeric CSV (already-preprocessed rows) into a float32 matrix; empty cells are NaN.

    Each row must have `n_columns` cells (422 `wrong_column_count`); a cell that is not a number is a 422
    `schema_violation`, NaN or an infinity a 422 `non_finite_number`, and a number beyond float32 a 422
    `schema_violation`, each naming the row and column.
    """
    text, n = bounded_lines(body, limits.max_rows)
    if n > limits.max_rows:
        limits.check_rows(n)
    # pyarrow takes its column count from the first row and refuses any other width, so one look at the first line
    # keeps a single line of a million cells from becoming a million columns.
    first = text.lstrip(b"\n")
    end = first.find(b"\n")
    if b'"' not in text and first.count(b",", 0, end if end >= 0 else len(first)) == n_columns - 1:
        matrix = _arrow_matrix(text, n_columns) if have_pyarrow() else _numpy_matrix(text, n_columns)
        if matrix is not None:
            limits.check_rows(len(matrix))
            return matrix
    text = lines_of(text)
    limits.check_rows(count_lines(text))
    return csv_matrix_loop(text, n_columns)


def _arrow_matrix(text: bytes, n_columns: int) -> np.ndarray | None:
    """Return the matrix pyarrow parses, or None where a row or cell needs the loop's checks (and messages)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(text),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, use_threads=False, block_size=max(len(text), 1 << 16)
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{j}": pa.float64() for j in range(n_columns)},
                null_values=[""],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != n_columns:
        return None
    out = np.empty((table.num_rows, n_columns), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        for j, column in enumerate(table.columns):
            values = column.to_numpy()  # NaN where a cell was empty (null)
            # Refused in one pass: NaN that was no empty cell (pyarrow reads "nan"), infinities, beyond float32. The
            # loop then names the first such cell by row and column.
            if int(np.count_nonzero(~(np.abs(values) <= FLOAT32_MAX))) != column.null_count:
                return None
            out[:, j] = values
    return out


def _numpy_matrix(text: bytes, n_columns: int) -> np.ndarray | None:
    """Return the matrix numpy reads (where pyarrow is not installed), or None where a row or cell needs the loop's
    checks (and messages)."""
    import numpy as np

    if not text.endswith(b"\n"):
        text += b"\n"
    # Counted before any array is made: a body of one long line (or of blank lines) never becomes millions of cells.
    if text.count(b",") != text.count(b"\n") * (n_columns - 1) or n_columns == 1:
        if b"\n\n" in text or text.startswith(b"\n"):  # blank lines, which the loop skips (and one column's would
            text = lines_of(text)  # read as empty cells)
        if text.count(b",") != text.count(b"\n") * (n_columns - 1):
            return None
    ends = _cell_ends(text)
    if not _whole_rows(text, ends, n_columns):
        return None
    values = _number_cells(text, ends, float32=True)
    # Refused as in `_arrow_matrix` (the empty cells' NaN skipped): infinities, and numbers beyond float32.
    if values is None or np.fmax.reduce(np.abs(values)) > FLOAT32_MAX:
        return None
    return values.reshape(-1, n_columns).astype(np.float32)


def _whole_rows(text: bytes, ends: np.ndarray, n_columns: int) -> bool:
    """Return whether the cells ending at `ends` (as many as the line ends times `n_columns`) make rows of
    `n_columns`: a line end after every n-th cell, so none elsewhere."""
    import numpy as np

    line_ends = np.frombuffer(text, dtype=np.uint8)[ends[n_columns - 1 :: n_columns]]
    return bool(ends.size) and bool((line_ends == ord("\n")).all())


def csv_matrix_loop(text: bytes, n_columns: int) -> np.ndarray:
    """Parse headerless numeric CSV cell by cell: the reference the fast path is tested against, and its messages."""
    import numpy as np

    lines = decode_text(text).split("\n")  # `lines_of` text: one line end each, no blank lines
    if lines and not lines[-1]:
        lines.pop()
    out = np.empty((len(lines), n_columns), dtype=np.float32)
    for i, line in enumerate(lines):
        if line.count(",") != n_columns - 1:  # counted first: a long line is never split into a million cells
            raise ApiError(
                422,
                "wrong_column_count",
                f"CSV row {i} has {line.count(',') + 1} values; the model takes {n_columns} preprocessed columns",
            )
        for j, cell in enumerate(line.split(",")):
            cell = cell.strip()
            if not cell:
                out[i, j] = np.nan
                continue
            try:
                value = float(cell)
            except ValueError:
                raise ApiError(
                    422, "schema_violation", f"CSV row {i} column {j}: expected a number, got {cell[:40]!r}"
                ) from None
            if not math.isfinite(value):
                raise ApiError(
                    422, "non_finite_number", f"CSV row {i} column {j}: {cell[:40]!r} is not a finite number"
                )
            if abs(value) > FLOAT32_MAX:
                raise ApiError(
                    422, "schema_violation", f"CSV row {i} column {j}: {cell[:40]!r} is outside the float32 range"
                )
            out[i, j] = value
    return out


# ---- Apache Arrow IPC stream -------------------------------------------------------------------------------------

_RECORD_BATCH, _DICTIONARY_BATCH = 3, 2  # `MessageHeader` union tags of the Arrow format (Message.fbs)


def arrow_columns(body: bytes, limits: Limits, features: Sequence[Feature]) -> list[Any] | dict[str, Any]:
    """Return an Arrow IPC stream's columns in the forms `Preprocessor.transform` reads (typed, not text)."""
    if not have_pyarrow():
        raise arrow_unavailable()
    import pyarrow as pa

    if not body:
        raise malformed("empty_body", "request body is empty")
    buffer = pa.py_buffer(body)
    rows = _check_messages(buffer, limits)
    try:
        reader = pa.ipc.open_stream(buffer)
        limits.check_values(len(reader.schema), "Arrow columns")
        table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise malformed("malformed_arrow", f"not an Arrow IPC stream: {str(exc)[:200]}") from None
    limits.check_rows(table.num_rows)
    if table.num_rows != rows:  # pragma: no cover  (the headers were read from the same messages)
        raise malformed("malformed_arrow", "the Arrow stream's batch headers disagree with its data")
    names = table.column_names
    if len(set(names)) != len(names):
        raise malformed("malformed_arrow", "the Arrow stream has duplicate column names")
    if not names:
        return [{} for _ in range(table.num_rows)]
    kinds = {f.name: isinstance(f, NumericFeature) for f in features}
    columns: dict[str, Any] = {}
    for name, column in zip(names, table.columns, strict=True):
        numeric = kinds.get(name)
        if numeric is None:
            columns[name] = [None] * table.num_rows
        elif numeric:
            columns[name] = _numeric_arrow_column(column)
        else:
            columns[name] = _category_arrow_column(column)
    return columns


def _check_messages(buffer: pa.Buffer, limits: Limits) -> int:
    """Return the rows the stream's batches declare, refusing compression and excess values before decoding."""
    import pyarrow as pa

    rows = values = 0
    try:
        reader = pa.ipc.MessageReader.open_stream(buffer)
        while True:
            try:
                message = reader.read_next_message()
            except StopIteration:
                break
            if message is None:  # pragma: no cover  (older pyarrow ends the stream this way)
                break
            header = _batch_header(message.metadata.to_pybytes())
            if header is None:
                continue
            kind, length, nodes, compressed = header
            if compressed:
                raise malformed("malformed_arrow", "compressed Arrow buffers are not accepted; send them uncompressed")
            values += nodes
            limits.check_values(values, "Arrow values")
            if kind == _RECORD_BATCH:
                rows += length
                if rows > limits.max_rows:
                    limits.check_rows(rows)
    except (pa.ArrowInvalid, OSError, struct.error, IndexError) as exc:
        raise malformed("malformed_arrow", f"not an Arrow IPC stream: {str(exc)[:200]}") from None
    return rows


def _batch_header(meta: bytes) -> tuple[int, int, int, bool] | None:
    """Return (kind, rows, values, compressed) of a record or dictionary batch's flatbuffer header; None for others.

    Read by hand from the Arrow format's `Message` table (Message.fbs): pyarrow decodes (and decompresses) a batch
    only as a whole, which is what must not happen before its size is known.
    """
    root = _u32(meta, 0)
    kind_at = _field(meta, root, 1)
    kind = meta[kind_at] if kind_at is not None else 0
    if kind not in (_RECORD_BATCH, _DICTIONARY_BATCH):
        return None
    batch = _table(meta, _field(meta, root, 2))
    if kind == _DICTIONARY_BATCH:
        batch = _table(meta, _field(meta, batch, 1))
    length_at = _field(meta, batch, 0)
    length = struct.unpack_from("<q", meta, length_at)[0] if length_at is not None else 0
    nodes_at = _field(meta, batch, 1)
    values = 0
    if nodes_at is not None:
        vector = nodes_at + _u32(meta, nodes_at)
        count = _u32(meta, vector)
        # FieldNode structs of 16 bytes: length (int64), null_count (int64).
        values = sum(struct.unpack_from("<q", meta, vector + 4 + 16 * i)[0] for i in range(count))
    if length < 0 or values < 0:
        raise malformed("malformed_arrow", "negative lengths in an Arrow batch header")
    return kind, length, values, _field(meta, batch, 3) is not None


def _u32(buf: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", buf, at)[0])


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Return where field `index` of the flatbuffer table at `table` lies, or None when it is absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    offset = 4 + 2 * index
    if offset >= struct.unpack_from("<H", buf, vtable)[0]:
        return None
    rel = struct.unpack_from("<H", buf, vtable + offset)[0]
    return None if rel == 0 else table + rel


def _table(buf: bytes, at: int | None) -> int:
    """Return the position of the table an offset field at `at` points to."""
    if at is None:
        raise malformed("malformed_arrow", "an Arrow batch message without its header")
    return at + _u32(buf, at)


def _numeric_arrow_column(column: pa.ChunkedArray) -> Any:
    """Return a numeric feature's Arrow column as float64 (NaN for null), or as Python values for the rule to read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        # Unchecked: an int64 beyond 2**53 rounds to the nearest float64, as Python's float() rounds it.
        return pc.cast(column, pa.float64(), safe=False).to_numpy()
    return column.to_pylist()  # bools, texts and others: each value through `coerce_numeric`


def _category_arrow_column(column: pa.ChunkedArray) -> Any:
    """Return a categorical feature's Arrow column as codes into its distinct values, or as Python values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not pa.types.is_dictionary(kind):
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)):
            return column.to_pylist()  # floats (NaN), bools, nested and other types: each value through the rule
        column = pc.dictionary_encode(column)
    combined = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(combined, pa.ChunkedArray):  # pragma: no cover  (combine_chunks of a dictionary column)
        combined = combined.chunk(0)
    codes = pc.fill_null(combined.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    return Factorized(codes, combined.dictionary.to_pylist())
