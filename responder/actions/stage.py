"""The act stage: what the robot does with each decision itself.

``auto`` runs once the incident's lock is released, so a slow backend never
holds an incident; ``shadow`` records what would have been done and runs
nothing; ``approval`` is the ask stage's. The outcomes go on a fresh copy of
the incident under its lock, moving it to contained or escalated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from responder.actions.runner import ActionRefused, ActionRunner, target_key
from responder.records.action import ActionOutcome, ActionRequest, ActionRun, record_runs
from responder.records.incident import ExecutedAction, Incident
from responder.records.lifecycle import TRANSITIONS, IncidentState
from responder.records.target import Target
from responder.records.update import Decided, PlannedRun, Update
from responder.store import Store
from responder.taxonomy.models import CHANGING_CLASSES, ActionClass

log = logging.getLogger(__name__)

ACTING_CLASSES = frozenset({ActionClass.contain, ActionClass.recover})
"""what the robot runs itself when the policy says auto"""
SUPPRESS = "suppress_incident"


@dataclass(eq=False)
class ActStage:
    name = "act"

    runner: ActionRunner
    store: Store

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        for decided in update.decided:
            if decided.target is None or decided.action_class not in CHANGING_CLASSES:
                continue
            if decided.decision == "auto" and decided.action_class in ACTING_CLASSES:
                request = ActionRequest(
                    action=decided.action,
                    target=Target.from_dict(decided.target),
                    incident_id=incident.id,
                )
                update.planned.append(PlannedRun(request, decided.decision, decided.action_class))
            elif decided.decision == "shadow":
                self._shadow(update, incident, decided)
        return True

    def _shadow(self, update: Update, incident: Incident, decided: Decided) -> None:
        """Record what the robot would have done, as often as it would have
        done it (once per the action's cooldown on the target and the
        decision it would have acted on)."""
        assert decided.target is not None
        now = update.now
        request = ActionRequest(
            action=decided.action, target=Target.from_dict(decided.target), incident_id=incident.id
        )
        would = decided.would_have or "auto"
        key = f"shadow:{incident.id}:{decided.action}:{target_key(request)}:{would}"
        opened = self.store.get_key(key)
        window = self.runner.cooldown_for(incident, decided.action)
        if opened is not None and now < datetime.fromisoformat(opened) + timedelta(seconds=window):
            return
        update.writes.set_key(key, now.isoformat(), float(window))
        verb = "run" if would == "auto" else "asked for an approval of"
        incident.executed_actions.append(
            ExecutedAction(
                action=decided.action,
                target=request.target.as_dict(),
                actor="robot",
                result="shadow",
                detail=f"would have {verb} {decided.action} on {target_key(request)}: "
                f"{decided.reason}"[:2000],
                at=now,
            )
        )
        self.runner.metrics.shadow_decisions.labels(
            incident.incident_type, decided.action, str(incident.environment), would
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


class RecordRunsStage:
    """Puts the runs of a round on the incident and moves its state."""

    name = "record_runs"

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        acted = record_runs(incident, update.runs, update.now)
        if acted.escalated or acted.contained:
            update.audit(f"incident.{incident.state}", incident.timeline[-1].detail)
        if acted.escalated:
            update.why = "escalated"
        return True
