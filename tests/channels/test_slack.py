"""Slack through the real ``slack_sdk`` against a local Web API: Block Kit
approval requests, incident threads, signed interactions, approvers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.slack_api import interaction, signed

from responder.channels.slack import verify_signature


@pytest.fixture
def harness(make_harness: Make) -> ChatOpsHarness:
    # about answering approvals in Slack, not about when the ladder raises them
    return make_harness(ladder_holds_asks=False)


def test_approval_request_is_block_kit_with_approve_and_deny(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    call = harness.slack_prompt(reboot.id)
    assert [b["action_id"] for b in call.buttons] == ["approve", "deny"]
    assert [b["style"] for b in call.buttons] == ["primary", "danger"]
    assert call.section_text.startswith(
        "Robot SRE requests approval: reboot worker 10.0.10.202. Reason: "
    )
    # the button carries neither the action nor the target
    value = harness.slack_value(reboot.id, "approve")
    assert "reboot" not in value and "10.0.10.202" not in value


def test_prompt_states_all_six_elements_of_section_14(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    call = harness.slack_prompt(reboot.id)
    text = call.section_text
    assert "reboot worker" in text  # action
    assert "10.0.10.202" in text  # target
    assert "Reason: node disk pressure on 10.0.10.202 for 0m" in text  # why now
    assert "Evidence: 1 firing alert(s): KubeNodePressure" in text  # what triggered it
    assert "Expected impact: Pods on that node will reschedule." in text
    assert "Rollback/fallback: Replace the worker from the node pool" in text
    assert "Approval expires in 10m." in text


def test_incident_notifications_thread_under_one_message(harness: ChatOpsHarness) -> None:
    harness.fire(DISK)
    harness.flush()
    slack = harness.slack
    assert slack is not None
    [head] = [c for c in slack.posted() if "thread_ts" not in c.args]
    assert head.text.startswith("Robot SRE: Node Disk Pressure on node 10.0.10.202")
    # every approval request is a reply in the incident's thread
    replies = [c for c in slack.posted() if c.args.get("thread_ts") == head.answer["ts"]]
    assert replies and all(c.buttons for c in replies)
    harness.clock.advance(60)
    harness.fire({**DISK, "mountpoint": "/var"})  # news: the incident is updated
    harness.flush()
    heads = [c for c in slack.posted() if "thread_ts" not in c.args]
    assert heads == [head]  # not repeated
    update = slack.posted()[-1]
    assert update.args["thread_ts"] == head.answer["ts"]
    assert update.text.startswith("Incident updated: triaged")
    edits = [c for c in slack.updated() if c.args["ts"] == head.answer["ts"]]
    assert edits and "(warning, demo) updated." in edits[-1].section_text


def test_signed_approve_runs_the_action_and_edits_the_message(harness: ChatOpsHarness) -> None:
    cordon = harness.approval_after(DISK, action="cordon_node")
    response = harness.press_slack(cordon.id, "approve")
    assert response.status_code == 200
    harness.flush()
    assert harness.applies() == 1
    done = harness.approval("cordon_node")
    assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", "slack")
    [edit] = [c for c in harness.slack_api.updated() if "Approved by alice via slack" in c.text]
    assert edit.buttons == []  # answered: no buttons any more
    assert "cordon node 10.0.10.202" in edit.section_text
    actions = harness.audit_actions()
    assert {"approval.approved", "approval.executed", "action.succeeded"} <= set(actions)


def test_a_disruptive_approval_pressed_in_slack_waits_for_the_typed_node(
    harness: ChatOpsHarness,
) -> None:
    reboot = harness.approval_after(DISK)
    assert harness.press_slack(reboot.id, "approve").status_code == 200
    harness.flush()
    assert harness.applies() == 0
    assert harness.approval("reboot_worker").state == "pending"
    told = [c.text for c in harness.slack_api.called("chat.postEphemeral")]
    assert any(f"/robot-sre approve {reboot.id} NODE-NAME" in text for text in told), told


def test_deny_from_slack_is_kept_and_not_asked_again(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    assert harness.press_slack(reboot.id, "deny").status_code == 200
    harness.flush()
    denied = harness.approval("reboot_worker")
    assert (denied.state, denied.decided_by, denied.decided_via) == ("denied", "alice", "slack")
    assert harness.applies() == 0
    assert any("Denied by alice via slack" in c.text for c in harness.slack_api.updated())
    harness.clock.advance(11 * 60)
    harness.runtime.scheduler.poll()
    assert harness.approval("reboot_worker").id == reboot.id  # the only reboot request
    metrics = harness.runtime.metrics.registry
    labels = {
        "incident_type": "node_disk_pressure",
        "action": "reboot_worker",
        "environment": "demo",
    }
    assert metrics.get_sample_value("ops_approvals_denied_total", labels) == 1
    assert "approval.denied" in harness.audit_actions()


def forged(body: bytes) -> dict[str, str]:
    return signed(body, secret="not-the-signing-secret")


def stale(body: bytes) -> dict[str, str]:
    return signed(body, timestamp=int(time.time()) - 6 * 60)  # correctly signed, 6 min ago


@pytest.mark.parametrize(
    ("headers_of", "error"),
    [(forged, "does not verify"), (stale, "stale")],
    ids=["forged", "stale"],
)
def test_a_forged_or_stale_signature_is_refused_with_401(
    harness: ChatOpsHarness, headers_of: Callable[[bytes], dict[str, str]], error: str
) -> None:
    reboot = harness.approval_after(DISK)
    body = interaction(harness.slack_value(reboot.id, "approve"), "approve")
    response = harness.client.post(
        "/webhooks/slack/interactions", content=body, headers=headers_of(body)
    )
    assert response.status_code == 401
    assert error in response.json()["error"]
    assert harness.approval("reboot_worker").state == "pending"
    assert harness.applies() == 0
    assert "chat.callback_rejected" in harness.audit_actions()


def test_unsigned_or_altered_body_is_refused(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    body = interaction(harness.slack_value(reboot.id, "approve"), "approve")
    bare = harness.client.post("/webhooks/slack/interactions", content=body)
    assert bare.status_code == 401
    other = interaction(harness.slack_value(reboot.id, "approve"), "approve", user="U0MALLORY")
    swapped = harness.client.post(
        "/webhooks/slack/interactions", content=other, headers=signed(body)
    )
    assert swapped.status_code == 401
    assert harness.approval("reboot_worker").state == "pending"


def test_user_who_is_no_approver_cannot_approve(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    assert harness.press_slack(reboot.id, "approve", user="U0MALLORY").status_code == 200
    harness.flush()
    assert harness.approval("reboot_worker").state == "pending"
    assert harness.applies() == 0
    [told] = harness.slack_api.ephemeral()
    assert told.args["user"] == "U0MALLORY" and "not an approver" in told.text
    refused = harness.runtime.store.list_audit(10, f"approval:{reboot.id}")
    assert refused[0].action == "approval.answer_refused"
    assert refused[0].actor == "slack user U0MALLORY"


def test_approver_of_another_environment_cannot_approve(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_slack(reboot.id, "approve", user="U0PAULA")  # production only
    harness.flush()
    assert harness.approval("reboot_worker").state == "pending"
    assert "may not answer approvals in demo" in harness.slack_api.ephemeral()[0].text


def test_double_press_executes_once(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK, action="cordon_node")
    start = threading.Barrier(4)
    codes: list[int] = []

    def press() -> None:
        start.wait()
        codes.append(harness.press_slack(reboot.id, "approve").status_code)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    harness.flush()
    assert codes == [200] * 4
    assert harness.applies() == 1
    assert harness.approval("cordon_node").state == "executed"
    actions = harness.audit_actions(f"approval:{reboot.id}")
    assert actions.count("approval.approved") == 1 and actions.count("approval.executed") == 1
    assert actions.count("approval.answer_refused") == 3


def test_signature_check_follows_slacks_recipe() -> None:
    body = b"payload=%7B%7D"
    headers = {
        k.lower(): v for k, v in signed(body, secret="s3cret", timestamp=1_700_000_000).items()
    }
    verify_signature("s3cret", body, headers, now=1_700_000_000 + 299)


def test_an_expired_request_cannot_be_approved_from_slack(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.clock.advance(10 * 60 + 1)
    assert harness.press_slack(reboot.id, "approve").status_code == 200
    harness.flush()
    assert harness.approval("reboot_worker").state == "expired"
    assert harness.applies() == 0
    [told] = harness.slack_api.ephemeral()
    assert f"approval {reboot.id} expired" in told.text
    assert any("Expired unanswered" in c.text for c in harness.slack_api.updated())
