"""Fast JSON for the HTTP layer: orjson when it is installed, the standard library when it is not.

orjson parses a `/predict` body about 4x and writes a response 10-15x faster than the json module (see
README "Performance"). It is a dependency of Treeport; the Lambda images install only what their requirement
files list, so every function here also works, unchanged in what it returns, without it.

Parsing is a fast path only: whatever orjson refuses (NaN literals, integers past 64 bits, lone surrogates,
bad UTF-8, deep nesting, malformed text) goes to the json module, which reads it or names the problem
exactly as before. Writing matches Flask's provider too, except that non-ASCII text is written as UTF-8
rather than `\\u` escapes (the same JSON).
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

try:
    import orjson
except ImportError:  # the json module does the work (a Lambda image without orjson)
    orjson = None  # type: ignore[assignment]

UNPARSED = object()
# orjson reads an integer beyond 64 bits as a float, the json module as an exact int: such a body goes the slow
# way. A run of 19 digits is where that can begin (-9,300,000,000,000,000,000 is below the int64 minimum). The
# run is found by mapping every digit to 0 and searching for 19 zeros: linear, unlike a `\d{19}` regex.
_ALL_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def try_loads(body: bytes) -> Any:
    """Return the parsed body when orjson reads it exactly as the json module would, else `UNPARSED`."""
    if orjson is None or long_integer(body):
        return UNPARSED
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return UNPARSED


def long_integer(body: bytes) -> bool:
    """Return whether the body holds a run of 19 or more digits (where orjson and the json module may disagree)."""
    return _LONG_RUN in body.translate(_ALL_DIGITS_TO_ZERO)


def json_line(fields: dict[str, Any]) -> str:
    """Return a flat dict of strings and numbers as one line of compact JSON (a log line)."""
    if orjson is None:
        return json.dumps(fields, separators=(",", ":"))
    return orjson.dumps(fields).decode()


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing with orjson: `jsonify` and error bodies get the fast encoder."""

    def _options(self) -> int:
        options = (
            orjson.OPT_NON_STR_KEYS  # class labels may be ints: {"probabilities": {0: ..., 1: ...}}
            | orjson.OPT_SERIALIZE_NUMPY
            # Dates and dataclasses go to Flask's `default`, so they come out as Flask writes them.
            | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS
        )
        return options | orjson.OPT_SORT_KEYS if self.sort_keys else options

    def dump_bytes(self, obj: Any) -> bytes | None:
        """Return `obj` as compact JSON bytes, or None where orjson cannot (the caller then uses `dumps`)."""
        if orjson is None or self.compact is False:
            return None
        try:
            return orjson.dumps(obj, default=self.default, option=self._options())
        except TypeError:  # a type neither orjson nor Flask's default knows, or non-str keys that do not sort
            return None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize `obj` to a JSON string (orjson unless arguments for the json module are given)."""
        if not kwargs:
            data = self.dump_bytes(obj)
            if data is not None:
                return data.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Return a JSON response of the arguments, as `flask.jsonify` does."""
        if args and kwargs:
            raise TypeError("jsonify() behavior undefined when passed both args and kwargs")
        obj = args[0] if len(args) == 1 else (args or kwargs or None)
        data = self.dump_bytes(obj)
        if data is None:
            return super().response(obj)
        response: Response = self._app.response_class(data + b"\n", mimetype=self.mimetype)  # type: ignore[arg-type]
        return response
