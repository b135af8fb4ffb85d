"""The Lambda adapter: the same Flask app as every other target, behind API Gateway or an ALB.

apig-wsgi turns API Gateway REST (v1 proxy), HTTP API (payload 2.0) and ALB events into WSGI
requests. `lambda/handler.py`, which the Lambda runtime imports once per execution environment, is
`handler = build_handler()`: the app and its model are built during init and every invocation reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from apig_wsgi import make_lambda_handler

from api.app import create_app
from api.services import EXTENSION
from api.settings import Settings
from api.state import ModelNotReady

Event = dict[str, Any]
LambdaHandler = Callable[[Event, Any], dict[str, Any]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def strip_stage(app: WsgiApp) -> WsgiApp:
    """Return `app` behind a middleware that moves an HTTP API's named stage from PATH_INFO to SCRIPT_NAME.

    HTTP API events (payload 2.0) keep the stage in `rawPath` (`/prod/predict` on stage `prod`);
    REST API events, the `$default` stage, and custom-domain mappings (whose `rawPath` lacks the
    stage) pass through untouched.
    """

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        event = environ.get("apig_wsgi.full_event") or {}
        if event.get("version") == "2.0":
            stage = (event.get("requestContext") or {}).get("stage") or "$default"
            prefix = "/" + stage
            path = environ.get("PATH_INFO", "")
            if stage != "$default" and (path == prefix or path.startswith(prefix + "/")):
                environ["SCRIPT_NAME"] = prefix
                environ["PATH_INFO"] = path[len(prefix) :] or "/"
        return app(environ, start_response)

    return middleware


def adapt(app: WsgiApp) -> LambdaHandler:
    """Return a Lambda handler that answers API Gateway and ALB events with the WSGI `app`.

    Binary answers (an Arrow stream) leave base64-encoded in every event kind: apig-wsgi's default for REST (v1)
    events decodes every body as UTF-8, which an Arrow answer is not (the handler then fails and the client gets
    a 502). A REST API passes them on as bytes where its `binaryMediaTypes` list the media type.
    """
    return make_lambda_handler(strip_stage(app), binary_support=True)


def build_handler(settings: Settings | None = None) -> LambdaHandler:
    """Return a Lambda handler serving `create_app(settings)`; the app and the model are built here, once.

    Raises `ModelNotReady` when the model does not load: the init fails, and Lambda runs it again (in a
    fresh environment) on the next invocation, where an unready app would answer 503 for its whole life.
    """
    app = create_app(settings)
    state = app.extensions[EXTENSION].state
    if not state.ready:
        state.stop_polling()  # no background retries in an environment that is about to be discarded
        raise ModelNotReady(state.error)
    return adapt(app)
