"""SageMaker's training contract (`docker run IMAGE train`), run in-process against a SageMaker root in tmp_path.

Each test lays out /opt/ml as SageMaker does (channels under input/data, string hyperparameters in
input/config/hyperparameters.json), trains real models on real files, and checks the exit code, the
bundle under model/ and the reason in output/failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model.data import credit_risk
from model.predictor import Predictor
from treeport.entrypoints.sagemaker_train import ROOT_ENV, main

NAME = "credit-sm"
FAST = {"num_boost_round": "30", "max_depth": "3", "eta": "0.3"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two thousand rows of the synthetic credit-risk set."""
    return credit_risk(2000, seed=11)


def layout(
    root: Path,
    hyperparameters: dict[str, Any] | str | None,
    channels: dict[str, dict[str, bytes]] | None = None,
    input_config: dict[str, Any] | None = None,
) -> Path:
    """Write a SageMaker root: channel files, the hyperparameters file (a dict, or raw text) and input config."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    if hyperparameters is not None:
        text = hyperparameters if isinstance(hyperparameters, str) else json.dumps(hyperparameters)
        (config / "hyperparameters.json").write_text(text)
    if input_config is not None:
        (config / "inputdataconfig.json").write_text(json.dumps(input_config))
    for channel, files in (channels or {}).items():
        for name, data in files.items():
            path = root / "input" / "data" / channel / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return `frame` as CSV with a header row."""
    return frame.to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame, tmp_path: Path) -> bytes:
    """Return `frame` as Parquet."""
    path = tmp_path / "part.parquet"
    frame.to_parquet(path, index=False)
    return path.read_bytes()


def failure(root: Path) -> str:
    """Return output/failure, or '' when the job wrote none."""
    path = root / "output" / "failure"
    return path.read_text() if path.exists() else ""


def published(root: Path, name: str = NAME) -> bool:
    """Return whether a bundle of `name` was promoted in the model folder."""
    return (root / "model" / name / "LATEST").is_file()


@pytest.mark.parametrize(
    "hyperparameters",
    [
        pytest.param({"target": "loan_status", "name": NAME, "seed": "7", "gate_auc": "0.6", **FAST}, id="strings"),
        # The SageMaker Python SDK's framework estimators JSON-encode every value.
        pytest.param(
            {"target": '"loan_status"', "name": f'"{NAME}"', "max_depth": "3", "num_boost_round": "30"},
            id="sdk-json-quoted",
        ),
        # The built-in XGBoost algorithm's round count, and keys SageMaker itself adds.
        pytest.param(
            {
                "target": "loan_status",
                "name": NAME,
                "num_round": "30",
                "max_depth": "3",
                "sagemaker_container_log_level": "20",
                "_tuning_objective_metric": "test:auc",
            },
            id="num_round-and-sagemaker-keys",
        ),
    ],
)
def test_trains_and_publishes_the_bundle_to_the_model_folder(
    tmp_path: Path, frame: pd.DataFrame, hyperparameters: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = layout(tmp_path / "ml", hyperparameters, {"train": {"loans.csv": csv_bytes(frame)}})

    assert main(["--root", str(root)]) == 0

    out = capsys.readouterr().out
    assert failure(root) == ""
    assert published(root)
    predictor = Predictor.load((root / "model").as_uri(), NAME)
    manifest = predictor.bundle.manifest
    assert manifest["params"]["max_depth"] == 3
    assert manifest["trees"]["rounds"] <= 30
    assert manifest["training"]["rows"] == len(frame)
    assert manifest["training"]["source"] == str(root / "input" / "data" / "train" / "loans.csv")
    row = frame.drop(columns=["loan_status"]).head(1)
    assert predictor.predict(row)[0]["label"] in (0, 1)
    # One line per test metric, for the training job's metric definitions.
    assert f"test:auc={manifest['metrics']['auc']:.6f}" in out


def test_root_from_the_environment_and_typed_parameters(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    hyperparameters = {"target": "loan_status", "name": NAME, "eta": "0.25", "subsample": "1", **{"max_depth": "2"}}
    hyperparameters["num_boost_round"] = "20.0"
    root = layout(tmp_path / "ml", hyperparameters, {"train": {"loans.csv": csv_bytes(frame)}})
    monkeypatch.setenv(ROOT_ENV, str(root))

    assert main([]) == 0

    params = Predictor.load((root / "model").as_uri(), NAME).bundle.manifest["params"]
    assert (params["eta"], params["subsample"], params["max_depth"]) == (0.25, 1.0, 2)
    assert isinstance(params["max_depth"], int) and isinstance(params["eta"], float)


def test_several_csv_and_parquet_files_are_one_table(tmp_path: Path, frame: pd.DataFrame) -> None:
    parts = {
        "2024/part-0.csv": csv_bytes(frame.iloc[:700]),
        "2024/part-1.csv": csv_bytes(frame.iloc[700:1300]),
        "2025/part-2.parquet": parquet_bytes(frame.iloc[1300:], tmp_path),
        "_SUCCESS": b"",  # Spark's marker, and hidden files, are skipped
        ".manifest": b"x",
    }
    root = layout(tmp_path / "ml", {"target": "loan_status", "name": NAME, **FAST}, {"train": parts})

    assert main(["--root", str(root)]) == 0

    manifest = Predictor.load((root / "model").as_uri(), NAME).bundle.manifest
    assert manifest["training"]["rows"] == len(frame)


def test_schema_channel_and_synthetic_data(tmp_path: Path) -> None:
    schema = (
        "target: {name: loan_status, task: binary, positive_class: 1}\n"
        "features:\n"
        "  - {name: person_income, type: numeric}\n"
        "  - {name: loan_percent_income, type: numeric}\n"
        "  - {name: loan_grade, type: categorical, categories: [A, B, C, D, E, F, G]}\n"
    )
    hyperparameters = {"data": "synthetic", "rows": "1500", "name": NAME, **FAST}
    root = layout(tmp_path / "ml", hyperparameters, {"schema": {"schema.yaml": schema.encode()}})

    assert main(["--root", str(root)]) == 0

    manifest = Predictor.load((root / "model").as_uri(), NAME).bundle.manifest
    assert [f["name"] for f in manifest["schema"]["features"]] == ["person_income", "loan_percent_income", "loan_grade"]
    assert manifest["training"]["rows"] == 1500


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        ({"max_depth": "deep"}, "hyperparameter 'max_depth' must be a whole number >= 0, got 'deep'"),
        ({"num_boost_round": "2.5"}, "'num_boost_round' must be a whole number >= 1, got '2.5'"),
        ({"eta": "nan"}, "hyperparameter 'eta' must be a number, got 'nan'"),
        ({"max_dept": "3"}, "unknown hyperparameter(s) ['max_dept']"),
        ({"task": "ranking"}, "hyperparameter 'task' must be one of ['binary', 'multiclass', 'regression']"),
        ({"gate_auc": "high"}, "hyperparameter 'gate_auc' must be a number, got 'high'"),
        ({"gate_rmse": "1.0"}, "unknown gate metric 'rmse' for a binary task"),
        ({"drop_unlabelled": "maybe"}, "hyperparameter 'drop_unlabelled' must be true or false"),
        ({"default_gate": "off"}, "hyperparameter 'default_gate' must be true or false"),
        ({"num_round": "10", "num_boost_round": "10"}, "'num_round' and 'num_boost_round' mean the same thing"),
        ({"tree_method": "gpu_hist"}, "hyperparameter 'tree_method' must be one of ['hist', 'approx', 'exact']"),
        ({"max_depth": ["3"]}, "hyperparameter 'max_depth' must be a string, got list"),
        ({"target": "no_such_column"}, "target column 'no_such_column' not found"),
        ({"name": "../escape"}, "model name"),
        ("{not json", "hyperparameters.json: not valid JSON at line 1"),
        ('["a list"]', "expected a JSON object of hyperparameters, got list"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_hyperparameters_fail_the_job_with_exit_2_and_a_reason(
    tmp_path: Path,
    frame: pd.DataFrame,
    hyperparameters: dict[str, Any] | str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if isinstance(hyperparameters, dict):
        hyperparameters = {"target": "loan_status", "name": NAME, **FAST, **hyperparameters}
    root = layout(tmp_path / "ml", hyperparameters, {"train": {"loans.csv": csv_bytes(frame.head(300))}})

    assert main(["--root", str(root)]) == 2

    assert reason in failure(root)
    assert reason in capsys.readouterr().err
    assert not published(root)


@pytest.mark.parametrize(
    ("channels", "input_config", "reason"),
    [
        ({}, None, "no 'train' channel: "),
        ({"training": {"a.csv": b"x,y\n1,2\n"}}, None, "unknown channel(s) ['training']"),
        ({"train": {"_SUCCESS": b""}}, None, "holds no .csv or .parquet or .pq file"),
        ({"train": {"data.json": b"{}"}}, None, "file(s) ['data.json'] are not .csv or .parquet or .pq"),
        ({"train": {"a.csv": b""}}, None, "is empty"),
        (
            {"train": {"a.csv": b"loan_status,x\n1,2\n", "b.csv": b"loan_status,y\n1,2\n"}},
            None,
            "columns differ from",
        ),
        ({"train": {}}, {"train": {"TrainingInputMode": "Pipe"}}, "channel(s) ['train'] use Pipe mode"),
        (
            {"train": {"a.csv": b"loan_status,x\n1,2\n"}, "schema": {"a.yaml": b"x", "b.yaml": b"y"}},
            None,
            "holds 2 schema files",
        ),
    ],
    ids=["missing", "unknown", "only-markers", "not-tabular", "empty-file", "columns-differ", "pipe", "two-schemas"],
)
def test_channel_problems_fail_the_job_with_exit_2(
    tmp_path: Path, channels: dict[str, dict[str, bytes]], input_config: dict[str, Any] | None, reason: str
) -> None:
    root = layout(tmp_path / "ml", {"target": "loan_status", "name": NAME}, channels, input_config)
    if "train" in channels and not channels["train"]:
        (root / "input" / "data" / "train").mkdir(parents=True)

    assert main(["--root", str(root)]) == 2

    assert reason in failure(root)
    assert not published(root)


def test_a_model_under_the_gate_fails_the_job_with_exit_3(tmp_path: Path, frame: pd.DataFrame) -> None:
    hyperparameters = {"target": "loan_status", "name": NAME, "gate_auc": "0.999", **FAST}
    root = layout(tmp_path / "ml", hyperparameters, {"train": {"loans.csv": csv_bytes(frame)}})

    assert main(["--root", str(root)]) == 3

    assert failure(root).startswith("model rejected by the gate: auc = 0.")
    assert "required >= 0.999" in failure(root)
    assert not published(root)


@pytest.mark.parametrize(
    ("gate", "thresholds"),
    [
        # As the SageMaker Pipeline's training step passes its gate: the given threshold alone.
        pytest.param({"gate_logloss": "0.95", "default_gate": "false"}, {"logloss": 0.95}, id="pipeline-gate-only"),
        # Without default_gate=false the task's default (auc >= 0.60) still applies beside it.
        pytest.param({"gate_logloss": "0.95"}, {"auc": 0.6, "logloss": 0.95}, id="with-the-default"),
    ],
)
def test_the_gate_thresholds_given_are_the_gate_applied(
    tmp_path: Path, frame: pd.DataFrame, gate: dict[str, str], thresholds: dict[str, float]
) -> None:
    hyperparameters = {"target": "loan_status", "name": NAME, **gate, **FAST}
    root = layout(tmp_path / "ml", hyperparameters, {"train": {"loans.csv": csv_bytes(frame)}})

    assert main(["--root", str(root)]) == 0

    assert Predictor.load((root / "model").as_uri(), NAME).bundle.manifest["thresholds"] == thresholds


def test_the_pipelines_gate_rejects_below_its_threshold_without_the_default(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    # An unreachable accuracy under default_gate=false: the job fails on that threshold, not on the default auc.
    hyperparameters = {"target": "loan_status", "name": NAME, "gate_accuracy": "0.9999", "default_gate": "false"}
    root = layout(tmp_path / "ml", {**hyperparameters, **FAST}, {"train": {"loans.csv": csv_bytes(frame)}})

    assert main(["--root", str(root)]) == 3

    assert failure(root).startswith("model rejected by the gate: accuracy = 0.")
    assert "auc" not in failure(root)
    assert not published(root)


def test_an_unexpected_error_fails_the_job_with_exit_1(
    tmp_path: Path, frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    root = layout(tmp_path / "ml", {"target": "loan_status", "name": NAME}, {"train": {"a.csv": csv_bytes(frame)}})
    (root / "model").write_text("a file where SageMaker's model folder should be")

    assert main(["--root", str(root)]) == 1

    assert failure(root).startswith("internal error: FileExistsError")
    assert "Traceback" in capsys.readouterr().err


def resource_config(root: Path, current: str, hosts: list[str]) -> None:
    """Write input/config/resourceconfig.json as SageMaker does on each instance of a training job."""
    config = {"current_host": current, "hosts": hosts, "network_interface_name": "eth0"}
    (root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("current", "hosts", "trains"),
    [
        pytest.param("algo-1", ["algo-1"], True, id="one-instance"),
        pytest.param("algo-1", ["algo-1", "algo-2", "algo-3"], True, id="primary-of-three"),
        pytest.param("algo-2", ["algo-1", "algo-2", "algo-3"], False, id="secondary-of-three"),
        pytest.param("algo-3", ["algo-3", "algo-1"], True, id="primary-is-the-first-listed"),
    ],
)
def test_several_instances_train_only_on_the_first_host(
    tmp_path: Path,
    frame: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
    current: str,
    hosts: list[str],
    trains: bool,
) -> None:
    root = layout(
        tmp_path / "ml", {"target": "loan_status", "name": NAME, **FAST}, {"train": {"a.csv": csv_bytes(frame)}}
    )
    resource_config(root, current, hosts)
    assert main(["--root", str(root)]) == 0
    assert failure(root) == ""
    assert published(root) is trains
    if not trains:
        assert not any((root / "model").iterdir()) if (root / "model").exists() else True
        assert f"{current} is not the primary host {hosts[0]}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("{", "resourceconfig.json is not valid JSON", id="malformed"),
        pytest.param('{"current_host": "algo-1", "hosts": []}', "hosts must list", id="no-hosts"),
        pytest.param('{"current_host": "algo-9", "hosts": ["algo-1"]}', "algo-9 is not among", id="stranger"),
    ],
)
def test_a_bad_resource_config_fails_the_job_with_exit_2(
    tmp_path: Path, frame: pd.DataFrame, text: str, reason: str
) -> None:
    root = layout(
        tmp_path / "ml", {"target": "loan_status", "name": NAME, **FAST}, {"train": {"a.csv": csv_bytes(frame)}}
    )
    (root / "input" / "config" / "resourceconfig.json").write_text(text)
    assert main(["--root", str(root)]) == 2
    assert reason in failure(root)
    assert not published(root)
