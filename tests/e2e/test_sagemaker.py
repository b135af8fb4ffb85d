"""SageMaker as SageMaker runs the image: `train` with its channels under /opt/ml, then `serve` of model.tar.gz.

Both run as the image's own user (uid 10001) on a read-only root file system, with no network for training.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from model.data import EXAMPLE_RECORD, credit_risk
from tests.e2e.conftest import IMAGES
from tests.e2e.runtime import docker, free_port, logs, request, wait_listening

pytestmark = pytest.mark.e2e
UID = 10001
HYPERPARAMETERS = {"target": "loan_status", "name": "credit-risk", "num_round": "40", "max_depth": "4"}


def owned_by_image_user(path: Path) -> Path:
    """Make `path` (a folder) writable by the image's uid, as SageMaker's own mounts are."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, UID, UID)
    else:
        path.chmod(0o777)
    return path


def run_train(image: str, root: Path) -> tuple[int, str, float]:
    """`docker run IMAGE train` with SageMaker's layout; return (exit code, output, seconds)."""
    started = time.perf_counter()
    done = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--network", "none", "--cap-drop", "ALL",
        "-v", f"{root / 'input'}:/opt/ml/input:ro",
        "-v", f"{root / 'model'}:/opt/ml/model",
        "-v", f"{root / 'output'}:/opt/ml/output",
        image, "train", check=False, timeout=900,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def sagemaker_root(base: Path) -> Path:
    """Write a training job's inputs (a train channel of 4000 credit-risk rows, hyperparameters) under `base`."""
    data = base / "input" / "data" / "train"
    data.mkdir(parents=True)
    credit_risk(4000, seed=5).to_csv(data / "loans.csv", index=False)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    for path in [base / "input", *(base / "input").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    owned_by_image_user(base / "model")
    owned_by_image_user(base / "output")
    return base


@pytest.fixture(scope="module")
def trained_model(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train in the training image as SageMaker would; return model.tar.gz of /opt/ml/model."""
    root = sagemaker_root(tmp_path_factory.mktemp("sagemaker"))
    code, output, seconds = run_train(IMAGES["train"], root)
    failure = root / "output" / "failure"
    assert code == 0, f"train exited {code}: {failure.read_text() if failure.exists() else ''}\n{output[-3000:]}"
    assert (root / "model" / "credit-risk" / "LATEST").is_file(), output[-2000:]
    print(f"\nSageMaker train in {IMAGES['train']}: {seconds:.1f} s")
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # as SageMaker packs /opt/ml/model
        for path in sorted((root / "model").iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def test_train_writes_the_bundle_as_the_image_user(trained_model: Path) -> None:
    with tarfile.open(trained_model) as tar:
        names = tar.getnames()
    assert "credit-risk/LATEST" in names
    assert any(n.endswith("/manifest.json") for n in names)


def test_the_serving_image_refuses_to_train_with_a_reason(docker_engine: str, tmp_path: Path) -> None:
    root = sagemaker_root(tmp_path / "ml")
    code, output, _ = run_train(IMAGES["serve"], root)
    assert code == 2, output[-2000:]
    assert "use the training image" in (root / "output" / "failure").read_text()
    assert not any((root / "model").iterdir())


def test_serve_answers_ping_and_invocations_from_model_tar_gz(
    docker_engine: str, trained_model: Path, tmp_path: Path, containers: list[str]
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(trained_model) as tar:  # as SageMaker unpacks it into /opt/ml/model
        tar.extractall(model_dir, filter="data")
    for path in [model_dir, *model_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    name = f"treeport-e2e-sagemaker-{port}"
    containers.append(name)
    docker(
        "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
        "-v", f"{model_dir}:/opt/ml/model:ro", "-p", f"127.0.0.1:{port}:8080", IMAGES["serve"], "serve",
    )  # fmt: skip
    listening = wait_listening(port, 120, name)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            status, _ = request("GET", base + "/ping")
        except OSError:
            status = 0
        if status == 200:
            break
        assert time.monotonic() - listening < 30, f"/ping never answered 200:\n{logs(name)[-3000:]}"
        time.sleep(0.05)
    ping_after = time.monotonic() - listening
    # A figure, not an assertion (timings are reported, not asserted, in this project): SageMaker's target is 2 s.
    print(f"\nSageMaker serve: /ping 200 {ping_after:.2f} s after the server listened (target 2 s)")

    record = {"instances": [EXAMPLE_RECORD]}
    status, body = request(
        "POST", base + "/invocations", json.dumps(record).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, body[:500]
    assert len(json.loads(body)["predictions"]) == 1
    status, body = request("GET", base + "/metadata")
    columns = len(json.loads(body)["columns"])
    csv = ("," * (columns - 1) + "\n") * 2
    status, body = request(
        "POST", base + "/invocations", csv.encode(), {"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert status == 200, body[:500]
    assert all(0.0 <= float(line) <= 1.0 for line in body.decode().split()) and len(body.decode().split()) == 2
    status, body = request("POST", base + "/invocations", b"1,2\n", {"Content-Type": "text/csv"})
    assert (status, json.loads(body)["error"]["code"]) == (422, "wrong_column_count"), body[:300]

    # Batch Transform's JSON Lines of records (SplitType Line, MultiRecord): a body large enough for the typed
    # decoder the image carries (msgspec), answered line for line as the same records are in `instances`.
    rows = [dict(EXAMPLE_RECORD, person_age=20 + i % 50, loan_amnt=1000 + 37 * i) for i in range(1000)]
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    assert len(lines) > 1 << 16
    jsonl = {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"}
    status, body = request("POST", base + "/invocations", lines, jsonl)
    assert status == 200, body[:500]
    answered = [json.loads(line) for line in body.decode().splitlines()]
    status, body = request(
        "POST", base + "/invocations", json.dumps({"instances": rows}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, body[:500]
    assert answered == json.loads(body)["predictions"]
    broken = lines.replace(b"\n", b"\n{\n", 1)  # line 1 is not a record: the common path names it
    status, body = request("POST", base + "/invocations", broken, {"Content-Type": "application/jsonlines"})
    assert status == 400 and "line 1" in json.loads(body)["error"]["message"], body[:300]
