"""Alerts → incidents through the pipeline: correlation, dedupe window,
lifecycle, resolution, record.

Every test runs on both store backends (the ``store`` fixture) with an injected
clock, so windows and quiet periods are crossed without sleeping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from fixtures.alerts import filesystem, pressure
from fixtures.clock import T0
from fixtures.rigs import PipelineRig

from responder.pipeline.runner import AlertOutcome
from responder.records.alert import WebhookAlert, WebhookPayload
from responder.records.incident import UNCLASSIFIED, Incident
from responder.records.levels import Confidence, Environment
from responder.records.lifecycle import IncidentState
from responder.settings import Settings
from responder.store import Store

DISK_201 = pressure("10.0.10.201")
DISK_202 = pressure("10.0.10.202")
FILESYSTEM_201 = {**filesystem("10.0.10.201"), "severity": "critical"}
PULL_REPLICA_1 = {
    "alertname": "KubeContainerWaiting",
    "namespace": "image-factory",
    "pod": "backend-7c9f8d6b5-x2k4q",
    "reason": "ImagePullBackOff",
    "severity": "warning",
}
PULL_REPLICA_2 = {**PULL_REPLICA_1, "pod": "backend-7c9f8d6b5-p9z8w"}
UNKNOWN = {"alertname": "KubeCPUOvercommit", "severity": "warning"}

RECORD_FIELDS = {
    # spec section 13
    "incident_type",
    "severity",
    "confidence",
    "signal_sources",
    "resource_scope",
    "environment",
    "evidence_summary",
    "raw_evidence_refs",
    "recommended_actions",
    "executed_actions",
    "approval_state",
    # identity, lifecycle, provenance
    "id",
    "domain",
    "state",
    "created_at",
    "updated_at",
    "fingerprints",
}


class Rig(PipelineRig):
    def incident(self, outcome: AlertOutcome) -> Incident:
        assert outcome.incident_id is not None
        found = self.store.get_incident(outcome.incident_id)
        assert found is not None
        return found

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        value: float | None = self.runtime.metrics.registry.get_sample_value(name, labels)
        return value


@pytest.fixture
def rig(store: Store) -> Rig:
    return Rig(store)


def _notifications(incident: Incident) -> int:
    return sum(1 for a in incident.executed_actions if a.action == "notify_operator")


def _suppressions(rig: Rig, incident_type: str = "node_disk_pressure") -> float | None:
    return rig.sample(
        "ops_policy_suppressions_total",
        {"incident_type": incident_type, "environment": "demo", "reason": "duplicate_alert"},
    )


# opening and dedupe


def test_first_firing_alert_opens_a_triaged_incident(rig: Rig) -> None:
    [outcome] = rig.fire(DISK_201)
    assert outcome.outcome == "opened"
    incident = rig.incident(outcome)
    assert incident.state == IncidentState.triaged
    assert incident.incident_type == "node_disk_pressure"
    assert incident.domain == "infrastructure"
    assert incident.resource_scope.kind == "node"
    assert incident.resource_scope.name == "10.0.10.201"
    assert incident.created_at == T0


def test_opened_incident_recommends_evidence_and_notification(rig: Rig) -> None:
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert [(r.action, r.decision) for r in incident.recommended_actions][:2] == [
        ("collect_evidence", "auto"),
        ("notify_operator", "auto"),
    ]


def test_opened_incident_notifies_once(rig: Rig) -> None:
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert [(a.action, a.actor, a.result) for a in incident.executed_actions] == [
        ("notify_operator", "robot", "succeeded")
    ]


def test_opened_incident_counts_as_open_in_metrics(rig: Rig) -> None:
    rig.fire(DISK_201)
    labels = {"incident_type": "node_disk_pressure", "severity": "warning", "environment": "demo"}
    assert rig.sample("ops_incidents_open_total", labels) == 1.0


def test_duplicate_within_window_opens_no_incident(rig: Rig) -> None:
    first = rig.fire(DISK_201)[0]
    rig.clock.advance(60)
    [again] = rig.fire(DISK_201)
    assert again.outcome == "duplicate"
    assert again.incident_id == first.incident_id
    assert len(rig.incidents()) == 1


def test_duplicate_within_window_does_not_notify(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.clock.advance(14 * 60)
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert _notifications(incident) == 1
    assert incident.duplicates_suppressed == 1


def test_duplicate_within_window_counts_a_policy_suppression(rig: Rig) -> None:
    rig.fire(DISK_201)
    assert _suppressions(rig) is None
    rig.clock.advance(30)
    rig.fire(DISK_201)
    rig.clock.advance(30)
    rig.fire(DISK_201)
    assert _suppressions(rig) == 2.0


def test_same_alert_after_the_window_notifies_again(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.clock.advance(901)
    [again] = rig.fire(DISK_201)
    assert again.outcome == "updated"
    incident = rig.incident(again)
    assert _notifications(incident) == 2
    assert incident.duplicates_suppressed == 0
    assert _suppressions(rig) is None


# correlation


def test_second_alert_on_the_same_node_joins_the_incident(rig: Rig) -> None:
    first = rig.fire(DISK_201)[0]
    [second] = rig.fire(FILESYSTEM_201)
    assert second.outcome == "updated"
    assert second.incident_id == first.incident_id
    incident = rig.incident(second)
    assert incident.firing_alerts == 2
    assert len(incident.fingerprints) == 2
    assert len(rig.incidents()) == 1


def test_alerts_on_different_nodes_open_different_incidents(rig: Rig) -> None:
    first, second = rig.fire(DISK_201, DISK_202)
    assert (first.outcome, second.outcome) == ("opened", "opened")
    assert first.incident_id != second.incident_id
    names = {i.resource_scope.name for i in rig.incidents()}
    assert names == {"10.0.10.201", "10.0.10.202"}


def test_pod_alerts_of_two_replicas_open_one_incident(rig: Rig) -> None:
    first, second = rig.fire(PULL_REPLICA_1, PULL_REPLICA_2)
    assert (first.outcome, second.outcome) == ("opened", "updated")
    assert first.incident_id == second.incident_id
    incident = rig.incident(first)
    assert incident.incident_type == "registry_pull_failure"
    assert (incident.resource_scope.kind, incident.resource_scope.name) == ("deployment", "backend")
    assert incident.firing_alerts == 2


def test_watchdog_opens_nothing(rig: Rig) -> None:
    [outcome] = rig.fire({"alertname": "Watchdog", "severity": "none"})
    assert outcome == AlertOutcome("ignored", None)
    assert rig.incidents() == []


# resolution


def test_resolving_one_of_two_alerts_keeps_the_incident_triaged(rig: Rig) -> None:
    rig.fire(DISK_201, FILESYSTEM_201)
    [outcome] = rig.resolve(DISK_201)
    assert outcome.outcome == "resolved_alert"
    assert rig.incident(outcome).state == IncidentState.triaged


def test_resolving_every_alert_moves_to_recovering(rig: Rig) -> None:
    rig.fire(DISK_201, FILESYSTEM_201)
    rig.clock.advance(120)
    rig.resolve(DISK_201, FILESYSTEM_201)
    [incident] = rig.incidents()
    assert incident.state == IncidentState.recovering
    assert incident.recovering_since == rig.clock.now
    assert incident.firing_alerts == 0


def test_sweep_before_the_disk_quiet_period_leaves_it_recovering(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.resolve(DISK_201)
    rig.clock.advance(599)
    assert rig.runtime.scheduler.sweep() == []
    assert rig.incidents()[0].state == IncidentState.recovering


def test_sweep_after_the_disk_quiet_period_resolves(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.resolve(DISK_201)
    rig.clock.advance(600)
    [resolved_id] = rig.runtime.scheduler.sweep()
    incident = rig.store.get_incident(resolved_id)
    assert incident is not None
    assert incident.state == IncidentState.resolved
    assert incident.resolved_at == rig.clock.now


def test_sweep_resolution_counts_in_resolved_total(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.resolve(DISK_201)
    rig.clock.advance(600)
    rig.runtime.scheduler.sweep()
    labels = {"incident_type": "node_disk_pressure", "severity": "warning", "environment": "demo"}
    assert rig.sample("ops_incidents_resolved_total", labels) == 1.0
    assert rig.sample("ops_incidents_open_total", labels) is None


@pytest.mark.parametrize(
    ("quiet_periods", "alert", "seconds"),
    [
        pytest.param({}, PULL_REPLICA_1, 300, id="other types: 300 seconds"),
        pytest.param({"node_disk_pressure": 30}, DISK_201, 30, id="the setting overrides the type"),
        pytest.param({"*": 5}, PULL_REPLICA_1, 5, id="a wildcard applies to every type"),
    ],
)
def test_a_resolved_incident_closes_after_its_quiet_period(
    store: Store, quiet_periods: dict[str, int], alert: dict[str, str], seconds: int
) -> None:
    rig = Rig(store, Settings(quiet_period_seconds=quiet_periods))
    rig.fire(alert)
    rig.resolve(alert)
    rig.clock.advance(seconds - 1)
    assert rig.runtime.scheduler.sweep() == []
    rig.clock.advance(1)
    assert len(rig.runtime.scheduler.sweep()) == 1
    assert rig.incidents()[0].state == IncidentState.resolved


def test_refire_while_recovering_goes_back_to_triaged(rig: Rig) -> None:
    first = rig.fire(DISK_201)[0]
    rig.resolve(DISK_201)
    rig.clock.advance(60)
    [again] = rig.fire(DISK_201)
    assert again.incident_id == first.incident_id
    incident = rig.incident(again)
    assert incident.state == IncidentState.triaged
    assert incident.recovering_since is None
    assert _notifications(incident) == 2
    rig.clock.advance(600)
    assert rig.runtime.scheduler.sweep() == []


def test_firing_after_resolution_opens_a_new_incident(rig: Rig) -> None:
    first = rig.fire(DISK_201)[0]
    rig.resolve(DISK_201)
    rig.clock.advance(600)
    rig.runtime.scheduler.sweep()
    rig.clock.advance(60)
    [again] = rig.fire(DISK_201)
    assert again.outcome == "opened"
    assert again.incident_id != first.incident_id
    states = {i.id: i.state for i in rig.incidents()}
    assert states == {first.incident_id: IncidentState.resolved, again.incident_id: "triaged"}


def test_orphan_resolve_creates_nothing(rig: Rig) -> None:
    [outcome] = rig.resolve(DISK_201)
    assert outcome == AlertOutcome("orphan_resolve", None)
    assert rig.incidents() == []


# unclassified alerts


def test_unclassified_alert_is_recorded_and_notified(rig: Rig) -> None:
    [outcome] = rig.fire(UNKNOWN)
    assert outcome.outcome == "opened"
    incident = rig.incident(outcome)
    assert incident.incident_type == UNCLASSIFIED
    assert incident.domain is None
    assert _notifications(incident) == 1


def test_unclassified_alert_gets_only_observe_and_notify_actions(rig: Rig) -> None:
    incident = rig.incident(rig.fire(UNKNOWN)[0])
    assert incident.recommended_actions
    assert {r.action_class for r in incident.recommended_actions} <= {"observe", "notify"}
    assert {a.action for a in incident.executed_actions} == {"notify_operator"}


# the record


def test_incident_record_has_every_evidence_field(rig: Rig) -> None:
    record: dict[str, Any] = rig.incident(rig.fire(DISK_201)[0]).to_record()
    assert set(record) >= RECORD_FIELDS
    assert record["incident_type"] == "node_disk_pressure"
    assert record["environment"] == "demo"
    assert record["approval_state"] == "none"
    assert record["signal_sources"] == ["alertmanager:KubeNodePressure"]
    assert record["raw_evidence_refs"] == ["http://prometheus:9090/graph?g0.expr=KubeNodePressure"]
    assert record["resource_scope"] == {"kind": "node", "namespace": None, "name": "10.0.10.201"}
    assert "KubeNodePressure" in record["evidence_summary"]
    assert len(record["fingerprints"]) == 1


def test_incident_records_the_configured_environment(store: Store) -> None:
    rig = Rig(store, Settings(environment=Environment.staging))
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert incident.environment == Environment.staging


def test_severity_follows_the_highest_firing_alert_label(rig: Rig) -> None:
    rig.fire(DISK_201)
    incident = rig.incident(rig.fire(FILESYSTEM_201)[0])
    assert incident.severity == "critical"


# confidence


def test_one_strong_alert_alone_gives_low_confidence(rig: Rig) -> None:
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert incident.confidence == Confidence.low


def test_two_different_strong_alerts_on_one_node_give_high_confidence(rig: Rig) -> None:
    rig.fire(DISK_201)
    incident = rig.incident(rig.fire(FILESYSTEM_201)[0])
    assert incident.confidence == Confidence.high


def test_repeated_delivery_does_not_raise_confidence(rig: Rig) -> None:
    rig.fire(DISK_201)
    rig.clock.advance(901)
    incident = rig.incident(rig.fire(DISK_201)[0])
    assert incident.confidence == Confidence.low


# audit


def test_opening_an_incident_is_audited(rig: Rig) -> None:
    incident = rig.incident(rig.fire(DISK_201)[0])
    entries = rig.store.list_audit(subject=f"incident:{incident.id}")
    assert [(e.action, e.actor) for e in entries] == [("incident.open", "robot")]


def test_resolving_an_incident_is_audited(rig: Rig) -> None:
    incident = rig.incident(rig.fire(DISK_201)[0])
    rig.resolve(DISK_201)
    rig.clock.advance(600)
    rig.runtime.scheduler.sweep()
    actions = [e.action for e in rig.store.list_audit(subject=f"incident:{incident.id}")]
    assert actions == ["incident.resolve", "incident.open"]


# deliveries out of order (two replicas, a redelivery after a lease)


def _episode(rig: Rig, status: str, labels: Mapping[str, str], minute: int) -> AlertOutcome:
    started = T0.replace(minute=minute)
    [outcome] = rig.runtime.pipeline.process(
        WebhookPayload(
            version="4",
            status=status,
            alerts=[WebhookAlert(status=status, labels=dict(labels), startsAt=started)],
        )
    )
    return outcome


def test_a_firing_delivered_after_its_resolve_does_not_refire(rig: Rig) -> None:
    first = _episode(rig, "firing", DISK_201, minute=1)
    _episode(rig, "resolved", DISK_201, minute=1)
    rig.clock.advance(30)
    late = _episode(rig, "firing", DISK_201, minute=1)  # sent before the resolve
    assert late.outcome == "stale"
    incident = rig.incident(first)
    assert incident.state == IncidentState.recovering
    assert _notifications(incident) == 1
    # a new episode (a later startsAt) fires again
    again = _episode(rig, "firing", DISK_201, minute=5)
    assert again.outcome == "updated"
    assert rig.incident(again).state == IncidentState.triaged
