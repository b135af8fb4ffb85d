"""The eks module's CloudWatch agent scrape and drift alarm agree with what the pods expose: the metric it keeps and
alarms on is one the app's drift collector yields, and the pods it selects (label, annotations, port) are the ones
k8s/base runs. Read from the files themselves; no terraform or cluster needed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from api.monitoring import DriftCollector

ROOT = Path(__file__).resolve().parents[2]
MAIN_TF = (ROOT / "terraform" / "modules" / "eks" / "main.tf").read_text(encoding="utf-8")


def deployment() -> dict:
    """Return k8s/base's Deployment."""
    return yaml.safe_load((ROOT / "k8s" / "base" / "deployment.yaml").read_text(encoding="utf-8"))


def app_metric_names() -> set[str]:
    """The metric families the app's drift collector yields (with no counts yet: the names are the same)."""
    return {family.name for family in DriftCollector(lambda: [], 0.2).collect()}


def test_the_alarmed_and_kept_metric_is_one_the_app_exposes() -> None:
    drift_alarm = re.search(r"drift-psi = \{(.*?)\n    \}", MAIN_TF, re.S)
    assert drift_alarm, "the drift-psi alarm is not in the eks module"
    alarmed = re.search(r'metric = "([a-z_]+)"', drift_alarm.group(1))
    kept = re.findall(r'metric_selectors = \["\^([a-z_]+)\$"\]', MAIN_TF)
    assert alarmed and kept == [alarmed.group(1)]
    assert alarmed.group(1) in app_metric_names()


def test_the_scrape_selects_the_pods_k8s_base_runs() -> None:
    workload = re.search(r'^\s*workload = "([a-z-]+)"', MAIN_TF, re.M)
    assert workload
    template = deployment()["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == workload.group(1)
    # The relabelling keeps pods by this label and the scrape annotation, and of each pod its port named metrics.
    assert '"__meta_kubernetes_pod_label_app_kubernetes_io_name"], action = "keep", regex = local.workload' in MAIN_TF
    assert '"__meta_kubernetes_pod_annotation_prometheus_io_scrape"], action = "keep", regex = "true"' in MAIN_TF
    assert '"__meta_kubernetes_pod_container_port_name"], action = "keep", regex = "metrics"' in MAIN_TF
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    container = template["spec"]["containers"][0]
    metrics_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    assert int(annotations["prometheus.io/port"]) == metrics_port
    bind = next(e["value"] for e in container["env"] if e["name"] == "TREEPORT_METRICS_BIND")
    assert bind.endswith(f":{metrics_port}")
    assert annotations["prometheus.io/path"] == "/metrics"
