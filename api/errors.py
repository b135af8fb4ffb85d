"""HTTP errors and the one handler table that turns every error into the JSON body of DESIGN.md.

`{"error": {"code": "...", "message": "...", "details": [...]}}`, always. A client never sees a
traceback or the text of an internal exception.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from model.errors import TreeportError

log = logging.getLogger("treeport.api")


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
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the JSON error document of DESIGN.md."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    """Return the JSON error body with `status`."""
    response = jsonify(error_body(code, message, details))
    response.status_code = status
    return response


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


def register_error_handlers(app: Flask) -> None:
    """Install the handlers: Treeport errors, Werkzeug HTTP errors, and everything else as an opaque 500."""

    def _answer(exc: Exception) -> Response:
        status, body = answer_error(exc)
        response = jsonify(body)
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
        response = error_response(status, code, message)
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    app.register_error_handler(Exception, _answer)
