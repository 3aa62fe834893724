"""Approval requests: what an ``approval`` decision leaves behind (spec
section 14), one pending request per (incident, action, target), stored as
versioned documents changed by compare-and-set."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta

import pytest
from fixtures.alerts import DISK, payload
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor
from fixtures.http_stub import StubServer
from fixtures.rigs import Responder

from responder.approvals.requests import COLLECTION, ApprovalRequests
from responder.records.approval import ApprovalError, ApprovalRequest
from responder.records.incident import Incident
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter, Store

NODE = {"kind": "node", "namespace": "", "name": "10.0.10.202"}
NODE_ACTIONS = frozenset({"cordon_node", "drain_node", "reboot_worker", "replace_worker"})


def fire(runtime: Runtime, *alerts: Mapping[str, str]) -> None:
    runtime.pipeline.process(payload(*alerts))


@pytest.fixture
def runtime(store: Store, executor_stub: StubServer) -> Runtime:
    return Responder(
        store,
        # about approval requests' content and lifecycle, not about when the
        # ladder raises them
        settings=Settings(dry_run=False, ladder_holds_asks=False),
        executors=[HttpExecutor(executor_stub, NODE_ACTIONS)],
    ).runtime


def book(runtime: Runtime) -> ApprovalRequests:
    return runtime.approval_requests


def incident(runtime: Runtime) -> Incident:
    [found] = runtime.store.list_incidents(IncidentFilter())
    return found


def request_for(runtime: Runtime, action: str) -> ApprovalRequest:
    [found] = [a for a in book(runtime).for_incident(incident(runtime).id) if a.action == action]
    return found


def clock(runtime: Runtime) -> Clock:
    found = runtime.pipeline.clock
    assert isinstance(found, Clock)
    return found


def test_approval_decisions_become_pending_requests(runtime: Runtime) -> None:
    fire(runtime, DISK)
    asked = sorted(a.action for a in book(runtime).for_incident(incident(runtime).id))
    # the node actions of node_disk_pressure that need a person; the contain
    # actions wait for one too while confidence is low
    assert {"cordon_node", "reboot_worker", "replace_worker", "drain_node"} <= set(asked)
    assert "scale_shared_controller" not in asked  # no target known: stays a recommendation
    shown = {r.action: r for r in incident(runtime).recommended_actions}
    # no cluster to plan it on here: recommended with the reason, not asked
    assert "delete_completed_pods" not in asked
    assert shown["delete_completed_pods"].decision == "recommend"
    assert "no Kubernetes cluster is configured" in shown["delete_completed_pods"].reason


def test_request_states_every_element_of_section_14(runtime: Runtime) -> None:
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    assert reboot.action == "reboot_worker"
    assert reboot.target == NODE
    assert reboot.why_now.startswith("node disk pressure on 10.0.10.202 for 0m")
    assert reboot.expected_impact == "Pods on that node will reschedule."
    assert reboot.rollback == "Replace the worker from the node pool if the reboot does not help."
    assert reboot.expires_at - reboot.requested_at == timedelta(minutes=10)
    assert reboot.state == "pending"


def test_prompt_reads_like_the_spec_example(runtime: Runtime) -> None:
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    prompt = reboot.prompt(reboot.requested_at)
    assert prompt.startswith("Robot SRE requests approval: reboot worker 10.0.10.202. Reason: ")
    assert "Expected impact: Pods on that node will reschedule." in prompt
    assert prompt.endswith("Approval expires in 10m.")


def test_request_counts_in_approvals_requested_total(runtime: Runtime) -> None:
    fire(runtime, DISK)
    value = runtime.metrics.registry.get_sample_value(
        "ops_approvals_requested_total",
        {"incident_type": "node_disk_pressure", "action": "reboot_worker", "environment": "demo"},
    )
    assert value == 1


def test_incident_shows_a_pending_approval_state(runtime: Runtime) -> None:
    fire(runtime, DISK)
    assert incident(runtime).approval_state == "pending"
    assert any(e.event == "approval_requested" for e in incident(runtime).timeline)


def test_pending_request_is_not_repeated(runtime: Runtime) -> None:
    fire(runtime, DISK)
    clock(runtime).advance(5 * 60)
    fire(runtime, {**DISK, "mountpoint": "/var"})  # a fresh alert: decided again
    runtime.scheduler.poll()
    reboots = [
        a for a in book(runtime).for_incident(incident(runtime).id) if a.action == "reboot_worker"
    ]
    assert len(reboots) == 1


def test_expired_request_is_asked_again_when_decided_again(runtime: Runtime) -> None:
    fire(runtime, DISK)
    first = request_for(runtime, "reboot_worker")
    clock(runtime).advance(11 * 60)
    runtime.scheduler.poll()
    reboots = [
        a for a in book(runtime).for_incident(incident(runtime).id) if a.action == "reboot_worker"
    ]
    assert [a.state_at(clock(runtime)()) for a in reboots] == ["expired", "pending"]
    assert reboots[0].id == first.id
    assert "for 11m" in reboots[1].why_now


def test_denied_request_is_not_asked_again_for_the_incident(runtime: Runtime) -> None:
    fire(runtime, DISK)
    book(runtime).deny(request_for(runtime, "reboot_worker").id, "alice", "not now")
    clock(runtime).advance(11 * 60)
    runtime.scheduler.poll()
    reboots = [
        a for a in book(runtime).for_incident(incident(runtime).id) if a.action == "reboot_worker"
    ]
    assert [a.state for a in reboots] == ["denied"]


def test_grant_is_a_compare_and_set_with_history(runtime: Runtime) -> None:
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    book(runtime).grant(reboot.id, "alice")
    with pytest.raises(ApprovalError, match="approved, not pending"):
        book(runtime).deny(reboot.id, "bob")
    history = runtime.store.document_history(COLLECTION, reboot.id)
    assert [doc["state"] for _, doc in history] == ["pending", "approved"]
    assert history[-1][1]["decided_by"] == "alice"


def test_concurrent_decisions_on_one_request_have_one_winner(runtime: Runtime) -> None:
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    start = threading.Barrier(6)
    won: list[str] = []

    def decide(actor: str) -> None:
        start.wait()
        try:
            if actor.startswith("grant"):
                book(runtime).grant(reboot.id, actor)
            else:
                book(runtime).deny(reboot.id, actor)
            won.append(actor)
        except ApprovalError:
            pass

    threads = [
        threading.Thread(target=decide, args=(f"{kind}-{i}",))
        for i in range(3)
        for kind in ("grant", "deny")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(won) == 1
    final = book(runtime).get(reboot.id)
    assert final is not None and final.decided_by == won[0]


def test_expiry_follows_the_setting(store: Store, executor_stub: StubServer) -> None:
    # about approval expiry, not about when the ladder raises the asks
    settings = Settings(approval_expiry_seconds=120, ladder_holds_asks=False)
    executors = [HttpExecutor(executor_stub, NODE_ACTIONS)]
    runtime = Responder(store, settings=settings, executors=executors).runtime
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    assert reboot.expires_at - reboot.requested_at == timedelta(minutes=2)


def test_an_expired_request_cannot_be_granted(runtime: Runtime) -> None:
    fire(runtime, DISK)
    reboot = request_for(runtime, "reboot_worker")
    clock(runtime).advance(10 * 60)
    with pytest.raises(ApprovalError, match="expired"):
        book(runtime).grant(reboot.id, "alice")
    book(runtime).expire(reboot.id)
    found = book(runtime).get(reboot.id)
    assert found is not None and found.state == "expired"
