"""The OpenAPI 3.1 document of the HTTP contract (DESIGN.md "HTTP contract"), built once in Python.

It describes every route the app registers; `tests/api/test_openapi.py` fails when a route or a
method is added without being documented here, or documented without existing. Feature names are
model-specific and live in `GET /metadata`, so records are described generically: objects whose
values are numbers, strings or null.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from api.routes.v2 import MAX_ID_CHARS

JSON = "application/json"
CSV = "text/csv"

# Every route but these probes needs a key when `TREEPORT_API_KEYS` is set (api.auth.OPEN_ENDPOINTS).
SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]

_ERRORS = {
    400: ("BadRequest", "Malformed body: not UTF-8, not JSON/CSV, wrong envelope, or no rows."),
    401: ("Unauthorized", "Missing or invalid API key (only when the server has API keys configured)."),
    404: ("NotFound", "No model of that name is served here."),
    405: ("MethodNotAllowed", "The route exists but not for this method; the `Allow` header lists the methods."),
    413: ("PayloadTooLarge", "Body over `TREEPORT_MAX_BODY_BYTES`, or more rows than `TREEPORT_MAX_ROWS`."),
    415: ("UnsupportedMediaType", "Content-Type is not one this route takes."),
    422: ("UnprocessableEntity", "Well-formed body whose values do not fit the model's schema; `details` names them."),
    503: ("ModelNotReady", "No model is loaded yet (or loading failed)."),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _ok(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if content is not None:
        response["content"] = content
    return response


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    *,
    secured: bool = True,
    request_body: dict[str, Any] | None = None,
    name_param: bool = False,
) -> dict[str, Any]:
    """Return one operation; every operation can answer 405, and secured ones 401."""
    statuses = {*errors, 405} | ({401} if secured else set())
    responses: dict[str, Any] = {"200": ok}
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if name_param:
        op["parameters"] = [{"$ref": "#/components/parameters/ModelName"}]
    if request_body is not None:
        op["requestBody"] = request_body
    op["responses"] = responses
    op["security"] = SECURITY if secured else []
    return op


def _records_body(description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {
            JSON: {"schema": _ref("InstancesRequest")},
            CSV: {"schema": _ref("CsvRecords")},
        },
    }


# Statuses of the routes that read a body of rows and run the model.
_MODEL_POST = (400, 413, 415, 422, 503)


def _paths() -> dict[str, Any]:
    predict_ok = _ok("One prediction per row, in request order.", _json(_ref("PredictResponse")))
    return {
        "/predict": {
            "post": _operation(
                "predict",
                "Predict each row",
                "inference",
                predict_ok,
                _MODEL_POST,
                request_body=_records_body(
                    'Raw records: JSON `{"instances": [...]}` or CSV with a header row (empty cells are missing).'
                ),
            )
        },
        "/explain": {
            "post": _operation(
                "explain",
                "Per-feature SHAP contributions of each row (one-hot columns summed to their feature)",
                "inference",
                _ok("One explanation per row, in request order.", _json(_ref("ExplainResponse"))),
                _MODEL_POST,
                request_body=_records_body("Raw records, as for `/predict`."),
            )
        },
        "/health": {
            "get": _operation(
                "health",
                "Liveness: 200 while the process serves HTTP",
                "probes",
                _ok("Alive.", _json(_ref("HealthResponse"))),
                (),
                secured=False,
            )
        },
        "/ready": {
            "get": _operation(
                "ready",
                "Readiness: 200 once a model is loaded",
                "probes",
                _ok("A model is loaded.", _json(_ref("ReadyResponse"))),
                (503,),
                secured=False,
            )
        },
        "/metadata": {
            "get": _operation(
                "metadata",
                "The served model: name, version, task, schema, metrics, backend",
                "model",
                _ok("Model metadata; `schema` lists the features `/predict` takes.", _json(_ref("MetadataResponse"))),
                (503,),
            )
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus metrics (aggregated over gunicorn workers)",
                "operations",
                _ok("Prometheus text exposition format.", {"text/plain": {"schema": {"type": "string"}}}),
                (),
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This OpenAPI 3.1 document",
                "operations",
                _ok("The document.", _json({"type": "object"})),
                (),
            )
        },
        "/ping": {
            "get": _operation(
                "ping",
                "SageMaker health check: 200 with an empty body once a model is loaded",
                "sagemaker",
                _ok("A model is loaded (empty body)."),
                (503,),
                secured=False,
            )
        },
        "/invocations": {
            "post": _operation(
                "invocations",
                "SageMaker inference: preprocessed numeric CSV or raw JSON records",
                "sagemaker",
                _ok(
                    "`Accept: text/csv` gives one line per row (positive-class probability, class probabilities "
                    "in class order, or the value); otherwise the `/predict` JSON.",
                    {JSON: {"schema": _ref("PredictResponse")}, CSV: {"schema": {"type": "string"}}},
                ),
                _MODEL_POST,
                request_body={
                    "required": True,
                    "description": "`text/csv` without a header: already-preprocessed rows in the preprocessor's "
                    "column order (`/metadata` `columns`); `application/json`: raw records as `/predict`.",
                    "content": {
                        CSV: {"schema": _ref("CsvMatrix")},
                        JSON: {"schema": _ref("InstancesRequest")},
                    },
                },
            )
        },
        "/v2/health/live": {
            "get": _operation(
                "v2Live",
                "Open Inference Protocol: server liveness",
                "v2",
                _ok("Alive.", _json(_ref("V2Live"))),
                (),
                secured=False,
            )
        },
        "/v2/health/ready": {
            "get": _operation(
                "v2Ready",
                "Open Inference Protocol: server readiness",
                "v2",
                _ok("A model is loaded.", _json(_ref("V2Ready"))),
                (503,),
                secured=False,
            )
        },
        "/v2/models/{name}": {
            "get": _operation(
                "v2ModelMetadata",
                "Open Inference Protocol: model metadata and tensors",
                "v2",
                _ok("Model metadata.", _json(_ref("V2ModelMetadata"))),
                (404, 503),
                name_param=True,
            )
        },
        "/v2/models/{name}/ready": {
            "get": _operation(
                "v2ModelReady",
                "Open Inference Protocol: model readiness",
                "v2",
                _ok("The model is ready.", _json(_ref("V2ModelReady"))),
                (404, 503),
                name_param=True,
            )
        },
        "/v2/models/{name}/infer": {
            "post": _operation(
                "v2Infer",
                "Open Inference Protocol: inference",
                "v2",
                _ok("Output tensors.", _json(_ref("V2InferenceResponse"))),
                (404, *_MODEL_POST),
                name_param=True,
                request_body={
                    "required": True,
                    "description": "One tensor per feature (shape `[N]` or `[N, 1]`; BYTES for categorical "
                    "features, a numeric datatype otherwise), or one numeric tensor of shape `[N, F]` holding "
                    "already-preprocessed rows.",
                    "content": _json(_ref("V2InferenceRequest")),
                },
            )
        },
    }


_NUMBER = {"type": "number"}
_STRING = {"type": "string"}
_LABEL = {"type": ["string", "number"], "description": "A class of the target, as in the training data."}
_PROBABILITIES = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}}
_V2_DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema["additionalProperties"] = False
    schema.update(extra)
    return schema


def _schemas() -> dict[str, Any]:
    scalar = {"type": ["number", "string", "boolean", "null"]}
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": {**_STRING, "description": "Stable machine-readable code, e.g. `schema_violation`."},
                        "message": {**_STRING, "description": "Human-readable explanation."},
                        "details": {"type": "array", "items": _ref("ErrorDetail")},
                    }
                )
            },
            description="Every error, whatever the status, has this body; it never carries a traceback.",
        ),
        "ErrorDetail": {
            "type": "object",
            "description": "One row/field problem of a 422.",
            "properties": {
                "row": {"type": ["integer", "null"], "minimum": 0},
                "field": {"type": ["string", "null"]},
                "problem": _STRING,
                "code": {**_STRING, "description": "e.g. missing_required, expected_number, unknown_category."},
            },
        },
        "FeatureValue": {
            "type": ["number", "string", "null"],
            "description": "A number for numeric features, a string for categorical ones, null for missing.",
        },
        "Record": {
            "type": "object",
            "description": "One row: feature name to value; `GET /metadata` lists the features.",
            "additionalProperties": _ref("FeatureValue"),
        },
        "InstancesRequest": _object(
            {
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "description": "At most `TREEPORT_MAX_ROWS` rows (413 beyond).",
                    "items": _ref("Record"),
                }
            }
        ),
        "CsvRecords": {
            **_STRING,
            "description": "UTF-8 CSV: a header row of feature names, then one row per record.",
        },
        "CsvMatrix": {
            **_STRING,
            "description": "UTF-8 CSV without a header: one line per row of finite numbers (empty cell = missing).",
        },
        "ModelRef": _object({"name": _STRING, "version": _STRING}),
        "BinaryPrediction": _object(
            {
                "label": _LABEL,
                "probability": {**_NUMBER, "minimum": 0, "maximum": 1, "description": "P(positive class)."},
            }
        ),
        "MulticlassPrediction": _object({"label": _LABEL, "probabilities": _PROBABILITIES}),
        "RegressionPrediction": _object({"value": _NUMBER}),
        "Prediction": {
            "oneOf": [_ref("BinaryPrediction"), _ref("MulticlassPrediction"), _ref("RegressionPrediction")],
        },
        "PredictResponse": _object(
            {"model": _ref("ModelRef"), "predictions": {"type": "array", "items": _ref("Prediction")}}
        ),
        "Explanation": _object(
            {
                "contributions": {"type": "object", "additionalProperties": _NUMBER},
                "bias": _NUMBER,
                "margin": {**_NUMBER, "description": "bias + sum of contributions (log-odds, or the value)."},
            }
        ),
        "MulticlassExplanation": _object({"classes": {"type": "object", "additionalProperties": _ref("Explanation")}}),
        "ExplainResponse": _object(
            {
                "model": _ref("ModelRef"),
                "explanations": {
                    "type": "array",
                    "items": {"oneOf": [_ref("Explanation"), _ref("MulticlassExplanation")]},
                },
            }
        ),
        "HealthResponse": _object({"status": {"const": "ok"}}),
        "ReadyResponse": _object({"status": {"const": "ready"}, "model": _ref("ModelRef")}),
        "MetadataResponse": _object(
            {
                "name": _STRING,
                "version": _STRING,
                "task": {"enum": ["binary", "multiclass", "regression"]},
                "backend": {"enum": ["daal4py", "xgboost"]},
                "schema": {"type": "object", "description": "The model's feature and target schema."},
                "metrics": {"type": "object", "description": "Evaluation metrics of the test split."},
                "parity": {"type": "object", "description": "daal4py against XGBoost parity check."},
                "created_at": _STRING,
                "columns": {
                    "type": "array",
                    "items": _STRING,
                    "description": "Preprocessed column order (the `/invocations` CSV and V2 `[N, F]` tensor).",
                },
            }
        ),
        "V2Live": _object({"live": {"type": "boolean"}}),
        "V2Ready": _object({"ready": {"type": "boolean"}}),
        "V2ModelReady": _object({"name": _STRING, "ready": {"type": "boolean"}}),
        "V2Datatype": {"enum": _V2_DATATYPES},
        "V2TensorMetadata": _object(
            {"name": _STRING, "datatype": _ref("V2Datatype"), "shape": {"type": "array", "items": {"type": "integer"}}}
        ),
        "V2ModelMetadata": _object(
            {
                "name": _STRING,
                "versions": {"type": "array", "items": _STRING},
                "platform": _STRING,
                "inputs": {"type": "array", "items": _ref("V2TensorMetadata")},
                "outputs": {"type": "array", "items": _ref("V2TensorMetadata")},
            }
        ),
        "V2RequestInput": {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": _STRING,
                "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                "datatype": _ref("V2Datatype"),
                "parameters": {"type": "object"},
                "data": {
                    "type": "array",
                    "description": "Row-major values, flat or nested one level.",
                    "items": {"anyOf": [scalar, {"type": "array", "items": scalar}]},
                },
            },
        },
        "V2InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {**_STRING, "maxLength": MAX_ID_CHARS, "description": "Echoed in the response."},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "minItems": 1, "items": _ref("V2RequestInput")},
                "outputs": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name"], "properties": {"name": _STRING}},
                },
            },
        },
        "V2ResponseOutput": _object(
            {
                "name": {"enum": ["predict", "predict_proba"]},
                "datatype": _ref("V2Datatype"),
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "data": {"type": "array", "items": {"type": ["number", "string"]}},
            }
        ),
        "V2InferenceResponse": _object(
            {
                "model_name": _STRING,
                "model_version": _STRING,
                "id": {**_STRING, "description": "The request's `id`, when it had one."},
                "outputs": {"type": "array", "items": _ref("V2ResponseOutput")},
            },
            required=["model_name", "model_version", "outputs"],
        ),
    }


def _responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for name, description in _ERRORS.values():
        responses[name] = {"description": description, "content": _json(_ref("Error"))}
    responses["MethodNotAllowed"]["headers"] = {
        "Allow": {"description": "The methods the route takes.", "schema": {"type": "string"}}
    }
    return responses


def _version() -> str:
    try:
        return version("treeport")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document (built on first use, then shared; callers must not mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Treeport",
            "version": _version(),
            "summary": "Predictions of an XGBoost model served with daal4py (oneDAL).",
            "description": (
                'Errors are always JSON: `{"error": {"code", "message", "details"}}`. 400 malformed body, '
                "401 missing/bad API key, 404 unknown route or model, 405 method not allowed, 413 body too large "
                "or too many rows, 415 content type, 422 schema violation, 503 no model loaded. With "
                "`TREEPORT_API_KEYS` set every route but the probes (`/health`, `/ready`, `/ping`, "
                "`/v2/health/live`, `/v2/health/ready`) needs `x-api-key: KEY` or `Authorization: Bearer KEY`; "
                "an unknown route then answers 401 before 404."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "inference", "description": "Predictions from raw records."},
            {"name": "probes", "description": "Liveness and readiness, open without a key."},
            {"name": "model", "description": "The served model."},
            {"name": "operations", "description": "Metrics and this document."},
            {"name": "sagemaker", "description": "SageMaker's container contract."},
            {"name": "v2", "description": "The Open Inference Protocol (KServe V2) over REST."},
        ],
        "security": SECURITY,
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "parameters": {
                "ModelName": {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "description": "The served model's name (404 for any other).",
                    "schema": _STRING,
                }
            },
            "securitySchemes": {
                "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "BearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The same API key as a bearer token.",
                },
            },
        },
    }
