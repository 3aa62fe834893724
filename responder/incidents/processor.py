"""Alerts → incidents: correlation, dedupe, lifecycle, resolution.

One open incident per (incident type, resource scope). A repeat of the same
alert inside the type's duplicate-suppression window (15 min by default)
updates the incident but neither opens a new one nor notifies again; it
counts in ``ops_policy_suppressions_total``. When every alert of an incident
has resolved it moves to ``recovering``, and to ``resolved`` once the type's
quiet period has passed without the problem coming back and the type's exit
criteria hold as far as its collectors can tell (``sweep``).

With an observer, evidence is collected when an incident opens or an alert
brings news, and again every observation poll (``observe_due``, 60 s by
default) while the incident is open; with an act stage, every round of
decisions is acted on (``responder/actions/stage.py``): auto contain/recover
actions run at once, approval decisions become approval requests. Actions
run outside the incident's lock and are recorded under it afterwards. A
suppressed incident is not polled until its suppression window has passed
(``responder/actions/incident.py``); that poll moves it back to triaged.

Every incident climbs its type's escalation ladder (``ladder.py``): it
enters the first step when it opens; each poll and each round of actions
looks at the step again, and a move is noted on the timeline, notified, and
(re)raises the approval requests of the step entered. Apart from the ladder,
a contained incident whose problem persists past the escalation window (the
type's action retry cooldown) escalates.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from responder.actions.incident import suppression_over
from responder.actions.stage import ActStage, PlannedRun, move, note
from responder.evidence.confidence import confidence_band
from responder.evidence.observer import Observation, Observer
from responder.guards.storm import is_storm
from responder.incidents.classify import Classifier
from responder.incidents.ladder import (
    CLIMBING_STATES,
    Climb,
    climb,
    enter_first,
    held_actions,
    ladder_for,
)
from responder.incidents.scope import resource_scope
from responder.metrics import Metrics
from responder.records.alert import WebhookAlert, WebhookPayload
from responder.records.audit import AuditEntry
from responder.records.incident import (
    UNCLASSIFIED,
    AlertRef,
    ExecutedAction,
    Incident,
    RecommendedAction,
    Signal,
)
from responder.records.levels import Severity
from responder.records.lifecycle import IncidentState
from responder.settings import Settings
from responder.store import LockBusy, Store, StoreUnavailable, held_lock
from responder.taxonomy.models import LadderStep, Taxonomy

log = logging.getLogger(__name__)

Outcome = Literal["opened", "updated", "duplicate", "resolved_alert", "ignored", "orphan_resolve"]


class DecideStage(Protocol):
    """The decide stage: the recommended actions (with decisions) for an
    incident. It may raise the incident's severity and record its decisions."""

    def __call__(self, incident: Incident, now: datetime) -> list[RecommendedAction]: ...

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        """A duplicate-suppression window set by an operator rule, if any."""


class Notifier(Protocol):
    """The operator channels (``responder/channels/notifier.py``): called
    under the incident's lock, it records the notification in the in-app
    inbox and queues the chat deliveries."""

    def incident(self, incident: Incident, why: str, now: datetime) -> None: ...

    def resolved(self, incident: Incident, now: datetime) -> None: ...


# Processing one alert takes milliseconds (evidence collection a few seconds
# at most, under its own deadline): a lock left by a dead replica blocks its
# incident for at most the TTL.
_LOCK_TTL_SECONDS = 15.0
_LOCK_WAIT_SECONDS = 5.0
# Recording the outcome of actions waits longer: the actions already ran.
_RECORD_WAIT_SECONDS = 15.0
#: the states an observation poll looks at again (recovering incidents wait
#: out their quiet period; suppressed ones are quiet on purpose: a poll only
#: lifts a suppression whose window has passed)
POLLED_STATES = (
    IncidentState.triaged,
    IncidentState.contained,
    IncidentState.escalated,
    IncidentState.suppressed,
)
_SEVERITY_LABEL = {
    "critical": Severity.critical,
    "warning": Severity.warning,
    "info": Severity.info,
    "high": Severity.critical,
    "page": Severity.critical,
}


@dataclass(frozen=True)
class AlertOutcome:
    outcome: Outcome
    incident_id: str | None


class ObserveAndNotify:
    """The minimal decide stage: every incident is observed and notified."""

    def __call__(self, incident: Incident, now: datetime) -> list[RecommendedAction]:
        return [
            RecommendedAction(
                action="collect_evidence",
                action_class="observe",
                decision="auto",
                reason="observe is always auto-allowed",
            ),
            RecommendedAction(
                action="notify_operator",
                action_class="notify",
                decision="auto",
                reason="notify is always auto-allowed",
            ),
        ]

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        return None


class IncidentProcessor:
    def __init__(
        self,
        store: Store,
        taxonomy: Taxonomy,
        classifier: Classifier,
        settings: Settings,
        metrics: Metrics,
        decide: DecideStage | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: Observer | None = None,
        act: ActStage | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.classifier = classifier
        self.settings = settings
        self.metrics = metrics
        self.decide: DecideStage = decide or ObserveAndNotify()
        self.clock = clock
        self.observer = observer
        self.act = act
        self.notifier = notifier
        # evidence is collected under the incident's lock: the lock outlives it
        self._lock_ttl = max(_LOCK_TTL_SECONDS, settings.collector_timeout_seconds + 5.0)

    def process(self, payload: WebhookPayload) -> list[AlertOutcome]:
        outcomes = [self.process_alert(alert) for alert in payload.alerts]
        for outcome in outcomes:
            self.metrics.alerts_processed.labels(outcome.outcome).inc()
        return outcomes

    def process_alert(self, alert: WebhookAlert) -> AlertOutcome:
        outcome, planned = self._process_alert(alert)
        if planned and outcome.incident_id is not None:
            self._act(outcome.incident_id, planned)
        return outcome

    def _process_alert(self, alert: WebhookAlert) -> tuple[AlertOutcome, list[PlannedRun]]:
        classification = self.classifier.classify(alert.labels)
        if classification.incident_type is None:
            return AlertOutcome("ignored", None), []
        type_id = classification.incident_type
        incident_type = self.taxonomy.incident_types.get(type_id)
        scope = resource_scope(alert.labels, incident_type.scope_kind if incident_type else None)
        key = f"{type_id}|{scope.key}"
        if type_id == UNCLASSIFIED:
            key = f"{UNCLASSIFIED}|{alert.alertname}|{scope.key}"
        with held_lock(self.store, f"incident:{key}", self._lock_ttl, _LOCK_WAIT_SECONDS):
            now = self.clock()
            open_id = self.store.open_incident_id(key)
            incident = self.store.get_incident(open_id) if open_id else None
            if alert.status == "resolved":
                if incident is None:
                    return AlertOutcome("orphan_resolve", None), []
                self._resolve_alert(incident, alert, now)
                self.store.save_incident(incident)
                return AlertOutcome("resolved_alert", incident.id), []
            if incident is None:
                incident, planned = self._open(
                    type_id, key, scope, classification.reason, alert, now
                )
                self.store.save_incident(incident)
                self._audit("incident.open", incident, classification.reason)
                return AlertOutcome("opened", incident.id), planned
            outcome, planned = self._update(incident, alert, now)
            self.store.save_incident(incident)
            return AlertOutcome(outcome, incident.id), planned

    # firing alerts

    def _open(
        self,
        type_id: str,
        key: str,
        scope: object,
        reason: str,
        alert: WebhookAlert,
        now: datetime,
    ) -> tuple[Incident, list[PlannedRun]]:
        incident_type = self.taxonomy.incident_types.get(type_id)
        incident = Incident(
            id=uuid.uuid4().hex[:16],
            incident_type=type_id,
            domain=incident_type.domain if incident_type else None,
            display_name=incident_type.display_name if incident_type else alert.alertname,
            severity=incident_type.default_severity if incident_type else Severity.warning,
            confidence=confidence_band([]).confidence,
            environment=self.settings.environment,
            correlation_key=key,
            resource_scope=scope,
            labels=dict(alert.labels),
            created_at=now,
            updated_at=now,
        )
        incident.record("observed", f"classified as {type_id}: {reason}", now)
        self._first_in_window(incident, alert, now)
        self._take_alert(incident, alert, now)
        incident.move_to(IncidentState.triaged, "classified and assessed", now)
        enter_first(incident, self._ladder(incident), now)
        self._observe(incident, now)
        planned = self._assess_and_notify(incident, now, "opened")
        return incident, planned

    def _update(
        self, incident: Incident, alert: WebhookAlert, now: datetime
    ) -> tuple[Outcome, list[PlannedRun]]:
        fresh = self._first_in_window(incident, alert, now)
        self._take_alert(incident, alert, now)
        if not fresh:
            incident.duplicates_suppressed += 1
            incident.updated_at = now
            self.metrics.policy_suppressions.labels(
                incident.incident_type, incident.environment, "duplicate_alert"
            ).inc()
            return "duplicate", []
        if incident.state == IncidentState.recovering:
            incident.move_to(IncidentState.triaged, f"{alert.alertname} fired again", now)
        self._observe(incident, now)
        planned = self._assess_and_notify(incident, now, "updated")
        return "updated", planned

    def _take_alert(self, incident: Incident, alert: WebhookAlert, now: datetime) -> None:
        previous = incident.alerts.get(alert.identity)
        incident.alerts[alert.identity] = AlertRef(
            fingerprint=alert.identity,
            alertname=alert.alertname,
            status=alert.status,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=alert.startsAt,
            ends_at=alert.endsAt,
            generator_url=alert.generatorURL,
            received=(previous.received + 1) if previous else 1,
        )
        if alert.status == "firing":
            strength = (
                "weak"
                if _SEVERITY_LABEL.get(alert.labels.get("severity", "")) in (Severity.info, None)
                else "strong"
            )
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

    def _assess_and_notify(
        self, incident: Incident, now: datetime, why: str | None
    ) -> list[PlannedRun]:
        """Confidence, severity, decisions; notify (unless ``why`` is None);
        approval requests and the runs due."""
        band = confidence_band(incident.signals)
        incident.confidence = band.confidence
        incident.severity = self._severity(incident)
        firing = sorted({a.alertname for a in incident.alerts.values() if a.status == "firing"})
        collected = sorted(
            f"{s.name} ({s.strength}{', direct' if s.direct else ''}, {s.checks} check(s))"
            for s in incident.signals
            if s.source != "alertmanager"
        )
        incident.evidence_summary = (
            f"{len(firing)} firing alert(s): {', '.join(firing)}"
            + (f"; collected: {', '.join(collected)}" if collected else "")
            + f"; confidence {band.confidence} ({band.reason})"
        )
        before = incident.state
        incident.recommended_actions = self.decide(incident, now)
        if incident.state == IncidentState.escalated != before:
            # the guard rails refused an action (blast radius, control plane)
            self._audit("incident.escalated", incident, incident.timeline[-1].detail)
            why = "escalated" if why is None else why
        if why is not None:
            self._notify_if_allowed(incident, now, why)
        if self.act is None:
            return []
        return self.act.prepare(incident, incident.recommended_actions, now, self._held(incident))

    def _notify_if_allowed(self, incident: Incident, now: datetime, why: str) -> None:
        for recommendation in incident.recommended_actions:
            if recommendation.action != "notify_operator":
                continue
            if recommendation.decision == "auto":
                self._notify(incident, now, why)
            else:
                incident.record("notification_suppressed", recommendation.reason, now)
                self.metrics.policy_suppressions.labels(
                    incident.incident_type, incident.environment, "policy"
                ).inc()

    # evidence

    def _observe(self, incident: Incident, now: datetime) -> Observation | None:
        """Collect evidence for ``incident`` now and note when the next poll is due."""
        if self.observer is None or not self.observer.serves(incident):
            return None
        observation = self.observer.observe(incident, now)
        self._mark_polled(incident, now)
        for summary in observation.summaries:
            note(incident, "evidence", summary[:1000], now)
        if observation.exit_criteria_met is not None:
            wanted = "hold" if observation.exit_criteria_met else "do not hold"
            last = next(
                (e for e in reversed(incident.timeline) if e.event == "exit_criteria"), None
            )
            if last is None or last.detail != wanted:
                incident.record("exit_criteria", wanted, now)
        return observation

    def observe_due(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Re-observe, re-decide and act on the open incidents whose poll is due
        (each at most once per observation interval across replicas); an
        incident whose lock is taken is skipped until the next call. ``stop``
        ends the round early (the rest wait for the next call)."""
        if self.observer is None and self.act is None:
            return []
        polled: list[str] = []
        for state in POLLED_STATES:
            for candidate in self.store.incidents_in_state(state):
                if stop():
                    return polled
                try:
                    planned = self._poll(candidate)
                    if planned is None:
                        continue
                    polled.append(candidate.id)
                    if planned:
                        self._act(candidate.id, planned)
                except LockBusy:
                    continue
                except StoreUnavailable:
                    raise
                except Exception:
                    # one incident that cannot be polled must not starve the others
                    log.exception("poll of incident %s failed", candidate.id)
        return polled

    def _poll(self, candidate: Incident) -> list[PlannedRun] | None:
        if not self._poll_due(candidate, self.clock()):
            return None
        with held_lock(self.store, f"incident:{candidate.correlation_key}", self._lock_ttl):
            now = self.clock()
            incident = self.store.get_incident(candidate.id)
            if incident is None or incident.state not in POLLED_STATES:
                return None
            if not self._poll_due(incident, now):
                return None  # another replica polled it a moment ago
            if incident.state == IncidentState.suppressed:
                if not suppression_over(self.store, incident, now):
                    return None
                incident.move_to(IncidentState.triaged, "suppression window ended", now)
            observation = self._observe(incident, now)
            if observation is None:
                self._mark_polled(incident, now)
            escalated = self._escalate_if_persisting(incident, observation, now)
            cleared = observation is not None and observation.exit_criteria_met is True
            climbed = self._climb(
                incident, now, persisting=incident.firing_alerts > 0 and not cleared
            )
            why = "escalated" if escalated or climbed.escalated else None
            if why is None and climbed.moved:
                why = self._climb_why(incident, climbed)
            planned = self._assess_and_notify(incident, now, why)
            incident.updated_at = now
            self.store.save_incident(incident)
            return planned

    def _poll_due(self, incident: Incident, now: datetime) -> bool:
        opened = self.store.get_key(self._poll_key(incident))
        if opened is None:
            return True
        return now - datetime.fromisoformat(opened) >= timedelta(
            seconds=self._poll_window(incident)
        )

    def _mark_polled(self, incident: Incident, now: datetime) -> None:
        # under the incident's lock: nobody else writes the key meanwhile
        key = self._poll_key(incident)
        self.store.delete_key(key)
        self.store.set_if_absent(key, now.isoformat(), self._poll_window(incident))

    def _poll_key(self, incident: Incident) -> str:
        return f"observe:{incident.id}"

    def _poll_window(self, incident: Incident) -> float:
        if self.settings.observation_poll_seconds is not None:
            return float(self.settings.observation_poll_seconds)
        known = self.taxonomy.incident_types.get(incident.incident_type)
        return float(known.cooldowns.observation_poll_seconds if known else 60)

    def _escalate_if_persisting(
        self, incident: Incident, observation: Observation | None, now: datetime
    ) -> bool:
        """A contained incident whose problem persists past its window escalates."""
        if incident.state != IncidentState.contained:
            return False
        since = next(
            (e.at for e in reversed(incident.timeline) if e.event == "state:contained"), None
        )
        if since is None:
            return False
        cleared = observation is not None and observation.exit_criteria_met is True
        if cleared or incident.firing_alerts == 0:
            return False
        window = self._escalation_window(incident)
        persisted = now - since
        if persisted < timedelta(seconds=window):
            return False
        minutes = int(persisted.total_seconds() // 60)
        return move(
            incident,
            IncidentState.escalated,
            f"the problem persists {minutes}m after containment (window {window}s)",
            now,
        )

    # the escalation ladder

    def _ladder(self, incident: Incident) -> tuple[LadderStep, ...]:
        return ladder_for(
            self.taxonomy, incident.incident_type, self.settings.escalation_window_seconds
        )

    def _held(self, incident: Incident) -> frozenset[str]:
        if not self.settings.ladder_holds_asks:
            return frozenset()
        return held_actions(incident, self._ladder(incident))

    def _climb(self, incident: Incident, now: datetime, persisting: bool) -> Climb:
        """Climb the incident's ladder as far as its steps failed; a ladder
        that escalates moves the incident to escalated (audited)."""
        if incident.state not in CLIMBING_STATES or is_storm(incident):
            return Climb()  # a node storm is a person's from its start: nothing to climb
        ladder = self._ladder(incident)
        if incident.ladder is None:  # stored before ladders existed
            enter_first(incident, ladder, now, "joined its ladder")
            return Climb()
        approvals = self.act.approvals.for_incident(incident.id) if self.act is not None else []
        climbed = climb(incident, ladder, now, persisting=persisting, approvals=approvals)
        if climbed.escalated and move(incident, IncidentState.escalated, climbed.detail, now):
            self._audit("incident.escalated", incident, climbed.detail)
        return climbed

    def _climb_why(self, incident: Incident, climbed: Climb) -> str:
        """The notification's words for a move, naming what the step asks for."""
        why = f"climbed its escalation ladder: {climbed.detail}"
        if climbed.entered is None:
            return why
        names = [
            spec.display_name
            for action in climbed.entered.actions
            if (spec := self.taxonomy.actions.get(action)) is not None
            and action not in ("collect_evidence", "notify_operator")
        ]
        return why + (f"; now: {', '.join(names)}" if names else "")

    def _escalation_window(self, incident: Incident) -> int:
        if self.settings.escalation_window_seconds is not None:
            return self.settings.escalation_window_seconds
        known = self.taxonomy.incident_types.get(incident.incident_type)
        return known.cooldowns.action_retry_seconds if known else 900

    # acting

    def _act(self, incident_id: str, planned: list[PlannedRun]) -> None:
        """Run ``planned`` outside the incident's lock, then record the outcome
        under it on a fresh copy of the incident."""
        assert self.act is not None
        snapshot = self.store.get_incident(incident_id)
        if snapshot is None:
            return
        override = self.decide.cooldown_override(snapshot, self.clock())
        runs = self.act.run(snapshot, planned, override)
        try:
            with held_lock(
                self.store,
                f"incident:{snapshot.correlation_key}",
                self._lock_ttl,
                _RECORD_WAIT_SECONDS,
            ):
                now = self.clock()
                incident = self.store.get_incident(incident_id)
                if incident is None:
                    return
                acted = self.act.record(incident, runs, now)
                if acted.escalated or acted.contained:
                    self._audit(
                        f"incident.{incident.state}", incident, incident.timeline[-1].detail
                    )
                climbed = self._climb(incident, now, persisting=False)
                if acted.escalated or climbed.escalated:
                    self._notify_if_allowed(incident, now, "escalated")
                elif climbed.moved:
                    self._notify_if_allowed(incident, now, self._climb_why(incident, climbed))
                if climbed.entered is not None:
                    self.act.ask(incident, incident.recommended_actions, now, self._held(incident))
                self.store.save_incident(incident)
        except LockBusy:
            # the runs are in the audit log already; only the incident's copy is missing
            log.error(
                "incident %s stayed locked: outcome of %s not recorded on it",
                incident_id,
                ", ".join(r.request.action for r in runs),
            )

    def _severity(self, incident: Incident) -> Severity:
        incident_type = self.taxonomy.incident_types.get(incident.incident_type)
        labelled = [
            _SEVERITY_LABEL[a.labels["severity"]]
            for a in incident.alerts.values()
            if a.status == "firing" and a.labels.get("severity") in _SEVERITY_LABEL
        ]
        if labelled:
            return max(labelled, key=lambda s: s.rank)
        return incident_type.default_severity if incident_type else Severity.warning

    def _notify(self, incident: Incident, now: datetime, why: str) -> None:
        # The in-app record is made here; the notifier (when there is one)
        # keeps the inbox entry and queues the chat deliveries, which run
        # outside this lock with their own retries and failover.
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
            self.notifier.incident(incident, why, now)

    # resolution

    def _resolve_alert(self, incident: Incident, alert: WebhookAlert, now: datetime) -> None:
        self._take_alert(incident, alert, now)
        self.store.delete_key(self._dedupe_key(incident, alert))
        incident.record("alert_resolved", alert.alertname, now)
        if incident.firing_alerts == 0 and incident.state != IncidentState.recovering:
            incident.move_to(IncidentState.recovering, "all alerts resolved", now)

    def sweep(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Resolve recovering incidents whose quiet period has passed.

        An incident whose lock is taken is skipped; the next sweep looks again,
        as it does for the rest when ``stop`` ends this one early."""
        resolved: list[str] = []
        for candidate in self.store.incidents_in_state(IncidentState.recovering):
            if stop():
                break
            try:
                incident = self._resolve_if_quiet(candidate)
            except LockBusy:
                continue
            if incident is None:
                continue
            self.metrics.incidents_resolved.labels(
                incident.incident_type, incident.severity, incident.environment
            ).inc()
            self._audit("incident.resolve", incident, "exit criteria hold")
            resolved.append(incident.id)
        return resolved

    def _resolve_if_quiet(self, candidate: Incident) -> Incident | None:
        quiet = timedelta(seconds=self._quiet_period(candidate.incident_type))
        with held_lock(self.store, f"incident:{candidate.correlation_key}", self._lock_ttl):
            now = self.clock()
            incident = self.store.get_incident(candidate.id)
            if incident is None or incident.state != IncidentState.recovering:
                return None
            assert incident.recovering_since is not None
            if now - incident.recovering_since < quiet:
                return None
            if not self._exit_criteria_hold(incident, now):
                incident.updated_at = now
                self.store.save_incident(incident)
                return None
            incident.move_to(
                IncidentState.resolved,
                f"alerts resolved and quiet for {int(quiet.total_seconds())}s",
                now,
            )
            if self.notifier is not None:
                self.notifier.resolved(incident, now)
            self.store.save_incident(incident)
            return incident

    def _exit_criteria_hold(self, incident: Incident, now: datetime) -> bool:
        """Whether the type's exit criteria hold, as far as its collectors can
        tell (True when none can). They are looked at again at most once per
        observation interval; in between, the last verdict stands."""
        if self.observer is None or not self.observer.serves(incident):
            return True
        if self._poll_due(incident, now):
            observation = self._observe(incident, now)
            return observation is None or observation.exit_criteria_met is not False
        last = next(
            (e.detail for e in reversed(incident.timeline) if e.event == "exit_criteria"), ""
        )
        return last != "do not hold"

    # helpers

    def _first_in_window(self, incident: Incident, alert: WebhookAlert, now: datetime) -> bool:
        """True unless the same alert was already seen inside the window.

        The key holds when its window opened, read against the processor's
        clock; the key's expiry only collects it afterwards."""
        key = self._dedupe_key(incident, alert)
        window = self._window(incident, now)
        if self.store.set_if_absent(key, now.isoformat(), window):
            return True
        opened = self.store.get_key(key)
        if opened is not None and now - datetime.fromisoformat(opened) < timedelta(seconds=window):
            return False
        if opened is not None:
            self.store.delete_key(key, expected=opened)
        return self.store.set_if_absent(key, now.isoformat(), window)

    def _dedupe_key(self, incident: Incident, alert: WebhookAlert) -> str:
        return f"dedupe:{incident.correlation_key}:{alert.identity}"

    def _window(self, incident: Incident, now: datetime) -> float:
        override = self.decide.cooldown_override(incident, now)
        if override is not None:
            return float(max(override, 1))
        if self.settings.duplicate_window_seconds is not None:
            return float(self.settings.duplicate_window_seconds)
        incident_type = self.taxonomy.incident_types.get(incident.incident_type)
        if incident_type is None:
            return 900.0
        return float(incident_type.cooldowns.duplicate_suppression_seconds)

    def _quiet_period(self, type_id: str) -> int:
        if type_id in self.settings.quiet_period_seconds:
            return self.settings.quiet_period_seconds[type_id]
        if "*" in self.settings.quiet_period_seconds:
            return self.settings.quiet_period_seconds["*"]
        incident_type = self.taxonomy.incident_types.get(type_id)
        return incident_type.quiet_period_seconds if incident_type else 300

    def _audit(self, action: str, incident: Incident, detail: str) -> None:
        self.store.append_audit(
            AuditEntry(
                actor="robot",
                surface="worker",
                action=action,
                subject=f"incident:{incident.id}",
                after={"state": incident.state},
                detail=detail,
                at=self.clock(),
            )
        )
