"""The Dask engine against the local one, on a real LocalCluster of 2 worker processes on 127.0.0.1.

The same seed gives both engines the same split (the local engine's `split` over the same rows), so
their preprocessors must be equal and their test AUCs within 0.005 (only xgboost.dask's distributed
histogram building differs).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import bundle as bundle_io
from model.errors import DataError, UserError
from model.pipeline import TrainConfig, TrainResult, run_training
from model.predictor import Predictor
from model.preprocess import Preprocessor
from model.schema import infer_schema
from model.store import FileStore
from model.train import encode_target, split
from tests.conftest import mixed_frame

# The default model's parameters, as `treeport train` uses them: the comparison is about the real thing.
SEED = 42


@pytest.fixture(scope="module")
def both_engines(
    tmp_path_factory: pytest.TempPathFactory, dask_scheduler: str
) -> Iterator[dict[str, tuple[Path, TrainResult]]]:
    """The default synthetic data (50,000 rows) trained by each engine with the same seed and parameters."""
    out = {}
    for engine in ("local", "dask"):
        store = tmp_path_factory.mktemp(f"store-{engine}")
        config = TrainConfig(
            store=store.as_uri(), seed=SEED, engine=engine, scheduler=dask_scheduler if engine == "dask" else None
        )
        out[engine] = (store, run_training(config))
    yield out


@pytest.mark.slow
def test_dask_auc_is_within_0005_of_local(both_engines: dict[str, tuple[Path, TrainResult]]) -> None:
    local, dask = both_engines["local"][1], both_engines["dask"][1]
    assert local.manifest["training"]["rows"] == dask.manifest["training"]["rows"] == 50_000
    for key in ("train_rows", "valid_rows", "test_rows"):
        assert local.manifest["training"][key] == dask.manifest["training"][key]
    assert abs(local.metrics["auc"] - dask.metrics["auc"]) <= 0.005, (local.metrics, dask.metrics)
    assert dask.metrics["auc"] > 0.8
    assert dask.manifest["training"]["engine"]["name"] == "dask"
    assert dask.manifest["training"]["engine"]["workers"] == 2


@pytest.mark.slow
def test_dask_preprocessor_equals_local(both_engines: dict[str, tuple[Path, TrainResult]]) -> None:
    pre = {}
    for engine, (store, result) in both_engines.items():
        bundle = bundle_io.load_bundle(FileStore(store), result.name, result.version)
        pre[engine] = bundle.json(bundle_io.PREPROCESSOR_FILE)
    assert pre["dask"] == pre["local"]
    assert both_engines["dask"][1].manifest["schema"] == both_engines["local"][1].manifest["schema"]


@pytest.mark.slow
def test_dask_bundle_has_the_local_form_loads_and_passes_parity(
    both_engines: dict[str, tuple[Path, TrainResult]], credit_frame: pd.DataFrame
) -> None:
    dask_store, dask = both_engines["dask"]
    manifests = {
        engine: bundle_io.load_bundle(FileStore(store), result.name, result.version).manifest
        for engine, (store, result) in both_engines.items()
    }
    assert set(manifests["dask"]["files"]) == set(manifests["local"]["files"])
    assert set(manifests["dask"]) == set(manifests["local"])
    assert set(manifests["dask"]["training"]) == set(manifests["local"]["training"])
    assert dask.parity.ok and dask.parity.rows == dask.manifest["training"]["test_rows"]
    assert dask.manifest["parity_convert_model"]["max_abs_diff"] <= 1e-5

    records = credit_frame.drop(columns=["loan_status"]).head(500)
    served = Predictor.load(dask_store.as_uri(), dask.name, backend="daal4py")
    reference = Predictor.load(dask_store.as_uri(), dask.name, backend="xgboost")
    assert served.version == dask.version
    x = served.encode(records)
    np.testing.assert_allclose(served.backend.outputs(x), reference.backend.outputs(x), atol=1e-5)
    assert [r["label"] for r in served.predict(records)] == [r["label"] for r in reference.predict(records)]


def _write_partitions(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """Write `frame` as three files (two CSV, one Parquet) whose sorted order is the frame's row order."""
    folder.mkdir()
    bounds = [0, len(frame) // 3, 2 * len(frame) // 3, len(frame)]
    paths = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        piece = frame.iloc[a:b]
        if i == 2:
            path = folder / f"part-{i}.parquet"
            piece.to_parquet(path, index=False)
        else:
            path = folder / f"part-{i}.csv"
            piece.to_csv(path, index=False)
        paths.append(path)
    (folder / "_SUCCESS").write_text("")
    return paths


def _rare_frame() -> pd.DataFrame:
    """The mixed data plus a `channel` column with categories so rare that some miss the training rows."""
    frame = mixed_frame(rows=900, seed=5)
    rng = np.random.default_rng(5)
    frame["channel"] = rng.choice(["web", "branch", "phone"], size=len(frame))
    frame.loc[[17, 401, 802], "channel"] = ["fax", "kiosk", "post"]
    return frame.drop(columns=["tier", "amount"])


def test_preprocessing_statistics_equal_the_local_fit(tmp_path: Path, dask_scheduler: str) -> None:
    from distributed import Client

    from model.distributed import prepare

    frame = _rare_frame()
    _write_partitions(frame, tmp_path / "data")
    config = TrainConfig(store=tmp_path.as_uri(), data=str(tmp_path / "data"), target="approved", seed=11)
    with Client(dask_scheduler) as client:
        prepared = prepare(client, config)
        # The local engine's own steps on the same rows (read back as the three files hold them).
        local = pd.concat(
            [pd.read_csv(tmp_path / "data" / f"part-{i}.csv") for i in (0, 1)]
            + [pd.read_parquet(tmp_path / "data" / "part-2.parquet")],
            ignore_index=True,
        )
        schema = infer_schema(local, "approved", source=str(tmp_path / "data"))
        y = encode_target(local, schema.target)
        parts = split(y, stratify=True, seed=11)
        expected = Preprocessor.fit(local.iloc[parts.train], schema)

    assert prepared.schema == schema
    np.testing.assert_array_equal(prepared.parts.test, parts.test)
    np.testing.assert_array_equal(prepared.y, y)
    assert prepared.preprocessor.to_dict() == expected.to_dict()
    channel = prepared.preprocessor.trained_categories["channel"]
    assert {"web", "branch", "phone"} <= set(channel)
    # The test means something only if a category really is missing from the training rows.
    schema_channel = next(f for f in schema.features if f.name == "channel")
    assert set(channel) < set(schema_channel.categories)  # type: ignore[union-attr]
    assert prepared.tagged.npartitions == 3
    assert [sum(c) for c in prepared.counts.values()] == [len(parts.train), len(parts.valid), len(parts.test)]


def test_dask_engine_trains_on_partitioned_files(tmp_path: Path, dask_scheduler: str) -> None:
    frame = _rare_frame()
    _write_partitions(frame, tmp_path / "data")
    result = run_training(
        TrainConfig(
            store=(tmp_path / "store").as_uri(),
            name="parts",
            data=str(tmp_path / "data" / "part-*"),
            target="approved",
            positive_class="yes",
            params={"num_boost_round": 30, "max_depth": 3},
            engine="dask",
            scheduler=dask_scheduler,
        )
    )
    assert result.manifest["training"]["source"] == f"{tmp_path / 'data' / 'part-*'} (3 files)"
    assert result.manifest["training"]["engine"]["partitions"] == 3
    assert result.metrics["auc"] > 0.8
    assert result.parity.ok
    predictor = Predictor.load((tmp_path / "store").as_uri(), "parts")
    assert predictor.predict([{"x1": 1.0, "x2": 3.0, "color": "red", "size": "L", "channel": "fax"}])[0]["label"] in (
        "yes",
        "no",
    )


def test_a_file_with_other_columns_is_named(tmp_path: Path, dask_scheduler: str) -> None:
    frame = _rare_frame()
    paths = _write_partitions(frame, tmp_path / "data")
    pd.read_csv(paths[1]).drop(columns=["size"]).to_csv(paths[1], index=False)
    config = TrainConfig(
        store=(tmp_path / "store").as_uri(),
        data=str(tmp_path / "data"),
        target="approved",
        engine="dask",
        scheduler=dask_scheduler,
    )
    with pytest.raises(DataError) as info:
        run_training(config)
    assert str(paths[1]) in info.value.message and "missing ['size']" in info.value.message
    assert str(paths[0]) in info.value.message
    assert not (tmp_path / "store").exists()


def test_a_bad_value_in_one_file_names_that_file(tmp_path: Path, dask_scheduler: str) -> None:
    frame = _rare_frame()
    paths = _write_partitions(frame, tmp_path / "data")
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "target: {name: approved, task: binary, positive_class: 'yes'}\n"
        "features:\n  - {name: x1, type: numeric, min: -100, max: 100}\n"
    )
    piece = pd.read_parquet(paths[2])
    piece.loc[piece.index[4], "x1"] = 1e6
    piece.to_parquet(paths[2], index=False)
    config = TrainConfig(
        store=(tmp_path / "store").as_uri(),
        data=str(tmp_path / "data"),
        schema_path=str(schema),
        engine="dask",
        scheduler=dask_scheduler,
    )
    with pytest.raises(UserError) as info:
        run_training(config)
    assert str(paths[2]) in info.value.message
    assert "row 4" in info.value.message and "'x1'" in info.value.message


@pytest.mark.parametrize(
    ("layout", "pattern", "expected"),
    [
        ("dir", "data", ["data/a.csv", "data/b/c.parquet", "data/d.pq"]),
        ("glob", "data/*.csv", ["data/a.csv", "data/notes.csv"]),
        ("file", "data/a.csv", ["data/a.csv"]),
    ],
)
def test_partition_uris(tmp_path: Path, layout: str, pattern: str, expected: list[str]) -> None:
    from model.distributed import partition_uris

    for name in ("data/a.csv", "data/b/c.parquet", "data/d.pq", "data/_SUCCESS", "data/.a.csv.crc", "data/readme.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n1\n")
    if layout == "glob":
        (tmp_path / "data" / "notes.csv").write_text("x\n1\n")
    assert partition_uris(str(tmp_path / pattern)) == [str(tmp_path / e) for e in expected]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("absent", "data file not found"), ("empty", "no CSV or Parquet files found"), ("*.nope", "no CSV or Parquet")],
)
def test_partition_uris_refuses_nothing_to_read(tmp_path: Path, pattern: str, message: str) -> None:
    from model.distributed import partition_uris

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=message):
        partition_uris(str(tmp_path / pattern))


@pytest.mark.integration
def test_partition_uris_lists_an_s3_prefix_and_glob(bucket: str) -> None:
    import boto3

    from model.distributed import partition_uris

    s3 = boto3.client("s3")
    for key in ("data/b.csv", "data/a.parquet", "data/sub/c.csv", "data/_SUCCESS", "other/x.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x\n1\n")
    prefix = f"s3://{bucket}/data"
    assert partition_uris(prefix) == [f"{prefix}/a.parquet", f"{prefix}/b.csv", f"{prefix}/sub/c.csv"]
    assert partition_uris(f"{prefix}/*.csv") == [f"{prefix}/b.csv", f"{prefix}/sub/c.csv"]
    assert partition_uris(f"{prefix}/b.csv") == [f"{prefix}/b.csv"]
    with pytest.raises(UserError, match="no CSV or Parquet objects found"):
        partition_uris(f"s3://{bucket}/nothing/")


def test_workers_and_scheduler_are_exclusive(tmp_path: Path) -> None:
    config = TrainConfig(store=tmp_path.as_uri(), engine="dask", scheduler="tcp://127.0.0.1:8786", workers=2)
    with pytest.raises(UserError, match="--workers"):
        run_training(config)


def test_unknown_engine_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown training engine 'spark'"):
        run_training(TrainConfig(store=tmp_path.as_uri(), engine="spark"))


def test_local_engine_and_serving_never_import_dask(tmp_path: Path) -> None:
    script = f"""
import sys
from model.pipeline import TrainConfig, run_training
from model.predictor import Predictor
run_training(TrainConfig(store={tmp_path.as_uri()!r}, rows=2000, params={{"num_boost_round": 5}}))
from model.data import credit_risk
rows = credit_risk(3, seed=1).drop(columns=["loan_status"])
Predictor.load({tmp_path.as_uri()!r}, "credit-risk").predict(rows)
print(sorted(m for m in ("dask", "distributed", "xgboost.dask") if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, cwd=Path.cwd()
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')) == []


def test_unlabelled_rows_are_dropped_as_the_local_engine_drops_them(tmp_path: Path, dask_scheduler: str) -> None:
    frame = _rare_frame()
    frame.loc[[5, 450, 899], "approved"] = None
    _write_partitions(frame, tmp_path / "data")
    common = {"target": "approved", "positive_class": "yes", "drop_unlabelled": True, "params": {"num_boost_round": 20}}
    results = {}
    for engine in ("local", "dask"):
        data = str(tmp_path / "data") if engine == "dask" else str(tmp_path / "whole.csv")
        if engine == "local":
            frame.to_csv(data, index=False)
        config = TrainConfig(store=(tmp_path / engine).as_uri(), data=data, engine=engine, **common)  # type: ignore[arg-type]
        if engine == "dask":
            config.scheduler = dask_scheduler
        results[engine] = run_training(config)
    assert "dropped 3 row(s) with no 'approved' value" in results["dask"].notes
    assert results["dask"].manifest["training"]["rows"] == results["local"].manifest["training"]["rows"] == 897
    assert results["dask"].manifest["training"]["test_rows"] == results["local"].manifest["training"]["test_rows"]
