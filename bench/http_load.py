"""HTTP part: requests per second and latency of Treeport's `/predict` against three peers, one run.

Servers, all on 127.0.0.1, each measured with the same load generator (wrk, one thread, the same connections and
duration), single-row and 100-row bodies of the same applicants:
  - `treeport`: `api.app:create_app()` under `api/gunicorn.conf.py`, daal4py, raw JSON records;
  - `hello`: a hello-world Flask route under the same gunicorn config (the ceiling of the stack);
  - `plain_xgboost`: Flask + XGBoost `inplace_predict`, the seed's style (`bench/peers/plain_xgboost.py`);
  - `mlserver`: MLServer 1.7 with its XGBoost runtime on the same `model.json`, V2 infer. Its request carries the
    already-encoded float32 matrix (MLServer has no preprocessing), and it runs as one process: its parallel
    inference pool fails to start here ("There is no current event loop"), so `parallel_workers` is 0.
The gunicorn servers get the same worker count (the CPUs allowed) and one inference thread per worker.

All servers are started first and stay idle while another is measured: load goes to one server at a time, in
rounds that rotate the order, so a change in the machine's background load hits every server alike. Each cell
is the median over rounds. Ratios are Treeport's req/s over the peer's in the same round, median over rounds:
`ratio_vs_hello` (at most about 1), `speedup_vs_plain_xgboost`, `speedup_vs_mlserver` (above 1: Treeport faster).
Beside them, the server's CPU time per request (all its processes, from /proc) gives the same comparison in a
form that other tenants of a shared machine disturb less (`cpu_efficiency_ratios`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from bench import servers as srv
from bench.common import RECORD, ModelUnderTest, print_table, records
from bench.loadgen import LoadResult, ensure_wrk, run_python, run_wrk
from model.hardware import allowed_cpus

SERVERS = ("treeport", "hello", "plain_xgboost", "mlserver")
BODIES = ("b1", "b100")
PEERS = {"hello": "ratio_vs_hello", "plain_xgboost": "speedup_vs_plain_xgboost", "mlserver": "speedup_vs_mlserver"}


def bodies(mut: ModelUnderTest, scratch: Path) -> dict[str, dict[str, Path]]:
    """Write the request bodies; return {body size: {server: path}} (MLServer's carry the encoded matrix)."""
    from model.predictor import Predictor

    complete = [r for r in records(400, seed=3) if None not in r.values()]  # V2 JSON cannot carry NaN
    rows = {"b1": [RECORD], "b100": complete[:100]}
    predictor = Predictor.load(mut.store, mut.name, mut.version, threads=1)
    out: dict[str, dict[str, Path]] = {}
    for size, batch in rows.items():
        raw = scratch / f"body-{size}.json"
        raw.write_bytes(json.dumps({"instances": batch}).encode())
        v2 = scratch / f"body-{size}-v2.json"
        v2.write_bytes(srv.v2_body(np.asarray(predictor.encode(batch), dtype=np.float32)))
        out[size] = {name: v2 if name == "mlserver" else raw for name in SERVERS}
    return out


def run(
    mut: ModelUnderTest,
    scratch: Path,
    quick: bool = False,
    workers: int | None = None,
    connections: int = 8,
    duration_s: float | None = None,
    rounds: int | None = None,
    servers: tuple[str, ...] = SERVERS,
) -> dict[str, Any]:
    """Start the servers, load each in turn; print the table; return the `http` section of the report."""
    workers = workers or allowed_cpus()
    duration_s = duration_s or (1.0 if quick else 3.0)
    rounds = rounds or (1 if quick else 5)
    threads = max(1, allowed_cpus() // workers)
    scratch.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    generator = "wrk (1 thread)" if wrk else "python asyncio closed loop (bench/loadgen.py; wrk not installable)"
    paths = bodies(mut, scratch)

    factories = {
        "treeport": lambda: srv.treeport_server(mut, workers, scratch),
        "hello": lambda: srv.hello_server(workers, scratch),
        "plain_xgboost": lambda: srv.plain_xgboost_server(mut, workers, threads, scratch),
        "mlserver": lambda: srv.mlserver_server(mut, scratch),
    }
    started: dict[str, srv.Server] = {}
    skipped: dict[str, str] = {}
    samples: dict[str, dict[str, list[LoadResult]]] = {s: {b: [] for b in BODIES} for s in servers}
    cpu: dict[str, dict[str, list[float]]] = {s: {b: [] for b in BODIES} for s in servers}
    memory: dict[str, dict[str, float]] = {}
    try:
        for name in servers:
            try:
                server = factories[name]()
                print(f"starting {name} on {server.url} ...", flush=True)
                server.start(paths["b1"][name].read_bytes())
                started[name] = server
                check_answer(name, server, paths)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                if name != "mlserver":
                    raise
                # MLServer comes from PyPI into its own environment; without it the other servers still count.
                print(f"mlserver: skipped: {exc}", flush=True)
                skipped[name] = str(exc)
                if name in started:
                    started.pop(name).stop()
        servers = tuple(started)

        def load(name: str, size: str, seconds: float) -> tuple[LoadResult, float]:
            """Run the load generator; return its result and the server's CPU seconds (all its processes)."""
            server, body = started[name], paths[size][name]
            pids = server.processes()
            cpu_before = srv.cpu_seconds(pids)
            if wrk:
                result = run_wrk(wrk, server.url, body, "application/json", connections, seconds, scratch)
            else:
                result = run_python(server.url, body.read_bytes(), "application/json", connections, seconds)
            return result, srv.cpu_seconds(pids) - cpu_before

        for name in servers:  # warm-up: first requests, lazy imports, CPU caches
            for size in BODIES:
                load(name, size, 1.0)
        for r in range(rounds):
            order = servers[r % len(servers) :] + servers[: r % len(servers)]
            for size in BODIES:
                for name in order:
                    run, cpu_s = load(name, size, duration_s)
                    if run.non_2xx or run.socket_errors:
                        raise RuntimeError(
                            f"{name} {size}: {run.non_2xx} non-2xx answers, {run.socket_errors} socket errors"
                        )
                    samples[name][size].append(run)
                    cpu[name][size].append(cpu_s / max(run.requests, 1) * 1e6)
        for name, server in started.items():
            pids = server.workers()
            peaks = [srv.memory_mb(pid) for pid in pids]
            memory[name] = {"processes": len(pids), "peak_rss_mb_max": max(p["peak_rss_mb"] for p in peaks)}
    finally:
        for server in started.values():
            server.stop()

    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name in servers:
        table[name] = {}
        for size in BODIES:
            runs = samples[name][size]
            table[name][size] = {
                "rps": statistics.median(r.rps for r in runs),
                "p50_ms": statistics.median(r.p50_ms for r in runs),
                "p99_ms": statistics.median(r.p99_ms for r in runs),
                "requests": sum(r.requests for r in runs),
                "server_cpu_us_per_request": statistics.median(cpu[name][size]),
                "rps_by_round": [r.rps for r in runs],
            }
    result: dict[str, Any] = {}
    cpu_ratios: dict[str, dict[str, float]] = {}
    for peer, key in PEERS.items():
        if peer in table and "treeport" in table:
            # Each round's ratio compares two runs minutes apart at most; the median of those is the figure.
            result[key] = {
                b: statistics.median(
                    t.rps / p.rps for t, p in zip(samples["treeport"][b], samples[peer][b], strict=True)
                )
                for b in BODIES
            }
            cpu_ratios[key] = {
                b: table[peer][b]["server_cpu_us_per_request"] / table["treeport"][b]["server_cpu_us_per_request"]
                for b in BODIES
            }
    result.update(
        {
            "servers": table,
            # The same comparisons in server CPU time per request (all the server's processes), which other
            # work on a shared machine disturbs less than throughput: peer's CPU per request / Treeport's.
            "cpu_efficiency_ratios": cpu_ratios,
            "worker_peak_rss_mb": memory,
            "skipped": skipped,
            "config": {
                "load_generator": generator,
                "connections": connections,
                "duration_s": duration_s,
                "rounds": rounds,
                "gunicorn_workers": workers,
                "threads_per_worker": threads,
                "worker_class": srv.gunicorn_worker_class(),
                "mlserver": "one process, parallel_workers 0 (its inference pool fails to start here)",
            },
        }
    )
    print_report(result)
    return result


def check_answer(name: str, server: srv.Server, paths: dict[str, dict[str, Path]]) -> None:
    """Refuse to measure a server whose 100-row answer is not a 200 with 100 predictions."""
    status, body = srv.post(server.url, paths["b100"][name].read_bytes())
    if status != 200:
        raise RuntimeError(f"{name} answered {status} to the 100-row body: {body[:300]!r}")
    answer = json.loads(body)
    if name == "hello":
        return
    n = len(answer["outputs"][0]["data"]) if name == "mlserver" else len(answer["predictions"])
    if n != 100:
        raise RuntimeError(f"{name} answered {n} predictions to 100 rows")


def print_report(result: dict[str, Any]) -> None:
    """Print req/s, p50 and p99 per server and body, then Treeport's ratios."""
    rows: list[list[Any]] = []
    for name, by_size in result["servers"].items():
        cells: list[Any] = [name]
        for size in BODIES:
            m = by_size[size]
            cells += [m["rps"], m["p50_ms"], m["p99_ms"], m["server_cpu_us_per_request"]]
        rows.append(cells)
    c = result["config"]
    print_table(
        f"http: {c['load_generator']}, {c['connections']} connections, {c['duration_s']:g} s x {c['rounds']} rounds "
        f"(median), gunicorn {c['gunicorn_workers']} workers ({c['worker_class']}) x {c['threads_per_worker']} thread",
        ["server", "1 row req/s", "p50 ms", "p99 ms", "CPU µs/req", "100 rows req/s", "p50 ms", "p99 ms", "CPU µs/req"],
        rows,
    )
    ratio_rows = [
        [key, *(result[key][b] for b in BODIES), *(result["cpu_efficiency_ratios"][key][b] for b in BODIES)]
        for key in PEERS.values()
        if key in result
    ]
    print_table(
        "http: Treeport's req/s over the peer's (median of per-round ratios); the peer's server CPU per request "
        "over Treeport's",
        ["ratio", "req/s 1 row", "req/s 100 rows", "CPU 1 row", "CPU 100 rows"],
        ratio_rows,
    )
