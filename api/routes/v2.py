"""The Open Inference Protocol (KServe V2) over REST.

Inputs: one tensor per feature (shape `[N]` or `[N, 1]`, BYTES for categorical, numeric types otherwise),
or one FP32 tensor of shape `[N, F]` holding already-preprocessed rows. Outputs: `predict` (labels or
values) and, for classifiers, `predict_proba` (`[N, classes]`); a request's `outputs` picks which, in its order.
`parameters` (of the request, an input or a requested output) must be objects; the binary-tensor and
classification extensions (`binary_data`, `binary_data_output`, `binary_data_size`, `classification`) are not
implemented and are refused with 400 `unsupported_parameter` rather than ignored; other parameters (such as
MLServer's `content_type`) change nothing here. Errors on `/v2` routes have the protocol's shape (`api.errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, g, jsonify, request

from api.dataplane import unsupported_media
from api.errors import ApiError, malformed
from api.inputs import FLOAT32_MAX, JSON_TYPES, check_json_size, check_rows, media_type, parse_json, read_body
from api.services import package_version, services
from model.schema import NumericFeature

if TYPE_CHECKING:
    from model.predictor import Predictor

NUMERIC_TYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)
DATATYPES = NUMERIC_TYPES | {"BYTES"}
MAX_ID_CHARS = 256
# Extensions of the protocol (Triton's binary tensor data and classification) that Treeport does not implement.
UNSUPPORTED_PARAMETERS = ("binary_data", "binary_data_output", "binary_data_size", "classification")


def server_metadata() -> Response:
    """V2 server metadata: name, version and the protocol extensions supported (none)."""
    return jsonify({"name": "treeport", "version": package_version(), "extensions": []})


def live() -> Response:
    """V2 liveness."""
    return jsonify({"live": True})


def ready() -> Response:
    """V2 readiness: 200 once a model is loaded, else 503."""
    services().state.predictor  # noqa: B018  (raises ModelNotReady -> 503)
    return jsonify({"ready": True})


def model_metadata(name: str) -> Response:
    """V2 model metadata: versions, platform, input and output tensors."""
    predictor = services().dataplane.model(name)
    inputs = [
        {"name": f.name, "datatype": "FP32" if isinstance(f, NumericFeature) else "BYTES", "shape": [-1]}
        for f in predictor.schema.features
    ]
    outputs = [{"name": "predict", "datatype": _label_type(predictor), "shape": [-1]}]
    if predictor.task != "regression":
        outputs.append({"name": "predict_proba", "datatype": "FP32", "shape": [-1, len(predictor.classes)]})
    return jsonify(
        {
            "name": predictor.name,
            "versions": [predictor.version],
            "platform": f"treeport-{predictor.backend_name}",
            "inputs": inputs,
            "outputs": outputs,
        }
    )


def model_ready(name: str) -> Response:
    """V2 per-model readiness."""
    predictor = services().dataplane.model(name)
    return jsonify({"name": predictor.name, "ready": True})


def infer(name: str) -> Response:
    """V2 inference."""
    plane = services().dataplane
    predictor = plane.model(name)
    mt = media_type(request)
    if mt not in JSON_TYPES:
        raise unsupported_media(mt, JSON_TYPES)
    raw = read_body(request)
    check_json_size(raw, plane.limits(predictor))  # before parsing: a small body of many values costs no memory
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise malformed("invalid_body_type", "expected a JSON object with an 'inputs' array")
    _check_parameters(payload.get("parameters"), "parameters")
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise malformed("invalid_inputs", "'inputs' must be a non-empty array of tensors")
    echo_id = _request_id(payload["id"]) if "id" in payload else None
    requested = _requested_outputs(payload.get("outputs"), predictor)
    rows = _rows_from_tensors([_tensor(t, i) for i, t in enumerate(tensors)], predictor, plane.settings.max_rows)
    prediction = plane.predict(predictor, rows)
    g.rows = len(prediction.results)
    outputs = _outputs(predictor, prediction.results)
    if requested is not None:
        by_name = {o["name"]: o for o in outputs}
        outputs = [by_name[n] for n in requested]
    body: dict[str, Any] = {
        "model_name": predictor.name,
        "model_version": predictor.version,
        "outputs": outputs,
    }
    if echo_id is not None:
        body["id"] = echo_id
    return jsonify(body)


def _request_id(value: Any) -> str:
    """Return the request's `id` to echo: a string of at most `MAX_ID_CHARS` characters, else 400."""
    # Echoed verbatim, so anything else would let a client make the response as large and deep as its request.
    if not isinstance(value, str):
        raise malformed("invalid_id", f"'id' must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_CHARS:
        raise malformed("invalid_id", f"'id' must be at most {MAX_ID_CHARS} characters, got {len(value)}")
    return value


def _check_parameters(parameters: Any, where: str) -> None:
    """Refuse a `parameters` member that is not an object, or that asks for an extension not implemented."""
    if parameters is None:
        return
    if not isinstance(parameters, dict):
        raise malformed("invalid_parameters", f"{where} must be an object")
    for key in UNSUPPORTED_PARAMETERS:
        if parameters.get(key) not in (None, False, 0):
            raise malformed("unsupported_parameter", f"{where}.{key}: this server does not implement that extension")


def _output_names(predictor: Predictor) -> list[str]:
    return ["predict"] if predictor.task == "regression" else ["predict", "predict_proba"]


def _requested_outputs(raw: Any, predictor: Predictor) -> list[str] | None:
    """Return the output names a request asks for, in its order (None: all of them)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise malformed("invalid_outputs", "'outputs' must be a non-empty array of {\"name\": ...} objects")
    names: list[str] = []
    known = _output_names(predictor)
    for i, item in enumerate(raw):
        where = f"outputs[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise malformed("invalid_outputs", f"{where} must be an object with a string 'name'")
        _check_parameters(item.get("parameters"), f"{where}.parameters")
        if item["name"] not in known:
            raise malformed(
                "unknown_output", f"{where}: no output named {item['name'][:100]!r}; this model has {known}"
            )
        if item["name"] in names:
            raise malformed("invalid_outputs", f"{where}: output {item['name']!r} is requested twice")
        names.append(item["name"])
    return names


def _tensor(raw: Any, index: int) -> dict[str, Any]:
    """Check one input tensor's envelope; return it with `data` flattened."""
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise malformed("invalid_inputs", f"{where} must be an object with name, shape, datatype and data")
    for key in ("name", "shape", "datatype", "data"):
        if key not in raw:
            raise malformed("invalid_inputs", f"{where} has no {key!r}")
    name, shape, datatype, data = raw["name"], raw["shape"], raw["datatype"], raw["data"]
    if not isinstance(name, str):
        raise malformed("invalid_inputs", f"{where}.name must be a string")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise malformed("invalid_inputs", f"{where}.shape must be a non-empty array of non-negative integers")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise malformed("invalid_inputs", f"{where}.datatype {datatype!r} is not a V2 datatype")
    if not isinstance(data, list):
        raise malformed("invalid_inputs", f"{where}.data must be an array")
    _check_parameters(raw.get("parameters"), f"{where}.parameters")
    flat = _flatten(data, where)
    if _size(shape, cap=len(flat) + 1) != len(flat):
        shown = str(shape) if len(shape) <= 8 else f"[{', '.join(map(str, shape[:8]))}, ...]"
        raise ApiError(422, "shape_mismatch", f"{where} has {len(flat)} values, which does not fit shape {shown}")
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def _size(shape: list[int], cap: int) -> int:
    """Return the number of values `shape` holds, or `cap` once it is known to reach it.

    Neither numpy's product (int64, wraps around) nor `math.prod` (exact, but quadratic on a body of
    huge dimensions) suits a shape a client wrote.
    """
    if 0 in shape:
        return 0
    size = 1
    for d in shape:
        size *= d
        if size >= cap:
            return cap
    return size


def _flatten(data: list[Any], where: str) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    for v in data:
        if isinstance(v, list):
            if any(isinstance(w, (list, dict)) for w in v):
                raise malformed("invalid_inputs", f"{where}.data nests deeper than two levels")
            flat.extend(v)
        else:
            flat.append(v)
    return flat


def _rows_from_tensors(tensors: list[dict[str, Any]], predictor: Predictor, max_rows: int) -> Any:
    """Return an encoded matrix (one [N, F] tensor) or records (one tensor per feature)."""
    import numpy as np

    width = predictor.preprocessor.n_columns
    if len(tensors) == 1 and len(tensors[0]["shape"]) == 2 and tensors[0]["shape"][1] != 1:
        t = tensors[0]
        n, f = t["shape"]
        if f != width:
            raise ApiError(422, "shape_mismatch", f"a preprocessed tensor needs shape [N, {width}], got {t['shape']}")
        if t["datatype"] not in NUMERIC_TYPES - {"BOOL"}:
            raise ApiError(422, "schema_violation", f"a preprocessed tensor must be numeric, got {t['datatype']}")
        check_rows(n, max_rows)
        values = t["data"]
        if not all(type(v) in (int, float) for v in values):
            raise ApiError(
                422, "schema_violation", "a preprocessed tensor holds numbers only (NaN as null is not allowed)"
            )
        matrix = np.asarray(values, dtype=np.float64)
        if not np.isfinite(matrix).all():
            raise ApiError(422, "non_finite_number", "a preprocessed tensor holds finite numbers only")
        if (np.abs(matrix) > FLOAT32_MAX).any():
            raise ApiError(422, "schema_violation", "a preprocessed tensor holds a value outside the float32 range")
        return matrix.astype(np.float32).reshape(n, f)
    sizes = {t["shape"][0] for t in tensors}
    for t in tensors:
        if len(t["shape"]) > 2 or (len(t["shape"]) == 2 and t["shape"][1] != 1):
            raise ApiError(422, "shape_mismatch", f"feature tensor {t['name']!r} must have shape [N] or [N, 1]")
    if len(sizes) != 1:
        raise ApiError(422, "shape_mismatch", f"feature tensors disagree on the row count: {sorted(sizes)}")
    names = [t["name"] for t in tensors]
    if len(set(names)) != len(names):
        raise malformed("invalid_inputs", "two input tensors have the same name")
    n = sizes.pop()
    check_rows(n, max_rows)
    records: list[dict[str, Any]] = [{} for _ in range(n)]
    for t in tensors:
        name = t["name"]
        for record, value in zip(records, t["data"], strict=True):
            record[name] = value
    return records


def _label_type(predictor: Predictor) -> str:
    if predictor.task == "regression":
        return "FP32"
    return "INT64" if all(type(c) is int for c in predictor.classes) else "BYTES"


def _outputs(predictor: Predictor, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the V2 output tensors built from `/predict`-shaped results."""
    n = len(results)
    if predictor.task == "regression":
        return [{"name": "predict", "datatype": "FP32", "shape": [n], "data": [r["value"] for r in results]}]
    if predictor.task == "binary":
        proba = [[1.0 - r["probability"], r["probability"]] for r in results]
    else:
        proba = [list(r["probabilities"].values()) for r in results]
    return [
        {"name": "predict", "datatype": _label_type(predictor), "shape": [n], "data": [r["label"] for r in results]},
        {
            "name": "predict_proba",
            "datatype": "FP32",
            "shape": [n, len(proba[0])],
            "data": [p for row in proba for p in row],
        },
    ]
