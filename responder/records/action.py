"""Values that travel between the decide stage, the runner and executors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from responder.records.incident import ExecutedAction
from responder.records.target import Target

Result = Literal["succeeded", "failed", "refused", "dry_run", "skipped", "not_available"]


@dataclass(frozen=True)
class ActionRequest:
    """One action on one target, for one incident."""

    action: str
    target: Target
    incident_id: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What applying a request would change, read from the live state.

    ``previous`` is the state the inverse restores (for example the replica
    count before scaling to zero); ``changes`` describes the write."""

    request: ActionRequest
    previous: dict[str, Any]
    changes: dict[str, Any]
    summary: str


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
