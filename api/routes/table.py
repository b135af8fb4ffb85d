"""The route table: every route the app serves, in one list.

Each `Route` says its method and Flask rule, the view that answers it, whether it needs an API key, the body it
takes and the answer it gives (by OpenAPI component name), and the error statuses it can answer. The app factory
registers exactly these routes (`api.app`), the API-key check reads `auth` from them, and the OpenAPI document
(`api.openapi`) is built from them, so a route cannot exist undocumented or be documented without existing.

Adding a route is one `Route(...)` line here (plus its view function, and a component in `api.openapi` if its
answer has a new shape).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.errors import OIP_PREFIX
from api.inputs import ARROW_TYPES, CSV_TYPES, JSON_TYPES, JSONL_TYPES
from api.routes import health, monitoring, predict, sagemaker, v2

JSON = JSON_TYPES[0]
CSV = CSV_TYPES[0]
JSONL = JSONL_TYPES[0]
ARROW = ARROW_TYPES[0]
V2_PREFIX = OIP_PREFIX
"""Routes under this prefix speak the Open Inference Protocol, errors included (`api.errors`)."""

Schema = str | dict[str, Any]
"""An OpenAPI schema: the name of a component (`PredictResponse`), or an inline schema."""


@dataclass(frozen=True)
class Body:
    """A request body: its description and, per media type, its schema."""

    description: str
    content: dict[str, Schema]


@dataclass(frozen=True)
class Answer:
    """The 200 answer: its description and, per media type, its schema (none for an empty body)."""

    description: str
    content: dict[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One route: method, Flask rule, view, and what the OpenAPI document and the key check need to know."""

    method: str
    rule: str
    view: Callable[..., Any]
    operation_id: str
    """Also the Flask endpoint name (unique)."""
    summary: str
    tag: str
    ok: Answer
    errors: tuple[int, ...] = ()
    """Error statuses besides the 405 every route can answer and the 401 of a secured one."""
    auth: bool = True
    """Whether the route needs an API key when `TREEPORT_API_KEYS` is set (probes do not)."""
    body: Body | None = None

    @property
    def path(self) -> str:
        """Return the rule in OpenAPI's path syntax (`/v2/models/{name}`)."""
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", self.rule)

    @property
    def statuses(self) -> list[int]:
        """Return every error status the route can answer, sorted."""
        return sorted({*self.errors, 405} | ({401} if self.auth else set()))


# Statuses of the routes that read a body of rows and run the model.
MODEL_POST = (400, 406, 413, 415, 422, 503)

ROW_FORMATS: dict[str, Schema] = {
    JSON: "JsonRowsRequest",
    CSV: "CsvRecords",
    **dict.fromkeys(JSONL_TYPES, "JsonLinesRecords"),
    ARROW: "ArrowStream",
}
RECORDS = Body(
    'Raw rows in any of these formats: JSON (`{"instances": [...]}` records, MLflow\'s `dataframe_split` and '
    '`dataframe_records`, or column-major `{"inputs": {feature: [...]}}`), CSV with a header row (empty cells are '
    "missing), JSON Lines (one record object per line; the `application/x-jsonlines`, `application/jsonl` and "
    "`application/x-ndjson` names are read alike) or an Apache Arrow IPC stream. Blank lines are skipped.",
    ROW_FORMATS,
)
PREDICTION_ANSWERS: dict[str, Schema] = {
    JSON: "PredictResponse",
    CSV: "CsvPredictions",
    JSONL: "JsonLinesPredictions",
    ARROW: "ArrowPredictions",
}
PREDICTIONS = Answer(
    "One prediction per row, in request order, in the media type `Accept` asks for (q-values honoured; JSON when "
    "any will do; 406 when none of these is acceptable). `text/csv`: one line per row (positive-class probability, "
    "class probabilities in class order, or the value); `application/jsonlines`: one result object per line; "
    "Arrow: a record batch of `label` and `probability` / `probabilities` (a struct, one field per class) or `value`.",
    PREDICTION_ANSWERS,
)

ROUTES: tuple[Route, ...] = (
    Route("POST", "/predict", predict.predict, "predict", "Predict each row", "inference", PREDICTIONS, MODEL_POST,
          body=RECORDS),
    Route("POST", "/explain", predict.explain, "explain",
          "Per-feature SHAP contributions of each row (one-hot columns summed to their feature)", "inference",
          Answer("One explanation per row, in request order (JSON only).", {JSON: "ExplainResponse"}), MODEL_POST,
          body=Body("Raw rows in any format `/predict` takes, at most `TREEPORT_MAX_EXPLAIN_ROWS` of them.",
                    RECORDS.content)),
    Route("GET", "/health", health.health, "health", "Liveness: 200 while the process serves HTTP", "probes",
          Answer("Alive.", {JSON: "HealthResponse"}), auth=False),
    Route("GET", "/ready", health.ready, "ready", "Readiness: 200 once a model is loaded", "probes",
          Answer("A model is loaded.", {JSON: "ReadyResponse"}), (503,), auth=False),
    Route("GET", "/metadata", health.metadata, "metadata",
          "The served model: name, version, task, schema, metrics, backend", "model",
          Answer("Model metadata; `schema` lists the features `/predict` takes.", {JSON: "MetadataResponse"}),
          (503,)),
    Route("GET", "/metrics", health.metrics, "metrics", "Prometheus metrics (aggregated over gunicorn workers)",
          "operations", Answer("Prometheus text exposition format.", {"text/plain": {"type": "string"}})),
    Route("GET", "/monitoring", monitoring.monitoring, "monitoring",
          "Drift of the served rows against the training baseline: PSI per feature and of the score", "operations",
          Answer("The drift report of the served model over the window (`status` says when nothing is counted).",
                 {JSON: "MonitoringResponse"}), (503,)),
    Route("GET", "/openapi.json", health.openapi, "openapi", "This OpenAPI 3.1 document", "operations",
          Answer("The document; `Record` describes the served model's features.", {JSON: {"type": "object"}})),
    Route("GET", "/ping", sagemaker.ping, "ping",
          "SageMaker health check: 200 with an empty body once a model is loaded", "sagemaker",
          Answer("A model is loaded (empty body)."), (503,), auth=False),
    Route("POST", "/invocations", sagemaker.invocations, "invocations",
          "SageMaker inference: preprocessed numeric CSV or JSON Lines arrays, or raw rows in any format", "sagemaker",
          PREDICTIONS, MODEL_POST,
          body=Body("`text/csv` without a header: already-preprocessed rows in the preprocessor's column order "
                    "(`/metadata` `columns`); `text/csv;header=present`: raw records with a header row; JSON Lines: "
                    "one raw record object per line, or one array of preprocessed numbers per line (what Batch "
                    "Transform sends with `SplitType: Line`); JSON and Arrow: raw rows as `/predict` takes them.",
                    {**ROW_FORMATS, CSV: "CsvMatrix", **dict.fromkeys(JSONL_TYPES, "JsonLinesRows")})),
    Route("GET", "/execution-parameters", sagemaker.execution_parameters, "executionParameters",
          "SageMaker Batch Transform: how many requests at once, how many records each, how large", "sagemaker",
          Answer("What Batch Transform uses unless the transform job sets its own values.",
                 {JSON: "ExecutionParameters"}), auth=False),
    Route("GET", "/v2", v2.server_metadata, "v2ServerMetadata", "Open Inference Protocol: server metadata", "v2",
          Answer("Server name, version and protocol extensions.", {JSON: "V2ServerMetadata"})),
    Route("GET", "/v2/health/live", v2.live, "v2Live", "Open Inference Protocol: server liveness", "v2",
          Answer("Alive.", {JSON: "V2Live"}), auth=False),
    Route("GET", "/v2/health/ready", v2.ready, "v2Ready", "Open Inference Protocol: server readiness", "v2",
          Answer("A model is loaded.", {JSON: "V2Ready"}), (503,), auth=False),
    Route("GET", "/v2/models/<name>", v2.model_metadata, "v2ModelMetadata",
          "Open Inference Protocol: model metadata and tensors", "v2",
          Answer("Model metadata.", {JSON: "V2ModelMetadata"}), (404, 503)),
    Route("GET", "/v2/models/<name>/ready", v2.model_ready, "v2ModelReady", "Open Inference Protocol: model readiness",
          "v2", Answer("The model is ready.", {JSON: "V2ModelReady"}), (404, 503)),
    Route("POST", "/v2/models/<name>/infer", v2.infer, "v2Infer", "Open Inference Protocol: inference", "v2",
          Answer("Output tensors (those `outputs` names, in its order; all of them without it).",
                 {JSON: "V2InferenceResponse"}), (404, *MODEL_POST),
          body=Body("One tensor per feature (shape `[N]` or `[N, 1]`; BYTES for categorical features, a numeric "
                    "datatype otherwise), or one numeric tensor of shape `[N, F]` holding already-preprocessed rows.",
                    {JSON: "V2InferenceRequest"})),
)  # fmt: skip

OPEN_ENDPOINTS = frozenset(r.operation_id for r in ROUTES if not r.auth)
"""Flask endpoints answered without an API key: the probes."""


def route(method: str, rule: str) -> Route:
    """Return the route for `method` and `rule` (KeyError if there is none)."""
    for r in ROUTES:
        if r.method == method and r.rule == rule:
            return r
    raise KeyError(f"{method} {rule}")
