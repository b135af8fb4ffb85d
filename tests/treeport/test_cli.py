"""The `treeport` command line, run in-process through `treeport.cli.main` (plus one real subprocess).

Every failure case checks both the exit code and that the message on stderr names the file,
column or value at fault, with no traceback.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from treeport.cli import main

FAST = ["--param", "num_boost_round=20", "--param", "max_depth=3"]
FEATURES = ["x1", "x2", "color", "size", "tier", "amount"]  # mixed_csv minus the target `approved`
NAME = "approved"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `treeport ARGS` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop anything captured before this call
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def train_args(store: str, data: Path | str, *extra: str, name: str = NAME) -> list[str]:
    """Return the `train` arguments for the binary `approved` target of the mixed data."""
    return ["train", "--store", store, "--name", name, "--data", str(data), *FAST, *extra]


def feature_records(csv: Path, rows: int) -> list[dict[str, object]]:
    """Return the first `rows` rows of `csv` as JSON-ready feature records (NaN as null)."""
    frame = pd.read_csv(csv)[FEATURES].head(rows)
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, mixed_csv: Path) -> str:
    """A file store holding one binary model `approved` trained through the CLI."""
    uri = (tmp_path_factory.mktemp("cli-store") / "models").as_uri()
    code = main(train_args(uri, mixed_csv, "--target", "approved", "--positive-class", "yes"))
    assert code == 0
    return uri


@dataclass
class Ctx:
    """What a failure case may need: a scratch directory, the mixed data and a store with a model."""

    tmp: Path
    mixed: Path
    store: str

    @property
    def fresh_store(self) -> str:
        """A store URI that nothing has been published to."""
        return (self.tmp / "fresh-store").as_uri()

    def write(self, name: str, content: str | bytes) -> Path:
        """Write a file in the scratch directory and return its path."""
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def variant(self, name: str, change: Callable[[pd.DataFrame], None]) -> Path:
        """Write a copy of the mixed data with `change` applied."""
        frame = pd.read_csv(self.mixed)
        change(frame)
        path = self.tmp / name
        frame.to_csv(path, index=False)
        return path


Case = Callable[[Ctx], tuple[list[str], list[str]]]


def _missing_target(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "nope"), [str(c.mixed), "'nope'", "not found"]


def _abc_in_numeric(c: Ctx) -> tuple[list[str], list[str]]:
    def poison(frame: pd.DataFrame) -> None:
        frame["x1"] = frame["x1"].astype(object)
        frame.loc[5, "x1"] = "abc"

    data = c.variant("abc.csv", poison)
    schema = c.write(
        "numeric.yaml",
        "target: {name: approved, task: binary, positive_class: 'yes'}\n"
        "features:\n  - {name: x1, type: numeric}\n  - {name: x2, type: numeric}\n",
    )
    args = ["train", "--store", c.fresh_store, "--data", str(data), "--schema", str(schema), *FAST]
    return args, [str(data), "row 5", "'x1'", "'abc'"]


def _empty_file(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.write("empty.csv", b"")
    return train_args(c.fresh_store, data, "--target", "approved"), [str(data), "empty"]


def _header_only(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.write("header.csv", "x1,x2,color,size,approved\n")
    return train_args(c.fresh_store, data, "--target", "approved"), [str(data), "no data rows"]


def _file_uri_with_space(c: Ctx) -> tuple[list[str], list[str]]:
    # A file:// URI is decoded like a store URI: reaching "no data rows" proves the file was found.
    (c.tmp / "my data").mkdir()
    data = c.write("my data/header.csv", "x1,x2,color,size,approved\n")
    uri = data.as_uri()
    assert "%20" in uri
    return train_args(c.fresh_store, uri, "--target", "approved"), [uri, "no data rows"]


def _file_uri_with_host(c: Ctx) -> tuple[list[str], list[str]]:
    uri = "file://elsewhere/data/mixed.csv"
    return train_args(c.fresh_store, uri, "--target", "approved"), [repr(uri), "file:///absolute/path"]


def _single_class(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.variant("single.csv", lambda f: f.__setitem__("approved", "yes"))
    return train_args(c.fresh_store, data, "--target", "approved"), [str(data), "'approved'", "single class", "'yes'"]


def _unlabel(frame: pd.DataFrame) -> None:
    frame.loc[[3, 8], "approved"] = None


def _unlabelled_rows(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.variant("unlabelled.csv", _unlabel)
    args = train_args(c.fresh_store, data, "--target", "approved")
    return args, [str(data), "'approved'", "2 missing", "row 3", "--drop-unlabelled"]


def _missing_data(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.tmp / "no-such.csv"
    return train_args(c.fresh_store, data, "--target", "approved"), ["not found", str(data)]


def _s3_uri(uri: str, problem: str) -> Case:
    def case(c: Ctx) -> tuple[list[str], list[str]]:
        return train_args(c.fresh_store, uri, "--target", "approved"), [repr(uri), "malformed S3 URI", problem]

    return case


def _garbage_parquet(c: Ctx) -> tuple[list[str], list[str]]:
    data = c.write("x.parquet", b"this is not a parquet file\x00\x01\x02")
    return train_args(c.fresh_store, data, "--target", "approved"), [str(data), "cannot read as Parquet"]


def _unknown_feature_type(c: Ctx) -> tuple[list[str], list[str]]:
    schema = c.write("text.yaml", "target: {name: approved, task: binary}\nfeatures:\n  - {name: x1, type: text}\n")
    args = ["train", "--store", c.fresh_store, "--data", str(c.mixed), "--schema", str(schema), *FAST]
    return args, [str(schema), "'x1'", "'text'"]


def _invalid_yaml(c: Ctx) -> tuple[list[str], list[str]]:
    schema = c.write("broken.yaml", "target: [unclosed\nfeatures: {\n")
    args = ["train", "--store", c.fresh_store, "--data", str(c.mixed), "--schema", str(schema), *FAST]
    return args, [str(schema), "not valid YAML"]


def _absent_positive_class(c: Ctx) -> tuple[list[str], list[str]]:
    args = train_args(c.fresh_store, c.mixed, "--target", "approved", "--positive-class", "maybe")
    return args, [str(c.mixed), "'maybe'", "'approved'"]


def _param_without_equals(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "approved", "--param", "max_depth"), [
        "--param",
        "'max_depth'",
    ]


def _gate_not_a_number(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "approved", "--gate", "auc=high"), ["--gate", "'auc=high'"]


def _gate_unknown_metric(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "approved", "--gate", "r2=0.5"), ["'r2'", "binary"]


def _bad_name(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "approved", name="../etc"), ["'../etc'", "invalid model name"]


def _zero_rows(c: Ctx) -> tuple[list[str], list[str]]:
    return ["train", "--store", c.fresh_store, "--rows", "0", *FAST], ["--rows", "0"]


def _negative_threads(c: Ctx) -> tuple[list[str], list[str]]:
    return train_args(c.fresh_store, c.mixed, "--target", "approved", "--threads", "-2"), ["--threads", "-2"]


def _workers_without_dask(c: Ctx) -> tuple[list[str], list[str]]:
    args = train_args(c.fresh_store, c.mixed, "--target", "approved", "--workers", "2")
    return args, ["--scheduler and --workers go with --engine dask"]


def _zero_workers(c: Ctx) -> tuple[list[str], list[str]]:
    args = train_args(c.fresh_store, c.mixed, "--target", "approved", "--engine", "dask", "--workers", "0")
    return args, ["--workers", "0"]


def _dask_data_matches_nothing(c: Ctx) -> tuple[list[str], list[str]]:
    pattern = str(c.tmp / "parts" / "*.parquet")
    args = train_args(c.fresh_store, pattern, "--target", "approved", "--engine", "dask", "--scheduler", "tcp://x:1")
    return args, ["no CSV or Parquet files found", pattern]


def _report_missing_model(c: Ctx) -> tuple[list[str], list[str]]:
    return ["report", "--store", c.store, "nope"], ["'nope'", c.store]


def _predict_missing_input(c: Ctx) -> tuple[list[str], list[str]]:
    path = c.tmp / "no-input.csv"
    return ["predict", "--store", c.store, "--name", NAME, str(path)], ["input file not found", str(path)]


def _predict_bad_json_value(c: Ctx) -> tuple[list[str], list[str]]:
    records = feature_records(c.mixed, 3)
    records[1]["x1"] = "abc"
    records[2]["x2"] = "zzz"
    path = c.write("bad.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    fragments = [str(path), "row 1, field 'x1'", "'abc'", "\n  row 2, field 'x2': expected a number, got 'zzz'"]
    return ["predict", "--store", c.store, "--name", NAME, str(path)], fragments


def _predict_bad_csv_value(c: Ctx) -> tuple[list[str], list[str]]:
    frame = pd.read_csv(c.mixed)[FEATURES].head(5)
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[3, "amount"] = "lots"
    path = c.tmp / "bad.csv"
    frame.to_csv(path, index=False)
    return ["predict", "--store", c.store, "--name", NAME, str(path)], [str(path), "row 3", "'amount'", "'lots'"]


def _predict_invalid_json(c: Ctx) -> tuple[list[str], list[str]]:
    path = c.write("broken.jsonl", '{"x1": 1.0}\n{"x1": \n')
    return ["predict", "--store", c.store, "--name", NAME, str(path)], [str(path), "line 2", "not valid JSON"]


def _show_missing_model(c: Ctx) -> tuple[list[str], list[str]]:
    return ["models", "show", "--store", c.store, "nope"], ["'nope'", c.store]


def _show_missing_version(c: Ctx) -> tuple[list[str], list[str]]:
    version = "20000101-000000-deadbeef"
    return ["models", "show", "--store", c.store, NAME, version], [f"'{version}'", f"'{NAME}'", c.store]


def _promote_missing_version(c: Ctx) -> tuple[list[str], list[str]]:
    version = "20000101-000000-deadbeef"
    return ["models", "promote", "--store", c.store, NAME, version], [f"'{version}'", f"'{NAME}'"]


def _list_missing_model(c: Ctx) -> tuple[list[str], list[str]]:
    return ["models", "list", "--store", c.store, "nope"], ["'nope'", c.store]


USER_ERRORS = [
    pytest.param(_missing_target, id="missing-target-column"),
    pytest.param(_abc_in_numeric, id="string-in-numeric-schema-column"),
    pytest.param(_empty_file, id="empty-file"),
    pytest.param(_header_only, id="header-only-csv"),
    pytest.param(_file_uri_with_space, id="file-uri-percent-escaped"),
    pytest.param(_file_uri_with_host, id="file-uri-with-host"),
    pytest.param(_single_class, id="single-class-target"),
    pytest.param(_unlabelled_rows, id="unlabelled-rows"),
    pytest.param(_missing_data, id="missing-data-file"),
    pytest.param(_s3_uri("s3://", "no bucket name"), id="s3-empty"),
    pytest.param(_s3_uri("s3:///key", "no bucket name"), id="s3-no-bucket"),
    pytest.param(_s3_uri("s3://Bad_Bucket/x.csv", "'Bad_Bucket' is not a valid bucket name"), id="s3-bad-bucket"),
    pytest.param(_s3_uri("s3://bucket", "expected s3://bucket/key"), id="s3-no-key"),
    pytest.param(_s3_uri("s3://bucket/data/", "expected s3://bucket/key"), id="s3-prefix-not-file"),
    pytest.param(_garbage_parquet, id="unreadable-parquet"),
    pytest.param(_unknown_feature_type, id="schema-unknown-type"),
    pytest.param(_invalid_yaml, id="schema-invalid-yaml"),
    pytest.param(_absent_positive_class, id="positive-class-absent"),
    pytest.param(_param_without_equals, id="param-without-equals"),
    pytest.param(_gate_not_a_number, id="gate-not-a-number"),
    pytest.param(_gate_unknown_metric, id="gate-unknown-metric"),
    pytest.param(_bad_name, id="invalid-name"),
    pytest.param(_zero_rows, id="zero-rows"),
    pytest.param(_negative_threads, id="negative-threads"),
    pytest.param(_workers_without_dask, id="workers-without-dask-engine"),
    pytest.param(_zero_workers, id="zero-dask-workers"),
    pytest.param(_dask_data_matches_nothing, id="dask-data-glob-matches-nothing"),
    pytest.param(_report_missing_model, id="report-missing-model"),
    pytest.param(_predict_missing_input, id="predict-missing-input"),
    pytest.param(_predict_bad_json_value, id="predict-jsonl-bad-value"),
    pytest.param(_predict_bad_csv_value, id="predict-csv-bad-value"),
    pytest.param(_predict_invalid_json, id="predict-invalid-json-line"),
    pytest.param(_show_missing_model, id="show-missing-model"),
    pytest.param(_show_missing_version, id="show-missing-version"),
    pytest.param(_promote_missing_version, id="promote-missing-version"),
    pytest.param(_list_missing_model, id="list-missing-model"),
]


@pytest.mark.parametrize("case", USER_ERRORS)
def test_user_errors_exit_2_and_name_the_culprit(
    case: Case, tmp_path: Path, mixed_csv: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args, fragments = case(Ctx(tmp=tmp_path, mixed=mixed_csv, store=store))
    code, out, err = cli(capsys, *args)
    assert code == 2, err
    assert err.startswith("treeport: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert out == ""
    assert not (tmp_path / "fresh-store").exists(), "a failed run must not publish anything"


def test_gate_rejection_exits_3_and_publishes_nothing(
    tmp_path: Path, mixed_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = (tmp_path / "models").as_uri()
    args = train_args(uri, mixed_csv, "--target", "approved", "--positive-class", "yes", "--gate", "auc=0.999")
    code, out, err = cli(capsys, *args)
    assert code == 3, err
    assert "model rejected by the gate" in err
    assert "auc" in err and "0.999" in err
    assert "Traceback" not in err
    assert "trained" not in out
    assert not (tmp_path / "models" / NAME / "LATEST").exists()

    code, out, err = cli(capsys, "models", "list", "--store", uri)
    assert (code, out) == (0, "")
    code, out, err = cli(capsys, "models", "list", "--store", uri, NAME)
    assert code == 2 and f"no model {NAME!r}" in err


def test_train_prints_version_metrics_and_parity(
    tmp_path: Path, mixed_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = (tmp_path / "models").as_uri()
    code, out, err = cli(capsys, *train_args(uri, mixed_csv, "--target", "approved", "--positive-class", "yes"))
    assert code == 0, err
    assert err == ""
    assert f"trained {NAME} version " in out
    version = out.split(f"trained {NAME} version ", 1)[1].split()[0]
    assert "metrics:" in out and "auc=" in out
    assert "parity" in out and "daal4py vs xgboost" in out
    assert f"{uri}/{NAME}/{version}" in out
    assert (tmp_path / "models" / NAME / "LATEST").read_text().strip() == version
    assert "positive class" not in out, "--positive-class was given, so no note about choosing it"


def test_drop_unlabelled_trains_on_the_labelled_rows(
    tmp_path: Path, mixed_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(mixed_csv)
    _unlabel(frame)
    data = tmp_path / "unlabelled.csv"
    frame.to_csv(data, index=False)
    uri = (tmp_path / "models").as_uri()
    code, out, err = cli(capsys, *train_args(uri, data, "--target", "approved", "--drop-unlabelled"))
    assert code == 0, err
    assert "note: dropped 2 row(s) with no 'approved' value" in out
    assert f"({len(frame) - 2} rows:" in out


def test_models_list_and_show(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "models", "list", "--store", store)
    assert (code, out.splitlines()) == (0, [NAME]), err

    code, out, err = cli(capsys, "models", "list", "--store", store, NAME)
    assert code == 0, err
    [line] = out.splitlines()
    version, marker = line.split()
    assert marker == "LATEST"

    code, out, err = cli(capsys, "models", "show", "--store", store, NAME)
    assert code == 0, err
    assert f"{NAME} version {version} (LATEST), binary, checksums verified" in out
    assert "parity" in out and "metrics:" in out


def test_models_show_json_manifest(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "models", "show", "--store", store, NAME, "--json")
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["name"] == NAME
    assert manifest["task"] == "binary"
    assert manifest["schema"]["target"]["positive_class"] == "yes"
    assert manifest["parity"]["max_abs_diff"] <= 1e-5
    assert manifest["parity"]["label_agreement"] == 1.0
    root = Path(store.removeprefix("file://")) / NAME / manifest["version"]
    for filename in ("model.json", "preprocessor.json"):
        entry = manifest["files"][filename]
        data = (root / filename).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_promote_moves_latest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = (tmp_path / "models").as_uri()
    versions = []
    for seed in ("1", "2"):  # different seeds: different models, so different version ids
        code, out, err = cli(
            capsys, "train", "--store", uri, "--name", "credit", "--rows", "2000", "--seed", seed, *FAST
        )
        assert code == 0, err
        versions.append(out.split("trained credit version ", 1)[1].split()[0])
    old, new = versions
    assert old != new
    latest = tmp_path / "models" / "credit" / "LATEST"
    assert latest.read_text().strip() == new

    code, out, err = cli(capsys, "models", "promote", "--store", uri, "credit", old)
    assert code == 0, err
    assert f"promoted credit version {old} to LATEST" in out
    assert latest.read_text().strip() == old

    code, out, err = cli(capsys, "models", "list", "--store", uri, "credit")
    assert code == 0, err
    assert sorted(out.splitlines()) == sorted([f"{old}  LATEST", new])
    code, out, err = cli(capsys, "models", "show", "--store", uri, "credit")
    assert code == 0, err
    assert f"credit version {old} (LATEST)" in out


def _predictions(out: str) -> list[dict[str, object]]:
    results = [json.loads(line) for line in out.splitlines()]
    for result in results:
        assert set(result) == {"label", "probability"}
        assert result["label"] in ("yes", "no")
        assert 0.0 <= result["probability"] <= 1.0  # type: ignore[operator]
        assert (result["label"] == "yes") == (result["probability"] >= 0.5)  # type: ignore[operator]
    return results


def test_predict_csv_and_json_lines(
    store: str, mixed_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = 25
    csv = tmp_path / "input.csv"
    pd.read_csv(mixed_csv).head(rows).to_csv(csv, index=False)  # the target column is extra and ignored
    jsonl = tmp_path / "input.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in feature_records(mixed_csv, rows)))

    code, out, err = cli(capsys, "predict", "--store", store, "--name", NAME, str(csv))
    assert code == 0, err
    from_csv = _predictions(out)
    code, out, err = cli(capsys, "predict", "--store", store, "--name", NAME, str(jsonl))
    assert code == 0, err
    from_jsonl = _predictions(out)

    assert len(from_csv) == len(from_jsonl) == rows
    assert [r["label"] for r in from_csv] == [r["label"] for r in from_jsonl]
    for a, b in zip(from_csv, from_jsonl, strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-6)
    truth = pd.read_csv(mixed_csv)["approved"].head(rows).tolist()
    agreement = sum(r["label"] == t for r, t in zip(from_csv, truth, strict=True)) / rows
    assert agreement >= 0.7


@pytest.mark.integration
def test_train_and_predict_on_s3(
    bucket: str, mixed_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.upload_file(str(mixed_csv), bucket, "data/mixed.csv")
    store = f"s3://{bucket}/models"
    data = f"s3://{bucket}/data/mixed.csv"

    code, out, err = cli(capsys, *train_args(store, data, "--target", "approved", "--positive-class", "yes"))
    assert code == 0, err
    version = out.split(f"trained {NAME} version ", 1)[1].split()[0]
    assert f"{store}/{NAME}/{version}" in out
    assert data in out  # the data source is recorded in the summary
    latest = s3.get_object(Bucket=bucket, Key=f"models/{NAME}/LATEST")["Body"].read().decode().strip()
    assert latest == version

    code, out, err = cli(capsys, "models", "list", "--store", store)
    assert (code, out.splitlines()) == (0, [NAME]), err
    code, out, err = cli(capsys, "models", "show", "--store", store, NAME, "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == version

    inputs = tmp_path / "input.csv"
    pd.read_csv(mixed_csv).head(10).to_csv(inputs, index=False)
    code, out, err = cli(capsys, "predict", "--store", store, "--name", NAME, str(inputs))
    assert code == 0, err
    assert len(_predictions(out)) == 10


@pytest.mark.integration
@pytest.mark.parametrize(
    ("key", "fragment"),
    [("data/absent.csv", "no such object"), (None, "bucket does not exist")],
    ids=["missing-object", "missing-bucket"],
)
def test_s3_data_errors_exit_2(
    bucket: str, key: str | None, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"s3://{bucket}/{key}" if key else f"s3://{bucket}-absent/data/mixed.csv"
    code, out, err = cli(capsys, *train_args(tmp_path.as_uri(), uri, "--target", "approved"))
    assert code == 2, err
    assert out == ""
    assert uri in err and fragment in err
    assert "Traceback" not in err


@pytest.mark.integration
def test_console_script_exits_2_for_missing_data(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "treeport"
    assert exe.exists(), f"console script not installed next to {sys.executable}"
    data = tmp_path / "absent.csv"
    proc = subprocess.run(
        [str(exe), "train", "--data", str(data), "--target", "y", "--store", (tmp_path / "models").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("treeport: error: ")
    assert "data file not found" in proc.stderr and str(data) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_predict_accepts_a_json_array(
    store: str, mixed_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(feature_records(mixed_csv, 3)))
    code, out, _ = cli(capsys, "predict", "--store", store, "--name", NAME, str(path))
    assert code == 0
    assert [set(json.loads(line)) for line in out.splitlines()] == [{"label", "probability"}] * 3


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["--port", "0"], {}, ["--port", "0"]),
        (["--port", "70000"], {}, ["--port", "70000"]),
        (["--workers", "0"], {}, ["--workers", "0"]),
        (["--host", " "], {}, ["--host"]),
        ([], {"TREEPORT_API_KEYS": "secret"}, ["TREEPORT_API_KEYS", "'secret'"]),
        ([], {"TREEPORT_MAX_ROWS": "many"}, ["TREEPORT_MAX_ROWS", "'many'"]),
    ],
    ids=["port-0", "port-too-large", "no-workers", "blank-host", "plain-api-key", "max-rows-not-a-number"],
)
def test_serve_rejects_bad_settings_before_starting_gunicorn(
    args: list[str],
    env: dict[str, str],
    fragments: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Only failures run in-process here: a valid `serve` replaces the process with gunicorn
    # (tests/api/test_gunicorn.py starts it as a subprocess).
    code, out, err = cli(capsys, "serve", "--store", tmp_path.as_uri(), *args)
    assert code == 2, err
    assert out == ""
    assert err.startswith("treeport: error: ") and all(f in err for f in fragments), err


def test_serve_passes_its_flags_to_the_app_as_treeport_variables(tmp_path: Path) -> None:
    from treeport.cli import build_parser, gunicorn_command, serve_environment

    flags = ["--host", "::1", "--port", "9000", "--workers", "3", "--store", tmp_path.as_uri()]
    args = build_parser().parse_args(["serve", *flags, "--name", "churn", "--version", "v1", "--backend", "xgboost"])
    env = serve_environment(args, {"TREEPORT_RELOAD_SECONDS": "5"})
    assert env == {
        "TREEPORT_RELOAD_SECONDS": "5",
        "TREEPORT_BIND": "[::1]:9000",
        "TREEPORT_WORKERS": "3",
        "TREEPORT_MODEL_STORE": tmp_path.as_uri(),
        "TREEPORT_MODEL_NAME": "churn",
        "TREEPORT_MODEL_VERSION": "v1",
        "TREEPORT_BACKEND": "xgboost",
    }
    argv = gunicorn_command()
    assert argv[:3] == [sys.executable, "-m", "gunicorn"]
    assert Path(argv[argv.index("--config") + 1]).is_file()
    assert argv[-1] == "api.app:create_app()"


def test_predict_refuses_an_integer_beyond_pythons_digit_limit(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_text('{"x1": ' + "9" * 5000 + "}\n")
    code, out, err = cli(capsys, "predict", "--store", store, "--name", NAME, str(path))
    assert code == 2 and out == ""
    assert f"{path}: line 1 is not usable JSON" in err


def test_report_prints_the_summary_and_where_each_file_is(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "report", "--store", store, NAME)
    assert code == 0, err
    version = out.split(f"{NAME} version ", 1)[1].split(",")[0]
    assert f"{NAME} version {version}, binary, checksums verified" in out
    assert "metrics:" in out and "auc=" in out and "parity:" in out
    assert "gain:" in out and "x1 " in out
    root = Path(store.removeprefix("file://")) / NAME / version
    names = ("calibration.png", "importance.png", "learning_curve.png", "metrics.json")
    for name in (*names, "precision_recall.png", "roc.png"):
        path = root / "report" / name
        assert f"{store}/{NAME}/{version}/report/{name}  ({path.stat().st_size:,} bytes)" in out
    assert "report:  6 file(s)" in out


LONG = ["--param", "num_boost_round=60", "--param", "early_stopping_rounds=0", "--param", "max_depth=3"]


def test_progress_goes_to_stderr_without_a_terminal_and_not_with_quiet(
    tmp_path: Path, mixed_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--store", (tmp_path / "models").as_uri(), "--data", str(mixed_csv), "--target", "approved"]
    code, out, err = cli(capsys, *args, *LONG)
    assert code == 0, err
    assert err.splitlines()[0].startswith("training: round 50/60, valid logloss ")
    assert err.splitlines()[1].startswith("training: round 60/60, valid logloss ")
    assert len(err.splitlines()) == 2
    assert "training:" not in out, "progress never mixes with the results on stdout"

    code, out, err = cli(capsys, *args, *LONG, "--quiet")
    assert code == 0, err
    assert err == ""
    assert "trained credit-risk version" in out


@pytest.mark.integration
def test_progress_is_a_bar_when_stdout_is_a_terminal(tmp_path: Path, mixed_csv: Path) -> None:
    import os
    import pty

    exe = Path(sys.executable).parent / "treeport"
    primary, secondary = pty.openpty()
    store = (tmp_path / "models").as_uri()
    args = [str(exe), "train", "--store", store, "--data", str(mixed_csv), "--target", "approved", *LONG]
    try:
        proc = subprocess.run(args, stdout=secondary, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(secondary)
    try:
        while os.read(primary, 65536):  # drain the terminal side (the summary went there)
            pass
    except OSError:  # EIO once the terminal has no writer left
        pass
    finally:
        os.close(primary)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert err.startswith("\rtraining [") and err.endswith("\n")
    assert "] 60/60, valid logloss " in err.rstrip("\n").split("\r")[-1]
    assert "training: round" not in err


def test_dask_engine_through_the_cli(dask_scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = (tmp_path / "models").as_uri()
    rounds = ["--param", "num_boost_round=120", "--param", "early_stopping_rounds=0", "--param", "max_depth=3"]
    args = ["train", "--store", uri, "--name", "credit", "--rows", "5000", "--seed", "3", *rounds]
    code, out, err = cli(capsys, *args, "--engine", "dask", "--scheduler", dask_scheduler)
    assert code == 0, err
    assert f"engine: dask, 2 workers ({dask_scheduler})" in out
    assert "(5000 rows: 3500 train / 750 valid / 750 test)" in out
    assert "daal4py vs xgboost on 750 test rows" in out
    # Progress is sent by the workers as Dask events and shown here, on this process's stderr.
    assert "training: round 50/120, valid logloss " in err
    assert err.splitlines()[-1].startswith("training: round 120/120, valid logloss ")

    code, out, err = cli(capsys, "report", "--store", uri, "credit")
    assert code == 0, err
    assert "engine: dask" in out and "report:  6 file(s)" in out


@pytest.mark.slow
def test_dask_engine_starts_and_closes_its_own_local_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    uri = (tmp_path / "models").as_uri()
    code, out, err = cli(capsys, "train", "--store", uri, "--rows", "3000", *FAST, "--engine", "dask", "--workers", "1")
    assert code == 0, err
    assert "engine: dask, 1 worker (LocalCluster on 127.0.0.1)" in out
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()]
    assert left == [], f"the LocalCluster's processes outlived the command: {left}"


def test_deploy_is_wired_into_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "deploy", "serverless", "plan", "--image-uri", "repo:tag", "--dry-run")
    assert code == 0
    assert "terraform" in out and "stacks/serverless" in out and "image_uri=repo:tag" in out
    with pytest.raises(SystemExit) as info:
        main(["deploy", "nowhere", "plan"])
    assert info.value.code == 2


SERVE_ENV_CASES = [
    # (variable, value, what the app then reads): every serve flag with a TREEPORT_ equivalent.
    ("TREEPORT_MODEL_NAME", "churn", ("model_name", "churn")),
    ("TREEPORT_MODEL_VERSION", "20260101T000000Z-abc", ("model_version", "20260101T000000Z-abc")),
    ("TREEPORT_BACKEND", "xgboost", ("backend", "xgboost")),
    ("TREEPORT_MODEL_STORE", "s3://bucket/prefix", ("model_store", "s3://bucket/prefix")),
]


@pytest.mark.parametrize(("var", "value", "expected"), SERVE_ENV_CASES, ids=[c[0] for c in SERVE_ENV_CASES])
def test_serve_flags_default_to_the_environment(
    var: str, value: str, expected: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TREEPORT_MODEL_NAME=churn treeport serve` serves churn: an unset flag leaves the variable as it is."""
    from api.settings import Settings
    from treeport.cli import build_parser, serve_environment

    for other in ("TREEPORT_MODEL_NAME", "TREEPORT_MODEL_VERSION", "TREEPORT_BACKEND", "TREEPORT_MODEL_STORE"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(var, value)
    args = build_parser().parse_args(["serve"])
    env = serve_environment(args, {var: value})
    field, wanted = expected
    assert getattr(Settings.from_env(env), field) == wanted


def test_serve_bind_and_workers_default_to_the_environment() -> None:
    from treeport.cli import build_parser, serve_environment

    parser = build_parser()
    env = serve_environment(parser.parse_args(["serve"]), {"TREEPORT_BIND": "127.0.0.1:9001", "TREEPORT_WORKERS": "3"})
    assert env["TREEPORT_BIND"] == "127.0.0.1:9001" and env["TREEPORT_WORKERS"] == "3"
    # A flag still wins over its variable, and the part of the address it does not name comes from the variable.
    env = serve_environment(parser.parse_args(["serve", "--port", "9002"]), {"TREEPORT_BIND": "0.0.0.0:9001"})
    assert env["TREEPORT_BIND"] == "0.0.0.0:9002"
    env = serve_environment(parser.parse_args(["serve", "--host", "::1"]), {"TREEPORT_BIND": "0.0.0.0:9001"})
    assert env["TREEPORT_BIND"] == "[::1]:9001"
    # Nothing set anywhere: loopback on 8080, as the help says.
    assert serve_environment(parser.parse_args(["serve"]), {})["TREEPORT_BIND"] == "127.0.0.1:8080"


@pytest.mark.parametrize(
    ("bind", "flags"),
    [
        ("nonsense", []),
        ("nonsense", ["--port", "9000"]),
        ("127.0.0.1:http", []),
        ("127.0.0.1:70000", ["--host", "127.0.0.1"]),
        ("unix:/tmp/treeport.sock", ["--port", "9000"]),
    ],
    ids=["no-port", "no-port-with-flag", "port-not-a-number", "port-out-of-range", "socket-with-port"],
)
def test_serve_refuses_a_bad_treeport_bind(
    bind: str, flags: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TREEPORT_BIND", bind)
    # Were the address accepted, `serve` would replace this pytest process with gunicorn: fail instead.
    monkeypatch.setattr("os.execve", lambda *a: pytest.fail(f"serve accepted TREEPORT_BIND={bind!r}"))
    code, out, err = cli(capsys, "serve", *flags)
    assert code == 2 and out == ""
    assert err.startswith("treeport: error: ") and "TREEPORT_BIND" in err and repr(bind) in err, err


def test_serve_passes_a_socket_bind_through(tmp_path: Path) -> None:
    from treeport.cli import build_parser, serve_environment

    bind = f"unix:{tmp_path / 'treeport.sock'}"
    assert serve_environment(build_parser().parse_args(["serve"]), {"TREEPORT_BIND": bind})["TREEPORT_BIND"] == bind


def test_predict_and_train_names_default_to_the_environment(
    tmp_path: Path, mixed_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`TREEPORT_MODEL_NAME` names the model for train and predict too, as it does for serve."""
    uri = (tmp_path / "models").as_uri()
    monkeypatch.setenv("TREEPORT_MODEL_STORE", uri)
    monkeypatch.setenv("TREEPORT_MODEL_NAME", "churn")
    code, out, err = cli(capsys, "train", "--data", str(mixed_csv), "--target", "approved", "--quiet", *FAST)
    assert code == 0, err
    assert "trained churn version" in out
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in feature_records(mixed_csv, 2)) + "\n")
    monkeypatch.setenv("TREEPORT_BACKEND", "xgboost")
    code, out, err = cli(capsys, "predict", str(rows))
    assert code == 0, err
    assert len(out.splitlines()) == 2
    monkeypatch.setenv("TREEPORT_BACKEND", "sagemaker")
    code, out, err = cli(capsys, "predict", str(rows))
    assert code == 2 and "TREEPORT_BACKEND" in err and "'sagemaker'" in err, err


@pytest.mark.integration
@pytest.mark.slow
def test_treeport_serve_serves_the_model_the_environment_names(tmp_path: Path, mixed_csv: Path) -> None:
    """As a user following the README: `TREEPORT_MODEL_NAME=churn treeport serve` answers as churn."""
    import http.client
    import os
    import signal
    import socket
    import time

    store = tmp_path / "models"
    for name in ("credit-risk", "churn"):
        assert main(train_args(store.as_uri(), mixed_csv, "--target", "approved", "--quiet", name=name)) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREEPORT_", "PROMETHEUS_", "GUNICORN_"))}
    env |= {"TREEPORT_MODEL_NAME": "churn", "TREEPORT_MODEL_STORE": store.as_uri()}
    exe = Path(sys.executable).parent / "treeport"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        answer: tuple[int, bytes] | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/metadata")
                response = conn.getresponse()
                answer = (response.status, response.read())
                conn.close()
                if answer[0] != 503:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert answer is not None, log.read_text()
        status, body = answer
        assert status == 200, body[:300]
        assert json.loads(body)["name"] == "churn"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
