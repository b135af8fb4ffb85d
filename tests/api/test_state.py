"""`ModelState.poll_once`, in process: follow LATEST to a verified version, refuse a broken one."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from api.app import create_app
from api.services import EXTENSION
from api.settings import Settings
from api.state import ModelState
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.conftest import rewrite_bundle_file, train_into

BROKEN = "99999999-000000-broken"


def tamper_model(version_dir: Path) -> None:
    model = version_dir / "model.json"
    model.write_bytes(model.read_bytes().replace(b"0", b"1", 1))


def drop_preprocessor(version_dir: Path) -> None:
    (version_dir / "preprocessor.json").unlink()


def drop_manifest(version_dir: Path) -> None:
    (version_dir / "manifest.json").unlink()


def copy_version(model_dir: Path, version: str, new_version: str) -> None:
    """Copy a version folder as a new version whose manifest names it (the manifest has no checksum of its own)."""
    shutil.copytree(model_dir / version, model_dir / new_version)
    manifest_path = model_dir / new_version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = new_version
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture
def store(credit_store: tuple[Path, TrainResult], tmp_path: Path) -> Path:
    """A private copy of the credit-risk store (these tests publish into it)."""
    copy = tmp_path / "store"
    shutil.copytree(credit_store[0], copy)
    return copy


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (tamper_model, "checksum mismatch"),
        (drop_preprocessor, "listed in the manifest but missing"),
        (drop_manifest, "not found"),
    ],
    ids=["tampered-model", "missing-preprocessor", "missing-manifest"],
)
def test_poll_once_keeps_serving_when_latest_is_broken(
    store: Path,
    credit_store: tuple[Path, TrainResult],
    damage: Callable[[Path], None],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = credit_store[1]
    changes: list[Predictor] = []
    state = ModelState(Settings(model_store=store.as_uri()), on_change=changes.append)
    assert state.load()
    assert state.poll_once() is False  # LATEST unchanged

    copy_version(store / first.name, first.version, BROKEN)
    damage(store / first.name / BROKEN)
    (store / first.name / "LATEST").write_text(BROKEN + "\n")
    with caplog.at_level(logging.ERROR, logger="treeport.api"):
        assert state.poll_once() is False
    assert state.ready and state.predictor.version == first.version
    assert [p.version for p in changes] == [first.version]
    refusal = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusal) == 1 and BROKEN in refusal[0] and reason in refusal[0], refusal


def test_poll_once_swaps_to_a_verified_new_version(store: Path, credit_store: tuple[Path, TrainResult]) -> None:
    first = credit_store[1]
    changes: list[Predictor] = []
    state = ModelState(Settings(model_store=store.as_uri()), on_change=changes.append)
    assert state.load()
    old = state.predictor

    second = train_into(store, rows=4000, seed=11)
    assert state.poll_once() is True
    assert state.predictor.version == second.version != first.version
    assert [p.version for p in changes] == [first.version, second.version]
    assert old.version == first.version  # a request holding the old Predictor keeps a working one
    assert state.poll_once() is False


def test_poll_once_keeps_serving_when_latest_is_unreadable(store: Path, credit_store: tuple[Path, TrainResult]) -> None:
    first = credit_store[1]
    state = ModelState(Settings(model_store=store.as_uri()))
    assert state.load()
    (store / first.name / "LATEST").write_text("../../etc\n")
    assert state.poll_once() is False
    (store / first.name / "LATEST").unlink()
    assert state.poll_once() is False
    assert state.predictor.version == first.version


@pytest.mark.parametrize(
    ("filename", "data"),
    [("preprocessor.json", b"{}"), ("preprocessor.json", b"[]"), ("model.json", b'{"learner": 1}')],
    ids=["preprocessor-empty-object", "preprocessor-array", "model-wrong-shape"],
)
def test_a_verified_but_malformed_bundle_ends_not_ready_with_the_reason(
    store: Path, credit_store: tuple[Path, TrainResult], filename: str, data: bytes
) -> None:
    version = credit_store[1].version
    rewrite_bundle_file(store / "credit-risk" / version, filename, data)
    state = ModelState(Settings(model_store=store.as_uri()))
    assert state.load() is False
    assert not state.ready
    assert filename in state.error
    # create_app survives it too: the app answers "not ready" with the reason instead of raising.
    app = create_app(Settings(model_store=store.as_uri()))
    app.extensions[EXTENSION].state.stop_polling()  # no retries in the background of the rest of the session
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "model_not_ready" and filename in error["message"]
    assert client.get("/health").status_code == 200


def test_an_unexpected_load_error_ends_not_ready(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a backend raises (here a bug-like ZeroDivisionError) leaves the app up and not ready.
    def broken(self: ModelState, version: str) -> Predictor:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(ModelState, "open_predictor", broken)
    state = ModelState(Settings(model_store=store.as_uri()))
    assert state.load() is False
    assert "ZeroDivisionError" in state.error


def test_a_failed_first_load_is_retried_with_backoff_until_it_succeeds(
    store: Path, credit_store: tuple[Path, TrainResult], caplog: pytest.LogCaptureFixture
) -> None:
    latest = store / "credit-risk" / "LATEST"
    saved = latest.read_bytes()
    latest.unlink()  # the store answers "not found" at boot, as an S3 prefix not yet synced would
    state = ModelState(Settings(model_store=store.as_uri(), load_retry_max_seconds=1.0))

    def own_retries() -> list[str]:
        # Only this state's retries: apps of other tests that were built without a model retry in the background too.
        messages = (r.getMessage() for r in caplog.records)
        return [m for m in messages if "retrying in" in m and store.as_uri() in m]

    with caplog.at_level(logging.WARNING, logger="treeport.api"):
        assert state.load() is False
        state.start_background()
        try:
            deadline = time.monotonic() + 5
            while len(own_retries()) < 3:
                assert time.monotonic() < deadline, "no retries logged"
                time.sleep(0.02)
            assert not state.ready  # unready meanwhile
            latest.write_bytes(saved)
            while not state.ready:
                assert time.monotonic() < deadline, f"never loaded: {state.error}"
                time.sleep(0.02)
        finally:
            state.stop_polling()
    assert state.predictor.version == credit_store[1].version
    retries = own_retries()
    # Logged each time, with the attempt number and a delay that doubles up to the bound.
    assert "attempt 1 " in retries[0] and "no promoted version" in retries[0]
    delays = [float(m.split("retrying in ")[1].split(" s")[0]) for m in retries]
    assert all(d <= 1.0 for d in delays) and delays[2] > delays[0]


def test_a_loaded_model_starts_no_retry_thread(store: Path) -> None:
    def loaders() -> int:
        return sum(t.name == "treeport-first-load" for t in threading.enumerate())

    state = ModelState(Settings(model_store=store.as_uri(), load_retry_max_seconds=0.01))
    assert state.load()
    before = loaders()
    state.start_background()
    assert loaders() == before
