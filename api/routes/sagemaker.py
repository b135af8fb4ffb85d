"""SageMaker's container contract: `GET /ping` and `POST /invocations`.

`text/csv` (no header) carries already-preprocessed numeric rows in the preprocessor's column order,
what the Lambda's SageMaker backend sends; `application/json` carries raw records as `/predict`.
`Accept: text/csv` answers one line per row: the probability of the positive class (binary), the class
probabilities in class order (multiclass), or the value (regression); otherwise the `/predict` JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from api.inputs import media_type, read_body
from api.services import services


def ping() -> Response:
    """Answer 200 with an empty body once the model is loaded (503 before)."""
    services().state.predictor  # noqa: B018  (raises ModelNotReady -> 503)
    return Response(status=200)


def invocations() -> Response:
    """Predict preprocessed CSV rows or raw JSON records."""
    plane = services().dataplane
    predictor = plane.predictor
    prediction = plane.predict(predictor, plane.invocation_rows(read_body(request), media_type(request), predictor))
    g.rows = len(prediction.results)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv" and (
        "text/csv" in request.accept_mimetypes.values()
    ):
        return Response("".join(_csv_line(r) for r in prediction.results), mimetype="text/csv")
    return jsonify(prediction.body())


def _csv_line(result: dict[str, Any]) -> str:
    if "probability" in result:
        return f"{result['probability']!r}\n"
    if "probabilities" in result:
        return ",".join(repr(p) for p in result["probabilities"].values()) + "\n"
    return f"{result['value']!r}\n"
