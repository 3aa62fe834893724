"""Acting on decisions, end to end through the pipeline as ``build_runtime``
wires it: auto contain runs at once, failures escalate, human-only actions
stay recommendations, and two replicas on one Redis act once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fixtures.alerts import DISK, FILESYSTEM
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import Answer, StubServer
from fixtures.kube import KubeCluster, kube_cluster_fixture, seed_disk_pressure  # noqa: F401
from fixtures.redis_namespace import drop_redis_namespace

from responder.app import build_runtime
from responder.records.alert import WebhookAlert, WebhookPayload
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter, open_store

CONTAIN = frozenset({"delete_completed_pods", "suspend_cronjob", "scale_to_zero"})


def payload(*alerts: Mapping[str, str], status: str = "firing") -> WebhookPayload:
    return WebhookPayload(
        version="4",
        status=status,
        alerts=[
            WebhookAlert(status=status, labels=dict(a), annotations={"summary": a["alertname"]})
            for a in alerts
        ],
    )


def make_runtime(
    executor_stub: StubServer, store_url: str, namespace: str = "robot-sre", **settings: object
) -> Runtime:
    values: dict[str, object] = {"dry_run": False, "action_timeout_seconds": 1.0}
    values.update(settings)
    return build_runtime(
        Settings.model_validate(values),
        store=open_store(store_url, namespace),
        executors=[HttpExecutor(executor_stub, CONTAIN)],
        clock=Clock(),
    )


def only_incident(runtime: Runtime) -> Incident:
    [incident] = runtime.store.list_incidents(IncidentFilter())
    return incident


def notifications(incident: Incident) -> int:
    return sum(1 for a in incident.executed_actions if a.action == "notify_operator")


@pytest.fixture
def runtime(executor_stub: StubServer, tmp_path: Path) -> Iterator[Runtime]:
    built = make_runtime(executor_stub, f"sqlite:///{tmp_path}/state.db")
    try:
        yield built
    finally:
        built.store.close()


def test_auto_contain_runs_at_once_and_contains_the_incident(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    runtime.pipeline.process(payload(DISK, FILESYSTEM))
    incident = only_incident(runtime)
    assert incident.confidence == "high"
    assert applies(executor_stub) == 1
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert (run.result, run.actor) == ("succeeded", "robot")
    assert incident.state == IncidentState.contained
    assert any(e.event == "state:contained" for e in incident.timeline)


def test_low_confidence_incident_runs_no_contain_action(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    runtime.pipeline.process(payload(DISK))
    incident = only_incident(runtime)
    assert incident.confidence == "low"
    assert applies(executor_stub) == 0
    assert incident.state == IncidentState.triaged


def test_failed_contain_escalates_and_notifies_again(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    executor_stub.fail("POST", r"/apply/.*", Answer(500, {}))
    runtime.pipeline.process(payload(DISK, FILESYSTEM))
    incident = only_incident(runtime)
    assert incident.state == IncidentState.escalated
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert run.result == "failed"
    assert notifications(incident) == 2  # opened (both alerts in one turn), escalated
    assert "incident.escalated" in [e.action for e in runtime.store.list_audit()]
    failed = runtime.metrics.registry.get_sample_value(
        "ops_auto_remediations_failed_total",
        {
            "incident_type": "node_disk_pressure",
            "action": "delete_completed_pods",
            "environment": "demo",
        },
    )
    assert failed == 1


def test_backend_that_hangs_never_hangs_the_worker(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    executor_stub.fail("POST", r"/apply/.*", "hang")
    started = time.monotonic()
    runtime.pipeline.process(payload(DISK, FILESYSTEM))
    assert time.monotonic() - started < 5
    incident = only_incident(runtime)
    assert incident.state == IncidentState.escalated
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert "timed out" in run.detail


def test_human_only_actions_stay_recommendations(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    runtime.pipeline.process(payload(DISK, FILESYSTEM))
    incident = only_incident(runtime)
    decisions = {r.action: r.decision for r in incident.recommended_actions}
    assert decisions["delete_pvc"] == "human_only"
    assert decisions["delete_persistent_data"] == "human_only"
    executed = {a.action for a in incident.executed_actions}
    assert not executed & {"delete_pvc", "delete_persistent_data"}
    asked = {a.action for a in runtime.approvals.for_incident(incident.id)}
    assert not asked & {"delete_pvc", "delete_persistent_data"}


def test_dry_run_records_the_plan_and_changes_no_state(
    executor_stub: StubServer, tmp_path: Path
) -> None:
    runtime = make_runtime(executor_stub, f"sqlite:///{tmp_path}/state.db", dry_run=True)
    try:
        runtime.pipeline.process(payload(DISK, FILESYSTEM))
        incident = only_incident(runtime)
    finally:
        runtime.store.close()
    [run] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert run.result == "dry_run"
    assert run.detail.startswith("dry-run: delete_completed_pods on cluster/cluster")
    assert applies(executor_stub) == 0
    assert incident.state == IncidentState.triaged


def test_repeated_decision_inside_the_cooldown_runs_once(
    runtime: Runtime, executor_stub: StubServer
) -> None:
    runtime.pipeline.process(payload(DISK, FILESYSTEM))
    clock = runtime.pipeline.clock
    assert isinstance(clock, Clock)
    clock.advance(5 * 60)
    # another filesystem of the node: a fresh alert on the incident, decided again
    runtime.pipeline.process(payload({**FILESYSTEM, "mountpoint": "/var"}))
    assert applies(executor_stub) == 1
    incident = only_incident(runtime)
    assert any(e.event == "action_skipped" and "cooldown" in e.detail for e in incident.timeline)


def test_two_runtimes_on_one_redis_fed_the_same_alert_act_once(
    executor_stub: StubServer, redis_url: str
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    runtimes = [make_runtime(executor_stub, redis_url, namespace) for _ in range(2)]
    start = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def replica(runtime: Runtime) -> None:
        start.wait()
        try:
            runtime.pipeline.process(payload(DISK, FILESYSTEM))
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=replica, args=(r,)) for r in runtimes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert applies(executor_stub) == 1
        incident = only_incident(runtimes[0])
        runs = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
        assert [r.result for r in runs] == ["succeeded"]
        assert incident.state == IncidentState.contained
    finally:
        for runtime in runtimes:
            runtime.store.close()
        drop_redis_namespace(redis_url, namespace)


# the real Kubernetes executor against the kmock cluster


def kube_runtime(cluster: KubeCluster, store_url: str, namespace: str) -> Runtime:
    return build_runtime(
        Settings(dry_run=False, kubeconfig=str(cluster.kubeconfig), action_timeout_seconds=5.0),
        store=open_store(store_url, namespace),
    )


WORKER_DISK = {**DISK, "node": "worker-1"}
WORKER_FILESYSTEM = {**FILESYSTEM, "instance": "worker-1:9100", "nodename": "worker-1"}


def finished_pod_deletes(cluster: KubeCluster) -> list[str]:
    return [w.path for w in cluster.writes() if w.method == "DELETE" and "/pods/" in w.path]


def test_two_runtimes_on_one_redis_clean_up_the_cluster_once(
    kube_cluster: KubeCluster, redis_url: str
) -> None:
    seed_disk_pressure(kube_cluster)
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    runtimes = [kube_runtime(kube_cluster, redis_url, namespace) for _ in range(2)]
    start = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def replica(runtime: Runtime) -> None:
        start.wait()
        try:
            runtime.pipeline.process(payload(WORKER_DISK, WORKER_FILESYSTEM))
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=replica, args=(r,)) for r in runtimes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        deletes = finished_pod_deletes(kube_cluster)
        assert deletes, "the cleanup never reached the cluster"
        assert len(deletes) == len(set(deletes))  # no pod deleted twice
        incident = only_incident(runtimes[0])
        runs = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
        assert [r.result for r in runs] == ["succeeded"]
        audited = [e for e in runtimes[0].store.list_audit() if e.action.startswith("action.")]
        # each step once: the cleanup and the suspension of the CronJob the evidence named
        assert sorted((e.action, e.after["action"]) for e in audited) == [
            ("action.succeeded", "delete_completed_pods"),
            ("action.succeeded", "suspend_cronjob"),
        ]
        assert incident.state == IncidentState.contained
    finally:
        for runtime in runtimes:
            runtime.store.close()
        drop_redis_namespace(redis_url, namespace)
