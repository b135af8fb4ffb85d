"""Build the oneDAL (daal4py) model straight from XGBoost's `model.json`, for a fast cold start.

`daal4py.mb.convert_model` needs a live `xgboost.Booster`, and `import daal4py` runs `daal4py.mb`,
which imports scikit-learn: together about 5 s before the first prediction. Serving needs neither:
this module loads only daal4py's compiled core and feeds its GBT model builders the trees read from
the bundle's JSON, following the same rules as `daal4py.mb.gbt_convertors` (thresholds moved to the
next float32 below, because XGBoost splits on `x < t` and oneDAL on `x <= t`; vector base scores of
multiclass models added to the first trees' leaves). Tests check the result against `convert_model`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import re
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from model.errors import BundleIntegrityError

# Loaded under a top-level name: as "daal4py._daal4py" its Cython init tries the implicit relative
# import "daal4py.numpy" first, which runs the package __init__ and so scikit-learn.
_CORE_NAME = "_daal4py"


def daal4py_core() -> ModuleType:
    """Return daal4py's compiled core (model builders and prediction algorithms) without scikit-learn.

    If the full `daal4py` package is already imported (training does), its core is reused.
    """
    loaded = sys.modules.get("daal4py")
    if loaded is not None and hasattr(loaded, "gbt_clf_model_builder"):
        return loaded
    core = sys.modules.get(_CORE_NAME)
    if core is not None:
        return core
    spec = importlib.util.find_spec("daal4py")  # locates the package without executing its __init__
    if spec is None or spec.origin is None:
        raise ImportError("daal4py is not installed (it ships in scikit-learn-intelex)")
    folder = Path(spec.origin).parent
    candidates = sorted(folder.glob("_daal4py.*"))
    if not candidates:
        raise ImportError(f"daal4py's compiled core was not found in {folder}")
    core_spec = importlib.util.spec_from_file_location(_CORE_NAME, candidates[0])
    if core_spec is None or core_spec.loader is None:
        raise ImportError(f"cannot load {candidates[0]}")
    core = importlib.util.module_from_spec(core_spec)
    # The core imports pandas as it initialises, only to accept DataFrames in `compute()`; serving passes
    # numpy arrays, and pandas is ~0.5 s of a cold start. If nothing has imported pandas yet, it is hidden
    # for the load (a failed import the core tolerates), so this core, for the rest of the process, takes
    # no DataFrames. A process that imported pandas first (training does) gets the full core.
    hide_pandas = "pandas" not in sys.modules
    if hide_pandas:
        sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        core_spec.loader.exec_module(core)
    finally:
        if hide_pandas and sys.modules.get("pandas", False) is None:
            del sys.modules["pandas"]
    sys.modules[_CORE_NAME] = core
    return core


# oneDAL's `daal::CpuType` (services/env_detect.h): the kernel family its dispatcher runs on this CPU.
CPU_TYPES = {0: "sse2", 2: "sse42", 4: "avx2", 6: "avx512"}
# oneDAL's internal `daal::internal::CpuFeature` bits, as `daal_serv_cpu_feature_detect()` returns them.
CPU_FEATURES = {
    1 << 0: "speedstep",
    1 << 1: "turbo_boost",
    1 << 2: "avx512_bf16",
    1 << 3: "avx512_vnni",
    1 << 4: "turbo_boost_3",
}
# Exported C++ symbols of libonedal_core (Itanium mangling, stable for these plain signatures):
# daal::services::Environment::getInstance(), Environment::getCpuId(int), daal_serv_cpu_feature_detect(),
# daal_check_is_intel_cpu(). daal4py does not wrap them; ctypes reaches them in the library it already loaded.
_GET_INSTANCE = "_ZN4daal8services10interface111Environment11getInstanceEv"
_GET_CPU_ID = "_ZN4daal8services10interface111Environment8getCpuIdEi"
_FEATURES = "_Z28daal_serv_cpu_feature_detectv"
_IS_INTEL = "_Z23daal_check_is_intel_cpuv"


def dispatch_info(load: bool = True) -> dict[str, object] | None:
    """Return what oneDAL itself reports here: its version, the CPU code path its dispatcher chose, threads.

    `dispatch` is oneDAL's `Environment::getCpuId()` ("avx512", "avx2", "sse42", "sse2"): the kernels every
    daal4py call in this process runs. oneDAL chooses AVX-512 only on Intel CPUs (its `__daal_serv_cpu_detect`
    checks the vendor), so an AMD CPU with AVX-512 gets "avx2". `features` are the extras oneDAL detected
    (it detects them on Intel CPUs only). With `load=False`, None unless daal4py's core is already loaded
    (a process serving through XGBoost or a SageMaker endpoint need not pay for loading it).
    """
    if not load and sys.modules.get(_CORE_NAME) is None and "daal4py" not in sys.modules:
        return None
    try:
        core = daal4py_core()
    except ImportError as exc:
        return {"error": str(exc)}
    # `_get__version__()` answers a string such as "(2026, 2, 0, '\"P\"')": the runtime library's version.
    numbers = re.findall(r"\d+", str(core._get__version__()))[:3]
    info: dict[str, object] = {
        "version": ".".join(numbers) or "unknown",
        "run_version": str(core._get__daal_run_version__()),
        "threads": int(core.num_threads()),
    }
    library = _loaded_library("libonedal_core")
    if library is None:
        info["dispatch_error"] = "libonedal_core is not mapped in this process (not Linux?)"
        return info
    try:
        lib = ctypes.CDLL(library)
        get_instance = getattr(lib, _GET_INSTANCE)
        get_instance.restype = ctypes.c_void_p
        get_cpu_id = getattr(lib, _GET_CPU_ID)
        get_cpu_id.restype, get_cpu_id.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]
        features = getattr(lib, _FEATURES)
        features.restype = ctypes.c_uint64
        is_intel = getattr(lib, _IS_INTEL)
        is_intel.restype = ctypes.c_bool
    except (OSError, AttributeError) as exc:
        info["dispatch_error"] = f"oneDAL's CPU detection is not exported by {library} ({exc})"
        return info
    cpu_id = int(get_cpu_id(get_instance(), 0))
    bits = int(features())
    info["dispatch"] = CPU_TYPES.get(cpu_id, f"unknown ({cpu_id})")
    info["features"] = [name for bit, name in CPU_FEATURES.items() if bits & bit]
    info["intel_cpu"] = bool(is_intel())
    info["library"] = library
    return info


def _loaded_library(stem: str, maps: Path = Path("/proc/self/maps")) -> str | None:
    """Return the path of a shared library this process has mapped whose name starts with `stem`."""
    try:
        text = maps.read_text()
    except OSError:
        return None
    match = re.search(rf"(/\S*/{re.escape(stem)}\.so[.\d]*)$", text, re.MULTILINE)
    return match.group(1) if match else None


@dataclass(frozen=True)
class NanFreeInputs:
    """How a matrix with missing values (NaN) becomes one without, that every split reads as XGBoost reads NaN.

    oneDAL predicts about a third faster on a matrix that holds no NaN (it then skips its missing-value checks).
    XGBoost sends a missing value the split's learned default way; the model is built to read `x <= t` (see
    `_add_tree`), so -inf goes left at every split and +inf right, and no finite value is ever either (requests are
    refused non-finite numbers; an infinity in an encoded matrix stays what it was). A column whose splits all
    default left reads NaN as -inf, one whose splits all default right as +inf. A column with splits of both kinds
    is given to the model twice: its default-left splits read the column with -inf, its default-right splits a copy
    appended after the last column, with +inf.
    """

    fill: np.ndarray
    """float32, one per column the model reads (the appended copies last): what a NaN there becomes."""
    copies: tuple[int, ...]
    """The input columns appended once more, in order."""

    @property
    def width(self) -> int:
        """Return the number of columns the model reads."""
        return len(self.fill)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return `x` (C-contiguous float32) as the model reads it: the copies appended, NaN replaced."""
        owned = bool(self.copies)
        if owned:
            x = np.concatenate([x, x[:, self.copies]], axis=1)
        missing = np.isnan(x)
        if not missing.any():
            return x
        if owned:
            np.copyto(x, self.fill, where=missing)
            return x
        return np.where(missing, self.fill, x)


@dataclass(frozen=True)
class OneDalModel:
    """A oneDAL GBT model and what prediction needs to know about it."""

    model: Any
    task: str
    n_classes: int
    n_features: int
    """The width of the encoded matrix (XGBoost's `num_feature`)."""
    inputs: NanFreeInputs | None = None
    """With `nan_free`, how the encoded matrix becomes the model's NaN-free input (see `NanFreeInputs`)."""


def nan_free_inputs(trees: list[dict[str, Any]], n_features: int) -> NanFreeInputs:
    """Return the `NanFreeInputs` of a booster's trees: per column, where its splits send a missing value."""
    left = np.zeros(n_features, dtype=bool)
    right = np.zeros(n_features, dtype=bool)
    for tree in trees:
        children = np.asarray(tree["left_children"]) != -1
        features = np.asarray(tree["split_indices"], dtype=np.intp)[children]
        default_left = np.asarray(tree["default_left"], dtype=bool)[children]
        left[features[default_left]] = True
        right[features[~default_left]] = True
    copies = tuple(int(c) for c in np.flatnonzero(left & right))
    fill = np.where(right & ~left, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    fill = np.concatenate([fill, np.full(len(copies), np.inf, dtype=np.float32)])
    return NanFreeInputs(fill=fill, copies=copies)


def build_model(model_json: bytes, nan_free: bool = False) -> OneDalModel:
    """Build the oneDAL model from XGBoost JSON bytes (a `gbtree` booster).

    With `nan_free`, the model reads the matrix `OneDalModel.inputs.apply` makes of the encoded one (no NaN).
    """
    trees = _trees(model_json)
    return _build(trees, nan_free_inputs(trees["trees"], trees["n_features"]) if nan_free else None)


def build_models(model_json: bytes) -> tuple[OneDalModel, OneDalModel]:
    """Return the model that reads the encoded matrix, and the one that reads its NaN-free form (see `NanFreeInputs`).

    Where no column needs a copy the two are one oneDAL model (the NaN-free form only replaces NaN).
    """
    trees = _trees(model_json)
    plain = _build(trees, None)
    inputs = nan_free_inputs(trees["trees"], trees["n_features"])
    if not inputs.copies:
        return plain, OneDalModel(plain.model, plain.task, plain.n_classes, plain.n_features, inputs)
    return plain, _build(trees, inputs)


def _trees(model_json: bytes) -> dict[str, Any]:
    """Return what building needs from XGBoost JSON: trees, task, classes, iterations, base score, width."""
    try:
        learner = json.loads(model_json)["learner"]
        params = learner["learner_model_param"]
        objective = learner["objective"]["name"]
        booster = learner["gradient_booster"]
        trees = booster["model"]["trees"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"model.json is not an XGBoost model ({exc})") from None
    if booster.get("name") != "gbtree":
        raise BundleIntegrityError(f"only gbtree boosters can be served, got {booster.get('name')!r}")
    n_features = int(params["num_feature"])
    n_classes = int(params["num_class"])
    base_score = _base_score(params["base_score"], objective)
    if objective.startswith("multi:"):
        task, n_iterations = "multiclass", len(trees) // n_classes
    elif objective in ("binary:logistic", "binary:logitraw"):
        task, n_classes, n_iterations = "binary", 2, len(trees)
        if objective == "binary:logitraw":
            base_score = float(1 / (1 + np.exp(-base_score)))  # type: ignore[operator]
    else:
        task, n_iterations = "regression", len(trees)
    return {
        "trees": trees,
        "task": task,
        "n_classes": n_classes,
        "n_iterations": n_iterations,
        "base_score": base_score,
        "n_features": n_features,
    }


def _build(parsed: dict[str, Any], inputs: NanFreeInputs | None) -> OneDalModel:
    """Feed the trees to oneDAL's model builder; with `inputs`, for the NaN-free matrix they describe."""
    core = daal4py_core()
    task, n_classes, n_iterations = parsed["task"], parsed["n_classes"], parsed["n_iterations"]
    base_score, n_features = parsed["base_score"], parsed["n_features"]
    # A default-right split on a column that also has default-left splits reads the column's appended copy.
    copy_of = {c: n_features + k for k, c in enumerate(inputs.copies)} if inputs else {}
    width = inputs.width if inputs else n_features
    if task == "regression":
        builder = core.gbt_reg_model_builder(n_features=width, n_iterations=n_iterations)
    else:
        builder = core.gbt_clf_model_builder(n_features=width, n_iterations=n_iterations, n_classes=n_classes)
    class_label = 0
    for counter, tree in enumerate(parsed["trees"], start=1):
        # As daal4py.mb does: a vector base score (multiclass, XGBoost >= 3.1) goes into the first trees.
        intercept = base_score[counter - 1] if isinstance(base_score, list) and counter <= n_classes else 0.0
        _add_tree(builder, tree, task, class_label, intercept, copy_of)
        if counter % n_iterations == 0:
            class_label += 1
    model = builder.model(base_score=base_score if isinstance(base_score, float) else None)
    return OneDalModel(model=model, task=task, n_classes=n_classes, n_features=n_features, inputs=inputs)


def _base_score(raw: str, objective: str) -> float | list[float]:
    """Return the base score in the link scale, as daal4py's converter does."""
    value: float | list[float]
    if raw.startswith("["):
        values = [float(v) for v in json.loads(raw)]
        value = values[0] if len(values) == 1 else (values or 0.5)
    else:
        value = float(raw)
    if isinstance(value, float):
        if objective in ("count:poisson", "reg:gamma", "reg:tweedie", "survival:aft"):
            value = float(np.log(value))
        elif objective == "reg:logistic":
            value = float(np.log(value / (1 - value)))
    return value


def _add_tree(
    builder: Any, tree: dict[str, Any], task: str, class_label: int, intercept: float, copy_of: dict[int, int]
) -> None:
    left, right = tree["left_children"], tree["right_children"]
    conditions, features = tree["split_conditions"], tree["split_indices"]
    default_left, cover = tree["default_left"], tree["sum_hessian"]
    if any(tree.get("split_type", [])):
        raise BundleIntegrityError("categorical splits are not supported by oneDAL")
    n_nodes = len(left)
    tree_id = (
        builder.create_tree(n_nodes)
        if task == "regression"
        else builder.create_tree(n_nodes=n_nodes, class_label=class_label)
    )
    if left[0] == -1:
        builder.add_leaf(tree_id=tree_id, response=float(conditions[0]) + intercept, cover=float(cover[0]))
        return
    queue: deque[tuple[int, int, int]] = deque([(0, -1, -1)])
    while queue:
        node, parent, position = queue.popleft()
        where = {} if parent == -1 else {"parent_id": parent, "position": position}
        if left[node] == -1:
            builder.add_leaf(
                tree_id=tree_id, response=float(conditions[node]) + intercept, cover=float(cover[node]), **where
            )
            continue
        feature = int(features[node])
        if not default_left[node]:
            feature = copy_of.get(feature, feature)
        split_id = builder.add_split(
            tree_id=tree_id,
            feature_index=feature,
            feature_value=float(np.nextafter(np.float32(conditions[node]), np.float32(-np.inf))),
            cover=float(cover[node]),
            default_left=bool(default_left[node]),
            **where,
        )
        queue.append((left[node], split_id, 0))
        queue.append((right[node], split_id, 1))
