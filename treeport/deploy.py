"""`treeport deploy TARGET ACTION`: drive a target's Terraform stack (terraform/stacks/TARGET) with python-terraform.

TARGET is serverless, sagemaker or eks; ACTION is init, plan, apply, destroy or output. The image and model
store URIs, region and name prefix become Terraform variables; `--endpoint-url` aims the AWS provider at a local
emulator (moto_server, LocalStack). `apply` and `destroy` show the plan first and go ahead only with
`--auto-approve` or a typed "yes". After `eks apply` the k8s/ overlay is rendered with the IRSA role ARN and the
image, and applied with `kubectl apply -k` (with `--dry-run`, printed instead).

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
ACTIONS = ("init", "plan", "apply", "destroy", "output")
PLAN_FILE = "treeport.tfplan"
# The variables of the last successful apply; Terraform itself loads *.auto.tfvars.json files, so a plain
# `terraform plan` in the same folder sees the same values, and a later run without --image-uri does not plan
# to remove what the image created.
VARS_FILE = "treeport.auto.tfvars.json"
K8S_RENDER_DIR = ".treeport-k8s"
# The base, not the example overlay: the example carries placeholder values (an ACM certificate) meant to be replaced.
DEFAULT_OVERLAY = Path("k8s") / "base"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
CONFIG_MAP = "treeport-config"  # the ConfigMap k8s/base generates for the TREEPORT_* settings
# What the flags set, as the stacks name them.
FLAG_VARIABLES = {
    "image_uri": "image_uri",
    "model_store": "model_store_uri",
    "region": "region",
    "name_prefix": "name_prefix",
    "endpoint_url": "aws_endpoint_url",
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
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run one deploy action; return the exit code. Raises UserError (exit 2) or TerraformFailed (exit 1)."""
    terraform_dir = find_terraform_dir(args.terraform_dir)
    stack = prepare_stack(terraform_dir, args.target, args.state_dir)
    variables = stack_variables(args, stack)
    if args.dry_run:
        return dry_run(args, stack, variables, terraform_dir, out)
    terraform = terraform_binary()
    if args.action == "init":
        init(stack, terraform, out)
    elif args.action == "plan":
        ensure_init(stack, terraform, out)
        plan(stack, terraform, variables, out)
    elif args.action in ("apply", "destroy"):
        ensure_init(stack, terraform, out)
        changed = plan(stack, terraform, variables, out, destroy=args.action == "destroy", save=True)
        try:
            if changed:
                confirm(args.action, args.auto_approve)
                apply_plan(stack, terraform, out)
        finally:
            (stack.workdir / PLAN_FILE).unlink(missing_ok=True)
        if args.action == "apply":
            remember_variables(stack, variables)
            outputs = terraform_outputs(stack, terraform)
            print_outputs(outputs, out, show_sensitive=False)
            if args.target == "eks":
                deploy_k8s(args, stack, outputs, variables, terraform_dir, out)
    else:
        ensure_init(stack, terraform, out)
        print_outputs(terraform_outputs(stack, terraform), out, show_sensitive=args.show_sensitive, as_json=True)
    return 0


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
        for path in source.glob("*.tf"):
            shutil.copy2(path, workdir / path.name)
    return Stack(target=target, source=source, workdir=workdir, variables=declared_variables(source))


def _not_configuration(directory: str, names: list[str]) -> list[str]:
    """Return the entries of a module folder that are not configuration (plugins, state, rendered files)."""
    skipped = (".terraform", ".terraform.lock.hcl", K8S_RENDER_DIR, PLAN_FILE, VARS_FILE)
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


def stack_variables(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Return the Terraform variables of this run: the last apply's, then the flags, then every --var."""
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
    return {**remembered_variables(stack), **given}


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


def _terraform(stack: Stack, binary: str) -> Any:
    from python_terraform import Terraform

    return Terraform(working_dir=str(stack.workdir), terraform_bin_path=binary)


def _streams(out: TextIO) -> bool:
    """Whether terraform's output goes straight to the terminal (long applies show progress) or is captured."""
    return out is sys.stdout


def _call(stack: Stack, binary: str, sink: TextIO, command: str, *args: str, **options: Any) -> int:
    """Run one terraform command in the stack; copy its output to `sink`; return its exit code (0/2 are fine)."""
    from python_terraform import IsFlagged

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
    from python_terraform import IsFlagged, IsNotFlagged

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

    from python_terraform import IsFlagged

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
    destroy = " -destroy" if action == "destroy" else ""
    approve = "" if auto_approve else "  # after you type yes"
    return [
        *lines,
        f"{chdir} plan -input=false{destroy} -out={PLAN_FILE} {var_flags}".rstrip(),
        f"{chdir} apply -input=false {PLAN_FILE}{approve}",
    ]


def dry_run(args: argparse.Namespace, stack: Stack, variables: dict[str, Any], terraform_dir: Path, out: TextIO) -> int:
    """Print what the action would run; for eks apply, also render the overlay and print the kubectl command."""
    print("# dry run: nothing is changed; these are the commands", file=out)
    for line in terraform_command_lines(stack, args.action, variables, args.auto_approve):
        print(line, file=out)
    if args.target == "eks" and args.action == "apply":
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


def render_overlay(
    overlay: Path,
    render_dir: Path,
    role_arn: str,
    image: str,
    model: dict[str, str],
    namespace: str,
) -> Path:
    """Write a kustomization over `overlay` with the IRSA role, image and ConfigMap values; return its folder."""
    import yaml

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
    text = f"""# Rendered by `treeport deploy eks apply` from the Terraform outputs; regenerated on every run.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
{f"namespace: {namespace}" if own_namespace else ""}
resources:
{listed}
# Merged into the base's generated ConfigMap: a new hash in its name, so a changed model rolls the pods.
configMapGenerator:
  - name: {CONFIG_MAP}
    behavior: merge
    literals:
{literals}
patches:
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
"""
    (render_dir / "kustomization.yaml").write_text(text, encoding="utf-8")
    return render_dir


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
    """Render the overlay with the stack's outputs and `kubectl apply -k` it (print the command with --dry-run)."""
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
    )
    kubeconfig = render_dir / "kubeconfig"
    if values.get("cluster_endpoint"):
        write_kubeconfig(
            kubeconfig,
            str(values["cluster_name"]),
            str(values["cluster_endpoint"]),
            str(values.get("cluster_certificate_authority_data", "")),
            region,
        )
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-k", str(render_dir)]
    line = " ".join(shlex.quote(part) for part in command)
    print(f"# overlay rendered at {render_dir}", file=out)
    if args.dry_run:
        print(line, file=out)
        return
    if shutil.which("kubectl") is None:
        raise UserError(f"kubectl not found on PATH: the cluster is up; deploy Treeport to it with: {line}")
    import subprocess

    print(line, file=out)
    out.flush()
    result = subprocess.run(command, check=False, capture_output=not _streams(out), text=True)
    if not _streams(out):
        out.write(result.stdout or "")
    if result.returncode != 0:
        raise TerraformFailed(
            f"kubectl apply failed with exit code {result.returncode}: {(result.stderr or '').strip()}"
        )


if __name__ == "__main__":
    sys.exit(main())
