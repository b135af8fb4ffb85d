"""`GET /monitoring`: drift of the served rows against the model's training baseline (see `api.monitoring`)."""

from __future__ import annotations

from flask import Response, jsonify

from api.services import services


def monitoring() -> Response:
    """Return the drift report of the served model: window, rows, per-feature and score PSI, threshold."""
    svc = services()
    return jsonify(svc.monitoring.report(svc.state.predictor))
