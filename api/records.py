"""The common large `/predict` body, `{"instances": [records]}`, decoded by msgspec straight into columns; and JSON
Lines of such records (SageMaker Batch Transform's), line by line.

orjson makes a dict per record, keys and all, and the encoder then takes each field out of every dict again: for
10,000 records of 11 features that is 8.5 ms of parsing and 2.2 ms of gathering. msgspec decodes the same text into
one fixed struct per record (its fields the model's features) in 3.5 ms, and a column is one `attrgetter` pass.

This is a fast path only. A body takes it when it is large (`MIN_BYTES`), its records hold every feature and
nothing else, as JSON scalars, and the envelope holds nothing but `instances`; anything else (a missing or unknown
field, a nested value, a row that is no object, an integer past 64 bits' reach of float, `NaN`, bad UTF-8, a body
msgspec refuses for any reason) returns None and takes the common path (`api.inputs`), which reads or refuses it as
before. Where it is taken, the columns are those the common path's records give the encoder, so the matrix and any
refusal (row, field, problem) are the same: the records are complete, so no cell is absent.

msgspec reads integers of any size exactly and floats correctly rounded, as the json module does; it refuses
`1e400` (the json module reads inf, which the common path then refuses by the rule). Memory: every field is a
scalar, so a body holds at most as many Python values as rows times features, and rows are bounded before decoding
by the body's `{` count (JSON Lines: by its lines). msgspec is optional (the Lambda images install only their
requirement files).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from api.inputs import Limits
from model.schema import NumericFeature

try:
    import msgspec
except ImportError:  # the common path reads every body
    msgspec = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from collections.abc import Sequence

    from model.schema import Feature

MIN_BYTES = 1 << 16
"""Smaller bodies (a few hundred records at most) take the common path: orjson is as fast there."""

_SCALAR = int | float | str | bool | None
_NUMBER = float | None


class RecordDecoder:
    """Decodes `{"instances": [...]}` of records with exactly the given features into columns by name."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.names = tuple(f.name for f in features)
        self._decoder: Any = None
        if msgspec is None or not self.names:
            return
        # A numeric feature's field takes a JSON number or null, read as a float (an integer as `float` reads it);
        # any other value (text, a boolean) sends the body the common way, which the rule reads it by. The others
        # take any scalar.
        numeric = [isinstance(f, NumericFeature) for f in features]
        # Struct fields are Python names (f0, f1...); `rename` maps them to the features' names as sent.
        fields = [(f"f{j}", _NUMBER if numeric[j] else _SCALAR) for j in range(len(self.names))]
        rename = {f"f{j}": name for j, name in enumerate(self.names)}
        try:
            row: Any = msgspec.defstruct("Record", fields, rename=rename, forbid_unknown_fields=True, gc=False)
        except ValueError:  # msgspec takes no name holding a quote, a backslash or a control character
            return
        body = msgspec.defstruct("Body", [("instances", list[row])], forbid_unknown_fields=True, gc=False)
        self._decoder = msgspec.json.Decoder(body)
        self._row_decoder = msgspec.json.Decoder(row)
        self._columns = [(f.name, attrgetter(f"f{j}"), numeric[j], f.nullable) for j, f in enumerate(features)]

    def columns(self, body: bytes, limits: Limits) -> dict[str, Any] | None:
        """Return the records of `body` as columns (after the row limit's checks), or None for the common path.

        A numeric feature's column is float64 (NaN for null) where that reads as its values do: always when the
        feature may be missing, else where no value is null (the rule's refusal then names the null, not NaN).
        """
        if self._decoder is None or len(body) < MIN_BYTES:
            return None
        if body.count(b"{") - 1 > limits.max_rows:  # a record is an object: more records than this are too many
            return None
        try:
            records = self._decoder.decode(body).instances
        except msgspec.MsgspecError:  # malformed, or not this shape (DecodeError, ValidationError)
            return None
        limits.check_rows(len(records))
        return self._columns_of(records)

    def _columns_of(self, records: list[Any]) -> dict[str, Any]:
        import numpy as np

        columns: dict[str, Any] = {}
        for name, get, numeric, nullable in self._columns:
            values = list(map(get, records))
            if numeric:
                floats = np.array(values, dtype=np.float64)  # None is NaN
                if nullable or not np.isnan(floats).any():
                    columns[name] = floats
                    continue
            columns[name] = values
        return columns

    def jsonl_columns(self, body: bytes, limits: Limits) -> dict[str, Any] | None:
        """Return large JSON Lines of one complete record per line as `columns` returns them, or None for the common
        path (which reads them, or names the line it refuses).

        Each line is decoded on its own as one record, as the common path parses each line on its own; a blank line
        (which the common path skips), or any line not such a record, sends the body the common way, so the rows
        taken here are numbered as the common path numbers them. Lines may end in CRLF (a CR is JSON whitespace); a
        CR elsewhere, which the common path reads as a line end, sends the body the common way.
        """
        if self._decoder is None or len(body) < MIN_BYTES:
            return None
        text = body.strip(b"\n")
        if text.lstrip()[:1] != b"{":  # lines of arrays (`/invocations`' encoded rows), or no JSON Lines of records
            return None
        if b"\r" in text and text.count(b"\r") != text.count(b"\r\n"):
            return None
        if text.count(b"\n") + 1 > limits.max_rows:  # too many lines: the common path counts them and says so
            return None
        try:
            records = list(map(self._row_decoder.decode, text.split(b"\n")))
        except msgspec.MsgspecError:
            return None
        limits.check_rows(len(records))
        return self._columns_of(records)


class RecordDecoders:
    """The decoder of the model being served, made again when another model (or version) is served."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[Feature, ...], RecordDecoder] | None = None

    def for_features(self, features: Sequence[Feature]) -> RecordDecoder:
        """Return a decoder for records of exactly `features`."""
        key = tuple(features)
        cached = self._cached
        if cached is None or cached[0] != key:
            cached = self._cached = (key, RecordDecoder(key))
        return cached[1]
