"""Canary rollouts of a Lambda function through its `live` alias, watched by CloudWatch alarms, and rollback.

The serverless stack publishes a new function version on every change (image, model version, settings); the alias
API Gateway invokes stays on the version it serves until this module moves it:

    rollout  alias -> old version, N% of invocations to the new one (weighted routing); watch the alarms for M;
             an alarm in ALARM state -> the alias goes back to the old version alone and the rollout fails;
             no alarm -> the alias goes to the new version alone.
    rollback alias -> the version it served before the last rollout, at once.

The version the alias served before is kept in the alias's own description, so a rollback needs nothing but the
function: `previous=<version>`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from model.errors import TreeportError, UserError

ALIAS = "live"
DESCRIPTION = "The version API Gateway invokes (moved by treeport deploy serverless rollout/rollback)"
_PREVIOUS = re.compile(r"previous=([0-9]+)")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h)$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
# CloudWatch evaluates most alarms once a minute; a poll every 10 s catches a firing within seconds of it.
POLL_SECONDS = 10.0


class RolledBack(TreeportError):
    """An alarm fired during the canary and the alias was moved back to the old version."""

    code = "rolled_back"
    exit_code = 1


def parse_duration(text: str) -> float:
    """Return seconds of a duration such as 30s, 5m or 1h; raise UserError on anything else."""
    match = _DURATION.match(text.strip())
    if not match:
        raise UserError(f"--for expects a duration such as 30s, 5m or 1h, got {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def check_canary(percent: float) -> float:
    """Return the canary's share of invocations (0-1) for a percentage; raise UserError outside 0 < p < 100."""
    if not 0 < percent < 100:
        raise UserError(
            f"--canary is the percentage of invocations the new version gets first: 0 < N < 100, got {percent:g}"
        )
    return percent / 100


@dataclass(frozen=True)
class AliasState:
    """Where the alias points: its version, the weighted second version if any, and the version it served before."""

    version: str
    canary: dict[str, float]
    previous: str | None


class LambdaAlias:
    """The `live` alias of one function, read and moved through the Lambda API (a boto3 client)."""

    def __init__(self, client: Any, function_name: str, name: str = ALIAS) -> None:
        self.client = client
        self.function_name = function_name
        self.name = name

    def state(self) -> AliasState:
        """Return where the alias points now."""
        alias = self.client.get_alias(FunctionName=self.function_name, Name=self.name)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        found = _PREVIOUS.search(alias.get("Description") or "")
        return AliasState(
            version=str(alias["FunctionVersion"]),
            canary={str(k): float(v) for k, v in weights.items()},
            previous=found.group(1) if found else None,
        )

    def newest_version(self) -> str:
        """Return the newest published version of the function (not $LATEST)."""
        versions: list[int] = []
        pages = self.client.get_paginator("list_versions_by_function").paginate(FunctionName=self.function_name)
        for page in pages:
            versions.extend(int(v["Version"]) for v in page["Versions"] if v["Version"] != "$LATEST")
        if not versions:
            raise UserError(f"function {self.function_name} has no published version to roll out")
        return str(max(versions))

    def route(self, version: str, canary: str | None = None, weight: float = 0.0, previous: str | None = None) -> None:
        """Point the alias at `version`, with `weight` of invocations to `canary` if given; remember `previous`."""
        description = DESCRIPTION + (f"; previous={previous}" if previous else "")
        self.client.update_alias(
            FunctionName=self.function_name,
            Name=self.name,
            FunctionVersion=version,
            Description=description,
            RoutingConfig={"AdditionalVersionWeights": {canary: weight} if canary else {}},
        )


def firing_alarm(cloudwatch: Any, names: Sequence[str]) -> str | None:
    """Return the name of the first of these alarms in ALARM state, or None."""
    if not names:
        return None
    # The state is checked here rather than with DescribeAlarms' StateValue filter, which some emulators ignore
    # when AlarmNames is given. Alarms are read in batches of 100, the API's most.
    found: list[dict[str, Any]] = []
    for start in range(0, len(names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=list(names[start : start + 100]), MaxRecords=100)
        found += answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
    missing = sorted(set(names) - {a["AlarmName"] for a in found})
    if missing:
        raise UserError(f"no CloudWatch alarm named {missing[0]!r} to watch: check --alarm or the stack's alarms")
    firing = [a["AlarmName"] for a in found if a.get("StateValue") == "ALARM"]
    return firing[0] if firing else None


def watch(
    cloudwatch: Any,
    alarms: Sequence[str],
    seconds: float,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Poll the alarms for `seconds`; return the first one found in ALARM state, or None once the time is up."""
    deadline = clock() + seconds
    while True:
        fired = firing_alarm(cloudwatch, alarms)
        if fired is not None:
            return fired
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(poll_seconds, left))


def rollout(
    alias: LambdaAlias,
    cloudwatch: Any,
    alarms: Sequence[str],
    new_version: str,
    canary_share: float,
    seconds: float,
    out: TextIO,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Shift the alias to `new_version` through a canary watched by `alarms`; raise RolledBack if one fires."""
    current = alias.state()
    if current.canary:
        raise UserError(
            f"alias {alias.name} is already splitting traffic ({current.canary}); finish that rollout or run rollback"
        )
    old = current.version
    if old == new_version:
        print(
            f"# {alias.function_name}:{alias.name} already serves version {new_version}: nothing to roll out", file=out
        )
        return
    fired = firing_alarm(cloudwatch, alarms)
    if fired is not None:
        raise UserError(f"alarm {fired} is already in ALARM state: fix what it reports before rolling out")
    print(
        f"# canary: {canary_share:.0%} of {alias.function_name}:{alias.name} to version {new_version}, the rest to "
        f"{old}, for {seconds:g} s, watching {len(alarms)} alarm(s)",
        file=out,
    )
    alias.route(old, canary=new_version, weight=canary_share, previous=current.previous)
    out.flush()
    fired = watch(cloudwatch, alarms, seconds, poll_seconds=poll_seconds, sleep=sleep)
    if fired is not None:
        alias.route(old, previous=current.previous)
        raise RolledBack(
            f"alarm {fired} fired during the canary: {alias.function_name}:{alias.name} is back on version {old} "
            f"alone (version {new_version} gets nothing)"
        )
    alias.route(new_version, previous=old)
    print(f"# {alias.function_name}:{alias.name} serves version {new_version} (previous: {old})", file=out)


def rollback(alias: LambdaAlias, out: TextIO) -> str:
    """Point the alias back at the version it served before the last rollout (or end a canary); return it."""
    current = alias.state()
    if current.canary:
        alias.route(current.version, previous=current.previous)
        print(f"# canary ended: {alias.function_name}:{alias.name} serves version {current.version} alone", file=out)
        return current.version
    if current.previous is None:
        raise UserError(
            f"nothing to roll back to: {alias.function_name}:{alias.name} records no previous version "
            "(it is set by a rollout)"
        )
    alias.route(current.previous)
    print(
        f"# rolled back: {alias.function_name}:{alias.name} serves version {current.previous} (was {current.version})",
        file=out,
    )
    return current.previous
