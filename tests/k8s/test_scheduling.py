"""Scheduling arithmetic: the pod's requests fit every node the Treeport NodePool (EKS Auto Mode) may launch, and the
HPA fits under the NodePool's CPU limit.

No API server runs here, so the scheduler's sum is done by hand with EKS's own numbers: a node's allocatable is its
capacity less kube-reserved (CPU: 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of the rest;
memory: 255 MiB + 11 MiB per pod the node may run) and the 100 MiB hard-eviction threshold. Auto Mode hands out /28
prefixes, so the pod count is `ENIs * (IPs per ENI - 1) * 16 + 2`, capped at the 110 EKS allows. Auto Mode runs the
CNI, kube-proxy and CoreDNS on the node itself, so the DaemonSets that come off the allocatable are the CloudWatch
Observability add-on's (its Helm chart's requests: cloudwatch-agent 250m/128Mi, fluent-bit 50m/25Mi, node-exporter
50m/30Mi; aws-observability/helm-charts values.yaml at 71a298f). Capacity memory is taken as 95% of the nominal GiB
(the kernel keeps some; m7i.large reports about 7.6 of 8 GiB).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULE_VARIABLES = ROOT / "terraform" / "modules" / "eks" / "variables.tf"
STACK_VARIABLES = ROOT / "terraform" / "stacks" / "eks" / "variables.tf"

# vCPUs, and (ENIs, IPv4 addresses per ENI), by size; the same for m7i, m7i-flex, c7i, c7i-flex and r7i.
SIZES = {
    "large": (2, (3, 10)),
    "xlarge": (4, (4, 15)),
    "2xlarge": (8, (4, 15)),
    "4xlarge": (16, (8, 30)),
    "8xlarge": (32, (8, 30)),
    "12xlarge": (48, (8, 30)),
    "16xlarge": (64, (15, 50)),
    "24xlarge": (96, (15, 50)),
    "48xlarge": (192, (15, 50)),
}
GIB_PER_VCPU = {"m7i": 4, "m7i-flex": 4, "c7i": 2, "c7i-flex": 2, "r7i": 8}
DAEMONSET_CPU_M = 250 + 50 + 50  # cloudwatch-agent, fluent-bit, node-exporter
DAEMONSET_MEMORY_MIB = 128 + 25 + 30
EVICTION_MIB = 100
MAX_PODS = 110


def cpu_millis(value: str | int | float) -> int:
    """Return a Kubernetes CPU quantity in millicores."""
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def memory_mib(value: str) -> float:
    """Return a Kubernetes memory quantity in MiB."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value) / (1024 * 1024)


def reserved_cpu_millis(vcpus: int) -> float:
    """EKS's kube-reserved CPU for a node of `vcpus`."""
    shares = [0.06, 0.01, 0.005, 0.005] + [0.0025] * max(0, vcpus - 4)
    return 1000 * sum(shares[:vcpus])


def allocatable(instance_type: str) -> tuple[float, float, int]:
    """Return (CPU millicores, memory MiB, pods) a pod of ours may use on an empty node of `instance_type`."""
    family, size = instance_type.split(".")
    vcpus, (enis, ips) = SIZES[size]
    max_pods = min(MAX_PODS, enis * (ips - 1) * 16 + 2)
    cpu = vcpus * 1000 - reserved_cpu_millis(vcpus) - DAEMONSET_CPU_M
    memory = 0.95 * vcpus * GIB_PER_VCPU[family] * 1024 - (255 + 11 * max_pods) - EVICTION_MIB - DAEMONSET_MEMORY_MIB
    return cpu, memory, max_pods


def terraform_default(path: Path, variable: str) -> str:
    """Return the text of a variable's `default` in a variables.tf."""
    block = re.search(rf'variable "{variable}" \{{(.*?)\n\}}', path.read_text(), re.S)
    assert block, f"{variable} not in {path}"
    default = re.search(r"^\s*default\s*=\s*(.+)$", block.group(1), re.M)
    assert default, f"{variable} has no default in {path}"
    return default.group(1).strip()


def allowed_families() -> list[str]:
    """Every instance family the EKS module's node_instance_families validation accepts."""
    block = re.search(r'variable "node_instance_families" \{(.*?)\n\}', MODULE_VARIABLES.read_text(), re.S)
    assert block, "node_instance_families is not in the module's variables.tf"
    match = re.search(r"contains\(\[([^\]]+)\], f\)", block.group(1))
    assert match, "the node_instance_families validation list was not found"
    return re.findall(r'"([a-z0-9-]+)"', match.group(1))


def allowed_instance_types() -> list[str]:
    """Every instance type the Treeport NodePool may launch: each allowed family in each size."""
    return [f"{family}.{size}" for family in allowed_families() for size in SIZES]


def pod_requests() -> tuple[int, float]:
    """Return the treeport container's (CPU millicores, memory MiB) requests from k8s/base/deployment.yaml."""
    deployment = yaml.safe_load((ROOT / "k8s" / "base" / "deployment.yaml").read_text())
    containers = deployment["spec"]["template"]["spec"]["containers"]
    cpu = sum(cpu_millis(c["resources"]["requests"]["cpu"]) for c in containers)
    memory = sum(memory_mib(c["resources"]["requests"]["memory"]) for c in containers)
    return cpu, memory


def pods_per_node(instance_type: str) -> int:
    """How many of our pods fit on one empty node of `instance_type`."""
    cpu, memory = pod_requests()
    node_cpu, node_memory, max_pods = allocatable(instance_type)
    return min(math.floor(node_cpu / cpu), math.floor(node_memory / memory), max_pods - 2)


def test_the_reservation_formula_gives_eks_numbers() -> None:
    # m7i.large: 2 vCPUs, 70m reserved (1930m allocatable before DaemonSets); prefix delegation reaches the cap of 110.
    assert reserved_cpu_millis(2) == pytest.approx(70)
    assert allocatable("m7i.large")[2] == 110
    assert allocatable("m7i.large")[0] == pytest.approx(2000 - 70 - DAEMONSET_CPU_M)
    assert set(allowed_families()) == {"c7i", "c7i-flex", "m7i", "m7i-flex", "r7i"}


@pytest.mark.parametrize("instance_type", allowed_instance_types())
def test_the_pod_fits_every_allowed_instance_type(instance_type: str) -> None:
    assert pods_per_node(instance_type) >= 1, (
        f"{pod_requests()} does not fit {instance_type}: {allocatable(instance_type)}"
    )


@pytest.mark.parametrize("variables", [MODULE_VARIABLES, STACK_VARIABLES], ids=["module", "stack"])
def test_the_hpa_fits_under_the_node_pools_cpu_limit(variables: Path) -> None:
    families = re.findall(r'"([a-z0-9-]+)"', terraform_default(variables, "node_instance_families"))
    assert families and set(families) <= set(allowed_families())
    cpu_limit = int(terraform_default(variables, "node_pool_cpu_limit"))
    hpa = yaml.safe_load((ROOT / "k8s" / "base" / "hpa.yaml").read_text())
    max_replicas = hpa["spec"]["maxReplicas"]
    # The worst case for the limit: Auto Mode launches the smallest size (large, 2 vCPUs) for every pod.
    smallest = [f"{family}.large" for family in families]
    nodes = cpu_limit // SIZES["large"][0]
    capacity = nodes * min(pods_per_node(t) for t in smallest)
    assert max_replicas <= capacity, f"maxReplicas {max_replicas} > {nodes} large nodes x pods per node = {capacity}"
    assert hpa["spec"]["minReplicas"] <= max_replicas
