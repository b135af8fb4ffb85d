"""Request bodies to rows: every request format `/predict`, `/explain` and `/invocations` take, strictly checked and
cheap, and bounded before anything is materialised.

JSON (`application/json`) comes in four shapes, told apart by the one top-level member:

- `{"instances": [{feature: value, ...}, ...]}` (records; also MLflow's `{"dataframe_records": [...]}` and its
  row-major `{"inputs": [...]}`);
- MLflow's `{"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}` (`index` optional and
  ignored), which becomes columns by a transpose (`zip(*data)`), never one dict per row;
- column-major `{"inputs": {"feature": [v0, v1, ...], ...}}` (MLflow's columnar tensor form): columns as sent.

JSON Lines (`application/jsonlines`; `application/x-jsonlines`, `application/jsonl` and `application/x-ndjson` are
the same format by other names): one JSON value per line, an object per record; on `/invocations` a line may instead
be an array of already-preprocessed numbers (what SageMaker Batch Transform sends from a numeric JSON Lines file).
CSV with a header and Apache Arrow IPC streams are parsed in C by pyarrow (`api.columnar`).

Limits are checked before a body is parsed (`Limits`): lines are counted with `bytes.count`, and a JSON body's values
are bounded by counting its commas and brackets, so that a small body of many empty rows (`{}` or blank lines) is
refused with 413 before it becomes millions of Python objects. In every line format (CSV, JSON Lines) blank lines
(nothing but spaces and tabs) are skipped, and spaces and tabs at line ends dropped, without costing memory.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError, malformed
from api.fastjson import UNPARSED, long_integer, try_loads
from model.preprocess import FLOAT32_MAX

if TYPE_CHECKING:
    import numpy as np

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
JSONL_TYPES = ("application/jsonlines", "application/x-jsonlines", "application/jsonl", "application/x-ndjson")
"""JSON Lines by the names clients use for it (SageMaker: `application/jsonlines`); all read alike."""
ARROW_TYPES = ("application/vnd.apache.arrow.stream",)
"""The Apache Arrow IPC streaming format (not the file format, which needs seeking)."""

ENVELOPES = ("instances", "dataframe_split", "dataframe_records", "inputs")
"""The top-level members a JSON body may hold (exactly one of them)."""

# The model reads float32: a finite float64 beyond FLOAT32_MAX would silently become inf.
# numpy is imported where it is used (see model.preprocess).
# An integer literal with more digits than this is beyond float64 anyway (and Python refuses to parse
# integers over 4300 digits at all); it is read as a float, so it is reported as a non-finite value.
_MAX_INT_DIGITS = 300
# A string literal, for counting a JSON body's structure without the commas and brackets inside its strings. Unrolled
# (`"[^"\\]*(?:\\.[^"\\]*)*"`) so that a long string is one simple repeat, not one regex group per character.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Spaces and tabs at the end of a line: taken out, so that a line of nothing else is empty (and dropped).
_TRAILING_BLANKS = re.compile(rb"[ \t]+$", re.M)
# Regex substitutions build a list of every piece: a body is cleaned this many bytes at a time, to bound that list.
_CLEAN_CHUNK = 1 << 18
_UTF8_BOM = b"\xef\xbb\xbf"
# More than orjson's nesting limit (1,024) and the json module's (the recursion limit, 1,000 by default).
_MAX_OPEN_CONTAINERS = 4096


@dataclass(frozen=True)
class Limits:
    """How much one request may carry: rows, and (to bound a JSON body before it is parsed) values."""

    max_rows: int
    """Most rows (`TREEPORT_MAX_ROWS`, or `TREEPORT_MAX_EXPLAIN_ROWS` on `/explain`); 413 `too_many_rows` beyond."""
    max_values: int
    """Most JSON values (array elements and object members) or CSV cells: what `max_rows` rows of the model's
    features hold with room for as many unknown fields again; 413 `too_many_rows` beyond."""
    route: str = ""
    """Names the limit in the 413's message (`/explain` has its own)."""

    @classmethod
    def for_model(cls, max_rows: int, width: int, route: str = "") -> Limits:
        """Return the limits for rows of `width` values (the model's features, or its encoded columns if more)."""
        return cls(max_rows, max_rows * (2 * width + 8) + 1024, route)

    def check_rows(self, n: int) -> None:
        """Refuse an empty batch (400) or one over the row limit (413)."""
        if n == 0:
            raise malformed("empty_instances", "no rows to predict")
        if n > self.max_rows:
            raise ApiError(413, "too_many_rows", f"{n} rows is more than the limit of {self.max_rows}{self._where()}")

    def check_values(self, n: int, what: str = "JSON values") -> None:
        """Refuse a body holding more than `max_values` values (413 `too_many_rows`)."""
        if n > self.max_values:
            raise ApiError(
                413,
                "too_many_rows",
                f"the body holds {n} {what}, more than {self.max_rows} rows of the model's features can hold "
                f"({self.max_values}); send at most {self.max_rows} rows{self._where()}",
            )

    def _where(self) -> str:
        return f" per {self.route} request" if self.route else " per request"


class _NonFiniteLiteral(ValueError):
    """Raised by the JSON parser on NaN, Infinity or -Infinity, which JSON does not allow."""


def _reject_constant(name: str) -> Any:
    raise _NonFiniteLiteral(name)


def _parse_int(text: str) -> int | float:
    """Parse a JSON integer; a huge one becomes a float (inf when out of range) instead of raising."""
    return float(text) if len(text) > _MAX_INT_DIGITS else int(text)


def media_type(request: Request) -> str:
    """Return the request's media type, lowercased, without parameters."""
    return (request.mimetype or "").lower()


WHOLE_BODY = "treeport.body"
"""The environ key under which a server that has read a request's whole body (`api.worker`) hands it to the app
as bytes, beside `wsgi.input`. Werkzeug would otherwise copy it again out of the stream, 64 KB at a time into a
growing buffer: about 0.6 ms per MB here, a tenth of a 10,000-row Arrow request."""


def read_body(request: Request) -> bytes:
    """Return the body, or raise 413 when it is larger than MAX_CONTENT_LENGTH.

    Werkzeug refuses a Content-Length over the limit, but a streamed (chunked) body, which gunicorn
    passes on with `wsgi.input_terminated`, is read only up to the limit and then cut off without an
    error; so a body that fills the limit is checked for one byte more. A body the server has handed over
    whole (`WHOLE_BODY`) is taken as it is.
    """
    whole = request.environ.get(WHOLE_BODY)
    if type(whole) is bytes and request.content_length == len(whole):
        limit = request.max_content_length
        if limit is not None and len(whole) > limit:
            raise RequestEntityTooLarge
        return whole
    body = request.get_data(cache=True)
    if request.content_length is not None:  # the usual case: Werkzeug has already held it to the limit
        return body
    limit = request.max_content_length
    if limit is not None and len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise ApiError(413, "payload_too_large", f"request body larger than {limit} bytes")
    return body


def json_values_bound(body: bytes) -> int:
    """Return an upper bound on the values a JSON body holds: its commas and opening brackets (strings included)."""
    return sum(map(body.count, (b",", b"[", b"{"))) + 1


def check_json_size(body: bytes, limits: Limits) -> None:
    """Refuse (413) a JSON body holding more values than `limits` allow, before parsing it.

    Counting commas and brackets is a few passes of `bytes.count`; only where that count is over the limit are the
    body's strings visited (their commas are no values) to make it exact, and no more of them than so many values
    could hold.
    """
    # Uncounted where the length alone says so: in JSON every value but the last is followed by a byte of its own (a
    # comma, or its container's closing bracket), so a text of n bytes holds at most n/2 + 1 values, and a text cut
    # short (its parse fails) as many plus its open containers, which the parsers refuse past ~1,000 levels.
    if len(body) // 2 + 1 + _MAX_OPEN_CONTAINERS <= limits.max_values:
        return
    bound = json_values_bound(body)
    if bound <= limits.max_values:
        return
    inside = 0
    most = 2 * limits.max_values + 16  # every value a key and a string: more strings than this are too many values
    for k, match in enumerate(_JSON_STRING.finditer(body)):
        if k >= most:
            limits.check_values(k)
        text = match.group()
        inside += text.count(b",") + text.count(b"[") + text.count(b"{")
    limits.check_values(bound - inside)


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; NaN/Infinity literals and malformed JSON are 400s with their own codes."""
    if not body.strip():
        raise malformed("empty_body", "request body is empty")
    parsed = try_loads(body)
    if parsed is not UNPARSED:
        return parsed
    try:
        # JSON on the wire is UTF-8 (RFC 8259); json.loads would otherwise guess UTF-16/32 from the bytes.
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_int=_parse_int)
    except _NonFiniteLiteral as exc:
        raise malformed("non_finite_number", f"JSON does not allow the literal {exc}; send null for missing") from None
    except UnicodeDecodeError:
        raise malformed("invalid_encoding", "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise malformed(
            "malformed_json", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise malformed("malformed_json", "JSON nested too deeply") from None


def instances_of(payload: Any, limits: Limits) -> list[Any]:
    """Return the `instances` list of a payload that holds one (the `/predict` fast path's shape)."""
    rows = json_rows(payload, limits)
    if not isinstance(rows, list) or not isinstance(payload, dict) or "instances" not in payload:
        raise malformed("missing_instances", 'the body must have an "instances" array')
    return rows


def json_rows(payload: Any, limits: Limits) -> list[Any] | dict[str, Any]:
    """Return a parsed JSON body's rows: a list of records, or a dict of equally long columns.

    Both are what `Preprocessor.transform` reads; columns are never turned into one dict per row.
    """
    if not isinstance(payload, dict):
        raise malformed(
            "invalid_body_type",
            f'expected a JSON object such as {{"instances": [...]}} or {{"dataframe_split": {{...}}}}, '
            f"got {_json_kind(payload)}",
        )
    present = [k for k in ENVELOPES if k in payload]
    if not present:
        raise malformed(
            "missing_instances",
            'the body must have an "instances" array (or "dataframe_split", "dataframe_records" or "inputs")',
        )
    if len(present) > 1:
        raise malformed("ambiguous_body", f"the body holds {present}; send exactly one of them")
    envelope = present[0]
    extra = set(payload) - {envelope}
    if extra:
        shown = sorted(str(k)[:60] for k in extra)[:10]
        raise malformed("unknown_body_field", f"unknown top-level field(s) {shown}; only {envelope!r} is allowed")
    value = payload[envelope]
    if envelope == "dataframe_split":
        return _split_columns(value, limits)
    if envelope == "inputs" and isinstance(value, dict):
        return _json_columns(value, limits)
    if not isinstance(value, list):
        expected = "an array of records or an object of columns" if envelope == "inputs" else "an array"
        raise malformed("instances_not_array", f"{envelope!r} must be {expected}, got {_json_kind(value)}")
    limits.check_rows(len(value))
    return value


def _split_columns(split: Any, limits: Limits) -> list[Any] | dict[str, Any]:
    """Return the columns of MLflow's (pandas') `split` orientation: `columns`, `data` rows, optional `index`."""
    if not isinstance(split, dict):
        raise _bad_split(f'"dataframe_split" must be an object, got {_json_kind(split)}')
    extra = set(split) - {"columns", "data", "index"}
    if extra:
        raise _bad_split(f"unknown member(s) {sorted(str(k)[:60] for k in extra)[:10]}; use columns, data, index")
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(type(c) is str for c in columns):
        raise _bad_split('"columns" must be an array of feature names (strings)')
    if len(set(columns)) != len(columns):
        raise _bad_split('"columns" has duplicate names')
    if not isinstance(data, list):
        raise _bad_split(f'"data" must be an array of rows, got {_json_kind(data)}')
    limits.check_rows(len(data))
    if "index" in split and (not isinstance(split["index"], list) or len(split["index"]) != len(data)):
        raise _bad_split('"index", when sent, must be an array with one entry per row of "data"')
    width = len(columns)
    if set(map(type, data)) != {list} or set(map(len, data)) != {width}:
        for i, row in enumerate(data):
            if not isinstance(row, list):
                raise _bad_split(f'"data" row {i} must be an array, got {_json_kind(row)}')
            if len(row) != width:
                raise _bad_split(f'"data" row {i} has {len(row)} values; "columns" names {width}')
    if not columns:  # rows of nothing: each is an empty record (the schema then says what is missing)
        return [{} for _ in data]
    # In C: the rows run together into one list, then a slice per column (a third faster than an `itemgetter` pass
    # per column; `zip(*data)` would make an iterator per row, and those tens of thousands of container allocations
    # set off garbage collections that traverse the freshly parsed rows).
    flat = list(chain.from_iterable(data))
    return {name: flat[j::width] for j, name in enumerate(columns)}


def _bad_split(message: str) -> ApiError:
    return malformed("invalid_dataframe_split", message)


def _json_columns(columns: dict[str, Any], limits: Limits) -> list[Any] | dict[str, Any]:
    """Return column-major `{"inputs": {name: [values...]}}` as columns, checking they are arrays of one length."""
    if not columns:
        raise malformed("empty_instances", "no rows to predict")
    lengths = set()
    for name, column in columns.items():
        if not isinstance(column, list):
            raise malformed("invalid_columns", f"column {name[:60]!r} must be an array, got {_json_kind(column)}")
        lengths.add(len(column))
    if len(lengths) > 1:
        raise malformed("invalid_columns", f"columns must all be one length; got lengths {sorted(lengths)[:10]}")
    limits.check_rows(lengths.pop())
    return columns


def check_rows(n: int, max_rows: int) -> None:
    """Refuse an empty batch (400) or one over the row limit (413)."""
    Limits(max_rows, 0).check_rows(n)


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def decode_text(body: bytes) -> str:
    """Decode a text body as UTF-8 (a BOM is dropped)."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise malformed("invalid_encoding", "request body is not UTF-8") from None


# ---- line formats ------------------------------------------------------------------------------------------------


def lines_of(body: bytes) -> bytes:
    """Return a line-format body without its UTF-8 BOM, CR line ends, trailing spaces and tabs, or blank lines.

    Every step is a C pass over the bytes (or a regex over a quarter of a MiB at a time) that makes at most one copy,
    so a body of millions of blank lines costs a few copies of itself, never a Python object per line.
    """
    body = line_text(body)
    while b"\n\n" in body:  # a run of k line ends takes log2(k) passes
        body = body.replace(b"\n\n", b"\n")
    return body[1:] if body.startswith(b"\n") else body


def line_text(body: bytes) -> bytes:
    """Return `lines_of` but for its last step: blank lines are left, empty (what parsers skip at no cost).

    The checks that find nothing to do (the usual case) look for one byte at a time, which `bytes` does at memory
    speed; a two-byte search costs as much as counting the lines.
    """
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM) :]
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if (b" " in body or b"\t" in body) and (b" \n" in body or b"\t\n" in body or body.endswith((b" ", b"\t"))):
        body = b"".join(_TRAILING_BLANKS.sub(b"", chunk) for chunk in _chunks(body))
    return body


def bounded_lines(body: bytes, most: int) -> tuple[bytes, int]:
    """Return `line_text(body)` and its number of lines: counting blank ones, unless that is over `most`, in which
    case the blank lines are taken out (`lines_of`) and the count is exact."""
    text = line_text(body)
    n = count_lines(text)
    if n > most:
        text = lines_of(text)
        n = count_lines(text)
    return text, n


def _chunks(body: bytes) -> list[bytes]:
    """Return the body cut after a line end about every `_CLEAN_CHUNK` bytes (whole lines in each piece)."""
    pieces, start = [], 0
    while start < len(body):
        end = body.find(b"\n", start + _CLEAN_CHUNK)
        end = len(body) if end < 0 else end + 1
        pieces.append(body[start:end])
        start = end
    return pieces


def count_lines(body: bytes) -> int:
    """Return how many lines a `line_text` body holds, blank ones included (the last may lack its line end)."""
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)


def jsonl_rows(body: bytes, limits: Limits, arrays: bool = False, n_columns: int = 0) -> list[Any] | np.ndarray:
    """Return JSON Lines as records (one object per line); with `arrays`, lines of numbers become the encoded matrix.

    Lines are counted before any is parsed. A line that is not one JSON value is a 400 naming the line.
    """
    text, n = bounded_lines(body, limits.max_rows)
    if n > limits.max_rows:
        limits.check_rows(n)
    check_json_size(text, limits)
    lines = [line for line in text.splitlines() if line]
    if not lines:
        raise malformed("empty_body", "request body is empty")
    limits.check_rows(len(lines))
    rows = fast_loads_lines(text, lines)
    if rows is None:  # some line orjson does not read as the json module would: each line says why
        rows = [_json_line(line, i) for i, line in enumerate(lines)]
    if arrays and rows and type(rows[0]) is list:
        if any(type(r) is not list for r in rows):
            raise malformed("malformed_jsonl", "JSON Lines mixes arrays (preprocessed rows) and other values")
        return numeric_matrix(rows, n_columns, "JSON Lines line")
    return rows


def fast_loads_lines(text: bytes, lines: list[bytes]) -> list[Any] | None:
    """Return every line parsed by orjson in one C loop, or None where a line needs the careful path."""
    from api.fastjson import orjson

    if orjson is None or not lines or long_integer(text):
        return None  # no orjson here, or a 19-digit run somewhere (orjson and the json module read those apart)
    try:
        return list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        return None


def _json_line(line: bytes, i: int) -> Any:
    """Parse one line of JSON Lines; its problems are the body's, named by line."""
    value = try_loads(line)
    if value is not UNPARSED:
        return value
    try:
        return parse_json(line)
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, f"JSON Lines line {i}: {exc.message}") from None


def numeric_matrix(rows: Sequence[Sequence[Any]], n_columns: int, where: str) -> np.ndarray:
    """Return rows of already-preprocessed numbers (null: missing) as the float32 matrix, with `csv_matrix`'s checks."""
    import numpy as np

    for i, row in enumerate(rows):
        if len(row) != n_columns:
            raise ApiError(
                422,
                "wrong_column_count",
                f"{where} {i} has {len(row)} values; the model takes {n_columns} preprocessed columns",
            )
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), n_columns)
        plain = {float, int, type(None)} >= set(map(type, (v for row in rows for v in row)))
    except (TypeError, ValueError, OverflowError):
        plain = False
    if plain:
        with np.errstate(invalid="ignore"):
            fits = bool((np.isnan(values) | (np.abs(values) <= FLOAT32_MAX)).all())
        if fits:
            return values.astype(np.float32)
    for i, row in enumerate(rows):  # the slow way, only to name the first refused value
        for j, value in enumerate(row):
            _check_number(value, i, j, where)
    raise AssertionError("unreachable: a refused value was not found")  # pragma: no cover


def _check_number(value: Any, i: int, j: int, where: str) -> None:
    """Raise the 422 for one preprocessed value that is not a finite float32 number (null is missing)."""
    if value is None:
        return
    if type(value) not in (int, float):
        raise ApiError(422, "schema_violation", f"{where} {i} column {j}: expected a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(422, "non_finite_number", f"{where} {i} column {j}: {_show(value)} is not a finite number")
    if abs(number) > FLOAT32_MAX:
        raise ApiError(422, "schema_violation", f"{where} {i} column {j}: {_show(value)} is outside the float32 range")


def _show(value: Any) -> str:
    text = (
        repr(value) if not isinstance(value, (dict, list)) else ("an object" if isinstance(value, dict) else "an array")
    )
    return text if len(text) <= 40 else text[:37] + "..."
