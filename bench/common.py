"""What the benchmark parts share: the model under test, request records, the machine, and table printing."""

from __future__ import annotations

import math
import os
import platform
import socket
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from model.data import EXAMPLE_RECORD

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "credit-risk"

RECORD: dict[str, Any] = EXAMPLE_RECORD


@dataclass(frozen=True)
class ModelUnderTest:
    """The bundle every part measures: its store, and its model and preprocessor files on local disk."""

    store: str
    name: str
    version: str
    folder: Path
    trees: int
    columns: int

    @property
    def model_json(self) -> Path:
        """Return the path of the XGBoost booster JSON (what the peers load)."""
        return self.folder / "model.json"

    @property
    def preprocessor_json(self) -> Path:
        """Return the path of the fitted preprocessing JSON (its column order is what the peers encode)."""
        return self.folder / "preprocessor.json"


LARGE_MODEL_NAME = "credit-risk-large"
# The larger bench model: the same data and pipeline, 500 rounds of depth-8 trees, no early stopping.
LARGE_MODEL_PARAMS: dict[str, Any] = {"num_boost_round": 500, "max_depth": 8, "early_stopping_rounds": 0}
# Rows it trains on when the store lacks it (`--quick`: fewer, so the bench stays short; trees as many and as deep).
LARGE_MODEL_ROWS, LARGE_MODEL_QUICK_ROWS = 50_000, 5_000


def prepare_model(
    store: str | None,
    scratch: Path,
    rows: int | None = None,
    name: str = MODEL_NAME,
    params: dict[str, Any] | None = None,
) -> ModelUnderTest:
    """Return the model under test: `store`'s LATEST `name`, else that model trained into `scratch`.

    `params` are the training parameters (`--param`) when it is trained. The bundle's files are also copied to
    `scratch/<name>-bundle/` (`scratch/bundle/` for the default model) for the peers, which read plain files.
    """
    from model.bundle import MODEL_FILE, PREPROCESSOR_FILE, load_bundle
    from model.store import open_store

    if store is None:
        from model.pipeline import TrainConfig, run_training

        store = (scratch / ("store" if name == MODEL_NAME else f"store-{name}")).as_uri()
        config = TrainConfig(store=store, name=name, params=dict(params or {}))
        if rows is not None:
            config.rows = rows
        print(f"training the {name} model into {store} ...", flush=True)
        run_training(config)
    bundle = load_bundle(open_store(store), name)
    folder = scratch / ("bundle" if name == MODEL_NAME else f"{name}-bundle")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_bytes(bundle.files[MODEL_FILE])
    (folder / "preprocessor.json").write_bytes(bundle.files[PREPROCESSOR_FILE])
    return ModelUnderTest(
        store=store,
        name=bundle.name,
        version=bundle.version,
        folder=folder,
        trees=int(bundle.manifest["trees"]["rounds"]),
        columns=int(bundle.manifest["columns"]),
    )


def prepare_large_model(store: str | None, scratch: Path, quick: bool = False) -> ModelUnderTest:
    """Return the larger bench model: `store`'s `credit-risk-large` when it holds one, else one trained into `scratch`.

    Train it into a store once to keep runs short: `treeport train --name credit-risk-large --param
    num_boost_round=500 --param max_depth=8 --param early_stopping_rounds=0`.
    """
    from model.errors import NotFound

    if store is not None:
        try:
            return prepare_model(store, scratch, name=LARGE_MODEL_NAME)
        except NotFound:
            print(f"{store} holds no {LARGE_MODEL_NAME}: training one", flush=True)
    rows = LARGE_MODEL_QUICK_ROWS if quick else LARGE_MODEL_ROWS
    return prepare_model(None, scratch, rows=rows, name=LARGE_MODEL_NAME, params=LARGE_MODEL_PARAMS)


def records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return `n` varied, valid applicant records as a client sends them (missing values as None)."""
    from model.data import CREDIT_RISK_TARGET, credit_risk

    frame = credit_risk(max(n, 1), seed=seed).drop(columns=[CREDIT_RISK_TARGET]).head(n)
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    """Return a JSON-native Python value (NaN becomes None, numpy scalars Python numbers)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def machine() -> dict[str, Any]:
    """Describe this machine and the library versions, for the report: every figure says what made it.

    `hardware` is the report `treeport doctor` prints and `GET /metadata` serves (model.hardware), oneDAL's
    chosen code path included; the flat keys beside it are kept for readers of earlier reports.
    """
    from model.hardware import hardware_report, summary_line
    from model.onedal import dispatch_info

    hardware = hardware_report(os.environ, dispatch_info())
    print(summary_line(hardware), flush=True)
    versions = {"python": platform.python_version()}
    for dist in ("treeport", "xgboost-cpu", "xgboost", "scikit-learn-intelex", "flask", "gunicorn", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    cpu = hardware["cpu"]
    return {
        "cpu": cpu["model"],
        "cpus_allowed": cpu["cpus_allowed"],
        "cpus_online": cpu["cpus_online"],
        "isa": [flag for flag, present in cpu["isa"].items() if present],
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "versions": versions,
        "hardware": hardware,
    }


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """Print a plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)
