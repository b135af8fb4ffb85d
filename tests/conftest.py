"""Shared fixtures: tiny real data sets, models trained into tmp_path, and an S3 emulator on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.data import credit_risk
from model.pipeline import TrainConfig, TrainResult, run_training
from tests.servers import moto_server

# Small models keep the suite fast; the pipeline is the same as for the default model.
FAST_PARAMS = {"num_boost_round": 40, "max_depth": 4, "early_stopping_rounds": 10}


def error_code(path: str, body: Any) -> str:
    """Return the `code` of an error body, checking it has the error shape of the route's protocol.

    Treeport's `{"error": {"code", "message", "details"}}`, or on the Open Inference Protocol's routes (`/v2...`)
    the protocol's `{"error": "<message>"}` with `code` and `details` beside it.
    """
    if path == "/v2" or path.startswith("/v2/"):
        assert isinstance(body, dict) and set(body) == {"error", "code", "details"}, body
        assert isinstance(body["error"], str) and body["error"], body
        assert isinstance(body["details"], list), body
        return str(body["code"])
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["details"], list), body
    return str(body["error"]["code"])


def mixed_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Return a small frame with numeric and string features, NaNs, and a learnable signal."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(0, 10, size=rows)
    color = rng.choice(["red", "green", "blue"], size=rows)
    size = rng.choice(["S", "M", "L", "XL"], size=rows)
    score = 1.5 * x1 + 0.3 * x2 + np.where(color == "red", 1.0, 0.0) - np.where(size == "S", 0.8, 0.0)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color, "size": size})
    frame.loc[rng.random(rows) < 0.05, "x2"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "color"] = None
    noise = rng.normal(scale=0.7, size=rows)
    frame["approved"] = np.where(score + noise > np.median(score), "yes", "no")
    frame["tier"] = np.select([score < -0.5, score < 1.5], ["bronze", "silver"], "gold")
    frame["amount"] = (score * 10 + noise * 3 + 50).round(3)
    return frame


@pytest.fixture(scope="session")
def mixed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV file of `mixed_frame()`."""
    path = tmp_path_factory.mktemp("data") / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    return path


def train_into(store: Path, **kwargs: object) -> TrainResult:
    """Train with the fast parameters into a file store and return the result."""
    params = {**FAST_PARAMS, **kwargs.pop("params", {})}  # type: ignore[dict-item]
    config = TrainConfig(store=store.as_uri(), params=params, **kwargs)  # type: ignore[arg-type]
    return run_training(config)


def rewrite_bundle_file(version_dir: Path, filename: str, data: bytes) -> None:
    """Replace one file of a bundle and record its new checksum in the manifest (verifies, yet may not parse)."""
    import hashlib
    import json

    (version_dir / filename).write_bytes(data)
    manifest_path = version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["files"][filename] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, mixed_csv: Path) -> dict[str, tuple[Path, TrainResult]]:
    """One store per task (binary, multiclass, regression) plus the credit-risk default, trained once."""
    out = {}
    for task, target, extra in [
        ("binary", "approved", {"positive_class": "yes"}),
        ("multiclass", "tier", {}),
        ("regression", "amount", {}),
    ]:
        frame = mixed_frame().drop(columns=[c for c in ("approved", "tier", "amount") if c != target])
        data = tmp_path_factory.mktemp(task) / f"{task}.csv"
        frame.to_csv(data, index=False)
        store = tmp_path_factory.mktemp(f"store-{task}")
        out[task] = (store, train_into(store, name=task, data=str(data), target=target, **extra))
    store = tmp_path_factory.mktemp("store-credit")
    out["credit"] = (store, train_into(store, rows=4000))
    return out


@pytest.fixture(scope="session")
def credit_frame() -> pd.DataFrame:
    """A few thousand rows of the synthetic credit-risk set."""
    return credit_risk(3000, seed=7)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start `moto_server` (a real HTTP S3 API) on 127.0.0.1 for the session; stop it afterwards."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the emulator with dummy credentials; return the endpoint URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    return s3_endpoint


@pytest.fixture
def bucket(s3_env: str) -> str:
    """Create a fresh bucket in the emulator and return its name."""
    import boto3

    name = f"treeport-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def cli_env(s3_env: str) -> dict[str, str]:
    """Environment for running the `treeport` CLI as a subprocess against the emulator."""
    return dict(os.environ)


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """A Dask LocalCluster of 2 worker processes (one thread each) on 127.0.0.1 for the session; its address.

    The cluster the Dask engine starts itself, so the tests run on what users get. Imported here, not
    at the top: only the Dask engine's tests load Dask.
    """
    from model.distributed import local_cluster

    with local_cluster(2) as cluster:
        yield cluster.scheduler_address
