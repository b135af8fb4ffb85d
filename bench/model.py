"""Model part: microseconds per call of Treeport's Predictor against XGBoost itself, one thread, in one process.

Per batch size, these ways to answer the same rows:
  - `predictor_records`: `Predictor.predict` on raw records (list of dicts: validation, preprocessing, daal4py,
    result dicts), what `/predict` does after JSON parsing;
  - `predictor_columns`: `Predictor.predict` on the same rows as columns (feature -> list of values), what
    `/predict` does after parsing a columnar body (`dataframe_split`, column-major `inputs`, CSV, Arrow);
  - `predictor_columns_arrays`: `Predictor.predict_batch` on those columns: the same work but for the result
    dicts, which the HTTP layer does not make (it writes JSON, CSV or Arrow from the output arrays);
  - `predictor_matrix`: `Predictor.predict` on the already-encoded float32 matrix (daal4py and result dicts);
    and, as a profile of those two, `daal4py_alone`: the backend's raw outputs on that matrix (so records minus
    matrix is the validation and preprocessing, matrix minus daal4py the result dicts);
  - `xgboost_inplace`: `Booster.inplace_predict` on that matrix, alone (no validation, no preprocessing);
  - `xgboost_dmatrix`: `Booster.predict(DMatrix(matrix))`, the common way.
Each is timed in blocks of calls, all interleaved round after round, and the best block of the rounds
counts (as `timeit` does: noise on a shared machine only ever adds time). `speedup_vs_inplace` is
inplace time / raw-record Predictor time, `speedup_vs_inplace.columnar` inplace time / columnar Predictor time, and
`speedup_vs_inplace.columnar_arrays` the same with `predict_batch`.
Each block is also timed in this process's CPU time (all its threads), which a busy machine's other work does
not add to while this process waits for a CPU: `cpu_us_per_call` and `cpu_speedup_vs_inplace` are the same
figures in it (both sides run one thread, so on a quiet machine the two agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import ModelUnderTest, print_table, records

BATCH_SIZES = (1, 10, 100, 1000, 10000)
METHODS = (
    "predictor_records",
    "predictor_columns",
    "predictor_columns_arrays",
    "predictor_matrix",
    "daal4py_alone",
    "xgboost_inplace",
    "xgboost_dmatrix",
)
LABELS = {
    "predictor_records": "Predictor, records",
    "predictor_columns": "Predictor, columns",
    "predictor_columns_arrays": "  to arrays",
    "predictor_matrix": "Predictor, matrix",
    "daal4py_alone": "  daal4py alone",
    "xgboost_inplace": "xgb inplace_predict",
    "xgboost_dmatrix": "xgb DMatrix+predict",
}


def _methods(predictor: Any, booster: Any, rows: list[dict[str, Any]], x: np.ndarray) -> dict[str, Callable[[], Any]]:
    """Return the ways of answering `rows` (encoded as `x`), each a call without arguments."""
    import xgboost as xgb

    columns = {name: [r[name] for r in rows] for name in rows[0]}

    def predictor_records() -> Any:
        return predictor.predict(rows)

    def predictor_columns() -> Any:
        return predictor.predict(columns)

    def predictor_columns_arrays() -> Any:
        return predictor.predict_batch(columns)

    def predictor_matrix() -> Any:
        return predictor.predict(x)

    def daal4py_alone() -> Any:
        return predictor.backend.outputs(x)

    def xgboost_inplace() -> Any:
        return booster.inplace_predict(x)

    def xgboost_dmatrix() -> Any:
        return booster.predict(xgb.DMatrix(x))

    return {
        "predictor_records": predictor_records,
        "predictor_columns": predictor_columns,
        "predictor_columns_arrays": predictor_columns_arrays,
        "predictor_matrix": predictor_matrix,
        "daal4py_alone": daal4py_alone,
        "xgboost_inplace": xgboost_inplace,
        "xgboost_dmatrix": xgboost_dmatrix,
    }


def _calls_for(fn: Callable[[], Any], budget_s: float, max_calls: int) -> int:
    """Return how many calls of `fn` fill about `budget_s` (after one warm-up call)."""
    fn()
    started = time.perf_counter()
    fn()
    once = max(time.perf_counter() - started, 1e-7)
    return max(1, min(max_calls, int(budget_s / once)))


def _block_us(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Return the mean microseconds per call over a block of `calls` calls: wall clock, and process CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


def run(
    mut: ModelUnderTest,
    quick: bool = False,
    rounds: int | None = None,
    budget_s: float | None = None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
) -> dict[str, Any]:
    """Time the four methods per batch size; print the table; return the `model` section of the report."""
    import xgboost as xgb

    from model.predictor import Predictor

    rounds = rounds or (3 if quick else 7)
    budget_s = budget_s if budget_s is not None else (0.01 if quick else 0.1)
    max_calls = 200 if quick else 20000

    predictor = Predictor.load(mut.store, mut.name, mut.version, backend="daal4py", threads=1)
    booster = xgb.Booster()
    booster.load_model(bytearray(mut.model_json.read_bytes()))
    booster.set_param({"nthread": 1})
    pool = records(max(batch_sizes), seed=11)
    matrix_all = predictor.encode(pool)

    per_call: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    cpu_per_call: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    medians: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    parity = 0.0
    for size in batch_sizes:
        rows = pool[:size]
        x = np.ascontiguousarray(matrix_all[:size])
        fns = _methods(predictor, booster, rows, x)
        ours = np.array([r["probability"] for r in predictor.predict(rows)])
        parity = max(parity, float(np.max(np.abs(ours - np.asarray(booster.inplace_predict(x)).ravel()))))
        calls = {m: _calls_for(fn, budget_s, max_calls) for m, fn in fns.items()}
        samples: dict[str, list[float]] = {m: [] for m in METHODS}
        cpu_samples: dict[str, list[float]] = {m: [] for m in METHODS}
        for r in range(rounds):
            order = METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]
            for m in order:
                wall, cpu = _block_us(fns[m], calls[m])
                samples[m].append(wall)
                cpu_samples[m].append(cpu)
        for m in METHODS:
            per_call[m][f"b{size}"] = min(samples[m])
            cpu_per_call[m][f"b{size}"] = min(cpu_samples[m])
            medians[m][f"b{size}"] = float(np.median(samples[m]))

    result = {
        "speedup_vs_inplace": _speedups(per_call, batch_sizes),
        "cpu_speedup_vs_inplace": _speedups(cpu_per_call, batch_sizes),
        "us_per_call": per_call,
        "cpu_us_per_call": cpu_per_call,
        "us_per_call_median": medians,
        "batch_sizes": list(batch_sizes),
        "threads": 1,
        "rounds": rounds,
        "block_budget_s": budget_s,
        "trees": mut.trees,
        "columns": mut.columns,
        "parity_max_abs_diff": parity,
    }
    print_report(result)
    return result


def _speedups(per_call: dict[str, dict[str, float]], batch_sizes: tuple[int, ...]) -> dict[str, Any]:
    """Return inplace time over the Predictor's, per batch size: on records, and (`columnar`) on columns."""
    inplace = per_call["xgboost_inplace"]
    speedup: dict[str, Any] = {f"b{s}": inplace[f"b{s}"] / per_call["predictor_records"][f"b{s}"] for s in batch_sizes}
    speedup["columnar"] = {f"b{s}": inplace[f"b{s}"] / per_call["predictor_columns"][f"b{s}"] for s in batch_sizes}
    speedup["columnar_arrays"] = {
        f"b{s}": inplace[f"b{s}"] / per_call["predictor_columns_arrays"][f"b{s}"] for s in batch_sizes
    }
    return speedup


def print_report(result: dict[str, Any]) -> None:
    """Print µs per call per method and batch size, and the speedup of the raw-record Predictor."""
    sizes = result["batch_sizes"]
    rows: list[list[Any]] = []
    for m in METHODS:
        rows.append([LABELS[m], *(result["us_per_call"][m][f"b{s}"] for s in sizes)])
    rows.append(["speedup vs inplace", *(result["speedup_vs_inplace"][f"b{s}"] for s in sizes)])
    rows.append(["  columnar", *(result["speedup_vs_inplace"]["columnar"][f"b{s}"] for s in sizes)])
    rows.append(["  columnar to arrays", *(result["speedup_vs_inplace"]["columnar_arrays"][f"b{s}"] for s in sizes)])
    rows.append(["  in CPU time", *(result["cpu_speedup_vs_inplace"][f"b{s}"] for s in sizes)])
    rows.append(["  columnar, CPU time", *(result["cpu_speedup_vs_inplace"]["columnar"][f"b{s}"] for s in sizes)])
    print_table(
        f"model: µs per call, one thread, {result['trees']} trees, {result['columns']} columns "
        f"(best of {result['rounds']} interleaved blocks)",
        ["rows per call", *(str(s) for s in sizes)],
        rows,
    )


def plot(result: dict[str, Any], path: Any) -> bool:
    """Write a log-log PNG of latency against batch size per engine; return False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = result["batch_sizes"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in METHODS:
        ax.plot(sizes, [result["us_per_call"][m][f"b{s}"] for s in sizes], marker="o", label=LABELS[m].strip())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows per call")
    ax.set_ylabel("µs per call (one thread)")
    ax.set_title(f"Latency vs batch size ({result['trees']} trees)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
