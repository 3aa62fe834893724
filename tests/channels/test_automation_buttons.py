"""Gradual automation from chat, on the real Slack and Telegram SDKs against
local APIs: the "resolved" message with Right / False positive, the Pause
automation button with its Resume, and "Approve outside window"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures.alerts import DISK, FILESYSTEM
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.slack_api import interaction, signed

from responder.records.incident import Incident

SURFACES = ["slack", "telegram"]
USERS: dict[str, dict[str, str | int]] = {
    "slack": {"alice": "U0ALICE", "paula": "U0PAULA", "mallory": "U0MALLORY"},
    "telegram": {"alice": 1001, "paula": 2002, "mallory": 3003},
}


def press(harness: ChatOpsHarness, surface: str, subject_id: str, verb: str, who: str) -> Any:
    user = USERS[surface][who]
    if surface == "slack":
        response = harness.press_slack(subject_id, verb, user=str(user))
    else:
        response = harness.press_telegram(subject_id, verb, user_id=int(user))
        asked = harness.telegram_api.called("answerCallbackQuery")[-1].text
        if asked.endswith("type the node name."):  # a disruptive approval's second step
            approval = harness.runtime.approval_requests.get(subject_id)
            assert approval is not None
            harness.write_telegram(approval.target["name"], user_id=int(user))
    assert response.status_code == 200
    harness.flush()
    return response


def told(harness: ChatOpsHarness, surface: str) -> list[str]:
    """What the people who pressed were told (in Telegram: the answers to
    their presses, then the messages that ended their dialogs)."""
    if surface == "slack":
        return [c.text for c in harness.slack_api.ephemeral()]
    api = harness.telegram_api
    answers = [str(c.args["text"]) for c in api.called("answerCallbackQuery")]
    # what a dialog's last step answers comes as a message
    return answers + [c.text for c in api.sent() if c.text.startswith("Robot SRE:")]


def resolved_incident(harness: ChatOpsHarness, *alerts: dict[str, str]) -> Incident:
    """The incident of ``alerts`` announced, then resolved after its quiet period."""
    harness.fire(*alerts)
    harness.flush()
    incident = harness.incident()
    harness.resolve(*alerts)
    harness.clock.advance(3600)  # past the type's quiet period
    assert harness.runtime.scheduler.sweep() == [incident.id]
    harness.flush()
    return incident


def mark_of(harness: ChatOpsHarness, incident_id: str) -> dict[str, Any] | None:
    return harness.runtime.marks.get(incident_id)


def marks_counted(harness: ChatOpsHarness, kind: str) -> float:
    value = harness.runtime.metrics.registry.get_sample_value(
        "ops_false_positives_total",
        {"incident_type": "node_disk_pressure", "environment": "demo", "kind": kind},
    )
    return value or 0.0


def decision(harness: ChatOpsHarness, action: str) -> str:
    [rec] = [r for r in harness.incident().recommended_actions if r.action == action]
    return rec.decision


def active_pauses(harness: ChatOpsHarness) -> list[dict[str, Any]]:
    listed = harness.client.get("/api/v1/automation/pause")
    assert listed.status_code == 200
    pauses: list[dict[str, Any]] = listed.json()["pauses"]
    return pauses


# the resolution announced


def test_resolution_is_a_reply_in_every_thread_with_right_and_false_positive(
    harness: ChatOpsHarness,
) -> None:
    incident = resolved_incident(harness, DISK)
    slack_head = next(c for c in harness.slack_api.posted() if "thread_ts" not in c.args)
    [slack_reply] = [c for c in harness.slack_api.posted() if c.text.startswith("Resolved:")]
    assert slack_reply.args["thread_ts"] == slack_head.answer["ts"]
    assert [b["action_id"] for b in slack_reply.buttons] == ["right", "false_positive"]
    assert "lasted 1h 0m" in slack_reply.section_text
    assert "The robot took no action beyond telling operators." in slack_reply.section_text
    telegram_head = harness.telegram_api.sent()[0]
    [telegram_reply] = [c for c in harness.telegram_api.sent() if c.text.startswith("Resolved:")]
    assert (
        telegram_reply.args["reply_parameters"]["message_id"] == telegram_head.answer["message_id"]
    )
    assert [b["text"] for b in telegram_reply.keyboard] == ["Right", "False positive"]
    assert telegram_reply.text == slack_reply.section_text
    # the heads now say resolved and no longer offer to pause
    [head_edit] = [
        c for c in harness.slack_api.updated() if c.args["ts"] == slack_head.answer["ts"]
    ]
    assert "resolved." in head_edit.section_text and head_edit.buttons == []
    [entry] = harness.runtime.chatops.inbox.entries(incident_id=incident.id)
    assert entry["state"] == "resolved"
    assert entry["events"][-1]["detail"] == slack_reply.section_text


def test_resolution_says_what_the_robot_did_and_would_have_done(harness: ChatOpsHarness) -> None:
    harness.runtime.automation.set_modes(
        [{"incident_type": "node_disk_pressure", "environment": "demo", "mode": "shadow"}],
        harness.runtime.taxonomy.incident_types,
        "alice",
        "test",
    )
    incident = resolved_incident(harness, DISK, FILESYSTEM)
    [reply] = [c for c in harness.telegram_api.sent() if c.text.startswith("Resolved:")]
    assert "The robot would have (shadow): delete completed pods" in reply.text
    assert f"Incident {incident.id} (node_disk_pressure)" in reply.text


# marking from the resolved message


@pytest.mark.parametrize("surface", SURFACES)
def test_right_marks_the_classification_and_the_action_right(
    harness: ChatOpsHarness, surface: str
) -> None:
    incident = resolved_incident(harness, DISK)
    press(harness, surface, incident.id, "right", "alice")
    mark = mark_of(harness, incident.id)
    assert mark is not None
    assert (mark["classification"], mark["action"], mark["marked_by"]) == (
        "right",
        "right",
        "alice",
    )
    assert marks_counted(harness, "classification") == 0
    # every resolved message says who marked it; the buttons stay to correct it
    line = f"Marked by alice via {surface}"
    slack_edits = [c for c in harness.slack_api.updated() if line in c.section_text]
    telegram_edits = [c for c in harness.telegram_api.called("editMessageText") if line in c.text]
    assert slack_edits and telegram_edits
    assert "classification right, action right." in telegram_edits[-1].text
    assert [b["action_id"] for b in slack_edits[-1].buttons] == ["right", "false_positive"]
    assert "incident.mark" in harness.audit_actions(f"incident:{incident.id}")


@pytest.mark.parametrize("surface", SURFACES)
def test_false_positive_marks_the_classification_and_counts(
    harness: ChatOpsHarness, surface: str
) -> None:
    incident = resolved_incident(harness, DISK)
    press(harness, surface, incident.id, "false_positive", "alice")
    mark = mark_of(harness, incident.id)
    assert mark is not None and mark["classification"] == "false_positive"
    assert mark["action"] is None
    assert marks_counted(harness, "classification") == 1
    assert any(
        "classification false positive." in c.section_text for c in harness.slack_api.updated()
    )


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    ("who", "why"),
    [("mallory", "is not an approver"), ("paula", "may not answer approvals in demo")],
)
def test_someone_who_may_not_answer_here_cannot_mark(
    harness: ChatOpsHarness, surface: str, who: str, why: str
) -> None:
    incident = resolved_incident(harness, DISK)
    press(harness, surface, incident.id, "false_positive", who)
    assert mark_of(harness, incident.id) is None
    assert marks_counted(harness, "classification") == 0
    assert any(why in text for text in told(harness, surface))
    assert "chat.press_refused" in harness.audit_actions(f"incident:{incident.id}")


def test_a_slack_mark_with_a_bad_signature_is_refused_with_401(harness: ChatOpsHarness) -> None:
    incident = resolved_incident(harness, DISK)
    body = interaction(harness.slack_value(incident.id, "right"), "right")
    forged = signed(body, secret="not-the-signing-secret")
    response = harness.client.post("/webhooks/slack/interactions", content=body, headers=forged)
    assert response.status_code == 401
    harness.flush()
    assert mark_of(harness, incident.id) is None


def test_a_telegram_mark_with_a_wrong_secret_is_refused_with_401(harness: ChatOpsHarness) -> None:
    incident = resolved_incident(harness, DISK)
    response = harness.press_telegram(incident.id, "right", secret="guessed-secret")
    assert response.status_code == 401
    harness.flush()
    assert mark_of(harness, incident.id) is None


def test_a_mark_button_edited_into_an_approval_is_refused(harness: ChatOpsHarness) -> None:
    incident = resolved_incident(harness, DISK)
    # a real "Right" token sent as if it were an Approve button
    body = interaction(harness.slack_value(incident.id, "right"), "approve")
    response = harness.client.post(
        "/webhooks/slack/interactions", content=body, headers=signed(body)
    )
    assert response.status_code == 400
    assert mark_of(harness, incident.id) is None


# pausing automation from an incident's notification


@pytest.mark.parametrize("surface", SURFACES)
def test_pause_automation_holds_auto_until_resumed(harness: ChatOpsHarness, surface: str) -> None:
    harness.fire(DISK)
    harness.flush()
    incident = harness.incident()
    press(harness, surface, incident.id, "pause", "alice")
    [pause] = active_pauses(harness)
    assert pause["reason"] == f"paused from {surface} by alice on incident {incident.id}"
    assert (pause["environment"], pause["incident_type"]) == ("demo", "node_disk_pressure")
    assert pause["created_by"] == "alice"
    expires = harness.clock.now + timedelta(minutes=60)
    assert pause["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))
    # answered in the thread, with the pause's id and expiry and a Resume button
    [slack_answer] = [c for c in harness.slack_api.posted() if pause["id"] in c.text]
    slack_head = next(c for c in harness.slack_api.posted() if "thread_ts" not in c.args)
    assert slack_answer.args["thread_ts"] == slack_head.answer["ts"]
    assert f"until {expires:%Y-%m-%d %H:%M} UTC" in slack_answer.section_text
    assert [b["action_id"] for b in slack_answer.buttons] == ["resume"]
    [telegram_answer] = [c for c in harness.telegram_api.sent() if pause["id"] in c.text]
    assert [b["text"] for b in telegram_answer.keyboard] == ["Resume"]
    assert "automation.pause" in harness.audit_actions(f"pause:{pause['id']}")
    # the next decision of the incident asks: the corroborating alert makes
    # containment automatic, but not while paused
    harness.fire(FILESYSTEM)
    harness.flush()
    assert decision(harness, "delete_completed_pods") == "approval"
    trace = [d for d in harness.incident().decisions if d["action"] == "delete_completed_pods"]
    assert trace[-1]["policy_decision"] == "auto" and pause["id"] in trace[-1]["reason"]
    # Resume lifts it
    press(harness, surface, pause["id"], "resume", "alice")
    assert active_pauses(harness) == []
    assert "automation.resume" in harness.audit_actions(f"pause:{pause['id']}")
    [resumed] = [c for c in harness.slack_api.updated() if pause["id"] in c.section_text]
    assert f"Resumed by alice via {surface}" in resumed.section_text and resumed.buttons == []
    harness.clock.advance(61)
    harness.runtime.scheduler.poll()
    assert decision(harness, "delete_completed_pods") == "auto"


@pytest.mark.parametrize("surface", SURFACES)
def test_only_an_approver_of_the_environment_may_pause(
    harness: ChatOpsHarness, surface: str
) -> None:
    harness.fire(DISK)
    harness.flush()
    incident = harness.incident()
    press(harness, surface, incident.id, "pause", "mallory")
    press(harness, surface, incident.id, "pause", "paula")
    assert active_pauses(harness) == []
    said = told(harness, surface)
    assert any("is not an approver" in t for t in said)
    assert any("paula may not answer approvals in demo" in t for t in said)


def test_only_an_approver_of_the_environment_may_resume(harness: ChatOpsHarness) -> None:
    harness.fire(DISK)
    harness.flush()
    press(harness, "slack", harness.incident().id, "pause", "alice")
    [pause] = active_pauses(harness)
    press(harness, "telegram", pause["id"], "resume", "paula")
    assert [p["id"] for p in active_pauses(harness)] == [pause["id"]]
    assert any("may not answer approvals in demo" in t for t in told(harness, "telegram"))


def test_a_pause_is_shown_on_the_incidents_notifications(harness: ChatOpsHarness) -> None:
    harness.fire(DISK)
    harness.flush()
    incident = harness.incident()
    head = harness.slack_api.posted()[0]
    assert [b["action_id"] for b in head.buttons] == ["pause"]
    assert "Automation paused" not in head.section_text
    press(harness, "telegram", incident.id, "pause", "alice")
    [pause] = active_pauses(harness)
    until = pause["expires_at"][:16].replace("T", " ")
    harness.clock.advance(60)
    harness.fire({**DISK, "mountpoint": "/var"})  # news: the incident is updated
    harness.flush()
    line = f"Automation paused until {until} UTC."
    slack_head = [c for c in harness.slack_api.updated() if c.args["ts"] == head.answer["ts"]]
    assert line in slack_head[-1].section_text
    assert line in harness.slack_api.posted()[-1].text  # the reply saying what changed
    telegram_head = [
        c
        for c in harness.telegram_api.called("editMessageText")
        if int(c.args["message_id"]) == harness.telegram_api.sent()[0].answer["message_id"]
    ]
    assert line in telegram_head[-1].text
    [entry] = harness.runtime.chatops.inbox.entries(incident_id=incident.id)
    assert line in entry["text"]
    paused_until = datetime.fromisoformat(entry["automation_paused_until"])
    assert paused_until == datetime.fromisoformat(pause["expires_at"])


# action windows


def _window(now: datetime, start_minutes: int, end_minutes: int) -> dict[str, str]:
    """A daily UTC window from ``start_minutes`` to ``end_minutes`` around ``now``."""
    start = now + timedelta(minutes=start_minutes)
    end = now + timedelta(minutes=end_minutes)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": "UTC"}


@pytest.mark.parametrize("surface", SURFACES)
def test_approve_outside_window_runs_where_plain_approve_is_refused(
    make_harness: Make, surface: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    harness = make_harness(
        action_windows=[_window(now, 12 * 60, 13 * 60)],  # half a day away
        # about the override button on an approval, not about when the ladder raises it
        ladder_holds_asks=False,
    )
    harness.clock.now = now
    # a recover action: the windows hold it, no typed node name is asked
    reboot = harness.approval_after(DISK, action="cordon_node")
    prompt = harness.slack_prompt(reboot.id)
    assert [b["action_id"] for b in prompt.buttons] == [
        "approve",
        "deny",
        "approve_outside_window",
    ]
    _, message_id = harness.telegram_data(reboot.id, "approve")
    [keyboard] = [
        c.keyboard for c in harness.telegram_api.sent() if c.answer["message_id"] == message_id
    ]
    assert [b["text"] for b in keyboard] == ["Approve", "Deny", "Approve outside window"]
    press(harness, surface, reboot.id, "approve", "alice")
    assert harness.approval("cordon_node").state == "pending"
    assert harness.applies() == 0
    assert any("outside them now" in t for t in told(harness, surface))
    press(harness, surface, reboot.id, "approve_outside_window", "alice")
    done = harness.approval("cordon_node")
    assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", surface)
    assert harness.applies() == 1
    granted = [e for e in harness.incident().timeline if e.event == "approval_granted"]
    assert "overriding the action windows" in granted[-1].detail


def test_a_window_that_closed_after_the_prompt_offers_the_override(make_harness: Make) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    harness = make_harness(
        action_windows=[_window(now, -1, 5)],
        # about the override button on an approval, not about when the ladder raises it
        ladder_holds_asks=False,
    )
    harness.clock.now = now
    # a recover action: the windows hold it, no typed node name is asked
    reboot = harness.approval_after(DISK, action="cordon_node")
    prompt = harness.slack_prompt(reboot.id)
    assert [b["action_id"] for b in prompt.buttons] == ["approve", "deny"]  # inside the window
    harness.clock.advance(6 * 60)  # the window closed; the request is still open
    press(harness, "slack", reboot.id, "approve", "alice")
    assert harness.approval("cordon_node").state == "pending"
    [offered] = [
        c
        for c in harness.slack_api.updated()
        if "approve_outside_window" in [b["action_id"] for b in c.buttons]
    ]
    assert offered.args["ts"] == prompt.answer["ts"]
    assert offered.section_text == prompt.section_text
    press(harness, "slack", reboot.id, "approve_outside_window", "alice")
    assert harness.approval("cordon_node").state == "executed"
    assert harness.applies() == 1
