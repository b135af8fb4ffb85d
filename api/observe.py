"""What every answered request leaves behind: its request ID, its metrics, and one JSON access-log line.

Flask's `after_request` hook and the `/predict` fast path (`api.fastpath`) both call `RequestObserver.done`,
so a request counts and logs the same whichever of them answered it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from api.fastjson import json_line
from api.metrics import Metrics

access_log = logging.getLogger("treeport.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(incoming: str | None) -> str:
    """Return the client's `X-Request-Id` when it is safe to echo, else a new random 32-hex-digit ID."""
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    return os.urandom(16).hex()


class RequestObserver:
    """Counts, times and logs requests; the labelled metric children are kept in dicts, not looked up each time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        # `labels()` validates and locks on every call; the children it returns are looked up here instead.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[str, Any] = {}
        self._rows: dict[str, Any] = {}

    def done(self, method: str, path: str, route: str, status: int, elapsed: float, rows: int, rid: str) -> None:
        """Record one answered request: its count by route, method and status, its latency, rows, and log line."""
        key = (route, method, status)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = self.metrics.requests.labels(route, method, str(status))
        counter.inc()
        latency = self._timed.get(route)
        if latency is None:
            latency = self._timed[route] = self.metrics.latency.labels(route)
        latency.observe(elapsed)
        if rows:
            rows_counter = self._rows.get(route)
            if rows_counter is None:
                rows_counter = self._rows[route] = self.metrics.rows.labels(route)
            rows_counter.inc(rows)
        if access_log.isEnabledFor(logging.INFO):
            line = {
                "request_id": rid,
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 3),
                "rows": rows,
            }
            # A record made here skips `Logger.info`'s search of the call stack for the caller's file and
            # line, which the JSON line does not show; handlers, filters and levels apply as usual.
            record = access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, json_line(line), (), None)
            access_log.handle(record)
