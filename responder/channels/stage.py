"""The notify stage: operators hear of an incident when the turn has
something to tell (it opened, an alert brought news, it escalated or climbed
its ladder) and the policy lets ``notify_operator`` run on its own;
otherwise the incident's timeline says the notification was suppressed
(``ops_policy_suppressions_total``). An acknowledged incident is not paged
again until its state or severity changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from responder.channels.notifier import Notifier
from responder.metrics import Metrics
from responder.records.incident import ExecutedAction, Incident
from responder.records.update import Update
from responder.records.writes import Writes


@dataclass(eq=False)
class NotifyStage:
    name = "notify"

    notifier: Notifier | None
    metrics: Metrics

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        if update.why is None:
            return True
        for recommendation in update.recommendations:
            if recommendation.action != "notify_operator":
                continue
            if recommendation.decision == "auto" and incident.pages_held:
                ack = incident.acknowledged
                assert ack is not None
                incident.note("notification_held", f"acknowledged by {ack.by}", update.now)
            elif recommendation.decision == "auto":
                self.notify(incident, update.why, update.now, update.writes, new=update.opened)
            else:
                incident.record("notification_suppressed", recommendation.reason, update.now)
                self.metrics.policy_suppressions.labels(
                    incident.incident_type, incident.environment, "policy"
                ).inc()
        return True

    def notify(
        self,
        incident: Incident,
        why: str,
        now: datetime,
        writes: Writes | None = None,
        new: bool = False,
    ) -> None:
        """The in-app record on the incident; the notifier keeps the inbox
        entry and queues the chat deliveries (they run outside the lock, with
        their own retries and failover)."""
        incident.executed_actions.append(
            ExecutedAction(
                action="notify_operator",
                actor="robot",
                result="succeeded",
                detail=f"in-app: incident {why}",
                at=now,
            )
        )
        self.metrics.notifications.labels(
            incident.incident_type, "in_app", incident.environment
        ).inc()
        if self.notifier is not None:
            self.notifier.incident(incident, why, now, writes, new)
