"""What the routes share, kept on the app (`app.extensions["treeport"]`) rather than in globals."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from api.metrics import Metrics
from api.settings import Settings
from api.state import ModelState

EXTENSION = "treeport"


@dataclass(frozen=True)
class Services:
    """Settings, the served model and the metrics of one app."""

    settings: Settings
    state: ModelState
    metrics: Metrics


def services() -> Services:
    """Return the current app's services."""
    svc: Services = current_app.extensions[EXTENSION]
    return svc
