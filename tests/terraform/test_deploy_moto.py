"""`treeport deploy` applies and destroys the serverless and SageMaker stacks against moto_server on 127.0.0.1.

The real Terraform and the real AWS provider talk HTTP to the emulator (provider endpoints and skip_* flags set by
--endpoint-url); boto3 then checks that the function, REST API, stage, usage plan, SageMaker model, endpoint
configuration and endpoint exist after apply and are gone after destroy. A second plan after apply shows the drift
that moto's answers cause; it must stay within the known list below (anything new is ours to fix).

Both stacks run at once, in two threads: most of an apply is the provider waiting (S3 lifecycle and KMS
propagation checks), so on two cores the pair takes little longer than the slower one alone.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.terraform.conftest import copy_configuration
from treeport import deploy

REGION = "us-east-1"
LAMBDA_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/lambda:0.1.0"
SERVE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.1.0"

# What a second plan wants to change only because of how moto answers (real AWS omits these):
KNOWN_MOTO_DRIFT = {
    "serverless": {
        # GetFunction returns an empty ImageConfigResponse; the provider then removes `image_config`, which
        # publishes a new version (the alias stays: `treeport deploy` moves it, Terraform ignores where it points).
        "module.serverless[0].aws_lambda_function.this",
        # The provider adds binary media types by UpdateRestApi `add /binaryMediaTypes/application~1vnd.apache.arrow
        # .stream` (the type in the path, as AWS documents); moto appends the op's empty value instead, so the API
        # reads back [""] and the next plan adds the type again: an in-place update.
        "module.serverless[0].aws_api_gateway_rest_api.this",
    },
    "sagemaker": {
        # DescribeModel returns an empty VpcConfig, which the provider reads as a vpc_config block: replace.
        "module.sagemaker[0].aws_sagemaker_model.this",
        # DescribeEndpoint does not return DeploymentConfig (moto keeps no deployment policy), so the provider
        # wants to write the blue/green policy again: an in-place update.
        "module.sagemaker[0].aws_sagemaker_endpoint.this",
    },
}


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse `treeport deploy ...` with the deploy module's own parser."""
    parser = argparse.ArgumentParser(prog="treeport")
    deploy.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["deploy", *argv])


@pytest.fixture
def aws(aws_endpoint: str, terraform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Terraform's environment plus dummy credentials for the emulator; boto3 clients aimed at it."""
    for key, value in terraform_env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "TF_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    def client(service: str) -> Any:
        # A session per client: boto3's default session is not safe to share between threads.
        return boto3.session.Session().client(service, endpoint_url=aws_endpoint, region_name=REGION)

    return {"endpoint": aws_endpoint, "client": client}


def exists(call: Callable[[], Any]) -> bool:
    """Return whether a describe/get call finds its resource (False on a not-found ClientError)."""
    try:
        call()
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("ResourceNotFoundException", "NotFoundException", "ValidationException", "404"):
            return False
        raise
    return True


def deploy_run(argv: list[str]) -> str:
    """Run `treeport deploy ARGV` in-process; return what it printed (exit code 0 asserted)."""
    out = io.StringIO()
    assert deploy.run(parse(argv), out) == 0, out.getvalue()
    return out.getvalue()


def second_plan_drift(state_dir: Path, target: str, argv: list[str]) -> set[str]:
    """Plan again after apply with the same variables; return the addresses it would change."""
    args = parse([target, "plan", *argv])
    stack = deploy.prepare_stack(deploy.find_terraform_dir(args.terraform_dir), target, args.state_dir)
    variables = deploy.stack_variables(args, stack)
    deploy.plan(stack, deploy.terraform_binary(), variables, io.StringIO(), save=True)
    shown = subprocess.run(
        ["terraform", "show", "-json", deploy.PLAN_FILE],
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (stack.workdir / deploy.PLAN_FILE).unlink()
    changes = json.loads(shown.stdout).get("resource_changes", [])
    return {c["address"] for c in changes if c["change"]["actions"] not in (["no-op"], ["read"])}


def serverless_args(aws: dict[str, Any], tmp_path: Path) -> list[str]:
    """The deploy flags of the serverless run."""
    return [
        "--terraform-dir",
        str(tmp_path / "checkout" / "terraform"),
        "--state-dir",
        str(tmp_path / "state"),
        "--endpoint-url",
        aws["endpoint"],
        "--region",
        REGION,
        "--name-prefix",
        "tpsls",
        "--image-uri",
        LAMBDA_IMAGE,
    ]


def check_serverless_stack(aws: dict[str, Any], tmp_path: Path) -> None:
    """Apply the serverless stack (its own bucket and ECR repository, then function and API); check; destroy."""
    common = serverless_args(aws, tmp_path)
    printed = deploy_run(["serverless", "apply", "--auto-approve", *common])
    assert "predict_url = https://" in printed
    assert "api_key_value = <sensitive>" in printed

    outputs = json.loads(deploy_run(["serverless", "output", "--show-sensitive", *common]))
    assert isinstance(outputs["api_key_value"], str) and len(outputs["api_key_value"]) >= 20
    lam, apigw, s3 = aws["client"]("lambda"), aws["client"]("apigateway"), aws["client"]("s3")
    function = lam.get_function(FunctionName=outputs["function_name"])["Configuration"]
    assert function["PackageType"] == "Image"
    env = function["Environment"]["Variables"]
    assert (
        env["TREEPORT_MODEL_STORE"] == outputs["model_store_uri"] == "s3://tpsls-models-123456789012-us-east-1/models"
    )
    assert env["TREEPORT_BACKEND"] == "local"
    api_id, stage = outputs["rest_api_id"], outputs["stage_name"]
    assert apigw.get_rest_api(restApiId=api_id)["name"] == "tpsls-api"
    assert apigw.get_stage(restApiId=api_id, stageName=stage)["stageName"] == "v1"
    plan = apigw.get_usage_plan(usagePlanId=outputs["usage_plan_id"])
    assert plan["apiStages"][0]["apiId"] == api_id and plan["throttle"]["rateLimit"] == 50
    keys = apigw.get_usage_plan_keys(usagePlanId=outputs["usage_plan_id"])["items"]
    assert [k["id"] for k in keys] == [outputs["api_key_id"]]
    methods = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    predict = next(r for r in methods if r["path"] == "/predict")
    assert predict["resourceMethods"]["POST"]["apiKeyRequired"] is True
    bucket = outputs["model_store_uri"].split("/")[2]
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"

    # Alarms (issue 16): seven, all notifying the stack's topic; the canary's are among them; one dashboard.
    cloudwatch, sns = aws["client"]("cloudwatch"), aws["client"]("sns")
    alarms = cloudwatch.describe_alarms(AlarmNames=outputs["alarm_names"])["MetricAlarms"]
    assert len(alarms) == len(outputs["alarm_names"]) == 7
    assert {a["AlarmActions"][0] for a in alarms} == {outputs["alarm_topic_arn"]}
    assert set(outputs["rollback_alarm_names"]) < set(outputs["alarm_names"])
    assert "tpsls-api-api-5xx-rate" in outputs["rollback_alarm_names"]
    assert (
        sns.get_topic_attributes(TopicArn=outputs["alarm_topic_arn"])["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    )
    widgets = json.loads(cloudwatch.get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"])["widgets"]
    assert len(widgets) == 5
    # The web ACL in front of the stage (issue 13.3), logging to its own group.
    wafv2 = aws["client"]("wafv2")
    stage_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/{stage}"
    acl = wafv2.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]
    assert acl["ARN"] == outputs["web_acl_arn"]
    assert {r["Name"] for r in acl["Rules"]} == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "RatePerClientIp",
    }
    logging = wafv2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"][0].endswith(":log-group:aws-waf-logs-tpsls-api")

    drift = second_plan_drift(tmp_path / "state", "serverless", common)
    print(f"serverless drift on a second plan against moto: {sorted(drift)}")
    assert drift <= KNOWN_MOTO_DRIFT["serverless"], f"new drift: {sorted(drift - KNOWN_MOTO_DRIFT['serverless'])}"

    check_serverless_rollout(aws, tmp_path, outputs["function_name"])

    deploy_run(["serverless", "destroy", "--auto-approve", *common])
    assert cloudwatch.describe_alarms(AlarmNames=outputs["alarm_names"])["MetricAlarms"] == []
    assert not exists(lambda: lam.get_function(FunctionName=outputs["function_name"]))
    assert not exists(lambda: apigw.get_rest_api(restApiId=api_id))
    assert not exists(lambda: apigw.get_stage(restApiId=api_id, stageName=stage))
    assert not exists(lambda: apigw.get_usage_plan(usagePlanId=outputs["usage_plan_id"]))
    assert not exists(lambda: s3.head_bucket(Bucket=bucket))


def check_serverless_rollout(aws: dict[str, Any], tmp_path: Path, function: str) -> None:
    """Roll a new image out through the canary (quiet alarms: it ends live), then roll back to the old version."""
    lam, cloudwatch = aws["client"]("lambda"), aws["client"]("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="tpsls-canary-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="tpsls-canary-errors", StateValue="OK", StateReason="quiet")
    before = lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"]
    new_image = LAMBDA_IMAGE.replace(":0.1.0", ":0.2.0")
    common = [new_image if a == LAMBDA_IMAGE else a for a in serverless_args(aws, tmp_path)]
    flags = ["--canary", "10", "--for", "1s", "--alarm", "tpsls-canary-errors"]
    printed = deploy_run(["serverless", "rollout", "--auto-approve", *flags, *common])
    assert "# canary: 10% of " in printed
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]]
    newest = str(max(int(v) for v in versions if v != "$LATEST"))
    live = lam.get_alias(FunctionName=function, Name="live")
    assert live["FunctionVersion"] == newest != before
    assert not (live.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert lam.get_function(FunctionName=function, Qualifier=newest)["Code"]["ImageUri"] == new_image

    state = ["--terraform-dir", str(tmp_path / "checkout" / "terraform"), "--state-dir", str(tmp_path / "state")]
    printed = deploy_run(["serverless", "rollback", "--auto-approve", *state])
    assert f"serves version {before} (was {newest})" in printed
    assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == before
    # The stack's variables are the previous release's again, so a plain apply does not bring the new image back.
    assert lam.get_function(FunctionName=function)["Code"]["ImageUri"] == LAMBDA_IMAGE
    cloudwatch.delete_alarms(AlarmNames=["tpsls-canary-errors"])


def sagemaker_args(aws: dict[str, Any], tmp_path: Path) -> list[str]:
    """The deploy flags of the SageMaker run."""
    return [
        "--terraform-dir",
        str(tmp_path / "checkout" / "terraform"),
        "--state-dir",
        str(tmp_path / "state"),
        "--endpoint-url",
        aws["endpoint"],
        "--name-prefix",
        "tpsm",
        "--image-uri",
        SERVE_IMAGE,
        "--model-store",
        "s3://tpsm-shared-store/models",
        "--var",
        "max_capacity=3",
    ]


def check_sagemaker_stack(aws: dict[str, Any], tmp_path: Path) -> None:
    """Apply the SageMaker stack on a store in an existing bucket; check model, endpoint, scaling, pipeline; destroy."""
    # A store in a bucket made elsewhere (as the serverless stack's sagemaker backend shares it).
    aws["client"]("s3").create_bucket(Bucket="tpsm-shared-store")
    common = sagemaker_args(aws, tmp_path)
    deploy_run(["sagemaker", "apply", "--auto-approve", *common])
    outputs = json.loads(deploy_run(["sagemaker", "output", *common]))
    sm, scaling = aws["client"]("sagemaker"), aws["client"]("application-autoscaling")
    model = sm.describe_model(ModelName=outputs["sagemaker_model_name"])
    assert model["PrimaryContainer"]["Image"] == SERVE_IMAGE
    assert model["PrimaryContainer"]["Environment"]["TREEPORT_MODEL_STORE"] == "s3://tpsm-shared-store/models"
    config = sm.describe_endpoint_config(EndpointConfigName=outputs["endpoint_config_name"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c7i.large"
    endpoint = sm.describe_endpoint(EndpointName=outputs["endpoint_name"])
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == outputs["endpoint_config_name"]
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MaxCapacity"]) for t in targets] == [("endpoint/tpsm-endpoint/variant/AllTraffic", 3)]
    pipeline = sm.describe_pipeline(PipelineName=outputs["pipeline_name"])
    steps = [s["Name"] for s in json.loads(pipeline["PipelineDefinition"])["Steps"]]
    assert steps == ["Train", "Evaluate", "CheckGate"]
    # Alarms (issue 16): three on the variant, notifying the stack's topic; two roll a deployment back.
    cloudwatch = aws["client"]("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=outputs["alarm_names"])["MetricAlarms"]
    assert len(alarms) == 3 and {a["AlarmActions"][0] for a in alarms} == {outputs["alarm_topic_arn"]}
    assert set(outputs["rollback_alarm_names"]) == {
        "tpsm-endpoint-invocation-5xx-errors",
        "tpsm-endpoint-model-latency-p99",
    }
    assert cloudwatch.get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"]

    drift = second_plan_drift(tmp_path / "state", "sagemaker", common)
    print(f"sagemaker drift on a second plan against moto: {sorted(drift)}")
    assert drift <= KNOWN_MOTO_DRIFT["sagemaker"], f"new drift: {sorted(drift - KNOWN_MOTO_DRIFT['sagemaker'])}"

    check_model_package_rollout(aws, common, outputs)

    deploy_run(["sagemaker", "destroy", "--auto-approve", *common])
    assert not exists(lambda: sm.describe_model(ModelName=outputs["sagemaker_model_name"]))
    assert not exists(lambda: sm.describe_endpoint_config(EndpointConfigName=outputs["endpoint_config_name"]))
    assert not exists(lambda: sm.describe_endpoint(EndpointName=outputs["endpoint_name"]))
    assert not exists(lambda: sm.describe_pipeline(PipelineName=outputs["pipeline_name"]))
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def check_model_package_rollout(aws: dict[str, Any], common: list[str], before: dict[str, Any]) -> None:
    """Serve an approved model package: a new model and endpoint configuration, the endpoint moved to them."""
    sm = aws["client"]("sagemaker")
    url = "s3://tpsm-shared-store/pipelines/tpsm-endpoint/training/job-2/output/model.tar.gz"
    sm.create_model_package_group(ModelPackageGroupName="tpsm-registry")
    arn = sm.create_model_package(
        ModelPackageGroupName="tpsm-registry",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": SERVE_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    printed = deploy_run(["sagemaker", "apply", "--auto-approve", "--model-package", arn, *common])
    assert f"serving {url}" in printed
    after = json.loads(deploy_run(["sagemaker", "output", *common]))
    assert after["model_data_url"] == url
    assert after["sagemaker_model_name"] != before["sagemaker_model_name"]
    assert after["endpoint_config_name"] != before["endpoint_config_name"]
    model = sm.describe_model(ModelName=after["sagemaker_model_name"])
    # (Network isolation is the tftest's to check: moto's CreateModel drops EnableNetworkIsolation.)
    assert model["PrimaryContainer"]["ModelDataUrl"] == url
    assert model["PrimaryContainer"]["Environment"]["TREEPORT_MODEL_STORE"] == "file:///opt/ml/model"
    endpoint = sm.describe_endpoint(EndpointName=after["endpoint_name"])
    assert endpoint["EndpointConfigName"] == after["endpoint_config_name"]
    # The old model and configuration went once the endpoint had moved (created before destroyed).
    assert not exists(lambda: sm.describe_model(ModelName=before["sagemaker_model_name"]))
    assert not exists(lambda: sm.describe_endpoint_config(EndpointConfigName=before["endpoint_config_name"]))


@pytest.mark.slow
@pytest.mark.integration
def test_serverless_and_sagemaker_stacks_apply_and_destroy(aws: dict[str, Any], tmp_path: Path) -> None:
    # `init` one stack after the other: the shared plugin cache is not safe for concurrent installs.
    for target, flags in (("serverless", serverless_args), ("sagemaker", sagemaker_args)):
        copy_configuration(tmp_path / target / "checkout")
        deploy_run([target, "init", *flags(aws, tmp_path / target)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            "serverless": pool.submit(check_serverless_stack, aws, tmp_path / "serverless"),
            "sagemaker": pool.submit(check_sagemaker_stack, aws, tmp_path / "sagemaker"),
        }
    for future in futures.values():
        future.result()  # re-raises the first failed assertion of that stack
