"""`POST /predict` and `POST /explain`: raw records as JSON or CSV in, the DESIGN.md response shape out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, jsonify, request

from api.errors import ApiError
from api.inputs import CSV_TYPES, JSON_TYPES, csv_records, instances_of, media_type, parse_json, read_body
from api.services import services
from api.settings import Settings

if TYPE_CHECKING:
    from model.predictor import Predictor

bp = Blueprint("predict", __name__)


def unsupported_media(mt: str, allowed: tuple[str, ...]) -> ApiError:
    """Return the 415 for a content type the route does not take."""
    return ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {mt[:100] or '(none)'!r} is not supported; use {' or '.join(allowed)}",
    )


def request_records(predictor: Predictor, settings: Settings | None = None) -> list[Any]:
    """Return the request's rows as records: JSON `{"instances": [...]}` or CSV with a header row."""
    settings = settings or services().settings
    mt = media_type(request)
    if mt in JSON_TYPES:
        return instances_of(parse_json(read_body(request)), settings.max_rows)
    if mt in CSV_TYPES:
        return csv_records(read_body(request), predictor.schema, settings.max_rows)
    raise unsupported_media(mt, JSON_TYPES + CSV_TYPES)


def model_ref(predictor: Predictor) -> dict[str, str]:
    """Return the `model` member of responses."""
    return {"name": predictor.name, "version": predictor.version}


@bp.post("/predict")
def predict() -> Response:
    """Predict each row."""
    svc = services()
    predictor = svc.state.predictor
    records = request_records(predictor, svc.settings)
    results = predictor.predict(records, ignore_unknown=svc.settings.ignore_unknown_features)
    g.rows = len(results)
    return jsonify({"model": model_ref(predictor), "predictions": results})


@bp.post("/explain")
def explain() -> Response:
    """Return per-feature SHAP contributions (one-hot columns summed to their feature) and the bias."""
    predictor = services().state.predictor
    records = request_records(predictor)
    explanations = predictor.explain(records, ignore_unknown=services().settings.ignore_unknown_features)
    g.rows = len(explanations)
    return jsonify({"model": model_ref(predictor), "explanations": explanations})
