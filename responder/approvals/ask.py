"""The ask stage: an approval request (spec section 14) for every
``approval`` decision with a target, one per (incident, action, target)
while it is pending; the asks of actions whose escalation-ladder step has
not come yet wait (``Update.held``). A request shows the executor's plan;
an action whose plan is refused is recommended with the reason instead.
The requests go with the turn's writes."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

from responder.actions.feasibility import CannotRun, Feasibility
from responder.approvals.requests import ApprovalRequests
from responder.evidence.hypothesis import hypothesis
from responder.records.action import requested
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident, RecommendedAction
from responder.records.lifecycle import NOT_ACTING
from responder.records.target import Target
from responder.records.update import RECOMMEND, Update
from responder.records.writes import Writes
from responder.taxonomy.models import CHANGING_CLASSES


@dataclass(eq=False)
class AskStage:
    name = "ask"

    requests: ApprovalRequests
    feasibility: Feasibility

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        # a suppressed, recovering or resolved incident is not acted on: no ask
        if update.ask and incident.state not in NOT_ACTING:
            self.ask(
                incident,
                update.recommendations,
                update.now,
                update.held,
                update.writes,
                fresh=update.opened,
            )
        return True

    def ask(
        self,
        incident: Incident,
        recommendations: list[RecommendedAction],
        now: datetime,
        held: Collection[str] = frozenset(),
        writes: Writes | None = None,
        fresh: bool = False,
    ) -> list[ApprovalRequest]:
        """Request approval for every ``approval`` decision with a target,
        unless one is pending already or its action is ``held``; return the
        new requests."""
        created: list[ApprovalRequest] = []
        for rec in recommendations:
            if rec.decision != "approval" or rec.target is None:
                continue
            if rec.action_class not in CHANGING_CLASSES:
                continue
            if rec.action in held:
                incident.note("approval_held", f"{rec.action} waits for its ladder step", now)
                continue
            try:
                approval = self.request(
                    incident, rec, why_now(incident, rec, now), now, writes, fresh
                )
            except CannotRun:
                continue
            if approval is not None:
                incident.record("approval_requested", f"{approval.id}: {approval.prompt(now)}", now)
                created.append(approval)
        # the requests made here are not stored yet: they are pending
        if created:
            incident.approval_state = "pending"
        elif fresh:
            incident.approval_state = "none"
        else:
            incident.approval_state = self.requests.incident_state(incident.id, now)
        return created

    def request(
        self,
        incident: Incident,
        rec: RecommendedAction,
        why: str,
        now: datetime,
        writes: Writes | None = None,
        fresh: bool = False,
    ) -> ApprovalRequest | None:
        """A request for ``rec`` showing its plan (None: one is pending or was
        denied); ``CannotRun`` when the plan is refused, after ``rec`` was
        turned into a recommendation with the reason."""
        request = requested(rec, incident.id)
        try:
            return self.requests.request(
                incident,
                rec,
                why,
                now,
                writes,
                fresh=fresh,
                planned=functools.partial(self.feasibility.planned, request, incident),
            )
        except CannotRun as exc:
            recommend(incident, rec, str(exc), now)
            raise


def recommend(incident: Incident, rec: RecommendedAction, why: str, now: datetime) -> None:
    """Show ``rec`` as a recommendation with ``why`` instead of asking."""
    reason = f"cannot run here: {why}"
    incident.recommended_actions = [
        replace(r, decision=RECOMMEND, reason=reason) if r is rec else r
        for r in incident.recommended_actions
    ]
    label = Target.from_dict(rec.target).label if rec.target else "-"
    incident.note("approval_not_asked", f"{rec.action} on {label} recommended: {why}", now)


def why_now(incident: Incident, rec: RecommendedAction, now: datetime) -> str:
    """The "why now" of an approval request, from the incident's record."""
    scope = incident.resource_scope
    problem = f"{incident.display_name.lower()} on {scope.name}"
    steps = [
        a
        for a in incident.executed_actions
        if a.result == "succeeded" and a.action not in ("notify_operator", "collect_evidence")
    ]
    if steps:
        last = steps[-1]
        minutes = int((now - last.at).total_seconds() // 60)
        text = f"{problem} persists after {last.action.replace('_', ' ')} for {minutes}m"
    else:
        minutes = int((now - incident.created_at).total_seconds() // 60)
        text = f"{problem} for {minutes}m"
    cause = hypothesis(incident)
    pointing = f"; the evidence points at {cause}" if cause else ""
    ladder = ""
    if incident.ladder is not None and incident.ladder.escalated_at is None:
        ladder = f"; escalation ladder step {incident.ladder.step + 1} {incident.ladder.step_id}"
    return (
        f"{text} (severity {incident.severity}, confidence {incident.confidence}; "
        f"policy: {rec.reason}{ladder}){pointing}"
    )
