"""`treeport deploy sagemaker apply --model-package ARN`: the package's ModelDataUrl becomes the stack's
model_data_url, read from a real SageMaker API (moto_server on 127.0.0.1, which keeps model packages, their
inference specification and approval status).

Terraform itself runs as the other deploy tests run it here: `--dry-run` prints the exact command (with the
variable) instead of planning against AWS; tests/terraform/test_deploy_moto.py applies the stack for real.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
from typing import Any

import boto3
import pytest

from model.errors import UserError
from treeport import deploy

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.1.0"
ARTIFACT = "s3://tp-models/pipelines/tp-endpoint/training/pipelines-abc-Train-1/output/model.tar.gz"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse `treeport deploy ARGV` with the deploy module's parser, as cli.py wires it."""
    parser = argparse.ArgumentParser(prog="treeport")
    deploy.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["deploy", *argv])


@pytest.fixture
def sagemaker(s3_env: str) -> Any:
    """A SageMaker client aimed at the emulator."""
    return boto3.client("sagemaker", endpoint_url=s3_env, region_name=REGION)


def register(sagemaker: Any, group: str, status: str, url: str = ARTIFACT) -> str:
    """Register a model package as the pipeline's RegisterModel step does; return its ARN."""
    with contextlib.suppress(sagemaker.exceptions.ClientError):  # the group exists from an earlier call
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": url}],
                "SupportedContentTypes": ["application/json", "text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
    )


def deploy_flags(s3_env: str, tmp_path: Path, arn: str) -> list[str]:
    """The flags of a dry-run apply of the sagemaker stack at the emulator with --model-package ARN."""
    return [
        "--dry-run",
        "--state-dir",
        str(tmp_path),
        "--endpoint-url",
        s3_env,
        "--region",
        REGION,
        "--image-uri",
        IMAGE,
        "--model-package",
        arn,
    ]


def test_an_approved_package_is_served_through_the_stacks_model_data_url(
    sagemaker: Any, s3_env: str, tmp_path: Path
) -> None:
    first = register(sagemaker, "tp-endpoint-models", "Approved")
    second = register(sagemaker, "tp-endpoint-models", "Approved", ARTIFACT.replace("abc", "def"))
    out = io.StringIO()

    assert deploy.run(parse(["sagemaker", "apply", *deploy_flags(s3_env, tmp_path, second)]), out) == 0

    printed = out.getvalue()
    assert f"# model package {second}: serving {ARTIFACT.replace('abc', 'def')}" in printed
    plan = next(line for line in printed.splitlines() if " plan " in line)
    assert f"-var model_data_url={ARTIFACT.replace('abc', 'def')}" in plan
    assert f"-var image_uri={IMAGE}" in plan
    assert ARTIFACT not in printed and first != second  # the version asked for, not the group's first


@pytest.mark.parametrize(
    ("status", "reason"),
    [("PendingManualApproval", "is PendingManualApproval, not Approved"), ("Rejected", "is Rejected")],
)
def test_an_unapproved_package_is_refused(
    sagemaker: Any, s3_env: str, tmp_path: Path, status: str, reason: str
) -> None:
    arn = register(sagemaker, f"tp-{status.lower()}", status)
    with pytest.raises(UserError) as exc:
        deploy.run(parse(["sagemaker", "apply", *deploy_flags(s3_env, tmp_path, arn)]), io.StringIO())
    assert exc.value.exit_code == 2
    assert reason in exc.value.message and "update-model-package" in exc.value.message


def test_an_unknown_package_is_a_user_error(s3_env: str, tmp_path: Path) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/tp-none/1"
    with pytest.raises(UserError, match=f"model package {arn}: "):
        deploy.run(parse(["sagemaker", "apply", *deploy_flags(s3_env, tmp_path, arn)]), io.StringIO())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serverless", "apply"], "--model-package goes with `treeport deploy sagemaker plan|apply`"),
        (["sagemaker", "destroy"], "--model-package goes with `treeport deploy sagemaker plan|apply`"),
        (["sagemaker", "rollback"], "--model-package goes with `treeport deploy sagemaker plan|apply`"),
        (["sagemaker", "apply", "--var", "model_data_url=s3://b/m.tar.gz"], "model_data_url is set twice"),
    ],
)
def test_model_package_refusals(tmp_path: Path, argv: list[str], message: str) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/tp-endpoint-models/1"
    args = parse([*argv, "--dry-run", "--state-dir", str(tmp_path), "--model-package", arn])
    with pytest.raises(UserError, match=message.replace("|", r"\|")):
        deploy.run(args, io.StringIO())


def test_a_model_package_that_is_not_an_arn_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--model-package must be a model package ARN"):
        deploy.run(
            parse(["sagemaker", "plan", "--dry-run", "--state-dir", str(tmp_path), "--model-package", "tp/1"]),
            io.StringIO(),
        )
