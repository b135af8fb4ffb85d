"""The data plane: what every transport does with a request once it has the body, its media type and a way to
read headers. Flask's routes, the plain-WSGI `/predict` fast path, `/invocations` and the Open Inference Protocol
all call it, so that authentication, media types, limits, the predict call and its response are decided here once.

Nothing here knows about Flask, WSGI or HTTP status lines: a refusal is an `ApiError` (status and code), which each
transport answers in its own way (see `api.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from api.auth import key_matches, presented_key
from api.errors import ApiError
from api.inputs import (
    ARROW_TYPES,
    CSV_TYPES,
    JSON_TYPES,
    JSONL_TYPES,
    Limits,
    check_json_size,
    json_rows,
    jsonl_rows,
    parse_json,
)
from api.records import RecordDecoders
from api.settings import Settings
from api.state import ModelState
from model.served import Results

try:
    import orjson
except ImportError:  # a Lambda image without orjson: the JSON provider writes every document
    orjson = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import numpy as np

    from model.predictor import Predictions, Predictor

HeaderLookup = Callable[[str], str | None]
"""`lookup(name)` returns a request header's value, or None when the request has none."""

RECORD_TYPES = JSON_TYPES + CSV_TYPES + JSONL_TYPES + ARROW_TYPES
"""Media types of a body of raw rows (`/predict`, `/explain`): JSON, CSV with a header, JSON Lines, Arrow."""

INVOCATION_TYPES = CSV_TYPES + JSON_TYPES + JSONL_TYPES + ARROW_TYPES
"""Media types `/invocations` takes: headerless preprocessed CSV (`header=present`: raw records), or raw rows."""


def model_ref(predictor: Predictor) -> dict[str, str]:
    """Return the `model` member of responses: the served model's name and version."""
    return {"name": predictor.name, "version": predictor.version}


def unsupported_media(mt: str, allowed: tuple[str, ...]) -> ApiError:
    """Return the 415 for a content type the route does not take."""
    return ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {mt[:100] or '(none)'!r} is not supported; use {' or '.join(allowed)}",
    )


@dataclass(frozen=True)
class Prediction:
    """The outcome of one predict call: the model that answered, and its predictions as arrays."""

    predictor: Predictor
    predictions: Predictions | Results
    """Arrays (a local model), or per-row dicts (a remote endpoint's answer)."""

    def __len__(self) -> int:
        return len(self.predictions)

    @cached_property
    def results(self) -> list[dict[str, Any]]:
        """Return one result dict per row (made on first use: a batch written by `json` or as CSV needs none)."""
        return self.predictions.records()

    def body(self) -> dict[str, Any]:
        """Return the `/predict` response document."""
        return {"model": model_ref(self.predictor), "predictions": self.results}

    def json(self) -> bytes | None:
        """Return `body()` as the JSON provider writes it (compact, no trailing newline), straight from the arrays,
        or None where only the provider can (multiclass, or no orjson)."""
        rows = result_lines(self.predictions, b",")
        if rows is None:
            return None
        return b'{"model":' + orjson.dumps(model_ref(self.predictor)) + b',"predictions":[' + rows + b"]}"


def result_lines(predictions: Predictions | Results, separator: bytes) -> bytes | None:
    """Return each row's result object as compact JSON, `separator` between them, written from the outputs without
    a dict per row; None without arrays (`Results`), for multiclass results, an empty batch, labels orjson cannot
    write, or without orjson.

    The bytes are those of `orjson.dumps` of the result dicts: the numbers are orjson's writing of the same Python
    floats, in the same objects, in the same key order.
    """
    if orjson is None or isinstance(predictions, Results):
        return None
    outputs = predictions.outputs
    if not len(outputs) or predictions.task == "multiclass":
        return None
    numbers = orjson.dumps(outputs.tolist())[1:-1].split(b",")  # a number is never written with a comma
    if predictions.task == "regression":
        return b'{"value":' + (b"}" + separator + b'{"value":').join(numbers) + b"}"
    try:
        heads = [
            b"}" + separator + b'{"label":' + orjson.dumps(label) + b',"probability":' for label in predictions.classes
        ]
    except TypeError:  # a label type orjson does not write: the provider's fallback decides
        return None
    return _interleave(heads, _positive(outputs), numbers) + b"}"


def _positive(outputs: np.ndarray) -> list[bool]:
    """Return, per row, whether the label is the positive class (as `Predictions.records` decides it)."""
    return (outputs >= 0.5).tolist()


def _interleave(heads: list[bytes], picks: list[bool], numbers: list[bytes]) -> bytes:
    """Return head[pick] + number per row, joined, the first row's head without its leading `}` and separator."""
    pieces: list[bytes] = [b""] * (2 * len(numbers))
    pieces[0::2] = map(heads.__getitem__, picks)
    pieces[1::2] = numbers
    pieces[0] = pieces[0][pieces[0].index(b"{") :]
    return b"".join(pieces)


class DataPlane:
    """The transport-free request path of one app: settings and the served model, and what to do with a body."""

    def __init__(self, settings: Settings, state: ModelState) -> None:
        self.settings = settings
        self.state = state
        self._decoders = RecordDecoders()

    @property
    def predictor(self) -> Predictor:
        """Return the served model, or raise `ModelNotReady` (503)."""
        return self.state.predictor

    def model(self, name: str) -> Predictor:
        """Return the served model when it is called `name`; 404 `model_not_found` otherwise."""
        predictor = self.predictor
        if name != predictor.name:
            raise ApiError(404, "model_not_found", f"no model named {name!r}; this server serves {predictor.name!r}")
        return predictor

    # ---- what every request is checked against -------------------------------------------------------

    @property
    def secured(self) -> bool:
        """Return whether requests to secured routes must present an API key."""
        return bool(self.settings.api_keys)

    def key_accepted(self, header: HeaderLookup) -> bool:
        """Return whether the request may use a secured route (always, when no API keys are configured)."""
        if not self.settings.api_keys:
            return True
        key = presented_key(header)
        return key is not None and key_matches(key, self.settings.api_keys)

    def authenticate(self, header: HeaderLookup) -> None:
        """Raise 401 `unauthorized` unless the request presents an accepted key (when keys are configured)."""
        if self.key_accepted(header):
            return
        if presented_key(header) is None:
            raise ApiError(401, "unauthorized", "missing API key: send x-api-key or Authorization: Bearer")
        raise ApiError(401, "unauthorized", "invalid API key")

    def body_length_accepted(self, length: int) -> bool:
        """Return whether a body of `length` bytes is within `TREEPORT_MAX_BODY_BYTES` (and not empty)."""
        return 0 < length <= self.settings.max_body_bytes

    # ---- bodies to rows ------------------------------------------------------------------------------

    def limits(self, predictor: Predictor, explain: bool = False) -> Limits:
        """Return the row and value limits of a request to `predictor` (`/explain` has its own row limit)."""
        # A row holds a value per feature, or (preprocessed: `/invocations`, V2's [N, F] tensor) per encoded column.
        width = max(len(predictor.schema.features), predictor.preprocessor.n_columns)
        if explain:
            return Limits.for_model(self.settings.max_explain_rows, width, "/explain")
        return Limits.for_model(self.settings.max_rows, width)

    def json_rows(self, body: bytes, predictor: Predictor, explain: bool = False) -> Any:
        """Return the rows of a JSON body (records, or columns), its size checked before it is parsed."""
        limits = self.limits(predictor, explain)
        columns = self.decoded_records(body, predictor, limits)
        if columns is not None:
            return columns
        check_json_size(body, limits)
        return json_rows(parse_json(body), limits)

    def decoded_records(self, body: bytes, predictor: Predictor, limits: Limits) -> dict[str, list[Any]] | None:
        """Return a large body of complete records as columns by msgspec (`api.records`), or None for the common
        path to read it."""
        return self._decoders.for_features(predictor.schema.features).columns(body, limits)

    def decoded_jsonl(self, body: bytes, predictor: Predictor, limits: Limits) -> dict[str, Any] | None:
        """Return large JSON Lines of complete records as columns by msgspec (`api.records`), or None for the common
        path to read them."""
        return self._decoders.for_features(predictor.schema.features).jsonl_columns(body, limits)

    def records(self, body: bytes, mt: str, predictor: Predictor, explain: bool = False) -> Any:
        """Return the raw rows of a body of media type `mt` (`RECORD_TYPES`): a list of records, or columns by
        name (both read by `Preprocessor.transform`)."""
        if mt in JSON_TYPES:
            return self.json_rows(body, predictor, explain)
        limits = self.limits(predictor, explain)
        features = predictor.schema.features
        if mt in CSV_TYPES:
            from api.columnar import csv_columns

            return csv_columns(body, limits, features)
        if mt in JSONL_TYPES:
            return self.decoded_jsonl(body, predictor, limits) or jsonl_rows(body, limits)
        if mt in ARROW_TYPES:
            from api.columnar import arrow_columns

            return arrow_columns(body, limits, features)
        raise unsupported_media(mt, RECORD_TYPES)

    def invocation_rows(self, body: bytes, mt: str, predictor: Predictor, header: bool = False) -> Any:
        """Return `/invocations` rows: a preprocessed matrix from headerless CSV (or JSON Lines of number arrays),
        raw rows otherwise (CSV too when its media type says `header=present`)."""
        if mt in CSV_TYPES and not header:
            from api.columnar import csv_matrix

            return csv_matrix(body, predictor.preprocessor.n_columns, self.limits(predictor))
        if mt in JSONL_TYPES:  # records, or arrays of encoded values (which the typed decoder leaves alone)
            limits = self.limits(predictor)
            return self.decoded_jsonl(body, predictor, limits) or jsonl_rows(
                body, limits, arrays=True, n_columns=predictor.preprocessor.n_columns
            )
        if mt in RECORD_TYPES:
            return self.records(body, mt, predictor)
        raise unsupported_media(mt, INVOCATION_TYPES)

    # ---- the model call ------------------------------------------------------------------------------

    def predict(self, predictor: Predictor, rows: Any) -> Prediction:
        """Predict `rows` (records or an encoded matrix) with `predictor`."""
        return Prediction(
            predictor, predictor.predict_batch(rows, ignore_unknown=self.settings.ignore_unknown_features)
        )

    def explain(self, predictor: Predictor, records: list[Any]) -> dict[str, Any]:
        """Return the `/explain` response document for `records`."""
        explanations = predictor.explain(records, ignore_unknown=self.settings.ignore_unknown_features)
        return {"model": model_ref(predictor), "explanations": explanations}
