"""SageMaker's container contract: `GET /ping`, `POST /invocations` and, for Batch Transform, `GET
/execution-parameters`.

`text/csv` (no header) carries already-preprocessed numeric rows in the preprocessor's column order, what the
Lambda's SageMaker backend sends and what a Batch Transform job with `SplitType: Line` sends from a numeric CSV
file; `text/csv;header=present` carries raw records with a header row, as `/predict` takes them. JSON Lines carries
one raw record per line, or (a line that is an array) one preprocessed row; JSON and Arrow carry raw rows as
`/predict` takes them. The answer's media type follows `Accept` (`api.outputs`): `text/csv` and
`application/jsonlines` give one line per row, in order, as Batch Transform pairs output lines with input lines.
"""

from __future__ import annotations

from flask import Response, g, jsonify, request

from api.inputs import media_type, read_body
from api.outputs import negotiate, render
from api.services import services

BATCH_STRATEGY = "MULTI_RECORD"
"""Batch Transform sends as many records per request as fit in `MaxPayloadInMB` (SplitType Line)."""
MAX_PAYLOAD_IN_MB_CAP = 100  # the most CreateTransformJob allows


def ping() -> Response:
    """Answer 200 with an empty body once the model is loaded (503 before)."""
    services().state.predictor  # noqa: B018  (raises ModelNotReady -> 503)
    return Response(status=200)


def invocations() -> Response:
    """Predict preprocessed CSV rows, or raw rows in any format `/predict` takes."""
    plane = services().dataplane
    answer = negotiate(request.accept_mimetypes)
    predictor = plane.predictor
    header = request.mimetype_params.get("header", "").lower() == "present"
    rows = plane.invocation_rows(read_body(request), media_type(request), predictor, header=header)
    prediction = plane.predict(predictor, rows)
    g.rows = len(prediction)
    return render(prediction, answer)


def execution_parameters() -> Response:
    """Tell Batch Transform how to call this container: one request per worker at a time, many records each."""
    svc = services()
    workers = int(svc.hardware.get("serving", {}).get("workers") or 1)
    payload_mb = max(1, min(MAX_PAYLOAD_IN_MB_CAP, svc.settings.max_body_bytes // (1024 * 1024)))
    return jsonify({"MaxConcurrentTransforms": workers, "BatchStrategy": BATCH_STRATEGY, "MaxPayloadInMB": payload_mb})
