"""`SageMakerPredictor`: the `Predictor` interface in front of a SageMaker endpoint.

For a Lambda that validates and preprocesses at the edge: it loads only the bundle's schema and
preprocessor (no xgboost, no daal4py), encodes rows to numeric CSV in the preprocessor's column
order, calls `invoke_endpoint` (`text/csv` in, JSON out: the endpoint runs this project's image,
whose `/invocations` answers in the `/predict` shape), and returns the same per-row results.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from model.bundle import LATEST, PREPROCESSOR_FILE, Bundle, load_bundle
from model.errors import TreeportError
from model.preprocess import COLUMNAR_MIN_ROWS, float32_rows
from model.sagemaker_runtime import Runtime, UpstreamError, runtime_client
from model.served import Results, ServedBundle
from model.store import open_store


class NotSupported(TreeportError):
    """The operation needs the model itself, which this predictor does not hold: 501."""

    code = "not_supported"
    status = 501


class SageMakerPredictor(ServedBundle):
    """Validates and encodes locally; predicts on a SageMaker endpoint."""

    backend_name = "sagemaker"

    def __init__(self, bundle: Bundle, endpoint: str, timeout_s: float = 10.0, runtime: Runtime | None = None) -> None:
        super().__init__(bundle)
        self.endpoint = endpoint
        self.runtime = runtime if runtime is not None else runtime_client(timeout_s)

    @classmethod
    def load(
        cls, store_uri: str, name: str, version: str = LATEST, endpoint: str = "", timeout_s: float = 10.0
    ) -> SageMakerPredictor:
        """Load and verify the bundle (schema and preprocessor are what this predictor uses)."""
        # Only the preprocessor is needed at the edge: the model itself runs on the endpoint.
        return cls(load_bundle(open_store(store_uri), name, version, only=(PREPROCESSOR_FILE,)), endpoint, timeout_s)

    def predict(self, records: Any, ignore_unknown: bool = False) -> list[dict[str, Any]]:
        """Validate and encode locally, predict on the endpoint; return `/predict`-shaped results."""
        rows = self.encode_for_endpoint(records, ignore_unknown)
        payload = self.runtime.invoke(self.endpoint, to_csv(rows))
        return self._results(payload, len(rows))

    def predict_batch(self, records: Any, ignore_unknown: bool = False) -> Results:
        """Return `predict`'s results for the data plane (per-row dicts: the endpoint answers no arrays)."""
        return Results(self.predict(records, ignore_unknown))

    def encode_for_endpoint(self, records: Any, ignore_unknown: bool = False) -> Sequence[Sequence[float]]:
        """Return the encoded rows: float32 values, as `encode` gives them.

        A small list of dicts (a typical request) is encoded row by row without numpy, which this
        process then never imports (a fifth of the Lambda's cold-start budget); anything else goes
        through `encode`. Both give the same values, so the same CSV.
        """
        if isinstance(records, list) and len(records) < COLUMNAR_MIN_ROWS:
            return float32_rows(self.preprocessor.encode_rows(records, ignore_unknown))
        return self.encode(records, ignore_unknown).tolist()

    def explain(self, records: Any, ignore_unknown: bool = False) -> list[dict[str, Any]]:
        """Explanations need the trees, which live on the endpoint."""
        raise NotSupported("explanations are not available with the sagemaker backend; call the endpoint's /explain")

    def _results(self, payload: bytes, rows: int) -> list[dict[str, Any]]:
        try:
            answer = json.loads(payload)
            predictions = answer["predictions"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise UpstreamError(
                f"SageMaker endpoint {self.endpoint!r} answered something other than predictions"
            ) from None
        # The rows were encoded with this bundle's preprocessor; a model of another version may read its
        # columns differently, and the response would name a version that did not predict.
        served = answer.get("model")
        if isinstance(served, dict) and "version" in served and served["version"] != self.version:
            raise UpstreamError(
                f"SageMaker endpoint {self.endpoint!r} serves version {served['version']!r}, but requests are "
                f"encoded for version {self.version!r}; deploy the same version to both"
            )
        if not isinstance(predictions, list) or len(predictions) != rows:
            got = len(predictions) if isinstance(predictions, list) else "no"
            raise UpstreamError(f"SageMaker endpoint {self.endpoint!r} answered {got} results for {rows} rows")
        if not all(isinstance(p, dict) for p in predictions):
            raise UpstreamError(f"SageMaker endpoint {self.endpoint!r} answered malformed results")
        return predictions


def to_csv(rows: Sequence[Sequence[float]]) -> bytes:
    """Return rows (lists of floats, or a matrix) as headerless CSV; NaN as an empty cell; floats round-trip exactly."""
    if hasattr(rows, "tolist"):
        rows = rows.tolist()
    out = io.StringIO()
    for row in rows:
        out.write(",".join("" if v != v else repr(v) for v in row))
        out.write("\n")
    return out.getvalue().encode()
