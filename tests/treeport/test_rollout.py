"""Lambda canary rollouts and rollback (treeport/rollout.py) against moto_server on 127.0.0.1.

moto emulates Lambda's versions and aliases (weighted routing included) and CloudWatch alarms and their states; it
does not run the function's code, and nothing here needs it to: the rollout only moves the alias and reads alarms.
An alarm "fires" by `SetAlarmState`, which is how AWS documents testing an alarm's actions.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from model.errors import UserError
from treeport import rollout

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/lambda:0.1.0"
ALARMS = ["tp-lambda-errors", "tp-api-5xx"]


@pytest.fixture
def aws(s3_env: str) -> dict[str, Any]:
    """boto3 clients for Lambda, IAM and CloudWatch, aimed at the emulator."""
    return {
        name: boto3.client(name, endpoint_url=s3_env, region_name=REGION) for name in ("lambda", "iam", "cloudwatch")
    }


@pytest.fixture
def function(aws: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[str]:
    """A function with versions 1 and 2 published (two model versions), its `live` alias on 1, and two alarms."""
    name = "tp-" + request.node.name.replace("_", "-")[:40]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam = aws["lambda"]
    lam.create_function(
        FunctionName=name,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": IMAGE},
        Environment={"Variables": {"TREEPORT_MODEL_VERSION": "v1"}},
        Publish=True,
    )
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"TREEPORT_MODEL_VERSION": "v2"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for alarm in ALARMS:
        aws["cloudwatch"].put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        aws["cloudwatch"].set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test start")
    yield name
    aws["cloudwatch"].delete_alarms(AlarmNames=ALARMS)
    lam.delete_function(FunctionName=name)
    aws["iam"].delete_role(RoleName=name)


def alias_of(aws: dict[str, Any], function: str) -> dict[str, Any]:
    """Return the alias as Lambda answers GetAlias."""
    return aws["lambda"].get_alias(FunctionName=function, Name="live")  # type: ignore[no-any-return]


def test_a_quiet_canary_ends_with_the_new_version_live(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)
    assert alias.newest_version() == "2"
    during: list[dict[str, Any]] = []

    def sleep(seconds: float) -> None:
        # Called between polls, so the alias is in its canary state here.
        during.append(alias_of(aws, function))

    out = io.StringIO()
    rollout.rollout(alias, aws["cloudwatch"], ALARMS, "2", 0.1, 0.2, out, poll_seconds=0.05, sleep=sleep)
    assert during, "the canary was never watched"
    assert {d["FunctionVersion"] for d in during} == {"1"}
    assert all(d["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1} for d in during)
    live = alias_of(aws, function)
    assert live["FunctionVersion"] == "2"
    assert not (live.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert alias.state() == rollout.AliasState(version="2", canary={}, previous="1")
    assert "serves version 2 (previous: 1)" in out.getvalue()


def test_an_alarm_during_the_canary_rolls_back(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)

    def sleep(seconds: float) -> None:
        aws["cloudwatch"].set_alarm_state(AlarmName=ALARMS[1], StateValue="ALARM", StateReason="5XX above threshold")

    with pytest.raises(rollout.RolledBack) as exc:
        rollout.rollout(alias, aws["cloudwatch"], ALARMS, "2", 0.1, 60, io.StringIO(), poll_seconds=0.05, sleep=sleep)
    assert exc.value.exit_code == 1 and exc.value.code == "rolled_back"
    assert f"alarm {ALARMS[1]} fired during the canary" in exc.value.message
    live = alias_of(aws, function)
    assert live["FunctionVersion"] == "1"
    assert not (live.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_rollback_restores_the_version_served_before(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)
    rollout.rollout(alias, aws["cloudwatch"], ALARMS, "2", 0.5, 0, io.StringIO(), poll_seconds=0.01)
    assert alias.state().version == "2"
    out = io.StringIO()
    assert rollout.rollback(alias, out) == "1"
    assert alias.state() == rollout.AliasState(version="1", canary={}, previous=None)
    assert "serves version 1 (was 2)" in out.getvalue()
    with pytest.raises(UserError, match="nothing to roll back to"):
        rollout.rollback(alias, io.StringIO())


def test_rollback_during_a_canary_ends_it(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)
    alias.route("1", canary="2", weight=0.1)
    assert rollout.rollback(alias, io.StringIO()) == "1"
    assert alias.state().canary == {}


def test_a_rollout_refuses_while_an_alarm_is_firing(aws: dict[str, Any], function: str) -> None:
    aws["cloudwatch"].set_alarm_state(AlarmName=ALARMS[0], StateValue="ALARM", StateReason="errors")
    alias = rollout.LambdaAlias(aws["lambda"], function)
    with pytest.raises(UserError, match=f"alarm {ALARMS[0]} is already in ALARM state"):
        rollout.rollout(alias, aws["cloudwatch"], ALARMS, "2", 0.1, 1, io.StringIO())
    assert alias.state().version == "1" and alias.state().canary == {}


def test_rolling_out_the_version_already_live_changes_nothing(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)
    out = io.StringIO()
    rollout.rollout(alias, aws["cloudwatch"], ALARMS, "1", 0.1, 1, out)
    assert "already serves version 1" in out.getvalue()
    assert alias.state() == rollout.AliasState(version="1", canary={}, previous=None)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0), (" 2m ", 120.0)])
def test_durations(text: str, seconds: float) -> None:
    assert rollout.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 min", "-1m", "m", "5d", ""])
def test_bad_durations_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="--for expects a duration such as 30s, 5m or 1h") as exc:
        rollout.parse_duration(text)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("percent", [0, 100, -5, 150])
def test_bad_canary_percentages_are_user_errors(percent: float) -> None:
    with pytest.raises(UserError, match="0 < N < 100") as exc:
        rollout.check_canary(percent)
    assert exc.value.exit_code == 2


def parse(argv: list[str]) -> Any:
    """Parse `treeport deploy ARGV` with the deploy module's parser."""
    import argparse

    from treeport import deploy

    parser = argparse.ArgumentParser(prog="treeport")
    deploy.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["deploy", *argv])


def test_rollout_dry_run_prints_the_apply_and_the_canary(tmp_path: Any) -> None:
    from treeport import deploy

    out = io.StringIO()
    argv = ["serverless", "rollout", "--dry-run", "--state-dir", str(tmp_path), "--canary", "10", "--for", "5m"]
    assert deploy.run(parse([*argv, "--alarm", "a", "--model-version", "v7"]), out) == 0
    lines = out.getvalue().splitlines()
    assert any(" plan -input=false -out=treeport.tfplan -var model_version=v7" in line for line in lines)
    assert lines[-1] == (
        "# then: 10% of the live alias to the version the apply publishes for 300 s, watching a; all of it once "
        "they stay quiet, back to the old version alone if one fires"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serverless", "rollout", "--canary", "0"], "0 < N < 100"),
        (["serverless", "rollout", "--for", "5 minutes"], "--for expects a duration"),
        (["eks", "rollout"], "rollout is the serverless target's canary"),
        (["sagemaker", "rollout"], "the endpoint's deployment_config shifts traffic"),
    ],
)
def test_bad_rollouts_are_user_errors(argv: list[str], message: str, tmp_path: Any) -> None:
    from treeport import deploy

    with pytest.raises(UserError) as exc:
        deploy.run(parse([*argv, "--dry-run", "--state-dir", str(tmp_path)]), io.StringIO())
    assert exc.value.exit_code == 2
    assert message in exc.value.message


def test_a_rollout_needs_alarms_to_watch() -> None:
    from treeport import deploy

    with pytest.raises(UserError, match="rollout watches CloudWatch alarms and none are named"):
        deploy.canary_alarms(parse(["serverless", "rollout"]), {})
    args = parse(["serverless", "rollout", "--alarm", "mine", "--alarm", "stack-5xx"])
    assert deploy.canary_alarms(args, {"rollback_alarm_names": ["stack-5xx", "stack-errors"]}) == [
        "mine",
        "stack-5xx",
        "stack-errors",
    ]


def test_an_alarm_that_does_not_exist_is_a_user_error(aws: dict[str, Any], function: str) -> None:
    alias = rollout.LambdaAlias(aws["lambda"], function)
    with pytest.raises(UserError, match="no CloudWatch alarm named 'no-such-alarm'"):
        rollout.rollout(alias, aws["cloudwatch"], ["no-such-alarm"], "2", 0.1, 1, io.StringIO())
    assert alias.state().version == "1"


def test_serverless_rollback_dry_run_says_the_alias_goes_first(tmp_path: Any) -> None:
    from treeport import deploy

    out = io.StringIO()
    assert deploy.run(parse(["serverless", "rollback", "--dry-run", "--state-dir", str(tmp_path)]), out) == 0
    assert out.getvalue().splitlines() == [
        "# first: the live alias back to the version it served before (Lambda UpdateAlias)",
        "# no earlier release recorded: the stack's variables stay as they are",
    ]
