"""`treeport doctor`: the hardware report, the micro-benchmark on a real model, exit codes and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.onedal import dispatch_info
from model.pipeline import TrainResult
from treeport.cli import main


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `treeport doctor ARGS` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_deployment_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TREEPORT_INSTANCE_TYPE", "SM_CURRENT_INSTANCE_TYPE", "TREEPORT_WORKERS", "TREEPORT_THREADS"):
        monkeypatch.delenv(var, raising=False)


def test_hardware_report_without_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = doctor(capsys, "--no-bench")
    assert code == 0, err
    for label in ("cpu:", "cpus:", "memory:", "isa:", "oneDAL:", "serving:", "instance:"):
        assert f"\n  {label}" in out, out
    assert f"dispatch {dispatch_info()['dispatch']}" in out  # type: ignore[index]
    assert "benchmark:" not in out


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_benchmark_times_both_engines_at_batch_1_and_1000(
    task: str, trained: dict[str, tuple[Path, TrainResult]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, result = trained[task]
    code, out, err = doctor(capsys, "--store", store.as_uri(), "--name", task, "--seconds", "0.4", "--json")
    assert code == 0, err
    report = json.loads(out)
    bench = report["benchmark"]
    assert bench["model"]["name"] == task and bench["model"]["version"] == result.version
    assert bench["threads"] == report["serving"]["threads_per_worker"]
    assert [r["batch"] for r in bench["results"]] == [1, 1000]
    for row in bench["results"]:
        assert row["daal4py_us"] > 0 and row["xgboost_us"] > 0 and row["calls"] >= 1
        assert row["speedup"] == pytest.approx(row["xgboost_us"] / row["daal4py_us"], rel=0.01)
    # oneDAL's thread count is read after the benchmark set it for one serving worker.
    assert report["onedal"]["threads"] == bench["threads"]


def test_benchmark_table_in_the_human_report(
    trained: dict[str, tuple[Path, TrainResult]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = trained["binary"]
    monkeypatch.setenv("TREEPORT_MODEL_NAME", "binary")  # the model named as serve would find it
    code, out, err = doctor(capsys, "--store", store.as_uri(), "--seconds", "0.2")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("batch"))
    batches = [lines[header + 1].split()[0], lines[header + 2].split()[0]]
    assert batches == ["1", "1,000"]
    assert "benchmark: binary " in out


def test_missing_model_prints_the_hardware_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = doctor(capsys, "--store", tmp_path.as_uri(), "--name", "churn")
    assert code == 2
    assert "oneDAL:" in out and "benchmark:" not in out
    assert err.startswith("treeport: error: ") and "churn" in err


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--seconds", "0"], {}, "--seconds"),
        (["--seconds", "61"], {}, "--seconds"),
        (["--seconds", "nan"], {}, "--seconds"),
        (["--no-bench"], {"TREEPORT_WORKERS": "many"}, "TREEPORT_WORKERS"),
        (["--no-bench"], {"TREEPORT_THREADS": "0"}, "TREEPORT_THREADS"),
    ],
    ids=["zero-seconds", "too-many-seconds", "nan-seconds", "workers-not-a-number", "no-threads"],
)
def test_bad_input_exits_2_and_names_it(
    args: list[str],
    env: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err = doctor(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("treeport: error: ") and fragment in err, err


def test_strict_exits_4_when_an_intel_instance_type_lacks_avx512_dispatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On this AMD EPYC oneDAL runs AVX2 kernels: told it is a c7i, doctor warns; on a real c7i it would not."""
    monkeypatch.setenv("TREEPORT_INSTANCE_TYPE", "c7i.large")
    warns = (dispatch_info() or {}).get("dispatch") != "avx512"
    code, out, err = doctor(capsys, "--no-bench", "--strict")
    assert code == (4 if warns else 0), err
    assert ("WARNING: instance type c7i.large" in out) is warns
    assert "instance:  c7i.large (from TREEPORT_INSTANCE_TYPE)" in out
    code, out, _ = doctor(capsys, "--no-bench")
    assert code == 0  # without --strict a warning is printed, not an error


def test_strict_passes_where_nothing_is_promised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TREEPORT_INSTANCE_TYPE", "m7a.large")  # AMD: no AVX-512 promise to break
    code, out, err = doctor(capsys, "--no-bench", "--strict")
    assert code == 0, err
    assert "WARNING" not in out


def test_json_report_has_every_section(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREEPORT_WORKERS", "2")
    monkeypatch.setenv("TREEPORT_THREADS", "3")
    code, out, err = doctor(capsys, "--no-bench", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= {"cpu", "cgroup", "memory_total_bytes", "onedal", "serving", "warnings", "notes"}
    assert report["serving"] == {"workers": 2, "threads_per_worker": 3}
    assert report["cpu"]["cpus_allowed"] >= 1 and report["cpu"]["cpus_online"] >= report["cpu"]["cpus_allowed"]
