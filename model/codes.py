"""Every stable error `code` Treeport answers, with the HTTP statuses it comes with and what it means.

The one table of codes: the error classes (`model.errors`, `api.errors`), the OpenAPI document (each error
response lists its codes) and the tests (`tests/test_error_codes.py` checks every code the source raises is
here, with its status) all read it. Adding a code means adding a line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    """One stable error code: the statuses it is answered with, and a one-line meaning."""

    statuses: tuple[int, ...]
    meaning: str


ERROR_CODES: dict[str, ErrorCode] = {
    # 400: the body cannot be read, or its envelope is wrong
    "bad_request": ErrorCode((400,), "The request is malformed (Werkzeug's own 400)."),
    "empty_body": ErrorCode((400,), "The request body is empty."),
    "invalid_encoding": ErrorCode((400,), "The body is not UTF-8."),
    "malformed_json": ErrorCode((400,), "The body is not JSON."),
    "malformed_csv": ErrorCode((400,), "The body is not CSV, or its rows disagree with the header."),
    "invalid_body_type": ErrorCode((400,), "The JSON body is not the object the route takes."),
    "missing_instances": ErrorCode((400,), 'The body has no "instances" array.'),
    "unknown_body_field": ErrorCode((400,), "The body has a top-level field the route does not take."),
    "instances_not_array": ErrorCode((400,), '"instances" is not an array.'),
    "empty_instances": ErrorCode((400,), "The body holds no rows."),
    "ambiguous_body": ErrorCode(
        (400,), "A JSON body with more than one of instances, dataframe_split, dataframe_records, inputs."
    ),
    "invalid_dataframe_split": ErrorCode(
        (400,), '"dataframe_split" is not columns, equally wide data rows and an index.'
    ),
    "invalid_columns": ErrorCode((400,), 'Column-major "inputs" whose columns are not arrays of one length.'),
    "malformed_jsonl": ErrorCode(
        (400,), "A JSON Lines body whose lines are not all records (or all preprocessed rows)."
    ),
    "malformed_arrow": ErrorCode((400,), "The body is not an uncompressed Apache Arrow IPC stream."),
    "non_finite_number": ErrorCode((400, 422), "NaN or Infinity: a JSON literal (400) or a value (422)."),
    "invalid_inputs": ErrorCode((400,), "An Open Inference Protocol input tensor is malformed."),
    "invalid_id": ErrorCode((400,), "An Open Inference Protocol request `id` that is not a short string."),
    "invalid_outputs": ErrorCode((400,), "An Open Inference Protocol `outputs` list is malformed."),
    "unknown_output": ErrorCode((400,), "A requested output tensor is not one the model has."),
    "invalid_parameters": ErrorCode((400,), "An Open Inference Protocol `parameters` member is not an object."),
    "unsupported_parameter": ErrorCode((400,), "An Open Inference Protocol parameter Treeport does not implement."),
    "user_error": ErrorCode((400,), "Bad configuration or data."),
    "bad_data": ErrorCode((400,), "A data file or its contents cannot be used."),
    "bad_schema": ErrorCode((400,), "A schema is invalid."),
    # 401, 404, 405, 406
    "unauthorized": ErrorCode((401,), "Missing or invalid API key."),
    "not_found": ErrorCode((404,), "No such route, model, version or store object."),
    "model_not_found": ErrorCode((404,), "No model of that name is served here."),
    "method_not_allowed": ErrorCode((405,), "The route exists, not for this method."),
    "not_acceptable": ErrorCode((406,), "The Accept header names no response media type the route can answer."),
    # 413, 415, 422, 429
    "payload_too_large": ErrorCode((413,), "The body is larger than TREEPORT_MAX_BODY_BYTES."),
    "too_many_rows": ErrorCode(
        (413,),
        "More rows than TREEPORT_MAX_ROWS (TREEPORT_MAX_EXPLAIN_ROWS on /explain), or more values than that many "
        "rows of the model's features hold (counted before the body is parsed).",
    ),
    "unsupported_media_type": ErrorCode((415,), "A Content-Type the route does not take."),
    "schema_violation": ErrorCode((422,), "Values that do not fit the model's schema; `details` names them."),
    "shape_mismatch": ErrorCode((422,), "Tensor shapes that disagree with their data or the model."),
    "wrong_column_count": ErrorCode((422,), "A preprocessed CSV row of the wrong width."),
    "too_many_requests": ErrorCode((429,), "Throttled."),
    # 5xx: the server's side
    "internal_error": ErrorCode((500,), "A bug; logged with its traceback, never shown."),
    "bundle_integrity": ErrorCode((500,), "A bundle's files do not match their checksums."),
    "model_rejected": ErrorCode((500,), "A model refused by the quality gate or the parity check."),
    "rolled_back": ErrorCode((500,), "A rollout whose canary fired an alarm: the alias was moved back (CLI only)."),
    "transform_failed": ErrorCode((500,), "A Batch Transform job of treeport batch failed or was stopped (CLI only)."),
    "terraform_failed": ErrorCode((500,), "A Terraform command of treeport deploy exited non-zero (CLI only)."),
    "http_error": ErrorCode((500,), "Another HTTP error of Werkzeug's."),
    "not_supported": ErrorCode((501,), "The backend cannot do this (explanations through SageMaker)."),
    "upstream_error": ErrorCode((502,), "The SageMaker endpoint answered an error."),
    "model_not_ready": ErrorCode((503,), "No model is loaded yet, or loading failed."),
    "platform_error": ErrorCode((503,), "The store or network failed after retries."),
    "upstream_timeout": ErrorCode((504,), "The SageMaker endpoint did not answer in time."),
}


def codes_for(status: int) -> list[str]:
    """Return the codes answered with `status`, in table order."""
    return [code for code, entry in ERROR_CODES.items() if status in entry.statuses]
