"""The application factory: gunicorn, the Lambda handler and the tests all call `create_app()`."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

from api.auth import OPEN_ENDPOINTS, check_api_key
from api.errors import register_error_handlers
from api.metrics import Metrics
from api.routes import health, predict, sagemaker, v2
from api.services import EXTENSION, Services
from api.settings import Settings
from api.state import ModelState
from model.predictor import Predictor

access_log = logging.getLogger("treeport.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> Flask:
    """Build the app: read settings (from the environment unless given), load the model once, wire routes.

    A model that fails to load leaves the app up and answering 503 on model routes (and on `/ready`),
    so orchestrators see "not ready" instead of a crash loop; with `reload_seconds` it keeps trying.
    """
    settings = settings or Settings.from_env()
    _configure_logging()
    app = Flask("treeport", static_folder=None)
    # A path with `//` gets a JSON 404 rather than Werkzeug's HTML 308 redirect to the merged path.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]

    metrics = Metrics()
    state = ModelState(settings, on_change=lambda p: metrics.set_model(p.name, p.version, p.backend_name))
    if predictor is not None:
        state.set(predictor)
    elif settings.load_model:
        state.load()
    app.extensions[EXTENSION] = Services(settings=settings, state=state, metrics=metrics)

    register_error_handlers(app)
    for blueprint in (predict.bp, health.bp, sagemaker.bp, v2.bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def _begin() -> None:
        g.started = time.perf_counter()
        g.rows = 0
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        if settings.api_keys and request.endpoint not in OPEN_ENDPOINTS:
            check_api_key(request, settings.api_keys)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("started")
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        response.headers["X-Request-Id"] = g.get("request_id", "")
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        rows = g.get("rows", 0)
        if rows:
            metrics.rows.labels(route).inc(rows)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                json.dumps(
                    {
                        "request_id": g.get("request_id"),
                        "method": request.method,
                        "path": request.path,
                        "route": route,
                        "status": response.status_code,
                        "ms": round(elapsed * 1000, 3),
                        "rows": rows,
                    }
                )
            )
        return response

    state.start_polling()
    return app


def _configure_logging() -> None:
    """Send Treeport's log lines (one JSON line per request on `treeport.access`) to stderr once."""
    logger = logging.getLogger("treeport")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
