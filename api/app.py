"""The application factory: gunicorn, the Lambda handler and the tests all call `create_app()`."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from api.collector import CollectorHold
from api.dataplane import DataPlane
from api.errors import register_error_handlers
from api.fastjson import FastJSONProvider
from api.fastpath import STARTED, FastPredict
from api.metrics import Metrics
from api.monitoring import Monitoring
from api.observe import RequestObserver, request_id
from api.openapi import openapi_document
from api.routes.table import OPEN_ENDPOINTS, ROUTES
from api.services import EXTENSION, Services
from api.settings import Settings
from api.state import ModelState
from model.hardware import summary_line

if TYPE_CHECKING:
    from model.predictor import Predictor


def create_app(
    settings: Settings | None = None,
    predictor: Predictor | None = None,
    *,
    load_model: bool = True,
    fast_path: bool = True,
) -> Flask:
    """Build the app: read settings (from the environment unless given), load the model once, wire routes.

    A model that fails to load leaves the app up and answering 503 on model routes (and on `/ready`),
    so orchestrators see "not ready" instead of a crash loop, and retries the load in the background with
    capped backoff (`load_retry_max_seconds`) until it succeeds.
    `predictor` serves that model instead of loading one; `load_model=False` starts with none and never loads
    one (the not-ready state); `fast_path=False` leaves every request to Flask (see `api.fastpath`).
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
    monitoring = Monitoring(settings)
    metrics.add_collector(monitoring.collector())

    def served(p: Predictor) -> None:
        metrics.set_model(p.name, p.version, p.backend_name)
        monitoring.watch(p)

    state = ModelState(settings, on_change=served)
    if predictor is not None:
        state.set(predictor)
    elif load_model:
        state.load()
    plane = DataPlane(settings, state)

    def openapi() -> dict[str, Any]:
        return openapi_document(state.predictor.schema if state.ready else None)

    hardware = serving_hardware(settings, state)
    logging.getLogger("treeport.api").info(summary_line(hardware))
    services = Services(
        settings=settings,
        state=state,
        metrics=metrics,
        dataplane=plane,
        openapi=openapi,
        hardware=hardware,
        monitoring=monitoring,
    )
    app.extensions[EXTENSION] = services

    register_error_handlers(app)
    for route in ROUTES:
        app.add_url_rule(route.rule, route.operation_id, route.view, methods=[route.method])

    observer = RequestObserver(metrics)

    if plane.secured:

        @app.before_request
        def _authenticate() -> None:
            req = request._get_current_object()  # type: ignore[attr-defined]
            if req.endpoint not in OPEN_ENDPOINTS:
                plane.authenticate(req.headers.get)

    @app.after_request
    def _finish(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        started = req.environ.get(STARTED)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        rule = req.url_rule
        rid = request_id(req.headers.get("X-Request-Id"))
        response.headers["X-Request-Id"] = rid
        route = rule.rule if rule is not None else "(unmatched)"
        observer.done(req.method, req.path, route, response.status_code, elapsed, g.get("rows", 0), rid)
        return response

    # `POST /predict` is answered without Flask's request machinery when nothing about it needs Flask (see
    # api.fastpath); the clock starts before either, in a plain WSGI wrapper rather than a before_request hook.
    routed = FastPredict(app.wsgi_app, plane, observer, app.json) if fast_path else app.wsgi_app
    inner = CollectorHold().wrap(routed)  # see api.collector

    def timed_wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[STARTED] = time.perf_counter()
        return inner(environ, start_response)

    app.wsgi_app = timed_wsgi  # type: ignore[method-assign]

    if predictor is not None or load_model:
        state.start_background()
    return app


def serving_hardware(settings: Settings, state: ModelState) -> dict[str, Any]:
    """Return the hardware report of this process (`GET /metadata`'s `hardware`), built once per app.

    oneDAL is asked for its code path only where the daal4py backend serves (its core is loaded by then);
    the threads are the ones the loaded model predicts with.
    """
    from model.errors import UserError
    from model.hardware import allowed_cpus, hardware_report, serving_layout

    try:
        workers, threads = serving_layout(os.environ)
    except UserError:  # gunicorn's config refuses a bad TREEPORT_WORKERS before any app is built
        workers, threads = allowed_cpus(), settings.threads or 1
    loaded = state.predictor if state.ready else None
    threads = getattr(loaded, "threads", None) or settings.threads or threads
    onedal = None
    if settings.backend == "daal4py":
        # Imported only here: model.onedal imports numpy, which a sagemaker-backend Lambda never loads.
        from model.onedal import dispatch_info

        onedal = dispatch_info(load=False)
    return hardware_report(os.environ, onedal, workers=workers, threads=threads)


def _configure_logging() -> None:
    """Send Treeport's log lines (one JSON line per request on `treeport.access`) to stderr once."""
    logger = logging.getLogger("treeport")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
