"""SageMaker's container contract: `GET /ping` and `POST /invocations`.

`text/csv` (no header) carries already-preprocessed numeric rows in the preprocessor's column order,
what the Lambda's SageMaker backend sends; `application/json` carries raw records as `/predict`.
`Accept: text/csv` answers one line per row: the probability of the positive class (binary), the class
probabilities in class order (multiclass), or the value (regression); otherwise the `/predict` JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from api.inputs import CSV_TYPES, JSON_TYPES, csv_matrix, instances_of, media_type, parse_json, read_body
from api.routes.predict import model_ref, unsupported_media
from api.services import services

bp = Blueprint("sagemaker", __name__)


@bp.get("/ping")
def ping() -> Response:
    """Answer 200 with an empty body once the model is loaded (503 before)."""
    services().state.predictor  # noqa: B018  (raises ModelNotReady -> 503)
    return Response(status=200)


@bp.post("/invocations")
def invocations() -> Response:
    """Predict preprocessed CSV rows or raw JSON records."""
    settings = services().settings
    predictor = services().state.predictor
    mt = media_type(request)
    rows: Any
    if mt in CSV_TYPES:
        rows = csv_matrix(read_body(request), predictor.preprocessor.n_columns, settings.max_rows)
    elif mt in JSON_TYPES:
        rows = instances_of(parse_json(read_body(request)), settings.max_rows)
    else:
        raise unsupported_media(mt, CSV_TYPES + JSON_TYPES)
    results = predictor.predict(rows, ignore_unknown=settings.ignore_unknown_features)
    g.rows = len(results)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv" and (
        "text/csv" in request.accept_mimetypes.values()
    ):
        return Response("".join(_csv_line(r) for r in results), mimetype="text/csv")
    return jsonify({"model": model_ref(predictor), "predictions": results})


def _csv_line(result: dict[str, Any]) -> str:
    if "probability" in result:
        return f"{result['probability']!r}\n"
    if "probabilities" in result:
        return ",".join(repr(p) for p in result["probabilities"].values()) + "\n"
    return f"{result['value']!r}\n"
