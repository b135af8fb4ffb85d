"""The container tests: the images of `make images`, run as EKS, SageMaker, Lambda and docker compose run them.

They need a Docker engine and the images, so `make test` skips them (with the reason) and `make e2e` runs them
(TREEPORT_E2E=1, as `.ci/run` does after `make images`); there a missing engine or image is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.pipeline import TrainResult
from tests.conftest import train_into

IMAGES = {
    "serve": "treeport:local",
    "train": "treeport-train:local",
    "lambda": "treeport-lambda:local",
    "lambda-proxy": "treeport-lambda-proxy:local",
    "s3": "treeport-s3:local",
}
ROOT = Path(__file__).resolve().parents[2]


def _required() -> bool:
    """Whether a missing engine or image must fail the run (make e2e, or CI) rather than skip."""
    return os.environ.get("TREEPORT_E2E") == "1" or os.environ.get("CI") == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the container tests outside `make e2e`, saying why (CI runs `make test` before `make images`)."""
    if os.environ.get("TREEPORT_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="container tests run under `make e2e` (TREEPORT_E2E=1) with a Docker engine")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def docker_problem() -> str | None:
    """Return why the Docker engine cannot be used, or None when it answers."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"no Docker engine answers: {done.stderr.strip()[:200]}"
    inspect = [subprocess.run(["docker", "image", "inspect", tag], capture_output=True) for tag in IMAGES.values()]
    missing = [tag for tag, done in zip(IMAGES.values(), inspect, strict=True) if done.returncode != 0]
    if missing:
        return f"images missing (run make images): {', '.join(missing)}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The docker client, once the engine answers and every image exists; fail (never skip) under make e2e or CI."""
    problem = docker_problem()
    if problem is not None:
        pytest.fail(problem) if _required() else pytest.skip(problem)
    return "docker"


@pytest.fixture(scope="session")
def credit_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """A credit-risk bundle in a file store, readable by the images' uid 10001."""
    root = tmp_path_factory.mktemp("e2e-store")
    result = train_into(root)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root, result


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of containers a test started; each is removed (with its volumes) when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True, timeout=60)
