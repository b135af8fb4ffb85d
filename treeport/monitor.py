"""`treeport monitor`: the drift report of served rows against a bundle's baseline, offline.

Inputs (local files or folders, or `s3://bucket/key` and `s3://bucket/prefix/`, every object under a prefix):

- SageMaker data capture files: JSON Lines, one invocation per line, as an endpoint's `DataCaptureConfig` writes them
  (`{"captureData": {"endpointInput": {"observedContentType", "mode", "data", "encoding"}, ...}, "eventMetadata": ...}`,
  `encoding` CSV, JSON or BASE64). The input is read by the server's own data plane, as `/invocations` reads it:
  `text/csv` is headerless, already-encoded rows (what the Lambda's SageMaker backend sends), `application/json`
  `{"instances": [...]}` (or the other JSON envelopes), JSON Lines and Arrow as the server takes them;
- a CSV of served rows with a header, or JSON Lines of records: read as `/predict` reads them (columns the model does
  not know are ignored).

The rows are encoded and scored with the bundle's own model (the score compared is what this version gives them),
counted with the same bins as the server (`Baseline.counts`), and reported with the same PSI (`Baseline.report`).
A PNG per drifting feature (and for the score, when it drifts) goes to `--out`. Exit 4 when any PSI passes the
threshold, 2 for input that cannot be read (the message names the file and line).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.errors import DataError, UserError

if TYPE_CHECKING:
    import numpy as np

    from api.dataplane import DataPlane
    from model.drift import Baseline, DriftReport
    from model.predictor import Predictor

MAX_ROWS = 10**9
"""No row limit offline: one file's rows are read whole, like `treeport predict`."""
CAPTURE_KEY = "captureData"
FORMATS = ("auto", "capture", "csv", "jsonl")


@dataclass(frozen=True)
class Source:
    """One input file: where it is (for messages) and its bytes."""

    location: str
    data: bytes


def read_sources(inputs: list[str]) -> Iterator[Source]:
    """Yield every file the inputs name: files, folders (recursively, hidden files skipped), S3 objects and prefixes."""
    for uri in inputs:
        if uri.startswith("s3://"):
            yield from _s3_sources(uri)
            continue
        from model.data import local_path

        path = local_path(uri)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
            if not files:
                raise UserError(f"no files in {path}")
            for file in files:
                yield Source(str(file), _read_local(file))
        elif path.exists():
            yield Source(str(path), _read_local(path))
        else:
            raise UserError(f"input not found: {path}")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _read_local(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _s3_sources(uri: str) -> Iterator[Source]:
    """Yield the object `uri` names, or every object under it when it is a prefix (capture files are per hour)."""
    from model.store import parse_s3_uri, s3_client, s3_errors

    loc = parse_s3_uri(uri)
    client = s3_client()
    with s3_errors(uri):
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.key):
            keys += [o["Key"] for o in page.get("Contents", [])]
    exact = [k for k in keys if k == loc.key]
    prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
    chosen = exact or sorted(k for k in keys if k.startswith(prefix) and not k.endswith("/"))
    if not chosen:
        raise UserError(f"{uri}: no such object, and no objects under it")
    for key in chosen:
        location = f"s3://{loc.bucket}/{key}"
        with s3_errors(location):
            yield Source(location, client.get_object(Bucket=loc.bucket, Key=key)["Body"].read())


def detect_format(source: Source) -> str:
    """Return capture, jsonl or csv for one file's bytes (`--format auto`)."""
    head = source.data.lstrip()[:1]
    if head != b"{":
        return "csv"
    first = source.data.lstrip().split(b"\n", 1)[0]
    try:
        parsed = json.loads(first)
    except ValueError:
        raise DataError(f"{source.location}: line 1 is not valid JSON") from None
    return "capture" if isinstance(parsed, dict) and CAPTURE_KEY in parsed else "jsonl"


def _lines(source: Source) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) of each non-blank line."""
    try:
        text = source.data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{source.location}: not UTF-8 text") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except ValueError as exc:
            raise DataError(f"{source.location}: line {lineno} is not valid JSON ({exc})") from None


def offline_plane() -> DataPlane:
    """Return a data plane that reads bodies exactly as the server's does, without its per-request row limit."""
    from api.dataplane import DataPlane
    from api.settings import Settings
    from api.state import ModelState

    settings = Settings(max_rows=MAX_ROWS, max_body_bytes=MAX_ROWS)
    return DataPlane(settings, ModelState(settings))


def capture_batches(source: Source, predictor: Predictor, plane: DataPlane) -> Iterator[tuple[str, Any]]:
    """Yield (where, rows) per captured invocation, its input read as `/invocations` reads it."""
    from api.errors import ApiError

    for lineno, record in _lines(source):
        where = f"{source.location}: line {lineno}"
        try:
            captured = record[CAPTURE_KEY]["endpointInput"]
            media, _, params = str(captured.get("observedContentType") or "").partition(";")
            encoding = str(captured.get("encoding", "")).upper()
            data = captured["data"]
        except (KeyError, TypeError, AttributeError):
            raise DataError(f"{where}: not a SageMaker capture record (no captureData.endpointInput.data)") from None
        if encoding == "BASE64":
            try:
                body = base64.b64decode(str(data), validate=True)
            except (binascii.Error, ValueError):
                raise DataError(f"{where}: endpointInput data is not valid base64") from None
        elif encoding in ("CSV", "JSON"):
            body = str(data).encode()
        else:
            raise DataError(f"{where}: unknown capture encoding {encoding!r} (expected CSV, JSON or BASE64)")
        header = "header=present" in params.replace(" ", "").lower()
        try:
            yield where, plane.invocation_rows(body, media.strip().lower(), predictor, header=header)
        except ApiError as exc:
            raise DataError(f"{where}: {exc.message}", details=exc.details) from None


def table_batches(source: Source, fmt: str, predictor: Predictor, plane: DataPlane) -> Iterator[tuple[str, Any]]:
    """Yield (where, rows) of a CSV with a header or of JSON Lines of records, read as `/predict` reads them."""
    from api.errors import ApiError
    from api.inputs import CSV_TYPES, JSONL_TYPES

    try:
        yield source.location, plane.records(source.data, (JSONL_TYPES if fmt == "jsonl" else CSV_TYPES)[0], predictor)
    except ApiError as exc:
        raise DataError(f"{source.location}: {exc.message}", details=exc.details) from None


@dataclass
class Tally:
    """Bin counts summed over every input, and what was read."""

    counts: np.ndarray
    files: int = 0
    invocations: int = 0


def count_inputs(predictor: Predictor, baseline: Baseline, inputs: list[str], fmt: str = "auto") -> Tally:
    """Encode, score and count every row of the inputs against `baseline`; raise `DataError` for unreadable input."""
    import numpy as np

    from model.errors import ValidationError

    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    tally = Tally(np.zeros(baseline.n_bins, dtype=np.int64))
    plane = offline_plane()
    for source in read_sources(inputs):
        if not source.data.strip():
            raise DataError(f"{source.location}: file is empty")
        kind = detect_format(source) if fmt == "auto" else fmt
        if kind == "capture":
            batches = capture_batches(source, predictor, plane)
        else:
            batches = table_batches(source, kind, predictor, plane)
        for where, rows in batches:
            try:
                x = predictor.encode(rows, ignore_unknown=True)
            except ValidationError as exc:
                raise DataError(f"{where}: {exc.message}", details=exc.details) from None
            if len(x):
                tally.counts += baseline.counts(x, predictor.outputs(x))
            tally.invocations += 1
        tally.files += 1
    return tally


def load_baseline(predictor: Predictor) -> Baseline:
    """Return the bundle's baseline; `UserError` (exit 2) for a bundle trained before baselines."""
    from model.bundle import BASELINE_FILE
    from model.drift import Baseline

    raw = predictor.bundle.files.get(BASELINE_FILE)
    if raw is None:
        raise UserError(
            f"{predictor.name} version {predictor.version} has no {BASELINE_FILE} (trained before drift baselines): "
            "retrain it to monitor it"
        )
    try:
        return Baseline.from_dict(json.loads(raw), f"{predictor.name}/{predictor.version}/{BASELINE_FILE}")
    except ValueError as exc:
        raise UserError(f"{predictor.name}/{predictor.version}/{BASELINE_FILE}: not JSON ({exc})") from None


def plot_file(name: str, score: bool) -> str:
    """Return a safe PNG file name for one feature's plot (the score's cannot clash with a feature's)."""
    return "__score__.png" if score else re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] + ".png"


def write_plots(report: DriftReport, out: Path, title: str) -> list[Path]:
    """Write a PNG per drifting feature (and for the score if it drifts) into `out`; return the paths."""
    from model.drift import plot_drift

    drifting = [(f, False) for f in report.features if f.drifting]
    if report.score.drifting:
        drifting.append((report.score, True))
    if not drifting:
        return []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    paths = []
    for feature, is_score in drifting:
        path = out / plot_file(feature.name, is_score)
        path.write_bytes(plot_drift(feature, title))
        paths.append(path)
    return paths


def format_report(report: DriftReport, tally: Tally, title: str, plots: list[Path]) -> str:
    """Return the human form of the report: one line per feature, the score, and the verdict."""
    lines = [
        f"treeport monitor: {title}: {report.rows:,} rows from {tally.invocations:,} invocation(s) "
        f"in {tally.files} file(s); threshold {report.threshold:g}",
        f"  {'feature':<32} {'kind':<12} {'PSI':>8}  {'missing (baseline -> served)':<28} status",
    ]
    for f in (*report.features, report.score):
        shown = "n/a" if f.psi is None else f"{f.psi:.4f}"
        missing = f.to_dict()["missing"]
        gap = f"{missing['expected']:.1%} -> {missing['actual']:.1%}" if missing else ""
        name = f"{f.name} (model output)" if f is report.score else f.name
        lines.append(f"  {name[:32]:<32} {f.kind:<12} {shown:>8}  {gap:<28} {f.to_dict()['status']}")
    if report.alarm:
        names = [*report.drifting, *(["score"] if report.score.drifting else [])]
        lines.append(f"  DRIFT: {', '.join(names)} past PSI {report.threshold:g}")
    else:
        lines.append("  no drift past the threshold")
    lines += [f"  plot: {p}" for p in plots]
    return "\n".join(lines)


def run(
    predictor: Predictor, inputs: list[str], threshold: float, out: Path, fmt: str = "auto"
) -> tuple[DriftReport, Tally, list[Path]]:
    """Count the inputs against the bundle's baseline, write the plots; return the report, the tally and the plots."""
    if not threshold > 0:
        raise UserError(f"--threshold must be a positive number, got {threshold}")
    baseline = load_baseline(predictor)
    tally = count_inputs(predictor, baseline, inputs, fmt)
    report = baseline.report(tally.counts, threshold)
    if report.rows == 0:
        raise DataError(f"no rows in {', '.join(inputs)}")
    plots = write_plots(report, out, f"{predictor.name} {predictor.version}")
    return report, tally, plots


def document(predictor: Predictor, report: DriftReport, tally: Tally, plots: list[Path]) -> dict[str, Any]:
    """Return the `--json` document: the same fields as `GET /monitoring`'s report, and what was read."""
    status = "drifting" if report.alarm else "ok"
    return {
        "model": {"name": predictor.name, "version": predictor.version},
        "status": status,
        "files": tally.files,
        "invocations": tally.invocations,
        **report.to_dict(),
        "plots": [str(p) for p in plots],
    }
