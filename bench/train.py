"""Train part: Treeport's whole training pipeline against bare `xgboost.train`, same data, same parameters.

The synthetic credit-risk set (1,000,000 rows; fewer with --quick) is written to a Parquet file first (not timed).
  - pipeline: `run_training` on that file, from reading it to the published bundle: schema inference, split,
    preprocessing fit and transform, `xgboost.train` with early stopping, test metrics, gate, daal4py conversion,
    two parity checks, publish;
  - bare: what a user writes by hand: `pandas.read_parquet`, `get_dummies`, a seeded 70/15/15 split, `DMatrix`,
    and `xgboost.train` with the pipeline's parameters (threads and seed included) for exactly as many rounds
    as the pipeline trained before early stopping ended it, evaluating the validation set each round.
The two run alternately (twice each; once with --quick) and the medians count, since other work on a shared
machine can change a run's time several-fold. `overhead_ratio` = pipeline wall seconds / bare wall seconds (1
would be no overhead); `cpu_overhead_ratio` is the same in this process's CPU seconds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import print_table

TARGET_RATIO = 2.0


def bare_train(path: Path, target: str, params: dict[str, Any], rounds: int, seed: int) -> None:
    """Train the hand-written way, reading the file included."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    frame = pd.read_parquet(path)
    y = frame.pop(target).to_numpy(dtype=np.float32)
    x = pd.get_dummies(frame, dtype=np.float32).to_numpy(dtype=np.float32)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = n_valid = round(len(y) * 0.15)
    valid, train = order[n_test : n_test + n_valid], order[n_test + n_valid :]
    dtrain = xgb.DMatrix(x[train], label=y[train])
    dvalid = xgb.DMatrix(x[valid], label=y[valid])
    xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")], verbose_eval=False)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Return what `fn` returns, its wall seconds and this process's CPU seconds (all threads) while it ran."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run(scratch: Path, quick: bool = False, rows: int | None = None, repeats: int | None = None) -> dict[str, Any]:
    """Time both ways on the same file, alternately; print the table; return the `train` section of the report."""
    from model.bundle import METRICS_FILE, load_bundle
    from model.data import CREDIT_RISK_TARGET, DEFAULT_SEED, credit_risk
    from model.pipeline import TrainConfig, run_training
    from model.store import open_store

    rows = rows or (20_000 if quick else 1_000_000)
    repeats = repeats or (1 if quick else 2)
    scratch.mkdir(parents=True, exist_ok=True)
    data = scratch / f"credit-risk-{rows}.parquet"
    print(f"train: writing {rows:,} rows to {data.name} ...", flush=True)
    credit_risk(rows, seed=DEFAULT_SEED).to_parquet(data, index=False)

    pipeline: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    result: Any = None
    rounds_trained = 0
    params: dict[str, Any] = {}
    for rep in range(repeats):
        store = (scratch / f"train-store-{rep}").as_uri()
        print(f"train: pipeline, run {rep + 1} of {repeats} ...", flush=True)
        config = TrainConfig(store=store, data=str(data), target=CREDIT_RISK_TARGET)
        result, wall, cpu = timed(partial(run_training, config))
        pipeline.append((wall, cpu))
        if rep == 0:
            bundle = load_bundle(open_store(store), result.name, result.version)
            curves = json.loads(bundle.files[METRICS_FILE])["learning_curve"]
            rounds_trained = max(len(v) for v in curves.values())
            params = {
                k: v
                for k, v in bundle.manifest["params"].items()
                if k not in ("num_boost_round", "early_stopping_rounds")
            }
        print(f"train: bare xgboost.train, run {rep + 1} of {repeats} ...", flush=True)
        _, wall, cpu = timed(partial(bare_train, data, CREDIT_RISK_TARGET, params, rounds_trained, DEFAULT_SEED))
        bare.append((wall, cpu))

    pipeline_s = statistics.median(w for w, _ in pipeline)
    bare_s = statistics.median(w for w, _ in bare)
    out = {
        "overhead_ratio": pipeline_s / bare_s,
        "cpu_overhead_ratio": statistics.median(c for _, c in pipeline) / statistics.median(c for _, c in bare),
        "pipeline_s": pipeline_s,
        "bare_s": bare_s,
        "runs": {"pipeline": pipeline, "bare": bare},
        "rows": rows,
        "rounds_trained": rounds_trained,
        "trees_kept": int(result.manifest["trees"]["rounds"]),
        "pipeline_phases_s": result.seconds,
        "threads": params.get("nthread"),
        "quick": quick,
    }
    note = " (--quick: fewer rows than the 1,000,000 of the full run)" if quick else ""
    print_table(
        f"train: {rows:,} rows, {rounds_trained} rounds, {out['threads']} threads, median of {repeats} "
        f"alternating runs{note}",
        ["way", "wall s", "CPU s", "wall ratio", "CPU ratio", "target"],
        [
            ["bare xgboost.train", bare_s, statistics.median(c for _, c in bare), 1.0, 1.0, ""],
            [
                "treeport pipeline",
                pipeline_s,
                statistics.median(c for _, c in pipeline),
                out["overhead_ratio"],
                out["cpu_overhead_ratio"],
                f"<= {TARGET_RATIO:g}",
            ],
        ],
    )
    return out
