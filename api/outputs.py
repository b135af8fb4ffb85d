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
from api.dataplane import Prediction, result_lines
from api.errors import ApiError
from api.inputs import ARROW_TYPES, CSV_TYPES, JSON_TYPES, JSONL_TYPES

if TYPE_CHECKING:
    from model.predictor import Predictions
    from model.served import Results

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
    if media == CSV:
        return Response(csv_lines(prediction.predictions), mimetype=CSV)
    if media in JSONL_TYPES:
        return Response(jsonl_lines(prediction), mimetype=media)
    if media == ARROW:
        return Response(arrow_stream(prediction), mimetype=ARROW)
    data = prediction.json()
    if data is None:
        return jsonify(prediction.body())
    return Response(data + b"\n", mimetype=JSON)  # as `jsonify` answers it


def csv_lines(predictions: Predictions | Results) -> str:
    """Return one CSV line per row: positive-class probability, class probabilities in order, or the value."""
    values = predictions.output_rows()  # Python floats, written as `repr` writes them
    if predictions.class_names():
        return "".join(",".join(map(repr, row)) + "\n" for row in values)
    return "".join([repr(v) + "\n" for v in values])


def jsonl_lines(prediction: Prediction) -> bytes:
    """Return one compact JSON object per line: each row's `/predict` result."""
    lines = result_lines(prediction.predictions, b"\n")
    if lines is not None:
        return lines + b"\n"
    results = prediction.results
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

    predictions = prediction.predictions
    values = predictions.output_rows()
    labels = predictions.labels()
    classes = predictions.class_names()
    columns: dict[str, Any] = {}
    if labels is None:
        columns["value"] = pa.array(values, pa.float64())
    else:
        columns["label"] = pa.array(labels)
        if classes:
            columns["probabilities"] = pa.StructArray.from_arrays(
                [pa.array([row[k] for row in values], pa.float64()) for k in range(len(classes))], names=classes
            )
        else:
            columns["probability"] = pa.array(values, pa.float64())
    predictor = prediction.predictor
    metadata = {"treeport.model.name": predictor.name, "treeport.model.version": predictor.version}
    table = pa.table(columns, metadata=metadata)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
