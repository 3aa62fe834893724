"""Answering approval requests in the in-app inbox (``/api/v1/approvals``):
approver tokens, at-most-once execution, expiry, re-deciding on the current
evidence before acting, denials, counters and the audit log. No chat
channel is configured here: the inbox is the channel."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ALICE_TOKEN, PAULA_TOKEN, ChatOpsHarness

from responder.records.lifecycle import IncidentState
from responder.store import Store

GRANTED = {"incident_type": "node_disk_pressure", "action": "reboot_worker", "environment": "demo"}


@pytest.fixture
def inbox(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatOpsHarness]:
    # about answering approvals, not about when the ladder raises them
    harness = ChatOpsHarness(store, monkeypatch, None, None, ladder_holds_asks=False)
    try:
        yield harness
    finally:
        harness.close()


def test_inbox_lists_requests_with_the_prompt_and_how_to_answer(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    listed = inbox.client.get("/api/v1/approvals", params={"state": "pending"}).json()
    [reboot] = [a for a in listed["approvals"] if a["action"] == "reboot_worker"]
    assert reboot["prompt"].startswith("Robot SRE requests approval: reboot worker 10.0.10.202.")
    assert reboot["answer"] == {
        "approve": f"/api/v1/approvals/{reboot['id']}/approve",
        "deny": f"/api/v1/approvals/{reboot['id']}/deny",
    }
    assert listed["pending"] == len(listed["approvals"])
    assert inbox.client.get("/api/v1/approvals", params={"state": "nope"}).status_code == 400


def test_answering_needs_an_approvers_token(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    missing = inbox.inbox_answer(reboot.id, "approve", token=None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert inbox.inbox_answer(reboot.id, "approve", token="x" * 34).status_code == 401
    other_environment = inbox.inbox_answer(reboot.id, "approve", token=PAULA_TOKEN)
    assert other_environment.status_code == 403
    assert "paula may not answer approvals in demo" in other_environment.json()["detail"]
    assert inbox.approval("reboot_worker").state == "pending"
    assert inbox.applies() == 0


def test_approve_runs_the_action_through_the_runner(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    response = inbox.inbox_answer(reboot.id, "approve")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "executed"
    assert body["approval"]["state"] == "executed"
    assert (body["approval"]["decided_by"], body["approval"]["decided_via"]) == ("alice", "in_app")
    assert inbox.applies() == 1
    incident = inbox.incident()
    [run] = [a for a in incident.executed_actions if a.action == "reboot_worker"]
    assert (run.approval_id, run.actor, run.result) == (reboot.id, "alice", "succeeded")
    assert incident.state == IncidentState.contained
    events = [e.event for e in incident.timeline]
    assert "approval_granted" in events
    metrics = inbox.runtime.metrics.registry
    assert metrics.get_sample_value("ops_approvals_granted_total", GRANTED) == 1


def test_concurrent_approvals_execute_once(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    start = threading.Barrier(5)
    results: list[str] = []

    def approve() -> None:
        start.wait()
        results.append(inbox.inbox_answer(reboot.id, "approve").json()["result"])

    threads = [threading.Thread(target=approve) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["already_answered"] * 4 + ["executed"]
    assert inbox.applies() == 1
    history = [
        doc["state"] for _, doc in inbox.runtime.store.document_history("approvals", reboot.id)
    ]
    assert history == ["pending", "approved", "executed"]


def test_an_expired_request_cannot_execute(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    inbox.clock.advance(10 * 60)
    response = inbox.inbox_answer(reboot.id, "approve")
    assert response.status_code == 409
    assert response.json()["result"] == "expired"
    assert inbox.approval("reboot_worker").state == "expired"
    assert inbox.applies() == 0
    actions = inbox.audit_actions(f"approval:{reboot.id}")
    assert {"approval.expired", "approval.answer_refused"} <= set(actions)


def test_a_resolved_incident_supersedes_the_request(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    inbox.resolve(DISK)
    response = inbox.inbox_answer(reboot.id, "approve")
    assert response.status_code == 409
    body = response.json()
    assert body["result"] == "superseded"
    assert "the incident is recovering" in body["detail"]
    superseded = inbox.approval("reboot_worker")
    assert (superseded.state, superseded.decided_by) == ("superseded", "alice")
    assert inbox.applies() == 0
    assert any(e.event == "approval_superseded" for e in inbox.incident().timeline)


def test_a_changed_decision_supersedes_the_request(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    inbox.runtime.rules.create(
        {
            "id": "no-reboots",
            "name": "no reboots in demo",
            "domain": "infrastructure",
            "incident_type": "node_disk_pressure",
            "owner": "alice",
            "allowed_action_profile": {"reboot_worker": "off"},
        },
        "alice",
        "test",
    )
    response = inbox.inbox_answer(reboot.id, "approve")
    assert response.status_code == 409
    assert (
        "the decision changed: reboot_worker on node//10.0.10.202 is now off"
        in (response.json()["detail"])
    )
    assert inbox.applies() == 0
    assert inbox.approval("reboot_worker").state == "superseded"


def test_a_denial_is_kept_counted_and_not_asked_again(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    response = inbox.client.post(
        f"/api/v1/approvals/{reboot.id}/deny",
        headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
        json={"note": "maintenance window tonight"},
    )
    assert response.status_code == 200
    assert response.json()["result"] == "denied"
    denied = inbox.approval("reboot_worker")
    assert (denied.state, denied.decision_note) == ("denied", "maintenance window tonight")
    inbox.clock.advance(11 * 60)
    inbox.runtime.scheduler.poll()
    assert inbox.approval("reboot_worker").id == reboot.id  # not asked again
    registry = inbox.runtime.metrics.registry
    assert registry.get_sample_value("ops_approvals_denied_total", GRANTED) == 1
    assert (
        registry.get_sample_value(
            "ops_approval_answers_total", {"via": "in_app", "result": "denied"}
        )
        == 1
    )
    second = inbox.inbox_answer(reboot.id, "approve")
    assert second.status_code == 409 and "denied by alice via in_app" in second.json()["detail"]


def test_every_outcome_is_in_the_audit_log(inbox: ChatOpsHarness) -> None:
    inbox.fire(DISK)
    inbox.inbox_answer(inbox.approval("reboot_worker").id, "approve")
    inbox.inbox_answer(inbox.approval("replace_worker").id, "deny")
    inbox.inbox_answer(inbox.approval("drain_node").id, "approve", token=PAULA_TOKEN)
    inbox.clock.advance(10 * 60)
    inbox.inbox_answer(inbox.approval("cordon_node").id, "approve")
    actions = set(inbox.audit_actions())
    assert {
        "approval.request",
        "approval.approved",
        "approval.executed",
        "action.succeeded",
        "approval.denied",
        "approval.expired",
        "approval.answer_refused",
    } <= actions


def test_an_unknown_request_is_404(inbox: ChatOpsHarness) -> None:
    response = inbox.inbox_answer("0000000000000000", "approve")
    assert response.status_code == 404


def test_expiry_can_be_set_per_action(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # about approval expiry, not about when the ladder raises the asks
    harness = ChatOpsHarness(
        store,
        monkeypatch,
        None,
        None,
        approval_expiry_per_action={"reboot_worker": 120},
        ladder_holds_asks=False,
    )
    try:
        harness.fire(DISK)
        reboot = harness.approval("reboot_worker")
        cordon = harness.approval("cordon_node")
        assert reboot.expires_at - reboot.requested_at == timedelta(minutes=2)
        assert cordon.expires_at - cordon.requested_at == timedelta(minutes=10)
        assert reboot.prompt(reboot.requested_at).endswith("Approval expires in 2m.")
    finally:
        harness.close()


def test_accounts_with_the_approver_role_may_answer(inbox: ChatOpsHarness) -> None:
    from responder.accounts.models import Role

    accounts = inbox.runtime.accounts
    assert accounts is not None
    _, viewer = accounts.tokens.create("dashboards", Role.viewer, (), "admin", "test")
    _, approver = accounts.tokens.create("on-call", Role.approver, (), "admin", "test")
    inbox.fire(DISK)
    reboot = inbox.approval("reboot_worker")
    # accounts exist: the inbox is no longer open to anyone
    assert inbox.client.get("/api/v1/approvals").status_code == 401
    listed = inbox.client.get("/api/v1/approvals", headers={"Authorization": f"Bearer {viewer}"})
    assert listed.status_code == 200
    assert inbox.inbox_answer(reboot.id, "approve", token=viewer).status_code == 401
    answered = inbox.inbox_answer(reboot.id, "approve", token=approver)
    assert answered.status_code == 200, answered.text
    assert answered.json()["approval"]["decided_by"] == "token/on-call"
