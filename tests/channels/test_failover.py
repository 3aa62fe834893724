"""Retries, failover and the ``chatops_delivery_failure`` incident: a channel
that fails is retried with backoff, then the message goes to the alternate
channel, the failure counts in ``ops_chat_delivery_failures_total`` and the
robot opens an incident about its own channels, shown in the in-app inbox."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ONLY_SLACK, ChatOpsHarness, Make, failures

from responder.records.lifecycle import IncidentState


@pytest.fixture
def slack_down(make_harness: Make) -> ChatOpsHarness:
    """Notifications routed to Slack, Slack down, a disk-pressure incident fired."""
    harness = make_harness(channels=ONLY_SLACK)
    harness.slack_api.down()
    harness.fire(DISK)
    harness.flush()
    return harness


def test_slack_down_fails_over_to_telegram_and_opens_an_incident(
    slack_down: ChatOpsHarness,
) -> None:
    harness = slack_down
    heads = [c for c in harness.telegram_api.sent() if c.plain.startswith("Robot SRE: Node Disk")]
    assert len(heads) == 1  # Telegram received it
    assert failures(harness, "slack") >= 1
    chatops = harness.incident("chatops_delivery_failure")
    assert chatops.severity == "warning"  # Telegram still delivers
    assert chatops.facts["channels_down"] == 1
    assert "chat_send_failed:slack" in {s.name for s in chatops.signals}
    listed = harness.client.get("/api/v1/approvals").json()
    [entry] = [n for n in listed["notifications"] if n["incident_id"] == chatops.id]
    assert entry["attention"] is True
    assert entry["text"].startswith("Robot SRE: ChatOps Delivery Failure")
    assert "chat_send_failed:slack" in entry["text"]
    actions = harness.audit_actions()
    assert {"chat.delivery_failed", "chat.failover", "incident.open"} <= set(actions)


def test_a_failed_send_is_retried_with_backoff_then_fails_over(slack_down: ChatOpsHarness) -> None:
    harness = slack_down
    messages = failures(harness, "slack")
    assert messages > 1
    # the first message: retry_attempts (3); once Slack is known to be down,
    # one probe per message before it fails over
    assert harness.slack_api.attempts() == 3 + (messages - 1)
    retried = harness.runtime.metrics.registry.get_sample_value(
        "ops_chat_delivery_retries_total", {"channel": "slack"}
    )
    assert retried == 2


def test_a_transient_failure_is_retried_and_delivered(make_harness: Any) -> None:
    harness: ChatOpsHarness = make_harness(channels=ONLY_SLACK)
    assert harness.slack is not None and harness.telegram is not None
    harness.slack_api.flaky(2)
    harness.fire(DISK)
    harness.flush()
    assert harness.slack_api.posted()[0].text.startswith("Robot SRE: Node Disk Pressure")
    assert failures(harness, "slack") == 0
    assert harness.telegram_api.sent() == []
    assert harness.incidents("chatops_delivery_failure") == []


def test_an_error_that_will_not_pass_is_not_retried(make_harness: Any) -> None:
    harness: ChatOpsHarness = make_harness(channels=ONLY_SLACK)
    assert harness.slack is not None
    harness.slack_api.fail_with("channel_not_found")
    harness.fire(DISK)
    harness.flush()
    assert harness.slack_api.attempts() == failures(harness, "slack")  # one attempt each


def test_every_channel_down_during_an_active_incident_is_critical(make_harness: Any) -> None:
    harness: ChatOpsHarness = make_harness()
    assert harness.slack is not None and harness.telegram is not None
    harness.slack_api.down()
    harness.telegram_api.down()
    harness.fire(DISK)
    harness.flush()
    chatops = harness.incident("chatops_delivery_failure")
    assert chatops.facts["all_channels_down"] is True
    assert chatops.facts["active_incident"] is True
    assert chatops.severity == "critical"
    assert failures(harness, "slack") >= 1 and failures(harness, "telegram") >= 1
    assert "chat.undelivered" in harness.audit_actions()
    # the in-app inbox still has everything: the incident and the alarm about the channels
    listed = harness.client.get("/api/v1/approvals").json()
    types = {n["incident_type"] for n in listed["notifications"]}
    assert {"node_disk_pressure", "chatops_delivery_failure"} <= types
    assert listed["pending"] >= 1


def test_a_channel_that_delivers_again_resolves_its_alert(slack_down: ChatOpsHarness) -> None:
    harness = slack_down
    # contained: the robot switched Slack's messages to Telegram (failover_channel)
    assert harness.incident("chatops_delivery_failure").state == IncidentState.contained
    harness.slack_api.up()
    harness.clock.advance(60)
    harness.fire({**DISK, "mountpoint": "/var"})
    harness.flush()
    chatops = harness.incident("chatops_delivery_failure")
    assert chatops.state == IncidentState.recovering
    assert chatops.firing_alerts == 0


def test_without_chat_channels_the_inbox_is_the_channel(make_harness: Any) -> None:
    harness: ChatOpsHarness = make_harness(slack=False, telegram=False)
    harness.fire(DISK)
    assert harness.runtime.chatops.chat_channels == ()
    listed = harness.client.get("/api/v1/approvals").json()
    assert listed["channels"] == ["in_app"]
    [entry] = listed["notifications"]
    assert entry["text"].startswith("Robot SRE: Node Disk Pressure on node 10.0.10.202")
    assert {e["event"] for e in entry["events"]} == {"opened", "approval_requested"}
    # the reboot is asked when the incident climbs to its ladder step: past
    # the contain step's 10 minutes, then the cordon and drain steps' 10 minutes
    assert not any(a["action"] == "reboot_worker" for a in listed["approvals"])
    for _ in range(3):
        harness.clock.advance(10 * 60 + 1)
        harness.runtime.scheduler.poll()
    ladder = [e.detail for e in harness.incident().timeline if e.event == "ladder"]
    assert ladder[-1] == "step 4/5 ask_reboot: ask_drain did not clear it within 10m"
    listed = harness.client.get("/api/v1/approvals").json()
    [entry] = listed["notifications"]
    assert entry["text"].startswith("Robot SRE: Node Disk Pressure on node 10.0.10.202")
    events = [e["event"] for e in entry["events"]]
    climbs = [e["detail"] for e in entry["events"] if e["event"] == "climbed"]
    assert len(climbs) == 3
    assert "climbed its escalation ladder: step 4/5 ask_reboot" in climbs[-1]
    assert "; now: Reboot worker" in climbs[-1]
    assert set(events) == {"opened", "approval_requested", "climbed"}
    assert any(
        a["action"] == "reboot_worker" and a["state"] == "pending" for a in listed["approvals"]
    )
    slack = harness.client.post("/webhooks/slack/interactions", content=b"payload=%7B%7D")
    assert slack.status_code == 404
