"""The decide stage: how bad the incident is and what the policy says about
each candidate action on each of its targets.

Pure: it changes the incident in hand and nothing else; what the state of the
robot and the cluster makes of each decision is the guard stage's. A node
storm is observed and notified, never acted on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from responder.evidence.confidence import confidence_band
from responder.incidents.correlate import SEVERITY_LABEL
from responder.policy.engine import History, IncidentView, PolicyEngine
from responder.policy.severity import SeverityRules
from responder.policy.targets import candidate_params, candidate_targets
from responder.records.incident import Incident, RecommendedAction
from responder.records.levels import Severity
from responder.records.target import Target
from responder.records.update import Decided, Update
from responder.taxonomy.facts import FACT_DEFAULTS

OBSERVE_AND_NOTIFY = ("collect_evidence", "notify_operator")
STORM_REASON = "a node storm is a cluster problem for a person: observed and notified only"


def incident_view(incident: Incident, now: datetime) -> IncidentView:
    facts: dict[str, bool | int] = {**FACT_DEFAULTS, **incident.facts}
    return IncidentView(
        incident_type=incident.incident_type,
        environment=incident.environment,
        severity=str(incident.severity),
        confidence=str(incident.confidence),
        domain=incident.domain or "",
        labels=incident.labels,
        scope={
            "kind": incident.resource_scope.kind,
            "namespace": incident.resource_scope.namespace or "",
            "name": incident.resource_scope.name,
        },
        signals={s.name: {"strength": s.strength, "count": s.checks} for s in incident.signals},
        facts=facts,
        age_seconds=max(0, int((now - incident.created_at).total_seconds())),
        firing_alerts=incident.firing_alerts,
    )


@dataclass(eq=False)
class DecideStage:
    name = "decide"

    engine: PolicyEngine
    severity_rules: SeverityRules

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        self.assess(incident, update.now)
        update.decided = self.decide(incident, update.now)
        return True

    def decide(self, incident: Incident, now: datetime) -> list[Decided]:
        """Raise the incident's severity by the rules, then decide every
        candidate action on every target."""
        view = incident_view(incident, now)
        severity, why = self.severity(incident, now, view)
        if severity != incident.severity:
            incident.record("severity", f"{incident.severity} → {severity}: {why}", now)
            incident.severity = severity
            view = replace(view, severity=str(severity))
        if incident.is_storm:
            incident.severity = Severity.critical
            return [
                Decided(
                    action=action,
                    action_class=self.engine.taxonomy.action(action).action_class.value,
                    target=None,
                    policy_decision="auto",
                    policy_reason=STORM_REASON,
                    answer={},
                    decision="auto",
                    reason=STORM_REASON,
                )
                for action in OBSERVE_AND_NOTIFY
            ]
        known = self.engine.taxonomy.incident_types.get(incident.incident_type)
        actions = known.candidate_actions if known else OBSERVE_AND_NOTIFY
        wanted = [
            (action_id, target)
            for action_id in actions
            for target in candidate_targets(action_id, incident)
        ]
        decided: list[Decided] = []
        for decision, answer in self.engine.explain_all(view, wanted, at=now):
            target = cast(dict[str, str] | None, answer["target"])
            params = candidate_params(
                decision.action, incident, Target.from_dict(target) if target else None
            )
            decided.append(
                Decided(
                    action=decision.action,
                    action_class=decision.action_class,
                    target=target,
                    policy_decision=decision.decision.value,
                    policy_reason=decision.reason,
                    answer=answer,
                    decision=decision.decision.value,
                    reason=decision.reason,
                    params=params,
                )
            )
        return decided

    def recommend(self, incident: Incident, now: datetime) -> list[RecommendedAction]:
        """The policy's recommendations for ``incident`` (no guard rails)."""
        return [decided.recommendation() for decided in self.decide(incident, now)]

    def assess(self, incident: Incident, now: datetime) -> None:
        """Confidence, the alerts' severity and the evidence summary of ``incident`` now."""
        band = confidence_band(incident.signals)
        incident.confidence = band.confidence
        incident.severity = alert_severity(incident, self.engine)
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

    def severity(
        self, incident: Incident, now: datetime, view: IncidentView | None = None
    ) -> tuple[Severity, str]:
        """The type's severity rule, never below the alerts' own severity,
        raised by any matching operator rule that escalates."""
        view = view or incident_view(incident, now)
        floor = incident.severity
        reason = f"alert severity {floor}"
        found = self.severity_rules.evaluate(incident.incident_type, view.as_input("", True))
        best = floor
        if found is not None and found[0].rank > best.rank:
            best, reason = found[0], f"severity rule: {found[1]}"
        if not self.engine.has_rules():
            return best, reason
        for rule in self.engine.matching_rules(view, self._rule_activation(view, now)):
            if rule.severity is not None and rule.severity.rank > best.rank:
                best, reason = rule.severity, f"operator rule {rule.id} escalates"
        return best, reason

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        """The shortest cooldown of the operator rules matching the incident."""
        if not self.engine.has_rules():
            return None
        view = incident_view(incident, now)
        matched = self.engine.matching_rules(view, self._rule_activation(view, now))
        overrides = [r.cooldown_seconds for r in matched if r.cooldown_seconds is not None]
        return min(overrides) if overrides else None

    def _rule_activation(self, view: IncidentView, now: datetime) -> Any:
        """The same input rule thresholds see in ``PolicyEngine.decide``."""
        known = self.engine.taxonomy.incident_types.get(view.incident_type)
        auto_contain = str(known.policy_binding.auto_contain) if known else "no"
        return self.engine.engine.activation(
            {
                "incident": view.as_input(auto_contain, known is not None),
                "history": History().as_input(),
                "environment": str(view.environment),
                "now": now.isoformat(),
            }
        )


def alert_severity(incident: Incident, engine: PolicyEngine) -> Severity:
    """The highest severity label of the firing alerts, else the type's default."""
    labelled = [
        SEVERITY_LABEL[a.labels["severity"]]
        for a in incident.alerts.values()
        if a.status == "firing" and a.labels.get("severity") in SEVERITY_LABEL
    ]
    if labelled:
        return max(labelled, key=lambda s: s.rank)
    known = engine.taxonomy.incident_types.get(incident.incident_type)
    return known.default_severity if known else Severity.warning
