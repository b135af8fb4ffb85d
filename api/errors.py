"""HTTP errors and the one handler table that turns every error into one JSON body:

`{"error": {"code": "...", "message": "...", "details": [...]}}`, except on the Open Inference Protocol's
routes (under `/v2`), whose clients expect the protocol's error object `{"error": "<message>"}`: there the
message is `error`, with the same `code` and `details` beside it. A client never sees a traceback or the text
of an internal exception.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from model.errors import TreeportError

log = logging.getLogger("treeport.api")

OIP_PREFIX = "/v2"
"""Requests under this path prefix speak the Open Inference Protocol, and get its error shape."""


class ApiError(TreeportError):
    """An error answered to an HTTP client, with its status and stable code."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details)
        self.status = status
        self.code = code


def malformed(code: str, message: str) -> ApiError:
    """Return a 400 for a body that cannot be parsed or has the wrong shape."""
    return ApiError(400, code, message)


# Werkzeug's own errors, by status, with our stable codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the JSON error document: `{"error": {"code", "message", "details": [{"row", "field", "problem"}]}}`."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def answer_error(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Return the status and JSON body for an error raised while answering, logged as the server logs it.

    A Treeport error is answered as it says (logged when it is the server's fault); anything else is an
    opaque 500, logged with its traceback. Flask's handlers and the `/predict` fast path both answer with it.
    """
    if isinstance(exc, TreeportError):
        if exc.status >= 500:
            log.error("server error %s: %s", exc.code, exc.message)
        return exc.status, error_body(exc.code, exc.message, exc.details)
    log.error("unhandled error", exc_info=exc)
    return 500, error_body("internal_error", "internal server error")


def oip_error_body(body: dict[str, Any]) -> dict[str, Any]:
    """Return the Open Inference Protocol's error object for Treeport's error document `body`."""
    error = body["error"]
    return {"error": error["message"], "code": error["code"], "details": error["details"]}


def _for_route(body: dict[str, Any]) -> dict[str, Any]:
    """Return `body` in the shape of the current request's protocol."""
    path = request.path
    if path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/"):
        return oip_error_body(body)
    return body


def register_error_handlers(app: Flask) -> None:
    """Install the handlers: Treeport errors, Werkzeug HTTP errors, and everything else as an opaque 500."""

    def _answer(exc: Exception) -> Response:
        status, body = answer_error(exc)
        response = jsonify(_for_route(body))
        response.status_code = status
        return response

    app.register_error_handler(TreeportError, _answer)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        message = {
            404: "no such route",
            405: "method not allowed on this route",
            413: f"request body larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }.get(status, exc.description or exc.name)
        response = jsonify(_for_route(error_body(code, message)))
        response.status_code = status
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    app.register_error_handler(Exception, _answer)
