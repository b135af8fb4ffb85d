"""The model the app serves: loaded once when the app is built, swapped only for a verified newer version."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from api.errors import ApiError
from api.settings import Settings
from model.bundle import LATEST, resolve_version
from model.errors import TreeportError
from model.store import open_store

if TYPE_CHECKING:
    from model.predictor import Predictor

log = logging.getLogger("treeport.api")


class ModelNotReady(ApiError):
    """No model is loaded yet (or loading failed): 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, "model_not_ready", f"no model loaded: {reason}")


class ModelState:
    """Holds the current `Predictor`; readers take `.predictor` once per request and keep that object."""

    def __init__(self, settings: Settings, on_change: Callable[[Predictor], None] | None = None) -> None:
        self.settings = settings
        self._on_change = on_change
        self._predictor: Predictor | None = None
        self.error = "not loaded yet"
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def predictor(self) -> Predictor:
        """Return the loaded Predictor or raise `ModelNotReady` (503)."""
        predictor = self._predictor
        if predictor is None:
            raise ModelNotReady(self.error)
        return predictor

    @property
    def ready(self) -> bool:
        """Return whether a model is loaded."""
        return self._predictor is not None

    def set(self, predictor: Predictor) -> None:
        """Serve `predictor` from now on (tests inject one this way)."""
        self._predictor = predictor
        self.error = ""
        if self._on_change is not None:
            self._on_change(predictor)

    def open_predictor(self, version: str) -> Any:
        """Load `version` with the configured backend: a local Predictor or the SageMaker proxy."""
        s = self.settings
        if s.backend == "sagemaker":
            from model.sagemaker_predictor import SageMakerPredictor

            return SageMakerPredictor.load(
                s.model_store,
                s.model_name,
                version,
                endpoint=s.sagemaker_endpoint,
                timeout_s=s.sagemaker_timeout_seconds,
            )
        from model.predictor import Predictor

        return Predictor.load(s.model_store, s.model_name, version, backend=s.backend, threads=s.threads)

    def load(self) -> bool:
        """Load the configured version; on failure keep what is served and remember why."""
        s = self.settings
        try:
            predictor = self.open_predictor(s.model_version)
        except TreeportError as exc:
            self.error = exc.message
            log.error("model load failed: %s", exc.message)
            return False
        self.set(predictor)
        log.info("serving %s version %s (%s)", predictor.name, predictor.version, predictor.backend_name)
        return True

    def poll_once(self) -> bool:
        """Swap to the version LATEST names if it differs and verifies; return whether a swap happened."""
        s = self.settings
        try:
            latest = resolve_version(open_store(s.model_store), s.model_name)
        except TreeportError as exc:
            log.warning("reload: cannot read LATEST: %s", exc.message)
            return False
        current = self._predictor
        if current is not None and current.version == latest:
            return False
        try:
            predictor = self.open_predictor(latest)
        except TreeportError as exc:
            log.error("reload: version %s refused, still serving the old one: %s", latest, exc.message)
            return False
        self.set(predictor)
        log.info("reload: now serving %s version %s", predictor.name, predictor.version)
        return True

    def start_polling(self) -> None:
        """Start the reload thread when `reload_seconds` > 0 and the app follows LATEST."""
        if self.settings.reload_seconds <= 0 or self.settings.model_version != LATEST or self._poller:
            return
        self._poller = threading.Thread(target=self._poll_loop, name="treeport-reload", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        """Stop the reload thread."""
        self._stop.set()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.settings.reload_seconds):
            try:
                self.poll_once()
            except Exception:
                log.exception("reload: unexpected error")

    def describe(self) -> dict[str, Any]:
        """Return name and version for responses."""
        predictor = self.predictor
        return {"name": predictor.name, "version": predictor.version}
