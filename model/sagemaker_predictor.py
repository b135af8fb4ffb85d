"""`SageMakerPredictor`: the `Predictor` interface in front of a SageMaker endpoint.

For a Lambda that validates and preprocesses at the edge: it loads only the bundle's schema and
preprocessor (no xgboost, no daal4py), encodes rows to numeric CSV in the preprocessor's column
order, calls `invoke_endpoint` (`text/csv` in, JSON out: the endpoint runs this project's image,
whose `/invocations` answers in the `/predict` shape), and returns the same per-row results.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from model.bundle import LATEST, PREPROCESSOR_FILE, Bundle, load_bundle
from model.errors import TreeportError
from model.served import ServedBundle
from model.store import open_store


class UpstreamError(TreeportError):
    """The SageMaker endpoint failed or answered something unusable: 502."""

    code = "upstream_error"
    status = 502


class UpstreamTimeout(TreeportError):
    """The SageMaker endpoint did not answer in time: 504."""

    code = "upstream_timeout"
    status = 504


class NotSupported(TreeportError):
    """The operation needs the model itself, which this predictor does not hold: 501."""

    code = "not_supported"
    status = 501


class SageMakerPredictor(ServedBundle):
    """Validates and encodes locally; predicts on a SageMaker endpoint."""

    backend_name = "sagemaker"

    def __init__(self, bundle: Bundle, endpoint: str, timeout_s: float = 10.0, client: Any = None) -> None:
        super().__init__(bundle)
        self.endpoint = endpoint
        self._client = client if client is not None else _runtime_client(timeout_s)

    @classmethod
    def load(
        cls, store_uri: str, name: str, version: str = LATEST, endpoint: str = "", timeout_s: float = 10.0
    ) -> SageMakerPredictor:
        """Load and verify the bundle (schema and preprocessor are what this predictor uses)."""
        # Only the preprocessor is needed at the edge: the model itself runs on the endpoint.
        return cls(load_bundle(open_store(store_uri), name, version, only=(PREPROCESSOR_FILE,)), endpoint, timeout_s)

    def predict(self, records: Any, ignore_unknown: bool = False) -> list[dict[str, Any]]:
        """Validate and encode locally, predict on the endpoint; return `/predict`-shaped results."""
        x = self.encode(records, ignore_unknown)
        body = to_csv(x)
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        try:
            response = self._client.invoke_endpoint(
                EndpointName=self.endpoint, ContentType="text/csv", Accept="application/json", Body=body
            )
            payload = response["Body"].read()
        except (ReadTimeoutError, ConnectTimeoutError):
            raise UpstreamTimeout(f"SageMaker endpoint {self.endpoint!r} did not answer in time") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UpstreamError(f"SageMaker endpoint {self.endpoint!r} failed ({code})") from None
        except BotoCoreError as exc:
            raise UpstreamError(f"SageMaker endpoint {self.endpoint!r} unreachable ({type(exc).__name__})") from None
        return self._results(payload, len(x))

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


def to_csv(x: np.ndarray) -> bytes:
    """Return rows as headerless CSV; missing values (NaN) as empty cells, floats round-tripping exactly."""
    out = io.StringIO()
    for row in x.tolist():
        out.write(",".join("" if v != v else repr(v) for v in row))
        out.write("\n")
    return out.getvalue().encode()


def _runtime_client(timeout_s: float) -> Any:
    # botocore without boto3: the same client, without importing boto3 and s3transfer (~0.2 s of cold start).
    from botocore.config import Config
    from botocore.session import get_session

    # One attempt: a retry after a timeout would double the wait that `timeout_s` promises (and the
    # load on an endpoint that is already slow); the caller sees 502/504 and may retry itself.
    config = Config(
        read_timeout=timeout_s, connect_timeout=min(timeout_s, 5), retries={"mode": "standard", "total_max_attempts": 1}
    )
    return get_session().create_client("sagemaker-runtime", config=config)
