"""Request bodies to rows: JSON `{"instances": [...]}` and CSV, strictly checked and cheap.

Raw-record bodies become a list of dicts for `Preprocessor.transform_records`; headerless numeric CSV
(SageMaker's `/invocations`) becomes the encoded float32 matrix directly.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import Request

from api.errors import ApiError, malformed
from api.fastjson import UNPARSED, try_loads
from model.preprocess import FLOAT32_MAX

if TYPE_CHECKING:
    import numpy as np

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
# The model reads float32: a finite float64 beyond FLOAT32_MAX would silently become inf.
# numpy is imported where it is used (see model.preprocess).
# An integer literal with more digits than this is beyond float64 anyway (and Python refuses to parse
# integers over 4300 digits at all); it is read as a float, so it is reported as a non-finite value.
_MAX_INT_DIGITS = 300


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


def read_body(request: Request) -> bytes:
    """Return the body, or raise 413 when it is larger than MAX_CONTENT_LENGTH.

    Werkzeug refuses a Content-Length over the limit, but a streamed (chunked) body, which gunicorn
    passes on with `wsgi.input_terminated`, is read only up to the limit and then cut off without an
    error; so a body that fills the limit is checked for one byte more.
    """
    body = request.get_data(cache=True)
    if request.content_length is not None:  # the usual case: Werkzeug has already held it to the limit
        return body
    limit = request.max_content_length
    if limit is not None and len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise ApiError(413, "payload_too_large", f"request body larger than {limit} bytes")
    return body


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


def instances_of(payload: Any, max_rows: int) -> list[Any]:
    """Return the `instances` list of a `/predict` payload, checking its envelope."""
    if not isinstance(payload, dict):
        raise malformed(
            "invalid_body_type", f'expected a JSON object {{"instances": [...]}}, got {_json_kind(payload)}'
        )
    if "instances" not in payload:
        raise malformed("missing_instances", 'the body must have an "instances" array')
    extra = set(payload) - {"instances"}
    if extra:
        raise malformed(
            "unknown_body_field", f"unknown top-level field(s) {sorted(extra)}; only 'instances' is allowed"
        )
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise malformed("instances_not_array", f'"instances" must be an array, got {_json_kind(instances)}')
    check_rows(len(instances), max_rows)
    return instances


def check_rows(n: int, max_rows: int) -> None:
    """Refuse an empty batch (400) or one over the row limit (413)."""
    if n == 0:
        raise malformed("empty_instances", "no rows to predict")
    if n > max_rows:
        raise ApiError(413, "too_many_rows", f"{n} rows is more than the limit of {max_rows} per request")


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


def csv_records(body: bytes, max_rows: int) -> dict[str, list[str | None]]:
    """Parse CSV with a header row into columns of values (`csv_column`), each named by its header."""
    text = decode_text(body)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise malformed("malformed_csv", f"malformed CSV: {exc}") from None
    rows = [r for r in rows if r]
    if not rows:
        raise malformed("empty_body", "request body is empty")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise malformed("malformed_csv", "CSV header has duplicate column names")
    data = rows[1:]
    check_rows(len(data), max_rows)
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise malformed("malformed_csv", f"CSV row {i} has {len(row)} fields; the header has {len(header)}")
    return {name: csv_column(cells) for name, cells in zip(header, zip(*data, strict=True), strict=True)}


def csv_column(cells: Sequence[str]) -> list[str | None]:
    """Return a CSV column's cells as values: an empty cell is missing, any other is its (trimmed) text.

    CSV carries no types: the schema's rules read a text as a number or a category (`model.schema`).
    """
    return [cell.strip() or None for cell in cells]


def csv_matrix(body: bytes, n_columns: int, max_rows: int) -> np.ndarray:
    """Parse headerless numeric CSV (already-preprocessed rows) into a float32 matrix; empty cells are NaN."""
    import numpy as np

    text = decode_text(body)
    lines = [line for line in text.splitlines() if line.strip()]
    check_rows(len(lines), max_rows)
    out = np.empty((len(lines), n_columns), dtype=np.float32)
    for i, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != n_columns:
            raise ApiError(
                422,
                "wrong_column_count",
                f"CSV row {i} has {len(cells)} values; the model takes {n_columns} preprocessed columns",
            )
        for j, cell in enumerate(cells):
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
                raise ApiError(422, "non_finite_number", f"CSV row {i} column {j}: {cell!r} is not a finite number")
            if abs(value) > FLOAT32_MAX:
                raise ApiError(
                    422, "schema_violation", f"CSV row {i} column {j}: {cell[:40]!r} is outside the float32 range"
                )
            out[i, j] = value
    return out
