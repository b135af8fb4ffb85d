"""`POST /predict` with a JSON body, answered in plain WSGI: the route that carries the load, without Flask's
per-request machinery.

Measured in one process (`bench/app_overhead.py`), Flask's request context, `Request` and `Response` objects,
URL matching and hooks cost more than the prediction itself: about 0.2 ms of the 0.3 ms a one-row `/predict`
took, against 0.1 ms for a whole hello-world route. Under gunicorn that was the difference between 0.69 and the
target 0.8 of a hello-world server's throughput (issue 8). `FastPredict` wraps the Flask app's WSGI callable
and answers one kind of request itself:

- `POST /predict` with media type `application/json`, a `Content-Length` within `TREEPORT_MAX_BODY_BYTES`
  (and no `Transfer-Encoding`), and (when API keys are set) a valid key;
- no `Accept` header, or one of `*/*` or `application/json` alone (any other goes to Flask, which negotiates);
- a body within the data plane's value bound (`api.inputs.check_json_size`) that orjson reads exactly as the json
  module would, shaped as one of the JSON bodies `/predict` takes (`{"instances": [...]}`, `dataframe_split`, ...)
  within `TREEPORT_MAX_ROWS`; and a model loaded.

Anything else goes to Flask, with the body already read put back, before any prediction is attempted: every
other route, method or media type, and every refusal of the request's shape, is answered by Flask's routes and
error handlers exactly as before. Once the prediction runs, its outcome is answered here, an error too (a
validation error, or the SageMaker endpoint's 502/504), in the same JSON as Flask's error handler writes, so
that an endpoint is never called twice for one request. The answers are byte-for-byte those of the Flask route,
with the same headers, metrics and access-log line (`tests/api/test_fastpath.py` sends the same requests both
ways and compares, against an app built with `create_app(..., fast_path=False)`).

What is decided here is only what is specific to plain WSGI: which requests to take, and reading the body and
writing the answer. The key check, the size and row limits, the predict call and its response document are the
data plane's (`api.dataplane`), the same calls Flask's `/predict` route makes.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from flask import Response
from werkzeug.http import HTTP_STATUS_CODES

from api.dataplane import DataPlane
from api.errors import ApiError, answer_error
from api.fastjson import UNPARSED, FastJSONProvider, try_loads
from api.inputs import JSON_TYPES, check_json_size, json_rows
from api.observe import RequestObserver, request_id
from api.routes.table import route

ROUTE = route("POST", "/predict").rule  # the Flask rule, as metrics and the access log name it
STARTED = "treeport.started"  # the environ key holding the request's start time (set by the outermost wrapper)
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FastPredict:
    """WSGI middleware: the plain `POST /predict` answered here, everything else by `flask_app`."""

    def __init__(self, flask_app: WsgiApp, plane: DataPlane, observer: RequestObserver, json: FastJSONProvider) -> None:
        self.flask_app = flask_app
        self.plane = plane
        self.observer = observer
        self.json = json

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_app(environ, start_response)
        records = self._records(environ)
        if records is None:
            return self.flask_app(environ, start_response)
        predictor, rows = records
        n_rows = 0
        data: bytes | None = None
        try:
            prediction = self.plane.predict(predictor, rows)
            status, n_rows = 200, len(prediction)
            data = prediction.json()
            payload: Any = prediction.body() if data is None else None
        except Exception as exc:  # noqa: BLE001 (answered and logged as Flask's handlers answer and log it)
            status, payload = answer_error(exc)
        if data is None:
            data = self.json.dump_bytes(payload)
        # Where orjson cannot write the payload, Flask's provider falls back to the json module: the same here.
        body = data + b"\n" if data is not None else cast(Response, self.json.response(payload)).get_data()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        start_response(
            f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",  # as Werkzeug writes it
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Request-Id", rid)],
        )
        started = environ.get(STARTED)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        self.observer.done("POST", ROUTE, ROUTE, status, elapsed, n_rows, rid)
        return [body]

    def _records(self, environ: dict[str, Any]) -> tuple[Any, Any] | None:
        """Return the model and the request's records, or None for Flask to answer (the body put back)."""
        plane = self.plane
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() not in JSON_TYPES:
            return None
        if environ.get("HTTP_ACCEPT", "*/*").strip() not in _JSON_ACCEPTS:
            return None
        if not plane.key_accepted(lambda name: environ.get("HTTP_" + name.upper().replace("-", "_"))):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        # A Transfer-Encoding overrides Content-Length (RFC 9112); Werkzeug's stream handling decides those.
        if "HTTP_TRANSFER_ENCODING" in environ or not length.isdigit():
            return None
        if not plane.body_length_accepted(int(length)):
            return None
        body = _read(environ["wsgi.input"], int(length))
        try:
            if len(body) == int(length):
                predictor = plane.predictor
                limits = plane.limits(predictor)
                columns = plane.decoded_records(body, predictor, limits)
                if columns is not None:
                    return predictor, columns
                check_json_size(body, limits)
                payload = try_loads(body)
                if payload is not UNPARSED:
                    return predictor, json_rows(payload, limits)
        except ApiError:  # the shape of the body, or no model loaded: Flask's route says so
            pass
        environ["wsgi.input"] = io.BytesIO(body)
        return None


def _read(stream: Any, n: int) -> bytes:
    """Read `n` bytes, or fewer if the stream ends first."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]
