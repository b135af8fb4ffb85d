"""What the routes share, kept on the app (`app.extensions["treeport"]`) rather than in globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import current_app

from api.dataplane import DataPlane
from api.metrics import Metrics
from api.monitoring import Monitoring
from api.settings import Settings
from api.state import ModelState

EXTENSION = "treeport"


@dataclass(frozen=True)
class Services:
    """Settings, the served model, the data plane, the metrics, the OpenAPI document, the hardware report and the
    drift monitoring."""

    settings: Settings
    state: ModelState
    metrics: Metrics
    dataplane: DataPlane
    openapi: Callable[[], dict[str, Any]]
    """Return the OpenAPI document for the model served now."""
    monitoring: Monitoring
    """Drift counting of the served model (`api.monitoring`), for `GET /monitoring` and the drift gauges."""
    hardware: dict[str, Any] = field(default_factory=dict)
    """What this process runs on (`model.hardware.hardware_report`), for `GET /metadata`."""


def services() -> Services:
    """Return the current app's services."""
    svc: Services = current_app.extensions[EXTENSION]
    return svc


def package_version() -> str:
    """Return the installed Treeport version ("0" when running from a source tree that is not installed)."""
    try:
        return version("treeport")
    except PackageNotFoundError:
        return "0"
