"""`Metrics` in one process: the model-info gauge names only the model being served."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from api.metrics import Metrics


def model_info(metrics: Metrics) -> list[tuple[dict[str, str], float]]:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return [(s.labels, s.value) for f in families if f.name == "treeport_model_info" for s in f.samples]


def test_set_model_replaces_the_previous_model() -> None:
    metrics = Metrics()
    metrics.set_model("credit-risk", "v1", "daal4py")
    metrics.set_model("credit-risk", "v1", "daal4py")
    assert model_info(metrics) == [({"name": "credit-risk", "version": "v1", "backend": "daal4py"}, 1.0)]
    metrics.set_model("credit-risk", "v2", "daal4py")
    assert model_info(metrics) == [({"name": "credit-risk", "version": "v2", "backend": "daal4py"}, 1.0)]
