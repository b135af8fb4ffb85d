"""Starting and stopping the servers under test, and reading their workers' memory from /proc."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, ModelUnderTest, free_port

GUNICORN_CONF = ROOT / "api" / "gunicorn.conf.py"
MLSERVER_VENV = ROOT / ".venv-mlserver"
MLSERVER_PACKAGES = ("mlserver==1.7.1", "mlserver-xgboost==1.7.1")


@dataclass
class Server:
    """One server under test: how to start it, where to send requests, and its process once started."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    path: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Return the URL the load goes to."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self, probe_body: bytes, timeout_s: float = 180.0) -> None:
        """Start the process and wait until `probe_body` POSTed to `url` answers 200."""
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}; see {self.log}")
            try:
                status, _ = post(self.url, probe_body)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer 200 within {timeout_s:.0f} s ({last}); see {self.log}")

    def workers(self) -> list[int]:
        """Return the pids of the serving processes: the master's children, or the process itself if it has none."""
        if self.process is None:
            return []
        children = child_pids(self.process.pid)
        return children or [self.process.pid]

    def processes(self) -> list[int]:
        """Return the pids of every process of the server: the master and its children."""
        if self.process is None:
            return []
        return [self.process.pid, *child_pids(self.process.pid)]

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def gunicorn_worker_class() -> str:
    """Return the worker class `api/gunicorn.conf.py` sets (what every gunicorn server here runs), as written there."""
    match = re.search(r"^worker_class\s*=\s*[\"']([^\"']+)[\"']", GUNICORN_CONF.read_text(), re.MULTILINE)
    return match.group(1) if match else "sync (gunicorn's default)"


def post(url: str, body: bytes, content_type: str = "application/json", timeout_s: float = 10) -> tuple[int, bytes]:
    """POST `body` and return the status and the answer's body (errors included)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (a loopback http URL)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def child_pids(pid: int) -> list[int]:
    """Return the pids whose parent is `pid`, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the parent pid is the second field after it.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes have used so far, from /proc; gone processes count 0."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def memory_mb(pid: int) -> dict[str, float]:
    """Return the current (VmRSS) and peak (VmHWM) resident memory of `pid` in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = int(rest.split()[0]) / 1024
    return values


def gunicorn_server(
    name: str, app: str, env: dict[str, str], workers: int, scratch: Path, path: str = "/predict"
) -> Server:
    """Return a server running `app` under Treeport's gunicorn config with `workers` workers on a free port."""
    port = free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "PROMETHEUS_"))},
        **env,
        "TREEPORT_BIND": f"127.0.0.1:{port}",
        "TREEPORT_WORKERS": str(workers),
    }
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), app]
    return Server(name, argv, full_env, port, path, scratch / f"{name}.log")


def treeport_server(mut: ModelUnderTest, workers: int, scratch: Path) -> Server:
    """Return Treeport's app (`api.app:create_app()`, daal4py backend) serving the model under test."""
    env = {"TREEPORT_MODEL_STORE": mut.store, "TREEPORT_MODEL_NAME": mut.name, "TREEPORT_MODEL_VERSION": mut.version}
    return gunicorn_server("treeport", "api.app:create_app()", env, workers, scratch)


def hello_server(workers: int, scratch: Path) -> Server:
    """Return the hello-world Flask route under the same gunicorn config."""
    return gunicorn_server("hello", "bench.peers.hello:create_app()", {}, workers, scratch)


def plain_xgboost_server(
    mut: ModelUnderTest, workers: int, threads: int, scratch: Path, path: str = "/predict", name: str = "plain_xgboost"
) -> Server:
    """Return the plain Flask + XGBoost `inplace_predict` server under the same gunicorn config.

    `path` is the route the load goes to: `/predict` (records read by a loop) or `/frame` (every body read by pandas).
    """
    env = {"BENCH_MODEL_DIR": str(mut.folder), "BENCH_THREADS": str(threads)}
    return gunicorn_server(name, "bench.peers.plain_xgboost:create_app()", env, workers, scratch, path)


def ensure_mlserver_venv() -> Path:
    """Return MLServer's executable, creating `.venv-mlserver` (MLServer pins its own FastAPI/pydantic) if needed."""
    exe = MLSERVER_VENV / "bin" / "mlserver"
    stamp = MLSERVER_VENV / f".installed-{'-'.join(MLSERVER_PACKAGES)}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"creating {MLSERVER_VENV.name} with {' '.join(MLSERVER_PACKAGES)} (once) ...", flush=True)
    python = MLSERVER_VENV / "bin" / "python"
    if not python.exists():
        # The interpreter under .venv, not .venv's own python: a venv is made from a base interpreter.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(MLSERVER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *MLSERVER_PACKAGES], check=True)
    stamp.touch()
    return exe


def mlserver_server(mut: ModelUnderTest, scratch: Path) -> Server:
    """Return MLServer with its XGBoost runtime on the same model.json, in-process inference (see `http_load`)."""
    exe = ensure_mlserver_venv()
    folder = scratch / "mlserver"
    model_dir = folder / mut.name
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_bytes(mut.model_json.read_bytes())
    port = free_port()
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # MLServer 1.7's parallel inference pool fails to start here ("There is no current event loop"),
        # so inference runs in the server process, as in the reference measurement.
        "parallel_workers": 0,
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": mut.name,
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": "./model.json", "version": mut.version},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "PROMETHEUS_", "MLSERVER_"))}
    path = f"/v2/models/{mut.name}/infer"
    return Server("mlserver", [str(exe), "start", str(folder)], env, port, path, scratch / "mlserver.log")


def v2_body(matrix: Any) -> bytes:
    """Return the V2 (Open Inference Protocol) request carrying an encoded float32 matrix."""
    rows, columns = matrix.shape
    payload = {
        "inputs": [{"name": "input-0", "shape": [rows, columns], "datatype": "FP32", "data": matrix.ravel().tolist()}]
    }
    return json.dumps(payload).encode()
