"""The Dask engine: `xgboost.dask` on a Dask cluster, handing the pipeline the same `Trained` as the local engine.

Imported only for `TrainConfig.engine == "dask"`: the local engine and serving never load Dask.

Data: one partition per CSV or Parquet file (a path, a glob, a directory, an `s3://` key, glob or prefix),
read on the workers by the local engine's own `read_table`; the synthetic default set is generated here,
exactly as the local engine generates it, and scattered to the workers in slices.

The split is the local engine's own seeded, stratified `split`, over the rows in partition order (files
sorted by name), so both engines put the same rows in train, valid and test and their test metrics
compare. It needs every label: the target column comes to this process (with one byte per row saying
which part the row is in); the features never do.

Statistics are Dask reductions over the partitions: nullability and category sets for schema inference,
and the categories seen in the training rows for the preprocessor. They end in the local engine's
`features_from_summaries` and `Preprocessor.from_present`, so the preprocessor is the one `Preprocessor.fit`
builds from the same training rows.

Training is `xgboost.dask.train` (hist, early stopping on the validation rows) on the encoded float32
matrix as a Dask array (no feature names, like the local engine's numpy matrix). The test rows are
predicted on the workers; their labels and scores come back for the metrics and the report, and at most
`PARITY_ROWS` encoded test rows come back for the daal4py parity checks.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import itertools
import logging
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import xgboost as xgb
from dask import delayed
from distributed import Client, LocalCluster, futures_of, get_worker, wait
from xgboost import dask as dxgb

from model.backends import XGBoostBackend
from model.data import local_path, read_table
from model.engines import (
    TrainConfig,
    Trained,
    class_count,
    labelled_masks,
    load_data,
    resolve_schema,
    split_labels,
    split_sizes,
)
from model.errors import DataError, PlatformError, UserError
from model.hardware import allowed_cpus
from model.preprocess import Preprocessor
from model.schema import (
    CategoricalFeature,
    ColumnSummary,
    Schema,
    Task,
    category_text,
    column_kind,
    features_from_summaries,
    infer_target,
)
from model.store import parse_s3_uri, s3_client, s3_errors
from model.train import (
    Split,
    boosting_rounds,
    encode_target,
    history_curves,
    keep_best,
    last_valid_metric,
    progress_printer,
    xgb_params,
)

SPLIT_COLUMN = "__treeport_split__"
LABEL_COLUMN = "__treeport_label__"
TRAIN, VALID, TEST = 0, 1, 2
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
GLOB_CHARS = "*?["
# The synthetic set is scattered in slices of at most this many rows, and at least two per worker.
SYNTHETIC_ROWS_PER_PARTITION = 250_000
# Encoded test rows brought to this process for the parity checks (the local engine checks all of them).
PARITY_ROWS = 200_000
CONNECT_TIMEOUT_S = 30
LOCAL_CLUSTER = "LocalCluster on 127.0.0.1"
LOCAL_HTTP_ADDRESS = "127.0.0.1:0"


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    """Yield a client of the scheduler at `scheduler`, or of a new LocalCluster of `workers` processes (closed after).

    The LocalCluster listens on 127.0.0.1 only, with one thread per worker process (see `local_cluster`).
    """
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise PlatformError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        with client:
            yield client
        return
    with local_cluster(workers or allowed_cpus()) as cluster, Client(cluster) as client:
        yield client


def local_cluster(workers: int) -> LocalCluster:
    """Return a started LocalCluster of `workers` processes, one thread each, listening on 127.0.0.1 only.

    Its HTTP endpoint (health, metrics; the dashboard needs bokeh) takes a free loopback port: the
    default, a fixed :8787, would clash with a second cluster on the same machine. Its processes log
    only critical events: a failed task (a file with other columns, a bad value) reaches the caller as
    the exception itself, which `treeport` prints once, without the workers' tracebacks around it.
    """
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=LOCAL_HTTP_ADDRESS,
        silence_logs=logging.CRITICAL,
    )


def train_on_dask(config: TrainConfig, threads: int) -> Trained:
    """Read, split, preprocess and boost on a Dask cluster; return the model and its test-split evidence."""
    if config.scheduler and config.workers:
        raise UserError("--workers sizes the LocalCluster started without --scheduler; give one or the other")
    # A path or prefix that names no file is the user's to fix: say so before starting or joining a cluster.
    uris = partition_uris(config.data) if config.data else None
    with dask_client(config.scheduler, config.workers) as client:
        return train_with_client(client, config, uris, threads)


@contextlib.contextmanager
def local_dtypes() -> Iterator[None]:
    """Keep the partitions' columns in the dtypes `read_table` gives the local engine.

    Dask otherwise turns text columns into `string[pyarrow]`, whose missing value is `pd.NA`, not NaN:
    the preprocessor would then see other values than the local engine does for the same file.
    """
    with dask.config.set({"dataframe.convert-string": False}):
        yield


@dataclass
class Prepared:
    """The data on the cluster, split and tagged, with the schema and the fitted preprocessor."""

    schema: Schema
    preprocessor: Preprocessor
    notes: list[str]
    source: str
    y: np.ndarray
    parts: Split
    tagged: dd.DataFrame
    """The data's partitions plus `SPLIT_COLUMN` (TRAIN, VALID or TEST) and `LABEL_COLUMN` (the encoded target)."""
    counts: dict[int, list[int]]
    """Rows of each part (TRAIN, VALID, TEST) in each partition, in partition order."""
    partition_sources: list[str]


def train_with_client(
    client: Client, config: TrainConfig, uris: list[str] | None = None, threads: int | None = None
) -> Trained:
    """Run the Dask engine on `client`'s cluster (`train_on_dask` without the cluster's lifetime); `threads` is
    this process's count for the parity reference (default: the CPUs allowed)."""
    clock: dict[str, float] = {}
    started = time.perf_counter()
    prepared = prepare(client, config, uris)
    matrices = encode(client, prepared)
    schema = prepared.schema
    task = schema.target.task
    n_classes = class_count(schema)
    clock["prepare_s"] = time.perf_counter() - started

    params = xgb_params(task, n_classes, config.params, config.seed, threads=1)
    # Each worker boosts with its own thread count; a client-side count would be wrong for every worker.
    params.pop("nthread", None)
    train_params, rounds, early = boosting_rounds(params)
    t = time.perf_counter()
    (x_train, y_train), (x_valid, y_valid), (x_test, _) = (matrices[k] for k in (TRAIN, VALID, TEST))
    dtrain = dxgb.DaskQuantileDMatrix(client, x_train, y_train)
    dvalid = dxgb.DaskDMatrix(client, x_valid, y_valid)
    with forwarded_progress(client, rounds, config.progress) as (callbacks, printer):
        try:
            output = dxgb.train(
                client,
                train_params,
                dtrain,
                num_boost_round=rounds,
                evals=[(dtrain, "train"), (dvalid, "valid")],
                early_stopping_rounds=early or None,
                verbose_eval=False,
                callbacks=callbacks or None,
            )
        except xgb.core.XGBoostError as exc:
            raise UserError(f"XGBoost rejected the training parameters: {str(exc).splitlines()[0]}") from None
        history: dict[str, dict[str, list[float]]] = output["history"]
        if printer is not None:
            rounds_run = len(next(iter(history.get("valid", {}).values()), []))
            latest = last_valid_metric(history)
            printer.close(last=(rounds_run, *latest) if latest else None)
    booster = keep_best(output["booster"], early)
    clock["train_s"] = time.perf_counter() - t

    # x_test holds the test rows partition by partition, each in row order: the order of `parts.test`.
    scores = np.asarray(client.compute(dxgb.inplace_predict(client, booster, x_test)).result())
    scores = scores.reshape(len(scores), n_classes) if task == "multiclass" else scores.ravel()
    x_parity = np.ascontiguousarray(client.compute(x_test[:PARITY_ROWS]).result())
    booster.set_param({"nthread": threads or config.threads or allowed_cpus()})
    reference = XGBoostBackend.from_booster(booster, task, n_classes).outputs(x_parity)
    workers = client.nthreads()
    parts = prepared.parts
    return Trained(
        schema=schema,
        preprocessor=prepared.preprocessor,
        booster=booster,
        params={**train_params, "num_boost_round": rounds, "early_stopping_rounds": early},
        curves=history_curves(history),
        y_test=prepared.y[parts.test],
        scores_test=scores,
        x_parity=x_parity,
        reference_parity=reference,
        notes=prepared.notes,
        source=prepared.source,
        rows=split_sizes(len(prepared.y), parts),
        clock=clock,
        engine={
            "name": "dask",
            "scheduler": config.scheduler or LOCAL_CLUSTER,
            "workers": len(workers),
            "threads": sum(workers.values()),
            "partitions": prepared.tagged.npartitions,
            "parity_rows": len(x_parity),
        },
    )


def prepare(client: Client, config: TrainConfig, uris: list[str] | None = None) -> Prepared:
    """Load the partitions, resolve the schema, split, and fit the preprocessor on the training rows, all on Dask.

    `uris` are the data files when already listed (`partition_uris(config.data)`).
    """
    with local_dtypes():
        return _prepare(client, config, uris)


def _prepare(client: Client, config: TrainConfig, uris: list[str] | None) -> Prepared:
    frame, source, partition_sources = load_partitions(client, config, uris)
    table = ClusterTable(client, frame)
    schema = resolve_schema(config, table, source, infer=infer_schema_on_cluster)
    notes = list(schema.notes)
    target = schema.target.name
    labels = table.pieces(target)
    masks = labelled_masks(config, schema, labels, notes)
    if masks is not None:
        frame = frame[frame[target].notnull()]
        labels = [piece[mask] for piece, mask in zip(labels, masks, strict=True)]
    y = encode_target(pd.DataFrame({target: pd.concat(labels, ignore_index=True)}), schema.target, source)
    parts = split_labels(config, schema, y, source)

    assignment = np.empty(len(y), dtype=np.int8)
    assignment[parts.train], assignment[parts.valid], assignment[parts.test] = TRAIN, VALID, TEST
    offsets = np.cumsum([0, *(len(piece) for piece in labels)])
    tags = [pd.DataFrame({SPLIT_COLUMN: assignment[a:b], LABEL_COLUMN: y[a:b]}) for a, b in itertools.pairwise(offsets)]
    counts = {k: [int(np.count_nonzero(t[SPLIT_COLUMN].to_numpy() == k)) for t in tags] for k in (TRAIN, VALID, TEST)}
    meta = empty_like(frame)
    meta[SPLIT_COLUMN] = np.array([], dtype=np.int8)
    meta[LABEL_COLUMN] = np.array([], dtype=np.float32)
    tag_futures = client.scatter(tags)
    tagged = dd.from_delayed(
        [delayed(attach_tags)(piece, tag) for piece, tag in zip(frame.to_delayed(), tag_futures, strict=True)],
        meta=meta,
        verify_meta=False,
    )
    present = train_categories(client, tagged, schema)
    return Prepared(
        schema=schema,
        preprocessor=Preprocessor.from_present(schema, present),
        notes=notes,
        source=source,
        y=y,
        parts=parts,
        tagged=tagged,
        counts=counts,
        partition_sources=partition_sources,
    )


def train_categories(client: Client, tagged: dd.DataFrame, schema: Schema) -> dict[str, set[str]]:
    """Return the category texts each categorical feature shows in the training rows (a Dask reduction)."""
    train = tagged[tagged[SPLIT_COLUMN] == TRAIN]
    names = [f.name for f in schema.features if isinstance(f, CategoricalFeature) and f.name in tagged.columns]
    # Distinct values per partition, combined in a tree (split_out=1: no shuffle); category_text of a value
    # depends on the value alone, so applying it to the few distinct values here is the same as to every row.
    uniques = client.gather(client.compute([train[name].dropna().unique(split_out=1) for name in names]))
    return {name: {category_text(v) for v in values} for name, values in zip(names, uniques, strict=True)}


def encode(client: Client, prepared: Prepared) -> dict[int, tuple[Any, Any]]:
    """Encode every partition on the workers (kept there) and return (X, y) Dask arrays of each part."""
    with local_dtypes():
        return _encode(client, prepared)


def _encode(client: Client, prepared: Prepared) -> dict[int, tuple[Any, Any]]:
    columns = [f"c{i}" for i in range(prepared.preprocessor.n_columns)]
    meta = pd.DataFrame(
        {
            **{c: np.array([], dtype=np.float32) for c in columns},
            LABEL_COLUMN: np.array([], dtype=np.float32),
            SPLIT_COLUMN: np.array([], dtype=np.int8),
        }
    )
    encoded = dd.from_delayed(
        [
            delayed(encode_partition)(piece, prepared.preprocessor, columns, source)
            for piece, source in zip(prepared.tagged.to_delayed(), prepared.partition_sources, strict=True)
        ],
        meta=meta,
        verify_meta=False,
    )
    # Persisted before xgboost.dask sees it: the matrices are read three times (train, valid, test), and
    # xgboost.dask cannot build a DMatrix from a graph that still holds scattered futures.
    encoded = client.persist(encoded)
    wait(encoded)
    for future in futures_of(encoded):
        if future.status == "error":
            future.result()  # raises the worker's exception (a DataError naming the file) here
    out = {}
    for part in (TRAIN, VALID, TEST):
        rows = encoded[encoded[SPLIT_COLUMN] == part]
        lengths = prepared.counts[part]
        out[part] = (rows[columns].to_dask_array(lengths=lengths), rows[LABEL_COLUMN].to_dask_array(lengths=lengths))
    return out


def attach_tags(piece: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """Return a partition with its rows' split assignment and encoded label added (runs on a worker)."""
    piece = piece.copy()
    piece[SPLIT_COLUMN] = tags[SPLIT_COLUMN].to_numpy()
    piece[LABEL_COLUMN] = tags[LABEL_COLUMN].to_numpy()
    return piece


def encode_partition(piece: pd.DataFrame, preprocessor: Preprocessor, columns: list[str], source: str) -> pd.DataFrame:
    """Return a tagged partition encoded to float32 columns plus its label and split (runs on a worker)."""
    x = preprocessor.transform_frame(piece, source)
    out = pd.DataFrame(x, columns=columns, index=piece.index, copy=False)
    out[LABEL_COLUMN] = piece[LABEL_COLUMN].to_numpy(dtype=np.float32)
    out[SPLIT_COLUMN] = piece[SPLIT_COLUMN].to_numpy(dtype=np.int8)
    return out


def empty_like(frame: dd.DataFrame) -> pd.DataFrame:
    """Return an empty pandas frame with a Dask frame's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in frame.dtypes.items()})


class ClusterTable:
    """What `resolve_schema` reads of a table, for data on a cluster: its columns, and a column brought here.

    Only the target column is ever brought here (as one pandas Series per partition, so its partition
    lengths are known too); schema inference of the features runs on the cluster (`infer_schema_on_cluster`).
    """

    def __init__(self, client: Client, frame: dd.DataFrame) -> None:
        self.client = client
        self.frame = frame
        self.columns = frame.columns
        self._pieces: dict[str, list[pd.Series]] = {}

    def pieces(self, name: str) -> list[pd.Series]:
        """Return column `name` as one pandas Series per partition, in partition order."""
        if name not in self._pieces:
            self._pieces[name] = list(self.client.gather(self.client.compute(self.frame[name].to_delayed())))
        return self._pieces[name]

    def __getitem__(self, name: str) -> pd.Series:
        return pd.concat(self.pieces(name), ignore_index=True).rename(name)


def infer_schema_on_cluster(
    table: ClusterTable, target: str, positive_class: str | None, task: Task | None, source: str
) -> Schema:
    """Infer the schema as `model.schema.infer_schema` does, with the feature statistics computed on Dask."""
    if target not in table.columns:
        raise UserError(f"{source}: target column {target!r} not found; columns are {list(table.columns)}")
    summaries = summarize_columns(table.client, table.frame, exclude=target)
    features = features_from_summaries(summaries, target, source)
    tgt, notes = infer_target(table[target], target, positive_class, task, source)
    return Schema(features=features, target=tgt, notes=tuple(notes))


def summarize_columns(client: Client, frame: dd.DataFrame, exclude: str) -> list[ColumnSummary]:
    """Return each column's `ColumnSummary` (kind from the dtype; nullability and distinct texts reduced on Dask)."""
    names = [str(c) for c in frame.columns if c != exclude]
    kinds = {name: column_kind(frame.dtypes[name]) for name in names}
    text = [name for name in names if kinds[name] == "text"]
    nullable, *uniques = client.gather(
        client.compute([frame[names].isna().any(), *(frame[name].dropna().unique(split_out=1) for name in text)])
    )
    values = {name: frozenset(category_text(v) for v in found) for name, found in zip(text, uniques, strict=True)}
    return [ColumnSummary(name, kinds[name], bool(nullable[name]), values.get(name, frozenset())) for name in names]


def load_partitions(
    client: Client, config: TrainConfig, uris: list[str] | None = None
) -> tuple[dd.DataFrame, str, list[str]]:
    """Return the data as a Dask DataFrame held in the workers' memory, its description, and each partition's source."""
    if not config.data:
        whole, source = load_data(config)
        workers = max(1, len(client.nthreads()))
        count = max(2 * workers, math.ceil(len(whole) / SYNTHETIC_ROWS_PER_PARTITION))
        bounds = np.linspace(0, len(whole), min(count, len(whole)) + 1).astype(int)
        pieces = [whole.iloc[a:b] for a, b in itertools.pairwise(bounds)]
        scattered = client.scatter(pieces)
        frame = dd.from_delayed(scattered, meta=whole.iloc[:0], verify_meta=False)
        sources = [f"{source}, rows {a}-{b - 1}" for a, b in itertools.pairwise(bounds)]
    else:
        uris = uris or partition_uris(config.data)
        first = read_table(uris[0])
        frame = dd.from_map(read_partition, uris, columns=tuple(first.columns), reference=uris[0], meta=first.iloc[:0])
        source = config.data if len(uris) == 1 else f"{config.data} ({len(uris)} files)"
        sources = uris
    frame = client.persist(frame)
    wait(frame)
    for future in futures_of(frame):
        if future.status == "error":
            future.result()  # raises the worker's exception (a DataError naming the file) here
    return frame, source, sources


def read_partition(uri: str, columns: tuple[str, ...], reference: str) -> pd.DataFrame:
    """Read one file of the data on a worker; its columns must be those of the first file."""
    frame = read_table(uri)
    if set(frame.columns) != set(columns):
        missing = sorted(set(columns) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(columns))
        raise DataError(
            f"{uri}: columns differ from {reference} (missing {missing}, extra {extra}); "
            "every file of the data must have the same columns"
        )
    return frame[list(columns)]


def partition_uris(data: str) -> list[str]:
    """Return the data files `data` names, sorted: a file, a glob, a directory, or an s3:// key, glob or prefix.

    Directories and prefixes contribute their `.csv`, `.parquet` and `.pq` files (recursively), skipping
    names that start with `_` or `.` (`_SUCCESS` markers, checksum files).
    """
    if data.startswith("s3://"):
        return _s3_uris(data)
    path = local_path(data)
    text = str(path)
    if any(c in text for c in GLOB_CHARS):
        found = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        found = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_data_file(p.name))
    elif path.is_file():
        found = [text]
    else:
        raise UserError(f"data file not found: {path}")
    if not found:
        raise UserError(f"no CSV or Parquet files found at {data}")
    return found


def _is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES) and not name.startswith(("_", "."))


def _s3_uris(data: str) -> list[str]:
    location = parse_s3_uri(data)
    key = location.key
    glob_at = min((key.index(c) for c in GLOB_CHARS if c in key), default=-1)
    if glob_at < 0 and key.lower().endswith(DATA_SUFFIXES):
        return [data]
    prefix = key[:glob_at] if glob_at >= 0 else (key if not key or key.endswith("/") else key + "/")
    keys: list[str] = []
    with s3_errors(data):
        pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix)
        for page in pages:
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    if glob_at >= 0:
        keys = [k for k in keys if fnmatch.fnmatchcase(k, key)]
    else:
        keys = [k for k in keys if _is_data_file(k.rsplit("/", 1)[-1])]
    if not keys:
        raise UserError(f"no CSV or Parquet objects found at {data}")
    return [f"s3://{location.bucket}/{k}" for k in sorted(keys)]


@contextlib.contextmanager
def forwarded_progress(
    client: Client, rounds: int, enabled: bool
) -> Iterator[tuple[list[xgb.callback.TrainingCallback], Any]]:
    """Yield the callbacks that send rank 0's progress to this process, and the printer showing it (or none)."""
    if not enabled:
        yield [], None
        return
    printer = progress_printer(rounds)
    topic = f"treeport-progress-{uuid.uuid4().hex}"

    def show(event: tuple[float, dict[str, Any]]) -> None:
        message = event[1]
        printer.update(int(message["round"]), str(message["metric"]), float(message["value"]))

    client.subscribe_topic(topic, show)
    try:
        yield [ProgressForwarder(topic)], printer
    finally:
        client.unsubscribe_topic(topic)
        printer.close()


class ProgressForwarder(xgb.callback.TrainingCallback):
    """Runs on the workers: after each round, rank 0 logs the validation metric as a Dask event on `topic`.

    Every rank sees the same (all-reduced) metric; one reporting is enough. The client subscribed to the
    topic shows it, so progress appears where `treeport train` runs, not in the workers' logs.
    """

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        """Forward the latest validation metric; never stop training."""
        if xgb.collective.get_rank() == 0:
            latest = last_valid_metric(evals_log)
            if latest is not None:
                get_worker().log_event(self.topic, {"round": epoch + 1, "metric": latest[0], "value": latest[1]})
        return False
