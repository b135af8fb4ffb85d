"""The gunicorn worker Treeport serves with: each request is read whole, without blocking, before the app runs.

gunicorn's sync worker reads the body on the thread that then runs the app. Behind a load balancer that does
not buffer (an NLB passes bytes straight through), a few clients sending their bodies slowly therefore hold
every worker, for up to gunicorn's `timeout`, while the CPUs idle: the HPA sees no load, and liveness probes
queue behind them. `BufferingWorker` runs Tornado's HTTP server, which reads headers and bodies from all
connections on one event loop and calls the WSGI app only once a request is complete, one at a time on that
loop (the app is synchronous, as under the sync worker). A slow body then costs its buffer, not a worker.

Bounds: a request's body must arrive within `BODY_TIMEOUT_SECONDS`, an idle kept-alive connection is closed
after gunicorn's `keepalive`, and Tornado buffers at most twice the app's `MAX_CONTENT_LENGTH` (the app answers
its JSON 413 for bodies over the limit; one over twice the limit gets Tornado's bare 400 and a closed
connection). On SIGTERM the worker stops accepting and waits, up to `graceful_timeout`, for the requests it has
started reading to be answered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gunicorn.sock import ssl_context
from gunicorn.workers.gtornado import TornadoWorker
from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.wsgi import WSGIContainer

from api.inputs import WHOLE_BODY

BODY_TIMEOUT_SECONDS = 30.0
# Tornado's own default (100 MB) when the app names no limit.
DEFAULT_MAX_BODY = 100 * 1024 * 1024


class _WholeRequest(httputil.HTTPMessageDelegate):
    """Collects one request's body, then has the server answer it; counts the request while it is open."""

    def __init__(self, server: _Server, connection: httputil.HTTPConnection) -> None:
        self.server = server
        self.connection = connection
        self.request: httputil.HTTPServerRequest | None = None
        self._chunks: list[bytes] = []
        self._open = False

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        """Start a request (the body follows)."""
        assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(connection=self.connection, start_line=start_line, headers=headers)
        self._open = True
        self.server.in_flight += 1

    def data_received(self, chunk: bytes) -> None:
        """Buffer a piece of the body."""
        self._chunks.append(chunk)

    def finish(self) -> None:
        """Answer the complete request (no form or multipart parsing here: the app reads the raw body)."""
        assert self.request is not None
        # One buffer, written once (a growing bytearray is reallocated as it grows, then copied again).
        self.request.body = b"".join(self._chunks)
        self._chunks = []
        try:
            self.server.answer(self.request)
        finally:
            self._close()

    def on_connection_close(self) -> None:
        """The client went away before the request was complete."""
        self._chunks = []
        self._close()

    def _close(self) -> None:
        if self._open:
            self._open = False
            self.server.in_flight -= 1


@dataclass
class _Sent:
    """What gunicorn's access log reads from a response."""

    status: str
    headers: list[tuple[str, str]]
    sent: int


class _Server(HTTPServer):
    """Tornado's HTTP server answering each complete request with the WSGI app, synchronously, on the loop."""

    def setup(self, app: Any, log: Any, on_close: Any) -> None:
        """Give the server its WSGI app, gunicorn's logger, and what to call when a connection closes."""
        self.app = app
        self.container = WSGIContainer(app)  # only for its request -> environ translation
        self.log = log
        self.in_flight = 0
        self._on_close = on_close

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        """Return the delegate of one request."""
        return _WholeRequest(self, request_conn)

    def on_close(self, server_conn: object) -> None:
        """Count a closed connection as gunicorn's Tornado worker does (for `max_requests`)."""
        self._on_close()
        super().on_close(server_conn)

    def answer(self, request: httputil.HTTPServerRequest) -> None:
        """Call the WSGI app on `request` and write its response (the same bytes the sync worker would send)."""
        started = datetime.now()
        environ = self.container.environ(request)
        environ["RAW_URI"] = request.uri
        # The whole body is in wsgi.input, whether it came with a Content-Length or chunked.
        environ["wsgi.input_terminated"] = True
        environ[WHOLE_BODY] = request.body
        reply: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            reply["status"], reply["headers"] = status, headers
            return chunks.append

        try:
            result = self.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            self.log.exception("error handling request %s", request.uri)
            reply = {"status": "500 Internal Server Error", "headers": [("Connection", "close")]}
            chunks = [b""]
        body = b"".join(chunks)
        code, _, reason = reply["status"].partition(" ")
        headers = httputil.HTTPHeaders()
        for key, value in reply["headers"]:
            headers.add(key, value)
        if "Content-Length" not in headers and int(code) not in (204, 304):
            headers["Content-Length"] = str(len(body))
        assert request.connection is not None
        request.connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", int(code), reason), headers, body)
        request.connection.finish()
        self.log.access(
            _Sent(reply["status"], reply["headers"], len(body)), request.headers, environ, datetime.now() - started
        )


class BufferingWorker(TornadoWorker):
    """gunicorn worker: Tornado reads requests (slow ones included) concurrently; the WSGI app answers them whole."""

    def run(self) -> None:
        """Serve the WSGI app on this worker's sockets until told to stop, then drain what it has started."""
        self.ioloop = IOLoop.current()
        self.alive = True
        self.server_alive = False
        self._drain_deadline: float | None = None
        max_body = getattr(self.wsgi, "config", {}).get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY // 2
        server = _Server(
            self.wsgi,
            ssl_options=ssl_context(self.cfg) if self.cfg.is_ssl else None,
            no_keep_alive=self.cfg.keepalive <= 0,
            idle_connection_timeout=max(self.cfg.keepalive, 1),
            body_timeout=BODY_TIMEOUT_SECONDS,
            max_body_size=2 * max_body,
        )
        server.setup(self.wsgi, self.log, self.handle_request)
        self.server = server
        self.server_alive = True
        self.callbacks = [PeriodicCallback(self.watchdog, 1000), PeriodicCallback(self.heartbeat, 200)]
        for callback in self.callbacks:
            callback.start()
        for sock in self.sockets:
            sock.setblocking(False)
            server.add_socket(sock)
        self.ioloop.start()

    def heartbeat(self) -> None:
        """Once told to stop: stop accepting, then stop the loop when no request is open or the grace is over."""
        if self.alive:
            return
        if self.server_alive:
            self.server.stop()
            self.server_alive = False
            self._drain_deadline = time.monotonic() + self.cfg.graceful_timeout
        assert self._drain_deadline is not None
        if self.server.in_flight > 0 and time.monotonic() < self._drain_deadline:
            return
        for callback in self.callbacks:
            callback.stop()
        self.ioloop.stop()
