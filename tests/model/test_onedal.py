"""The model.json -> oneDAL builder: identical to daal4py.mb.convert_model, and free of xgboost/scikit-learn imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.backends import NAN_FREE_MIN_ROWS, Daal4pyBackend, XGBoostBackend
from model.bundle import MODEL_FILE, load_bundle
from model.errors import BundleIntegrityError
from model.onedal import build_model
from model.pipeline import TrainResult
from model.store import FileStore
from tests.conftest import mixed_frame


def encoded(store: Path, name: str) -> tuple[bytes, np.ndarray, str, int]:
    from model.predictor import Predictor

    predictor = Predictor.load(store.as_uri(), name)
    x = predictor.preprocessor.transform_frame(mixed_frame(rows=400, seed=5))
    n_classes = len(predictor.classes) if predictor.task == "multiclass" else 2
    return load_bundle(FileStore(store), name).files[MODEL_FILE], x, predictor.task, n_classes


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_builder_matches_convert_model_exactly(trained: dict[str, tuple[Path, TrainResult]], task: str) -> None:
    import daal4py

    from model.backends import load_booster
    from model.convert import converted_outputs

    model_json, x, task_name, n_classes = encoded(trained[task][0], task)
    official = daal4py.mb.convert_model(load_booster(model_json))
    ours = Daal4pyBackend(model_json, task_name, n_classes).outputs(x)
    np.testing.assert_array_equal(ours, converted_outputs(official, task_name, x))
    built = build_model(model_json)
    assert (built.task, built.n_features) == (task_name, x.shape[1])


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_explanations_are_xgboosts_treeshap(trained: dict[str, tuple[Path, TrainResult]], task: str) -> None:
    model_json, x, task_name, n_classes = encoded(trained[task][0], task)
    ours = Daal4pyBackend(model_json, task_name, n_classes).contributions(x[:50])
    theirs = XGBoostBackend(model_json, task_name, n_classes).contributions(x[:50])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_manifest_records_both_parities(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    manifest = trained["binary"][1].manifest
    assert manifest["parity"]["max_abs_diff"] <= 1e-5
    assert manifest["parity_convert_model"]["max_abs_diff"] <= 1e-5


def test_serving_imports_neither_xgboost_nor_sklearn(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    store, _ = trained["binary"]
    code = (
        "import sys\n"
        "from model.predictor import Predictor\n"
        f"p = Predictor.load({store.as_uri()!r}, 'binary')\n"
        "p.predict([{'x1': 0.1, 'x2': 1.0, 'color': 'red', 'size': 'M'}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('xgboost', 'sklearn', 'scipy'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_core_loaded_without_pandas_predicts_the_same(
    trained: dict[str, tuple[Path, TrainResult]], task: str, tmp_path: Path
) -> None:
    """A fresh serving process loads the core with pandas hidden (a cold-start saving); same outputs, no pandas."""
    model_json, x, task_name, n_classes = encoded(trained[task][0], task)
    expected = Daal4pyBackend(model_json, task_name, n_classes).outputs(x)  # this process has pandas: full core
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "model.json").write_bytes(model_json)
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from model.backends import Daal4pyBackend\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"model_json = open({str(tmp_path / 'model.json')!r}, 'rb').read()\n"
        f"out = Daal4pyBackend(model_json, {task_name!r}, {n_classes}).outputs(x)\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{}", "not an XGBoost model"),
        (
            b'{"learner": {"learner_model_param": {}, "objective": {"name": "x"},'
            b' "gradient_booster": {"name": "dart", "model": {"trees": []}}}}',
            "only gbtree",
        ),
    ],
)
def test_unusable_model_json(raw: bytes, message: str) -> None:
    with pytest.raises(BundleIntegrityError, match=message):
        build_model(raw)


@pytest.mark.parametrize(
    ("objective", "n_classes"), [("binary:logistic", 2), ("reg:squarederror", 0), ("multi:softprob", 3)]
)
def test_nan_free_inputs_read_missing_values_as_xgboost_does(objective: str, n_classes: int) -> None:
    """The NaN-free input (defaults as +-inf, a column with splits of both defaults given twice) changes no output."""
    import xgboost as xgb

    from model.backends import load_booster
    from model.onedal import daal4py_core

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5)).astype(np.float32)
    label = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.float32)
    if n_classes == 3:
        label += x[:, 3] > 1
    x[rng.random(x.shape) < 0.3] = np.nan  # missing everywhere: splits learn both default directions
    params = {"objective": objective, "max_depth": 4, "nthread": 1, "seed": 1}
    if n_classes == 3:
        params["num_class"] = 3
    model_json = bytes(xgb.train(params, xgb.DMatrix(x, label, missing=np.nan), 40).save_raw("json"))
    built = build_model(model_json, nan_free=True)
    assert built.inputs is not None and built.inputs.copies, "expected a column with splits of both defaults"
    model_input = built.inputs.apply(x)
    assert model_input.shape == (len(x), 5 + len(built.inputs.copies)) and not np.isnan(model_input).any()

    task = {"binary:logistic": "binary", "reg:squarederror": "regression", "multi:softprob": "multiclass"}[objective]
    plain = build_model(model_json)
    core = daal4py_core()

    def daal_outputs(model: object, matrix: np.ndarray) -> np.ndarray:
        if task == "regression":
            return np.asarray(core.gbt_regression_prediction(fptype="float").compute(matrix, model).prediction)
        algo = core.gbt_classification_prediction(
            nClasses=max(n_classes, 2), fptype="float", resultsToEvaluate="computeClassProbabilities"
        )
        return np.asarray(algo.compute(matrix, model).probabilities)

    np.testing.assert_array_equal(daal_outputs(built.model, model_input), daal_outputs(plain.model, x))
    backend = Daal4pyBackend(model_json, task, max(n_classes, 2), threads=1)
    served = backend.outputs(x)  # a batch this large is predicted on the NaN-free form
    reference = XGBoostBackend.from_booster(load_booster(model_json), task, max(n_classes, 2)).outputs(x)
    np.testing.assert_allclose(served, reference, atol=1e-5)
    small = np.ascontiguousarray(x[: NAN_FREE_MIN_ROWS // 2])  # a small batch: the model that reads NaN itself
    plain_small = daal_outputs(plain.model, small)
    np.testing.assert_array_equal(
        backend.outputs(small), plain_small[:, 1] if task == "binary" else plain_small.squeeze()
    )
    np.testing.assert_allclose(backend.outputs(small), served[: len(small)], atol=1e-6)
