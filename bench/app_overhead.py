"""Where a one-row `/predict` spends its time inside one process: the WSGI call without a server around it.

Per request, in microseconds (the best of interleaved blocks, as `timeit` does):
  - `treeport /predict`: the app as served (the fast path of `api.fastpath` answers), drift monitoring on;
  - `treeport /predict, drift off`: the same with `TREEPORT_DRIFT=off` (no counting against the baseline);
  - `treeport /predict via Flask`: the same app with the fast path off (Flask's route answers);
  - `treeport /health`: a route with no body and no model, through Flask and Treeport's hooks;
  - `hello /predict`, `hello /health`: a hello-world Flask app (reads the body, answers a small JSON);
  - `Predictor.predict`: validation, encoding, daal4py and result dicts alone, in a tight loop;
  - `drift hook`: the Predictor's drift observer alone on one encoded row (its copy into the buffer, and its share
    of the batched binning), what monitoring adds to every prediction.

    .venv/bin/python bench/app_overhead.py [--store URI] [--blocks 7] [--calls 1000]

Without --store it trains the default credit-risk model into a temporary store. Then `drift.throughput_ratio`:
one-row /predict calls per second with drift monitoring over those without (target >= 0.95), the two timed apart in
alternating order, and `drift.hook_us`, the hook alone.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402  (after the path set-up: this file runs as a script)
from model.data import EXAMPLE_RECORD  # noqa: E402

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def caller(app: WsgiApp, path: str, method: str, body: bytes) -> Callable[[], bytes]:
    """Return a call of `app` on a prepared request (a fresh input stream each time)."""
    from werkzeug.test import EnvironBuilder

    base = EnvironBuilder(path=path, method=method, data=body, content_type="application/json").get_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        return lambda _: None

    def call() -> bytes:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        result = app(environ, start_response)
        out = b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return out

    return call


def hello_app() -> WsgiApp:
    """Return the bench's hello-world app with a `GET /health` route added."""
    from flask import Response, jsonify

    from bench.peers.hello import create_app

    app = create_app()

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    return app


def measure(calls: dict[str, Callable[[], Any]], blocks: int, per_block: int) -> dict[str, float]:
    """Return µs per call of each, the best block of `blocks` interleaved rounds."""
    for fn in calls.values():
        for _ in range(200):
            fn()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(blocks):
        for name, fn in calls.items():
            started = time.perf_counter()
            for _ in range(per_block):
                fn()
            best[name] = min(best[name], (time.perf_counter() - started) / per_block * 1e6)
    return best


def measure_pair(on: Callable[[], Any], off: Callable[[], Any], blocks: int, per_block: int) -> tuple[float, float]:
    """Return µs per call of two calls, the best of `blocks` blocks each, in an order that alternates every block.

    In a fixed order the first of a round ran measurably slower on a loaded machine (two identical apps differed by
    as much as monitoring costs), so a ratio of two near-equal calls takes turns at going first.
    """
    best = {"on": float("inf"), "off": float("inf")}
    calls = {"on": on, "off": off}
    for block in range(blocks):
        for name in ("on", "off") if block % 2 == 0 else ("off", "on"):
            fn = calls[name]
            started = time.perf_counter()
            for _ in range(per_block):
                fn()
            best[name] = min(best[name], (time.perf_counter() - started) / per_block * 1e6)
    return best["on"], best["off"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store URI holding credit-risk (default: train it into a temporary store)")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000, help="calls per block")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store
        if store is None:
            from model.pipeline import TrainConfig, run_training

            store = Path(tmp).as_uri()
            run_training(TrainConfig(store=store))
        from api.app import create_app
        from api.services import EXTENSION
        from api.settings import Settings

        settings = Settings(model_store=store, threads=1)
        app = create_app(settings)
        via_flask = create_app(settings, fast_path=False)  # every request goes to Flask
        drift_off = create_app(Settings(model_store=store, threads=1, drift=False))
        # The access log is written on every path alike; to a file it would only add noise.
        logging.getLogger("treeport").handlers[0].setStream(open(os.devnull, "w"))  # noqa: SIM115
        predictor = app.extensions[EXTENSION].state.predictor
        body = json.dumps({"instances": [EXAMPLE_RECORD]}).encode()
        hello = hello_app()
        rows = [EXAMPLE_RECORD]
        x = predictor.encode(rows)
        outputs = predictor.backend.outputs(x)
        observer = predictor.observer
        assert observer is not None, "drift monitoring is on by default"
        calls = {
            "treeport /predict": caller(app, "/predict", "POST", body),
            "treeport /predict, drift off": caller(drift_off, "/predict", "POST", body),
            "treeport /predict via Flask": caller(via_flask, "/predict", "POST", body),
            "treeport /health": caller(app, "/health", "GET", b""),
            "hello /predict": caller(hello, "/predict", "POST", body),
            "hello /health": caller(hello, "/health", "GET", b""),
            "Predictor.predict": lambda: predictor.predict(rows),
            "drift hook": lambda: observer(x, outputs),
        }
        assert json.loads(calls["treeport /predict"]()) == json.loads(calls["treeport /predict via Flask"]())
        result = measure(calls, args.blocks, args.calls)
        on, off = measure_pair(calls["treeport /predict"], calls["treeport /predict, drift off"], 4 * args.blocks,
                               args.calls)  # fmt: skip
    print(f"one-row /predict inside one process, µs per call (best of {args.blocks} blocks of {args.calls})")
    for name, us in result.items():
        print(f"{name:<30} {us:8.1f}")
    cpu = machine()
    print(f"cpu: {cpu['cpu']} ({cpu['cpus_allowed']} allowed)")
    print(
        f"drift.throughput_ratio {off / on:.3f} (one-row /predict per second, monitoring on over off: {on:.1f} and "
        f"{off:.1f} µs, best of {4 * args.blocks} blocks in alternating order; target >= 0.95)"
    )
    hook = result["drift hook"]
    print(f"drift.hook_us {hook:.2f}: {off / (off + hook):.3f} of the drift-off throughput if that were all it cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
