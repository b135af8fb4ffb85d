"""`treeport bench --quick --parts model`: the harness runs end to end and writes the report's keys.

Only that the numbers exist and are positive is checked, never how fast anything is: timings belong to the
benchmark's own report, not to a unit test on a shared machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.common import LARGE_MODEL_NAME
from tests.conftest import train_into
from treeport.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file store holding a small credit-risk model, and a stand-in for the larger one (fewer trees, to be quick)."""
    folder = tmp_path_factory.mktemp("bench-store")
    train_into(folder, rows=3000)
    train_into(folder, rows=3000, name=LARGE_MODEL_NAME, params={"num_boost_round": 12, "max_depth": 8})
    return folder


def test_quick_model_part_writes_the_report(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "bench.json"
    code = main(["bench", "--quick", "--parts", "model", "--store", store.as_uri(), "--json", str(report_path)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["quick"] is True and report["command"].startswith("treeport bench --quick")
    model = report["model"]
    for size in (1, 10, 100, 1000, 10000):
        key = f"b{size}"
        values = [model["speedup_vs_inplace"][key], *(by_size[key] for by_size in model["us_per_call"].values())]
        assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values), (key, values)
    assert set(model["us_per_call"]) >= {"predictor_records", "predictor_matrix", "xgboost_inplace", "xgboost_dmatrix"}
    # Every figure says what hardware made it: the same report as `treeport doctor`, oneDAL's code path included.
    hardware = report["machine"]["hardware"]
    assert hardware["cpu"]["cpus_allowed"] >= 1 and hardware["cpu"]["isa"]
    assert hardware["onedal"]["dispatch"] in ("avx512", "avx2", "sse42", "sse2")
    assert model["parity_max_abs_diff"] <= 1e-5
    # The same figures in process CPU time, and the same table for the larger model (the store's own here).
    for section in (model, model["large"]):
        for speedups in (section["speedup_vs_inplace"], section["cpu_speedup_vs_inplace"]):
            for ratios in (speedups, speedups["columnar"]):
                values = [ratios[f"b{size}"] for size in (1, 10, 100, 1000, 10000)]
                assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values), values
        assert set(section["cpu_us_per_call"]) == set(section["us_per_call"])
    assert model["large"]["trees"] == 12 and model["large"]["parity_max_abs_diff"] <= 1e-5
    assert {t["key"] for t in report["targets"]} >= {
        "model.speedup_vs_inplace.b1",
        "model.speedup_vs_inplace.b10000",
        *(f"http.batch10000.{fmt}.ratio_vs_plain" for fmt in ("records", "dataframe_split", "csv", "arrow")),
    }
    printed = capsys.readouterr().out
    assert "speedup vs inplace" in printed and str(report_path) in printed


def test_unknown_part_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "--parts", "model,gpu", "--json", str(tmp_path / "out.json")])
    assert code == 2
    assert "unknown part(s) ['gpu']" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
