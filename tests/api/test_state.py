"""`ModelState.poll_once`, in process: follow LATEST to a verified version, refuse a broken one."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from api.settings import Settings
from api.state import ModelState
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.conftest import train_into

BROKEN = "99999999-000000-broken"


def tamper_model(version_dir: Path) -> None:
    model = version_dir / "model.json"
    model.write_bytes(model.read_bytes().replace(b"0", b"1", 1))


def drop_preprocessor(version_dir: Path) -> None:
    (version_dir / "preprocessor.json").unlink()


def drop_manifest(version_dir: Path) -> None:
    (version_dir / "manifest.json").unlink()


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

    shutil.copytree(store / first.name / first.version, store / first.name / BROKEN)
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
