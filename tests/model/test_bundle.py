"""Bundles: checksums verified at load, tampering refused, LATEST written last, promotion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model import bundle as bundle_io
from model.errors import BundleIntegrityError, NotFound, TreeportError, UserError
from model.pipeline import TrainResult
from model.predictor import Predictor
from model.store import FileStore
from tests.conftest import rewrite_bundle_file, train_into


@pytest.fixture
def store_copy(tmp_path: Path, trained: dict[str, tuple[Path, TrainResult]]) -> tuple[Path, TrainResult]:
    source, result = trained["binary"]
    target = tmp_path / "store"
    shutil.copytree(source, target)
    return target, result


def test_bundle_layout_and_manifest(trained: dict[str, tuple[Path, TrainResult]]) -> None:
    store, result = trained["binary"]
    version_dir = store / "binary" / result.version
    assert sorted(p.relative_to(version_dir).as_posix() for p in version_dir.rglob("*") if p.is_file()) == [
        "baseline.json",
        "manifest.json",
        "model.json",
        "preprocessor.json",
        "report/calibration.png",
        "report/importance.png",
        "report/learning_curve.png",
        "report/metrics.json",
        "report/precision_recall.png",
        "report/roc.png",
    ]
    assert (store / "binary" / "LATEST").read_text().strip() == result.version
    manifest = json.loads((version_dir / "manifest.json").read_text())
    for key in ("name", "version", "created_at", "task", "schema", "metrics", "parity", "params", "libraries", "cpu"):
        assert key in manifest
    assert set(manifest["files"]) == {
        "baseline.json",
        "model.json",
        "preprocessor.json",
        *(f"report/{name}" for name in ("metrics.json", "roc.png", "precision_recall.png", "calibration.png")),
        *(f"report/{name}" for name in ("importance.png", "learning_curve.png")),
    }
    assert manifest["files"]["model.json"]["bytes"] == (version_dir / "model.json").stat().st_size
    assert manifest["parity"]["max_abs_diff"] <= 1e-5 and manifest["parity"]["label_agreement"] == 1.0
    assert "avx512f" in manifest["cpu"]["isa"]
    assert {"xgboost", "numpy", "python"} <= set(manifest["libraries"])


@pytest.mark.parametrize("filename", ["model.json", "preprocessor.json", "baseline.json", "report/metrics.json"])
def test_a_flipped_byte_is_refused_at_load(store_copy: tuple[Path, TrainResult], filename: str) -> None:
    store, result = store_copy
    path = store / "binary" / result.version / filename
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=f"{filename}: checksum mismatch") as info:
        bundle_io.load_bundle(FileStore(store), "binary")
    assert "refusing to load" in info.value.message
    if not filename.startswith("report/"):
        with pytest.raises(BundleIntegrityError, match=f"{filename}: checksum mismatch"):
            Predictor.load(store.as_uri(), "binary")


def test_a_missing_file_is_refused(store_copy: tuple[Path, TrainResult]) -> None:
    store, result = store_copy
    (store / "binary" / result.version / "preprocessor.json").unlink()
    with pytest.raises(BundleIntegrityError, match="listed in the manifest but missing"):
        bundle_io.load_bundle(FileStore(store), "binary")


def test_a_garbled_manifest_is_refused(store_copy: tuple[Path, TrainResult]) -> None:
    store, result = store_copy
    (store / "binary" / result.version / "manifest.json").write_text("{not json")
    with pytest.raises(BundleIntegrityError, match="unreadable manifest"):
        bundle_io.load_bundle(FileStore(store), "binary")


def test_unknown_model_and_version(store_copy: tuple[Path, TrainResult]) -> None:
    store = FileStore(store_copy[0])
    with pytest.raises(NotFound, match="no promoted version of model 'other'"):
        bundle_io.load_bundle(store, "other")
    with pytest.raises(NotFound, match="version '20000101-000000-deadbeef' not found"):
        bundle_io.load_bundle(store, "binary", "20000101-000000-deadbeef")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 200, "v1\n"])
def test_unsafe_names_are_refused(store_copy: tuple[Path, TrainResult], bad: str) -> None:
    with pytest.raises(UserError, match="invalid"):
        bundle_io.load_bundle(FileStore(store_copy[0]), "binary", bad)


def test_a_manifest_naming_another_version_is_refused(store_copy: tuple[Path, TrainResult]) -> None:
    store, result = store_copy
    # A copied version folder verifies file by file, but it is not the version asked for: a reload that
    # accepted it would see a version other than LATEST's and load it again on every poll.
    copied = "20990101-000000-copied00"
    shutil.copytree(store / "binary" / result.version, store / "binary" / copied)
    with pytest.raises(BundleIntegrityError, match=f"names version {result.version!r}, not {copied!r}"):
        bundle_io.load_bundle(FileStore(store), "binary", copied)
    (store / "binary" / "LATEST").write_text(copied + "\n")
    with pytest.raises(BundleIntegrityError, match="names version"):
        Predictor.load(store.as_uri(), "binary")


def test_a_manifest_naming_another_model_is_refused(store_copy: tuple[Path, TrainResult]) -> None:
    store, _ = store_copy
    shutil.copytree(store / "binary", store / "other")
    with pytest.raises(BundleIntegrityError, match="names model 'binary', not 'other'"):
        bundle_io.load_bundle(FileStore(store), "other")


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("preprocessor.json", b"{}"),
        ("preprocessor.json", b"[1, 2]"),
        ("preprocessor.json", b"{not json"),
        ("model.json", b"{}"),
        ("model.json", b"\xff\xfe"),
    ],
    ids=[
        "preprocessor-empty-object",
        "preprocessor-array",
        "preprocessor-not-json",
        "model-empty-object",
        "model-binary",
    ],
)
def test_verified_but_malformed_json_is_a_bundle_error(
    store_copy: tuple[Path, TrainResult], filename: str, data: bytes
) -> None:
    store, result = store_copy
    rewrite_bundle_file(store / "binary" / result.version, filename, data)
    # Either the parser's own error naming the file, or BundleIntegrityError for a parser's bare exception.
    with pytest.raises(TreeportError, match=filename):
        Predictor.load(store.as_uri(), "binary")


class FailingStore(FileStore):
    """A file store whose writes start failing after `ok_writes` (fault injection: a disk or network dying)."""

    def __init__(self, root: Path, ok_writes: int) -> None:
        super().__init__(root)
        self.ok_writes = ok_writes

    def write(self, key: str, data: bytes) -> None:
        if self.ok_writes == 0:
            raise OSError("injected failure")
        self.ok_writes -= 1
        super().write(key, data)


@pytest.mark.parametrize("ok_writes", [0, 1, 2, 3])
def test_a_publish_that_fails_midway_leaves_latest_on_the_previous_version(
    store_copy: tuple[Path, TrainResult], ok_writes: int
) -> None:
    store_path, previous = store_copy
    source = FileStore(store_path)
    old = bundle_io.load_bundle(source, "binary")
    failing = FailingStore(store_path, ok_writes)
    with pytest.raises(OSError, match="injected failure"):
        bundle_io.publish(failing, "binary", "20990101-000000-00000000", old.files, old.manifest)
    assert bundle_io.resolve_version(source, "binary") == previous.version
    assert bundle_io.list_versions(source, "binary") == [previous.version]
    assert Predictor.load(store_path.as_uri(), "binary").version == previous.version


def test_promote_verifies_then_moves_latest(tmp_path: Path, mixed_csv: Path) -> None:
    first = train_into(tmp_path, name="m", data=str(mixed_csv), target="approved", seed=1)
    second = train_into(tmp_path, name="m", data=str(mixed_csv), target="approved", seed=2)
    store = FileStore(tmp_path)
    assert bundle_io.resolve_version(store, "m") == second.version
    assert bundle_io.list_versions(store, "m") == sorted([first.version, second.version])
    bundle_io.promote(store, "m", first.version)
    assert bundle_io.resolve_version(store, "m") == first.version
    (tmp_path / "m" / second.version / "model.json").write_bytes(b"{}")
    with pytest.raises(BundleIntegrityError):
        bundle_io.promote(store, "m", second.version)
    assert bundle_io.resolve_version(store, "m") == first.version


def test_serving_reads_and_verifies_only_what_it_uses(store_copy: tuple[Path, TrainResult]) -> None:
    store, result = store_copy
    # A damaged report file does not stop serving, which never reads it; a damaged model does.
    (store / "binary" / result.version / "report" / "metrics.json").write_text("{}")
    predictor = Predictor.load(store.as_uri(), "binary")
    # The drift baseline too (monitoring reads it), verified like the others; a bundle without one still loads.
    assert set(predictor.bundle.files) == {"model.json", "preprocessor.json", "baseline.json"}
    with pytest.raises(BundleIntegrityError, match=r"report/metrics\.json: checksum mismatch"):
        bundle_io.load_bundle(FileStore(store), "binary")
    with pytest.raises(UserError, match="manifest does not list"):
        bundle_io.load_bundle(FileStore(store), "binary", only=("nope.json",))
