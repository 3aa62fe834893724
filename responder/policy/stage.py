"""The decide stage: severity, then a policy decision for every candidate
action of the incident on each of its targets (``responder/policy/targets.py``),
tightened by the guard rails of the current state (``responder/guards/``),
each with its layer trace (and guard notes) stored on the incident.

A node action refused on a control-plane node escalates the incident. One
refused by the blast radius does not: the breach is a node storm, one
cluster-level incident (``responder/guards/storm.py``) that pages once; the
node incident gets "part of node storm <id>" on its timeline and the refusal
names the storm. The storm incident itself is decided here too (on its
polls): only observed and notified, never acted on, and moved to recovering
once the breach is over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from responder.guards.rails import (
    Guarded,
    GuardRails,
    GuardState,
    explained,
    guard,
    subject_of,
)
from responder.guards.storm import NodeStorms, is_storm
from responder.policy.decision import Decision, PolicyDecision
from responder.policy.engine import History, IncidentView, PolicyEngine
from responder.policy.severity import SeverityRules
from responder.policy.targets import candidate_targets
from responder.records.incident import Incident, RecommendedAction
from responder.records.levels import Severity
from responder.records.lifecycle import TRANSITIONS, IncidentState
from responder.taxonomy.facts import FACT_DEFAULTS

#: the decisions kept per incident (oldest dropped first)
MAX_DECISIONS = 200
OBSERVE_AND_NOTIFY = ("collect_evidence", "notify_operator")


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


class PolicyStage:
    """Callable as the processor's decide stage."""

    def __init__(
        self,
        engine: PolicyEngine,
        severity_rules: SeverityRules,
        guards: GuardRails | None = None,
        storms: NodeStorms | None = None,
    ) -> None:
        self.engine = engine
        self.severity_rules = severity_rules
        self.guards = guards
        self.storms = storms

    def severity(self, incident: Incident, now: datetime) -> tuple[Severity, str]:
        """The type's severity rule, never below the alerts' own severity,
        raised by any matching operator rule that escalates."""
        view = incident_view(incident, now)
        floor = incident.severity
        reason = f"alert severity {floor}"
        found = self.severity_rules.evaluate(incident.incident_type, _input(view))
        best = floor
        if found is not None and found[0].rank > best.rank:
            best, reason = found[0], f"severity rule: {found[1]}"
        for rule in self.engine.matching_rules(view, self._rule_activation(view, now)):
            if rule.severity is not None and rule.severity.rank > best.rank:
                best, reason = rule.severity, f"operator rule {rule.id} escalates"
        return best, reason

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        """The shortest cooldown of the operator rules matching the incident."""
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

    def __call__(self, incident: Incident, now: datetime) -> list[RecommendedAction]:
        if self.storms is not None and is_storm(incident):
            return self._storm(incident, now)
        severity, why = self.severity(incident, now)
        if severity != incident.severity:
            incident.record("severity", f"{incident.severity} → {severity}: {why}", now)
            incident.severity = severity
        view = incident_view(incident, now)
        incident_type = self.engine.taxonomy.incident_types.get(incident.incident_type)
        actions = incident_type.candidate_actions if incident_type else OBSERVE_AND_NOTIFY
        latest = {(d["action"], _key(d.get("target"))): d for d in incident.decisions}
        state = self.guards.snapshot(now) if self.guards is not None else None
        decided: list[tuple[str, PolicyDecision, dict[str, object], Guarded | None]] = []
        for action_id in actions:
            for target in candidate_targets(action_id, incident):
                decision = self.engine.decide(view, action_id, target, at=now)
                answer: dict[str, object] = decision.explain()
                guarded = None
                if state is not None:
                    subject = subject_of(
                        incident, action_id, decision.action_class, decision.target
                    )
                    guarded = guard(decision.decision.value, decision.reason, subject, state)
                    answer = explained(answer, guarded)
                decided.append((action_id, decision, answer, guarded))
        storm_id = self._storm_breach(incident, decided, state, now)
        recommendations: list[RecommendedAction] = []
        escalations: list[str] = []
        for action_id, decision, answer, guarded in decided:
            final, reason, would_have = decision.decision.value, decision.reason, None
            if guarded is not None:
                final, reason, would_have = guarded.decision, guarded.reason, guarded.would_have
                if storm_id is not None and any(
                    n.guard == "blast_radius" and n.reason == reason for n in guarded.notes
                ):
                    reason = f"{reason}; part of node storm {storm_id}"
                    answer["reason"] = reason
                escalation = own_escalation(guarded, storm_id is not None)
                if escalation is not None:
                    escalations.append(escalation)
            recommendations.append(
                RecommendedAction(
                    action=action_id,
                    action_class=decision.action_class,
                    decision=final,
                    reason=reason,
                    target=decision.target,
                    would_have=would_have,
                )
            )
            previous = latest.get((action_id, _key(decision.target)))
            # the same decision for the same reason is not a new decision
            if previous is None or any(previous.get(k) != v for k, v in answer.items()):
                incident.decisions.append({"at": now.isoformat(), **answer})
        del incident.decisions[:-MAX_DECISIONS]
        if escalations:
            self._escalate(incident, escalations[0], now)
        return recommendations

    def _storm_breach(
        self,
        incident: Incident,
        decided: list[tuple[str, PolicyDecision, dict[str, object], Guarded | None]],
        state: GuardState | None,
        now: datetime,
    ) -> str | None:
        """On a breach: the storm incident (opened or updated) and this
        incident's membership; else settle an open storm. The storm's id, or None."""
        if self.storms is None or state is None:
            return None
        if not any(g is not None and g.breach for _, _, _, g in decided):
            self.storms.settle_open(
                str(incident.environment), len(state.unhealthy_nodes), state.node_limit, now
            )
            return None
        storm = self.storms.breach(incident, state.unhealthy_nodes, state.node_limit, now)
        wanted = f"part of node storm {storm.id}"
        if not any(e.event == "node_storm" and e.detail == wanted for e in incident.timeline):
            incident.record("node_storm", wanted, now)
        return storm.id

    def _storm(self, storm: Incident, now: datetime) -> list[RecommendedAction]:
        """A storm incident is observed and notified, never acted on; once the
        breach is over it moves to recovering (the caller holds its lock)."""
        storm.severity = Severity.critical
        if self.guards is not None and self.storms is not None:
            state = self.guards.snapshot(now)
            self.storms.settle(storm, len(state.unhealthy_nodes), state.node_limit, now)
        reason = "a node storm is a cluster problem for a person: observed and notified only"
        return [
            RecommendedAction(
                action=action,
                action_class="observe" if action == "collect_evidence" else "notify",
                decision="auto",
                reason=reason,
            )
            for action in OBSERVE_AND_NOTIFY
        ]

    def _escalate(self, incident: Incident, why: str, now: datetime) -> None:
        """A refused node action escalates the incident to a person, once."""
        if incident.state == IncidentState.escalated:
            return
        if IncidentState.escalated in TRANSITIONS[incident.state]:
            incident.move_to(IncidentState.escalated, why[:500], now)


def own_escalation(guarded: Guarded, in_storm: bool) -> str | None:
    """Why the incident escalates on its own: a control-plane refusal always;
    a blast-radius refusal only when no storm incident takes it over."""
    for item in guarded.notes:
        if item.guard == "control_plane":
            return item.reason
    return None if in_storm else guarded.escalate


def _key(target: Mapping[str, str] | None) -> tuple[str, ...]:
    if not target:
        return ()
    return (target.get("kind", ""), target.get("namespace") or "", target.get("name", ""))


def _input(view: IncidentView) -> Mapping[str, Any]:
    return view.as_input("", True)


__all__ = ["Decision", "PolicyStage", "incident_view"]
