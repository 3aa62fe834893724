"""Chat channels that stop delivering become a ``chatops_delivery_failure``
incident, like any other problem.

The notifier's reports of a channel going down or up become an alert of the
responder's own, so correlation, dedupe, the inbox and the lifecycle work as
for every incident; a collector gives that incident its facts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from responder.channels.delivery import HealthChange
from responder.evidence.collector import Evidence
from responder.records.alert import WebhookAlert, WebhookPayload
from responder.records.incident import Incident, Signal
from responder.records.target import Target
from responder.store import Store

log = logging.getLogger(__name__)

INCIDENT_TYPE = "chatops_delivery_failure"
ALERTNAME = "RobotSREChatDeliveryFailing"
FAILOVER = "failover_channel"


def channel_alert(change: HealthChange) -> WebhookAlert:
    """The alert standing for ``change.channel`` being down (or back)."""
    return WebhookAlert(
        status="firing" if change.down else "resolved",
        labels={
            "alertname": ALERTNAME,
            "taxonomy_type": INCIDENT_TYPE,
            "domain": "operator_channels",
            "component": "robot-sre",
            "channel": change.channel,
        },
        annotations={
            "summary": f"Robot SRE cannot deliver to {change.channel}: {change.detail}"[:500]
            if change.down
            else f"Robot SRE delivers to {change.channel} again",
        },
        startsAt=datetime.now(UTC),
    )


@dataclass(eq=False)
class ChannelFailureReporter:
    """``Notifier.on_health``: turns a channel's health change into an alert
    for the pipeline (called from the delivery thread, holding no lock)."""

    process: Callable[[WebhookPayload], object]

    def __call__(self, change: HealthChange) -> None:
        log.warning(
            "chat channel %s is %s (%s); down now: %s",
            change.channel,
            "down" if change.down else "up",
            change.detail,
            ", ".join(change.channels_down) or "none",
        )
        self.process(WebhookPayload(version="4", alerts=[channel_alert(change)]))


@dataclass(eq=False)
class ChannelHealthCollector:
    """Evidence for the robot's own ``chatops_delivery_failure`` incidents,
    read from the notifier's ``chat:down:<channel>`` keys; the channels down
    are ``failover_channel``'s targets while another one delivers."""

    name = "chat_channels"
    incident_types = frozenset({INCIDENT_TYPE})

    store: Store
    channels: tuple[str, ...]

    def collect(self, incident: Incident) -> Evidence:
        if not any(a.alertname == ALERTNAME for a in incident.alerts.values()):
            return Evidence()  # Alertmanager's own integrations: not ours to judge
        down = {
            name: raw
            for name in self.channels
            if (raw := self.store.get_key(f"chat:down:{name}")) is not None
        }
        active = any(
            incident_type != INCIDENT_TYPE and count > 0
            for (incident_type, _, _), count in self.store.count_open_incidents().items()
        )
        signals = tuple(
            Signal(
                name=f"chat_send_failed:{name}",
                strength="strong",
                source=self.name,
                detail=raw[:500],
                direct=True,
            )
            for name, raw in down.items()
        )
        summary = (
            f"down: {', '.join(down)} of {', '.join(self.channels)}"
            if down
            else f"every channel delivers ({', '.join(self.channels)})"
        )
        all_down = bool(self.channels) and len(down) == len(self.channels)
        return Evidence(
            signals=signals,
            facts={
                "channels_down": len(down),
                "all_channels_down": all_down,
                "active_incident": active,
            },
            targets={}
            if all_down or not down
            else {FAILOVER: tuple(Target(kind="channel", name=name) for name in down)},
            summary=summary,
            exit_criteria_met=not down,
        )
