"""The correlate stage: alerts → the one open incident of their type and scope.

A repeat inside the type's duplicate-suppression window updates the incident
but neither opens a new one nor notifies again. When every alert has resolved
the incident is recovering; one that fires again moves it back to triaged."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from responder.evidence.confidence import confidence_band
from responder.incidents.classify import Classifier
from responder.incidents.ladder import enter_first
from responder.incidents.scope import resource_scope
from responder.incidents.timing import Timings
from responder.metrics import Metrics
from responder.records.alert import WebhookAlert
from responder.records.incident import UNCLASSIFIED, AlertRef, Incident, Signal
from responder.records.levels import Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.update import Correlated, Update
from responder.taxonomy.models import Taxonomy

SEVERITY_LABEL = {
    "critical": Severity.critical,
    "warning": Severity.warning,
    "info": Severity.info,
    "high": Severity.critical,
    "page": Severity.critical,
}


def correlate(classifier: Classifier, taxonomy: Taxonomy, alert: WebhookAlert) -> Correlated | None:
    """The alert's incident type and correlation key; None for an ignored alert."""
    classification = classifier.classify(alert.labels)
    if classification.incident_type is None:
        return None
    type_id = classification.incident_type
    known = taxonomy.incident_types.get(type_id)
    scope = resource_scope(alert.labels, known.scope_kind if known else None)
    key = f"{type_id}|{scope.key}"
    if type_id == UNCLASSIFIED:
        key = f"{UNCLASSIFIED}|{alert.alertname}|{scope.key}"
    return Correlated(alert, type_id, classification.reason, scope, key)


@dataclass(eq=False)
class CorrelateStage:
    name = "correlate"

    taxonomy: Taxonomy
    environment: Environment
    metrics: Metrics
    timings: Timings
    window_override: Callable[[Incident, datetime], int | None]

    def __call__(self, update: Update) -> bool:
        now = update.now
        window: float | None = None
        for item in update.alerts:
            incident = update.incident
            alert = item.alert
            if incident is not None and out_of_order(incident, alert):
                update.outcomes.append(("stale", incident.id))
                continue
            if alert.status == "resolved":
                if incident is None:
                    update.outcomes.append(("orphan_resolve", None))
                    continue
                self._resolve_alert(incident, alert, now)
                update.outcomes.append(("resolved_alert", incident.id))
                continue
            if incident is None:
                incident = update.incident = self._open(item, now)
                update.opened = update.fresh = True
                update.why = "opened"
                update.audit("incident.open", item.reason)
                update.outcomes.append(("opened", incident.id))
                continue
            if window is None:
                window = self._window(incident, now)
            fresh = take_alert(incident, alert, now, window)
            if not fresh:
                incident.duplicates_suppressed += 1
                incident.updated_at = now
                self.metrics.policy_suppressions.labels(
                    incident.incident_type, incident.environment, "duplicate_alert"
                ).inc()
                update.outcomes.append(("duplicate", incident.id))
                continue
            if incident.state == IncidentState.recovering:
                incident.move_to(IncidentState.triaged, f"{alert.alertname} fired again", now)
            update.fresh = True
            update.why = update.why or "updated"
            update.outcomes.append(("updated", incident.id))
        return update.fresh

    def _open(self, item: Correlated, now: datetime) -> Incident:
        known = self.taxonomy.incident_types.get(item.incident_type)
        alert = item.alert
        incident = Incident(
            id=secrets.token_hex(8),
            incident_type=item.incident_type,
            domain=known.domain if known else None,
            display_name=known.display_name if known else alert.alertname,
            severity=known.default_severity if known else Severity.warning,
            confidence=confidence_band([]).confidence,
            environment=self.environment,
            correlation_key=item.key,
            resource_scope=item.scope,
            labels=dict(alert.labels),
            created_at=now,
            updated_at=now,
            polled_at=now,
        )
        incident.record("observed", f"classified as {item.incident_type}: {item.reason}", now)
        take_alert(incident, alert, now, window=0.0)
        incident.move_to(IncidentState.triaged, "classified and assessed", now)
        enter_first(incident, self.timings.ladder(incident), now)
        return incident

    def _window(self, incident: Incident, now: datetime) -> float:
        override = self.window_override(incident, now)
        if override is not None:
            return float(max(override, 1))
        return self.timings.duplicate_window(incident.incident_type)

    def _resolve_alert(self, incident: Incident, alert: WebhookAlert, now: datetime) -> None:
        take_alert(incident, alert, now, window=0.0)
        incident.record("alert_resolved", alert.alertname, now)
        if incident.firing_alerts == 0 and incident.state != IncidentState.recovering:
            incident.move_to(IncidentState.recovering, "all alerts resolved", now)


def out_of_order(incident: Incident, alert: WebhookAlert) -> bool:
    """A "firing" of the episode whose resolve the incident already holds,
    delivered after it (two replicas, or a redelivery after a lease ran out):
    a new episode has a later startsAt. (A late "resolved" is not judged the
    same way: senders such as amtool stamp a resolve with its own time, and
    an incident left open for good is worse than one resolved early.)"""
    held = incident.alerts.get(alert.identity)
    if held is None or held.starts_at is None or alert.startsAt is None:
        return False
    return (
        alert.status == "firing"
        and held.status == "resolved"
        and (alert.startsAt <= held.starts_at)
    )


def take_alert(incident: Incident, alert: WebhookAlert, now: datetime, window: float) -> bool:
    """Put ``alert`` on the incident's record; True when it is news (its
    duplicate window was closed or has passed: a new one opens now)."""
    previous = incident.alerts.get(alert.identity)
    opened = previous.window_opened_at if previous is not None else None
    fresh = opened is None or now - opened >= timedelta(seconds=window)
    if alert.status == "resolved":
        opened, fresh = None, False
    elif fresh:
        opened = now
    incident.alerts[alert.identity] = AlertRef(
        fingerprint=alert.identity,
        alertname=alert.alertname,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.startsAt,
        ends_at=alert.endsAt,
        generator_url=alert.generatorURL,
        received=(previous.received + 1) if previous else 1,
        window_opened_at=opened,
    )
    if alert.status == "firing":
        weak = SEVERITY_LABEL.get(alert.labels.get("severity", "")) in (Severity.info, None)
        strength: Literal["strong", "weak"] = "weak" if weak else "strong"
        signal = Signal(
            name=alert.alertname or "alert",
            strength=strength,
            source="alertmanager",
            detail=alert.annotations.get("summary", "")[:500],
            observed_at=now,
        )
        incident.signals = [s for s in incident.signals if s.name != signal.name] + [signal]
        sources = set(incident.signal_sources) | {f"alertmanager:{alert.alertname}"}
        incident.signal_sources = sorted(sources)
        if alert.generatorURL and alert.generatorURL not in incident.raw_evidence_refs:
            incident.raw_evidence_refs.append(alert.generatorURL)
    return fresh
