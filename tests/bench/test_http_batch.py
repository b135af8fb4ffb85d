"""The large-batch HTTP part (`bench/http_batch.py`) and the pandas peer it measures against (`POST /frame`).

Structure and agreement only: every format's body reaches both servers, the report has its keys, and the two
servers answer the same predictions. How fast either is belongs to the benchmark's report, not to a test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import http_batch
from bench.common import ModelUnderTest, prepare_model
from tests.conftest import train_into

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mut(tmp_path_factory: pytest.TempPathFactory) -> ModelUnderTest:
    """The model under test: a small credit-risk model, with its files copied out for the peer."""
    folder = tmp_path_factory.mktemp("batch-store")
    train_into(folder, rows=3000)
    return prepare_model(folder.as_uri(), tmp_path_factory.mktemp("batch-scratch"))


def test_every_body_carries_the_same_rows() -> None:
    import pandas as pd

    from bench.peers.plain_xgboost import read_frame

    bodies = http_batch.bodies(50)
    assert set(bodies) == set(http_batch.FORMATS)
    frames = {fmt: read_frame(http_batch.CONTENT_TYPES[fmt], body) for fmt, body in bodies.items()}
    reference = frames["records"]
    assert len(reference) == 50 and reference.isna().any().any()  # missing values travel in every format
    for fmt, frame in frames.items():
        pd.testing.assert_frame_equal(frame, reference, check_dtype=False, obj=fmt)


def test_the_peer_reads_every_format_as_its_record_loop_does(
    mut: ModelUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/frame` (pandas) answers what `/predict` (the peer's loop over records) answers, for every body."""
    monkeypatch.setenv("BENCH_MODEL_DIR", str(mut.folder))
    from bench.peers.plain_xgboost import create_app

    client = create_app().test_client()
    bodies = http_batch.bodies(40)
    want = json.loads(client.post("/predict", data=bodies["records"], content_type="application/json").data)
    for fmt, body in bodies.items():
        answer = client.post("/frame", data=body, content_type=http_batch.CONTENT_TYPES[fmt])
        assert answer.status_code == 200, (fmt, answer.data[:200])
        got = json.loads(answer.data)["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in want["predictions"]], fmt
        assert (
            max(abs(a["probability"] - b["probability"]) for a, b in zip(got, want["predictions"], strict=True)) <= 1e-6
        )
    assert client.post("/frame", data=b'{"rows": []}', content_type="application/json").status_code == 400


def test_run_reports_each_format_or_why_not(
    mut: ModelUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = http_batch.run(mut, tmp_path, rows=300, requests=1, rounds=2, workers=1)
    section = result["batch300"]
    measured = [fmt for fmt in http_batch.FORMATS if fmt in section]
    assert set(measured) | set(section["skipped"]) == set(http_batch.FORMATS)
    assert {"records", "csv"} <= set(measured)  # the formats every Treeport since CSV with a header takes
    for fmt in measured:
        figures = section[fmt]
        assert math.isfinite(figures["ratio_vs_plain"]) and figures["ratio_vs_plain"] > 0
        assert figures["max_abs_diff_vs_plain"] <= 1e-5  # both servers answer the same predictions
        for server in http_batch.SERVERS:
            assert figures[server]["requests"] == 2 and figures[server]["p50_ms"] > 0
    assert section["config"]["gunicorn_workers"] == 1 and section["config"]["rows"] == 300
    assert section["config"]["worker_class"] == "api.worker.BufferingWorker"  # what api/gunicorn.conf.py runs
    printed = capsys.readouterr().out
    assert "http.batch300" in printed and "ratio" in printed
