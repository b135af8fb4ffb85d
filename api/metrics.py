"""Prometheus metrics, correct across several gunicorn workers.

With `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py sets it before any worker starts), every worker
writes its samples to files there and `/metrics` aggregates them all. Without it, each app has its
own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The app's metrics and their exposition."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode values live in files, whatever registry the metric objects sit in.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "treeport_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "treeport_request_seconds",
            "Request latency in seconds by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("treeport_rows_predicted", "Rows predicted", ["route"], registry=self.registry)
        self.model_info = Gauge(
            "treeport_model_info",
            "The model being served (value 1)",
            ["name", "version", "backend"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self._model_labels: tuple[str, str, str] | None = None
        self._collectors: list[Any] = []

    def set_model(self, name: str, version: str, backend: str) -> None:
        """Record the served model, replacing an earlier one."""
        labels = (name, version, backend)
        previous, self._model_labels = self._model_labels, labels
        if previous is not None and previous != labels:
            if self.multiprocess:
                # Samples live in per-process files there, and prometheus_client cannot remove labels
                # from them (clear() only warns): mark the old model 0 instead.
                self.model_info.labels(*previous).set(0)
            else:
                self.model_info.remove(*previous)
        self.model_info.labels(*labels).set(1)

    def add_collector(self, collector: Any) -> None:
        """Expose a custom collector's metrics too (computed when scraped, e.g. the drift gauges)."""
        self._collectors.append(collector)
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """Return the text format of all metrics, aggregated over workers in multiprocess mode."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            for collector in self._collectors:
                registry.register(collector)
            return generate_latest(registry)
        return generate_latest(self.registry)
