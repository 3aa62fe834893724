"""The disk-pressure story end to end (issue 4): two nodes, worker-1 in
DiskPressure with the taint and the kubelet's eviction events, 40 finished
pods, the trivy-db-warmup CronJob, a headlamp Deployment, the ingress-nginx
controller and cert-manager (with finished Job pods of their own), all in
kmock; the OCI API behind the real SDK for the worker actions. No node
action is asked before the contain step has had its 10 minutes; then a
person may approve the cordon, and undo it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.alerts import evictions, filesystem, pressure
from fixtures.kube import (
    KubeCluster,
    ago,
    cronjob,
    deployment,
    event,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    node,
    pod,
    protected_finished_pods,
    seed_disk_pressure,
)
from fixtures.oci_api import (  # noqa: F401  (oci_api, oci_key: fixtures)
    OciApi,
    instance_ocid,
    oci_api,
    oci_key,
)
from stories.approved import (
    approve,
    approved_run,
    approver,  # noqa: F401  (a fixture, registered here)
    runnable_ask,
    undo,
    write_of,
)
from stories.storyline import Story, write_paths

from responder.records.lifecycle import IncidentState

PRESSURE = pressure("worker-1")
EVICTIONS = evictions("worker-1")
FILESYSTEM = {**filesystem("worker-1"), "mountpoint": "/var/lib/containerd"}
FINISHED = sorted(
    [
        f"/api/v1/namespaces/trivy-system/pods/trivy-db-warmup-2911{i:02d}-x{i:02d}"
        for i in range(20)
    ]
    + [f"/api/v1/namespaces/image-factory/pods/scan-job-{i:02d}" for i in range(20)]
)
TRIVY = "/apis/batch/v1/namespaces/trivy-system/cronjobs/trivy-db-warmup"
#: the node actions on later steps of the disk-pressure ladder, in the order they are held
LADDER_ASKS = ("cordon_node", "reboot_worker", "replace_worker", "drain_node")


def seed_protected(cluster: KubeCluster) -> None:
    """What the never-auto list protects, with finished pods a careless
    cluster-wide cleanup would take along."""
    cluster.add(
        deployment("cert-manager", "cert-manager", labels={"tier": "core"}),
        *protected_finished_pods("worker-1"),
    )


def oci_settings(api: OciApi, tmp: Path, key: dict[str, str]) -> dict[str, Any]:
    config = tmp / "oci-config"
    config.write_text(
        "[DEFAULT]\n" + "".join(f"{name}={value}\n" for name, value in key.items()),
        encoding="utf-8",
    )
    chosen = api.settings(
        config_file=str(config),
        node_instances={"worker-1": instance_ocid(201), "worker-2": instance_ocid(202)},
    )
    return {"oci": chosen.model_dump()}


def under_pressure(make_story: Any, cluster: KubeCluster, environment: str) -> Story:
    """worker-1 under disk pressure (the protected objects beside it), and the
    story in ``environment`` told of the pressure and its evictions."""
    seed_disk_pressure(cluster)
    seed_protected(cluster)
    story: Story = make_story(environment)
    story.fire(PRESSURE, EVICTIONS)
    return story


@pytest.fixture
def make_story(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    oci_api: OciApi,  # noqa: F811
    oci_key: dict[str, str],  # noqa: F811
    approver: dict[str, Any],  # noqa: F811
) -> Iterator[Any]:
    stories: list[Story] = []

    def make(environment: str) -> Story:
        story = Story(
            kube_cluster,
            tmp_path,
            environment=environment,
            **oci_settings(oci_api, tmp_path, oci_key),
            **approver,
        )
        stories.append(story)
        return story

    try:
        yield make
    finally:
        for story in stories:
            story.close()


def test_demo_cleans_up_suspends_trivy_asks_for_the_worker_and_resolves(
    make_story: Any,
    kube_cluster: KubeCluster,
    oci_api: OciApi,  # noqa: F811
) -> None:
    # T+0: Alertmanager posts the node's pressure and its evictions
    story = under_pressure(make_story, kube_cluster, "demo")
    incident = story.incident()
    assert (incident.incident_type, incident.resource_scope.key) == (
        "node_disk_pressure",
        "node//worker-1",
    )
    assert incident.confidence == "high"
    assert incident.state == IncidentState.contained

    # the finished pods are deleted, trivy-db-warmup is suspended: nothing else is written
    writes = story.writes()
    assert write_paths(writes, "DELETE") == FINISHED
    [suspend] = [w for w in writes if w.method == "PATCH"]
    assert (suspend.path, suspend.body) == (TRIVY, {"spec": {"suspend": True}})
    assert len(writes) == len(FINISHED) + 1
    assert kube_cluster.live("CronJob", "trivy-db-warmup", "trivy-system")["spec"]["suspend"]
    assert kube_cluster.names("Pod", "trivy-system") == []
    assert kube_cluster.names("Pod", "ingress-nginx") == [
        "ingress-nginx-admission-create-7xk2p",
        "ingress-nginx-controller-7d9f8b6c5-x2x9z",
    ]
    assert kube_cluster.names("Pod", "cert-manager") == ["cert-manager-startupapicheck-9qz4m"]
    assert kube_cluster.live("Deployment", "headlamp", "headlamp")["spec"]["replicas"] == 1
    assert story.ran() == [
        ("delete_completed_pods", "cluster/cluster", "succeeded"),
        ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup", "succeeded"),
    ]
    [cleanup] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert cleanup.detail == "deleted 40 of 40 finished pods"
    [suspended] = [a for a in incident.executed_actions if a.action == "suspend_cronjob"]
    assert suspended.inverse == {
        "action": "resume_workload",
        "target": {"kind": "cronjob", "namespace": "trivy-system", "name": "trivy-db-warmup"},
        "params": {"suspend": False},
    }
    labels = {"incident_type": "node_disk_pressure", "environment": "demo"}
    for action in ("delete_completed_pods", "suspend_cronjob"):
        assert story.metric("ops_auto_remediations_total", action=action, **labels) == 1

    # the ladder's contain step runs first: no node action is asked before
    # it has had its 10 minutes (cordon, drain, reboot, replace wait for their steps)
    assert story.events("ladder") == ["step 1/5 contain: opened (waits 10m)"]
    assert story.asked() == set()
    assert story.events("approval_held") == [
        f"{action} waits for its ladder step" for action in LADDER_ASKS
    ]
    assert incident.approval_state == "none"
    # what cannot run here is recommended with the reason, never asked: no
    # evicted pod of a Deployment names a workload to scale to zero, and no
    # shared controller is configured
    assert story.decided("scale_to_zero") == {"recommend"}
    assert story.decided("scale_shared_controller") == {"recommend"}
    assert story.decided("delete_pvc") == {"human_only"}
    assert story.decided("delete_persistent_data") == {"human_only"}
    assert oci_api.writes() == []
    # the round contained the incident: it is not suppressed on top of that
    assert any("suppress_incident not run" in d for d in story.events("action_skipped"))

    # T+5m: the same alerts again, and a new one for the node; the poll looks again
    story.clock.advance(minutes=5)
    story.fire(PRESSURE, EVICTIONS)
    story.fire(FILESYSTEM)
    story.poll()
    assert len(story.writes()) == len(FINISHED) + 1  # nothing new: dedupe and cooldown
    assert story.incident().duplicates_suppressed == 2
    assert any("cooldown" in d for d in story.events("action_skipped"))
    assert story.metric("ops_policy_suppressions_total", reason="cooldown", **labels) >= 1
    assert story.asked() == set()  # the contain step still has its time

    # T+10m: containment did not clear the pressure: the ladder climbs, the
    # cordon now waits for a person; reboot and replace wait for their steps
    assert story.next_step(5) == "step 2/5 ask_cordon: contain did not clear it within 10m"
    assert story.asked() == {("cordon_node", "node/worker-1")}
    [cordon] = [a for a in story.approvals() if a.action == "cordon_node"]
    assert cordon.state == "pending"
    assert "Approval expires in 10m" in cordon.prompt(story.clock.now)
    assert story.incident().approval_state == "pending"
    assert len(story.writes()) == len(FINISHED) + 1  # still nothing new
    assert oci_api.writes() == []

    # T+11m: the kubelet reclaimed space; Prometheus resolves the alerts
    story.clock.advance(minutes=1)
    kube_cluster.add(node("worker-1"))
    story.resolve(PRESSURE, EVICTIONS, FILESYSTEM)
    assert story.incident().state == IncidentState.recovering

    # T+13m: one more eviction on worker-1, after the alerts resolved
    story.clock.advance(minutes=2)
    kube_cluster.add(
        event(
            "image-factory",
            "Evicted",
            "The node was low on resource: ephemeral-storage.",
            involved=("Pod", "scan-job-late"),
            involved_namespace="image-factory",
            host="worker-1",
            last=story.clock.now,
        )
    )

    # T+21m: the quiet period has passed, but not 10 minutes without evictions
    story.clock.advance(minutes=8)
    assert story.sweep() == []
    recovering = story.incident()
    assert recovering.state == IncidentState.recovering
    [looked] = [e for e in recovering.timeline if e.at == story.clock.now]
    assert looked.event == "evidence"
    assert "DiskPressure=True" not in looked.detail and "6 pods evicted" in looked.detail
    assert story.events("exit_criteria")[-1] == "do not hold"

    # T+23m30s: DiskPressure=False, no taint, no eviction for 10 minutes
    story.clock.advance(minutes=2, seconds=30)
    assert story.sweep() == [incident.id]
    resolved = story.incident()
    assert resolved.state == IncidentState.resolved
    assert story.events("exit_criteria")[-1] == "hold"
    assert (
        story.metric("ops_incidents_resolved_total", severity=str(resolved.severity), **labels) == 1
    )
    assert len(story.writes()) == len(FINISHED) + 1
    # the pressure went before the ladder reached the drain, the reboot and the replacement
    assert story.asked() == {("cordon_node", "node/worker-1")}
    assert oci_api.writes() == []
    story.assert_guard_rails()


def test_demo_a_person_approves_the_cordon_after_the_contain_step_and_undoes_it(
    make_story: Any,
    kube_cluster: KubeCluster,
    oci_api: OciApi,  # noqa: F811
) -> None:
    story = under_pressure(make_story, kube_cluster, "demo")
    contained = len(story.writes())  # the contain step's cleanup and suspension
    assert story.asked() == set()

    # T+9m: the contain step still has its time: no node action is asked yet
    story.clock.advance(minutes=9)
    story.poll()
    assert story.asked() == set()
    assert len(story.writes()) == contained

    # T+10m: the pressure persists: the ladder's first approval step asks to cordon
    assert story.next_step(1) == "step 2/5 ask_cordon: contain did not clear it within 10m"
    assert story.asked() == {("cordon_node", "node/worker-1")}
    cordon = runnable_ask(story, "cordon_node")
    assert cordon.target == {"kind": "node", "namespace": "", "name": "worker-1"}
    assert cordon.params == {}
    assert cordon.change == [{"what": "unschedulable", "before": "false", "after": "true"}]
    assert cordon.undo == "uncordon node worker-1"
    assert "escalation ladder step 2 ask_cordon" in cordon.why_now

    # a person approves: kmock sees the cordon of worker-1 and nothing else
    writes = approve(story, cordon)
    assert [write_of(w) for w in writes] == [
        ("PATCH", "/api/v1/nodes/worker-1", {"spec": {"unschedulable": True}})
    ]
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is True
    assert not kube_cluster.live("Node", "worker-2")["spec"].get("unschedulable")
    ran = approved_run(story, cordon)
    assert ran.inverse == {
        "action": "uncordon_node",
        "target": {"kind": "node", "namespace": "", "name": "worker-1"},
        "params": {},
    }
    assert oci_api.writes() == []

    # the space is reclaimed; the person undoes the cordon: worker-1 schedulable again
    _, undone = undo(story, ran)
    assert [write_of(w) for w in undone] == [
        ("PATCH", "/api/v1/nodes/worker-1", {"spec": {"unschedulable": False}})
    ]
    assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is False
    assert len(story.writes()) == contained + 2
    assert oci_api.writes() == []
    story.assert_guard_rails(approved=frozenset({"cordon_node"}))


def test_production_only_deletes_the_finished_pods(
    make_story: Any,
    kube_cluster: KubeCluster,
    oci_api: OciApi,  # noqa: F811
) -> None:
    story = under_pressure(make_story, kube_cluster, "production")

    incident = story.incident()
    assert incident.confidence == "high"
    writes = story.writes()
    assert write_paths(writes, "DELETE") == FINISHED
    assert len(writes) == len(FINISHED)
    assert not kube_cluster.live("CronJob", "trivy-db-warmup", "trivy-system")["spec"]["suspend"]
    assert story.ran() == [("delete_completed_pods", "cluster/cluster", "succeeded")]
    # the contain step's suspension is asked at once; no node action before its step
    suspend = ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup")
    assert story.asked() == {suspend}
    assert story.events("approval_held") == [
        f"{action} waits for its ladder step" for action in LADDER_ASKS
    ]
    assert incident.state == IncidentState.contained

    # T+10m: the pressure persists; the cordon is asked for, nothing more is written
    assert story.next_step(10) == "step 2/5 ask_cordon: contain did not clear it within 10m"
    assert story.asked() == {("cordon_node", "node/worker-1"), suspend}
    assert len(story.writes()) == len(FINISHED)
    assert story.ran() == [("delete_completed_pods", "cluster/cluster", "succeeded")]
    assert oci_api.writes() == []
    story.assert_guard_rails()


def test_low_confidence_executes_nothing(
    make_story: Any,
    kube_cluster: KubeCluster,
    oci_api: OciApi,  # noqa: F811
) -> None:
    # A filesystem alert on worker-1 that the cluster does not corroborate:
    # no DiskPressure, no taint, no evictions, the finished pods elsewhere.
    kube_cluster.add(
        node("worker-1"),
        node("worker-2"),
        cronjob("trivy-db-warmup", "trivy-system", last_schedule=ago(minutes=2)),
        deployment("headlamp", "headlamp"),
        *(
            pod(
                f"trivy-db-warmup-2911{i:02d}-x{i:02d}",
                "trivy-system",
                phase="Succeeded" if i % 2 else "Failed",
                owner=("Job", f"trivy-db-warmup-2911{i:02d}"),
                node_name="worker-2",
            )
            for i in range(40)
        ),
    )
    story: Story = make_story("demo")

    story.fire(FILESYSTEM)

    incident = story.incident()
    assert incident.confidence == "low"
    assert story.writes() == []
    assert story.ran() == []
    assert len(kube_cluster.names("Pod", "trivy-system")) == 40
    # what the robot would do waits for a person instead
    assert story.decisions()[("delete_completed_pods", "cluster/cluster")] == "approval"
    assert all(a.state == "pending" for a in story.approvals())
    assert incident.state == IncidentState.triaged
    assert oci_api.writes() == []
    story.assert_guard_rails()
