"""The two guards of the training pipeline that nothing else would notice breaking.

- The parity check: a model whose daal4py conversion does not reproduce XGBoost's outputs on the test rows
  is rejected and publishes nothing (no version folder, no LATEST).
- The local engine fits preprocessing on the train split only: a categorical column with one distinct value
  per row shows, in the published `preprocessor.json`, exactly the categories of the train rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import bundle as bundle_io
from model.engines import train_local
from model.errors import ModelRejected
from model.pipeline import TrainConfig, publish_trained
from model.store import open_store
from model.train import encode_target, split
from tests.conftest import FAST_PARAMS, mixed_frame

PARITY_TOLERANCE = 1e-5  # model.convert's publishing bar


@pytest.fixture(scope="module")
def mixed_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed test frame as a CSV, binary target `approved`."""
    path = tmp_path_factory.mktemp("guards") / "mixed.csv"
    mixed_frame().drop(columns=["tier", "amount"]).to_csv(path, index=False)
    return path


def config_for(store: Path, data: Path, **extra: object) -> TrainConfig:
    """Return a fast local training config for the binary `approved` target."""
    return TrainConfig(
        store=store.as_uri(),
        name="approved",
        data=str(data),
        target="approved",
        positive_class="yes",
        params=dict(FAST_PARAMS),
        **extra,  # type: ignore[arg-type]
    )


def published_files(store: Path) -> list[Path]:
    """Return every file under the store folder."""
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []


@pytest.mark.parametrize("shift", [2 * PARITY_TOLERANCE, 0.3], ids=["just-past-the-bar", "far-off"])
def test_a_conversion_that_differs_from_xgboost_publishes_nothing(
    shift: float, mixed_data: Path, tmp_path: Path
) -> None:
    """The booster's real outputs on the parity rows are the evidence; evidence it does not match is refused.

    The trained model and its test-split evidence are handed to `publish_trained` as data, so the test
    changes the input, not the code: XGBoost's recorded outputs on the parity rows are moved by `shift`,
    which is what a converter that does not reproduce XGBoost looks like from the check's side.
    """
    store = tmp_path / "store"
    config = config_for(store, mixed_data)
    trained = train_local(config, threads=1)
    moved = np.clip(trained.reference_parity + shift, 0.0, 1.0)
    assert float(np.max(np.abs(moved - trained.reference_parity))) > PARITY_TOLERANCE
    diverged = dataclasses.replace(trained, reference_parity=moved)
    with pytest.raises(ModelRejected, match=r"daal4py parity check \(\w+\) failed on \d+ test rows"):
        publish_trained(config, open_store(config.store), diverged, 1, 0.0)
    assert published_files(store) == []
    assert bundle_io.list_models(open_store(config.store)) == []


def test_the_unchanged_evidence_publishes(mixed_data: Path, tmp_path: Path) -> None:
    """The control: the same path with XGBoost's own outputs publishes and promotes the version."""
    store = tmp_path / "store"
    config = config_for(store, mixed_data)
    trained = train_local(config, threads=1)
    result = publish_trained(config, open_store(config.store), trained, 1, 0.0)
    assert result.parity.ok and result.parity.max_abs_diff <= PARITY_TOLERANCE
    assert bundle_io.resolve_version(open_store(config.store), "approved") == result.version


def test_preprocessing_is_fitted_on_the_train_rows_only(tmp_path: Path) -> None:
    """One distinct `row_tag` per row: the published categories are exactly those of the train split's rows.

    Fitted on every row, the bundle would hold all 600 tags; fitted on train and valid, 510. The expected
    set comes from the pipeline's own seeded split of the same labels.
    """
    frame = mixed_frame().drop(columns=["tier", "amount"])
    frame["row_tag"] = [f"r{i:04d}" for i in range(len(frame))]
    data = tmp_path / "tagged.csv"
    frame.to_csv(data, index=False)
    store = tmp_path / "store"
    config = config_for(store, data)
    trained = train_local(config, threads=1)
    result = publish_trained(config, open_store(config.store), trained, 1, 0.0)

    loaded = bundle_io.load_bundle(open_store(config.store), "approved", result.version)
    tags = set(loaded.json(bundle_io.PREPROCESSOR_FILE)["trained_categories"]["row_tag"])
    rows = result.manifest["training"]
    assert len(tags) == rows["train_rows"] < len(frame)
    y = encode_target(pd.read_csv(data), trained.schema.target, str(data))
    parts = split(y, stratify=True, seed=config.seed)
    assert tags == {f"r{i:04d}" for i in parts.train}
    assert not tags & {f"r{i:04d}" for i in (*parts.valid, *parts.test)}
