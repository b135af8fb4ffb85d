"""The model bundle: JSON files plus a manifest of their SHA-256 sums; published with `LATEST` written last.

<store>/<name>/<version>/manifest.json
<store>/<name>/<version>/model.json
<store>/<name>/<version>/preprocessor.json
<store>/<name>/<version>/baseline.json         (the drift baseline, model/drift.py; bundles from before it have none)
<store>/<name>/<version>/report/metrics.json   (and the report's PNG plots, see model/report.py)
<store>/<name>/LATEST
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from model.errors import BundleIntegrityError, NotFound, UserError
from model.schema import Schema
from model.store import Store

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.json"
PREPROCESSOR_FILE = "preprocessor.json"
BASELINE_FILE = "baseline.json"
REPORT_PREFIX = "report/"
METRICS_FILE = f"{REPORT_PREFIX}metrics.json"
LATEST_FILE = "LATEST"
LATEST = "LATEST"
MANIFEST_FORMAT = 1

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(value: str, what: str = "model name") -> str:
    """Return `value` if it is a safe model name or version id, else raise `UserError`."""
    # fullmatch, not match with `$`: `$` also matches before a trailing newline.
    if not _NAME_RE.fullmatch(value) or ".." in value:
        raise UserError(f"invalid {what} {value!r}: use letters, digits, '.', '_' and '-' (max 128)")
    return value


def new_version(model_bytes: bytes, now: datetime | None = None) -> str:
    """Return a sortable version id: UTC timestamp plus the first hex digits of the model's hash."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{hashlib.sha256(model_bytes).hexdigest()[:8]}"


def to_json_bytes(obj: Any) -> bytes:
    """Serialise for the bundle: sorted keys, indented, UTF-8, a trailing newline, no NaN literals."""
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def file_entry(data: bytes) -> dict[str, Any]:
    """Return the manifest's record of one file."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle: the manifest plus the bytes of every file it lists."""

    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def name(self) -> str:
        """Return the model name."""
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        """Return the version id."""
        return str(self.manifest["version"])

    @property
    def task(self) -> str:
        """Return the task: binary, multiclass or regression."""
        return str(self.manifest["task"])

    @property
    def schema(self) -> Schema:
        """Return the schema the model was trained with."""
        return Schema.from_dict(self.manifest["schema"], source=f"{self.name}/{self.version}/{MANIFEST_FILE}")

    def json(self, filename: str) -> Any:
        """Return one of the bundle's JSON files, parsed."""
        return json.loads(self.files[filename])

    @contextlib.contextmanager
    def building(self, filename: str) -> Iterator[None]:
        """Turn a failure to build from `filename` (its checksum matched) into `BundleIntegrityError` naming it.

        A file can verify and still be unusable (written by a bug, or by hand with a recomputed sum); the
        parsers then raise whatever they raise, and a loader must see one error type that it reports.
        """
        try:
            yield
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError, RuntimeError) as exc:
            raise BundleIntegrityError(
                f"{self.manifest.get('name')}/{self.manifest.get('version')}/{filename}: checksum matches, but it "
                f"cannot be used ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None


def publish(store: Store, name: str, version: str, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """Write the bundle's files, then its manifest, then `LATEST`; on failure `LATEST` is untouched.

    Readers only follow `LATEST`, and a version is complete once its manifest exists, so a publish
    that dies midway never exposes a partial bundle. What it wrote is removed on a best-effort basis.
    """
    check_name(name)
    check_name(version, "version")
    manifest = dict(
        manifest, format=MANIFEST_FORMAT, name=name, version=version, files={k: file_entry(v) for k, v in files.items()}
    )
    written: list[str] = []
    try:
        for filename, data in files.items():
            key = f"{name}/{version}/{filename}"
            store.write(key, data)
            written.append(key)
        key = f"{name}/{version}/{MANIFEST_FILE}"
        store.write(key, to_json_bytes(manifest))
        written.append(key)
    except BaseException:
        for key in reversed(written):
            # Cleanup must not mask the original failure.
            with contextlib.suppress(Exception):
                store.delete(key)
        raise
    store.write(f"{name}/{LATEST_FILE}", (version + "\n").encode())


def resolve_version(store: Store, name: str, version: str = LATEST) -> str:
    """Return the concrete version id, following `LATEST` when asked."""
    check_name(name)
    if version != LATEST:
        return check_name(version, "version")
    try:
        pointer = store.read(f"{name}/{LATEST_FILE}").decode("utf-8", "replace").strip()
    except NotFound:
        raise NotFound(f"no promoted version of model {name!r} in {store.uri} (nothing at {name}/LATEST)") from None
    return check_name(pointer, "version in LATEST")


def load_bundle(
    store: Store,
    name: str,
    version: str = LATEST,
    only: tuple[str, ...] | None = None,
    optional: tuple[str, ...] = (),
) -> Bundle:
    """Read and verify a bundle: every file's size and SHA-256 must match the manifest.

    `only` names the files to read and verify (serving needs the model and the preprocessor, not the
    report's plots: on S3 each file is a GET at cold start); by default every listed file is. `optional`
    names more files to read and verify with `only` when the manifest lists them (older bundles lack a baseline).
    """
    version = resolve_version(store, name, version)
    prefix = f"{name}/{version}"
    try:
        raw_manifest = store.read(f"{prefix}/{MANIFEST_FILE}")
    except NotFound:
        raise NotFound(f"model {name!r} version {version!r} not found in {store.uri}") from None
    try:
        manifest = json.loads(raw_manifest)
        listed = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(listed, dict):
            raise ValueError("unsupported manifest format")
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(
            f"{store.location(prefix + '/' + MANIFEST_FILE)}: unreadable manifest ({exc})"
        ) from None
    # A version folder copied or renamed by hand verifies file by file, yet is not the version asked for.
    for field, what, wanted in (("name", "model", name), ("version", "version", version)):
        if manifest.get(field) != wanted:
            raise BundleIntegrityError(
                f"{store.location(prefix + '/' + MANIFEST_FILE)}: the manifest names {what} "
                f"{manifest.get(field)!r}, not {wanted!r}; refusing to load"
            )
    files: dict[str, bytes] = {}
    for filename in only or (MODEL_FILE, PREPROCESSOR_FILE):
        if filename not in listed:
            raise BundleIntegrityError(f"{store.location(prefix)}: manifest does not list {filename}")
    for filename, expected in listed.items():
        if only is not None and filename not in only and filename not in optional:
            continue
        location = store.location(f"{prefix}/{filename}")
        try:
            data = store.read(f"{prefix}/{filename}")
        except NotFound:
            raise BundleIntegrityError(f"{location}: listed in the manifest but missing") from None
        actual = file_entry(data)
        if actual != expected:
            raise BundleIntegrityError(
                f"{location}: checksum mismatch (manifest sha256 {expected.get('sha256')}, "
                f"{expected.get('bytes')} bytes; found {actual['sha256']}, {actual['bytes']} bytes); refusing to load"
            )
        files[filename] = data
    return Bundle(manifest=manifest, files=files)


def list_models(store: Store) -> list[str]:
    """Return the model names in the store."""
    return store.list_dirs("")


def list_versions(store: Store, name: str) -> list[str]:
    """Return the version ids of `name`, oldest first."""
    check_name(name)
    return store.list_dirs(name)


def promote(store: Store, name: str, version: str) -> Bundle:
    """Verify `version` and point `LATEST` at it; return the verified bundle."""
    bundle = load_bundle(store, name, version)
    store.write(f"{name}/{LATEST_FILE}", (bundle.version + "\n").encode())
    return bundle
