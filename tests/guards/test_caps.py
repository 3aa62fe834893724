"""The action caps: pods deleted and workloads scaled down per window, per
namespace and per cluster. A real runner with the real Kubernetes executor
against kmock (every DELETE and scale that reaches the cluster is counted),
on both store backends, with a hand-moved clock; two runners sharing one
Redis store; the act stage escalating a refused run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from fixtures.clock import T0, Clock
from fixtures.incidents import make_incident
from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
)
from fixtures.rigs import RunnerRig, at_once, shared_redis

from responder.actions.kubernetes import KubernetesExecutor
from responder.guards.caps import (
    CLUSTER,
    PODS_DELETED,
    WORKLOADS_SCALED,
    ActionCaps,
    Usage,
    usage_of,
    used_by,
)
from responder.kube import Kube
from responder.records.action import ActionOutcome, ActionRequest, ActionRun, Plan, record_runs
from responder.records.incident import RecommendedAction, ResourceScope
from responder.records.levels import Confidence
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.settings import ActionCapSettings, Settings, SettingsError, load_settings
from responder.store import Store

HOUR = 3600
COOLDOWN = 900  # the action retry window of background_job_buildup


INCIDENT: dict[str, Any] = {
    "incident_type": "background_job_buildup",
    "domain": "workloads",
    "display_name": "Background Job Buildup",
    "confidence": Confidence.high,
    "key": "background_job_buildup|cluster//cluster",
    "resource_scope": ResourceScope(kind="cluster", name="cluster"),
}


class Rig(RunnerRig):
    """A runner with the real Kubernetes executor on kmock."""

    def __init__(
        self, store: Store, cluster: KubeCluster, kube: Kube, clock: Clock, **settings: Any
    ) -> None:
        executor = KubernetesExecutor(kube, clock=clock)
        incident = make_incident("inc-caps", **INCIDENT)
        super().__init__(store, [executor], incident, clock, action_timeout_seconds=5.0, **settings)
        self.cluster = cluster

    def clean(self, namespace: str | None = None) -> ActionRun:
        target = (
            Target(kind="namespace", name=namespace)
            if namespace
            else Target(kind="cluster", name="cluster")
        )
        return self.run("delete_completed_pods", target)

    def finished(self, namespace: str, count: int, prefix: str = "job") -> None:
        self.cluster.add(
            *(pod(f"{prefix}-{i:03d}", namespace, phase="Succeeded") for i in range(count))
        )

    def deletes(self, namespace: str | None = None) -> int:
        where = f"/namespaces/{namespace}/pods/" if namespace else "/pods/"
        return sum(1 for w in self.cluster.writes() if w.method == "DELETE" and where in w.path)

    def refusals(self) -> float:
        return self.sample(
            "ops_guard_refusals_total",
            incident_type="background_job_buildup",
            environment="demo",
            guard="action_cap",
        )


MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig(store: Store, kube_cluster: KubeCluster, kube: Kube) -> MakeRig:
    """``make_rig(**settings)``: a rig on the test's store and cluster."""
    return lambda **settings: Rig(store, kube_cluster, kube, Clock(), **settings)


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()


# settings


def test_the_caps_default_to_the_issues_numbers() -> None:
    caps = Settings().action_caps
    assert caps == ActionCapSettings(
        window_seconds=3600,
        pods_deleted_per_namespace=50,
        pods_deleted_per_cluster=200,
        workloads_scaled_per_namespace=3,
        workloads_scaled_per_cluster=10,
    )


def test_the_caps_are_set_from_the_environment() -> None:
    settings = load_settings(
        {"ROBOT_SRE_ACTION_CAPS": '{"window_seconds": 600, "pods_deleted_per_namespace": 5}'}
    )
    assert settings.action_caps.window_seconds == 600
    assert settings.action_caps.pods_deleted_per_namespace == 5
    assert settings.action_caps.pods_deleted_per_cluster == 200


@pytest.mark.parametrize(
    "value", ['{"window_seconds": 0}', '{"pods_deleted_per_cluster": -1}', '{"pods": 3}']
)
def test_a_bad_cap_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="ROBOT_SRE_ACTION_CAPS"):
        load_settings({"ROBOT_SRE_ACTION_CAPS": value})


# pods deleted per namespace


def test_the_51st_pod_deletion_in_a_namespace_is_refused_until_the_window_passes(rig: Rig) -> None:
    rig.finished("ci", 50)
    first = rig.clean("ci")
    assert first.executed is not None and first.executed.result == "succeeded"
    assert rig.deletes("ci") == 50
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 50

    rig.finished("ci", 1, prefix="late")
    rig.clock.advance(COOLDOWN + 1)
    refused = rig.clean("ci")

    assert refused.executed is not None and refused.executed.result == "refused"
    assert refused.note == refused.executed.detail
    assert refused.note == (
        "refused by the action caps: 1 more pods deleted in namespace ci would make 51 "
        "within 3600s, over the cap pods_deleted_per_namespace of 50 (50 already)"
    )
    assert rig.deletes("ci") == 50  # nothing more reached the cluster
    assert rig.refusals() == 1.0
    [audit] = [e for e in rig.store.list_audit() if e.action == "action.refused"]
    assert audit.after is not None and audit.after["guard"] == "action_cap"
    assert audit.detail == refused.note
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 50

    # an hour after the first cleanup the window has room again
    rig.clock.now = T0 + timedelta(seconds=HOUR + 1)
    again = rig.clean("ci")
    assert again.executed is not None and again.executed.result == "succeeded"
    assert rig.deletes("ci") == 51
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 1


def test_other_namespaces_keep_their_own_count(rig: Rig) -> None:
    rig.finished("ci", 50)
    rig.finished("batch", 10)
    assert rig.clean("ci").outcome.result == "succeeded"
    assert rig.clean("batch").outcome.result == "succeeded"
    assert (rig.deletes("ci"), rig.deletes("batch")) == (50, 10)


def test_a_refused_run_escalates_the_incident_with_the_cap_on_its_timeline(rig: Rig) -> None:
    rig.finished("ci", 51)
    refused = rig.clean("ci")
    acted = record_runs(rig.incident, [refused], rig.clock())

    assert acted.escalated
    assert rig.incident.state == IncidentState.escalated
    [entry] = [e for e in rig.incident.timeline if e.event == "state:escalated"]
    assert "pods_deleted_per_namespace of 50" in entry.detail
    assert "51 within 3600s" in entry.detail
    assert rig.deletes() == 0


def test_an_approved_deletion_over_the_cap_is_refused_too(rig: Rig) -> None:
    rig.finished("ci", 60)
    recommendation = RecommendedAction(
        action="delete_completed_pods",
        action_class="contain",
        decision="approval",
        reason="test",
        target={"kind": "namespace", "name": "ci"},
    )
    approval = rig.approvals.request(rig.incident, recommendation, "test", rig.clock())
    assert approval is not None
    rig.approvals.grant(approval.id, "alice")

    run = rig.run(
        "delete_completed_pods",
        Target(kind="namespace", name="ci"),
        "approval",
        approval_id=approval.id,
        actor="alice",
    )

    assert run.executed is not None and run.executed.result == "refused"
    assert "pods_deleted_per_namespace" in run.note
    assert run.executed.approval_id == approval.id
    assert rig.deletes() == 0


# pods deleted per cluster


def test_the_cluster_cap_counts_across_namespaces(make_rig: MakeRig) -> None:
    rig = make_rig(action_caps={"pods_deleted_per_cluster": 12})
    rig.finished("ci", 8)
    rig.finished("batch", 5)

    assert rig.clean("ci").outcome.result == "succeeded"
    refused = rig.clean("batch")

    assert refused.outcome.result == "refused"
    assert "5 more pods deleted cluster-wide would make 13" in refused.note
    assert "pods_deleted_per_cluster of 12 (8 already)" in refused.note
    assert (rig.deletes("ci"), rig.deletes("batch")) == (8, 0)


def test_a_cluster_wide_cleanup_counts_per_namespace(make_rig: MakeRig) -> None:
    rig = make_rig(action_caps={"pods_deleted_per_namespace": 6})
    rig.finished("ci", 4)
    rig.finished("batch", 7)

    refused = rig.clean()

    assert refused.outcome.result == "refused"
    assert "7 more pods deleted in namespace batch would make 7" in refused.note
    assert rig.deletes() == 0  # all or nothing: no namespace is cleaned half

    rig.cluster.add(*(pod(f"job-{i:03d}", "batch", phase="Running") for i in range(7)))
    rig.clock.advance(COOLDOWN + 1)
    assert rig.clean().outcome.result == "succeeded"
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 4
    assert rig.runner.caps.count(PODS_DELETED) == 4


# what is counted


def test_pods_the_api_would_not_delete_are_not_counted(rig: Rig) -> None:
    rig.finished("ci", 5)
    rig.cluster.fail("pods", 500, verbs=["delete"])

    run = rig.clean("ci")

    assert run.outcome.result == "failed"
    assert run.outcome.detail.startswith("deleted 0 of 5 finished pods")
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 0
    assert rig.runner.caps.count(PODS_DELETED) == 0


def test_dry_run_counts_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(dry_run=True)
    rig.finished("ci", 60)

    run = rig.clean("ci")

    assert run.outcome.result == "dry_run"
    assert rig.deletes() == 0
    assert rig.runner.caps.count(PODS_DELETED, "ci") == 0
    assert rig.runner.caps.count(PODS_DELETED) == 0
    assert rig.refusals() == 0.0


def test_the_executors_total_caps_the_count_when_pods_went_away() -> None:
    request = ActionRequest(
        "delete_completed_pods", Target(kind="cluster", name="cluster"), "inc-1"
    )
    plan = Plan(
        request,
        {},
        {
            "delete": [{"namespace": "ci", "name": f"p{i}", "phase": "Succeeded"} for i in range(6)]
            + [{"namespace": "batch", "name": f"q{i}", "phase": "Failed"} for i in range(4)]
        },
        "delete 10 finished pods",
    )
    reserved = usage_of(plan)
    assert reserved.pods_deleted == {"ci": 6, "batch": 4}
    outcome = ActionOutcome("succeeded", "deleted 3 of 10 finished pods (7 were already gone)")
    used = list(used_by(reserved, outcome).counts())
    assert used == [(PODS_DELETED, "batch", 3), (PODS_DELETED, "ci", 3), (PODS_DELETED, CLUSTER, 3)]
    # an apply that timed out says nothing: the reservation stands
    timed_out = ActionOutcome("failed", "apply failed: apply timed out after 5s")
    assert used_by(reserved, timed_out) == reserved


# workloads scaled


def test_the_fourth_scale_down_in_a_namespace_is_refused_and_scaling_back_is_not(
    rig: Rig,
) -> None:
    rig.cluster.add(*(deployment(f"app-{i}", "shop", replicas=2) for i in range(4)))
    for i in range(3):
        run = rig.run("scale_to_zero", Target(kind="deployment", namespace="shop", name=f"app-{i}"))
        assert run.outcome.result == "succeeded", run.outcome.detail

    refused = rig.run("scale_to_zero", Target(kind="deployment", namespace="shop", name="app-3"))

    assert refused.outcome.result == "refused"
    assert "1 more workloads scaled down in namespace shop would make 4" in refused.note
    assert "workloads_scaled_per_namespace of 3" in refused.note
    scale = rig.cluster.get("Deployment", "app-3", "shop")
    assert scale is not None and scale["spec"]["replicas"] == 2
    assert rig.runner.caps.count(WORKLOADS_SCALED, "shop") == 3

    # the rollback (scale back up) is never capped
    back = ActionRequest(
        "resume_workload",
        Target(kind="deployment", namespace="shop", name="app-0"),
        rig.incident.id,
        params={"replicas": 2},
    )
    run = rig.runner.run(rig.incident, back, "auto")
    assert run.outcome.result == "succeeded", run.outcome.detail
    assert rig.runner.caps.count(WORKLOADS_SCALED, "shop") == 3


def test_a_scale_that_changes_nothing_counts_nothing(rig: Rig) -> None:
    rig.cluster.add(deployment("idle", "shop", replicas=0))
    run = rig.run("scale_to_zero", Target(kind="deployment", namespace="shop", name="idle"))
    assert run.outcome.result == "skipped"
    assert rig.runner.caps.count(WORKLOADS_SCALED, "shop") == 0


# replicas


def test_two_runners_sharing_one_redis_cannot_pass_the_last_slot_together(
    redis_url: str, kube_cluster: KubeCluster
) -> None:
    """Each runner cleans its own namespace of 6 finished pods at once; the
    cluster has room for 10: exactly one of them runs, every round."""
    clock = Clock()
    with shared_redis(redis_url) as stores:
        rigs = [
            Rig(
                store,
                kube_cluster,
                kube_cluster.kube(),
                clock,
                action_caps={"pods_deleted_per_cluster": 10},
            )
            for store in stores
        ]
        for round_ in range(3):
            names = [f"r{round_}-a", f"r{round_}-b"]
            for name in names:
                rigs[0].finished(name, 6)
            runs = at_once(*(partial(r.clean, n) for r, n in zip(rigs, names, strict=True)))
            assert sorted(r.outcome.result for r in runs) == ["refused", "succeeded"]
            assert sum(rigs[0].deletes(n) for n in names) == 6
            assert rigs[1].runner.caps.count(PODS_DELETED) == 6
            clock.advance(HOUR + 1)  # the next round starts with an empty window


def test_the_counts_are_rolling(store: Store) -> None:
    clock = Clock()
    caps = ActionCaps(store, ActionCapSettings(pods_deleted_per_namespace=10), clock)
    caps.reserve(Usage(pods_deleted={"ci": 6}))
    clock.advance(HOUR / 2)
    caps.reserve(Usage(pods_deleted={"ci": 4}))
    assert caps.count(PODS_DELETED, "ci") == 10
    clock.advance(HOUR / 2 + 1)  # the first use left the window, the second did not
    assert caps.count(PODS_DELETED, "ci") == 4
    caps.reserve(Usage(pods_deleted={"ci": 6}))
    assert caps.count(PODS_DELETED, "ci") == 10


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("pause_shared_controller", {}),
        ("scale_shared_controller", {"replicas": 1}),
        ("scale_dependency", {"replicas": 1}),
    ],
)
def test_every_action_that_lowers_replicas_counts_as_a_scale_down(
    action: str, params: dict[str, int]
) -> None:
    target = Target(kind="deployment", namespace="tekton-pipelines", name="controller")
    lower = Plan(
        ActionRequest(action, target, "inc-1", params), {"replicas": 3}, {"replicas": 1}, ""
    )
    assert usage_of(lower).workloads_scaled == {"tekton-pipelines": 1}
    higher = Plan(
        ActionRequest(action, target, "inc-1", params), {"replicas": 1}, {"replicas": 3}, ""
    )
    assert usage_of(higher).workloads_scaled == {}
