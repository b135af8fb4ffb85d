"""`treeport bench --quick --parts invocations`: the parse timings are written under their report keys.

Only that the figures exist and are positive is checked, never how fast: the bench's own report says that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.invocations import ROWS
from tests.conftest import train_into
from treeport.cli import main

pytestmark = pytest.mark.slow


def test_invocations_part_writes_the_parse_figures(tmp_path: Path) -> None:
    store = tmp_path / "store"
    train_into(store, rows=3000)
    report_path = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--parts", "invocations", "--store", store.as_uri()]
    assert main([*argv, "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    section = report["invocations"]
    key = f"r{ROWS}"
    assert section["rows"] == ROWS and section["columns"] > 0
    figures = [section["csv_parse_ms"][key], section["csv_loop_ms"][key], section["csv_speedup_vs_loop"][key]]
    figures += [section["csv_parse_without_pyarrow_ms"][key], section["parse_without_pyarrow_ms"]["csv"][key]]
    figures += [by_rows[key] for by_rows in section["parse_ms"].values()]
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in figures), figures
    assert set(section["parse_ms"]) == {"records", "dataframe_split", "inputs_columns", "csv", "jsonl", "arrow"}
    target = next(t for t in report["targets"] if t["key"] == "invocations.csv_parse_ms.r10000")
    assert target["value"] == section["csv_parse_ms"][key] and target["bound"] == 15
    assert report["machine"]["hardware"]["cpu"]["cpus_allowed"] >= 1
