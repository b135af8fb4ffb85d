"""Hostile bodies cost no memory (issue 13, item 6): a real `treeport serve` worker, its peak RSS read from /proc.

Each body is the largest the server takes (`TREEPORT_MAX_BODY_BYTES`, 6 MiB) and made of the smallest rows its
format allows: blank CSV lines, `{}` records, one-cell headerless rows, JSON Lines of `{}`, `dataframe_split` rows of
nothing, and so on. Before any is parsed, lines and JSON values are counted (`api.inputs.Limits`), so each is refused
(413 for too many rows, 400 for a body of blank lines) while the worker's peak resident set (VmHWM, reset before each
body through /proc/<pid>/clear_refs) grows by less than `BOUND_MIB` over its resident set before the request.

The server runs one worker, so every request reaches the process that is measured; each body gets a fresh worker
(the one before is stopped and gunicorn starts another), since memory a body's parse freed stays in the allocator
and would hide the next one's growth. Linux only (/proc). `-s` prints the growth per body.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from model.pipeline import TrainResult
from tests.api.conftest import RECORD
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIB = 1024 * 1024
BODY_BYTES = 6 * MIB  # TREEPORT_MAX_BODY_BYTES' default, SageMaker's limit
BOUND_MIB = 64
START_TIMEOUT = 90
JSON, CSV, JSONL = "application/json", "text/csv", "application/jsonlines"
ARROW = "application/vnd.apache.arrow.stream"


def fill(head: bytes, unit: bytes, tail: bytes = b"", last: bytes | None = None) -> bytes:
    """Return `head`, then `unit` repeated, then `tail`: as close to `BODY_BYTES` as whole units allow."""
    last = unit.rstrip(b",") if last is None else last
    n = (BODY_BYTES - len(head) - len(tail) - len(last)) // len(unit)
    return head + unit * n + last + tail


def arrow_rows() -> bytes:
    """An Arrow stream of one-column rows, in many small batches: about 6 MiB."""
    batch = pa.record_batch({"person_age": pa.array([1.0] * 4096)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        for _ in range(BODY_BYTES // (batch.nbytes + 200)):
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


# (name, route, media type, body, status): every body is the 6 MiB the server accepts.
HOSTILE: list[tuple[str, str, str, Callable[[], bytes], int]] = [
    ("csv-blank-lines", "/predict", CSV, lambda: b"\n" * BODY_BYTES, 400),
    ("csv-blank-lines-with-spaces", "/predict", CSV, lambda: b" \r\n" * (BODY_BYTES // 3), 400),
    ("csv-header-then-one-cell-rows", "/predict", CSV, lambda: fill(b"person_age\n", b"1\n", last=b""), 413),
    ("json-empty-records", "/predict", JSON, lambda: fill(b'{"instances":[', b"{},", b"]}"), 413),
    ("json-scalar-records", "/predict", JSON, lambda: fill(b'{"instances":[', b"1,", b"]}"), 413),
    ("json-short-strings", "/predict", JSON, lambda: fill(b'{"instances":[', b'"a",', b"]}"), 413),
    ("json-one-key-records", "/predict", JSON, lambda: fill(b'{"instances":[', b'{"a":1},', b"]}"), 413),
    ("json-empty-records-explain", "/explain", JSON, lambda: fill(b'{"instances":[', b"{},", b"]}"), 413),
    (
        "dataframe-split-empty-rows",
        "/predict",
        JSON,
        lambda: fill(b'{"dataframe_split":{"columns":[],"data":[', b"[],", b"]}}"),
        413,
    ),
    ("columns-of-nulls", "/predict", JSON, lambda: fill(b'{"inputs":{"person_age":[', b"null,", b"]}}"), 413),
    ("jsonl-empty-records", "/predict", JSONL, lambda: fill(b"", b"{}\n", last=b""), 413),
    ("arrow-one-column-rows", "/predict", ARROW, arrow_rows, 413),
    ("invocations-csv-blank-lines", "/invocations", CSV, lambda: b"\n" * BODY_BYTES, 400),
    ("invocations-csv-one-cell-rows", "/invocations", CSV, lambda: fill(b"", b"1\n", last=b""), 413),
    ("invocations-csv-one-long-row", "/invocations", CSV, lambda: fill(b"", b"1,", last=b"1"), 422),
    ("invocations-jsonl-empty-arrays", "/invocations", JSONL, lambda: fill(b"", b"[]\n", last=b""), 413),
]


def status_of(pid: int) -> dict[str, int]:
    """Return the kB figures of /proc/<pid>/status (VmRSS, VmHWM, ...)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def post(port: int, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type, "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def warm(port: int) -> None:
    """Send every path one small body (imports, first allocations), so that a body's growth is its own."""
    post(port, "/predict", JSON, json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1]]}}).encode())
    post(port, "/predict", JSON, json.dumps({"instances": [RECORD] * 20}).encode())
    post(port, "/predict", CSV, b"person_age\n30\n")
    post(port, "/predict", JSONL, b"{}\n")
    post(port, "/predict", ARROW, arrow_rows()[:1000])
    post(port, "/invocations", CSV, b"1,2\n")


def serving(port: int) -> bool:
    try:
        return post(port, "/predict", JSON, json.dumps({"instances": [RECORD]}).encode())[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(
    credit_store: tuple[Path, TrainResult], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, int]]:
    """Start `treeport serve` with one worker on 127.0.0.1; yield (port, master pid); stop it."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to read and reset a process's peak RSS")
    exe = Path(sys.executable).parent / "treeport"
    port = free_port()
    log = tmp_path_factory.mktemp("memory") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "PROMETHEUS_", "GUNICORN_"))}
    argv = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--store", credit_store[0].as_uri()]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not serving(port):
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"server not serving after {START_TIMEOUT} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def worker(server: tuple[int, int]) -> tuple[int, int]:
    """Return (port, pid) of a fresh, warmed worker: the one serving now is stopped, and gunicorn starts another."""
    port, master = server
    (old,) = children(master)
    os.kill(old, signal.SIGTERM)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        pids = children(master)
        if pids and old not in pids and serving(port):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no new worker serving {START_TIMEOUT} s after stopping {old}")
        time.sleep(0.2)
    warm(port)
    (pid,) = children(master)
    return port, pid


GROWTH_MIB: dict[str, float] = {}


@pytest.mark.parametrize(("name", "path", "content_type", "make", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_body_costs_no_memory(
    worker: tuple[int, int], name: str, path: str, content_type: str, make: Callable[[], bytes], status: int
) -> None:
    port, pid = worker
    body = make()
    assert len(body) <= BODY_BYTES
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current VmRSS
    before = status_of(pid)["VmRSS"]
    got, answer = post(port, path, content_type, body)
    peak = status_of(pid)["VmHWM"]
    GROWTH_MIB[name] = round((peak - before) / 1024, 1)
    print(f"\n{name}: {len(body) / MIB:.1f} MiB body -> {got}; worker peak RSS +{GROWTH_MIB[name]} MiB")
    assert got == status, answer[:300]
    assert peak - before < BOUND_MIB * 1024, f"{name}: peak RSS grew by {GROWTH_MIB[name]} MiB"
