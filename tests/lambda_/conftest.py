"""Lambda fixtures: AWS-documented events filled in per request (tests/events.py), and handlers built as Lambda's
init builds them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from api.lambda_adapter import LambdaHandler, build_handler
from model.pipeline import TrainResult
from tests.conftest import train_into

# The event builder lives in tests/events.py (pytest-free, for the compose smoke test too); re-exported here.
from tests.events import KINDS as KINDS
from tests.events import STAGE as STAGE
from tests.events import make_event as make_event

ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = ROOT / "lambda" / "handler.py"


KEY = "lambda-s3cret"
KEY_DIGEST = hashlib.sha256(KEY.encode()).hexdigest()

# Settings the tests set themselves; anything else in the environment would leak into `Settings.from_env()`.
_TREEPORT_VARS = (
    "MODEL_STORE",
    "MODEL_NAME",
    "MODEL_VERSION",
    "BACKEND",
    "SAGEMAKER_ENDPOINT",
    "SAGEMAKER_TIMEOUT_SECONDS",
    "API_KEYS",
    "MAX_ROWS",
    "MAX_BODY_BYTES",
    "THREADS",
    "IGNORE_UNKNOWN_FEATURES",
    "RELOAD_SECONDS",
)


@dataclass(frozen=True)
class LambdaResponse:
    """A handler's answer, decoded: status, headers (lowercase names, repeats joined) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: dict[str, Any]

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    def error(self) -> tuple[int, str]:
        """Return (status, error code), checking the error body's shape."""
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        assert b"Traceback" not in self.body
        return self.status, body["error"]["code"]


def decode(response: dict[str, Any]) -> LambdaResponse:
    """Decode what a handler returned, in either header form and either body encoding."""
    headers: dict[str, str] = {}
    for name, value in (response.get("headers") or {}).items():
        headers[name.lower()] = value
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(values)
    text = response.get("body") or ""
    body = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
    return LambdaResponse(int(response["statusCode"]), headers, body, response)


def run_like_lambda(
    event: dict[str, Any], settings: dict[str, str], after: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run lambda/handler.py in a fresh interpreter as the runtime does: the task root on sys.path, `import
    handler`, call `handler.handler(event, None)` and print its answer as JSON (the last stdout line).

    `settings` are the TREEPORT_* variables (none other is inherited); `after` is more Python run afterwards,
    which may print a JSON line of its own instead (`response` holds the answer).
    """
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(HANDLER_PATH.parent)!r})\n"
        "import handler\n"
        "response = handler.handler(json.loads(sys.stdin.read()), None)\n" + (after or "print(json.dumps(response))\n")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEPORT_")}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=check,
    )


def clear_treeport_env(mp: pytest.MonkeyPatch) -> None:
    """Unset every TREEPORT_* setting the tests rely on."""
    for var in _TREEPORT_VARS:
        mp.delenv(f"TREEPORT_{var}", raising=False)


@pytest.fixture(scope="session")
def credit_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """A file store with the credit-risk model (4,000 synthetic rows) promoted to LATEST."""
    store = tmp_path_factory.mktemp("lambda-store")
    return store, train_into(store, rows=4000)


@pytest.fixture(scope="session")
def lambda_handler(credit_store: tuple[Path, TrainResult]) -> LambdaHandler:
    """The handler `lambda/handler.py` builds (`build_handler()`), with TREEPORT_MODEL_STORE naming the
    credit-risk store (no API keys).

    The environment is restored as soon as the handler is built (it reads settings once, at init), so the
    variables do not leak into the rest of the session.
    """
    with pytest.MonkeyPatch.context() as mp:
        clear_treeport_env(mp)
        mp.setenv("TREEPORT_MODEL_STORE", credit_store[0].as_uri())
        return build_handler()


@pytest.fixture(scope="session")
def secured_handler(credit_store: tuple[Path, TrainResult]) -> LambdaHandler:
    """The handler built with TREEPORT_API_KEYS set, so every model route needs `KEY`."""
    with pytest.MonkeyPatch.context() as mp:
        clear_treeport_env(mp)
        mp.setenv("TREEPORT_MODEL_STORE", credit_store[0].as_uri())
        mp.setenv("TREEPORT_API_KEYS", KEY_DIGEST)
        return build_handler()


def botocore_authorization(
    url: str,
    headers: dict[str, str],
    body: bytes,
    amz_date: str,
    *,
    key: str,
    secret: str,
    token: str | None,
    region: str,
    service: str = "sagemaker",
) -> str:
    """Return the Authorization header botocore's SigV4Auth writes for `POST url` with `headers` at `amz_date`."""
    request = AWSRequest(method="POST", url=url, headers=dict(headers), data=body)
    when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    original = botocore_auth.get_current_datetime
    botocore_auth.get_current_datetime = lambda: when  # type: ignore[assignment]
    try:
        botocore_auth.SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    finally:
        botocore_auth.get_current_datetime = original
    return str(request.headers["Authorization"])


_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=[0-9a-f]{64}$"
)


def signature_checks_out(url: str, headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Check a received request's SigV4 signature as AWS does: sign what it says it signed, compare.

    `headers` are the received ones, names lowercased; botocore does the signing.
    """
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        return False
    added_by_signer = ("host", "x-amz-date", "x-amz-security-token")
    signed = {n: headers[n] for n in match["names"].split(";") if n not in added_by_signer}
    expected = botocore_authorization(
        url,
        signed,
        body,
        headers["x-amz-date"],
        key=match["key"],
        secret=secret,
        token=headers.get("x-amz-security-token"),
        region=match["region"],
        service=match["service"],
    )
    return expected == headers["authorization"]
