"""`treeport batch` (treeport/batch.py) against moto_server on 127.0.0.1: S3 and SageMaker's transform-job API.

moto records a transform job with every parameter it was given and answers `Completed` at once; it does not run the
container, so it writes no output. The job's parameters and the CLI's report are checked against it; the waiting
loop's other paths (InProgress for a while, Failed with a reason, a timeout) are driven by a scripted `describe`,
because no emulator here runs a job that fails. The container's side of the contract (GET /execution-parameters, line
-split CSV and JSON Lines on /invocations, Accept) is tested through the app in tests/api and through the image in
tests/e2e.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from model.errors import PlatformError
from treeport import batch
from treeport.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def sagemaker_env(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Aim boto3's SageMaker client at the same emulator as S3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", s3_env)
    return s3_env


@pytest.fixture
def inputs(bucket: str, sagemaker_env: str) -> Iterator[str]:
    """Two CSV input objects under s3://bucket/in/."""
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="in/part-0.csv", Body=b"1,2,3\n4,5,6\n")
    s3.put_object(Bucket=bucket, Key="in/part-1.csv", Body=b"7,8,9\n")
    yield bucket


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["batch", *argv])
    return code, out.getvalue(), err.getvalue()


def test_creates_the_transform_job_with_the_containers_contract(inputs: str) -> None:
    code, out, err = run_cli(
        "--model", "tp-model", "--input", f"s3://{inputs}/in/", "--output", f"s3://{inputs}/out/",
        "--job-name", "tp-batch-1", "--env", "TREEPORT_MODEL_VERSION=v3", "--kms-key", "alias/tp", "--poll", "0.01",
    )  # fmt: skip
    assert code == 0, err
    job = boto3.client("sagemaker").describe_transform_job(TransformJobName="tp-batch-1")
    assert job["ModelName"] == "tp-model"
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["MaxPayloadInMB"] == 6
    assert "MaxConcurrentTransforms" not in job or not job["MaxConcurrentTransforms"]  # the container says
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{inputs}/in/"}},
        "ContentType": "text/csv",
        "SplitType": "Line",
        "CompressionType": "None",
    }
    assert job["TransformOutput"] == {
        "S3OutputPath": f"s3://{inputs}/out/",
        "Accept": "text/csv",
        "AssembleWith": "Line",
        "KmsKeyId": "alias/tp",
    }
    assert job["TransformResources"] == {"InstanceType": "ml.c7i.xlarge", "InstanceCount": 1}
    assert job["Environment"] == {
        "TREEPORT_MODEL_VERSION": "v3",
        # 6 MB of lines: the whole payload in one body, and up to one row per 32 bytes of it
        "TREEPORT_MAX_BODY_BYTES": str(6 * 1024 * 1024),
        "TREEPORT_MAX_ROWS": str(6 * 1024 * 1024 // 32),
    }
    assert "2 input object(s), 18 bytes" in out
    assert "tp-batch-1 completed" in out
    assert "0 output object(s)" in out  # moto runs no container: nothing is written, and the report says so


def test_jsonlines_input_defaults_to_jsonlines_output(bucket: str, sagemaker_env: str) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key="rows/a.jsonl", Body=b'{"age": 30}\n')
    code, _, err = run_cli(
        "--model", "m", "--input", f"s3://{bucket}/rows/", "--output", f"s3://{bucket}/scored/", "--job-name", "tp-j",
        "--no-wait", "--join-source",
    )  # fmt: skip
    assert code == 0, err
    job = boto3.client("sagemaker").describe_transform_job(TransformJobName="tp-j")
    assert job["TransformInput"]["ContentType"] == "application/jsonlines"
    assert job["TransformOutput"]["Accept"] == "application/jsonlines"
    assert job["DataProcessing"] == {"JoinSource": "Input"}
    assert job["Environment"]["TREEPORT_MAX_ROWS"] == str(6 * 1024 * 1024 // 32)


def test_env_overrides_the_batch_limits(bucket: str, sagemaker_env: str) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key="in/a.csv", Body=b"1,2\n")
    code, _, err = run_cli(
        "--model", "m", "--input", f"s3://{bucket}/in/", "--output", f"s3://{bucket}/out/", "--job-name", "tp-env",
        "--no-wait", "--max-payload-mb", "2", "--env", "TREEPORT_MAX_ROWS=500",
    )  # fmt: skip
    assert code == 0, err
    environment = boto3.client("sagemaker").describe_transform_job(TransformJobName="tp-env")["Environment"]
    assert environment == {"TREEPORT_MAX_ROWS": "500", "TREEPORT_MAX_BODY_BYTES": str(2 * 1024 * 1024)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "s3://{b}/nothing-here/"], "no objects under this prefix"),
        (["--input", "http://{b}/in/"], "not an s3:// URI"),
        (["--output", "s3://{b}/in/out/"], "--output must not be under --input"),
        (["--max-payload-mb", "0"], "--max-payload-mb must be 1-100"),
        (["--instance-count", "0"], "--instance-count must be at least 1"),
        (["--instance-type", "c7i.xlarge"], "is not a SageMaker instance type"),
        (["--split-type", "None"], "MultiRecord needs --split-type Line"),
        (["--job-name=-bad_name-"], "use 1-63 letters, digits and hyphens"),
        (["--env", "NOEQUALS"], "--env expects KEY=VALUE"),
        (["--input", "s3://{b}/odd/"], "pass --content-type"),
    ],
)
def test_bad_arguments_exit_2_naming_what(inputs: str, args: list[str], message: str) -> None:
    boto3.client("s3").put_object(Bucket=inputs, Key="odd/data.bin", Body=b"x")
    given = {"--input": f"s3://{inputs}/in/", "--output": f"s3://{inputs}/out/", "--model": "m"}
    extra: list[str] = [arg for arg in args if "=" in arg and arg.startswith("--")]
    args = [arg for arg in args if arg not in extra]
    for flag, value in zip(args[::2], args[1::2], strict=False):
        if flag in given:
            given[flag] = value.format(b=inputs)
        else:
            extra += [flag, value]
    argv = [item for pair in given.items() for item in pair] + extra
    jobs = boto3.client("sagemaker").list_transform_jobs()["TransformJobSummaries"]
    code, _, err = run_cli(*argv)
    assert code == 2
    assert message in err
    assert boto3.client("sagemaker").list_transform_jobs()["TransformJobSummaries"] == jobs  # none created


def test_default_job_name_follows_sagemakers_rule() -> None:
    name = batch.default_job_name("credit_risk.model/" + "x" * 80)
    assert batch._JOB_NAME_RE.fullmatch(name)
    assert name.startswith("treeport-credit-risk-model-")
    assert batch._JOB_NAME_RE.fullmatch(batch.default_job_name("___"))


class Script:
    """A describe that answers a scripted sequence of statuses, and a clock that each sleep moves on."""

    def __init__(self, statuses: list[str], reason: str = "") -> None:
        self.statuses = statuses
        self.reason = reason
        self.now = 0.0
        self.calls = 0

    def describe(self) -> dict[str, Any]:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return {"TransformJobName": "j", "TransformJobStatus": status, "FailureReason": self.reason}

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_prints_each_change_and_returns_the_final_state() -> None:
    script = Script(["InProgress", "InProgress", "InProgress", "Completed"])
    written = iter([0, 0, 1, 2])
    out = io.StringIO()
    job = batch.wait(
        script.describe, lambda: next(written), 2, out, 30, None, sleep=script.sleep, clock=lambda: script.now
    )
    assert job["TransformJobStatus"] == "Completed"
    lines = out.getvalue().splitlines()
    assert [line.split()[4] for line in lines] == ["0/2", "1/2", "2/2"]
    assert "60 s" in lines[1]


def test_a_failed_job_raises_with_its_reason() -> None:
    script = Script(["InProgress", "Failed"], reason="ClientError: See job logs for more information")
    out = io.StringIO()
    job = batch.wait(script.describe, lambda: 0, 1, out, 5, None, sleep=script.sleep, clock=lambda: script.now)
    spec = batch.JobSpec("j", "m", "s3://b/in/", "s3://b/out/", "text/csv", "text/csv", "Line", "MultiRecord", 6, None,
                         "ml.c7i.xlarge", 1, False, None, {})  # fmt: skip
    with pytest.raises(batch.TransformFailed, match="failed: ClientError: See job logs") as info:
        batch.report(job, [], spec, out)
    assert info.value.exit_code == 1


def test_wait_gives_up_after_the_timeout_leaving_the_job() -> None:
    script = Script(["InProgress"])
    with pytest.raises(PlatformError, match="still InProgress after 90 s"):
        batch.wait(script.describe, lambda: 0, 1, io.StringIO(), 30, 90, sleep=script.sleep, clock=lambda: script.now)
