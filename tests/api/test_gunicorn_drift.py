"""Drift counts across two gunicorn workers: `treeport serve` with two workers serves a shifted data set, and
`/monitoring` (whichever worker answers it) and the master's metrics port report the rows of both workers, with
the PSI of exactly the shifted features past the threshold.

Each worker's counts file is read back from the Prometheus multiprocess folder the test names, so "both workers
counted" is checked on the workers' own files, not inferred from totals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from model.drift import Baseline
from model.drift_counts import CountRing
from model.drift_files import BASELINE_COPY, counts_files, version_dir
from model.pipeline import TrainResult
from tests.api.test_gunicorn import Server, call, model_info, serve, wait_for  # noqa: F401 (serve: the fixture)
from tests.api.test_monitoring import SHIFTED, served_rows
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 1200
PER_REQUEST = 4


def metrics_port_samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return the treeport_drift_* samples the master serves on its metrics port."""
    status, text = call(port, "GET", "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("treeport_drift")
        for s in family.samples
    }


def test_two_workers_share_drift_counts(
    serve: Callable[..., Server],  # noqa: F811 (the fixture imported above)
    credit_store: tuple[Path, TrainResult],
    tmp_path: Path,
) -> None:
    multiproc = tmp_path / "prometheus"
    metrics_port = free_port()
    server = serve(
        credit_store[0],
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        TREEPORT_METRICS_BIND=f"127.0.0.1:{metrics_port}",
    )
    version = credit_store[1].version
    rows = served_rows(ROWS, seed=41, shift=True)
    bodies = [json.dumps({"instances": rows[i : i + PER_REQUEST]}).encode() for i in range(0, len(rows), PER_REQUEST)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda body: call(server.port, "POST", "/predict", body), bodies))
    assert [status for status, _ in answers] == [200] * len(bodies)

    # A worker flushes its buffered rows at least once a second; the other worker's arrive by then.
    wait_for(lambda: call(server.port, "GET", "/monitoring")[1]["rows"] == ROWS, f"{ROWS} rows counted", 15, server)

    # Both workers counted: one counts file each, named by its pid, each holding part of the rows.
    folder = version_dir(multiproc / "drift", "credit-risk", version)
    files = counts_files(folder)
    pids = set(model_info(server.port))
    assert {p.name.split("-")[1] for p in files} == pids and len(pids) == 2, [p.name for p in files]
    baseline = Baseline.from_dict(json.loads((folder / BASELINE_COPY).read_bytes()))
    now = time.time()
    per_worker = [
        baseline.report(CountRing.from_bytes(p.read_bytes(), str(p)).total(now)).rows for p in files
    ]  # each file's rows, read as the report reads them
    assert sum(per_worker) == ROWS and min(per_worker) > 0, per_worker

    # Whichever worker answers, the report is of all the rows; exactly the shifted features drift.
    reports = [call(server.port, "GET", "/monitoring")[1] for _ in range(8)]
    assert {r["rows"] for r in reports} == {ROWS} and {r["counters"] for r in reports} == {2}
    report = reports[0]
    assert report["scope"] == "workers" and report["model"]["version"] == version
    psi = {f["name"]: f["psi"] for f in report["features"]}
    assert sorted(report["drifting"]) == sorted(SHIFTED), psi
    assert all(v < 0.1 for f, v in psi.items() if f not in SHIFTED), psi

    # The master's metrics port computes the same gauges from the same files.
    samples = metrics_port_samples(metrics_port)
    model = (("model", "credit-risk"), ("version", version))
    assert samples[("treeport_drift_rows", model)] == ROWS
    assert samples[("treeport_drift_alarm", model)] == 1.0
    for name, value in psi.items():
        assert samples[("treeport_drift_psi", tuple(sorted((*model, ("feature", name)))))] == pytest.approx(value)
    assert samples[("treeport_drift_psi_max", model)] == pytest.approx(report["psi_max"])
