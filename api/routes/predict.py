"""`POST /predict` and `POST /explain`: raw records as JSON or CSV in, `{"model", "predictions"}` out."""

from __future__ import annotations

from flask import Response, g, jsonify, request

from api.inputs import media_type, read_body
from api.services import services


def predict() -> Response:
    """Predict each row."""
    plane = services().dataplane
    predictor = plane.predictor
    prediction = plane.predict(predictor, plane.records(read_body(request), media_type(request), predictor))
    g.rows = len(prediction.results)
    return jsonify(prediction.body())


def explain() -> Response:
    """Return per-feature SHAP contributions (one-hot columns summed to their feature) and the bias."""
    plane = services().dataplane
    predictor = plane.predictor
    body = plane.explain(predictor, plane.records(read_body(request), media_type(request), predictor))
    g.rows = len(body["explanations"])
    return jsonify(body)
