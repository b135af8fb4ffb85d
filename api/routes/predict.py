"""`POST /predict` and `POST /explain`: raw rows in any request format (`api.inputs`), predictions out in the media
type the client accepts (`api.outputs`)."""

from __future__ import annotations

from flask import Response, g, jsonify, request

from api.inputs import JSON_TYPES, media_type, read_body
from api.outputs import negotiate, render
from api.services import services


def predict() -> Response:
    """Predict each row."""
    plane = services().dataplane
    answer = negotiate(request.accept_mimetypes)
    predictor = plane.predictor
    prediction = plane.predict(predictor, plane.records(read_body(request), media_type(request), predictor))
    g.rows = len(prediction)
    return render(prediction, answer)


def explain() -> Response:
    """Return per-feature SHAP contributions (one-hot columns summed to their feature) and the bias."""
    plane = services().dataplane
    negotiate(request.accept_mimetypes, JSON_TYPES)
    predictor = plane.predictor
    rows = plane.records(read_body(request), media_type(request), predictor, explain=True)
    body = plane.explain(predictor, rows)
    g.rows = len(body["explanations"])
    return jsonify(body)
