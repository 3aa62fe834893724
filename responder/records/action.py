"""Values that travel between the decide stage, the runner and executors,
and how a round's runs go on the incident and move its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from responder.records.incident import ExecutedAction, Incident, RecommendedAction
from responder.records.lifecycle import IncidentState
from responder.records.target import Target

Result = Literal["succeeded", "failed", "refused", "dry_run", "skipped", "not_available"]


@dataclass(frozen=True)
class ActionRequest:
    """One action on one target, for one incident."""

    action: str
    target: Target
    incident_id: str
    params: dict[str, Any] = field(default_factory=dict)


def requested(rec: RecommendedAction, incident_id: str) -> ActionRequest:
    """The request a recommendation with a target makes."""
    if rec.target is None:
        raise ValueError(f"{rec.action}: a recommendation without a target requests nothing")
    return ActionRequest(rec.action, Target.from_dict(rec.target), incident_id, dict(rec.params))


@dataclass(frozen=True)
class Change:
    """One thing a plan changes, as an approver reads it: ``what`` (for
    example "image of container app"), its value now and after the write."""

    what: str
    before: str
    after: str

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Plan:
    """What applying a request would change, read from the live state.

    ``previous`` is the state the inverse restores (for example the replica
    count before scaling to zero); ``changes`` describes the write; ``diff``
    is the same write as before → after lines for the approval prompt."""

    request: ActionRequest
    previous: dict[str, Any]
    changes: dict[str, Any]
    summary: str
    diff: tuple[Change, ...] = ()


@dataclass(frozen=True)
class ActionOutcome:
    result: Result
    detail: str
    plan: Plan | None = None


@dataclass(frozen=True)
class ActionRun:
    """How one request ended. ``executed`` is the entry for the incident
    (None when nothing ran: not available, cooldown, or another replica holds
    the lock; ``note`` then says why)."""

    request: ActionRequest
    outcome: ActionOutcome
    executed: ExecutedAction | None
    note: str = ""
    acted_elsewhere: bool = False
    """Skipped because the same action on the same target is running
    elsewhere or ran within its cooldown: someone did act."""


@dataclass(frozen=True)
class StateMove:
    """The state move ``record_runs`` made."""

    contained: bool = False
    escalated: bool = False


def record_runs(incident: Incident, runs: list[ActionRun], now: datetime) -> StateMove:
    """Put ``runs`` on ``incident`` and move its state."""
    for run in runs:
        if run.executed is not None:
            incident.executed_actions.append(run.executed)
        elif run.note:
            incident.note("action_skipped", run.note, now)
    # a run a guard refused (the action caps) goes to a person like a failed one
    failed = [
        r for r in runs if r.executed is not None and r.executed.result in ("failed", "refused")
    ]
    done = [r for r in runs if r.executed is not None and r.executed.result == "succeeded"]
    if failed:
        first = failed[0]
        verb = "was refused" if first.outcome.result == "refused" else "failed"
        reason = f"{first.request.action} {verb}: {first.outcome.detail}"[:500]
        if incident.try_move(IncidentState.escalated, reason, now):
            return StateMove(escalated=True)
    elif done:
        # An escalated incident stays escalated when the robot merely
        # repeats its own containment (that already proved not enough);
        # a step a person approved may contain it.
        approved = any(r.executed is not None and r.executed.approval_id for r in done)
        if incident.state == IncidentState.escalated and not approved:
            return StateMove()
        names = ", ".join(r.request.action for r in done)
        if incident.try_move(IncidentState.contained, f"{names} succeeded", now):
            return StateMove(contained=True)
    return StateMove()
