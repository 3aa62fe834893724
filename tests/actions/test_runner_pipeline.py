"""Acting on decisions, end to end through the pipeline as ``build_runtime``
wires it: auto contain runs at once, failures escalate, human-only actions
stay recommendations, and two replicas on one Redis act once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fixtures.alerts import DISK, FILESYSTEM
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import Answer, StubServer
from fixtures.kube import KubeCluster, kube_cluster_fixture, seed_disk_pressure  # noqa: F401
from fixtures.rigs import Responder, at_once, shared_redis

from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import Store, open_store

CONTAIN = frozenset({"delete_completed_pods", "suspend_cronjob", "scale_to_zero"})


def contain_rig(executor_stub: StubServer, store: Store, **settings: Any) -> Responder:
    return Responder(store, executors=[HttpExecutor(executor_stub, CONTAIN)], **settings)


def notifications(incident: Incident) -> int:
    return sum(1 for a in incident.executed_actions if a.action == "notify_operator")


@pytest.fixture
def rig(executor_stub: StubServer, tmp_path: Path) -> Iterator[Responder]:
    built = contain_rig(executor_stub, open_store(f"sqlite:///{tmp_path}/state.db"))
    try:
        yield built
    finally:
        built.store.close()


def test_auto_contain_runs_at_once_and_contains_the_incident(
    rig: Responder, executor_stub: StubServer
) -> None:
    rig.fire(DISK, FILESYSTEM)
    incident = rig.only()
    assert incident.confidence == "high"
    assert applies(executor_stub) == 1
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert (run.result, run.actor) == ("succeeded", "robot")
    assert incident.state == IncidentState.contained
    assert any(e.event == "state:contained" for e in incident.timeline)


def test_low_confidence_incident_runs_no_contain_action(
    rig: Responder, executor_stub: StubServer
) -> None:
    rig.fire(DISK)
    incident = rig.only()
    assert incident.confidence == "low"
    assert applies(executor_stub) == 0
    assert incident.state == IncidentState.triaged


def test_failed_contain_escalates_and_notifies_again(
    rig: Responder, executor_stub: StubServer
) -> None:
    executor_stub.fail("POST", r"/apply/.*", Answer(500, {}))
    rig.fire(DISK, FILESYSTEM)
    incident = rig.only()
    assert incident.state == IncidentState.escalated
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert run.result == "failed"
    assert notifications(incident) == 2  # opened (both alerts in one turn), escalated
    assert "incident.escalated" in [e.action for e in rig.store.list_audit()]
    failed = rig.runtime.metrics.registry.get_sample_value(
        "ops_auto_remediations_failed_total",
        {
            "incident_type": "node_disk_pressure",
            "action": "delete_completed_pods",
            "environment": "demo",
        },
    )
    assert failed == 1


def test_backend_that_hangs_never_hangs_the_worker(
    rig: Responder, executor_stub: StubServer
) -> None:
    executor_stub.fail("POST", r"/apply/.*", "hang")
    started = time.monotonic()
    rig.fire(DISK, FILESYSTEM)
    assert time.monotonic() - started < 5
    incident = rig.only()
    assert incident.state == IncidentState.escalated
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert "timed out" in run.detail


def test_human_only_actions_stay_recommendations(rig: Responder, executor_stub: StubServer) -> None:
    rig.fire(DISK, FILESYSTEM)
    incident = rig.only()
    decisions = {r.action: r.decision for r in incident.recommended_actions}
    assert decisions["delete_pvc"] == "human_only"
    assert decisions["delete_persistent_data"] == "human_only"
    executed = {a.action for a in incident.executed_actions}
    assert not executed & {"delete_pvc", "delete_persistent_data"}
    asked = {a.action for a in rig.runtime.approval_requests.for_incident(incident.id)}
    assert not asked & {"delete_pvc", "delete_persistent_data"}


def test_dry_run_records_the_plan_and_changes_no_state(
    executor_stub: StubServer, tmp_path: Path
) -> None:
    rig = contain_rig(executor_stub, open_store(f"sqlite:///{tmp_path}/state.db"), dry_run=True)
    try:
        rig.fire(DISK, FILESYSTEM)
        incident = rig.only()
    finally:
        rig.store.close()
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert run.result == "dry_run"
    assert run.detail.startswith("dry-run: delete_completed_pods on cluster/cluster")
    assert applies(executor_stub) == 0
    assert incident.state == IncidentState.triaged


def test_repeated_decision_inside_the_cooldown_runs_once(
    rig: Responder, executor_stub: StubServer
) -> None:
    rig.fire(DISK, FILESYSTEM)
    rig.clock.advance(5 * 60)
    # another filesystem of the node: a fresh alert on the incident, decided again
    rig.fire({**FILESYSTEM, "mountpoint": "/var"})
    assert applies(executor_stub) == 1
    incident = rig.only()
    assert any(e.event == "action_skipped" and "cooldown" in e.detail for e in incident.timeline)


def test_two_runtimes_on_one_redis_fed_the_same_alert_act_once(
    executor_stub: StubServer, redis_url: str
) -> None:
    with shared_redis(redis_url) as stores:
        replicas = [contain_rig(executor_stub, store) for store in stores]
        at_once(*(partial(r.fire, DISK, FILESYSTEM) for r in replicas))
        assert applies(executor_stub) == 1
        incident = replicas[0].only()
        runs = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
        assert [r.result for r in runs] == ["succeeded"]
        assert incident.state == IncidentState.contained


# the real Kubernetes executor against the kmock cluster


WORKER_DISK = {**DISK, "node": "worker-1"}
WORKER_FILESYSTEM = {**FILESYSTEM, "instance": "worker-1:9100", "nodename": "worker-1"}


def finished_pod_deletes(cluster: KubeCluster) -> list[str]:
    return [w.path for w in cluster.writes() if w.method == "DELETE" and "/pods/" in w.path]


def test_two_runtimes_on_one_redis_clean_up_the_cluster_once(
    kube_cluster: KubeCluster, redis_url: str
) -> None:
    seed_disk_pressure(kube_cluster)
    with shared_redis(redis_url) as stores:
        replicas = [
            Responder(
                store,
                clock=Clock.from_now(),  # kmock's objects are dated from now
                kubeconfig=str(kube_cluster.kubeconfig),
                action_timeout_seconds=5.0,
            )
            for store in stores
        ]
        at_once(*(partial(r.fire, WORKER_DISK, WORKER_FILESYSTEM) for r in replicas))
        deletes = finished_pod_deletes(kube_cluster)
        assert deletes, "the cleanup never reached the cluster"
        assert len(deletes) == len(set(deletes))  # no pod deleted twice
        incident = replicas[0].only()
        runs = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
        assert [r.result for r in runs] == ["succeeded"]
        audited = [e for e in replicas[0].store.list_audit() if e.action.startswith("action.")]
        # each step once: the cleanup and the suspension of the CronJob the evidence named
        assert sorted((e.action, e.after["action"]) for e in audited) == [
            ("action.succeeded", "delete_completed_pods"),
            ("action.succeeded", "suspend_cronjob"),
        ]
        assert incident.state == IncidentState.contained
