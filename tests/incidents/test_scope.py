"""Resource scope from alert labels: what makes two alerts the same problem."""

from __future__ import annotations

import pytest

from responder.incidents.scope import resource_scope
from responder.records.incident import ResourceScope
from responder.taxonomy.models import ScopeKind


def test_node_scope_comes_from_the_node_label() -> None:
    scope = resource_scope({"node": "10.0.10.201", "instance": "10.9.9.9:8080"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="10.0.10.201")


def test_node_scope_comes_from_nodename() -> None:
    scope = resource_scope({"nodename": "worker-2", "instance": "10.0.10.202:9100"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="worker-2")


def test_node_scope_drops_the_port_of_instance() -> None:
    scope = resource_scope({"instance": "10.0.10.202:9100"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="10.0.10.202")


def test_node_scope_keeps_an_instance_without_port() -> None:
    scope = resource_scope({"instance": "worker-3"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="worker-3")


def test_node_scope_of_bare_ipv6_instance_is_the_address() -> None:
    scope = resource_scope({"instance": "fd00:10::202"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="fd00:10::202")


def test_node_scope_of_bracketed_ipv6_instance_drops_the_port() -> None:
    scope = resource_scope({"instance": "[fd00:10::202]:9100"}, ScopeKind.node)
    assert scope == ResourceScope(kind="node", name="fd00:10::202")


def test_same_node_by_node_label_and_by_instance_has_one_key() -> None:
    by_node = resource_scope({"node": "10.0.10.202"}, ScopeKind.node)
    by_instance = resource_scope({"instance": "10.0.10.202:9100"}, ScopeKind.node)
    assert by_node.key == by_instance.key


def test_node_scope_without_node_labels_falls_back_to_the_cluster() -> None:
    scope = resource_scope({"alertname": "X", "cluster": "oke-demo"}, ScopeKind.node)
    assert scope == ResourceScope(kind="cluster", name="oke-demo")


@pytest.mark.parametrize(
    ("pod", "kind", "name"),
    [
        ("backend-7c9f8d6b5-x2k4q", "deployment", "backend"),
        ("image-factory-api-5d9c7b8f6-abcde", "deployment", "image-factory-api"),
        ("redis-0", "statefulset", "redis"),
        ("minio-12", "statefulset", "minio"),
        ("standalone", "pod", "standalone"),
    ],
)
def test_pod_name_collapses_to_its_owner(pod: str, kind: str, name: str) -> None:
    scope = resource_scope({"namespace": "image-factory", "pod": pod}, ScopeKind.workload)
    assert scope == ResourceScope(kind=kind, namespace="image-factory", name=name)


def test_two_replicas_of_one_deployment_share_a_scope() -> None:
    first = resource_scope({"namespace": "ns", "pod": "web-5d9c7b8f6-abcde"}, ScopeKind.workload)
    second = resource_scope({"namespace": "ns", "pod": "web-5d9c7b8f6-fghij"}, ScopeKind.workload)
    assert first.key == second.key


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("deployment", "deployment"),
        ("statefulset", "statefulset"),
        ("daemonset", "daemonset"),
        ("cronjob", "cronjob"),
        ("job_name", "job"),
    ],
)
def test_workload_label_names_the_scope(label: str, kind: str) -> None:
    labels = {"namespace": "tekton-pipelines", label: "controller", "pod": "other-0"}
    scope = resource_scope(labels, ScopeKind.workload)
    assert scope == ResourceScope(kind=kind, namespace="tekton-pipelines", name="controller")


def test_exported_namespace_is_used_when_namespace_is_absent() -> None:
    scope = resource_scope({"exported_namespace": "apps", "deployment": "web"}, ScopeKind.workload)
    assert scope == ResourceScope(kind="deployment", namespace="apps", name="web")


def test_workload_scope_without_workload_labels_falls_back_to_the_cluster() -> None:
    scope = resource_scope({"alertname": "X"}, ScopeKind.workload)
    assert scope == ResourceScope(kind="cluster", name="cluster")


def test_service_scope_prefers_the_ingress() -> None:
    labels = {"namespace": "web", "ingress": "frontend", "service": "frontend-svc"}
    scope = resource_scope(labels, ScopeKind.service)
    assert scope == ResourceScope(kind="ingress", namespace="web", name="frontend")


def test_cluster_scope_ignores_resource_labels() -> None:
    labels = {"node": "n1", "pod": "web-0", "cluster": "oke-staging"}
    assert resource_scope(labels, ScopeKind.cluster) == ResourceScope(
        kind="cluster", name="oke-staging"
    )


def test_unclassified_alert_uses_the_most_specific_scope() -> None:
    assert resource_scope({"node": "n1"}, None) == ResourceScope(kind="node", name="n1")
    assert resource_scope({"namespace": "ns", "pod": "db-0"}, None) == ResourceScope(
        kind="statefulset", namespace="ns", name="db"
    )
    assert resource_scope({}, None) == ResourceScope(kind="cluster", name="cluster")


def test_pod_of_a_cronjob_job_collapses_to_the_cronjob() -> None:
    scope = resource_scope({"namespace": "ops", "pod": "backup-28373940-x7k2p"}, None)
    assert (scope.kind, scope.namespace, scope.name) == ("cronjob", "ops", "backup")


@pytest.mark.parametrize("label", ["persistentvolumeclaim", "horizontalpodautoscaler"])
def test_the_object_a_kube_state_metrics_alert_names_is_its_scope(label: str) -> None:
    labels = {
        "namespace": "shop",
        label: "cart",
        "job": "kube-state-metrics",
        "service": "kube-prometheus-stack-kube-state-metrics",
    }
    assert resource_scope(labels, None) == ResourceScope(kind=label, namespace="shop", name="cart")
    other = resource_scope({**labels, label: "orders"}, None)
    assert other.key != resource_scope(labels, None).key
