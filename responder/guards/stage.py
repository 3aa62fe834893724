"""The guard stage: what each decision may be now, and what the incident's
record keeps of it.

A control-plane refusal escalates the incident; a blast-radius refusal does
not, because the breach is one node storm incident that pages once. A
decision that differs from the last one kept goes to the decision log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from responder.guards.rails import (
    GUARDED_CLASSES,
    GuardRails,
    GuardVerdict,
    GuardView,
    explain_with_guards,
    is_node_incident,
    subject_of,
)
from responder.guards.storm import NodeStorms
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.update import RECOMMEND, Update

#: the decisions the guard rails may tighten
GUARDED = frozenset({"auto", "approval"})


@dataclass(eq=False)
class GuardStage:
    name = "guard"

    rails: GuardRails
    storms: NodeStorms

    def view(self, update: Update) -> GuardView:
        """The batch's view of the guard rails (read once per batch)."""
        view = update.batch.kept.get(self.name)
        if not isinstance(view, GuardView):
            view = self.rails.view(update.now)
            update.batch.kept[self.name] = view
        return view

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        view = self.view(update)
        if incident.is_storm:
            incident.recommended_actions = [d.recommendation() for d in update.decided]
            self._settle(update, view, incident)
            return True
        view.take(incident)
        node_incident = is_node_incident(incident.incident_type, incident.correlation_key)
        if node_incident and len(set(view.nodes.values())) > view.rails.node_limit:
            # a breach (re)starts the storm cooldown before anything is decided
            until = self.rails.open_storm(update.now, update.writes)
            if until is not None and until != view.storm_until:
                view.storm_until = until
                view.changed()
        guarded: list[GuardVerdict] = []
        for decided in update.decided:
            if decided.action_class in GUARDED_CLASSES and decided.policy_decision in GUARDED:
                subject = subject_of(incident, decided.action, decided.action_class, decided.target)
                found = view.judge(decided.policy_decision, decided.policy_reason, subject)
                if decided.decision == RECOMMEND and found.decision != "off":
                    # it cannot run here anyway: recommended, unless a guard refuses it
                    found = replace(found, decision=RECOMMEND, reason=decided.reason)
            else:  # nothing to tighten: observe and notify, or not the robot's to do
                found = GuardVerdict(decided.decision, decided.reason, decided.policy_decision)
            guarded.append(found)
            decided.decision, decided.reason = found.decision, found.reason
            decided.would_have = found.would_have
            decided.answer = explain_with_guards(decided.answer, found)
        storm_id = self._breach(update, view, incident, any(g.breach for g in guarded))
        escalations: list[str] = []
        for decided, found in zip(update.decided, guarded, strict=True):
            if storm_id is not None and any(
                n.guard == "blast_radius" and n.reason == decided.reason for n in found.notes
            ):
                decided.reason = f"{decided.reason}; part of node storm {storm_id}"
                decided.answer["reason"] = decided.reason
            escalation = own_escalation(found, storm_id is not None)
            if escalation is not None:
                escalations.append(escalation)
        incident.recommended_actions = [d.recommendation() for d in update.decided]
        keep_decisions(incident, update)
        if escalations and escalate(incident, escalations[0], update):
            update.audit("incident.escalated", incident.timeline[-1].detail)
            update.why = update.why or "escalated"
        view.take(incident)
        return True

    def _breach(
        self, update: Update, view: GuardView, incident: Incident, breach: bool
    ) -> str | None:
        """On a breach: the storm incident (opened or updated) and this
        incident's membership; else settle an open storm. The storm's id, or None."""
        unhealthy = len(set(view.nodes.values()))
        limit = view.rails.node_limit
        if not breach:
            if unhealthy <= limit and is_node_incident(
                incident.incident_type, incident.correlation_key
            ):
                self.storms.settle_open(str(incident.environment), unhealthy, limit, update.now)
            return None
        nodes = set(view.nodes.values())
        storm = self.storms.breach(incident, nodes, limit, update.now)
        wanted = f"part of node storm {storm.id}"
        if not any(e.event == "node_storm" and e.detail == wanted for e in incident.timeline):
            incident.record("node_storm", wanted, update.now)
        return storm.id

    def _settle(self, update: Update, view: GuardView, storm: Incident) -> None:
        unhealthy = len(set(view.nodes.values()))
        self.storms.settle(storm, unhealthy, view.rails.node_limit, update.now)


def own_escalation(guarded: GuardVerdict, in_storm: bool) -> str | None:
    """Why the incident escalates on its own: a control-plane refusal always;
    a blast-radius refusal only when no storm incident takes it over."""
    for item in guarded.notes:
        if item.guard == "control_plane":
            return item.reason
    return None if in_storm else guarded.escalate


def escalate(incident: Incident, why: str, update: Update) -> bool:
    """A refused node action escalates the incident to a person, once."""
    if incident.state == IncidentState.escalated:
        return False
    return incident.try_move(IncidentState.escalated, why[:500], update.now)


def keep_decisions(incident: Incident, update: Update) -> None:
    """Log the decisions that changed since the last one kept for the same
    action and target (the same decision for the same reason is not new)."""
    at = update.now.isoformat()
    if not incident.decisions:
        incident.decisions = [{"at": at, **d.answer} for d in update.decided]
        return
    latest = {(d["action"], _key(d.get("target"))): d for d in incident.decisions}
    for decided in update.decided:
        previous = latest.get((decided.action, _key(decided.target)))
        if previous is None or any(previous.get(k) != v for k, v in decided.answer.items()):
            incident.decisions.append({"at": at, **decided.answer})


def _key(target: Mapping[str, str] | None) -> tuple[str, ...]:
    if not target:
        return ()
    return (target.get("kind", ""), target.get("namespace") or "", target.get("name", ""))
