"""The escalation stage: the incident's ladder, and containment that does
not hold.

A contained incident whose problem persists past the escalation window
escalates; the ladder is looked at on every poll and after every round of
actions. A node storm is a person's from its start: it does not climb."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from responder.incidents.ladder import CLIMBING_STATES, Climb, climb, enter_first, held_actions
from responder.incidents.timing import Timings
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.update import Update
from responder.taxonomy.models import Taxonomy


@dataclass(eq=False)
class EscalationStage:
    name = "escalate"

    taxonomy: Taxonomy
    timings: Timings
    approvals: Callable[[str], Sequence[ApprovalRequest]]
    ladder_holds_asks: bool

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        if update.kind == "poll":
            escalated = self._persisting(update, incident)
            climbed = self._climb(
                update, incident, incident.firing_alerts > 0 and not update.cleared
            )
            if escalated or climbed.escalated:
                update.why = "escalated"
            elif climbed.moved:
                update.why = update.why or self._climb_why(climbed)
        elif update.kind == "acted":
            climbed = self._climb(update, incident, persisting=False)
            if climbed.escalated:
                update.why = "escalated"
            elif climbed.moved:
                update.why = update.why or self._climb_why(climbed)
            update.ask = climbed.entered is not None
        update.held = self.held(incident)
        return True

    def held(self, incident: Incident) -> frozenset[str]:
        if not self.ladder_holds_asks:
            return frozenset()
        return held_actions(incident, self.timings.ladder(incident))

    def _persisting(self, update: Update, incident: Incident) -> bool:
        """A contained incident whose problem persists past its window escalates."""
        if incident.state != IncidentState.contained:
            return False
        since = next(
            (e.at for e in reversed(incident.timeline) if e.event == "state:contained"), None
        )
        if since is None or update.cleared or incident.firing_alerts == 0:
            return False
        window = self.timings.escalation_window(incident.incident_type)
        persisted = update.now - since
        if persisted < timedelta(seconds=window):
            return False
        minutes = int(persisted.total_seconds() // 60)
        reason = f"the problem persists {minutes}m after containment (window {window}s)"
        if not incident.try_move(IncidentState.escalated, reason, update.now):
            return False
        update.audit("incident.escalated", reason)
        return True

    def _climb(self, update: Update, incident: Incident, persisting: bool) -> Climb:
        """Climb the incident's ladder as far as its steps failed; a ladder
        that escalates moves the incident to escalated (audited)."""
        if incident.state not in CLIMBING_STATES or incident.is_storm:
            return Climb()
        ladder = self.timings.ladder(incident)
        if incident.ladder is None:  # stored before ladders existed
            enter_first(incident, ladder, update.now, "joined its ladder")
            return Climb()
        approvals = self.approvals(incident.id)
        climbed = climb(incident, ladder, update.now, persisting=persisting, approvals=approvals)
        if climbed.escalated and incident.try_move(
            IncidentState.escalated, climbed.detail, update.now
        ):
            update.audit("incident.escalated", climbed.detail)
        return climbed

    def _climb_why(self, climbed: Climb) -> str:
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
