"""Invocations part: how long the server takes to read a 10,000-row body into rows, per request format, in-process.

- `csv_parse_ms.r10000`: `/invocations`' headerless CSV of 10,000 x the model's encoded columns (26 for the default
  model), the body the sagemaker-backend Lambda sends (`model.sagemaker_predictor.to_csv` of encoded applicants),
  parsed into the float32 matrix by `api.columnar.csv_matrix` (pyarrow's C parser, then the checks); beside it the
  cell-by-cell loop that checks each value in Python (`csv_matrix_loop`, what `/invocations` ran before) and the
  ratio of the two. `csv_parse_without_pyarrow_ms.r10000`: the same body through `csv_matrix` where pyarrow cannot
  be imported, as in the serving and Lambda images (numpy's path over the body's bytes).
- `parse_ms.<format>.r10000`: each `/predict` body format (JSON records, `dataframe_split`, column-major `inputs`,
  CSV with a header, JSON Lines, Arrow) read into what `Preprocessor.transform` takes (`DataPlane.records`), the
  same 10,000 applicants in each: the parsing share of a large request, without validation or the model.
  `parse_without_pyarrow_ms.csv.r10000`: the CSV body read where pyarrow cannot be imported (`str.split`, numpy).

Each figure is the best of several blocks of calls (as `timeit` does: a shared machine's noise only adds time), in
wall-clock milliseconds per call, with the process's CPU time per call beside it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import ModelUnderTest, print_table, records

ROWS = 10_000


def _best_ms(call: Callable[[], Any], blocks: int, per_block: int) -> tuple[float, float]:
    """Return the best block's wall-clock and CPU milliseconds per call."""
    best_wall = best_cpu = float("inf")
    for _ in range(blocks):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(per_block):
            call()
        best_wall = min(best_wall, (time.perf_counter() - wall) / per_block * 1000)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / per_block * 1000)
    return best_wall, best_cpu


@contextmanager
def pyarrow_unimportable() -> Iterator[None]:
    """Make `import pyarrow` fail within, as in the serving and Lambda images, which leave it out:
    `sys.modules["pyarrow"] = None` is what Python itself does for a module that cannot be imported."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "pyarrow"}
    sys.modules["pyarrow"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["pyarrow"]
        sys.modules.update(saved)


def bodies(rows: list[dict[str, Any]]) -> dict[str, tuple[bytes, str]]:
    """Return each `/predict` format's body (and media type) carrying `rows`."""
    import pyarrow as pa

    names = list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([["" if r[k] is None else r[k] for k in names] for r in rows])
    sink = io.BytesIO()
    table = pa.Table.from_pylist(rows)
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    split = {"columns": names, "data": [[r[k] for k in names] for r in rows]}
    return {
        "records": (json.dumps({"instances": rows}).encode(), "application/json"),
        "dataframe_split": (json.dumps({"dataframe_split": split}).encode(), "application/json"),
        "inputs_columns": (
            json.dumps({"inputs": {k: [r[k] for r in rows] for k in names}}).encode(),
            "application/json",
        ),
        "csv": (out.getvalue().encode(), "text/csv"),
        "jsonl": ("".join(json.dumps(r) + "\n" for r in rows).encode(), "application/jsonlines"),
        "arrow": (sink.getvalue(), "application/vnd.apache.arrow.stream"),
    }


def run(mut: ModelUnderTest, quick: bool = False) -> dict[str, Any]:
    """Time the parsers on 10,000-row bodies; print a table and return the `invocations` section of the report."""
    from api.columnar import csv_matrix, csv_matrix_loop
    from api.dataplane import DataPlane
    from api.inputs import lines_of
    from api.settings import Settings
    from api.state import ModelState
    from model.predictor import Predictor
    from model.sagemaker_predictor import to_csv

    predictor = Predictor.load(mut.store, mut.name, mut.version, threads=1)
    rows = records(ROWS, seed=11)
    matrix = predictor.encode(rows)
    body = to_csv(matrix)
    width = predictor.preprocessor.n_columns
    settings = Settings(model_store=mut.store, model_name=mut.name)
    plane = DataPlane(settings, ModelState(settings))
    limits = plane.limits(predictor)
    blocks, per_block = (3, 2) if quick else (7, 5)

    import numpy as np

    want = csv_matrix_loop(lines_of(body), width)
    if not np.array_equal(csv_matrix(body, width, limits), want, equal_nan=True):
        raise AssertionError("the fast headerless CSV parser and the checking loop disagree")
    fast_wall, fast_cpu = _best_ms(lambda: csv_matrix(body, width, limits), blocks, per_block)
    with pyarrow_unimportable():
        if not np.array_equal(csv_matrix(body, width, limits), want, equal_nan=True):
            raise AssertionError("the headerless CSV parser without pyarrow and the checking loop disagree")
        numpy_wall, numpy_cpu = _best_ms(lambda: csv_matrix(body, width, limits), blocks, per_block)
    loop_wall, loop_cpu = _best_ms(lambda: csv_matrix_loop(lines_of(body), width), max(2, blocks // 2), 1)
    table: list[list[Any]] = [
        [f"headerless CSV {ROWS} x {width} (pyarrow)", len(body) / 1e6, fast_wall, fast_cpu],
        ["  without pyarrow (numpy, the images)", len(body) / 1e6, numpy_wall, numpy_cpu],
        ["  the checking loop (before)", len(body) / 1e6, loop_wall, loop_cpu],
    ]
    parse: dict[str, float] = {}
    parse_cpu: dict[str, float] = {}
    formats = bodies(rows)
    for name, (data, media) in formats.items():
        wall, cpu = _best_ms(lambda d=data, m=media: plane.records(d, m, predictor), blocks, per_block)
        parse[name], parse_cpu[name] = round(wall, 2), round(cpu, 2)
        table.append([f"/predict {name}", len(data) / 1e6, wall, cpu])
    data, media = formats["csv"]
    with pyarrow_unimportable():
        csv_wall, csv_cpu = _best_ms(lambda: plane.records(data, media, predictor), blocks, per_block)
    table.append(["/predict csv without pyarrow", len(data) / 1e6, csv_wall, csv_cpu])
    print_table(f"parse {ROWS} rows (ms per body, best of {blocks} blocks)", ["body", "MB", "ms", "cpu ms"], table)
    return {
        "rows": ROWS,
        "columns": width,
        "csv_body_bytes": len(body),
        "csv_parse_ms": {f"r{ROWS}": round(fast_wall, 2)},
        "csv_parse_cpu_ms": {f"r{ROWS}": round(fast_cpu, 2)},
        "csv_parse_without_pyarrow_ms": {f"r{ROWS}": round(numpy_wall, 2)},
        "csv_parse_without_pyarrow_cpu_ms": {f"r{ROWS}": round(numpy_cpu, 2)},
        "csv_loop_ms": {f"r{ROWS}": round(loop_wall, 2)},
        "csv_speedup_vs_loop": {f"r{ROWS}": round(loop_wall / fast_wall, 1)},
        "parse_ms": {name: {f"r{ROWS}": v} for name, v in parse.items()},
        "parse_cpu_ms": {name: {f"r{ROWS}": v} for name, v in parse_cpu.items()},
        "parse_without_pyarrow_ms": {"csv": {f"r{ROWS}": round(csv_wall, 2)}},
        "parse_without_pyarrow_cpu_ms": {"csv": {f"r{ROWS}": round(csv_cpu, 2)}},
    }
