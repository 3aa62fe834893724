"""``failover_channel`` as an action: planned, run and audited by the action
runner of a responder wired to the local Slack and Telegram APIs. Its plan
names the failed channel and the alternate; applied, the failed channel's
new messages go to the alternate first; its inverse switches back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fixtures.alerts import DISK, pressure
from fixtures.chatops import ONLY_SLACK, ChatOpsHarness, Make

from responder.actions.executor import Executor
from responder.channels.switch import SWITCHES
from responder.records.action import ActionRequest, Change
from responder.records.target import Target

SLACK = Target(kind="channel", name="slack")


def failover(**params: Any) -> ActionRequest:
    return ActionRequest("failover_channel", SLACK, "inc-chat", dict(params))


def executor_of(harness: ChatOpsHarness) -> Executor:
    found = harness.runtime.executors.get("failover_channel")
    assert found is not None, "build_runtime registers the channel failover"
    return found


def first_message(harness: ChatOpsHarness, node: str) -> list[tuple[str, str]]:
    """Where the first message about ``node``'s incident went, and how."""
    [incident] = [i for i in harness.incidents() if i.resource_scope.name == node]
    [entry] = harness.runtime.chatops.inbox.entries(incident_id=incident.id)
    return [
        (d["channel"], d["result"])
        for d in entry.get("deliveries", [])
        if d["detail"] == "incident"
    ]


@pytest.fixture
def slack_down(make_harness: Make) -> ChatOpsHarness:
    """Notifications routed to Slack only, Slack down, a disk-pressure incident
    fired: the robot's own chatops incident ran failover_channel."""
    harness = make_harness(channels=ONLY_SLACK)
    harness.slack_api.down()
    harness.fire(DISK)
    harness.flush()
    return harness


def test_the_plan_names_the_failed_channel_and_the_alternate(harness: ChatOpsHarness) -> None:
    plan = executor_of(harness).plan(failover())

    assert plan.previous == {"channel": "slack", "routed_to": "slack", "version": 0}
    until = harness.clock() + timedelta(hours=6)
    assert plan.changes == {"channel": "slack", "to": "telegram", "until": until.isoformat()}
    assert plan.diff == (Change("operator channel", "slack", "telegram"),)
    assert plan.summary.startswith("send slack's new messages to telegram (")
    assert harness.runtime.store.get_document(SWITCHES, "slack") is None


def test_a_failover_that_cannot_run_says_why(make_harness: Make) -> None:
    both = executor_of(make_harness())
    with pytest.raises(ValueError, match="one of slack, telegram; not channel/whatsapp"):
        both.plan(ActionRequest("failover_channel", Target(kind="channel", name="whatsapp"), "i"))
    with pytest.raises(ValueError, match=r"no chat channel is down \(slack, telegram deliver\)"):
        both.plan(ActionRequest("failover_channel", Target(kind="channel", name="alternate"), "i"))
    with pytest.raises(ValueError, match="whatsapp is not a chat channel configured here"):
        both.plan(failover(to="whatsapp"))
    alone = executor_of(make_harness(telegram=False))
    with pytest.raises(ValueError, match="no alternate channel to fail slack over to: it is"):
        alone.plan(failover())


def test_a_failover_to_a_channel_that_is_down_too_is_refused(make_harness: Make) -> None:
    harness = make_harness()
    harness.slack_api.down()
    harness.telegram_api.down()
    harness.fire(DISK)
    harness.flush()

    with pytest.raises(ValueError, match="telegram is down too"):
        executor_of(harness).plan(failover())
    # the policy's target when the evidence names none: the first channel down
    anything = ActionRequest("failover_channel", Target(kind="channel", name="alternate"), "i")
    with pytest.raises(ValueError, match="to fail slack over to: telegram is down too"):
        executor_of(harness).plan(anything)


def test_the_robot_fails_a_down_channel_over_through_the_runner(
    slack_down: ChatOpsHarness,
) -> None:
    harness = slack_down
    chatops = harness.incident("chatops_delivery_failure")
    [ran] = [a for a in chatops.executed_actions if a.action == "failover_channel"]
    assert (ran.target, ran.result, ran.actor) == (SLACK.as_dict(), "succeeded", "robot")
    assert ran.inverse == {
        "action": "failover_channel",
        "target": SLACK.as_dict(),
        "params": {"to": "slack"},
    }
    [audited] = [
        e
        for e in harness.runtime.store.list_audit(500, f"incident:{chatops.id}")
        if e.action == "action.succeeded"
    ]
    assert audited.after["action"] == "failover_channel"
    assert audited.after["target"] == SLACK.as_dict()
    assert audited.after["changes"]["to"] == "telegram"
    _, switch = harness.runtime.store.get_document(SWITCHES, "slack") or (0, {})
    assert (switch["to"], switch["incident_id"]) == ("telegram", chatops.id)


def test_after_the_failover_new_messages_reach_the_alternate_first(
    slack_down: ChatOpsHarness,
) -> None:
    harness = slack_down
    attempts = harness.slack_api.attempts()
    sent = len(harness.telegram_api.sent())

    harness.fire(pressure("10.0.10.201"))
    harness.flush()

    assert len(harness.telegram_api.sent()) > sent
    # Telegram first; Slack once (it is known down), so that it is seen coming back
    assert first_message(harness, "10.0.10.201") == [
        ("telegram:-1001234567890", "sent"),
        ("slack:COPS", "failed"),
    ]
    assert harness.slack_api.attempts() > attempts


def test_the_inverse_switches_back_to_the_failed_channel(slack_down: ChatOpsHarness) -> None:
    harness = slack_down
    chatops = harness.incident("chatops_delivery_failure")
    [ran] = [a for a in chatops.executed_actions if a.action == "failover_channel"]
    assert ran.inverse is not None
    undo = ActionRequest(
        ran.inverse["action"],
        Target.from_dict(ran.inverse["target"]),
        chatops.id,
        dict(ran.inverse["params"]),
    )

    plan = executor_of(harness).plan(undo)
    # the same action on the same channel: it waits for the failover's cooldown
    harness.clock.advance(15 * 60 + 1)
    run = harness.runtime.runner.run(chatops, undo, "auto")

    assert plan.diff == (Change("operator channel", "telegram", "slack"),)
    assert run.executed is not None and run.executed.result == "succeeded", run.outcome.detail
    _, switch = harness.runtime.store.get_document(SWITCHES, "slack") or (0, {})
    assert switch["to"] == "slack"
    harness.fire(pressure("10.0.10.201"))
    harness.flush()
    # Slack first again: it fails, and the message fails over as before any switch
    assert first_message(harness, "10.0.10.201") == [
        ("slack:COPS", "failed"),
        ("telegram:-1001234567890", "failover"),
    ]
