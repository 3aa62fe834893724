"""One incident's turn through the pipeline stages, and the values the
stages hand on to each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from responder.records.action import ActionRequest, ActionRun
from responder.records.alert import WebhookAlert
from responder.records.audit import audit_incident
from responder.records.incident import Incident, RecommendedAction, ResourceScope
from responder.records.writes import Writes

Outcome = Literal[
    "opened", "updated", "duplicate", "resolved_alert", "ignored", "orphan_resolve", "stale"
]
Kind = Literal["alerts", "poll", "acted", "review"]
#: the decision of an action the robot may not carry out here (no executor,
#: no valid target, no params, or its plan refused): shown with the reason
RECOMMEND = "recommend"


@dataclass(frozen=True)
class Correlated:
    """An alert with its incident type and the correlation key of its incident."""

    alert: WebhookAlert
    incident_type: str
    reason: str
    scope: ResourceScope
    key: str


@dataclass(frozen=True)
class PlannedRun:
    """An action the robot runs on its own once the incident's lock is released."""

    request: ActionRequest
    decision: str
    action_class: str


@dataclass
class Decided:
    """One candidate action on one target: the policy's decision, then the
    decision the robot may act on now (the guard rails tighten it), and the
    explain answer kept on the incident's record."""

    action: str
    action_class: str
    target: dict[str, str] | None
    policy_decision: str
    policy_reason: str
    answer: dict[str, object]
    decision: str
    reason: str
    would_have: str | None = None
    """under the shadow mode: the decision the robot would have acted on"""
    params: dict[str, Any] = field(default_factory=dict)
    """what the action's executor needs besides the target, from the evidence"""

    def recommendation(self) -> RecommendedAction:
        return RecommendedAction(
            action=self.action,
            action_class=self.action_class,
            decision=self.decision,
            reason=self.reason,
            target=self.target,
            would_have=self.would_have,
            params=self.params,
        )


@dataclass
class Batch:
    """Updates committed together: one time, one set of writes, and what a
    stage keeps for the whole batch (``kept``, by stage name)."""

    now: datetime
    writes: Writes = field(default_factory=Writes)
    kept: dict[str, object] = field(default_factory=dict)


@dataclass
class Update:
    """An incident's turn: what brought it (alerts, a poll, actions that ran,
    a look again before an approved action runs), the incident as it stands,
    and what the stages found."""

    kind: Kind
    key: str
    batch: Batch
    incident: Incident | None = None
    alerts: Sequence[Correlated] = ()
    outcomes: list[tuple[Outcome, str | None]] = field(default_factory=list)
    opened: bool = False
    fresh: bool = False
    """an alert brought news (not a duplicate, not only resolutions)"""
    why: str | None = None
    """what operators are told (opened, updated, escalated …); None: nothing"""
    observed: bool = False
    exit_criteria: bool | None = None
    """whether the type's exit criteria hold, as the collectors saw them just
    now (None: they did not look, or cannot tell)"""
    decided: list[Decided] = field(default_factory=list)
    planned: list[PlannedRun] = field(default_factory=list)
    runs: list[ActionRun] = field(default_factory=list)
    """the runs of a round, recorded in an ``acted`` turn"""
    held: frozenset[str] = frozenset()
    """approval-required actions whose ladder step has not come"""
    ask: bool = True
    """whether approval requests are raised in this turn"""

    @property
    def cleared(self) -> bool:
        return self.exit_criteria is True

    @property
    def now(self) -> datetime:
        return self.batch.now

    @property
    def writes(self) -> Writes:
        return self.batch.writes

    @property
    def recommendations(self) -> list[RecommendedAction]:
        """The incident's recommended actions (this turn's, once the guard
        stage made them; its last ones in a turn that decides nothing)."""
        return self.incident.recommended_actions if self.incident is not None else []

    def audit(self, action: str, detail: str, surface: str = "worker") -> None:
        """An audit entry about the incident, by the robot, with this turn's writes."""
        assert self.incident is not None
        audit_incident(self.writes, self.incident, action, detail, self.now, surface)
