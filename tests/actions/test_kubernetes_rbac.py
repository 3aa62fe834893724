"""docs/rbac.md lists exactly the permissions the collectors and executors use:
run every one of them against kmock and turn the requests it saw into
(API group, resource, verb)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from fixtures.kube import (
    KubeCluster,
    configmap,
    deployment,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
    seed_disk_pressure,
    service,
    workload,
)

from responder.actions.helm import HelmExecutor
from responder.actions.kubernetes import KubernetesExecutor
from responder.evidence.helm import HelmDriftCollector
from responder.evidence.node_collectors import DiskPressureCollector, NodeReadinessCollector
from responder.evidence.scope_targets import ScopeTargetCollector
from responder.evidence.workload_collectors import ImagePullCollector, JobBacklogCollector
from responder.kube import Kube
from responder.records.action import ActionRequest
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target

RBAC_DOC = Path(__file__).resolve().parents[2] / "docs" / "rbac.md"
Permission = tuple[str, str, str]


def documented() -> set[Permission]:
    found = set()
    for line in RBAC_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r'(""|apps|batch|policy)', cells[0]):
            continue
        group = "" if cells[0] == '""' else cells[0]
        found |= {
            (group, resource, verb)
            for resource in re.split(r",\s*", cells[1])
            for verb in re.split(r",\s*", cells[2])
        }
    return found


def permission(method: str, path: str) -> Permission:
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource, named = rest[0], len(rest) > 1
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    verb = {
        "GET": "get" if named else "list",
        "PATCH": "patch",
        "DELETE": "delete",
        "POST": "create",
    }[method]
    return group, resource, verb


def incident(incident_type: str, kind: str, name: str, namespace: str | None = None) -> Incident:
    return Incident(
        id="inc-rbac",
        incident_type=incident_type,
        domain=None,
        display_name=incident_type,
        severity=Severity.warning,
        confidence=Confidence.low,
        environment=Environment.demo,
        correlation_key=incident_type,
        resource_scope=ResourceScope(kind=kind, namespace=namespace, name=name),
    )


def act(action: str, target: str, **params: object) -> ActionRequest:
    return ActionRequest(action, Target.parse(target), "inc-rbac", dict(params))


def test_the_documented_permissions_are_exactly_the_ones_used(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)
    desired = deployment("api", "image-factory", pull_secrets=["regcred"])
    kube_cluster.add(
        configmap("backend", "image-factory", {"A": "1"}),
        workload("StatefulSet", "redis", "runtime"),
        service("redis", "runtime"),
        workload("DaemonSet", "fluent-bit", "logging"),
        deployment(
            "api",
            "image-factory",
            pull_secrets=["regcred"],
            annotations={"meta.helm.sh/release-name": "image-factory"},
        ),
        helm_release_secret("image-factory", "image-factory", 1, status="superseded"),
        helm_release_secret("image-factory", "image-factory", 2, manifest=yaml.safe_dump(desired)),
        pod(
            "api-5d9c7b8f6-abcde",
            "image-factory",
            owner=("ReplicaSet", "api-5d9c7b8f6"),
            waiting=("ErrImagePull", "401 Unauthorized"),
            pull_secrets=["regcred"],
        ),
    )
    for collector, scope in (
        (DiskPressureCollector(kube), incident("node_disk_pressure", "node", "worker-1")),
        (NodeReadinessCollector(kube), incident("node_unreachable_or_notready", "node", "x")),
        (
            ImagePullCollector(kube),
            incident("registry_pull_failure", "deployment", "api", "image-factory"),
        ),
        (JobBacklogCollector(kube), incident("background_job_buildup", "cluster", "cluster")),
        (
            HelmDriftCollector(kube),
            incident("release_drift_or_partial_apply", "deployment", "api", "image-factory"),
        ),
        (
            ScopeTargetCollector(kube),
            incident("runtime_dependency_outage", "service", "redis", "runtime"),
        ),
    ):
        evidence = collector.collect(scope)
        assert "collector_error" not in {s.name for s in evidence.signals}, evidence
    executor = KubernetesExecutor(kube)
    for request in (
        act("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup"),
        act("scale_to_zero", "deployment/headlamp/headlamp"),
        act("scale_to_zero", "statefulset/runtime/redis"),
        act("rollout_restart", "deployment/headlamp/headlamp"),
        act("rollout_restart", "statefulset/runtime/redis"),
        act("rollout_restart", "daemonset/logging/fluent-bit"),
        act("patch_config", "configmap/image-factory/backend", key="A", value="2"),
        act("cordon_node", "node/worker-2"),
        act("drain_node", "node/worker-1"),
        act("delete_completed_pods", "cluster/cluster"),
    ):
        assert executor.apply(executor.plan(request)).result == "succeeded", request
    release = Target(kind="helmrelease", namespace="image-factory", name="image-factory")
    HelmExecutor(kube, None).plan(ActionRequest("rollback_release", release, "inc-rbac"))

    used = {permission(r.method, r.path) for r in kube_cluster.requests()}

    assert used == documented()
