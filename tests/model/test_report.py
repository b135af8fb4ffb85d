"""The bundle's report/: metrics.json and real, decodable PNG plots, checksummed like every other file."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from model import bundle as bundle_io
from model.errors import BundleIntegrityError
from model.pipeline import TrainResult
from model.report import (
    CALIBRATION_FILE,
    DPI,
    FIGSIZE,
    IMPORTANCE_FILE,
    LEARNING_CURVE_FILE,
    PR_FILE,
    ROC_FILE,
)
from model.store import FileStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVERY_TASK = {IMPORTANCE_FILE, LEARNING_CURVE_FILE}
BINARY_ONLY = {ROC_FILE, PR_FILE, CALIBRATION_FILE}


def _bundle(trained: dict[str, tuple[Path, TrainResult]], task: str) -> bundle_io.Bundle:
    store, result = trained[task]
    return bundle_io.load_bundle(FileStore(store), result.name, result.version)


@pytest.mark.parametrize(
    ("task", "plots"),
    [("binary", EVERY_TASK | BINARY_ONLY), ("multiclass", EVERY_TASK), ("regression", EVERY_TASK)],
)
def test_report_files_are_valid_pngs_listed_in_the_manifest(
    trained: dict[str, tuple[Path, TrainResult]], task: str, plots: set[str]
) -> None:
    bundle = _bundle(trained, task)
    report = {f for f in bundle.manifest["files"] if f.startswith(bundle_io.REPORT_PREFIX)}
    assert report == plots | {bundle_io.METRICS_FILE}
    width, height = (round(side * DPI) for side in FIGSIZE)
    for name in plots:
        data = bundle.files[name]
        assert data[:8] == PNG_SIGNATURE, name
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert image.shape[:2] == (height, width), name
        # Not a blank canvas: a plot has many distinct colours (lines, text, bars).
        assert len({tuple(px) for px in image.reshape(-1, image.shape[2])[::97]}) > 10, name


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_metrics_json_keeps_its_keys_and_sums_importance_per_raw_feature(
    trained: dict[str, tuple[Path, TrainResult]], task: str
) -> None:
    bundle = _bundle(trained, task)
    summary = bundle.json(bundle_io.METRICS_FILE)
    assert {"metrics", "thresholds", "learning_curve"} <= set(summary)
    assert summary["metrics"] == bundle.manifest["metrics"]
    assert set(summary["plots"]) == {f for f in bundle.files if f.endswith(".png")}
    importance = summary["feature_importance"]
    assert importance["type"] == "total_gain"
    # One entry per raw feature: the one-hot columns of `color` and `size` are summed back.
    assert set(importance["by_feature"]) == {f.name for f in bundle.schema.features}
    assert importance["by_feature"]["x1"] > 0  # the strongest signal in mixed_frame
    metric = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}[task]
    curves = summary["learning_curve"]
    assert set(curves) == {f"train_{metric}", f"valid_{metric}"}
    assert len(curves[f"valid_{metric}"]) >= bundle.manifest["trees"]["rounds"]


def test_importance_adds_the_one_hot_columns_gains(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    import xgboost as xgb

    from model.preprocess import Preprocessor
    from model.report import importance_by_feature

    bundle = _bundle(trained, "binary")
    booster = xgb.Booster()
    booster.load_model(bytearray(bundle.files[bundle_io.MODEL_FILE]))
    preprocessor = Preprocessor.from_dict(bundle.json(bundle_io.PREPROCESSOR_FILE))
    gains = booster.get_score(importance_type="total_gain")
    by_feature = importance_by_feature(booster, preprocessor)
    assert sum(by_feature.values()) == pytest.approx(sum(gains.values()))  # type: ignore[arg-type]
    color_columns = [i for i, c in enumerate(preprocessor.columns) if c.startswith("color=")]
    assert len(color_columns) == 3
    assert by_feature["color"] == pytest.approx(sum(gains.get(f"f{i}", 0.0) for i in color_columns))  # type: ignore[misc]
    assert list(by_feature.values()) == sorted(by_feature.values(), reverse=True)


def test_a_tampered_plot_is_refused(trained: dict[str, tuple[Path, TrainResult]], tmp_path: Path) -> None:
    source, result = trained["binary"]
    shutil.copytree(source, tmp_path / "store")
    plot = tmp_path / "store" / "binary" / result.version / ROC_FILE
    plot.write_bytes(plot.read_bytes()[:-10] + b"\x00" * 10)
    with pytest.raises(BundleIntegrityError, match=r"report/roc\.png: checksum mismatch"):
        bundle_io.load_bundle(FileStore(tmp_path / "store"), "binary", result.version)


def test_serving_never_imports_matplotlib(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    store, _ = trained["binary"]
    script = f"""
import json, sys
import api.app
from model.predictor import Predictor
p = Predictor.load({store.as_uri()!r}, "binary")
p.predict([{{"x1": 0.5, "x2": 3.0, "color": "red", "size": "M"}}])
print(json.dumps(sorted(m for m in ("matplotlib", "sklearn.calibration", "dask") if m in sys.modules)))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
