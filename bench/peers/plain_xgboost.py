"""A plain Flask + XGBoost server, written the way the seed's reference modules serve a model.

The booster is loaded once at start (the seed's Kubernetes module reloads it per request; that would only
make this peer slower). Each request: `request.get_json()`, a loop that writes the records into a float32
matrix in the model's column order (numeric columns, then `feature=category` one-hot columns, as read from
the bundle's `preprocessor.json`), `Booster.inplace_predict`, and `jsonify`. No validation.

`POST /frame` is the same model served the way a plain pandas app reads batches: the body becomes a DataFrame
(`pd.DataFrame(records)` for `{"instances": [...]}` or `{"dataframe_records": [...]}`, `pd.DataFrame(**split)` for
MLflow's `{"dataframe_split": {...}}`, `pd.read_csv` for CSV with a header, `pyarrow.ipc` then `to_pandas` for an
Arrow IPC stream, `pd.read_json(lines=True)` for JSON Lines), `pd.get_dummies` reindexed to the model's columns,
`inplace_predict`, `jsonify`. No validation.

Environment: `BENCH_MODEL_DIR` (a folder holding `model.json` and `preprocessor.json`) and `BENCH_THREADS`
(XGBoost threads per worker; default 1, so two workers on two CPUs do not oversubscribe them).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from flask import Flask, Response, abort, jsonify, request

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def create_app() -> Flask:
    """Return the app: `POST /predict` with `{"instances": [...]}` answers one label and probability per row."""
    folder = Path(os.environ["BENCH_MODEL_DIR"])
    booster = xgb.Booster()
    booster.load_model(str(folder / "model.json"))
    booster.set_param({"nthread": int(os.environ.get("BENCH_THREADS", "1"))})
    columns = json.loads((folder / "preprocessor.json").read_text())["columns"]
    index = {name: i for i, name in enumerate(columns)}
    app = Flask("plain_xgboost")

    @app.post("/predict")
    def predict() -> Response:
        instances = request.get_json()["instances"]
        x = np.zeros((len(instances), len(columns)), dtype=np.float32)
        for i, record in enumerate(instances):
            for key, value in record.items():
                if isinstance(value, str):
                    j = index.get(f"{key}={value}")
                    if j is not None:
                        x[i, j] = 1.0
                elif key in index:
                    x[i, index[key]] = np.nan if value is None else value
        probabilities = booster.inplace_predict(x)
        return jsonify({"predictions": [{"label": int(p >= 0.5), "probability": float(p)} for p in probabilities]})

    @app.post("/frame")
    def frame() -> Response:
        import pandas as pd

        data = read_frame(request.mimetype, request.get_data())
        x = pd.get_dummies(data, prefix_sep="=", dtype=np.float32).reindex(columns=columns, fill_value=0)
        probabilities = booster.inplace_predict(x.to_numpy(dtype=np.float32))
        return jsonify({"predictions": [{"label": int(p >= 0.5), "probability": float(p)} for p in probabilities]})

    return app


def read_frame(media_type: str, body: bytes) -> Any:
    """Return the body as a pandas DataFrame, read the way the pandas documentation shows for each format."""
    import pandas as pd

    if media_type == "text/csv":
        return pd.read_csv(io.BytesIO(body))
    if media_type == ARROW_STREAM:
        import pyarrow as pa

        return pa.ipc.open_stream(body).read_all().to_pandas()
    if media_type == "application/jsonlines":
        return pd.read_json(io.BytesIO(body), lines=True)
    payload = json.loads(body)
    if "dataframe_split" in payload:
        return pd.DataFrame(**payload["dataframe_split"])
    if "dataframe_records" in payload:
        return pd.DataFrame(payload["dataframe_records"])
    if "instances" in payload:
        return pd.DataFrame(payload["instances"])
    abort(400)
