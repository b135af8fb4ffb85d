"""`treeport monitor`: drift of served rows against a bundle's baseline, from a CSV, JSON lines, and SageMaker data
capture files in S3 (moto server on loopback); exit 4 on drift, 2 on input it cannot read (treeport/monitor.py)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from model.bundle import BASELINE_FILE, MANIFEST_FILE
from model.pipeline import TrainResult
from model.predictor import Predictor
from tests.api.conftest import credit_store  # noqa: F401 (the session fixture: a credit-risk model in a file store)
from tests.api.test_monitoring import SHIFTED, served_rows
from treeport.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `treeport ARGS` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def capture_line(content_type: str, body: bytes, encoding: str) -> str:
    """Return one data capture record as a SageMaker endpoint writes it (input and output, event metadata)."""
    data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode()
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data,
                                  "encoding": encoding},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                   "data": '{"predictions": []}', "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": "4651a1bf-4b00-4248-a309-4a18b11e4277",
                              "inferenceTime": "2026-12-03T18:00:00Z"},
            "eventVersion": "0",
        }
    )  # fmt: skip


def encoded_csv(predictor: Predictor, rows: list[dict[str, Any]]) -> bytes:
    """Return rows as the Lambda's SageMaker backend sends them to /invocations: headerless encoded CSV."""
    x = predictor.encode(rows)
    return ("\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in x) + "\n").encode()


@pytest.fixture
def store(credit_store: tuple[Path, TrainResult]) -> str:  # noqa: F811 (the fixture imported above)
    return credit_store[0].as_uri()


def test_csv_of_shifted_rows_drifts_and_plots(
    store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    credit_store: tuple[Path, TrainResult],  # noqa: F811
) -> None:
    data = write_csv(tmp_path / "served.csv", served_rows(800, seed=51, shift=True))
    out = tmp_path / "plots"
    code, stdout, stderr = cli(capsys, "monitor", "--store", store, str(data), "--out", str(out))
    assert code == 4, stderr
    assert sorted(stdout.split("DRIFT: ")[1].split(" past")[0].split(", ")) == sorted(SHIFTED)
    assert "800 rows" in stdout and credit_store[1].version in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{f}.png" for f in SHIFTED)
    assert all(p.read_bytes().startswith(PNG) for p in out.iterdir())

    code, stdout, _ = cli(capsys, "monitor", "--store", store, str(data), "--out", str(out), "--json")
    report = json.loads(stdout)
    assert code == 4 and report["status"] == "drifting" and sorted(report["drifting"]) == sorted(SHIFTED)
    assert report["rows"] == 800 and report["files"] == 1 and len(report["plots"]) == 3


def test_rows_like_the_training_data_do_not_drift(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = served_rows(800, seed=52, shift=False)
    # A served-rows export often carries more columns than the features (a request id, the label later): ignored.
    data = write_csv(tmp_path / "served.csv", [{**r, "request_id": i} for i, r in enumerate(rows)])
    out = tmp_path / "plots"
    code, stdout, stderr = cli(capsys, "monitor", "--store", store, str(data), "--out", str(out), "--json")
    report = json.loads(stdout)
    assert code == 0, stderr
    assert report["status"] == "ok" and report["drifting"] == [] and report["psi_max"] < 0.1
    assert not out.exists()
    # A threshold below the sampling noise flags features: the threshold is what decides.
    code, _, _ = cli(capsys, "monitor", "--store", store, str(data), "--out", str(out), "--threshold", "0.001")
    assert code == 4 and any(out.iterdir())


def test_json_lines_of_records(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "served.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in served_rows(500, seed=53, shift=True)))
    code, stdout, _ = cli(capsys, "monitor", "--store", store, str(path), "--json", "--out", str(tmp_path / "p"))
    assert code == 4 and sorted(json.loads(stdout)["drifting"]) == sorted(SHIFTED)


def test_data_capture_in_s3(
    store: str,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    credit_store: tuple[Path, TrainResult],  # noqa: F811
) -> None:
    """Capture files under an endpoint's hourly prefixes: JSON records and the encoded CSV the Lambda backend sends,
    in each of the three capture encodings, read from every object under the prefix."""
    predictor = Predictor.load(store, "credit-risk")
    rows = served_rows(900, seed=54, shift=True)
    lines = []
    for i in range(0, len(rows), 10):
        batch = rows[i : i + 10]
        kind = (i // 10) % 3
        if kind == 0:
            lines.append(capture_line("application/json", json.dumps({"instances": batch}).encode(), "JSON"))
        elif kind == 1:
            lines.append(capture_line("text/csv", encoded_csv(predictor, batch), "BASE64"))
        else:
            lines.append(capture_line("text/csv; charset=utf-8", encoded_csv(predictor, batch), "CSV"))
    s3 = boto3.client("s3")
    prefix = "datacapture/credit-risk-endpoint/AllTraffic/2026/12/03"
    half = len(lines) // 2
    s3.put_object(Bucket=bucket, Key=f"{prefix}/17/a.jsonl", Body="\n".join(lines[:half]) + "\n")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/18/b.jsonl", Body="\n".join(lines[half:]) + "\n")
    s3.put_object(Bucket=bucket, Key="elsewhere/c.jsonl", Body=lines[0])  # outside the prefix: not read

    code, stdout, stderr = cli(
        capsys, "monitor", "--store", store, f"s3://{bucket}/datacapture/credit-risk-endpoint/", "--json",
        "--out", str(tmp_path / "plots"),
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 4, stderr
    assert (report["rows"], report["files"], report["invocations"]) == (900, 2, 90)
    assert sorted(report["drifting"]) == sorted(SHIFTED)
    # The same rows as one CSV give the same report: every input path is counted alike.
    csv = write_csv(tmp_path / "same.csv", rows)
    _, again, _ = cli(capsys, "monitor", "--store", store, str(csv), "--json", "--out", str(tmp_path / "p2"))
    assert [f["psi"] for f in json.loads(again)["features"]] == pytest.approx([f["psi"] for f in report["features"]])

    # One object by its key.
    code, stdout, _ = cli(capsys, "monitor", "--store", store, f"s3://{bucket}/{prefix}/17/a.jsonl", "--json",
                          "--out", str(tmp_path / "p3"))  # fmt: skip
    assert json.loads(stdout)["rows"] == 450
    code, _, stderr = cli(capsys, "monitor", "--store", store, f"s3://{bucket}/nothing-here/")
    assert code == 2 and "no objects under it" in stderr


def bad_capture(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "capture.jsonl"
    good = json.dumps({"instances": served_rows(1, seed=56, shift=False)}).encode()
    path.write_text(capture_line("application/json", good, "JSON") + "\n" + line + "\n")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"captureData": {"endpointInput": {"observedContentType": "text/csv"}}}', "line 2: not a SageMaker capture"),
        (capture_line("text/csv", b"1,2,3\n", "CSV"), "line 2: "),  # a row of the wrong width
        (capture_line("text/csv", b"1,2", "ROT13"), "unknown capture encoding 'ROT13'"),
        (capture_line("application/json", b"%%%", "JSON").replace('"JSON"}', '"BASE64"}', 1), "not valid base64"),
        (capture_line("application/json", b"%%%", "BASE64"), "line 2: malformed JSON"),
        (capture_line("application/json", b'{"rows": []}', "JSON"), 'line 2: the body must have an "instances"'),
        (
            capture_line("application/x-parquet", b"PAR1", "BASE64"),
            "Content-Type 'application/x-parquet' is not supported",
        ),
        (capture_line("application/json", b'{"instances": [{"person_age": "old"}]}', "JSON"), "line 2: "),
        ("{not json", "line 2 is not valid JSON"),
    ],
)
def test_bad_capture_lines_exit_2_naming_the_line(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    code, stdout, stderr = cli(capsys, "monitor", "--store", store, str(bad_capture(tmp_path, content)))
    assert code == 2 and "capture.jsonl" in stderr and message in stderr, stderr
    assert "Traceback" not in stderr and stdout == ""


def test_bad_inputs_exit_2(
    store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    credit_store: tuple[Path, TrainResult],  # noqa: F811
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("person_age,person_income\n")
    lines = tmp_path / "lines.jsonl"
    lines.write_text(json.dumps(served_rows(1, seed=57, shift=False)[0]) + "\n[1, 2]\n")
    (tmp_path / "folder").mkdir()
    cases = [
        ([str(tmp_path / "absent.csv")], "input not found"),
        ([str(empty)], "file is empty"),
        ([str(header_only)], "no rows"),
        ([str(lines)], "row 1, expected an object, got an array"),
        ([str(tmp_path / "folder")], "no files in"),
        ([str(header_only), "--threshold", "0"], "--threshold must be a positive number"),
    ]
    for args, message in cases:
        code, _, stderr = cli(capsys, "monitor", "--store", store, *args)
        assert code == 2 and message in stderr, (args, stderr)

    # A bundle trained before baselines: it serves, but there is nothing to monitor it against.
    copy = tmp_path / "store"
    shutil.copytree(credit_store[0], copy)
    folder = copy / "credit-risk" / credit_store[1].version
    (folder / BASELINE_FILE).unlink()
    manifest = json.loads((folder / MANIFEST_FILE).read_bytes())
    del manifest["files"][BASELINE_FILE]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    data = write_csv(tmp_path / "served.csv", served_rows(20, seed=55, shift=False))
    code, _, stderr = cli(capsys, "monitor", "--store", copy.as_uri(), str(data))
    assert code == 2 and "has no baseline.json" in stderr and "retrain" in stderr
