"""gunicorn settings for Treeport: `gunicorn -c api/gunicorn.conf.py 'api.app:create_app()'`, as `treeport serve` runs.

Environment:
  TREEPORT_BIND     host:port to listen on (default 0.0.0.0:8080, the container's port; `treeport serve`
                    passes 127.0.0.1 unless told otherwise)
  TREEPORT_WORKERS  worker processes (default: the CPUs the cgroup allows; `model.hardware.serving_layout()`)
  TREEPORT_THREADS  inference threads per worker (default here: allowed CPUs / workers, at least 1, so the
                    workers together do not oversubscribe the CPUs)
  TREEPORT_METRICS_BIND  host:port where the master serves `/metrics` of all workers, without API keys, for a
                    Prometheus scrape (the k8s deployment uses 0.0.0.0:9090); unset: no such listener, and
                    `/metrics` is only on the serving port, behind the keys when `TREEPORT_API_KEYS` is set

Workers are `api.worker.BufferingWorker` (Tornado reads each request whole before the app runs; see there).
Each worker builds its own app (and loads the model) after the fork: `preload_app` is off, so no
daal4py/oneDAL state or reload thread is shared across a fork. Prometheus runs in multiprocess mode:
the master points PROMETHEUS_MULTIPROC_DIR at an empty directory before any worker starts (a fresh
temporary one unless the variable is already set), and drops a dead worker's live gauges. The drift counts
(api/monitoring.py) live beside them, one file per worker under `$PROMETHEUS_MULTIPROC_DIR/drift` (or
TREEPORT_DRIFT_DIR), cleared as the master starts and summed by whoever reads them.

Shutdown: on SIGTERM the master stops accepting, each worker finishes the request it is serving, and
workers still busy after `graceful_timeout` seconds are killed. Kubernetes'
`terminationGracePeriodSeconds` should exceed it (e.g. 45 for the 30 here). Any gunicorn setting can
still be overridden through GUNICORN_CMD_ARGS or the command line (e.g. `--graceful-timeout 60`, or
`--access-logfile -` for gunicorn's own access log; Treeport already logs one JSON line per request).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

from model.errors import UserError
from model.hardware import serving_layout

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED_DIR_ENV = "TREEPORT_OWNED_MULTIPROC_DIR"


try:
    workers, _threads = serving_layout(os.environ)
except UserError as exc:
    raise SystemExit(exc.message) from None

bind = [os.environ.get("TREEPORT_BIND", "").strip() or "0.0.0.0:8080"]
# Tornado reads every request whole, slow bodies included, before the app runs (see api/worker.py).
worker_class = "api.worker.BufferingWorker"
preload_app = False
# Set by gunicorn in the master before workers fork, and reset on a HUP reload (unlike os.environ edits).
raw_env = [] if os.environ.get("TREEPORT_THREADS") else [f"TREEPORT_THREADS={_threads}"]

# A worker whose event loop is blocked for `timeout` seconds is killed and replaced; a 10,000-row request takes well
# under one. Slow clients do not block it: their requests are buffered until complete (api/worker.py).
timeout = 30
graceful_timeout = 30
proc_name = "treeport"

# gunicorn >= 25.1 opens a control socket under $HOME by default; serving needs none (older versions ignore this).
control_socket_disable = True

accesslog = None
errorlog = "-"
loglevel = "info"

# The heartbeat file is fchmod-ed on every loop; on a disk-backed /tmp that can stall a worker.
# gunicorn creates (and unlinks) its own file there, so tmpfs's shared namespace is no risk.
_SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK):
    worker_tmp_dir = _SHM


def on_starting(server: Any) -> None:
    """Give the workers an empty Prometheus multiprocess directory before the first one forks."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        os.makedirs(directory, exist_ok=True)
        # Files left by an earlier run would add its counts to this one's.
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)
    else:
        directory = tempfile.mkdtemp(prefix="treeport-prometheus-")
        os.environ[MULTIPROC_ENV] = directory
        os.environ[_OWNED_DIR_ENV] = directory
    server.log.info("prometheus multiprocess directory: %s", directory)
    _clear_drift_counts()


def _clear_drift_counts() -> None:
    """Remove drift counts an earlier run left (they would count in this run's window), before any worker forks."""
    from api.monitoring import drift_directory
    from api.settings import Settings

    try:
        folder = drift_directory(Settings.from_env())
    except UserError as exc:
        raise SystemExit(exc.message) from None
    if folder is not None:
        from model.drift_files import clear

        clear(folder)


def _metrics_address() -> tuple[str, int] | None:
    raw = os.environ.get("TREEPORT_METRICS_BIND", "").strip()
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"TREEPORT_METRICS_BIND must be host:port, got {raw!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 (the pod's metrics port, as TREEPORT_BIND's default)


_METRICS_ADDRESS = _metrics_address()


def when_ready(server: Any) -> None:
    """Serve the aggregate of every worker's metrics from the master on `TREEPORT_METRICS_BIND`, if set.

    A port of its own keeps the scrape outside the API keys (a Prometheus scrape annotation cannot send one)
    and off the serving workers; the master reads the same multiprocess files the workers write, and the drift
    gauges from the workers' drift counts (numpy is imported in the master only when it is first scraped).
    """
    address = _METRICS_ADDRESS
    if address is None:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    from api.monitoring import directory_collector

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    drift = directory_collector()
    if drift is not None:
        registry.register(drift)
    start_http_server(address[1], addr=address[0], registry=registry)
    server.log.info("metrics of all workers on http://%s:%d/metrics", *address)


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited, so `/metrics` stops reporting it."""
    # Imported here, not at the top: prometheus_client fixes its value class when first imported,
    # and the master must not import it before PROMETHEUS_MULTIPROC_DIR is set.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the multiprocess directory if this master created it."""
    directory = os.environ.get(_OWNED_DIR_ENV)
    if directory and os.environ.get(MULTIPROC_ENV) == directory:
        shutil.rmtree(directory, ignore_errors=True)
