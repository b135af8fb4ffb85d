"""Byte stores for model bundles and data: `file:///abs/path` and `s3://bucket/prefix`.

A store maps keys such as `credit-risk/20261127-101500-ab12cd/model.json` to bytes. S3 goes through
boto3, which honours `AWS_ENDPOINT_URL_S3` (MinIO, a local emulator); transient failures are retried
by botocore's standard retry mode and then reported as `PlatformError`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from model.errors import NotFound, PlatformError, UserError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

# S3 bucket naming rules: 3-63 chars, lowercase letters, digits, dots and hyphens.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_S3_RETRIES = 5


class Store(Protocol):
    """What the bundle code needs from a store."""

    uri: str

    def read(self, key: str) -> bytes:
        """Return the bytes at `key`; raise `NotFound` when absent."""

    def write(self, key: str, data: bytes) -> None:
        """Write `data` at `key`, replacing it whole (never leaves a partial object)."""

    def delete(self, key: str) -> None:
        """Remove `key` if present."""

    def list_dirs(self, prefix: str) -> list[str]:
        """Return the names of the immediate children of `prefix` that hold objects."""

    def location(self, key: str) -> str:
        """Return the URI of `key` in this store, for messages."""


@dataclass(frozen=True)
class S3Location:
    """A parsed `s3://bucket/key` URI."""

    bucket: str
    key: str


def parse_s3_uri(uri: str) -> S3Location:
    """Split `s3://bucket/key` into bucket and key, raising `UserError` for malformed URIs."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        raise UserError(f"not an s3:// URI: {uri!r}")
    bucket = parsed.netloc
    if not bucket:
        raise UserError(f"malformed S3 URI {uri!r}: no bucket name (expected s3://bucket/key)")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise UserError(f"malformed S3 URI {uri!r}: {bucket!r} is not a valid bucket name")
    if parsed.query or parsed.fragment:
        raise UserError(f"malformed S3 URI {uri!r}: query strings and fragments are not allowed")
    return S3Location(bucket=bucket, key=parsed.path.lstrip("/"))


def s3_client() -> S3Client:
    """Return a boto3 S3 client with standard retries (endpoint from `AWS_ENDPOINT_URL_S3` if set)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": _S3_RETRIES}, connect_timeout=5, read_timeout=60)
    return boto3.client("s3", config=config)


@contextmanager
def s3_errors(uri: str) -> Iterator[None]:
    """Turn botocore failures inside the block into Treeport errors naming `uri`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(exc, uri) from None


def s3_error(exc: Exception, uri: str) -> Exception:
    """Translate a botocore exception into `NotFound`, `UserError` or `PlatformError`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return UserError(f"{uri}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return NotFound(f"{uri}: no such object")
        if code == "NoSuchBucket":
            return UserError(f"{uri}: bucket does not exist")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return UserError(f"{uri}: access denied ({code})")
        return PlatformError(f"{uri}: S3 error {code or exc}")
    if isinstance(exc, BotoCoreError):
        return PlatformError(f"{uri}: S3 unreachable after {_S3_RETRIES} attempts ({exc})")
    return exc


class FileStore:
    """A store on the local filesystem; writes go through a temp file and an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise UserError(f"key {key!r} escapes the store root {self.root}")
        return path

    def read(self, key: str) -> bytes:
        """Return the bytes at `key`."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"{self.location(key)}: not found") from None

    def write(self, key: str, data: bytes) -> None:
        """Write `data` at `key` atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        """Remove `key` and any directories it leaves empty."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root.resolve() or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()

    def list_dirs(self, prefix: str) -> list[str]:
        """Return child directory names under `prefix`."""
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def location(self, key: str) -> str:
        """Return the file URI of `key`."""
        return (self.root / key).as_uri()


class S3Store:
    """A store under `s3://bucket/prefix`."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client

    @property
    def client(self) -> Any:
        """Return the boto3 client, created on first use."""
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        """Return the object's bytes."""
        with s3_errors(self.location(key)):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

    def write(self, key: str, data: bytes) -> None:
        """Put the object (S3 puts are atomic: readers see the old or the new object)."""
        with s3_errors(self.location(key)):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def delete(self, key: str) -> None:
        """Delete the object."""
        with s3_errors(self.location(key)):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list_dirs(self, prefix: str) -> list[str]:
        """Return the common prefixes one level under `prefix`."""
        full = self._key(prefix).rstrip("/") + "/" if prefix or self.prefix else ""
        names: list[str] = []
        with s3_errors(self.location(prefix)):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for cp in page.get("CommonPrefixes", []):
                    names.append(cp["Prefix"][len(full) :].rstrip("/"))
        return sorted(names)

    def location(self, key: str) -> str:
        """Return the s3:// URI of `key`."""
        return f"s3://{self.bucket}/{self._key(key)}"


def open_store(uri: str) -> FileStore | S3Store:
    """Open a store from its URI: `file:///abs/path`, a plain path, or `s3://bucket/prefix`."""
    if uri.startswith("s3://"):
        loc = parse_s3_uri(uri)
        return S3Store(loc.bucket, loc.key)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UserError(f"file store URI {uri!r} must be file:///absolute/path")
        return FileStore(Path(unquote(parsed.path)))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise UserError(f"unsupported store URI {uri!r} (use file:///abs/path or s3://bucket/prefix)")
    return FileStore(Path(uri).absolute())
