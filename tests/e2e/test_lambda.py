"""The Lambda images as Lambda runs them: under the emulator, read-only root (only /tmp writable), the event fixtures.

The local backend runs with no network at all (`--network none`), its model in a file store mounted read-only; the
invoke URL is then reached from inside the container. The sagemaker backend's predictions need a SageMaker endpoint,
which cannot run here: it is checked up to the edge (init with the bundle, readiness, validation answered locally).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from model.data import EXAMPLE_RECORD
from model.pipeline import TrainResult
from tests.e2e.conftest import IMAGES
from tests.e2e.runtime import docker, durations, invoke_inside, logs
from tests.events import KINDS, make_event

pytestmark = pytest.mark.e2e
JSON = [("Content-Type", "application/json")]
BODY = json.dumps({"instances": [EXAMPLE_RECORD]}).encode()


def start_lambda(name: str, image: str, store: Path, extra_env: dict[str, str]) -> None:
    """Start `image` as Lambda would: read-only, /tmp writable, no network, no capabilities."""
    env = {"TREEPORT_MODEL_STORE": "file:///models", "TREEPORT_MODEL_NAME": "credit-risk", **extra_env}
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    docker(
        "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "--network", "none", "--cap-drop", "ALL",
        "-v", f"{store}:/models:ro", *flags, image,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "exec '/opt/venv/bin/python'" not in logs(name):
        assert time.monotonic() < deadline, f"the emulator did not start:\n{logs(name)[-3000:]}"
        time.sleep(0.2)


def answer(result: dict[str, Any]) -> tuple[int, Any]:
    """Return (statusCode, parsed body) of a proxy result."""
    assert "errorMessage" not in result, result
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return result["statusCode"], json.loads(raw)


def report(name: str, backend: str) -> None:
    """Print the emulator's init and invoke durations for the closing note."""
    inits, invokes = durations(logs(name))
    assert inits, f"no INIT REPORT line:\n{logs(name)[-3000:]}"
    warm = sorted(invokes[1:]) or invokes
    print(
        f"\nRIE in {IMAGES['lambda' if backend == 'local' else 'lambda-proxy']}: init {inits[0]:.0f} ms, "
        f"first invoke {invokes[0]:.1f} ms, warm invokes median {warm[len(warm) // 2]:.1f} ms ({len(invokes)} invokes)"
    )


def test_local_backend_answers_every_event_kind_offline(
    docker_engine: str, credit_bundle: tuple[Path, TrainResult], containers: list[str]
) -> None:
    name = f"treeport-e2e-lambda-local-{time.monotonic_ns()}"
    containers.append(name)
    start_lambda(name, IMAGES["lambda"], credit_bundle[0], {})
    events = [make_event("rest-v1", "GET", "/ready")]
    events += [make_event(kind, "POST", "/predict", BODY, JSON) for kind in KINDS]
    events += [make_event(kind, "POST", "/predict", BODY, JSON, base64_body=True) for kind in ("http-v2", "alb")]
    events += [make_event("http-v2-stage", "POST", "/explain", BODY, JSON)]
    bad = json.dumps({"instances": [{**EXAMPLE_RECORD, "loan_amnt": "lots"}]}).encode()
    events += [make_event("rest-v1", "POST", "/predict", bad, JSON)]
    results = [answer(r) for r in invoke_inside(name, events)]
    assert results[0] == (200, results[0][1]) and results[0][1]["model"]["version"] == credit_bundle[1].version
    predictions = results[1 : 1 + len(KINDS) + 2]
    assert all(status == 200 for status, _ in predictions), predictions
    assert len({json.dumps(body["predictions"]) for _, body in predictions}) == 1, "event kinds disagree"
    assert results[-2][0] == 200 and "contributions" in results[-2][1]["explanations"][0]
    assert (results[-1][0], results[-1][1]["error"]["code"]) == (422, "schema_violation")
    report(name, "local")


def test_sagemaker_backend_starts_and_validates_at_the_edge(
    docker_engine: str, credit_bundle: tuple[Path, TrainResult], containers: list[str]
) -> None:
    name = f"treeport-e2e-lambda-proxy-{time.monotonic_ns()}"
    containers.append(name)
    env = {
        "TREEPORT_SAGEMAKER_ENDPOINT": "credit-risk",
        "AWS_REGION": "us-east-1",
        # Not real keys: the endpoint is never reached (no network); the client only needs credentials to exist.
        "AWS_ACCESS_KEY_ID": "e2e-not-a-key",
        "AWS_SECRET_ACCESS_KEY": "e2e-not-a-secret",
    }
    start_lambda(name, IMAGES["lambda-proxy"], credit_bundle[0], env)
    bad = json.dumps({"instances": [{**EXAMPLE_RECORD, "person_age": "old"}]}).encode()
    events = [make_event("rest-v1", "GET", "/ready"), make_event("http-v2", "GET", "/metadata")]
    events += [make_event(kind, "POST", "/predict", bad, JSON) for kind in KINDS]
    results = [answer(r) for r in invoke_inside(name, events)]
    assert results[0][0] == 200 and results[0][1]["model"]["version"] == credit_bundle[1].version
    assert results[1][0] == 200 and results[1][1]["backend"] == "sagemaker", results[1]
    assert all((status, body["error"]["code"]) == (422, "schema_violation") for status, body in results[2:]), results
    report(name, "sagemaker")
