"""`make smoke` as part of `make test`: the standalone smoke script, run as a subprocess, must pass.

It starts its own moto_server, trains into it, serves with `treeport serve` and calls the Lambda handler
(see `tests/e2e/smoke.py`); the same script runs inside docker compose against the real containers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
TIMEOUT = 600


def test_standalone_smoke_script_passes() -> None:
    # The script is meant to ignore Treeport settings around it (make exports TREEPORT_MODEL_STORE): show it does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(TREEPORT_API_KEYS="0" * 64, TREEPORT_MODEL_NAME="not-this-one", TREEPORT_MODEL_STORE="s3://nowhere/x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.smoke", "--rows", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script then stops the servers it started before it exits.
        proc.terminate()
        output, _ = proc.communicate(timeout=60)
        pytest.fail(f"smoke did not finish within {TIMEOUT} s:\n{output}")
    assert proc.returncode == 0, f"smoke failed (exit {proc.returncode}):\n{output}"
    assert "smoke: all " in output
    assert "lambda: POST /predict (same version and probabilities as the API)" in output
    assert "lambda: POST /predict, alb event (same version and probabilities as the API)" in output
    assert "lambda: POST /predict, base64 body (same version and probabilities as the API)" in output
