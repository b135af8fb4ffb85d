"""Python's cyclic garbage collector held off while requests run.

A 10,000-row request makes some 10^5 container objects (the parsed JSON's lists and dicts, one result dict per row).
Every 700 new containers start a collection of the young generations, and every so often one of all the process's
objects (the loaded model, Flask, numpy): about 2 ms of a 20 ms `dataframe_split` request, spent looking for cycles
that a request's objects do not form (reference counting frees them when the request ends). So collections wait
while any request runs and resume as usual when none does: garbage in a cycle then waits at most one request.
Where requests overlap without a pause (threads under steady load), a request that ends after the collector has
been held `MAX_HOLD_SECONDS` runs one collection itself, so that cyclic garbage never piles up.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_HOLD_SECONDS = 1.0


class CollectorHold:
    """Counts the requests running in this process; the collector is off while there is one (if it was on)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._resume = False
        self._since = 0.0  # when the collector was last held off, or last collected while held

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._resume = gc.isenabled()
                self._since = time.monotonic()
                gc.disable()
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        collect = False
        with self._lock:
            self._running -= 1
            if self._running == 0:
                if self._resume:
                    gc.enable()
            elif self._resume and time.monotonic() - self._since > MAX_HOLD_SECONDS:
                self._since = time.monotonic()
                collect = True
        if collect:  # other requests still run, as they have for a while: collect once now
            gc.collect()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """Return `app` run with the collector held off (the body it returns is built by then, as Treeport's are)."""

        def held(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self:
                return app(environ, start_response)

        return held
