"""Routing: operator rules' ``notification_policy`` first, then the
settings' routes, then every configured channel; ``in_app`` always."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness

from responder.channels.routing import Destination, Router
from responder.chat_settings import ChannelSettings
from responder.policy.rules import NotificationPolicy
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Confidence, Environment, Severity

CHATS = {"slack": "COPS", "telegram": "-100"}


def incident(severity: Severity = Severity.warning, **fields: Any) -> Incident:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "i1",
        "incident_type": "node_disk_pressure",
        "domain": "infrastructure",
        "display_name": "Node Disk Pressure",
        "severity": severity,
        "confidence": Confidence.low,
        "environment": Environment.demo,
        "correlation_key": "k",
        "resource_scope": ResourceScope(kind="node", name="n1"),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return Incident(**values)


def router(policies: list[NotificationPolicy] | None = None, **settings: Any) -> Router:
    return Router(ChannelSettings.model_validate(settings), CHATS, lambda i: policies or [])


def test_without_routes_every_configured_channel_hears_of_it() -> None:
    assert router().for_incident(incident()) == [
        Destination("slack", "COPS"),
        Destination("telegram", "-100"),
    ]


def test_operator_rule_channels_come_first() -> None:
    chosen = router(
        [NotificationPolicy(channels=("telegram:-200", "in_app"))],
        routes=[{"channels": ["slack"]}],
    )
    assert chosen.for_incident(incident()) == [Destination("telegram", "-200")]


def test_min_severity_of_a_rule_keeps_lesser_notifications_in_app() -> None:
    chosen = router([NotificationPolicy(channels=("slack",), min_severity=Severity.critical)])
    assert chosen.for_incident(incident(Severity.warning)) == []
    assert chosen.for_incident(incident(Severity.critical)) == [Destination("slack", "COPS")]
    # someone must be able to answer an approval request: it always goes out
    assert chosen.for_approval(incident(Severity.warning)) == [Destination("slack", "COPS")]


@pytest.mark.parametrize(
    ("severity", "environment", "expected"),
    [
        (Severity.critical, Environment.production, ["slack:COPS", "telegram:-100"]),
        (Severity.warning, Environment.production, ["slack:COPS"]),
        (Severity.warning, Environment.demo, ["telegram:-300"]),
    ],
)
def test_settings_routes_by_type_severity_and_environment(
    severity: Severity, environment: Environment, expected: list[str]
) -> None:
    chosen = router(
        routes=[
            {"environments": ["production"], "channels": ["slack"]},
            {"environments": ["production"], "min_severity": "critical", "channels": ["telegram"]},
            {
                "environments": ["demo"],
                "incident_types": ["node_disk_pressure"],
                "channels": ["telegram:-300"],
            },
        ]
    )
    found = chosen.for_incident(incident(severity, environment=environment))
    assert [str(d) for d in found] == expected


def test_a_route_naming_only_absent_channels_falls_back_to_the_failover_order() -> None:
    chosen = Router(ChannelSettings(failover_order=("telegram", "slack")), CHATS, lambda i: [])
    policy = [NotificationPolicy(channels=("whatsapp",))]
    chosen.policies = lambda i: policy
    assert chosen.for_incident(incident()) == [Destination("telegram", "-100")]


def test_an_operator_rule_routes_real_notifications(make_harness: Any) -> None:
    harness: ChatOpsHarness = make_harness()
    harness.runtime.rules.create(
        {
            "id": "disk-to-telegram",
            "name": "disk pressure goes to Telegram",
            "domain": "infrastructure",
            "incident_type": "node_disk_pressure",
            "owner": "alice",
            "notification_policy": {"channels": ["telegram"]},
        },
        "alice",
        "test",
    )
    harness.fire(DISK)
    harness.flush()
    assert harness.slack is not None and harness.telegram is not None
    assert harness.slack_api.posted() == []
    assert harness.telegram_api.sent()[0].plain.startswith("Robot SRE: Node Disk Pressure")
