"""Stores: URI parsing, the file store's atomic writes, and S3 through a real HTTP emulator on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import NotFound, PlatformError, UserError
from model.store import FileStore, S3Store, open_store, parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://", "no bucket name"),
        ("s3:///key.csv", "no bucket name"),
        ("s3://Bad_Bucket/x", "is not a valid bucket name"),
        ("s3://ab/x", "is not a valid bucket name"),
        ("s3://bucket/x?versionId=1", "query strings"),
    ],
)
def test_malformed_s3_uris(uri: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_s3_uri(uri)


def test_open_store_kinds(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path.as_uri()), FileStore)
    assert open_store(str(tmp_path)).uri == tmp_path.as_uri()
    s3 = open_store("s3://my-bucket/some/prefix/")
    assert isinstance(s3, S3Store) and s3.uri == "s3://my-bucket/some/prefix"
    with pytest.raises(UserError, match="unsupported store URI"):
        open_store("gs://bucket/x")
    with pytest.raises(UserError, match="must be file:///absolute/path"):
        open_store("file://host/x")


def test_file_store_round_trip_and_listing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write("m/v1/a.json", b"1")
    store.write("m/v2/a.json", b"2")
    assert store.read("m/v2/a.json") == b"2"
    assert store.list_dirs("m") == ["v1", "v2"]
    assert not list(tmp_path.rglob("*.tmp"))
    store.delete("m/v1/a.json")
    assert store.list_dirs("m") == ["v2"]
    with pytest.raises(NotFound):
        store.read("m/v1/a.json")


def test_file_store_refuses_keys_outside_root(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="escapes the store root"):
        FileStore(tmp_path / "root").write("../outside", b"x")


@pytest.mark.integration
def test_s3_store_round_trip(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/models")
    store.write("m/v1/a.json", b"hello")
    store.write("m/v2/a.json", b"world")
    assert store.read("m/v1/a.json") == b"hello"
    assert store.list_dirs("m") == ["v1", "v2"]
    assert store.list_dirs("") == ["m"]
    store.delete("m/v1/a.json")
    with pytest.raises(NotFound, match=f"s3://{bucket}/models/m/v1/a.json"):
        store.read("m/v1/a.json")


@pytest.mark.integration
def test_s3_missing_bucket_is_a_user_error(s3_env: str) -> None:
    with pytest.raises(UserError, match="bucket does not exist"):
        open_store("s3://no-such-bucket-here/models").read("m/LATEST")


@pytest.mark.integration
def test_s3_unreachable_is_a_platform_error(monkeypatch: pytest.MonkeyPatch, s3_env: str) -> None:
    # A closed loopback port: connection refused on every attempt, so retries run out quickly.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    with pytest.raises(PlatformError, match="S3 unreachable"):
        open_store("s3://some-bucket/models").read("m/LATEST")
