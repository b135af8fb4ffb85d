"""The `sagemaker` backend behind the Lambda handler: validate and encode locally, predict on an endpoint.

The endpoint is reached over real HTTP through botocore's `sagemaker-runtime` client: moto server's
`sagemaker-runtime` on 127.0.0.1 (results queued through its moto-api), or, for what moto cannot do
(answer with an error, never answer, record what it was sent, run this project's own
`/invocations`), a small server on 127.0.0.1 that this module starts.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from werkzeug.serving import make_server

from api.app import create_app
from api.lambda_adapter import LambdaHandler, build_handler
from api.settings import Settings
from model.bundle import load_bundle
from model.data import credit_risk
from model.pipeline import TrainResult
from model.predictor import Predictor
from model.sagemaker_predictor import SageMakerPredictor, to_csv
from model.sagemaker_runtime import DirectRuntime
from model.store import open_store
from tests.api.conftest import RECORD
from tests.lambda_.conftest import decode, make_event, run_like_lambda, signature_checks_out
from tests.servers import free_port

pytestmark = pytest.mark.integration

RECORDS: list[dict[str, Any]] = [RECORD, {**RECORD, "loan_grade": "G", "person_emp_length": None}]


def unique_records(n: int = 2) -> list[dict[str, Any]]:
    """`n` records no other test sends: moto remembers the answer to each request body and repeats it.

    (moto 5.2 keys that memory by body and headers, not by endpoint name, which it does not parse.)
    """
    income = 10_000 + uuid.uuid4().int % 1_000_000
    return [{**RECORD, "person_income": income + i} for i in range(n)]


def sample_records(n: int = 25) -> list[dict[str, Any]]:
    """Synthetic credit-risk records with missing values, as clients send them (NaN becomes null)."""
    frame = credit_risk(n, seed=11).drop(columns=["loan_status"])
    records = []
    for row in frame.to_dict(orient="records"):
        records.append({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()})
    return records


def predict_event(records: list[dict[str, Any]], path: str = "/predict") -> dict[str, Any]:
    body = json.dumps({"instances": records}).encode()
    return make_event("http-v2", "POST", path, body, [("content-type", "application/json")])


# ---- moto server's sagemaker-runtime ------------------------------------------------------------------


@dataclass
class Moto:
    """moto server's sagemaker-runtime: queue answers, then invoke."""

    url: str

    def queue(self, *results: dict[str, Any]) -> None:
        """Queue answers for the next `invoke_endpoint` calls (moto hands them out in order)."""
        request = urllib.request.Request(  # noqa: S310 (a loopback http:// URL)
            f"{self.url}/moto-api/static/sagemaker/endpoint-results",
            data=json.dumps({"results": list(results)}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback http URL)
            assert response.status == 201

    def drain(self) -> None:
        """Consume answers a failed test left queued (the queue is shared by the whole server)."""
        client = boto3.client("sagemaker-runtime")
        endpoint = f"drain-{uuid.uuid4().hex[:8]}"
        for _ in range(100):
            body = client.invoke_endpoint(EndpointName=endpoint, Body=uuid.uuid4().hex.encode())["Body"].read()
            if body == b"body":  # moto's static answer: the queue is empty
                return


@pytest.fixture
def moto(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    """The session's moto server, also serving sagemaker-runtime (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", s3_env)
    server = Moto(s3_env)
    yield server
    server.drain()


@pytest.fixture(params=["direct", "botocore"])
def client_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each SageMaker Runtime client (see `model.sagemaker_runtime`).

    `direct` is what these tests' environment selects (credentials and region in environment variables, as
    in Lambda); `botocore` is what a pod with a role or a profile gets.
    """
    if request.param == "botocore":
        monkeypatch.setattr(DirectRuntime, "from_environ", classmethod(lambda cls, timeout_s, environ: None))
    return str(request.param)


def endpoint_name() -> str:
    """A fresh endpoint name, for the messages."""
    return f"treeport-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sagemaker_handler(credit_store: tuple[Path, TrainResult], lambda_handler: LambdaHandler) -> Callable[..., Any]:
    """Return `build(endpoint, **settings)`: a Lambda handler on the sagemaker backend."""

    def build(endpoint: str, **overrides: Any) -> Any:
        settings = Settings(
            model_store=credit_store[0].as_uri(), backend="sagemaker", sagemaker_endpoint=endpoint, **overrides
        )
        return build_handler(settings)

    return build


def model_ref(credit_store: tuple[Path, TrainResult]) -> dict[str, str]:
    return {"name": "credit-risk", "version": credit_store[1].version}


def test_queued_answer_comes_back_in_the_predict_shape(
    client_kind: str, moto: Moto, sagemaker_handler: Callable[..., Any], credit_store: tuple[Path, TrainResult]
) -> None:
    predictions = [{"label": 0, "probability": 0.125}, {"label": 1, "probability": 0.875}]
    answer = {"model": model_ref(credit_store), "predictions": predictions}
    moto.queue({"Body": json.dumps(answer), "ContentType": "application/json"})
    response = decode(sagemaker_handler(endpoint_name())(predict_event(unique_records()), None))
    assert response.status == 200, response.body
    assert response.json() == {"model": model_ref(credit_store), "predictions": predictions}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"predictions": [{"label": 0, "probability": 0.1}]}, "one result for two rows"),
        ({"predictions": [0.1, 0.9]}, "results that are not objects"),
        ({"outputs": []}, "no predictions member"),
        ("body", "not JSON (moto's static answer)"),
        (
            {"model": {"name": "credit-risk", "version": "19990101-000000-deadbeef"}, "predictions": [{}, {}]},
            "another version",
        ),
    ],
)
def test_unusable_answers_are_502(moto: Moto, sagemaker_handler: Callable[..., Any], answer: Any, why: str) -> None:
    body = answer if isinstance(answer, str) else json.dumps(answer)
    moto.queue({"Body": body, "ContentType": "application/json"})
    response = decode(sagemaker_handler(endpoint_name())(predict_event(unique_records()), None))
    assert response.error() == (502, "upstream_error"), why


def test_unreachable_endpoint_is_502(
    client_kind: str, sagemaker_handler: Callable[..., Any], s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{free_port()}")
    response = decode(sagemaker_handler(endpoint_name())(predict_event(RECORDS), None))
    assert response.error() == (502, "upstream_error")


# ---- a SageMaker runtime of our own on 127.0.0.1 -------------------------------------------------------


@dataclass
class Seen:
    """One request the stub runtime received."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubRuntime:
    """Answers every InvokeEndpoint with a fixed status, headers and body; records what it was sent."""

    url: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def stub(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StubRuntime]:
    """A SageMaker runtime stand-in on 127.0.0.1, with the runtime client pointed at it."""
    runtime = StubRuntime()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            runtime.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(runtime.status)
            for name, value in runtime.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(runtime.body)))
            self.end_headers()
            self.wfile.write(runtime.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    runtime.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
    yield runtime
    server.shutdown()
    server.server_close()


def test_what_the_backend_sends(
    client_kind: str, stub: StubRuntime, sagemaker_handler: Callable[..., Any], credit_store: tuple[Path, TrainResult]
) -> None:
    """InvokeEndpoint on the named endpoint: the encoded rows as headerless CSV, JSON asked back."""
    stub.body = json.dumps(
        {"model": model_ref(credit_store), "predictions": [{"label": 0, "probability": 0.5}] * 2}
    ).encode()
    stub.headers = {"Content-Type": "application/json"}
    response = decode(sagemaker_handler("my-endpoint")(predict_event(RECORDS), None))
    assert response.status == 200, response.body
    [seen] = stub.seen
    assert seen.path == "/endpoints/my-endpoint/invocations"
    assert seen.headers["content-type"] == "text/csv"
    assert seen.headers["accept"] == "application/json"
    local = Predictor.load(credit_store[0].as_uri(), "credit-risk")
    assert seen.body == to_csv(local.encode(RECORDS))
    # Signed with the environment's credentials (the `s3_env` fixture's), by the client the test asked for.
    assert signature_checks_out(stub.url + seen.path, seen.headers, seen.body, secret="testing")
    assert seen.headers["user-agent"].lower().startswith("treeport" if client_kind == "direct" else "botocore")


# How SageMaker's runtime reports errors (restJson1: the error type in x-amzn-ErrorType).
MODEL_ERROR = {
    "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
    "Message": 'Received server error (500) from primary with message "boom".',
    "OriginalMessage": "boom",
    "OriginalStatusCode": 500,
}


@pytest.mark.parametrize(
    ("status", "error_type", "body"),
    [
        (424, "ModelError", MODEL_ERROR),
        (400, "ValidationError", {"message": "Endpoint my-endpoint of account 123456789012 not found."}),
        (500, "InternalFailure", {"message": "An internal failure occurred."}),
        (503, "ServiceUnavailable", {"message": "The service is unavailable."}),
    ],
)
def test_endpoint_errors_are_502(
    client_kind: str,
    stub: StubRuntime,
    sagemaker_handler: Callable[..., Any],
    status: int,
    error_type: str,
    body: dict[str, Any],
) -> None:
    stub.status, stub.body = status, json.dumps(body).encode()
    stub.headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    response = decode(sagemaker_handler("my-endpoint")(predict_event(RECORDS), None))
    assert response.error() == (502, "upstream_error")
    assert error_type in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/predict", {"instances": [{**RECORD, "loan_amnt": "abc"}]}, 422, "schema_violation"),
        ("/predict", {"instances": [{**RECORD, "no_such_field": 1}]}, 422, "schema_violation"),
        ("/predict", {"rows": []}, 400, "missing_instances"),
        ("/explain", {"instances": [RECORD]}, 501, "not_supported"),
    ],
)
def test_answered_without_calling_the_endpoint(
    stub: StubRuntime, sagemaker_handler: Callable[..., Any], path: str, body: dict[str, Any], status: int, code: str
) -> None:
    event = make_event("http-v2", "POST", path, json.dumps(body).encode(), [("content-type", "application/json")])
    assert decode(sagemaker_handler("my-endpoint")(event, None)).error() == (status, code)
    assert stub.seen == []


def test_timeout_is_504(
    client_kind: str, sagemaker_handler: Callable[..., Any], s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint that accepts the connection and never answers (a listening socket nobody reads)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{silent.getsockname()[1]}")
        handler = sagemaker_handler("my-endpoint", sagemaker_timeout_seconds=1.0)
        started = time.monotonic()
        response = decode(handler(predict_event(RECORDS), None))
        elapsed = time.monotonic() - started
    assert response.error() == (504, "upstream_timeout")
    # One attempt, no retry: the setting bounds the wait (a second attempt would make it at least 2 s).
    assert 1.0 <= elapsed < 1.9, elapsed


# ---- the contract with this project's own /invocations ---------------------------------------------------


@pytest.mark.parametrize("rows", [3, 25])  # encoded row by row without numpy / as one matrix
def test_invocations_contract(credit_store: tuple[Path, TrainResult], rows: int) -> None:
    """The CSV the backend sends, posted to a local app's /invocations, predicts what the local /predict does."""
    records = sample_records(rows)
    uri = credit_store[0].as_uri()
    edge = SageMakerPredictor(load_bundle(open_store(uri), "credit-risk"), "unused", runtime=object())  # type: ignore[arg-type]
    body = to_csv(edge.encode_for_endpoint(records))
    assert body == to_csv(edge.encode(records))
    client = create_app(Settings(model_store=uri)).test_client()
    via_invocations = client.post(
        "/invocations", data=body, content_type="text/csv", headers={"Accept": "application/json"}
    )
    via_predict = client.post("/predict", json={"instances": records})
    assert via_invocations.status_code == 200 and via_predict.status_code == 200
    assert via_invocations.get_json() == via_predict.get_json()


class _EndpointPaths:
    """WSGI: serve an app's /invocations at SageMaker runtime's /endpoints/<name>/invocations."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["PATH_INFO"] = re.sub(r"^/endpoints/[^/]+/invocations$", "/invocations", environ["PATH_INFO"])
        return self.app(environ, start_response)


def test_end_to_end_against_a_local_endpoint(
    client_kind: str,
    credit_store: tuple[Path, TrainResult],
    sagemaker_handler: Callable[..., Any],
    lambda_handler: LambdaHandler,
    s3_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sagemaker backend, through botocore, against this project's app serving the endpoint: same answers."""
    endpoint_app = create_app(Settings(model_store=credit_store[0].as_uri()))
    server = make_server("127.0.0.1", 0, _EndpointPaths(endpoint_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_port}")
        records = sample_records()
        proxied = decode(sagemaker_handler("credit-risk-endpoint")(predict_event(records), None))
        local = decode(lambda_handler(predict_event(records), None))
    finally:
        server.shutdown()
    assert proxied.status == 200, proxied.body
    assert proxied.json() == local.json()


# ---- cold start: what the sagemaker backend leaves out ---------------------------------------------------

HEAVY = (
    "xgboost",
    "daal4py",
    "_daal4py",
    "sklearn",
    "sklearnex",
    "onedal",
    "pandas",
    "pyarrow",
    "boto3",
    "botocore",
    "numpy",
)


def test_sagemaker_backend_imports_no_model_libraries(moto: Moto, credit_store: tuple[Path, TrainResult]) -> None:
    """Building the handler and answering one event imports neither xgboost, daal4py nor scikit-learn.

    Nor pandas, pyarrow, boto3, botocore or numpy: with credentials in the environment (as in Lambda) the
    direct client signs the call itself, a one-row request is encoded without numpy, and each of these
    costs cold-start time.
    """
    moto.queue(
        {
            "Body": json.dumps({"model": model_ref(credit_store), "predictions": [{"label": 0, "probability": 0.25}]}),
            "ContentType": "application/json",
        }
    )
    after = (
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'status': response['statusCode'], 'heavy': heavy}))\n"
    )
    settings = {
        "TREEPORT_MODEL_STORE": credit_store[0].as_uri(),
        "TREEPORT_BACKEND": "sagemaker",
        "TREEPORT_SAGEMAKER_ENDPOINT": endpoint_name(),
    }
    done = run_like_lambda(predict_event(unique_records(1)), settings, after)
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": 200, "heavy": []}
