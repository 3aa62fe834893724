"""chatops_delivery_failure end to end, with the local Slack and Telegram
APIs the real SDKs talk to. Notifications are routed to Slack only; Slack
answers 503. The robot opens its own incident and, at the ladder's first
step, fails Slack over to Telegram through the action path (planned, run
and audited by the runner: an automatic containment, safe even in
production). The ladder's approval step (``ask_config``: ``patch_config``)
is reached but asks for nothing: no evidence can name the ConfigMap key of
a chat channel's configuration, let alone its new value (a bot token only a
person can issue), so it is recommended with that reason. The undo is the
recorded inverse of the failover, approved and run: Slack's messages go to
Slack first again. Nothing is written to the cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.chatops import slack_api, telegram_api  # noqa: F401  (fixtures)
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
)
from fixtures.slack_api import BOT_TOKEN as SLACK_TOKEN
from fixtures.slack_api import SIGNING_SECRET, SlackApi
from fixtures.telegram_api import BOT_TOKEN as TELEGRAM_TOKEN
from fixtures.telegram_api import CHAT_ID, WEBHOOK_SECRET, TelegramApi
from stories.approving import undo
from stories.storyline import Story

from responder.channels.switch import SWITCHES
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import IncidentFilter

SPIKE = {
    "alertname": "HTTPErrorRateHigh",
    "taxonomy_type": "http_error_rate_spike",
    "namespace": "shop",
    "ingress": "checkout",
    "severity": "warning",
}
SLACK = {"kind": "channel", "namespace": "", "name": "slack"}


def chat_settings(slack: SlackApi, telegram: TelegramApi) -> dict[str, Any]:
    """Slack and Telegram, every notification routed to Slack only."""
    return {
        "channels": {
            "slack": {"channel": "COPS", "api_url": slack.url, "timeout_seconds": 2},
            "telegram": {"chat_id": CHAT_ID, "api_url": telegram.url, "timeout_seconds": 2},
            "routes": [{"channels": ["slack"]}],
            "retry_attempts": 2,
            "retry_backoff_seconds": 0.01,
        },
        "slack_bot_token": SLACK_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_webhook_secret": WEBHOOK_SECRET,
    }


def chatops_incident(story: Story) -> Incident:
    [found] = story.runtime.store.list_incidents(
        IncidentFilter(incident_type="chatops_delivery_failure")
    )
    return found


def scoped(story: Story, name: str) -> Incident:
    [found] = [
        i
        for i in story.runtime.store.list_incidents(IncidentFilter())
        if i.resource_scope.name == name
    ]
    return found


def first_delivery(story: Story, incident_id: str) -> list[tuple[str, str]]:
    """Where the first message about ``incident_id`` went, and how."""
    [entry] = story.runtime.chatops.inbox.entries(incident_id=incident_id)
    return [
        (d["channel"], d["result"])
        for d in entry.get("deliveries", [])
        if d["detail"] == "incident"
    ]


def test_a_slack_outage_is_failed_over_to_telegram_and_switched_back_by_its_inverse(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    slack_api: SlackApi,  # noqa: F811
    telegram_api: TelegramApi,  # noqa: F811
) -> None:
    slack_api.down()
    with Story(
        kube_cluster, tmp_path, environment="production", **chat_settings(slack_api, telegram_api)
    ) as story:
        flush = story.runtime.chatops.notifier.flush
        # an alert the operators must hear about; Slack fails to take it
        story.fire(SPIKE)
        assert flush(20)

        chatops = chatops_incident(story)
        assert chatops.confidence == "high"
        assert {s.name for s in chatops.signals} >= {"chat_send_failed:slack"}
        # the first step fails over on its own, through the runner, and records the undo
        [ran] = [a for a in chatops.executed_actions if a.action == "failover_channel"]
        assert (ran.target, ran.result, ran.actor, ran.approval_id) == (
            SLACK,
            "succeeded",
            "robot",
            None,
        )
        assert ran.inverse == {
            "action": "failover_channel",
            "target": SLACK,
            "params": {"to": "slack"},
        }
        # its one write: the switch of Slack's messages to Telegram
        assert len(story.runtime.store.list_documents(SWITCHES)) == 1
        _, switch = story.runtime.store.get_document(SWITCHES, "slack") or (0, {})
        assert (switch["to"], switch["incident_id"]) == ("telegram", chatops.id)
        assert chatops.state == IncidentState.contained

        # the next incident's message reaches Telegram first
        story.fire({**SPIKE, "ingress": "catalog"})
        assert flush(20)
        assert first_delivery(story, scoped(story, "catalog").id)[0] == (
            f"telegram:{CHAT_ID}",
            "sent",
        )

        # T+5m: Slack still fails: the ladder reaches ask_config, which can ask nothing
        story.clock.advance(minutes=5, seconds=1)
        story.poll()
        chatops = chatops_incident(story)
        ladder = [e.detail for e in chatops.timeline if e.event == "ladder"]
        assert ladder[-1].startswith("step 2/2 ask_config")
        [config] = [r for r in chatops.recommended_actions if r.action == "patch_config"]
        assert config.decision == "recommend"
        assert "names no configmap for patch_config" in config.reason
        assert story.runtime.approval_requests.for_incident(chatops.id) == []

        # Slack is back; a person undoes the failover (the recorded inverse, approved)
        slack_api.up()
        story.clock.advance(minutes=11)  # past the failover's retry cooldown
        run = undo(story, ran, "Slack delivers again", chatops.id)
        assert run.executed is not None and run.executed.result == "succeeded", run.outcome
        assert len(story.runtime.store.list_documents(SWITCHES)) == 1
        assert [d["to"] for _, d in story.runtime.store.document_history(SWITCHES, "slack")] == [
            "telegram",
            "slack",
        ]
        story.fire({**SPIKE, "ingress": "search"})
        assert flush(20)
        assert first_delivery(story, scoped(story, "search").id) == [("slack:COPS", "sent")]
        assert story.writes() == []
        story.assert_guard_rails(approved=frozenset({"failover_channel"}))
