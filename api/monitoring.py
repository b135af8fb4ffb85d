"""Drift monitoring of what the app serves: counts against the bundle's baseline, `GET /monitoring`, and the
`treeport_drift_*` gauges.

When a model starts being served (`Monitoring.watch`), its baseline (`baseline.json`, model/drift.py) is read and
the Predictor's `observer` hook is pointed at a `DriftRecorder` (model/drift_counts.py), which buffers each
prediction's encoded rows and outputs and bins them in batches. Where the counts live:

- under gunicorn (`PROMETHEUS_MULTIPROC_DIR` set, as api/gunicorn.conf.py does) or with `TREEPORT_DRIFT_DIR`: one
  memory-mapped file per worker in `<dir>/<model>/<version>/`, beside a copy of the baseline; every reader (the
  worker answering `/monitoring` or `/metrics`, and gunicorn's master on `TREEPORT_METRICS_BIND`) sums them all;
- otherwise (the Lambda handler, an app built in a test): in this process's memory, for this process only.

PSI is computed when it is read, never on the request path. numpy is imported only once a baseline is found
(model.drift, model.drift_counts): the SageMaker-backend Lambda never loads it, and never counts (the endpoint
behind it does).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.settings import Settings
from model.bundle import BASELINE_FILE
from model.errors import TreeportError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from model.drift import DriftReport
    from model.drift_counts import DriftRecorder, VersionCounts
    from model.predictor import Predictor

log = logging.getLogger("treeport.drift")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DRIFT_SUBDIR = "drift"
_LOADS = itertools.count()
"""Numbers this process's model loads, so that each has a counts file of its own (model/drift_files.py)."""
SCORE_FEATURE = "__score__"
"""The `feature` label of the score's PSI in `treeport_drift_psi`."""


def drift_directory(settings: Settings, environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the folder of the shared count files: `TREEPORT_DRIFT_DIR`, else `$PROMETHEUS_MULTIPROC_DIR/drift`,
    else None (counts in this process's memory)."""
    env = os.environ if environ is None else environ
    if settings.drift_dir:
        return Path(settings.drift_dir)
    multiproc = env.get(MULTIPROC_ENV, "").strip()
    return Path(multiproc) / DRIFT_SUBDIR if multiproc else None


class Monitoring:
    """The app's drift monitoring: which model it counts for, where, and the reports read from the counts."""

    def __init__(
        self, settings: Settings, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.directory = drift_directory(settings, environ) if settings.drift else None
        self.clock = clock
        self._lock = threading.Lock()
        self._recorder: DriftRecorder | None = None
        self._model: tuple[str, str] | None = None
        self.status = "counting" if settings.drift else "off"
        self.reason = "" if settings.drift else "drift monitoring is off (TREEPORT_DRIFT=off)"
        self.scope = "workers" if self.directory is not None else "process"

    def watch(self, predictor: Any) -> None:
        """Count what `predictor` serves from now on (it replaces the model counted so far)."""
        with self._lock:
            previous, self._recorder = self._recorder, None
            if previous is not None:
                previous.stop()
            self._model = (predictor.name, predictor.version)
            if not self.settings.drift:
                return
            self.status, self.reason = self._start(predictor)

    def _start(self, predictor: Any) -> tuple[str, str]:
        """Start counting for `predictor`; return the status and, when not counting, why."""
        if getattr(predictor, "backend_name", "") == "sagemaker":
            return "not_counted", "the sagemaker backend only forwards rows: the SageMaker endpoint counts them"
        raw = predictor.bundle.files.get(BASELINE_FILE)
        if raw is None:
            return "no_baseline", f"the bundle has no {BASELINE_FILE} (trained before drift baselines); retrain it"
        from model.drift import Baseline
        from model.drift_counts import CountRing, DriftRecorder, window_of
        from model.drift_files import counts_file, publish_baseline

        source = f"{predictor.name}/{predictor.version}/{BASELINE_FILE}"
        try:
            baseline = Baseline.from_dict(json.loads(raw), source)
            if baseline.columns != predictor.preprocessor.n_columns:
                raise ValueError(f"{source}: fitted on {baseline.columns} columns, the model takes a different number")
        except (TreeportError, ValueError) as exc:
            message = exc.message if isinstance(exc, TreeportError) else str(exc)
            log.error("drift: not counting: %s", message)
            return "baseline_unusable", message
        window = window_of(self.settings.drift_window_seconds)
        ring = None
        if self.directory is not None:
            try:
                publish_baseline(self.directory, predictor.name, predictor.version, raw)
                path = counts_file(self.directory, predictor.name, predictor.version, next(_LOADS))
                ring = CountRing.create(path, window, baseline.n_bins)
            except OSError as exc:
                log.error("drift: cannot write counts under %s (%s); counting in this process only", self.directory,
                          exc)  # fmt: skip
                self.directory, self.scope = None, "process"
        recorder = DriftRecorder(baseline, ring or CountRing.in_memory(window, baseline.n_bins), clock=self.clock)
        recorder.start()
        predictor.observer = recorder.observe
        self._recorder = recorder
        return "counting", ""

    def close(self) -> None:
        """Stop counting (a last flush, then the flush thread ends)."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.stop()
                self._recorder = None

    def versions(self) -> list[VersionCounts]:
        """Return the counts of every model version this app's counts are shared with (all workers' files), or of
        the model this process counts when they are not shared."""
        from model.drift_counts import read_all

        recorder = self._recorder
        if recorder is not None:
            recorder.flush()
        if self.directory is not None:
            return read_all(self.directory, self.clock())
        return [self._own(recorder)] if recorder is not None and self._model is not None else []

    def _own(self, recorder: DriftRecorder) -> VersionCounts:
        from model.drift_counts import VersionCounts

        assert self._model is not None
        return VersionCounts(*self._model, recorder.baseline, recorder.counts(), 1, recorder.ring.window)

    def report(self, predictor: Predictor) -> dict[str, Any]:
        """Return the `GET /monitoring` document for the served model."""
        now = self.clock()
        recorder = self._recorder
        doc: dict[str, Any] = {
            "model": {"name": predictor.name, "version": predictor.version},
            "status": self.status,
            "threshold": self.settings.drift_threshold,
            "scope": self.scope,
        }
        if recorder is None or self._model != (predictor.name, predictor.version):
            if self.status == "counting":  # a model swap in progress
                doc.update(status="not_counted", reason="the served model is not counted yet")
            else:
                doc["reason"] = self.reason
            return doc
        found: VersionCounts | None = None
        if self.directory is not None:
            from model.drift_counts import read_version

            recorder.flush()
            found = read_version(self.directory, predictor.name, predictor.version, now)
        found = found or self._own(recorder)
        report = found.baseline.report(found.counts, self.settings.drift_threshold)
        doc.update(
            status=report_status(report),
            window=found.window.to_dict(now),
            counters=found.counters,
            **report.to_dict(),
        )
        return doc

    def collector(self) -> DriftCollector:
        """Return the Prometheus collector of this app's drift gauges."""
        return DriftCollector(self.versions, self.settings.drift_threshold)


def report_status(report: DriftReport) -> str:
    """Return `drifting` when a PSI passes the threshold, `no_rows` before any row was counted, else `ok`."""
    if report.alarm:
        return "drifting"
    return "no_rows" if report.rows == 0 else "ok"


class DriftCollector:
    """A Prometheus collector computing the drift gauges when scraped, from `source()`'s counts."""

    def __init__(self, source: Callable[[], Iterable[VersionCounts]], threshold: float) -> None:
        self.source = source
        self.threshold = threshold

    def describe(self) -> list[Metric]:
        """Describe nothing up front: registering must not read the counts (prometheus_client calls this)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield `treeport_drift_psi`, `_psi_max`, `_rows`, `_alarm` and `_threshold` for every counted version."""
        from prometheus_client.core import GaugeMetricFamily

        model = ["model", "version"]
        psi = GaugeMetricFamily(
            "treeport_drift_psi",
            f"PSI of served rows against the training baseline, per feature ({SCORE_FEATURE}: the model's score)",
            labels=[*model, "feature"],
        )
        psi_max = GaugeMetricFamily("treeport_drift_psi_max", "Largest PSI of any feature or the score", labels=model)
        rows = GaugeMetricFamily("treeport_drift_rows", "Rows counted in the drift window", labels=model)
        alarm = GaugeMetricFamily("treeport_drift_alarm", "1 when a drift PSI passes the threshold", labels=model)
        try:
            versions = list(self.source())
        except Exception:  # a scrape reports what it can; a bug in reading the counts is logged
            log.exception("drift: reading the counts failed")
            versions = []
        for counted in versions:
            report = counted.baseline.report(counted.counts, self.threshold)
            labels = [counted.name, counted.version]
            rows.add_metric(labels, report.rows)
            alarm.add_metric(labels, 1.0 if report.alarm else 0.0)
            for feature in (*report.features, report.score):
                if feature.psi is not None:
                    name = SCORE_FEATURE if feature is report.score else feature.name
                    psi.add_metric([*labels, name], feature.psi)
            if report.psi_max is not None:
                psi_max.add_metric(labels, report.psi_max)
        threshold = GaugeMetricFamily("treeport_drift_threshold", "PSI above which drift is reported", self.threshold)
        yield from (psi, psi_max, rows, alarm, threshold)


def directory_collector(environ: Mapping[str, str] | None = None) -> DriftCollector | None:
    """Return the collector of every worker's counts for gunicorn's master, or None when drift is off."""
    settings = Settings.from_env(environ)
    directory = drift_directory(settings, environ)
    if not settings.drift or directory is None:
        return None
    folder = directory

    def source() -> list[VersionCounts]:
        from model.drift_counts import read_all

        return read_all(folder, time.time())

    return DriftCollector(source, settings.drift_threshold)
