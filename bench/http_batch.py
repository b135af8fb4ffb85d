"""HTTP batch part: one large request (10,000 rows) per format, Treeport's `/predict` against a plain pandas app.

Both servers run under `api/gunicorn.conf.py` with the same worker count (the CPUs allowed) and one inference
thread per worker, on 127.0.0.1:
  - `treeport`: `api.app:create_app()`, daal4py, `POST /predict`;
  - `plain_pandas`: `bench/peers/plain_xgboost.py`'s `POST /frame`, which reads each body the way a plain pandas app
    does (`pd.DataFrame(records)`, `pd.DataFrame(**dataframe_split)`, `pd.read_csv`, `pyarrow.ipc` + `to_pandas`,
    `pd.read_json(lines=True)`), one-hot encodes with `pd.get_dummies`, calls XGBoost's `inplace_predict` and
    answers with `jsonify`.
Each gets the same body per format, the same applicants: JSON `{"instances": [...]}` records, MLflow's
`dataframe_split`, CSV with a header, an Arrow IPC stream, and JSON Lines of records (what SageMaker Batch Transform
sends with SplitType Line). A request is timed from the client (parse, validate, predict and serialise on the
server, and the transfer both ways, one request at a time on a fresh connection); the server's CPU time per request
(all its processes, from /proc) is read beside it, since a shared machine's other work disturbs it less. Rounds
alternate which server goes first; each round sends every format's body `requests` times to each server.
`ratio_vs_plain` is the peer's median latency over Treeport's in the same round, median over rounds (above 1:
Treeport faster); `cpu_ratio_vs_plain` is the same in server CPU per request.

A format this Treeport does not take (an answer other than 200) is reported under `skipped`, with the status and
the answer's first bytes, and the others are still measured.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench import servers as srv
from bench.common import ModelUnderTest, print_table, records
from model.hardware import allowed_cpus

FORMATS = ("records", "dataframe_split", "csv", "arrow", "jsonl")
CONTENT_TYPES = {
    "records": "application/json",
    "dataframe_split": "application/json",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
    "jsonl": "application/jsonlines",
}
SERVERS = ("treeport", "plain_pandas")
REQUEST_TIMEOUT_S = 120.0


def bodies(n: int, seed: int = 5) -> dict[str, bytes]:
    """Return the request body of each format, all carrying the same `n` applicants (missing values included)."""
    import pyarrow as pa

    rows = records(n, seed=seed)
    names = list(rows[0])
    out = {
        "records": json.dumps({"instances": rows}).encode(),
        "dataframe_split": json.dumps(
            {"dataframe_split": {"columns": names, "data": [[r[c] for c in names] for r in rows]}}
        ).encode(),
    }
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([["" if r[c] is None else r[c] for c in names] for r in rows])
    out["csv"] = text.getvalue().encode()
    table = pa.table({c: pa.array([r[c] for r in rows]) for c in names})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    out["arrow"] = sink.getvalue()
    out["jsonl"] = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return out


def probabilities(answer: bytes) -> list[float]:
    """Return the probabilities of a `/predict`-shaped answer, in row order."""
    return [float(p["probability"]) for p in json.loads(answer)["predictions"]]


def run(
    mut: ModelUnderTest,
    scratch: Path,
    quick: bool = False,
    rows: int = 10000,
    requests: int | None = None,
    rounds: int | None = None,
    workers: int | None = None,
    formats: tuple[str, ...] = FORMATS,
) -> dict[str, Any]:
    """Start both servers, time each format's body on each; print the table; return `{"batch<rows>": {...}}`."""
    workers = workers or allowed_cpus()
    threads = max(1, allowed_cpus() // workers)
    requests = requests or (2 if quick else 5)
    rounds = rounds or (1 if quick else 3)
    scratch.mkdir(parents=True, exist_ok=True)
    payloads = bodies(rows)
    probe = json.dumps({"instances": records(1, seed=5)}).encode()
    started: dict[str, srv.Server] = {}
    latency: dict[str, dict[str, list[float]]] = {s: {f: [] for f in formats} for s in SERVERS}
    cpu: dict[str, dict[str, list[float]]] = {s: {f: [] for f in formats} for s in SERVERS}
    ratios: dict[str, list[float]] = {f: [] for f in formats}
    cpu_ratios: dict[str, list[float]] = {f: [] for f in formats}
    skipped: dict[str, str] = {}
    agreement: dict[str, float] = {}
    try:
        for server in (
            srv.treeport_server(mut, workers, scratch),
            srv.plain_xgboost_server(mut, workers, threads, scratch, path="/frame", name="plain_pandas"),
        ):
            print(f"starting {server.name} on {server.url} ...", flush=True)
            server.start(probe)
            started[server.name] = server
        measured: list[str] = []
        for fmt in formats:  # the first request of each also warms the server up for that format
            answers = {name: _post(server, payloads[fmt], fmt) for name, server in started.items()}
            status, body = answers["plain_pandas"]
            if status != 200:
                raise RuntimeError(f"plain_pandas answered {status} to the {fmt} body: {body[:300]!r}")
            status, body = answers["treeport"]
            if status != 200:
                skipped[fmt] = f"treeport answered {status}: {body[:200].decode(errors='replace').strip()}"
                print(f"{fmt}: skipped ({skipped[fmt]})", flush=True)
                continue
            ours, theirs = probabilities(body), probabilities(answers["plain_pandas"][1])
            if len(ours) != rows or len(theirs) != rows:
                raise RuntimeError(f"{fmt}: {len(ours)} and {len(theirs)} predictions for {rows} rows")
            agreement[fmt] = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
            measured.append(fmt)
            # A worker's first body of a format pays for lazy imports and caches (pyarrow's CSV reader, the model's
            # prediction object for that row count): a few more untimed requests, so that every worker has most
            # likely had one (each connection goes to whichever worker accepts it first).
            for server in started.values():
                for _ in range(2 * workers - 1):
                    _post(server, payloads[fmt], fmt)
        for r in range(rounds):
            order = SERVERS[r % 2 :] + SERVERS[: r % 2]
            for fmt in measured:
                medians: dict[str, float] = {}
                cpus: dict[str, float] = {}
                for name in order:
                    server = started[name]
                    pids = server.processes()
                    before = srv.cpu_seconds(pids)
                    times = []
                    for _ in range(requests):
                        began = time.perf_counter()
                        status, body = _post(server, payloads[fmt], fmt)
                        times.append((time.perf_counter() - began) * 1e3)
                        if status != 200:
                            raise RuntimeError(f"{name} {fmt}: HTTP {status}: {body[:300]!r}")
                    cpus[name] = (srv.cpu_seconds(pids) - before) / requests * 1e3
                    latency[name][fmt] += times
                    cpu[name][fmt].append(cpus[name])
                    medians[name] = statistics.median(times)
                ratios[fmt].append(medians["plain_pandas"] / medians["treeport"])
                if cpus["treeport"] > 0:
                    cpu_ratios[fmt].append(cpus["plain_pandas"] / cpus["treeport"])
    finally:
        for server in started.values():
            server.stop()

    section: dict[str, Any] = {}
    for fmt in formats:
        if fmt in skipped:
            continue
        section[fmt] = {
            "ratio_vs_plain": statistics.median(ratios[fmt]),
            "cpu_ratio_vs_plain": statistics.median(cpu_ratios[fmt]) if cpu_ratios[fmt] else None,
            "body_bytes": len(payloads[fmt]),
            "max_abs_diff_vs_plain": agreement[fmt],
            **{
                name: {
                    "p50_ms": statistics.median(latency[name][fmt]),
                    "min_ms": min(latency[name][fmt]),
                    "server_cpu_ms_per_request": statistics.median(cpu[name][fmt]),
                    "requests": len(latency[name][fmt]),
                }
                for name in SERVERS
            },
        }
    section["skipped"] = skipped
    section["config"] = {
        "rows": rows,
        "requests_per_round": requests,
        "rounds": rounds,
        "gunicorn_workers": workers,
        "worker_class": srv.gunicorn_worker_class(),
        "threads_per_worker": threads,
        "client": "urllib, one request at a time, a new connection each",
    }
    result = {f"batch{rows}": section}
    print_report(result)
    return result


def _post(server: srv.Server, body: bytes, fmt: str) -> tuple[int, bytes]:
    return srv.post(server.url, body, CONTENT_TYPES[fmt], timeout_s=REQUEST_TIMEOUT_S)


def print_report(result: dict[str, Any]) -> None:
    """Print each format's latencies and server CPU for both servers, and Treeport's ratios."""
    for key, section in result.items():
        rows = [
            [
                fmt,
                section[fmt]["body_bytes"] / 1e6,
                section[fmt]["treeport"]["p50_ms"],
                section[fmt]["plain_pandas"]["p50_ms"],
                section[fmt]["ratio_vs_plain"],
                section[fmt]["treeport"]["server_cpu_ms_per_request"],
                section[fmt]["plain_pandas"]["server_cpu_ms_per_request"],
                section[fmt]["cpu_ratio_vs_plain"] or float("nan"),
            ]
            for fmt in FORMATS
            if fmt in section
        ]
        c = section["config"]
        print_table(
            f"http.{key}: one {c['rows']:,}-row request, {c['requests_per_round']} per server and format x "
            f"{c['rounds']} rounds (median), gunicorn {c['gunicorn_workers']} workers ({c['worker_class']}) x "
            f"{c['threads_per_worker']} thread; ratio = plain pandas peer / Treeport",
            [
                "format",
                "body MB",
                "treeport p50 ms",
                "pandas p50 ms",
                "ratio",
                "treeport CPU ms",
                "pandas CPU ms",
                "CPU ratio",
            ],
            rows,
        )
        for fmt, why in section["skipped"].items():
            print(f"  {fmt}: not measured ({why})")
