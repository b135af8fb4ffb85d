"""`treeport batch`: score files in S3 with a SageMaker Batch Transform job, and wait for it with progress.

    treeport batch --model MODEL --input s3://bucket/in/ --output s3://bucket/out/

MODEL is the SageMaker model the sagemaker stack created (its `sagemaker_model_name` output). Batch Transform runs the
serving image on its own instances: it asks the container's `GET /execution-parameters` how to call it, splits every
input object into lines (`--split-type Line`), posts mini-batches of up to `--max-payload-mb` to `/invocations` with
`--content-type`, and writes one `<input key>.out` object per input under `--output`, one line per input line, in the
`--accept` media type (CSV or JSON Lines give one line per row; see README "Batch Transform").

The job is created with boto3 (region and credentials as boto3 finds them; `AWS_ENDPOINT_URL_SAGEMAKER` and
`AWS_ENDPOINT_URL_S3` aim it at an emulator). While waiting, progress is the count of output objects written so far
against the count of input objects. Ctrl-C stops waiting, not the job (the message says how to stop the job).
Exit codes: 0 the job completed; 1 it failed or was stopped (the failure reason is printed); 2 bad arguments, no input
objects, a model or job name SageMaker refuses.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from model.errors import PlatformError, TreeportError, UserError
from model.store import parse_s3_uri

CONTENT_TYPES = ("text/csv", "application/jsonlines", "application/json")
"""What the container's `/invocations` takes: headerless preprocessed CSV, JSON Lines records, a JSON document."""
ACCEPT_TYPES = ("text/csv", "application/jsonlines", "application/json")
SPLIT_TYPES = ("Line", "None")
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
DEFAULT_INSTANCE_TYPE = "ml.c7i.xlarge"
MAX_PAYLOAD_MB = 100  # SageMaker's own limit for MaxPayloadInMB
DEFAULT_PAYLOAD_MB = 6  # what the container's /execution-parameters says, and the invocations body limit
DEFAULT_POLL_S = 30.0
MIN_LINE_BYTES = 32
"""A mini-batch of `--max-payload-mb` holds at most payload / 32 lines of 32 bytes or more; the job's containers take
that many rows per request (`TREEPORT_MAX_ROWS`), where the server's own default (10,000) would refuse 6 MB of
short lines with a 413 and fail the job."""
_JOB_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_INSTANCE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
TERMINAL = ("Completed", "Failed", "Stopped")


class TransformFailed(TreeportError):
    """The Batch Transform job ended Failed or Stopped."""

    code = "transform_failed"
    exit_code = 1


@dataclass(frozen=True)
class JobSpec:
    """What one transform job is asked to do."""

    name: str
    model: str
    input_uri: str
    output_uri: str
    content_type: str
    accept: str
    split_type: str
    batch_strategy: str
    max_payload_mb: int
    max_concurrent: int | None
    instance_type: str
    instance_count: int
    join_source: bool
    kms_key: str | None
    environment: dict[str, str]

    def request(self) -> dict[str, Any]:
        """Return the `CreateTransformJob` parameters."""
        request: dict[str, Any] = {
            "TransformJobName": self.name,
            "ModelName": self.model,
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": self.input_uri}},
                "ContentType": self.content_type,
                "SplitType": self.split_type,
                "CompressionType": "None",
            },
            "TransformOutput": {
                "S3OutputPath": self.output_uri,
                "Accept": self.accept,
                # With lines in, lines out: each input line's result on its own line of the .out object.
                "AssembleWith": "Line" if self.split_type == "Line" else "None",
            },
            "TransformResources": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count},
        }
        if self.max_concurrent is not None:  # else SageMaker asks the container's GET /execution-parameters
            request["MaxConcurrentTransforms"] = self.max_concurrent
        if self.kms_key:
            request["TransformOutput"]["KmsKeyId"] = self.kms_key
        if self.join_source:
            request["DataProcessing"] = {"JoinSource": "Input"}
        if self.environment:
            request["Environment"] = self.environment
        return request


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `treeport batch` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "batch",
        help="score S3 files with a SageMaker Batch Transform job and wait for it",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", required=True, help="SageMaker model name (the sagemaker stack's sagemaker_model_name)")
    p.add_argument("--input", required=True, help="s3://bucket/prefix of the input objects (every object under it)")
    p.add_argument("--output", required=True, help="s3://bucket/prefix for the <input key>.out objects")
    p.add_argument(
        "--content-type",
        default=None,
        choices=CONTENT_TYPES,
        help="media type of the input (default: from the first input object's extension, .csv or .jsonl)",
    )
    p.add_argument("--accept", default=None, choices=ACCEPT_TYPES, help="media type of the output (default: as input)")
    p.add_argument("--split-type", default="Line", choices=SPLIT_TYPES, help="how inputs are split (default Line)")
    p.add_argument("--batch-strategy", default="MultiRecord", choices=BATCH_STRATEGIES)
    p.add_argument("--max-payload-mb", type=int, default=DEFAULT_PAYLOAD_MB, help="mini-batch size (default 6)")
    p.add_argument(
        "--max-concurrent", type=int, default=None, help="requests per instance (default: the container says)"
    )
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help=f"default {DEFAULT_INSTANCE_TYPE}")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--join-source", action="store_true", help="write each input line beside its prediction")
    p.add_argument("--kms-key", default=None, help="KMS key (id or ARN) to encrypt the output with")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="container environment")
    p.add_argument("--job-name", default=None, help="default treeport-<model>-<UTC time>")
    p.add_argument("--no-wait", action="store_true", help="create the job and return")
    p.add_argument("--poll", type=float, default=DEFAULT_POLL_S, help="seconds between status checks (default 30)")
    p.add_argument("--timeout", type=float, default=None, help="stop waiting (not the job) after this many seconds")
    return p


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Create the transform job, wait for it unless --no-wait, and report; return the exit code."""
    import boto3

    s3 = boto3.client("s3")
    inputs = list_objects(s3, args.input)
    if not inputs:
        raise UserError(f"--input {args.input}: no objects under this prefix")
    spec = job_spec(args, first_key=inputs[0][0])
    sagemaker = boto3.client("sagemaker")
    total = sum(size for _, size in inputs)
    print(
        f"batch: {len(inputs)} input object(s), {total:,} bytes, under {args.input}; model {spec.model}; "
        f"{spec.content_type} -> {spec.accept}",
        file=out,
    )
    with aws_errors("CreateTransformJob"):
        arn = sagemaker.create_transform_job(**spec.request())["TransformJobArn"]
    print(f"batch: created transform job {spec.name} ({arn})", file=out)
    if args.no_wait:
        print(
            "batch: not waiting; follow it with: "
            f"aws sagemaker describe-transform-job --transform-job-name {spec.name}",
            file=out,
        )
        return 0
    # Progress counts the .out objects this job wrote: those written since SageMaker created it (S3 keeps whole
    # seconds), so results of an earlier job under the same prefix are not counted.
    created = describe(sagemaker, spec.name).get("CreationTime")
    since = created.replace(microsecond=0) if isinstance(created, datetime) else None
    try:
        job = wait(
            describe=lambda: describe(sagemaker, spec.name),
            written=lambda: len(list_objects(s3, spec.output_uri, suffix=".out", since=since)),
            expected=len(inputs),
            out=out,
            poll_s=args.poll,
            timeout_s=args.timeout,
        )
    except KeyboardInterrupt:
        print(
            f"\nbatch: stopped waiting; the job goes on. Stop it with: "
            f"aws sagemaker stop-transform-job --transform-job-name {spec.name}",
            file=out,
        )
        return 130
    return report(job, list_objects(s3, spec.output_uri, suffix=".out", since=since), spec, out)


def job_spec(args: argparse.Namespace, first_key: str) -> JobSpec:
    """Check the arguments and return the job they describe; raise UserError naming what is wrong."""
    for flag, uri in (("--input", args.input), ("--output", args.output)):
        try:
            parse_s3_uri(uri)
        except UserError as exc:
            raise UserError(f"{flag}: {exc.message}") from None
    if args.output.rstrip("/").startswith(args.input.rstrip("/") + "/") or args.output == args.input:
        raise UserError("--output must not be under --input: the job would read its own results on a rerun")
    content_type = args.content_type or content_type_of(first_key)
    accept = args.accept or ("text/csv" if content_type == "text/csv" else "application/jsonlines")
    if not 1 <= args.max_payload_mb <= MAX_PAYLOAD_MB:
        raise UserError(f"--max-payload-mb must be 1-{MAX_PAYLOAD_MB}, got {args.max_payload_mb}")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UserError(f"--max-concurrent must be at least 1, got {args.max_concurrent}")
    if args.instance_count < 1:
        raise UserError(f"--instance-count must be at least 1, got {args.instance_count}")
    if not _INSTANCE_RE.fullmatch(args.instance_type):
        raise UserError(f"--instance-type {args.instance_type!r} is not a SageMaker instance type (e.g. ml.c7i.xlarge)")
    if args.split_type == "None" and args.batch_strategy == "MultiRecord":
        raise UserError("--batch-strategy MultiRecord needs --split-type Line (records are split by line)")
    if args.poll <= 0:
        raise UserError(f"--poll must be positive, got {args.poll}")
    name = args.job_name or default_job_name(args.model)
    if not _JOB_NAME_RE.fullmatch(name):
        raise UserError(
            f"job name {name!r}: use 1-63 letters, digits and hyphens, starting and ending with a letter or digit"
        )
    environment = {**batch_limits(args.max_payload_mb), **container_environment(args.env)}
    return JobSpec(
        name=name,
        model=args.model,
        input_uri=args.input,
        output_uri=args.output,
        content_type=content_type,
        accept=accept,
        split_type=args.split_type,
        batch_strategy=args.batch_strategy,
        max_payload_mb=args.max_payload_mb,
        max_concurrent=args.max_concurrent,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        join_source=args.join_source,
        kms_key=args.kms_key,
        environment=environment,
    )


def batch_limits(max_payload_mb: int) -> dict[str, str]:
    """Return the container limits a job of `max_payload_mb` mini-batches needs: a body of the whole payload
    (`TREEPORT_MAX_BODY_BYTES`, SageMaker's MB being MiB-sized at most) and its rows (`TREEPORT_MAX_ROWS`, one per
    `MIN_LINE_BYTES`). `--env` overrides either."""
    payload = max_payload_mb * 1024 * 1024
    return {"TREEPORT_MAX_BODY_BYTES": str(payload), "TREEPORT_MAX_ROWS": str(payload // MIN_LINE_BYTES)}


def container_environment(items: list[str]) -> dict[str, str]:
    """Return the container environment of `--env KEY=VALUE` flags (values are text, as SageMaker takes them)."""
    environment: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--env expects KEY=VALUE, got {item!r}")
        environment[key.strip()] = value
    return environment


def content_type_of(key: str) -> str:
    """Return the media type an input key's extension names; UserError when it names none."""
    lowered = key.lower()
    if lowered.endswith(".csv"):
        return "text/csv"
    if lowered.endswith((".jsonl", ".jsonlines", ".ndjson")):
        return "application/jsonlines"
    raise UserError(f"cannot tell the media type of {key!r} from its extension: pass --content-type")


def default_job_name(model: str) -> str:
    """Return `treeport-<model>-<UTC time>`, shortened and cleaned to SageMaker's job-name rule."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", model).strip("-")[: 63 - len("treeport--") - len(stamp)].strip("-")
    return f"treeport-{stem}-{stamp}" if stem else f"treeport-{stamp}"


def list_objects(s3: Any, uri: str, suffix: str = "", since: datetime | None = None) -> list[tuple[str, int]]:
    """Return (key, size) of every object under an s3:// prefix (ending in `suffix`, written at or after `since`),
    in key order."""
    from model.store import s3_errors

    location = parse_s3_uri(uri)
    found: list[tuple[str, int]] = []
    with s3_errors(uri):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key):
            found += [
                (o["Key"], int(o["Size"]))
                for o in page.get("Contents", [])
                if o["Key"].endswith(suffix) and (since is None or o["LastModified"] >= since)
            ]
    return sorted(k for k in found if not k[0].endswith("/"))


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Turn botocore errors of one SageMaker call into Treeport errors: what SageMaker refuses is the user's."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise UserError(f"{operation}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        if code in ("ValidationException", "ResourceInUse", "ResourceNotFound", "AccessDeniedException"):
            raise UserError(f"{operation}: {code}: {message}") from None
        raise PlatformError(f"{operation}: {code or 'error'}: {message}") from None
    except BotoCoreError as exc:
        raise PlatformError(f"{operation}: SageMaker unreachable ({exc})") from None


def describe(sagemaker: Any, name: str) -> dict[str, Any]:
    """Return `DescribeTransformJob` of the job."""
    with aws_errors("DescribeTransformJob"):
        return dict(sagemaker.describe_transform_job(TransformJobName=name))


def wait(
    describe: Callable[[], dict[str, Any]],
    written: Callable[[], int],
    expected: int,
    out: TextIO,
    poll_s: float,
    timeout_s: float | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the job until it ends; print each status change and the output objects written; return the last describe.

    Raises `PlatformError` when `timeout_s` passes first (the job goes on)."""
    start = clock()
    shown: tuple[str, int] | None = None
    while True:
        job = describe()
        status = str(job.get("TransformJobStatus", "?"))
        done = written() if status != "Failed" else 0
        if (status, done) != shown:
            elapsed = clock() - start
            print(f"batch: {elapsed:6.0f} s  {status:<10}  {done}/{expected} output object(s) written", file=out)
            shown = (status, done)
        if status in TERMINAL:
            return job
        if timeout_s is not None and clock() - start >= timeout_s:
            raise PlatformError(
                f"transform job {job.get('TransformJobName', '')} still {status} after {timeout_s:g} s; "
                "stopped waiting (the job goes on)"
            )
        sleep(poll_s)


def report(job: dict[str, Any], outputs: list[tuple[str, int]], spec: JobSpec, out: TextIO) -> int:
    """Print how the job ended and what it wrote (`outputs`: key, size); return 0 when it completed, else raise
    TransformFailed with the reason."""
    status = job.get("TransformJobStatus")
    started, ended = job.get("TransformStartTime"), job.get("TransformEndTime")
    took = f" in {(ended - started).total_seconds():.0f} s" if started and ended else ""
    if status != "Completed":
        reason = job.get("FailureReason") or "no reason given"
        raise TransformFailed(f"transform job {spec.name} {str(status).lower()}{took}: {reason}")
    size = sum(n for _, n in outputs)
    print(
        f"batch: transform job {spec.name} completed{took}: {len(outputs)} output object(s), {size:,} bytes, "
        f"under {spec.output_uri} ({spec.accept}, one line per input line)",
        file=out,
    )
    return 0
