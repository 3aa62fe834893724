"""The act stage: what the robot does with each decision.

- ``auto`` for a contain or recover action with a target: run it at once
  through the ``ActionRunner`` (which adds dry-run, cooldown, lock, timeout
  and the record);
- ``approval`` with a target: a pending approval request (spec section 14),
  one per (incident, action, target) while it is pending; with
  ``ladder_holds_asks`` the processor holds back the asks of actions whose
  escalation-ladder step has not come yet (``responder/incidents/ladder.py``);
- ``shadow`` (the guard rails' automation mode, ``responder/guards/``):
  nothing runs and nobody is asked; a ``shadow`` entry in the executed
  actions says what would have been done, at most once per action cooldown
  per target, counted in ``ops_shadow_decisions_total``;
- ``human_only`` (and ``off``): stay recommendations on the incident.

``suppress_incident`` (``responder/actions/incident.py``) runs last in a
round, and only when no other step of the round acted.

``prepare`` runs under the incident's lock and only touches the store;
``run`` calls the backends and runs *outside* that lock, so a slow backend
never holds an incident; ``record`` (again under the lock, on a fresh copy)
puts the outcomes on the incident and moves it through its lifecycle:
contained after a successful step, escalated after a failed one (an
escalated incident is contained again only by a step a person approved).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from responder.actions.runner import ActionRefused, ActionRun, ActionRunner, target_key
from responder.approvals.book import ApprovalBook
from responder.records.action import ActionOutcome, ActionRequest
from responder.records.approval import ApprovalRequest
from responder.records.incident import ExecutedAction, Incident, RecommendedAction
from responder.records.lifecycle import TRANSITIONS, IncidentState
from responder.records.target import Target

log = logging.getLogger(__name__)

ACTING_CLASSES = frozenset({"contain", "recover"})
SUPPRESS = "suppress_incident"
ASKING_CLASSES = frozenset({"contain", "recover", "disruptive"})


@dataclass(frozen=True)
class PlannedRun:
    request: ActionRequest
    decision: str
    action_class: str


@dataclass(frozen=True)
class Acted:
    """What ``record`` changed: the state moves it made."""

    contained: bool = False
    escalated: bool = False


class ActStage:
    def __init__(self, runner: ActionRunner, approvals: ApprovalBook) -> None:
        self.runner = runner
        self.approvals = approvals

    def prepare(
        self,
        incident: Incident,
        recommendations: list[RecommendedAction],
        now: datetime,
        held: Collection[str] = frozenset(),
    ) -> list[PlannedRun]:
        """Request approvals (but not for ``held`` actions) and list the runs
        due; changes only ``incident`` and the approval documents."""
        planned: list[PlannedRun] = []
        for rec in recommendations:
            if rec.target is None or rec.action_class not in ASKING_CLASSES:
                continue
            if rec.decision == "approval":
                continue  # asked below
            if rec.decision == "auto" and rec.action_class in ACTING_CLASSES:
                request = ActionRequest(
                    action=rec.action,
                    target=Target(
                        kind=rec.target["kind"],
                        namespace=rec.target.get("namespace") or None,
                        name=rec.target["name"],
                    ),
                    incident_id=incident.id,
                )
                planned.append(PlannedRun(request, rec.decision, rec.action_class))
            elif rec.decision == "shadow":
                self._shadow(incident, rec, now)
        self.ask(incident, recommendations, now, held)
        return planned

    def ask(
        self,
        incident: Incident,
        recommendations: list[RecommendedAction],
        now: datetime,
        held: Collection[str] = frozenset(),
    ) -> list[ApprovalRequest]:
        """Request approval for every ``approval`` decision with a target,
        unless one is pending already or its action is ``held`` (its
        escalation-ladder step has not come yet); return the new requests."""
        created: list[ApprovalRequest] = []
        for rec in recommendations:
            if rec.decision != "approval" or rec.target is None:
                continue
            if rec.action_class not in ASKING_CLASSES:
                continue
            if rec.action in held:
                note(incident, "approval_held", f"{rec.action} waits for its ladder step", now)
                continue
            approval = self.approvals.request(incident, rec, why_now(incident, rec, now), now)
            if approval is not None:
                incident.record("approval_requested", f"{approval.id}: {approval.prompt(now)}", now)
                created.append(approval)
        incident.approval_state = self.approvals.incident_state(incident.id, now)
        return created

    def _shadow(self, incident: Incident, rec: RecommendedAction, now: datetime) -> None:
        """Record what the robot would have done, as often as it would have
        done it (once per the action's cooldown on the target and the
        decision it would have acted on)."""
        assert rec.target is not None
        target = Target(
            kind=rec.target["kind"],
            namespace=rec.target.get("namespace") or None,
            name=rec.target["name"],
        )
        request = ActionRequest(action=rec.action, target=target, incident_id=incident.id)
        would = rec.would_have or "auto"
        key = f"shadow:{incident.id}:{rec.action}:{target_key(request)}:{would}"
        store = self.runner.store
        opened = store.get_key(key)
        window = self.runner.cooldown_for(incident, rec.action)
        if opened is not None and now < datetime.fromisoformat(opened) + timedelta(seconds=window):
            return
        store.delete_key(key)
        store.set_if_absent(key, now.isoformat(), float(window))
        verb = "run" if would == "auto" else "asked for an approval of"
        incident.executed_actions.append(
            ExecutedAction(
                action=rec.action,
                target=target.as_dict(),
                actor="robot",
                result="shadow",
                detail=f"would have {verb} {rec.action} on {target_key(request)}: {rec.reason}"[
                    :2000
                ],
                at=now,
            )
        )
        self.runner.metrics.shadow_decisions.labels(
            incident.incident_type, rec.action, str(incident.environment), would
        ).inc()

    def run(
        self, incident: Incident, planned: list[PlannedRun], cooldown_seconds: int | None
    ) -> list[ActionRun]:
        """Run ``planned`` in order, ``suppress_incident`` last and only for an
        incident the lifecycle lets be suppressed (observed, triaged) when no
        other step of the round acted (succeeded or failed): a suppressed
        incident is neither polled nor escalated, so suppressing one that a
        step just contained, or failed to, would hide whether that holds."""
        steps = [p for p in planned if p.request.action != SUPPRESS]
        runs = [self._run(incident, item, cooldown_seconds) for item in steps]
        acted = sorted(
            {
                r.request.action
                for r in runs
                if r.acted_elsewhere
                or (r.executed is not None and r.executed.result in ("succeeded", "failed"))
            }
        )
        for item in planned:
            if item.request.action != SUPPRESS:
                continue
            why = ""
            if acted:
                why = f"{SUPPRESS} not run: {', '.join(acted)} acted on the incident recently"
            elif IncidentState.suppressed not in TRANSITIONS[incident.state]:
                why = f"{SUPPRESS} not run: the incident is {incident.state}"
            if why:
                runs.append(ActionRun(item.request, ActionOutcome("skipped", why), None, why))
                continue
            if cooldown_seconds is not None:
                # suppressed exactly as long as the action's own cooldown
                params = {**item.request.params, "seconds": max(int(cooldown_seconds), 1)}
                item = replace(item, request=replace(item.request, params=params))
            runs.append(self._run(incident, item, cooldown_seconds))
        return runs

    def _run(self, incident: Incident, item: PlannedRun, cooldown_seconds: int | None) -> ActionRun:
        try:
            return self.runner.run(
                incident, item.request, item.decision, cooldown_seconds=cooldown_seconds
            )
        except ActionRefused as exc:
            # the decide stage handed over something it must not: say so, go on
            log.error("act: %s", exc)
            return ActionRun(item.request, ActionOutcome("skipped", str(exc)), None, str(exc))

    def record(self, incident: Incident, runs: list[ActionRun], now: datetime) -> Acted:
        """Put ``runs`` on ``incident`` and move its state."""
        for run in runs:
            if run.executed is not None:
                incident.executed_actions.append(run.executed)
            elif run.note:
                note(incident, "action_skipped", run.note, now)
        # a run a guard refused (the action caps) goes to a person like a failed one
        failed = [
            r for r in runs if r.executed is not None and r.executed.result in ("failed", "refused")
        ]
        done = [r for r in runs if r.executed is not None and r.executed.result == "succeeded"]
        if failed:
            first = failed[0]
            verb = "was refused" if first.outcome.result == "refused" else "failed"
            reason = f"{first.request.action} {verb}: {first.outcome.detail}"[:500]
            if move(incident, IncidentState.escalated, reason, now):
                return Acted(escalated=True)
        elif done:
            # An escalated incident stays escalated when the robot merely
            # repeats its own containment (that already proved not enough);
            # a step a person approved may contain it.
            approved = any(r.executed is not None and r.executed.approval_id for r in done)
            if incident.state == IncidentState.escalated and not approved:
                return Acted()
            names = ", ".join(r.request.action for r in done)
            if move(incident, IncidentState.contained, f"{names} succeeded", now):
                return Acted(contained=True)
        return Acted()


def move(incident: Incident, target: IncidentState, reason: str, now: datetime) -> bool:
    """Move when the lifecycle table allows it; False when it does not (or
    the incident is there already)."""
    if incident.state == target or target not in TRANSITIONS[incident.state]:
        return False
    incident.move_to(target, reason, now)
    return True


def note(incident: Incident, event: str, detail: str, now: datetime) -> None:
    """A timeline entry, unless the same one is among the last few already
    (a cooldown seen on every poll is one note, not one per minute)."""
    if any(e.event == event and e.detail == detail for e in incident.timeline[-20:]):
        return
    incident.record(event, detail, now)


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
    ladder = ""
    if incident.ladder is not None and incident.ladder.escalated_at is None:
        ladder = f"; escalation ladder step {incident.ladder.step + 1} {incident.ladder.step_id}"
    return (
        f"{text} (severity {incident.severity}, confidence {incident.confidence}; "
        f"policy: {rec.reason}{ladder})"
    )
