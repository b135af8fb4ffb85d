"""The application factory: gunicorn, the Lambda handler and the tests all call `create_app()`."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from api.auth import OPEN_ENDPOINTS, check_api_key
from api.errors import register_error_handlers
from api.fastjson import FastJSONProvider, json_line
from api.metrics import Metrics
from api.routes import health, predict, sagemaker, v2
from api.services import EXTENSION, Services
from api.settings import Settings
from api.state import ModelState

if TYPE_CHECKING:
    from model.predictor import Predictor

access_log = logging.getLogger("treeport.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STARTED = "treeport.started"  # the environ key holding the request's start time


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
    app.json = FastJSONProvider(app)
    app.json.sort_keys = False
    app.json.compact = True

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

    # Per request, the labelled metric children are looked up in these dicts rather than through
    # `labels()` (which validates and locks each time); the label sets are the metrics' own.
    counted: dict[tuple[str, str, int], Any] = {}
    timed: dict[str, Any] = {}
    rows_counted: dict[str, Any] = {}

    if settings.api_keys:

        @app.before_request
        def _authenticate() -> None:
            req = request._get_current_object()  # type: ignore[attr-defined]
            if req.endpoint not in OPEN_ENDPOINTS:
                check_api_key(req, settings.api_keys)

    # The clock starts before Flask builds the request: a WSGI wrapper rather than a before_request hook,
    # which would cost a hook dispatch and a `g` write per request.
    flask_wsgi = app.wsgi_app

    def timed_wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[_STARTED] = time.perf_counter()
        return flask_wsgi(environ, start_response)

    app.wsgi_app = timed_wsgi  # type: ignore[method-assign]

    @app.after_request
    def _finish(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        started = req.environ.get(_STARTED)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        rule = req.url_rule
        route = rule.rule if rule is not None else "(unmatched)"
        incoming = req.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response.headers["X-Request-Id"] = request_id
        status = response.status_code
        key = (route, req.method, status)
        counter = counted.get(key)
        if counter is None:
            counter = counted[key] = metrics.requests.labels(route, req.method, str(status))
        counter.inc()
        latency = timed.get(route)
        if latency is None:
            latency = timed[route] = metrics.latency.labels(route)
        latency.observe(elapsed)
        rows = g.get("rows", 0)
        if rows:
            rows_counter = rows_counted.get(route)
            if rows_counter is None:
                rows_counter = rows_counted[route] = metrics.rows.labels(route)
            rows_counter.inc(rows)
        if access_log.isEnabledFor(logging.INFO):
            line = {
                "request_id": request_id,
                "method": req.method,
                "path": req.path,
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 3),
                "rows": rows,
            }
            # A record made here skips `Logger.info`'s search of the call stack for the caller's file and
            # line, which the JSON line does not show; handlers, filters and levels apply as usual.
            record = access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, json_line(line), (), None)
            access_log.handle(record)
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
