"""The incident lifecycle of spec section 2 as an explicit transition table.

Normal path: observed → triaged → contained → recovering → resolved;
``suppressed`` and ``escalated`` are side exits. ``resolved`` is final: a
problem that comes back opens a new incident.
"""

from __future__ import annotations

from enum import StrEnum


class IncidentState(StrEnum):
    observed = "observed"
    triaged = "triaged"
    contained = "contained"
    recovering = "recovering"
    resolved = "resolved"
    suppressed = "suppressed"
    escalated = "escalated"


S = IncidentState

#: the states in which the robot neither carries out nor asks for an action
NOT_ACTING = (IncidentState.resolved, IncidentState.recovering, IncidentState.suppressed)

TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    S.observed: frozenset({S.triaged, S.suppressed, S.escalated, S.recovering}),
    S.triaged: frozenset({S.contained, S.recovering, S.suppressed, S.escalated}),
    S.contained: frozenset({S.recovering, S.escalated, S.triaged}),
    S.recovering: frozenset({S.resolved, S.triaged, S.escalated}),
    S.suppressed: frozenset({S.triaged, S.recovering, S.escalated}),
    S.escalated: frozenset({S.contained, S.recovering, S.triaged}),
    S.resolved: frozenset(),
}

OPEN_STATES: frozenset[IncidentState] = frozenset(s for s in IncidentState if s != S.resolved)


class IllegalTransition(ValueError):
    def __init__(self, current: IncidentState, target: IncidentState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        super().__init__(f"illegal transition {current} → {target} (allowed: {allowed})")
        self.current = current
        self.target = target


def check_transition(current: IncidentState, target: IncidentState) -> None:
    """Raise ``IllegalTransition`` unless ``current → target`` is in the table."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
