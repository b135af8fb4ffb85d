"""Serving settings, read from `TREEPORT_*` environment variables when the app is built (never at import)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from model.errors import UserError

PREFIX = "TREEPORT_"
# `model.backends.BACKENDS` plus the remote one (spelled out: importing model.backends would import numpy and
# daal4py's loader, which a sagemaker-backend Lambda never needs; a test keeps the two lists in step).
SERVING_BACKENDS = ("daal4py", "xgboost", "sagemaker")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# SageMaker's own rule for endpoint names (CreateEndpoint's EndpointName pattern).
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MIN_DRIFT_WINDOW_SECONDS = 60.0
MAX_DRIFT_WINDOW_SECONDS = 30 * 24 * 3600.0
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` reads; tests build one directly, servers call `Settings.from_env()`."""

    model_store: str = field(default_factory=lambda: (Path.cwd() / "models").as_uri())
    """Store URI holding the bundles: file:///abs/path or s3://bucket/prefix."""

    model_name: str = "credit-risk"
    """Name of the model to serve."""

    model_version: str = "LATEST"
    """Version id to serve, or LATEST to follow the promoted version."""

    backend: str = "daal4py"
    """Inference engine: daal4py (oneDAL; `local` is a synonym), xgboost, or sagemaker (a remote endpoint)."""

    sagemaker_endpoint: str = ""
    """SageMaker endpoint name, for the sagemaker backend."""

    sagemaker_timeout_seconds: float = 10.0
    """How long to wait for the SageMaker endpoint's answer before answering 504 (one attempt, no retry)."""

    api_keys: tuple[str, ...] = ()
    """SHA-256 hex digests of accepted API keys; empty means no authentication."""

    max_rows: int = 10_000
    """Most rows one request may carry (413 beyond)."""

    max_explain_rows: int = 100
    """Most rows one `/explain` request may carry (413 beyond): TreeSHAP costs far more per row than a prediction."""

    max_body_bytes: int = 6 * 1024 * 1024
    """Largest request body in bytes (413 beyond); 6 MiB is SageMaker's limit."""

    threads: int | None = None
    """Inference threads; None means the CPUs the cgroup quota allows."""

    ignore_unknown_features: bool = False
    """Accept and drop fields the schema does not know instead of answering 422."""

    reload_seconds: float = 0.0
    """When > 0, poll LATEST this often and swap to a new version once it loads and verifies."""

    load_retry_max_seconds: float = 30.0
    """Longest wait between retries of a failed first model load (the wait doubles from 0.25 s up to this)."""

    drift: bool = True
    """Count served rows against the bundle's drift baseline (`GET /monitoring`, `treeport_drift_*`); off: none."""

    drift_window_seconds: float = 3600.0
    """Drift is computed over the rows served in the last this many seconds (12 buckets); 0: since the start."""

    drift_threshold: float = 0.2
    """PSI above which a feature, or the score, is reported drifting."""

    drift_dir: str = ""
    """Folder of the per-worker drift count files; empty: `$PROMETHEUS_MULTIPROC_DIR/drift` when set, else in memory."""

    def __post_init__(self) -> None:
        if self.backend == "local":
            object.__setattr__(self, "backend", "daal4py")
        if self.backend not in SERVING_BACKENDS:
            raise UserError(f"{PREFIX}BACKEND must be one of {[*SERVING_BACKENDS, 'local']}, got {self.backend!r}")
        if self.backend == "sagemaker" and not self.sagemaker_endpoint:
            raise UserError(f"{PREFIX}BACKEND=sagemaker needs {PREFIX}SAGEMAKER_ENDPOINT (the endpoint name)")
        if self.sagemaker_endpoint and not _ENDPOINT_NAME.match(self.sagemaker_endpoint):
            raise UserError(
                f"{PREFIX}SAGEMAKER_ENDPOINT must be a SageMaker endpoint name (letters, digits and hyphens, "
                f"at most 63, starting and ending with a letter or digit), got {self.sagemaker_endpoint!r}"
            )
        if self.sagemaker_timeout_seconds <= 0:
            raise UserError(f"{PREFIX}SAGEMAKER_TIMEOUT_SECONDS must be positive, got {self.sagemaker_timeout_seconds}")
        bad = [k for k in self.api_keys if not _SHA256_HEX.match(k)]
        if bad:
            raise UserError(f"{PREFIX}API_KEYS must hold lowercase SHA-256 hex digests (64 characters); got {bad[0]!r}")
        for name in ("max_rows", "max_explain_rows", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise UserError(f"{PREFIX}{name.upper()} must be at least 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{PREFIX}THREADS must be at least 1, got {self.threads}")
        if self.load_retry_max_seconds <= 0:
            raise UserError(f"{PREFIX}LOAD_RETRY_MAX_SECONDS must be positive, got {self.load_retry_max_seconds}")
        if self.reload_seconds < 0:
            raise UserError(f"{PREFIX}RELOAD_SECONDS must not be negative, got {self.reload_seconds}")
        window = self.drift_window_seconds
        if not (window == 0 or MIN_DRIFT_WINDOW_SECONDS <= window <= MAX_DRIFT_WINDOW_SECONDS):
            raise UserError(
                f"{PREFIX}DRIFT_WINDOW_SECONDS must be 0 (since start) or {MIN_DRIFT_WINDOW_SECONDS:g} to "
                f"{MAX_DRIFT_WINDOW_SECONDS:g} seconds, got {window}"
            )
        if not 0 < self.drift_threshold < float("inf"):
            raise UserError(f"{PREFIX}DRIFT_THRESHOLD must be a positive number, got {self.drift_threshold}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `TREEPORT_*` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw.strip())
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str) -> object:
    var = PREFIX + name.upper()
    try:
        if name in ("max_rows", "max_explain_rows", "max_body_bytes", "threads"):
            return int(raw)
        if name in (
            "reload_seconds",
            "sagemaker_timeout_seconds",
            "load_retry_max_seconds",
            "drift_window_seconds",
            "drift_threshold",
        ):
            return float(raw)
    except ValueError:
        raise UserError(f"{var} must be a number, got {raw!r}") from None
    if name in ("ignore_unknown_features", "drift"):
        lowered = raw.lower()
        if lowered not in (*_TRUE, *_FALSE):
            raise UserError(f"{var} must be 1/0 or true/false (or on/off), got {raw!r}")
        return lowered in _TRUE
    if name == "api_keys":
        return tuple(k.strip().lower() for k in raw.split(",") if k.strip())
    return raw
