"""The controller executor against kmock: a dependency's replicas, the shared
controllers and subsystems the settings name; each inverse runs through the
Kubernetes executor and restores."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    configmap,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    statefulset,
)
from pydantic import ValidationError

from responder.actions.controllers import ControllerExecutor
from responder.actions.kubernetes import KubernetesExecutor
from responder.kube import MERGE_PATCH, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target
from responder.remedies import Remedies

REMEDIES = Remedies.model_validate(
    {
        "shared_controllers": [
            "tekton-pipelines/tekton-pipelines-controller",
            "statefulset/runtime/nats",
        ],
        "subsystems": {
            "dashboard": {"workload": "tekton-pipelines/tekton-dashboard"},
            "scanning": {
                "configmap": "image-factory/backend",
                "key": "SCAN_ENABLED",
                "off_value": "false",
            },
        },
    }
)


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(
        action=action, target=Target.parse(target), incident_id="inc-1", params=params
    )


@pytest.fixture
def executor(kube: Kube) -> ControllerExecutor:
    return ControllerExecutor(kube, REMEDIES.shared_controllers, REMEDIES.subsystems)


def run(executor: ControllerExecutor, wanted: ActionRequest) -> tuple[Plan, ActionOutcome]:
    plan = executor.plan(wanted)
    return plan, executor.apply(plan)


def undo(executor: ControllerExecutor, plan: Plan, kube: Kube) -> ActionOutcome:
    """Run the inverse (an action of the Kubernetes executor)."""
    inverse = executor.inverse(plan)
    assert inverse is not None
    kubernetes = KubernetesExecutor(kube)
    return kubernetes.apply(kubernetes.plan(inverse))


def replicas(kube_cluster: KubeCluster, kind: str, name: str, namespace: str) -> int:
    count: int = kube_cluster.live(kind, name, namespace)["spec"]["replicas"]
    return count


def one_scale_write(kube_cluster: KubeCluster, path: str, count: int) -> None:
    [applied] = kube_cluster.applied()
    [write] = kube_cluster.writes()
    assert (applied.verb, applied.path) == ("patch", path)
    assert (write.path, write.content_type, write.body) == (
        path,
        MERGE_PATCH,
        {"spec": {"replicas": count}},
    )


# scale_dependency


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_scale_dependency_round_trip(
    kube_cluster: KubeCluster, executor: ControllerExecutor, kube: Kube, kind: str
) -> None:
    build = deployment if kind == "Deployment" else statefulset
    kube_cluster.add(build("redis", "runtime", replicas=1))

    plan = executor.plan(request("scale_dependency", f"{kind.lower()}/runtime/redis", replicas=3))

    assert kube_cluster.writes() == []
    assert (plan.previous, plan.diff) == ({"replicas": 1}, (Change("replicas", "1", "3"),))
    assert executor.apply(plan).result == "succeeded"
    one_scale_write(
        kube_cluster, f"/apis/apps/v1/namespaces/runtime/{kind.lower()}s/redis/scale", 3
    )
    assert replicas(kube_cluster, kind, "redis", "runtime") == 3
    assert executor.inverse(plan) == request(
        "resume_workload", f"{kind.lower()}/runtime/redis", replicas=1
    )
    assert undo(executor, plan, kube).result == "succeeded"
    assert replicas(kube_cluster, kind, "redis", "runtime") == 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"replicas": 0}, "never scales to 0: stopping a workload is scale_to_zero"),
        ({}, r"needs params\.replicas"),
        ({"replicas": "3"}, r"needs params\.replicas"),
    ],
)
def test_scale_dependency_refuses_zero_and_missing_replicas(
    kube_cluster: KubeCluster, executor: ControllerExecutor, params: dict[str, Any], reason: str
) -> None:
    kube_cluster.add(deployment("redis", "runtime"))

    with pytest.raises(ValueError, match=reason):
        executor.plan(request("scale_dependency", "deployment/runtime/redis", **params))
    assert kube_cluster.writes() == []


# scale_shared_controller, pause_shared_controller


def test_scale_shared_controller_round_trip(
    kube_cluster: KubeCluster, executor: ControllerExecutor, kube: Kube
) -> None:
    kube_cluster.add(statefulset("nats", "runtime", replicas=3))

    plan, outcome = run(
        executor, request("scale_shared_controller", "statefulset/runtime/nats", replicas=1)
    )

    assert plan.diff == (Change("replicas", "3", "1"),)
    assert outcome.result == "succeeded", outcome.detail
    one_scale_write(kube_cluster, "/apis/apps/v1/namespaces/runtime/statefulsets/nats/scale", 1)
    assert undo(executor, plan, kube).result == "succeeded"
    assert replicas(kube_cluster, "StatefulSet", "nats", "runtime") == 3


def test_pause_shared_controller_scales_it_to_zero_and_resumes_it(
    kube_cluster: KubeCluster, executor: ControllerExecutor, kube: Kube
) -> None:
    kube_cluster.add(deployment("tekton-pipelines-controller", "tekton-pipelines", replicas=2))
    target = "deployment/tekton-pipelines/tekton-pipelines-controller"

    plan, outcome = run(executor, request("pause_shared_controller", target))

    assert plan.diff == (Change("replicas", "2", "0"),)
    assert plan.summary.startswith("pause deployment tekton-pipelines/tekton-pipelines-controller")
    assert outcome.result == "succeeded", outcome.detail
    one_scale_write(
        kube_cluster,
        "/apis/apps/v1/namespaces/tekton-pipelines/deployments/tekton-pipelines-controller/scale",
        0,
    )
    assert executor.inverse(plan) == request("resume_workload", target, replicas=2)
    assert undo(executor, plan, kube).result == "succeeded"
    assert (
        replicas(kube_cluster, "Deployment", "tekton-pipelines-controller", "tekton-pipelines") == 2
    )


def test_pausing_a_paused_controller_is_skipped(
    kube_cluster: KubeCluster, executor: ControllerExecutor
) -> None:
    kube_cluster.add(deployment("tekton-pipelines-controller", "tekton-pipelines", replicas=0))

    plan, outcome = run(
        executor,
        request(
            "pause_shared_controller", "deployment/tekton-pipelines/tekton-pipelines-controller"
        ),
    )

    assert outcome.result == "skipped"
    assert "already paused" in outcome.detail
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


@pytest.mark.parametrize("action", ["scale_shared_controller", "pause_shared_controller"])
def test_a_controller_not_configured_as_shared_is_refused(
    kube_cluster: KubeCluster, executor: ControllerExecutor, action: str
) -> None:
    kube_cluster.add(deployment("api", "app"))

    with pytest.raises(
        ValueError, match="deployment app/api is not a configured shared controller"
    ):
        executor.plan(request(action, "deployment/app/api", replicas=1))
    assert kube_cluster.writes() == []


# disable_subsystem


def test_disable_a_subsystem_by_scaling_its_workload_to_zero(
    kube_cluster: KubeCluster, executor: ControllerExecutor, kube: Kube
) -> None:
    kube_cluster.add(deployment("tekton-dashboard", "tekton-pipelines", replicas=1))
    target = "deployment/tekton-pipelines/tekton-dashboard"

    plan, outcome = run(executor, request("disable_subsystem", target, subsystem="dashboard"))

    assert plan.diff == (Change("replicas", "1", "0"),)
    assert plan.summary.startswith("switch off subsystem dashboard")
    assert outcome.result == "succeeded", outcome.detail
    one_scale_write(
        kube_cluster,
        "/apis/apps/v1/namespaces/tekton-pipelines/deployments/tekton-dashboard/scale",
        0,
    )
    assert executor.inverse(plan) == request("resume_workload", target, replicas=1)
    assert undo(executor, plan, kube).result == "succeeded"
    assert replicas(kube_cluster, "Deployment", "tekton-dashboard", "tekton-pipelines") == 1


def test_disable_a_subsystem_by_its_configmap_switch(
    kube_cluster: KubeCluster, executor: ControllerExecutor, kube: Kube
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"SCAN_ENABLED": "true", "A": "1"}))
    target = "configmap/image-factory/backend"

    plan, outcome = run(executor, request("disable_subsystem", target, subsystem="scanning"))

    assert plan.diff == (Change("data.SCAN_ENABLED", "true", "false"),)
    assert outcome.result == "succeeded", outcome.detail
    [write] = kube_cluster.writes()
    assert (write.path, write.body) == (
        "/api/v1/namespaces/image-factory/configmaps/backend",
        {"data": {"SCAN_ENABLED": "false"}},
    )
    assert len(kube_cluster.applied()) == 1
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {
        "SCAN_ENABLED": "false",
        "A": "1",
    }
    assert executor.inverse(plan) == request(
        "patch_config", target, key="SCAN_ENABLED", value="true"
    )
    assert undo(executor, plan, kube).result == "succeeded"
    data = kube_cluster.live("ConfigMap", "backend", "image-factory")["data"]
    assert data == {"SCAN_ENABLED": "true", "A": "1"}


@pytest.mark.parametrize(
    ("target", "subsystem", "reason"),
    [
        ("deployment/app/search", "search", "subsystem search is not configured"),
        (
            "deployment/app/api",
            "dashboard",
            "dashboard is switched off through deployment tekton-pipelines/tekton-dashboard, "
            "not deployment app/api",
        ),
        ("deployment/app/api", None, r"needs params\.subsystem"),
    ],
)
def test_disable_subsystem_refuses_what_is_not_configured(
    executor: ControllerExecutor, target: str, subsystem: str | None, reason: str
) -> None:
    params = {"subsystem": subsystem} if subsystem else {}

    with pytest.raises(ValueError, match=reason):
        executor.plan(request("disable_subsystem", target, **params))


# the settings


def test_shared_controllers_are_read_as_kind_namespace_name() -> None:
    assert REMEDIES.shared_controllers == [
        "deployment/tekton-pipelines/tekton-pipelines-controller",
        "statefulset/runtime/nats",
    ]
    with pytest.raises(ValidationError, match="expected deployment/NAMESPACE/NAME"):
        Remedies.model_validate({"shared_controllers": ["cronjob/a/b"]})


@pytest.mark.parametrize(
    ("subsystem", "reason"),
    [
        ({}, "give either workload, or configmap"),
        ({"workload": "a/b", "configmap": "a/c", "key": "K", "off_value": "0"}, "give either"),
        ({"configmap": "a/c", "key": "K"}, "give the key and its off_value"),
        ({"workload": "a/b", "key": "K"}, "go with configmap"),
    ],
)
def test_a_subsystem_names_exactly_one_switch(subsystem: dict[str, str], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Remedies.model_validate({"subsystems": {"x": subsystem}})


def test_without_a_cluster_plans_raise_and_applies_are_not_available() -> None:
    executor = ControllerExecutor(None)
    wanted = request("scale_dependency", "deployment/runtime/redis", replicas=2)

    with pytest.raises(KubeError, match="no Kubernetes cluster"):
        executor.plan(wanted)
    outcome = executor.apply(Plan(wanted, {"replicas": 1}, {"replicas": 2}, ""))
    assert outcome.result == "not_available"
