"""Responses in the media type the client accepts: JSON (the default), CSV, JSON Lines or Apache Arrow.

The choice is Werkzeug's `best_match` over the media types a route can answer, so q-values decide (`text/csv;q=0.5,
application/json` is JSON; `*/*` or no `Accept` at all is JSON); an `Accept` that names none of them is a 406.
Errors are JSON whatever was asked for.

CSV and JSON Lines answer one line per row, in request order, as SageMaker Batch Transform expects (it pairs output
lines with input lines): in CSV, the probability of the positive class (binary), the class probabilities in class
order (multiclass), or the value (regression); in JSON Lines, each row's `/predict` result object. An Arrow stream
carries one record batch: `label` and `probability` (binary), `label` and a `probabilities` struct with a field per
class (multiclass), or `value` (regression), and the model's name and version in the schema's metadata.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify
from werkzeug.datastructures import MIMEAccept

from api.columnar import have_pyarrow
from api.errors import ApiError
from api.inputs import ARROW_TYPES, CSV_TYPES, JSON_TYPES, JSONL_TYPES

if TYPE_CHECKING:
    from api.dataplane import Prediction

try:
    import orjson
except ImportError:  # a Lambda image without orjson: the json module writes the lines
    orjson = None  # type: ignore[assignment]

JSON, CSV, JSONL, ARROW = JSON_TYPES[0], CSV_TYPES[0], JSONL_TYPES[0], ARROW_TYPES[0]
PREDICTION_TYPES: tuple[str, ...] = (JSON, CSV, *JSONL_TYPES, ARROW)
"""What `/predict` and `/invocations` can answer, JSON first (the choice when any would do)."""


def negotiate(accept: MIMEAccept, offered: Sequence[str] = PREDICTION_TYPES) -> str:
    """Return the media type to answer in: the best of `offered` by the `Accept` header (406 if none is acceptable)."""
    if ARROW in offered and not have_pyarrow():  # Arrow is answered only where pyarrow is installed
        offered = tuple(media for media in offered if media != ARROW)
    if not accept:  # no Accept header: anything is acceptable (RFC 9110)
        return offered[0]
    best = accept.best_match(offered)
    if best is None:
        shown = accept.to_header()
        raise ApiError(
            406,
            "not_acceptable",
            f"Accept {shown[:100]!r}{'...' if len(shown) > 100 else ''} names no media type this route answers; "
            f"use {', '.join(dict.fromkeys(offered))}",
        )
    return best


def render(prediction: Prediction, media: str) -> Response:
    """Return the response of `prediction` in `media` (one of `PREDICTION_TYPES`)."""
    results = prediction.results
    if media == CSV:
        return Response(csv_lines(results), mimetype=CSV)
    if media in JSONL_TYPES:
        return Response(jsonl_lines(results), mimetype=media)
    if media == ARROW:
        return Response(arrow_stream(prediction), mimetype=ARROW)
    return jsonify(prediction.body())


def csv_lines(results: list[dict[str, Any]]) -> str:
    """Return one CSV line per result: positive-class probability, class probabilities in order, or the value."""
    if not results:
        return ""
    first = results[0]
    if "probability" in first:
        return "\n".join([repr(r["probability"]) for r in results]) + "\n"
    if "probabilities" in first:
        return "".join(",".join(map(repr, r["probabilities"].values())) + "\n" for r in results)
    return "\n".join([repr(r["value"]) for r in results]) + "\n"


def jsonl_lines(results: list[dict[str, Any]]) -> bytes:
    """Return one compact JSON object per line: each row's `/predict` result."""
    if orjson is not None:
        dump = orjson.dumps
        try:
            return b"\n".join([dump(r, option=orjson.OPT_NON_STR_KEYS) for r in results]) + b"\n"
        except TypeError:  # pragma: no cover  (results hold only numbers, strings and dicts of them)
            pass
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in results).encode()


def arrow_stream(prediction: Prediction) -> bytes:
    """Return the results as an Arrow IPC stream of one record batch (model name and version in its metadata)."""
    import pyarrow as pa

    results = prediction.results
    columns: dict[str, Any] = {}
    if results and "value" in results[0]:
        columns["value"] = pa.array([r["value"] for r in results], pa.float64())
    else:
        columns["label"] = pa.array([r["label"] for r in results])
        if results and "probabilities" in results[0]:
            classes = list(results[0]["probabilities"])
            columns["probabilities"] = pa.StructArray.from_arrays(
                [pa.array([r["probabilities"][c] for r in results], pa.float64()) for c in classes],
                names=[str(c) for c in classes],
            )
        else:
            columns["probability"] = pa.array([r["probability"] for r in results], pa.float64())
    predictor = prediction.predictor
    metadata = {"treeport.model.name": predictor.name, "treeport.model.version": predictor.version}
    table = pa.table(columns, metadata=metadata)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
