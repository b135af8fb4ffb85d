"""Liveness, readiness, model metadata, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Response, jsonify

from api.services import services


def health() -> Response:
    """Answer 200 while the process can serve HTTP."""
    return jsonify({"status": "ok"})


def ready() -> Response:
    """Answer 200 once a model is loaded, else 503 `model_not_ready`."""
    predictor = services().state.predictor
    return jsonify({"status": "ready", "model": {"name": predictor.name, "version": predictor.version}})


def metadata() -> Response:
    """Describe the served model (name, version, task, schema, metrics, backend) and the hardware serving it."""
    predictor = services().state.predictor
    manifest = predictor.bundle.manifest
    return jsonify(
        {
            "name": predictor.name,
            "version": predictor.version,
            "task": predictor.task,
            "backend": predictor.backend_name,
            "schema": manifest["schema"],
            "metrics": manifest["metrics"],
            "parity": manifest["parity"],
            "created_at": manifest["created_at"],
            "columns": predictor.preprocessor.columns,
            "hardware": services().hardware,
        }
    )


def metrics() -> Response:
    """Return Prometheus metrics (aggregated over gunicorn workers)."""
    m = services().metrics
    return Response(m.exposition(), mimetype=m.content_type.split(";")[0], content_type=m.content_type)


def openapi() -> Response:
    """Return the OpenAPI 3.1 document of this API, its records described by the served model's schema."""
    return jsonify(services().openapi())
