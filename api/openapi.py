"""The OpenAPI 3.1 document of the HTTP contract, derived from the route table and the served model's schema.

Paths come from `api.routes.table.ROUTES` (method, rule, key, body, answer, error statuses), the codes each error
status can carry from `model.codes.ERROR_CODES`, and the `Record` schema from the served model's `Schema`: each
feature's type, range, nullability and categories (as MLServer's `get_model_schema` derives its request schema).
With no model loaded, a record is described generically (feature name to number, string or null).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from api.routes.table import JSON, ROUTES, V2_PREFIX, Route, Schema
from api.routes.v2 import MAX_ID_CHARS
from api.services import package_version
from model.codes import ERROR_CODES, codes_for
from model.preprocess import FLOAT32_MAX
from model.schema import CategoricalFeature, NumericFeature

if TYPE_CHECKING:
    from model.schema import Schema as ModelSchema

SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]

# Error responses by status: component name and description (the codes are listed from model.codes).
_ERRORS = {
    400: ("BadRequest", "Malformed body: not UTF-8, not JSON/CSV/JSON Lines/Arrow, wrong envelope, or no rows."),
    401: ("Unauthorized", "Missing or invalid API key (only when the server has API keys configured)."),
    404: ("NotFound", "No model of that name is served here."),
    405: ("MethodNotAllowed", "The route exists but not for this method; the `Allow` header lists the methods."),
    406: ("NotAcceptable", "The `Accept` header names no media type this route answers (errors are always JSON)."),
    413: (
        "PayloadTooLarge",
        "Body over `TREEPORT_MAX_BODY_BYTES`, or more rows than `TREEPORT_MAX_ROWS` (`TREEPORT_MAX_EXPLAIN_ROWS` on "
        "`/explain`), counted before the body is parsed.",
    ),
    415: ("UnsupportedMediaType", "Content-Type is not one this route takes."),
    422: ("UnprocessableEntity", "Well-formed body whose values do not fit the model's schema; `details` names them."),
    503: ("ModelNotReady", "No model is loaded yet (or loading failed)."),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _schema(schema: Schema) -> dict[str, Any]:
    return _ref(schema) if isinstance(schema, str) else schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _operation(r: Route) -> dict[str, Any]:
    """Return the OpenAPI operation of one route of the table."""
    ok: dict[str, Any] = {"description": r.ok.description}
    if r.ok.content:
        ok["content"] = {mt: {"schema": _schema(s)} for mt, s in r.ok.content.items()}
    responses: dict[str, Any] = {"200": ok}
    prefix = "V2" if r.rule.startswith(V2_PREFIX) else ""
    for status in r.statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{prefix}{_ERRORS[status][0]}"}
    op: dict[str, Any] = {"operationId": r.operation_id, "summary": r.summary, "tags": [r.tag]}
    if "{name}" in r.path:
        op["parameters"] = [{"$ref": "#/components/parameters/ModelName"}]
    if r.body is not None:
        op["requestBody"] = {
            "required": True,
            "description": r.body.description,
            "content": {mt: {"schema": _schema(s)} for mt, s in r.body.content.items()},
        }
    op["responses"] = responses
    op["security"] = SECURITY if r.auth else []
    return op


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    return paths


def feature_value_schema(feature: NumericFeature | CategoricalFeature) -> dict[str, Any]:
    """Return the JSON schema of one feature's value: its type, range, categories, and null when nullable."""
    if isinstance(feature, NumericFeature):
        schema: dict[str, Any] = {"type": ["number", "null"] if feature.nullable else "number"}
        # The model reads float32: beyond its range a value is refused (422) whatever the schema's bounds.
        low, high = feature.min, feature.max
        schema["minimum"] = low if low is not None and math.isfinite(low) else -FLOAT32_MAX
        schema["maximum"] = high if high is not None and math.isfinite(high) else FLOAT32_MAX
        return schema
    if feature.on_unknown == "error":
        return {"enum": [*feature.categories, *([None] if feature.nullable else [])]}
    # Unknown categories are read as missing: any string is valid; the known ones are listed as examples.
    return {
        "type": ["string", "null"] if feature.nullable else "string",
        "examples": list(feature.categories[:20]),
        "description": f"One of {len(feature.categories)} known categories; others are treated as missing.",
    }


def record_schema(schema: ModelSchema | None) -> dict[str, Any]:
    """Return the JSON schema of one record: the model's features when it is known, any features otherwise."""
    if schema is None:
        return {
            "type": "object",
            "description": "One row: feature name to value; `GET /metadata` lists the features.",
            "additionalProperties": _ref("FeatureValue"),
        }
    required = [f.name for f in schema.features if not f.nullable]
    return {
        "type": "object",
        "description": "One row of the served model's features (a feature that may be missing may be left out).",
        "properties": {f.name: feature_value_schema(f) for f in schema.features},
        "required": required,
        "additionalProperties": False,
    }


_NUMBER = {"type": "number"}
_CODE = {"enum": list(ERROR_CODES), "description": "Stable machine-readable code (`model.codes`)."}
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


def _monitoring_schemas() -> dict[str, Any]:
    """Return the components of `GET /monitoring` (the JSON of `api.monitoring.Monitoring.report`)."""
    share = {**_NUMBER, "minimum": 0, "maximum": 1}
    psi = {"type": ["number", "null"], "minimum": 0, "description": "Population stability index; null before any row."}
    statuses = ["ok", "drifting", "no_rows", "no_baseline", "baseline_unusable", "not_counted", "off"]
    return {
        "DriftBin": _object({"label": _STRING, "expected": share, "actual": share}),
        "FeatureDrift": _object(
            {
                "name": _STRING,
                "kind": {"enum": ["numeric", "categorical", "score", "label"]},
                "psi": psi,
                "drifting": {"type": "boolean"},
                "status": {"enum": ["ok", "drifting", "no_rows"]},
                "missing": {
                    "oneOf": [_object({"expected": share, "actual": share}), {"type": "null"}],
                    "description": "Share of missing values (numeric) or missing-or-unseen categories; null for the "
                    "score of a binary or regression model.",
                },
                "bins": {"type": "array", "items": _ref("DriftBin")},
            }
        ),
        "DriftWindow": _object(
            {
                "kind": {"enum": ["sliding", "since_start"]},
                "seconds": {"type": ["number", "null"]},
                "buckets": {"type": "integer", "minimum": 1},
                "bucket_seconds": {"type": ["number", "null"]},
                "start": {**_STRING, "description": "Start of the oldest bucket counted (sliding windows)."},
                "end": _STRING,
            },
            required=["kind", "seconds", "buckets", "bucket_seconds", "end"],
        ),
        "MonitoringResponse": _object(
            {
                "model": _ref("ModelRef"),
                "status": {"enum": statuses, "description": "`drifting` when any PSI passes `threshold`."},
                "reason": {**_STRING, "description": "Why nothing is counted (a status but ok/drifting/no_rows)."},
                "threshold": _NUMBER,
                "scope": {"enum": ["workers", "process"], "description": "Counts of all workers, or this process's."},
                "window": _ref("DriftWindow"),
                "counters": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Count files summed: one per worker and model load (`scope` workers).",
                },
                "rows": {"type": "integer", "minimum": 0, "description": "Rows counted in the window."},
                "psi_max": psi,
                "alarm": {"type": "boolean"},
                "drifting": {"type": "array", "items": _STRING, "description": "Features whose PSI passes."},
                "score": _ref("FeatureDrift"),
                "features": {"type": "array", "items": _ref("FeatureDrift")},
            },
            required=["model", "status", "threshold", "scope"],
        ),
    }


def _schemas(schema: ModelSchema | None) -> dict[str, Any]:
    scalar = {"type": ["number", "string", "boolean", "null"]}
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": _CODE,
                        "message": {**_STRING, "description": "Human-readable explanation."},
                        "details": {"type": "array", "items": _ref("ErrorDetail")},
                    }
                )
            },
            description="Every error, whatever the status, has this body; it never carries a traceback.",
        ),
        "V2Error": {
            "type": "object",
            "description": "The Open Inference Protocol's error object, with Treeport's code and details beside it.",
            "required": ["error", "code", "details"],
            "properties": {
                "error": {**_STRING, "description": "Human-readable explanation."},
                "code": _CODE,
                "details": {"type": "array", "items": _ref("ErrorDetail")},
            },
            "additionalProperties": False,
        },
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
        "Record": record_schema(schema),
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
        "JsonRowsRequest": {
            "description": "Exactly one of the four JSON shapes (one top-level member).",
            "oneOf": [
                _ref("InstancesRequest"),
                _ref("DataframeSplitRequest"),
                _ref("DataframeRecordsRequest"),
                _ref("InputsRequest"),
            ],
        },
        "DataframeSplitRequest": _object(
            {
                "dataframe_split": _object(
                    {
                        "columns": {"type": "array", "items": _STRING, "uniqueItems": True},
                        "data": {
                            "type": "array",
                            "minItems": 1,
                            "description": "Rows, each with one value per column, in `columns` order.",
                            "items": {"type": "array", "items": _ref("FeatureValue")},
                        },
                        "index": {"type": "array", "description": "One label per row; ignored."},
                    },
                    required=["columns", "data"],
                )
            },
            description="MLflow's (pandas') split orientation, as `mlflow models serve` takes it.",
        ),
        "DataframeRecordsRequest": _object(
            {"dataframe_records": {"type": "array", "minItems": 1, "items": _ref("Record")}},
            description="MLflow's records orientation: the same rows as `instances`.",
        ),
        "InputsRequest": _object(
            {
                "inputs": {
                    "oneOf": [
                        {
                            "type": "object",
                            "minProperties": 1,
                            "description": "Column-major: feature name to an array of values, all arrays one length.",
                            "additionalProperties": {"type": "array", "items": _ref("FeatureValue")},
                        },
                        {"type": "array", "minItems": 1, "items": _ref("Record"), "description": "Records."},
                    ]
                }
            },
            description="MLflow's tensor input: column-major (an object of arrays) or row-major (an array of records).",
        ),
        "CsvRecords": {
            **_STRING,
            "description": "UTF-8 CSV: a header row of feature names, then one row per record; empty cells are "
            "missing, cells are read as the feature's type reads text; blank lines are skipped.",
        },
        "CsvMatrix": {
            **_STRING,
            "description": "UTF-8 CSV without a header: one line per row of finite numbers (empty cell = missing); "
            "with `text/csv;header=present`, records with a header as `/predict` takes them.",
        },
        "JsonLinesRecords": {
            **_STRING,
            "description": "UTF-8 JSON Lines: one record object per line (as in `instances`); blank lines skipped.",
        },
        "JsonLinesRows": {
            **_STRING,
            "description": "UTF-8 JSON Lines: one record object per line, or one array of preprocessed numbers per "
            "line (null = missing), not both in one body.",
        },
        "ArrowStream": {
            **_STRING,
            "contentMediaType": "application/vnd.apache.arrow.stream",
            "description": "An Apache Arrow IPC stream (uncompressed): one column per feature, named as the feature; "
            "numeric features in any integer, float or decimal type, categorical ones as strings, integers or "
            "dictionaries; null is missing.",
        },
        "CsvPredictions": {
            **_STRING,
            "description": "One line per row: the positive-class probability (binary), the class probabilities in "
            "class order (multiclass), or the value (regression).",
        },
        "JsonLinesPredictions": {**_STRING, "description": "One `Prediction` object per line, in row order."},
        "ArrowPredictions": {
            **_STRING,
            "contentMediaType": "application/vnd.apache.arrow.stream",
            "description": "An Arrow IPC stream of one batch: `label` and `probability` (binary), `label` and a "
            "`probabilities` struct (multiclass) or `value` (regression); the model in the schema metadata.",
        },
        "ExecutionParameters": _object(
            {
                "MaxConcurrentTransforms": {"type": "integer", "minimum": 1, "description": "Worker processes."},
                "BatchStrategy": {"const": "MULTI_RECORD"},
                "MaxPayloadInMB": {"type": "integer", "minimum": 1, "maximum": 100},
            },
            description="SageMaker Batch Transform's execution parameters (a transform job's own values win).",
        ),
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
                "hardware": _ref("Hardware"),
            }
        ),
        **_monitoring_schemas(),
        "V2ServerMetadata": _object(
            {"name": _STRING, "version": _STRING, "extensions": {"type": "array", "items": _STRING}}
        ),
        "Hardware": _object(
            {
                "cpu": {
                    "type": "object",
                    "description": "CPU model and vendor, CPUs allowed (affinity and cgroup quota) and online, "
                    "and the ISA flags that decide oneDAL's kernels (avx2, avx512f/dq/bw/vl, VNNI, BF16, AMX).",
                },
                "cgroup": {
                    "type": "object",
                    "description": "cgroup version, CPU quota (CPUs) and memory limit (bytes); null where none.",
                },
                "memory_total_bytes": {"type": ["integer", "null"]},
                "onedal": {
                    "type": ["object", "null"],
                    "description": "oneDAL version and the CPU code path it dispatches to (`dispatch`: avx512, "
                    "avx2, sse42); null where the backend does not use daal4py.",
                },
                "serving": {
                    "type": "object",
                    "description": "Worker processes (as gunicorn starts them) and inference threads per worker.",
                },
                "instance_type": {
                    "type": "object",
                    "description": "The instance type the deployment declared (TREEPORT_INSTANCE_TYPE) and where "
                    "it came from; empty when unknown.",
                },
                "warnings": {"type": "array", "items": _STRING, "description": "e.g. an Intel type without AVX-512."},
                "notes": {"type": "array", "items": _STRING},
            },
            description="What this worker runs on, measured when it started (`treeport doctor` prints the same).",
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
    """Return the error responses: Treeport's error body, and the Open Inference Protocol's on `/v2` routes."""
    responses: dict[str, Any] = {}
    for status, (name, description) in _ERRORS.items():
        codes = ", ".join(f"`{c}`" for c in codes_for(status))
        text = f"{description} Codes: {codes}."
        responses[name] = {"description": text, "content": _json(_ref("Error"))}
        responses["V2" + name] = {"description": text, "content": _json(_ref("V2Error"))}
    for name in ("MethodNotAllowed", "V2MethodNotAllowed"):
        responses[name]["headers"] = {
            "Allow": {"description": "The methods the route takes.", "schema": {"type": "string"}}
        }
    return responses


def openapi_document(schema: ModelSchema | None = None) -> dict[str, Any]:
    """Return the OpenAPI document, records described by `schema` (generic without one); callers must not mutate it."""
    return _document(schema)


@functools.lru_cache(maxsize=8)
def _document(schema: ModelSchema | None) -> dict[str, Any]:
    # Built once per schema: a reload to a version with the same schema shares the document.
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Treeport",
            "version": package_version(),
            "summary": "Predictions of an XGBoost model served with daal4py (oneDAL).",
            "description": (
                'Errors are JSON: `{"error": {"code", "message", "details"}}`; on the Open Inference Protocol '
                'routes (`/v2...`) the protocol\'s `{"error": "<message>"}` with `code` and `details` beside it. '
                "400 malformed body, 401 missing/bad API key, 404 unknown route or model, 405 method not allowed, "
                "413 body too large or too many rows, 415 content type, 422 schema violation, 503 no model loaded. "
                "With `TREEPORT_API_KEYS` set every route but the probes ("
                + ", ".join(f"`{r.rule}`" for r in ROUTES if not r.auth)
                + ") needs `x-api-key: KEY` or `Authorization: Bearer KEY`; an unknown route then answers 401 "
                "before 404."
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
            "schemas": _schemas(schema),
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
