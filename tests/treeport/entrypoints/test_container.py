"""The image's entrypoint, `python -m treeport.entrypoints.container`: `serve`, `train`, or any other command.

No Docker engine runs here, so the image itself is never started; these tests run the entrypoint as the
image does (`ENTRYPOINT ["python", "-m", "treeport.entrypoints.container"]`), with a SageMaker root in tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.pipeline import TrainResult
from tests.e2e.smoke import RECORDS, CheckFailed, http
from treeport.entrypoints.container import main, serve_environment


def model_folder(root: Path, *names: str) -> Path:
    """Create root/model with a LATEST file for each of `names` (as SageMaker unpacks model.tar.gz)."""
    for name in names:
        (root / "model" / name).mkdir(parents=True)
        (root / "model" / name / "LATEST").write_text("v1\n")
    return root


@pytest.mark.parametrize(
    ("environ", "names", "expected"),
    [
        # SageMaker endpoint: the unpacked model folder is the store, its one model the name.
        ({}, ["churn"], {"TREEPORT_MODEL_NAME": "churn"}),
        # Two models: the name stays unset (Settings' default, or TREEPORT_MODEL_NAME, decides).
        ({}, ["a", "b"], {"TREEPORT_MODEL_NAME": None}),
        # What the deployment says wins.
        ({"TREEPORT_MODEL_NAME": "b"}, ["a", "b"], {"TREEPORT_MODEL_NAME": "b"}),
        ({"TREEPORT_MODEL_STORE": "s3://bucket/models"}, ["a"], {"TREEPORT_MODEL_STORE": "s3://bucket/models"}),
        ({"SAGEMAKER_BIND_TO_PORT": "9090"}, [], {"TREEPORT_BIND": "0.0.0.0:9090"}),
        ({"SAGEMAKER_BIND_TO_PORT": "9090", "TREEPORT_BIND": "127.0.0.1:1"}, [], {"TREEPORT_BIND": "127.0.0.1:1"}),
        ({}, [], {"TREEPORT_BIND": None}),
    ],
)
def test_serve_environment(
    tmp_path: Path, environ: dict[str, str], names: list[str], expected: dict[str, str | None]
) -> None:
    root = model_folder(tmp_path, *names)

    env = serve_environment(environ, str(root))

    for key, value in expected.items():
        assert env.get(key) == value
    if names and "TREEPORT_MODEL_STORE" not in environ:
        assert env["TREEPORT_MODEL_STORE"] == (root / "model").as_uri()


def test_serve_environment_without_a_model_folder_changes_nothing(tmp_path: Path) -> None:
    assert serve_environment({"PATH": "/bin"}, str(tmp_path)) == {"PATH": "/bin"}


def test_train_runs_the_sagemaker_training_contract(tmp_path: Path) -> None:
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text("{}")

    assert main(["train", "--root", str(tmp_path)]) == 2

    assert "no 'train' channel" in (tmp_path / "output" / "failure").read_text()


def entrypoint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m treeport.entrypoints.container ARGS` as the image's ENTRYPOINT does."""
    argv = [sys.executable, "-m", "treeport.entrypoints.container", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_other_commands_replace_the_entrypoint() -> None:
    assert entrypoint("sh", "-c", "echo $0; exit 7", "hello").returncode == 7
    assert entrypoint("sh", "-c", "echo $0", "hello").stdout == "hello\n"
    missing = entrypoint("no-such-command-here")
    assert missing.returncode == 127
    assert "no such command 'no-such-command-here'" in missing.stderr
    assert "serve [GUNICORN FLAGS...]" in entrypoint("--help").stdout


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.integration
def test_serve_answers_sagemakers_ping_and_invocations_from_the_model_folder(
    tmp_path: Path, trained: dict[str, tuple[Path, TrainResult]]
) -> None:
    store, result = trained["credit"]
    root = tmp_path / "ml"
    shutil.copytree(store, root / "model")  # what SageMaker unpacks from model.tar.gz
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "PROMETHEUS_", "GUNICORN_"))}
    env.update(TREEPORT_SAGEMAKER_ROOT=str(root), TREEPORT_BIND=f"127.0.0.1:{port}", TREEPORT_WORKERS="1")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "treeport.entrypoints.container", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while status != 200 and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                status = http("GET", f"http://127.0.0.1:{port}/ping").status
            except CheckFailed:
                time.sleep(0.2)
        assert status == 200, log.read_text()
        payload = json.dumps({"instances": RECORDS}).encode()
        response = http("POST", f"http://127.0.0.1:{port}/invocations", payload, {"Content-Type": "application/json"})
        assert response.status == 200, response.body
        answer = response.json()
        assert answer["model"] == {"name": result.name, "version": result.version}
        assert len(answer["predictions"]) == len(RECORDS)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
