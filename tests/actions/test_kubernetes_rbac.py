"""docs/rbac.md lists exactly the permissions the collectors and executors use:
run every one of them against kmock and turn the requests it saw into
(API group, resource, verb). Discovery documents (``/api``, ``/apis``,
``/version``, ``/openapi``) are left out: every authenticated user may read
them (the cluster's ``system:discovery`` role)."""

from __future__ import annotations

import re
from pathlib import Path

import fixtures.ingress as seen_by_collector
import pytest
import yaml
from fixtures.helm_releases import NAMESPACE, RELEASE, install, write_chart
from fixtures.kube import (
    KubeCluster,
    ago,
    configmap,
    cronjob,
    deployment,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
    replica_set,
    secret,
    seed_disk_pressure,
    service,
    service_account,
    workload,
)
from fixtures.manifests import certificate, ingress, ingress_class, job
from fixtures.tls import tls_secret

from responder.actions.configs import ConfigRemedyExecutor
from responder.actions.controllers import ControllerExecutor
from responder.actions.executor import Executor
from responder.actions.helm import HelmExecutor
from responder.actions.jobs import BulkCleanupExecutor, RecoveryJobExecutor
from responder.actions.kubernetes import KubernetesExecutor
from responder.actions.networking import IngressExecutor
from responder.actions.workloads import WorkloadExecutor
from responder.evidence.helm import HelmDriftCollector
from responder.evidence.ingress import IngressCollector
from responder.evidence.node_collectors import DiskPressureCollector, NodeReadinessCollector
from responder.evidence.scope_targets import ScopeTargetCollector
from responder.evidence.workload_collectors import ImagePullCollector, JobBacklogCollector
from responder.kube import Kube
from responder.records.action import ActionRequest
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target
from responder.remedies import DatabaseTarget, LdapFallback, RecoveryJob, Subsystem

DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"
RBAC_DOC = Path(__file__).resolve().parents[2] / "docs" / "rbac.md"
Permission = tuple[str, str, str]


def documented() -> set[Permission]:
    found = set()
    for line in RBAC_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(
            r'(""|apps|batch|policy|networking\.k8s\.io|cert-manager\.io)', cells[0]
        ):
            continue
        group = "" if cells[0] == '""' else cells[0]
        found |= {
            (group, resource, verb)
            for resource in re.split(r",\s*", cells[1])
            for verb in re.split(r",\s*", cells[2])
        }
    return found


def is_discovery(path: str) -> bool:
    parts = path.strip("/").split("/")
    return parts[0] not in ("api", "apis") or len(parts) <= (2 if parts[0] == "api" else 3)


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
        "PUT": "update",
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
    kube_cluster: KubeCluster, kube: Kube, tmp_path: Path
) -> None:
    # a release Helm itself installed, for the Helm executor to roll back
    install(kube_cluster, write_chart(tmp_path), [{"replicas": 1}, {"replicas": 2}])
    installed = len(kube_cluster.requests())
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
        seen_by_collector.ingress_class("nginx"),
        service("web", "shop"),
        seen_by_collector.ingress("web", "shop", tls_secret="web-tls"),
        seen_by_collector.tls_secret(
            "web-tls", "shop", ["shop.example.com"], ago(days=90), ago(days=1)
        ),
    )
    for collector, scope in (
        (DiskPressureCollector(kube), incident("node_disk_pressure", "node", "worker-1")),
        (NodeReadinessCollector(kube), incident("node_unreachable_or_notready", "node", "x")),
        (
            ImagePullCollector(kube),
            incident("registry_pull_failure", "deployment", "api", "image-factory"),
        ),
        (
            JobBacklogCollector(kube, shared_controllers=["deployment/headlamp/headlamp"]),
            incident("background_job_buildup", "cluster", "cluster"),
        ),
        (
            HelmDriftCollector(kube),
            incident("release_drift_or_partial_apply", "deployment", "api", "image-factory"),
        ),
        (IngressCollector(kube), incident("ingress_configuration_drift", "ingress", "web", "shop")),
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
    run_workload_and_controller_executors(kube_cluster, kube, desired)
    for remedy, request in remedy_requests(kube_cluster, kube):
        assert remedy.apply(remedy.plan(request)).result == "succeeded", request
    helm = HelmExecutor(kube, str(kube_cluster.kubeconfig))
    rollback = act("rollback_release", f"helmrelease/{NAMESPACE}/{RELEASE}")
    assert helm.apply(helm.plan(rollback)).result == "succeeded"

    used = {
        permission(r.method, r.path)
        for r in kube_cluster.requests()[installed:]
        if not is_discovery(r.path)
    }

    assert used == documented()


def run_workload_and_controller_executors(
    kube_cluster: KubeCluster, kube: Kube, api: dict[str, object]
) -> None:
    kube_cluster.add(
        replica_set(api, "api-5d9c7b8f5", revision=1, image="registry.example/app:0.9", ready=1),
        service_account("builder", "image-factory"),
        secret("regcred", "image-factory", {".dockerconfigjson": b"{}"}, type_=DOCKER_CONFIG),
    )
    workloads = WorkloadExecutor(kube)
    subsystem = Subsystem(configmap="image-factory/backend", key="SCAN", off_value="off")
    controllers = ControllerExecutor(kube, ["deployment/headlamp/headlamp"], {"scan": subsystem})
    for executor, request in (
        (workloads, act("patch_image_ref", "deployment/image-factory/api")),
        (
            workloads,
            act("patch_pull_secret", "serviceaccount/image-factory/builder", secret="regcred"),
        ),
        (
            workloads,
            act("patch_pull_secret", "deployment/image-factory/api", secret="regcred", remove=True),
        ),
        (
            workloads,
            act(
                "force_field_ownership",
                "configmap/image-factory/backend",
                fields={"data": {"B": "1"}},
            ),
        ),
        (controllers, act("scale_dependency", "statefulset/runtime/redis", replicas=2)),
        (controllers, act("scale_shared_controller", "deployment/headlamp/headlamp", replicas=2)),
        (
            controllers,
            act("disable_subsystem", "configmap/image-factory/backend", subsystem="scan"),
        ),
    ):
        assert executor.apply(executor.plan(request)).result == "succeeded", request
    # a StatefulSet's history is its ControllerRevisions (none here: refused after reading)
    with pytest.raises(ValueError, match="no earlier revision"):
        workloads.plan(act("patch_image_ref", "statefulset/runtime/redis"))
    with pytest.raises(ValueError, match="does not exist"):
        workloads.plan(act("patch_pull_secret", "deployment/image-factory/api", secret="gone"))


def remedy_requests(kube_cluster: KubeCluster, kube: Kube) -> list[tuple[Executor, ActionRequest]]:
    """The Ingress, ConfigMap remedy and Job executors, each with a request
    that succeeds in the cluster seeded here."""
    kube_cluster.add(
        ingress(
            "web",
            "shop",
            class_name="gone",
            routes=(("shop.example.test", "/", "old", 80),),
            tls=((("shop.example.test",), "old-tls"),),
        ),
        ingress("admin", "shop", class_name="gone"),
        ingress_class("nginx"),
        service("storefront", "shop"),
        tls_secret("web-tls", "shop", ["shop.example.test"]),
        certificate("web", "shop", secret_name="web-tls", dns_names=["shop.example.test"]),
        configmap("glauth-config", "auth", {"LDAP_URL": "ldaps://ldap:636"}),
        configmap("db", "image-factory", {"DATABASE_URL": "postgres://primary/app"}),
        cronjob("db-migrate", "image-factory"),
        job("scan-old", "image-factory", at=ago(days=1)),
    )
    ingresses = IngressExecutor(kube)
    configs = ConfigRemedyExecutor(
        kube,
        LdapFallback(configmap="auth/glauth-config", key="LDAP_URL", fallback="ldaps://standby"),
        DatabaseTarget(
            configmap="image-factory/db",
            key="DATABASE_URL",
            primary="postgres://primary/app",
            standby="postgres://standby/app",
        ),
    )
    recovery = RecoveryJobExecutor(
        kube, [RecoveryJob(namespace="image-factory", cronjob="db-migrate")]
    )
    backend = {"service": "storefront", "port": 80}
    return [
        (ingresses, act("patch_ingress", "ingress/shop/web", ingress_class="nginx")),
        (ingresses, act("patch_ingress", "ingress/shop/admin")),
        (ingresses, act("patch_ingress", "ingress/shop/web", backend=backend)),
        (ingresses, act("patch_tls", "ingress/shop/web", secret="web-tls")),
        (ingresses, act("patch_tls", "certificate/shop/web")),
        (configs, act("patch_ldap_config", "configmap/auth/glauth-config")),
        (configs, act("switch_db_target", "configmap/image-factory/db")),
        (recovery, act("run_recovery_job", "job/image-factory/db-migrate")),
        (BulkCleanupExecutor(kube), act("bulk_cleanup", "namespace/image-factory")),
    ]
