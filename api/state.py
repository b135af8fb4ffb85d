"""The model the app serves: loaded once when the app is built, swapped only for a verified newer version."""

from __future__ import annotations

import logging
import random
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
FIRST_RETRY_SECONDS = 0.25
# A generator of its own: the retry thread never touches the random module's global state, which the app's
# callers (and tests generating data with it) own.
_JITTER = random.Random()  # noqa: S311 (timing jitter, not security)


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
        self._loader: threading.Thread | None = None

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

    def _try_open(self, version: str) -> tuple[Predictor | None, str]:
        """Return the predictor for `version` and "", or None and why it could not be built (never raises)."""
        try:
            return self.open_predictor(version), ""
        except TreeportError as exc:
            return None, exc.message
        except Exception as exc:
            # A bug or a library's own error type: the app must still come up and say "not ready".
            log.exception("model load: unexpected error")
            return None, f"unexpected error loading version {version!r} ({type(exc).__name__}: {str(exc)[:200]})"

    def load(self) -> bool:
        """Load the configured version once; on failure keep what is served and remember why."""
        predictor, error = self._try_open(self.settings.model_version)
        if predictor is None:
            self.error = error
            log.error("model load failed: %s", error)
            return False
        self.set(predictor)
        log.info("serving %s version %s (%s)", predictor.name, predictor.version, predictor.backend_name)
        return True

    def retry_delay(self, attempt: int) -> float:
        """Return how long to wait after failed attempt `attempt` (1-based): doubling from 0.25 s, jittered, capped."""
        ceiling = min(self.settings.load_retry_max_seconds, FIRST_RETRY_SECONDS * 2 ** min(attempt - 1, 30))
        # Half fixed, half random: many pods failing together do not retry together.
        return ceiling / 2 + _JITTER.uniform(0, ceiling / 2)

    def _load_until_ready(self) -> None:
        """Retry the first load with capped backoff until it succeeds or polling is stopped; then start polling."""
        attempt = 1
        while not self.ready:
            delay = self.retry_delay(attempt)
            log.warning("model load attempt %d failed (%s); retrying in %.2f s", attempt, self.error, delay)
            if self._stop.wait(delay):
                return
            attempt += 1
            self.load()
        log.info("model loaded after %d attempts", attempt)
        self._start_poller()

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
        predictor, error = self._try_open(latest)
        if predictor is None:
            log.error("reload: version %s refused, still serving the old one: %s", latest, error)
            return False
        self.set(predictor)
        log.info("reload: now serving %s version %s", predictor.name, predictor.version)
        return True

    def start_background(self) -> None:
        """Start the work that goes on while serving: retrying a failed first load, then reload polling.

        Until a first load succeeds the app answers 503 on model routes and on `/ready` (200 on `/health`),
        so an orchestrator keeps the pod out of the Service rather than restarting it.
        """
        if self.ready:
            self._start_poller()
        elif self._loader is None:
            self._loader = threading.Thread(target=self._load_until_ready, name="treeport-first-load", daemon=True)
            self._loader.start()

    def _start_poller(self) -> None:
        """Start the reload thread when `reload_seconds` > 0 and the app follows LATEST."""
        if self.settings.reload_seconds <= 0 or self.settings.model_version != LATEST or self._poller:
            return
        self._poller = threading.Thread(target=self._poll_loop, name="treeport-reload", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        """Stop the first-load retries and the reload thread."""
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
