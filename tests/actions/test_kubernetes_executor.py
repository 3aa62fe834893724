"""The Kubernetes executor against kmock: plan reads, apply writes, inverse undoes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures.incidents import make_incident
from fixtures.kube import (
    KubeCluster,
    configmap,
    cronjob,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    node,
    pdb,
    pod,
    seed_disk_pressure,
    statefulset,
)
from fixtures.rigs import RunnerRig

from responder.actions.kubernetes import KubernetesExecutor
from responder.kube import MERGE_PATCH, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target
from responder.store import Store

FIXED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(
        action=action, target=Target.parse(target), incident_id="inc-1", params=params
    )


@pytest.fixture
def executor(kube: Kube) -> KubernetesExecutor:
    return KubernetesExecutor(kube, clock=lambda: FIXED)


def run(executor: KubernetesExecutor, wanted: ActionRequest) -> tuple[Plan, ActionOutcome]:
    plan = executor.plan(wanted)
    return plan, executor.apply(plan)


def undo(executor: KubernetesExecutor, plan: Plan) -> ActionOutcome:
    inverse = executor.inverse(plan)
    assert inverse is not None
    return executor.apply(executor.plan(inverse))


# delete_completed_pods


def test_delete_completed_pods_deletes_only_succeeded_and_failed_pods(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.add(pod("web-pending", "image-factory", phase="Pending"))
    before = set(kube_cluster.names("Pod"))

    plan = executor.plan(request("delete_completed_pods", "cluster/cluster"))
    assert kube_cluster.writes() == []
    assert plan.diff == (Change("finished pods cluster-wide", "40", "0"),)
    outcome = executor.apply(plan)

    assert outcome.result == "succeeded", outcome.detail
    assert outcome.detail == "deleted 40 of 40 finished pods"
    assert set(kube_cluster.names("Pod")) == {
        "headlamp-5c6d7f8b9-abcde",
        "ingress-nginx-controller-7d9f8b6c5-x2x9z",
        "web-pending",
    }
    deletes = kube_cluster.writes()
    assert len(deletes) == 40 == len(before) - 3
    assert {w.method for w in deletes} == {"DELETE"}
    assert all(w.body["preconditions"]["uid"] for w in deletes)
    assert executor.inverse(plan) is None


def test_delete_completed_pods_in_one_namespace(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    seed_disk_pressure(kube_cluster)

    plan, outcome = run(executor, request("delete_completed_pods", "namespace/trivy-system"))

    assert outcome.result == "succeeded"
    assert {p["namespace"] for p in plan.changes["delete"]} == {"trivy-system"}
    assert kube_cluster.names("Pod", "trivy-system") == []
    assert len(kube_cluster.names("Pod", "image-factory")) == 20


def test_delete_completed_pods_never_trusts_the_server_selector(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(
        pod("done", "default", phase="Succeeded"),
        pod("web", "default", phase="Running"),
        pod("starting", "default", phase="Pending"),
    )
    kube_cluster.ignore_selectors()

    plan, outcome = run(executor, request("delete_completed_pods", "cluster/cluster"))

    assert [p["name"] for p in plan.changes["delete"]] == ["done"]
    assert outcome.result == "succeeded"
    assert kube_cluster.names("Pod") == ["starting", "web"]


def test_nothing_finished_is_skipped_without_writes(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(pod("web", "default"))

    _, outcome = run(executor, request("delete_completed_pods", "cluster/cluster"))

    assert outcome.result == "skipped"
    assert kube_cluster.writes() == []


# suspend_cronjob / resume_workload


def test_suspend_cronjob_round_trip(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(cronjob("trivy-db-warmup", "trivy-system"))

    plan, outcome = run(
        executor, request("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup")
    )

    assert (plan.previous, plan.changes) == ({"suspend": False}, {"suspend": True})
    assert plan.diff == (Change("spec.suspend", "false", "true"),)
    assert outcome.result == "succeeded"
    assert (
        kube_cluster.live("CronJob", "trivy-db-warmup", "trivy-system")["spec"]["suspend"] is True
    )
    [write] = kube_cluster.writes()
    assert (write.method, write.content_type, write.body) == (
        "PATCH",
        MERGE_PATCH,
        {"spec": {"suspend": True}},
    )
    inverse = executor.inverse(plan)
    assert inverse == request(
        "resume_workload", "cronjob/trivy-system/trivy-db-warmup", suspend=False
    )
    assert undo(executor, plan).result == "succeeded"
    assert (
        kube_cluster.live("CronJob", "trivy-db-warmup", "trivy-system")["spec"]["suspend"] is False
    )


def test_suspending_a_suspended_cronjob_writes_nothing(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(cronjob("trivy-db-warmup", "trivy-system", suspend=True))

    plan, outcome = run(
        executor, request("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup")
    )

    assert outcome.result == "skipped"
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


# scale_to_zero / resume_workload


@pytest.mark.parametrize("kind", ["deployment", "statefulset"])
def test_scale_to_zero_round_trip(
    kube_cluster: KubeCluster, executor: KubernetesExecutor, kind: str
) -> None:
    build = deployment if kind == "deployment" else statefulset
    kube_cluster.add(build("headlamp", "headlamp", replicas=3))
    kind_name = "Deployment" if kind == "deployment" else "StatefulSet"

    plan, outcome = run(executor, request("scale_to_zero", f"{kind}/headlamp/headlamp"))

    assert plan.previous == {"replicas": 3}
    assert plan.diff == (Change("replicas", "3", "0"),)
    assert outcome.result == "succeeded", outcome.detail
    assert kube_cluster.live(kind_name, "headlamp", "headlamp")["spec"]["replicas"] == 0
    [write] = kube_cluster.writes()
    assert write.path.endswith("/headlamp/scale")
    inverse = executor.inverse(plan)
    assert inverse == request("resume_workload", f"{kind}/headlamp/headlamp", replicas=3)
    assert undo(executor, plan).result == "succeeded"
    assert kube_cluster.live(kind_name, "headlamp", "headlamp")["spec"]["replicas"] == 3


def test_resume_workload_needs_the_recorded_replicas(executor: KubernetesExecutor) -> None:
    with pytest.raises(ValueError, match=r"params\.replicas"):
        executor.plan(request("resume_workload", "deployment/headlamp/headlamp"))


# rollout_restart


def test_rollout_restart_stamps_the_pod_template(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(deployment("redis", "runtime"))

    plan, outcome = run(executor, request("rollout_restart", "deployment/runtime/redis"))

    assert outcome.result == "succeeded"
    assert plan.previous == {"restartedAt": None}
    assert plan.diff == (Change("restartedAt", "(none)", "2026-11-26T09:30:00Z"),)
    template = kube_cluster.live("Deployment", "redis", "runtime")["spec"]["template"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == (
        "2026-11-26T09:30:00Z"
    )
    assert template["spec"]["containers"][0]["name"] == "main"
    assert executor.inverse(plan) is None


# cordon_node / uncordon_node


def test_cordon_round_trip(kube_cluster: KubeCluster, executor: KubernetesExecutor) -> None:
    kube_cluster.add(node("worker-1"))

    plan, outcome = run(executor, request("cordon_node", "node/worker-1"))

    assert outcome.result == "succeeded"
    assert plan.diff == (Change("unschedulable", "false", "true"),)
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is True
    assert executor.inverse(plan) == request("uncordon_node", "node/worker-1")
    uncordon_plan = executor.plan(request("uncordon_node", "node/worker-1"))
    assert uncordon_plan.diff == (Change("unschedulable", "true", "false"),)
    assert executor.apply(uncordon_plan).result == "succeeded"
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is False
    assert executor.inverse(uncordon_plan) == request("cordon_node", "node/worker-1")


def test_cordoning_a_cordoned_node_has_no_inverse(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(node("worker-1", unschedulable=True))

    plan, outcome = run(executor, request("cordon_node", "node/worker-1"))

    assert outcome.result == "skipped"
    assert executor.inverse(plan) is None


# drain_node


def drain_scene(kube_cluster: KubeCluster) -> None:
    kube_cluster.add(
        node("worker-1"),
        pod("web-1", "shop", owner=("ReplicaSet", "web-5d9c7b8f6"), labels={"app": "web"}),
        pod("fluent-bit-x1", "logging", owner=("DaemonSet", "fluent-bit")),
        pod(
            "kube-proxy-worker-1",
            "kube-system",
            annotations={"kubernetes.io/config.mirror": "abc"},
            owner=("Node", "worker-1"),
        ),
        pod("done-1", "shop", phase="Succeeded", owner=("Job", "done")),
        pod("elsewhere", "shop", owner=("ReplicaSet", "web-5d9c7b8f6"), node_name="worker-2"),
    )


def test_drain_cordons_and_evicts_all_but_daemonset_and_mirror_pods(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    drain_scene(kube_cluster)

    plan, outcome = run(executor, request("drain_node", "node/worker-1"))

    assert outcome.result == "succeeded", outcome.detail
    assert sorted(p["name"] for p in plan.changes["evict"]) == ["done-1", "web-1"]
    assert sorted(p["why"] for p in plan.changes["skipped"]) == ["DaemonSet pod", "mirror pod"]
    assert plan.diff == (
        Change("unschedulable", "false", "true"),
        Change("pods to evict from worker-1", "2", "0"),
    )
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is True
    assert kube_cluster.names("Pod") == ["elsewhere", "fluent-bit-x1", "kube-proxy-worker-1"]
    evictions = [w.path for w in kube_cluster.writes() if w.method == "POST"]
    assert sorted(evictions) == [
        "/api/v1/namespaces/shop/pods/done-1/eviction",
        "/api/v1/namespaces/shop/pods/web-1/eviction",
    ]
    assert executor.inverse(plan) == request("uncordon_node", "node/worker-1")


def test_drain_blocked_by_a_pod_disruption_budget_fails_with_the_reason(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    drain_scene(kube_cluster)
    kube_cluster.add(pdb("web", "shop", {"app": "web"}, allowed=0))

    plan, outcome = run(executor, request("drain_node", "node/worker-1"))

    assert outcome.result == "failed"
    assert "blocked by a PodDisruptionBudget" in outcome.detail
    assert "429" in outcome.detail
    assert "web-1" in kube_cluster.names("Pod", "shop")
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is True
    assert executor.inverse(plan) == request("uncordon_node", "node/worker-1")


def test_drain_refuses_pods_without_a_controller_unless_forced(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(node("worker-1"), pod("debug-shell", "default"))

    plan, outcome = run(executor, request("drain_node", "node/worker-1"))

    assert outcome.result == "failed"
    assert plan.diff == ()
    assert "without a controller would be lost: default/debug-shell" in outcome.detail
    assert kube_cluster.writes() == []

    _, forced = run(executor, request("drain_node", "node/worker-1", force=True))
    assert forced.result == "succeeded"
    assert kube_cluster.names("Pod") == []


# patch_config


def test_patch_config_round_trip_restores_the_previous_value(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"LDAP_URL": "ldap://old", "A": "1"}))

    plan, outcome = run(
        executor,
        request(
            "patch_config", "configmap/image-factory/backend", key="LDAP_URL", value="ldaps://new"
        ),
    )

    assert plan.previous == {"key": "LDAP_URL", "value": "ldap://old"}
    assert plan.diff == (Change("data.LDAP_URL", "ldap://old", "ldaps://new"),)
    assert outcome.result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {
        "LDAP_URL": "ldaps://new",
        "A": "1",
    }
    assert undo(executor, plan).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"]["LDAP_URL"] == (
        "ldap://old"
    )


def test_undoing_a_new_config_key_removes_it(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"A": "1"}))

    plan, _ = run(
        executor, request("patch_config", "configmap/image-factory/backend", key="B", value="2")
    )
    assert plan.diff == (Change("data.B", "(none)", "2"),)
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {
        "A": "1",
        "B": "2",
    }

    assert undo(executor, plan).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {"A": "1"}


# plans only read


def test_plans_never_write(kube_cluster: KubeCluster, executor: KubernetesExecutor) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.add(configmap("backend", "image-factory", {"A": "1"}))
    for wanted in (
        request("delete_completed_pods", "cluster/cluster"),
        request("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup"),
        request("scale_to_zero", "deployment/headlamp/headlamp"),
        request("resume_workload", "deployment/headlamp/headlamp", replicas=2),
        request("rollout_restart", "deployment/headlamp/headlamp"),
        request("cordon_node", "node/worker-1"),
        request("drain_node", "node/worker-1"),
        request("patch_config", "configmap/image-factory/backend", key="A", value="2"),
    ):
        plan = executor.plan(wanted)
        assert plan.changes and plan.diff
    assert kube_cluster.writes() == []


def test_a_request_for_the_wrong_kind_is_refused(executor: KubernetesExecutor) -> None:
    with pytest.raises(ValueError, match="acts on a node"):
        executor.plan(request("cordon_node", "deployment/default/web"))


# failures: apply never raises, and returns within the timeout


def test_api_answering_500_on_the_write_is_a_failed_outcome(
    kube_cluster: KubeCluster, executor: KubernetesExecutor
) -> None:
    kube_cluster.add(node("worker-1"))
    plan = executor.plan(request("cordon_node", "node/worker-1"))
    kube_cluster.fail("nodes", 500, verbs=["PATCH"])

    outcome = executor.apply(plan)

    assert outcome.result == "failed"
    assert outcome.detail.startswith("patch node worker-1: 500")
    assert kube_cluster.live("Node", "worker-1")["spec"].get("unschedulable") is None


def test_api_that_hangs_fails_the_apply_within_the_timeout(
    kube_cluster: KubeCluster, executor: KubernetesExecutor, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)
    plan = executor.plan(request("delete_completed_pods", "cluster/cluster"))
    kube_cluster.hang("pods", verbs=["DELETE"])

    started = time.monotonic()
    outcome = executor.apply(plan)

    assert time.monotonic() - started < kube.timeout.read + 1
    assert outcome.result == "failed"
    assert "deleted 0 of 40" in outcome.detail
    assert "timeout" in outcome.detail


def test_plan_against_a_hanging_api_raises_within_the_timeout(
    kube_cluster: KubeCluster, executor: KubernetesExecutor, kube: Kube
) -> None:
    kube_cluster.hang("deployments")

    started = time.monotonic()
    with pytest.raises(KubeError, match="timeout"):
        executor.plan(request("rollout_restart", "deployment/runtime/redis"))
    assert time.monotonic() - started < kube.timeout.read + 1


def test_without_a_cluster_plans_raise_and_applies_are_not_available() -> None:
    executor = KubernetesExecutor(None)
    wanted = request("cordon_node", "node/worker-1")

    with pytest.raises(KubeError, match="no Kubernetes cluster"):
        executor.plan(wanted)
    outcome = executor.apply(Plan(wanted, {"unschedulable": False}, {"unschedulable": True}, ""))
    assert outcome.result == "not_available"


# reading back what was written


def test_a_write_the_server_accepted_but_did_not_make_fails_on_read_back(
    kube_cluster: KubeCluster, executor: KubernetesExecutor, store: Store
) -> None:
    kube_cluster.add(node("worker-1"))
    incident = make_incident("inc-verify", incident_type="node_disk_pressure")
    rig = RunnerRig(store, [executor], incident)
    # the API answers the patch 200 without changing the node
    kube_cluster.fail("nodes", 200, verbs=["patch"])
    run = rig.run("cordon_node", Target(kind="node", name="worker-1"))
    assert run.outcome.result == "failed"
    assert run.outcome.detail == (
        "node worker-1 cordoned, but read back: unschedulable reads false, not true"
    )
    assert kube_cluster.live("Node", "worker-1")["spec"].get("unschedulable") is not True
