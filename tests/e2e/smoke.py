"""End-to-end smoke test: the API and the Lambda handler, serving one model trained into S3.

Two ways to run it:

    python -m tests.e2e.smoke
        Standalone, no Docker (`make smoke`, and tests/test_smoke.py in `make test`): starts `moto_server` (an
        S3 API) on a free 127.0.0.1 port, creates a bucket, trains into s3://BUCKET/models with `treeport train`,
        starts `treeport serve` on a free loopback port and checks the API over HTTP, then runs lambda/handler.py
        as Lambda does, under AWS's Runtime Interface Emulator (.venv/bin/aws-lambda-rie, from `make setup`) and
        the runtime interface client, and checks it through the emulator's invoke URL with the event fixtures of
        tests/fixtures/events (REST v1, HTTP v2 on `$default` and a named stage, ALB; a base64 body).
        Everything it started is stopped on the way out, failed or not.

    python -m tests.e2e.smoke --api-url http://api:8080 \\
        --lambda-url http://lambda:8080/2015-03-31/functions/function/invocations
        Against servers already running (the docker-compose `smoke` service, which mounts tests/ read-only): the
        same checks over HTTP; the Lambda is invoked through the emulator in the Lambda image.

It imports only the standard library, `model.data` and tests/events.py, so that it runs in the serving image.

Exit code 0 when every check passed, 1 when any failed (each failure is printed with what was expected
and what came back), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.data import EXAMPLE_RECORD
from tests.events import KINDS, make_event

DEFAULT_NAME = "credit-risk"
DEFAULT_ROWS = 5000
HTTP_TIMEOUT = 30.0
# Two credit-risk applicants; the second has missing values, which the model must take.
RECORDS: list[dict[str, Any]] = [
    EXAMPLE_RECORD,
    {
        "person_age": 52,
        "person_income": 21000,
        "person_home_ownership": "MORTGAGE",
        "person_emp_length": None,
        "loan_intent": "MEDICAL",
        "loan_grade": "E",
        "loan_amnt": 15000,
        "loan_int_rate": None,
        "loan_percent_income": 0.71,
        "cb_person_default_on_file": "Y",
        "cb_person_cred_hist_length": 17,
    },
]
# Variables that would change what the servers started here do (auth, another store, another model).
_INHERITED_PREFIXES = ("TREEPORT_", "PROMETHEUS_MULTIPROC_DIR", "GUNICORN_CMD_ARGS")
_AWS_OVERRIDES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


class CheckFailed(Exception):
    """A check saw something other than what it expected."""


@dataclass
class Response:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body parsed as JSON, or fail the check."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailed(f"expected a JSON body, got {self.body[:200]!r}") from None


Transport = Callable[[str, str, bytes | None, dict[str, str]], Response]


@dataclass
class Report:
    """The checks run so far and their outcome."""

    passed: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, run: Callable[[], str | None]) -> bool:
        """Run one check, print its outcome, and return whether it passed."""
        started = time.perf_counter()
        try:
            note = run()
        except CheckFailed as exc:
            self.failures.append(f"{label}: {exc}")
            print(f"FAIL {label}: {exc}", flush=True)
            return False
        self.passed += 1
        ms = (time.perf_counter() - started) * 1000
        print(f"ok   {label}{f' ({note})' if note else ''} [{ms:.0f} ms]", flush=True)
        return True


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
    """Send one HTTP request; any status comes back as a `Response`, a network failure as `CheckFailed`."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:  # noqa: S310  (http URLs we were given)
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None


def expect_status(response: Response, status: int, what: str) -> None:
    """Fail unless `response` has `status`."""
    if response.status != status:
        raise CheckFailed(f"{what}: expected HTTP {status}, got {response.status}: {response.body[:300]!r}")


def expect_error(response: Response, status: int, code: str, what: str) -> dict[str, Any]:
    """Fail unless `response` is the JSON error `code` with `status`; return the error object."""
    expect_status(response, status, what)
    error = response.json().get("error") if isinstance(response.json(), dict) else None
    if not isinstance(error, dict) or error.get("code") != code:
        raise CheckFailed(f"{what}: expected error code {code!r}, got {response.body[:300]!r}")
    return error


def records_csv(records: list[dict[str, Any]]) -> bytes:
    """Return `records` as CSV with a header row; missing values are empty cells."""
    header = list(records[0])
    lines = [",".join(header)]
    for record in records:
        lines.append(",".join("" if record[k] is None else str(record[k]) for k in header))
    return ("\n".join(lines) + "\n").encode()


def check_predictions(payload: Any, name: str, rows: int, what: str) -> list[float]:
    """Fail unless `payload` is a binary `/predict` answer for `rows` rows of model `name`; return the probabilities."""
    if not isinstance(payload, dict) or not isinstance(payload.get("predictions"), list):
        raise CheckFailed(f"{what}: expected {{'model': ..., 'predictions': [...]}}, got {str(payload)[:300]}")
    model = payload.get("model") or {}
    if model.get("name") != name or not model.get("version"):
        raise CheckFailed(f"{what}: expected model {name!r} with a version, got {model!r}")
    predictions = payload["predictions"]
    if len(predictions) != rows:
        raise CheckFailed(f"{what}: expected {rows} predictions, got {len(predictions)}")
    probabilities = []
    for i, prediction in enumerate(predictions):
        p = prediction.get("probability") if isinstance(prediction, dict) else None
        if not isinstance(p, float) or not 0.0 <= p <= 1.0 or prediction.get("label") != (1 if p >= 0.5 else 0):
            raise CheckFailed(
                f"{what}: row {i}: expected a label 0/1 matching a probability in [0, 1], got {prediction}"
            )
        probabilities.append(p)
    return probabilities


def same_numbers(a: list[float], b: list[float], what: str, tolerance: float = 1e-9) -> None:
    """Fail unless `a` and `b` agree element-wise within `tolerance`."""
    if len(a) != len(b) or any(abs(x - y) > tolerance for x, y in zip(a, b, strict=False)):
        raise CheckFailed(f"{what}: {a} differ from {b}")


@dataclass
class ApiChecks:
    """The checks against one running API, by base URL."""

    base: str
    name: str
    report: Report
    probabilities: list[float] = field(default_factory=list)
    version: str = ""

    def url(self, path: str) -> str:
        """Return the absolute URL of `path`."""
        return self.base.rstrip("/") + path

    def post_json(self, path: str, payload: Any) -> Response:
        """POST `payload` as JSON."""
        body = json.dumps(payload).encode()
        return http("POST", self.url(path), body, {"Content-Type": "application/json"})

    def wait_ready(self, timeout: float, alive: Callable[[], str | None] = lambda: None) -> str:
        """Poll `/ready` until it answers 200; fail after `timeout` seconds or when `alive` reports a death."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            dead = alive()
            if dead:
                raise CheckFailed(dead)
            try:
                response = http("GET", self.url("/ready"))
            except CheckFailed as exc:
                last = str(exc)
            else:
                if response.status == 200:
                    ready = response.json()
                    self.version = str((ready.get("model") or {}).get("version", ""))
                    return f"model {self.name} version {self.version}"
                last = f"HTTP {response.status} {response.body[:200]!r}"
            time.sleep(0.5)
        raise CheckFailed(f"not ready after {timeout:.0f} s; last answer: {last}")

    def health(self) -> str | None:
        """`GET /health` and `GET /ping` answer 200."""
        expect_status(http("GET", self.url("/health")), 200, "GET /health")
        expect_status(http("GET", self.url("/ping")), 200, "GET /ping")
        return None

    def predict_json(self) -> str:
        """`POST /predict` with JSON answers one prediction per record."""
        response = self.post_json("/predict", {"instances": RECORDS})
        expect_status(response, 200, "POST /predict (JSON)")
        self.probabilities = check_predictions(response.json(), self.name, len(RECORDS), "POST /predict (JSON)")
        return "probabilities " + ", ".join(f"{p:.4f}" for p in self.probabilities)

    def predict_csv(self) -> str:
        """`POST /predict` with CSV (header row) answers the same as with JSON."""
        response = http("POST", self.url("/predict"), records_csv(RECORDS), {"Content-Type": "text/csv"})
        expect_status(response, 200, "POST /predict (CSV)")
        probabilities = check_predictions(response.json(), self.name, len(RECORDS), "POST /predict (CSV)")
        same_numbers(probabilities, self.probabilities, "CSV vs JSON probabilities")
        return "same probabilities as JSON"

    def explain(self) -> str:
        """`POST /explain`: a contribution per feature; sigmoid(bias + contributions) is the predicted probability."""
        response = self.post_json("/explain", {"instances": RECORDS})
        expect_status(response, 200, "POST /explain")
        explanations = response.json().get("explanations")
        if not isinstance(explanations, list) or len(explanations) != len(RECORDS):
            raise CheckFailed(f"expected {len(RECORDS)} explanations, got {response.body[:300]!r}")
        for i, explanation in enumerate(explanations):
            contributions = explanation.get("contributions", {})
            if set(contributions) != set(RECORDS[0]):
                raise CheckFailed(f"row {i}: expected a contribution per feature, got {sorted(contributions)}")
            if i < len(self.probabilities):
                margin = sum(contributions.values()) + explanation["bias"]
                p = self.probabilities[i]
                if abs(1 / (1 + math.exp(-margin)) - p) > 1e-4:
                    raise CheckFailed(f"row {i}: bias + contributions = {margin:.6f} does not give p = {p:.6f}")
        return "contributions add up to the predicted probabilities"

    def invocations(self) -> str:
        """SageMaker's `POST /invocations`: raw JSON records, and headerless preprocessed CSV rows."""
        response = self.post_json("/invocations", {"instances": RECORDS})
        expect_status(response, 200, "POST /invocations (JSON)")
        probabilities = check_predictions(response.json(), self.name, len(RECORDS), "POST /invocations (JSON)")
        same_numbers(probabilities, self.probabilities, "/invocations vs /predict probabilities")
        metadata = http("GET", self.url("/metadata"))
        expect_status(metadata, 200, "GET /metadata")
        columns = len(metadata.json()["columns"])
        # One preprocessed row with every value missing: the trees' default directions decide.
        body = ("," * (columns - 1) + "\n").encode()
        response = http("POST", self.url("/invocations"), body, {"Content-Type": "text/csv", "Accept": "text/csv"})
        expect_status(response, 200, "POST /invocations (CSV)")
        lines = response.body.decode().split()
        if len(lines) != 1 or not 0.0 <= float(lines[0]) <= 1.0:
            raise CheckFailed(f"POST /invocations (CSV): expected one probability line, got {response.body[:200]!r}")
        return f"JSON as /predict; CSV of {columns} preprocessed columns -> {float(lines[0]):.4f}"

    def batch_transform(self) -> str:
        """SageMaker Batch Transform's side of the contract, as a job with SplitType Line and MultiRecord calls it:
        `GET /execution-parameters`, then mini-batches of whole JSON lines up to MaxPayloadInMB on `/invocations`,
        answered one JSON line per input line, in order, the same predictions as `/predict`."""
        response = http("GET", self.url("/execution-parameters"))
        expect_status(response, 200, "GET /execution-parameters")
        params = response.json()
        if params.get("BatchStrategy") != "MULTI_RECORD" or not isinstance(params.get("MaxPayloadInMB"), int):
            raise CheckFailed(f"GET /execution-parameters: unexpected {params!r}")
        if not isinstance(params.get("MaxConcurrentTransforms"), int) or params["MaxConcurrentTransforms"] < 1:
            raise CheckFailed(f"GET /execution-parameters: MaxConcurrentTransforms {params!r}")
        lines = [json.dumps(record).encode() + b"\n" for record in RECORDS * 4]
        limit = params["MaxPayloadInMB"] * 1024 * 1024
        batches: list[bytes] = [b""]
        for line in lines:  # as Batch Transform packs whole records into each request (here: 2 per batch)
            if len(batches[-1]) + len(line) > limit or batches[-1].count(b"\n") == 2:
                batches.append(b"")
            batches[-1] += line
        out: list[Any] = []
        for body in batches:
            headers = {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"}
            answer = http("POST", self.url("/invocations"), body, headers)
            expect_status(answer, 200, "POST /invocations (JSON Lines)")
            got, sent = answer.body.decode().splitlines(), body.count(b"\n")
            if len(got) != sent:
                raise CheckFailed(f"{sent} lines in, {len(got)} out: {answer.body[:200]!r}")
            out += [json.loads(line) for line in got]
        probabilities = [row["probability"] for row in out]
        same_numbers(probabilities, self.probabilities * 4, "Batch Transform vs /predict probabilities")
        return f"{params}; {len(lines)} JSON lines in {len(batches)} mini-batches, one result line each, in order"

    def bad_requests(self) -> str:
        """Bad input gets the documented 4xx and error code, never a 500."""
        bad_row = {**RECORDS[0], "person_age": "thirty"}
        error = expect_error(
            self.post_json("/predict", {"instances": [bad_row]}), 422, "schema_violation", "POST /predict, bad age"
        )
        fields = [d.get("field") for d in error.get("details", [])]
        if "person_age" not in fields:
            raise CheckFailed(f"422 details should name person_age, got {error.get('details')}")
        malformed = http("POST", self.url("/predict"), b'{"instances": [', {"Content-Type": "application/json"})
        expect_error(malformed, 400, "malformed_json", "POST /predict, malformed JSON")
        plain = http("POST", self.url("/predict"), b"hello", {"Content-Type": "text/plain"})
        expect_error(plain, 415, "unsupported_media_type", "POST /predict, text/plain")
        return "422 schema_violation (person_age), 400 malformed_json, 415 unsupported_media_type"

    def metrics(self) -> str:
        """`GET /metrics` is Prometheus text counting the requests just made, over all workers."""
        response = http("GET", self.url("/metrics"))
        expect_status(response, 200, "GET /metrics")
        lines = response.body.decode().splitlines()
        if not any(_is_sample(line, "treeport_model_info", {"name": self.name}) for line in lines):
            raise CheckFailed(f"GET /metrics: no treeport_model_info sample for {self.name!r}")
        wanted = {"route": "/predict", "method": "POST", "status": "200"}
        counted = [line for line in lines if _is_sample(line, "treeport_requests_total", wanted)]
        if not counted:
            raise CheckFailed(f"GET /metrics: no treeport_requests_total sample with {wanted} in {len(lines)} lines")
        count = float(counted[0].rsplit(" ", 1)[1])
        if count < 2:
            raise CheckFailed(f"GET /metrics: expected at least 2 successful POST /predict, counted {count:.0f}")
        return f"{count:.0f} successful POST /predict counted"

    def run(self, ready_timeout: float, alive: Callable[[], str | None] = lambda: None) -> bool:
        """Run every API check; return whether all passed."""
        label = f"api {self.base}"
        if not self.report.check(f"{label}: GET /ready", lambda: self.wait_ready(ready_timeout, alive)):
            return False
        for what, check in [
            ("GET /health, /ping", self.health),
            ("POST /predict (JSON)", self.predict_json),
            ("POST /predict (CSV)", self.predict_csv),
            ("POST /explain", self.explain),
            ("POST /invocations", self.invocations),
            ("Batch Transform", self.batch_transform),
            ("bad requests", self.bad_requests),
            ("GET /metrics", self.metrics),
        ]:
            self.report.check(f"{label}: {what}", check)
        return not self.report.failures


def _is_sample(line: str, metric: str, labels: dict[str, str]) -> bool:
    """Return whether a Prometheus text line is a sample of `metric` carrying at least `labels`."""
    if not line.startswith(metric + "{"):
        return False
    label_text = line[len(metric) + 1 :].partition("}")[0]
    return all(f'{key}="{value}"' in label_text for key, value in labels.items())


LambdaInvoke = Callable[[dict[str, Any]], dict[str, Any]]


def invoke_over_http(url: str, timeout: float) -> LambdaInvoke:
    """Return an invoker posting events to the runtime interface emulator at `url` (retried while it starts)."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body = json.dumps(event).encode()
        while True:
            try:
                response = http("POST", url, body, {"Content-Type": "application/json"})
                break
            except CheckFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        expect_status(response, 200, f"Lambda invoke {url}")
        result = response.json()
        if not isinstance(result, dict):
            raise CheckFailed(f"Lambda answered {response.body[:300]!r}, not an API Gateway proxy response")
        return result

    return invoke


def lambda_answer(result: dict[str, Any]) -> Response:
    """Return an API Gateway proxy result as a `Response` (decoding a base64 body)."""
    if "errorMessage" in result:
        raise CheckFailed(f"the function failed: {result.get('errorType')}: {result['errorMessage']}")
    if not isinstance(result.get("statusCode"), int):
        raise CheckFailed(f"expected an API Gateway proxy result with statusCode, got {str(result)[:300]}")
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return Response(result["statusCode"], headers, raw)


@dataclass
class LambdaChecks:
    """The checks against the Lambda handler, through the event fixtures (every kind of tests/events.py)."""

    invoke: LambdaInvoke
    name: str
    report: Report
    api: ApiChecks | None = None

    def call(
        self, method: str, path: str, payload: Any = None, kind: str = "rest-v1", base64_body: bool = False
    ) -> Response:
        """Invoke the function with one request in the `kind` event format (no Content-Length, as AWS sends it)."""
        body = json.dumps(payload).encode() if payload is not None else None
        headers = [("Content-Type", "application/json")] if body is not None else []
        event = make_event(kind, method, path, body, headers, base64_body=base64_body)
        return lambda_answer(self.invoke(event))

    def ready(self) -> str:
        """`GET /ready` through API Gateway answers 200 (the model loaded at init)."""
        response = self.call("GET", "/ready")
        expect_status(response, 200, "GET /ready")
        return f"model {response.json()['model']}"

    def predict(self, kind: str = "rest-v1", base64_body: bool = False) -> str:
        """`POST /predict` in the `kind` event format answers as the API does, from the same model version."""
        response = self.call("POST", "/predict", {"instances": RECORDS}, kind, base64_body)
        expect_status(response, 200, f"POST /predict ({kind})")
        payload = response.json()
        probabilities = check_predictions(payload, self.name, len(RECORDS), "POST /predict")
        if self.api is not None and self.api.probabilities:
            if payload["model"]["version"] != self.api.version:
                raise CheckFailed(f"Lambda serves version {payload['model']['version']}, the API {self.api.version}")
            same_numbers(probabilities, self.api.probabilities, "Lambda vs API probabilities")
            return "same version and probabilities as the API"
        return "probabilities " + ", ".join(f"{p:.4f}" for p in probabilities)

    def bad_request(self) -> str:
        """A schema violation through API Gateway is the same 422 JSON error."""
        response = self.call("POST", "/predict", {"instances": [{**RECORDS[0], "person_income": "lots"}]})
        expect_error(response, 422, "schema_violation", "POST /predict, bad income")
        return "422 schema_violation"

    def run(self) -> bool:
        """Run every Lambda check; return whether all passed."""
        before = len(self.report.failures)
        if not self.report.check("lambda: GET /ready", self.ready):
            return False
        self.report.check("lambda: POST /predict", self.predict)
        for kind in KINDS:
            self.report.check(f"lambda: POST /predict, {kind} event", lambda kind=kind: self.predict(kind))  # type: ignore[misc]
        self.report.check("lambda: POST /predict, base64 body", lambda: self.predict("http-v2", base64_body=True))
        self.report.check("lambda: bad request", self.bad_request)
        return len(self.report.failures) == before


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Started:
    """A process started in its own process group, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    grace: float

    def dead(self) -> str | None:
        """Return why the process is gone, or None while it runs."""
        if self.process.poll() is None:
            return None
        return f"{self.name} exited with code {self.process.returncode}:\n{tail(self.log)}"

    def stop(self) -> None:
        """SIGTERM the process group, wait `grace` seconds, then SIGKILL what is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                print(f"smoke: {self.name} ignored SIGTERM for {self.grace:.0f} s; killing it", file=sys.stderr)
        # Workers or children left in the group go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def start(name: str, argv: list[str], env: dict[str, str], logdir: Path, grace: float) -> Started:
    """Start `argv` in a new session (its own process group) with output to a log file."""
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Started(name, process, log, grace)


def wait_port(server: Started, port: int, timeout: float) -> None:
    """Wait until `port` accepts connections on 127.0.0.1, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = server.dead()
        if dead:
            raise CheckFailed(dead)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise CheckFailed(f"{server.name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{tail(server.log)}")


def child_environment(endpoint: str) -> dict[str, str]:
    """Return this process's environment without Treeport/AWS settings that would interfere, plus the emulator's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES) and k not in _AWS_OVERRIDES}
    env.update(
        AWS_ENDPOINT_URL_S3=endpoint,
        # The emulator takes any credentials; these are not real keys.
        AWS_ACCESS_KEY_ID="smoke-local",
        AWS_SECRET_ACCESS_KEY="smoke-local",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
    )
    return env


def find_moto_server() -> str:
    """Return the moto_server executable beside this interpreter, else on PATH."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        raise CheckFailed("moto_server not found: install the dev extras (pip install -e '.[dev]')")
    return exe


def find_rie() -> str:
    """Return AWS's Runtime Interface Emulator beside this interpreter (`make setup` puts it there), else on PATH."""
    exe = shutil.which("aws-lambda-rie", path=str(Path(sys.executable).parent)) or shutil.which("aws-lambda-rie")
    if exe is None:
        raise CheckFailed("aws-lambda-rie not found: `make setup` takes it from the aws-sam-cli wheel into .venv/bin")
    return exe


def start_rie(
    task_root: Path, env: dict[str, str], logdir: Path, handler: str = "handler.handler"
) -> tuple[Started, str]:
    """Start the emulator running `handler` from `task_root` with awslambdaric; return it and its invoke URL.

    Both of its ports are free loopback ports (the invoke URL's and the runtime API's), so that several can run.
    """
    port, api_port = free_port(), free_port()
    argv = [find_rie(), "--runtime-interface-emulator-address", f"127.0.0.1:{port}"]
    argv += ["--runtime-api-address", f"127.0.0.1:{api_port}", sys.executable, "-m", "awslambdaric", handler]
    log = logdir / f"aws-lambda-rie-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=task_root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    rie = Started("aws-lambda-rie", process, log, 10)
    wait_port(rie, port, 30)
    return rie, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `finally` blocks stop what was started."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def standalone(args: argparse.Namespace, report: Report) -> None:
    """Start moto_server, train into it, serve, check the API and the Lambda handler; stop everything."""
    started: list[Started] = []
    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="treeport-smoke-") as tmp:
        logdir = Path(tmp)
        try:
            s3_port = free_port()
            endpoint = f"http://127.0.0.1:{s3_port}"
            env = child_environment(endpoint)
            moto = start("moto_server", [find_moto_server(), "-H", "127.0.0.1", "-p", str(s3_port)], env, logdir, 10)
            started.append(moto)
            bucket = f"treeport-smoke-{uuid.uuid4().hex[:8]}"
            store = f"s3://{bucket}/models"

            def s3_ready() -> str:
                wait_port(moto, s3_port, 30)
                os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
                for var in _AWS_OVERRIDES:
                    os.environ.pop(var, None)
                import boto3

                boto3.client("s3").create_bucket(Bucket=bucket)
                return f"{endpoint}, bucket {bucket}"

            if not report.check("S3 emulator (moto_server) and bucket", s3_ready):
                return

            def train() -> str:
                argv = [sys.executable, "-m", "treeport", "train", "--store", store, "--name", args.name]
                argv += ["--rows", str(args.rows)]
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
                if done.returncode != 0:
                    raise CheckFailed(f"treeport train exited {done.returncode}:\n{done.stderr[-3000:]}")
                lines = done.stdout.strip().splitlines()
                return lines[0] if lines else "trained"

            if not report.check(f"treeport train --store {store} --rows {args.rows}", train):
                return

            port = free_port()
            serve_argv = [sys.executable, "-m", "treeport", "serve", "--host", "127.0.0.1", "--port", str(port)]
            serve_argv += ["--workers", str(args.workers), "--store", store, "--name", args.name]
            # gunicorn's graceful timeout is 30 s; give it a little more before SIGKILL.
            server = start("treeport serve", serve_argv, env, logdir, 40)
            started.append(server)
            api = ApiChecks(f"http://127.0.0.1:{port}", args.name, report)
            if not api.run(args.wait, server.dead):
                print(f"treeport serve log:\n{tail(server.log)}", file=sys.stderr)

            def lambda_started() -> str:
                # The function's settings, as its configuration would give them; the emulator passes its
                # environment on to the runtime interface client, which imports handler.py (Lambda's init).
                lambda_env = {k: v for k, v in env.items() if not k.startswith(_INHERITED_PREFIXES)}
                lambda_env.update(TREEPORT_MODEL_STORE=store, TREEPORT_MODEL_NAME=args.name)
                rie, url = start_rie(args.lambda_handler.parent, lambda_env, logdir)
                started.append(rie)
                invokers.append(invoke_over_http(url, args.wait))
                return f"{url} ({args.lambda_handler.name} under aws-lambda-rie and awslambdaric)"

            invokers: list[LambdaInvoke] = []
            if report.check("lambda: the handler under the runtime interface emulator", lambda_started):
                LambdaChecks(invokers[0], args.name, report, api).run()
        finally:
            for process in reversed(started):
                process.stop()


def against_running(args: argparse.Namespace, report: Report) -> None:
    """Check an API and/or a Lambda that are already running (docker compose)."""
    api = None
    if args.api_url:
        api = ApiChecks(args.api_url, args.name, report)
        api.run(args.wait)
    if args.lambda_url:
        LambdaChecks(invoke_over_http(args.lambda_url, args.wait), args.name, report, api).run()


def main(argv: list[str] | None = None) -> int:
    """Run the smoke test; return 0 when every check passed, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.smoke",
        description="Smoke-test the API and the Lambda handler (standalone unless given URLs).",
    )
    parser.add_argument("--api-url", help="check a running API at this base URL instead of starting one")
    parser.add_argument("--lambda-url", help="invoke a running Lambda here (runtime interface emulator URL)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="model name (default %(default)s)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="standalone: training rows (%(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="standalone: gunicorn workers (%(default)s)")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for readiness (%(default)s)")
    parser.add_argument(
        "--lambda-handler",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "lambda" / "handler.py",
        help="standalone: the Lambda handler file, run from its folder (default: lambda/handler.py of this checkout)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.workers < 1 or args.wait <= 0:
        parser.error("--rows and --workers must be at least 1, --wait positive")
    report = Report()
    started = time.perf_counter()
    mode = "against running servers" if args.api_url or args.lambda_url else "standalone"
    print(f"smoke: {mode}", flush=True)
    try:
        if mode == "standalone":
            standalone(args, report)
        else:
            against_running(args, report)
    except CheckFailed as exc:
        report.failures.append(str(exc))
        print(f"FAIL {exc}", flush=True)
    except (KeyboardInterrupt, SystemExit):
        print("smoke: interrupted; what it started has been stopped", flush=True)
        raise
    seconds = time.perf_counter() - started
    if report.failures or not report.passed:
        print(f"smoke: FAILED: {len(report.failures)} failed, {report.passed} passed ({seconds:.1f} s)", flush=True)
        for failure in report.failures:
            print(f"  - {failure.splitlines()[0]}", flush=True)
        return 1
    print(f"smoke: all {report.passed} checks passed ({seconds:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
