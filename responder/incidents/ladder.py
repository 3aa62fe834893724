"""Escalation ladders, followed by incidents.

An incident enters its type's first step when it opens. A step fails when all
its actions failed or were denied, or its wait passed while the problem
persists; it then climbs to the next step or escalates the incident, which
ends the climb."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident, LadderPosition
from responder.records.lifecycle import IncidentState
from responder.taxonomy.models import LadderStep, Taxonomy

#: the states in which an incident climbs (a suppressed one is quiet on
#: purpose, a recovering or resolved one no longer has the problem)
CLIMBING_STATES = frozenset(
    {IncidentState.triaged, IncidentState.contained, IncidentState.escalated}
)


@dataclass(frozen=True)
class Climb:
    """What one look at the ladder changed."""

    entered: LadderStep | None = None
    """the step the incident climbed to (the last one, when it climbed twice)"""
    escalated: bool = False
    """a failed step escalated the incident; the climb is over"""
    detail: str = ""
    """the last ``ladder`` timeline entry made"""

    @property
    def moved(self) -> bool:
        return self.entered is not None or self.escalated


def ladder_for(
    taxonomy: Taxonomy, incident_type: str, first_wait: int | None = None
) -> tuple[LadderStep, ...]:
    """The type's ladder, its first step waiting ``first_wait`` seconds when given."""
    ladder = taxonomy.ladder(incident_type)
    if first_wait is None:
        return ladder
    return (ladder[0].model_copy(update={"wait_seconds": first_wait}), *ladder[1:])


def enter_first(
    incident: Incident, ladder: Sequence[LadderStep], now: datetime, why: str = "opened"
) -> None:
    first = ladder[0]
    incident.ladder = LadderPosition(step=0, step_id=first.id, entered_at=now)
    incident.record(
        "ladder", f"step 1/{len(ladder)} {first.id}: {why} (waits {span(first.wait_seconds)})", now
    )


def current_index(position: LadderPosition, ladder: Sequence[LadderStep]) -> int:
    """The position's step in ``ladder``, found by id first (the catalogue
    may have changed since the incident was stored)."""
    for index, step in enumerate(ladder):
        if step.id == position.step_id:
            return index
    return min(max(position.step, 0), len(ladder) - 1)


def climb(
    incident: Incident,
    ladder: Sequence[LadderStep],
    now: datetime,
    *,
    persisting: bool,
    approvals: Sequence[ApprovalRequest] = (),
) -> Climb:
    """Climb while the current step has failed; records each move on the
    timeline. The caller escalates the incident's state when asked to."""
    position = incident.ladder
    if position is None or position.escalated_at is not None or not ladder:
        return Climb()
    climbed = Climb()
    for _ in range(len(ladder)):
        index = current_index(position, ladder)
        step = ladder[index]
        failure = step_failure(incident, step, approvals, now)
        if failure is not None:
            why = f"{step.id} failed ({failure})"
        elif persisting and now - position.entered_at >= timedelta(seconds=step.wait_seconds):
            why = f"{step.id} did not clear it within {span(step.wait_seconds)}"
        else:
            break
        if step.on_failure == "escalate" or index + 1 >= len(ladder):
            position.escalated_at = now
            detail = f"step {index + 1}/{len(ladder)} {step.id}: {why}; escalated"
            incident.record("ladder", detail, now)
            return Climb(entered=climbed.entered, escalated=True, detail=detail)
        following = ladder[index + 1]
        position = LadderPosition(step=index + 1, step_id=following.id, entered_at=now)
        incident.ladder = position
        detail = f"step {index + 2}/{len(ladder)} {following.id}: {why}"
        incident.record("ladder", detail, now)
        climbed = Climb(entered=following, detail=detail)
        persisting = False  # the new step's wait starts now
    return climbed


def step_failure(
    incident: Incident,
    step: LadderStep,
    approvals: Sequence[ApprovalRequest],
    now: datetime,
) -> str | None:
    """What failed, when every action of ``step`` that was tried failed or
    was denied; None while nothing was tried, something succeeded or an
    answer is awaited. Expired and superseded requests count as not tried."""
    # (action, target) -> (when, order among equal times, failed?, what)
    latest: dict[tuple[str, str], tuple[datetime, int, bool, str]] = {}

    def keep(key: tuple[str, str], outcome: tuple[datetime, int, bool, str]) -> None:
        if key not in latest or outcome[:2] >= latest[key][:2]:
            latest[key] = outcome

    for approval in approvals:
        state = approval.state_at(now)
        if approval.action not in step.actions or state in ("expired", "superseded", "executed"):
            continue  # an executed request ended in a run: its record below says how
        key = (approval.action, _target(approval.target))
        when = approval.decided_at or approval.requested_at
        ended = "could not run" if state == "failed" else "denied"
        failed = state in ("denied", "failed")
        keep(key, (when, 0, failed, f"{approval.action} on {key[1]} {ended}"))
    for executed in incident.executed_actions:
        if executed.action not in step.actions or executed.result not in (
            "succeeded",
            "failed",
            "refused",
        ):
            continue
        key = (executed.action, _target(executed.target))
        ended = "failed" if executed.result == "failed" else "was refused"
        what = f"{executed.action} on {key[1]} {ended}"
        keep(key, (executed.at, 1, executed.result != "succeeded", what))
    if not latest or not all(failed for _, _, failed, _ in latest.values()):
        return None
    return ", ".join(sorted(what for _, _, _, what in latest.values()))


def held_actions(incident: Incident, ladder: Sequence[LadderStep]) -> frozenset[str]:
    """The actions whose asks wait for a later step (none once the climb is
    over, or for an incident not on its ladder)."""
    position = incident.ladder
    if position is None or position.escalated_at is not None or not ladder:
        return frozenset()
    index = current_index(position, ladder)
    reached = {a for step in ladder[: index + 1] for a in step.actions}
    later = {a for step in ladder[index + 1 :] for a in step.actions}
    return frozenset(later - reached)


def ladder_view(incident: Incident, ladder: Sequence[LadderStep]) -> dict[str, Any] | None:
    """The ladder as the API shows it: the position's fields (``step``,
    ``step_id``, ``entered_at``, ``escalated_at``) plus the steps and when
    the current step's wait ends (None once the ladder escalated). None for
    an incident not on its ladder yet."""
    position = incident.ladder
    if position is None or not ladder:
        return None
    index = current_index(position, ladder)
    step = ladder[index]
    ends = position.entered_at + timedelta(seconds=step.wait_seconds)
    return {
        "step": index,
        "step_id": step.id,
        "entered_at": position.entered_at.isoformat(),
        "escalated_at": position.escalated_at.isoformat() if position.escalated_at else None,
        "wait_ends_at": None if position.escalated_at else ends.isoformat(),
        "steps": [rung.model_dump(mode="json") for rung in ladder],
    }


def span(seconds: int) -> str:
    """``600`` → ``10m``; ``90`` → ``90s``; ``5400`` → ``1h30m``."""
    if seconds % 60 or seconds < 60:
        return f"{seconds}s"
    hours, minutes = divmod(seconds // 60, 60)
    if not hours:
        return f"{minutes}m"
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def _target(target: dict[str, str] | None) -> str:
    if not target:
        return "-"
    return f"{target.get('kind', '')}/{target.get('namespace') or ''}/{target.get('name', '')}"
