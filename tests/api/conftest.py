"""API fixtures: a real credit-risk model trained once into tmp, and Flask apps built on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.settings import Settings
from model.data import EXAMPLE_RECORD
from model.pipeline import TrainResult
from tests.conftest import train_into

RECORD: dict[str, Any] = EXAMPLE_RECORD


@pytest.fixture(scope="session")
def credit_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """A file store with the credit-risk model (4,000 synthetic rows) promoted to LATEST."""
    store = tmp_path_factory.mktemp("api-store")
    return store, train_into(store, rows=4000)


@pytest.fixture
def make_app(credit_store: tuple[Path, TrainResult]) -> Callable[..., Flask]:
    """Return a factory: `make_app(**settings)` builds an app serving the credit-risk model.

    `load_model` and `fast_path` go to `create_app`; every other keyword is a setting.
    """

    def build(*, load_model: bool = True, fast_path: bool = True, **overrides: Any) -> Flask:
        settings = Settings(model_store=credit_store[0].as_uri(), **overrides)
        return create_app(settings, load_model=load_model, fast_path=fast_path)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app with default settings (no API keys)."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def record() -> dict[str, Any]:
    """One valid credit-risk record (a fresh copy per test)."""
    return dict(RECORD)
