"""Lambda cold start and apig-wsgi adapter overhead, measured in one run.

Cold start: a fresh Python process does what Lambda's runtime does (the task root on `sys.path`,
`import handler`, which reads the settings and loads the model at init) and answers one HTTP API
(payload 2.0) `POST /predict` event of one row. The time runs from spawning the process to the answer
being printed: interpreter start, imports, model load and the first prediction. Five runs, median.
  - `local`: the daal4py model inside the process.
  - `sagemaker`: schema and preprocessor only; the prediction comes from moto server's sagemaker-runtime,
    started here on 127.0.0.1 with a queued answer (a real HTTP round trip through botocore).

RIE init: the same init phase under AWS's Runtime Interface Emulator (its `INIT REPORT` line), one run per backend.

Adapter overhead: in one warm process, `handler(event)` minus the app's own WSGI call on the same
request (environ prepared beforehand), per event kind, median of many interleaved iterations.

    .venv/bin/python bench/cold_start.py [--runs 5] [--iterations 5000] [--store URI] [--json PATH]

Without --store it trains the default credit-risk model (as `make run` does) into a temporary store.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.data import EXAMPLE_RECORD  # noqa: E402  (after the path set-up: this file runs as a script)

LAMBDA_DIR = ROOT / "lambda"
EVENTS = ROOT / "tests" / "fixtures" / "events"
TARGETS = {"local_s": 1.5, "sagemaker_s": 0.5, "adapter_overhead_ms": 0.3}
RECORD = EXAMPLE_RECORD

# What runs in each fresh process: Lambda's import of the handler, then one event.
CHILD = """
import json, sys, time
t0 = time.perf_counter()
import apig_wsgi, api.app
t1 = time.perf_counter()
sys.path.insert(0, {lambda_dir!r})
import handler
t2 = time.perf_counter()
response = handler.handler(json.loads(sys.stdin.readline()), None)
t3 = time.perf_counter()
print(json.dumps({{"status": response["statusCode"], "body": response["body"],
                  "imports_s": t1 - t0, "init_s": t2 - t1, "first_event_s": t3 - t2}}), flush=True)
"""


def predict_event(kind: str = "apigw-http-v2.json", path: str = "/predict") -> dict[str, Any]:
    """Return an AWS-documented event (from the test fixtures) carrying `POST /predict` of one record."""
    event: dict[str, Any] = json.loads((EVENTS / kind).read_text())
    event["body"] = json.dumps({"instances": [RECORD]})
    event["isBase64Encoded"] = False
    return event


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto server on 127.0.0.1; yield its URL."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        raise SystemExit("moto_server not found: install the dev extras (moto[server])")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("moto_server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def queue_answer(moto: str, answer: dict[str, Any]) -> None:
    """Queue one InvokeEndpoint answer; moto repeats it for every later request with the same body."""
    request = urllib.request.Request(  # noqa: S310 (a loopback http:// URL)
        f"{moto}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"results": [{"Body": json.dumps(answer), "ContentType": "application/json"}]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback http URL)
        pass


def cold_start(env: dict[str, str], event: dict[str, Any]) -> dict[str, float]:
    """Spawn a fresh interpreter, answer one event; return wall time and the child's own phases."""
    line = json.dumps(event) + "\n"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(lambda_dir=str(LAMBDA_DIR))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line)
    proc.stdin.flush()
    answer = proc.stdout.readline()
    wall = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(timeout=60)
    if not answer:
        raise SystemExit(f"the cold-start process answered nothing (exit code {proc.returncode})")
    result = json.loads(answer)
    if result["status"] != 200:
        raise SystemExit(f"the cold-start process answered {result['status']}: {result['body']}")
    return {"wall_s": wall, **{k: result[k] for k in ("imports_s", "init_s", "first_event_s")}}


RIE_INIT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")


def rie_init(env: dict[str, str], event: dict[str, Any]) -> float | None:
    """Run the handler under AWS's Runtime Interface Emulator, answer `event`; return its INIT REPORT in ms.

    That is the init phase as Lambda bills and reports it (the handler module imported, the model loaded), measured
    by the emulator itself. None where the emulator is missing (`make setup` puts it in .venv/bin).
    """
    rie = shutil.which("aws-lambda-rie", path=str(Path(sys.executable).parent))
    if rie is None:
        return None
    port, api_port = free_port(), free_port()
    argv = [rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}", "--runtime-api-address"]
    argv += [f"127.0.0.1:{api_port}", sys.executable, "-m", "awslambdaric", "handler.handler"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, env=env, cwd=LAMBDA_DIR, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
            deadline = time.monotonic() + 60
            while True:
                try:
                    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
                    with urllib.request.urlopen(request, timeout=60):  # noqa: S310  (loopback http URL)
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        log.seek(0)
        match = RIE_INIT.search(log.read().decode(errors="replace"))
    return float(match.group(1)) if match else None


def median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def adapter_overhead(store: str, iterations: int) -> dict[str, dict[str, float]]:
    """Return, per event kind, the median handler time, app time and their difference, in ms."""
    from werkzeug.test import EnvironBuilder

    from api.app import create_app
    from api.settings import Settings

    sys.path.insert(0, str(LAMBDA_DIR))
    os.environ["TREEPORT_MODEL_STORE"] = store  # `import handler` builds its own app from the environment
    import handler as lambda_handler

    # The access log line is written on both paths alike; it would only add noise here.
    logging.getLogger("treeport").setLevel(logging.WARNING)
    app = create_app(Settings(model_store=store))
    adapted = lambda_handler.adapt(app)
    body = json.dumps({"instances": [RECORD]}).encode()
    base = EnvironBuilder(path="/predict", method="POST", data=body, content_type="application/json").get_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        return lambda _: None

    def call_app() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        result: Iterable[bytes] = app(environ, start_response)
        b"".join(result)

    out: dict[str, dict[str, float]] = {}
    for kind in (
        "apigw-rest-v1.json",
        "apigw-http-v2.json",
        "apigw-http-v2-stage.json",
        "alb.json",
        "alb-multivalue.json",
    ):
        event = predict_event(kind)
        assert adapted(event, None)["statusCode"] == 200, kind
        for _ in range(200):  # warm up both paths
            adapted(event, None)
            call_app()
        via_handler, via_app = [], []
        for _ in range(iterations):
            t0 = time.perf_counter_ns()
            adapted(event, None)
            t1 = time.perf_counter_ns()
            call_app()
            t2 = time.perf_counter_ns()
            via_handler.append(t1 - t0)
            via_app.append(t2 - t1)
        handler_ms = statistics.median(via_handler) / 1e6
        app_ms = statistics.median(via_app) / 1e6
        out[kind.removesuffix(".json")] = {
            "handler_ms": handler_ms,
            "app_ms": app_ms,
            "overhead_ms": handler_ms - app_ms,
        }
    return out


def train_default(folder: Path) -> str:
    """Train the default credit-risk model into `folder`; return the store URI."""
    from model.pipeline import TrainConfig, run_training

    uri = folder.as_uri()
    run_training(TrainConfig(store=uri))
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per backend (median reported)")
    parser.add_argument("--iterations", type=int, default=5000, help="invocations per event kind for the overhead")
    parser.add_argument("--store", help="store URI holding credit-risk (default: train it into a temporary store)")
    parser.add_argument("--json", default=str(ROOT / "build" / "bench" / "cold_start.json"), help="where to write JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or train_default(Path(tmp))
        from model.bundle import resolve_version
        from model.store import open_store

        version = resolve_version(open_store(store), "credit-risk")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "AWS_"))}
        base_env["TREEPORT_MODEL_STORE"] = store
        event = predict_event()
        with moto_server() as moto:
            answer = {
                "model": {"name": "credit-risk", "version": version},
                "predictions": [{"label": 0, "probability": 0.1}],
            }
            queue_answer(moto, answer)
            envs = {
                "local": {**base_env, "TREEPORT_BACKEND": "local"},
                "sagemaker": {
                    **base_env,
                    "TREEPORT_BACKEND": "sagemaker",
                    "TREEPORT_SAGEMAKER_ENDPOINT": "treeport-bench",
                    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": moto,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1",
                },
            }
            results: dict[str, dict[str, Any]] = {backend: {"runs": []} for backend in envs}
            # Alternate the backends, so that whatever else loads the machine weighs on both alike.
            for _ in range(args.runs):
                for backend, env in envs.items():
                    results[backend]["runs"].append(cold_start(env, event))
            for backend, env in envs.items():
                results[backend]["rie_init_ms"] = rie_init(env, event)

        overhead = adapter_overhead(store, args.iterations)

    for measured in results.values():
        measured["median"] = median_runs(measured["runs"])
    report = {
        "cold_start": {
            "local_s": results["local"]["median"]["wall_s"],
            "sagemaker_s": results["sagemaker"]["median"]["wall_s"],
            # The fastest run: what the machine does when nothing else is running on it.
            "best": {b: min(r["wall_s"] for r in results[b]["runs"]) for b in results},
            # The same init phase as AWS's Runtime Interface Emulator reports it (INIT REPORT), one run each.
            "rie_init_ms": {b: results[b]["rie_init_ms"] for b in results},
            "runs": args.runs,
            "phases": results,
        },
        # The largest of the event kinds: the figure to hold against the target.
        "adapter_overhead_ms": max(v["overhead_ms"] for v in overhead.values()),
        "adapter_overhead_by_event": overhead,
        "iterations": args.iterations,
        "targets": TARGETS,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            # Other processes on the machine slow the fresh processes down; this says how busy it was.
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    print_table(report)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


def print_table(report: dict[str, Any]) -> None:
    cold = report["cold_start"]
    print(f"cold start, fresh process to first answered event, seconds (median of {cold['runs']}; best run)")
    print(f"load average at the end: {report['machine']['load_average']}")
    print(
        f"{'backend':<10} {'total s':>8} {'imports':>8} {'init':>8} {'1st event':>9} {'best':>6} {'target':>7}"
        f" {'RIE init ms':>12}"
    )
    for backend in ("local", "sagemaker"):
        m = cold["phases"][backend]["median"]
        target = TARGETS[f"{backend}_s"]
        flag = "ok" if m["wall_s"] <= target else "MISSED"
        print(
            f"{backend:<10} {m['wall_s']:>8.3f} {m['imports_s']:>8.3f} {m['init_s']:>8.3f} "
            f"{m['first_event_s']:>9.3f} {cold['best'][backend]:>6.3f} {target:>6.1f}s {flag}"
            f" {cold['rie_init_ms'][backend] or float('nan'):>12.0f}"
        )
    print(f"\nadapter overhead per invocation, POST /predict of one row (median of {report['iterations']})")
    print(f"{'event':<26} {'handler ms':>10} {'app ms':>8} {'overhead ms':>11}")
    for kind, m in report["adapter_overhead_by_event"].items():
        print(f"{kind:<26} {m['handler_ms']:>10.3f} {m['app_ms']:>8.3f} {m['overhead_ms']:>11.3f}")
    flag = "ok" if report["adapter_overhead_ms"] <= TARGETS["adapter_overhead_ms"] else "MISSED"
    print(f"{'worst':<26} {'':>10} {'':>8} {report['adapter_overhead_ms']:>11.3f}  target 0.3 ms {flag}")


if __name__ == "__main__":
    sys.exit(main())
