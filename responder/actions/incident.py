"""The incident executor: ``suppress_incident`` and ``unsuppress_incident``,
actions on the responder's own record of an incident, not on the cluster.

Unsuppressing is an action of its own (recover: a person asks for it) so that
the suppression's cooldown never blocks it. The move is made under the
incident's lock on a fresh copy, as every other writer of incidents does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.incident import Incident
from responder.records.lifecycle import TRANSITIONS, IncidentState
from responder.store import LockBusy, Store, held_lock
from responder.taxonomy.models import Cooldowns, Taxonomy

ACTION = "suppress_incident"
INVERSE = "unsuppress_incident"
# Same bounds as the pipeline's own hold on an incident: recording a state
# change takes milliseconds; a lock held longer belongs to a slow collector.
_LOCK_TTL_SECONDS = 15.0
_LOCK_WAIT_SECONDS = 2.0


class IncidentSuppressor:
    actions: frozenset[str] = frozenset({ACTION, INVERSE})

    def __init__(self, store: Store, taxonomy: Taxonomy, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.clock = clock

    # the protocol

    def plan(self, request: ActionRequest) -> Plan:
        return self.plan_for(self._incident(request), request)

    def plan_for(self, incident: Incident, request: ActionRequest) -> Plan:
        """``plan`` on the incident in hand (one being opened is not stored yet)."""
        self._check(request)
        suppress = request.action == ACTION
        state = incident.state
        previous: dict[str, Any] = {"state": str(state)}
        if not suppress:
            if state != IncidentState.suppressed:
                return Plan(request, previous, {}, f"incident {incident.id} is not suppressed")
            return Plan(
                request,
                previous,
                {"state": str(IncidentState.triaged)},
                f"lift the suppression of incident {incident.id}",
                (Change("incident state", str(state), str(IncidentState.triaged)),),
            )
        if state == IncidentState.suppressed:
            return Plan(request, previous, {}, f"incident {incident.id} is already suppressed")
        if IncidentState.suppressed not in TRANSITIONS[state]:
            return Plan(
                request,
                previous,
                {},
                f"incident {incident.id} is {state}: the lifecycle does not suppress "
                f"a {state} incident",
            )
        seconds = self._seconds(request, incident)
        return Plan(
            request,
            previous,
            {"state": str(IncidentState.suppressed), "seconds": seconds},
            f"suppress incident {incident.id} for {seconds}s",
            (Change("incident state", str(state), f"suppressed for {seconds}s"),),
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        request = plan.request
        try:
            incident = self._incident(request)
        except LookupError as exc:
            return ActionOutcome("failed", str(exc), plan)
        wanted = IncidentState(plan.changes["state"])
        try:
            with held_lock(
                self.store,
                f"incident:{incident.correlation_key}",
                _LOCK_TTL_SECONDS,
                _LOCK_WAIT_SECONDS,
            ):
                return self._move(plan, wanted)
        except LockBusy:
            return ActionOutcome("failed", f"incident {incident.id} stayed locked", plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        if not plan.changes:
            return None
        suppressed = plan.changes["state"] == str(IncidentState.suppressed)
        return ActionRequest(
            action=INVERSE if suppressed else ACTION,
            target=plan.request.target,
            incident_id=plan.request.incident_id,
        )

    # inside the incident's lock

    def _move(self, plan: Plan, wanted: IncidentState) -> ActionOutcome:
        request = plan.request
        incident = self.store.get_incident(request.target.name)
        if incident is None:
            return ActionOutcome("failed", f"incident {request.target.name} is gone", plan)
        before = str(incident.state)
        if before != plan.previous["state"]:
            # somebody moved it since the plan: their move stands
            return ActionOutcome(
                "skipped", f"incident {incident.id} moved to {before} since the plan", plan
            )
        now = self.clock()
        if wanted == IncidentState.suppressed:
            seconds = int(plan.changes["seconds"])
            until = now + timedelta(seconds=seconds)
            incident.move_to(wanted, f"{ACTION}: quiet for {seconds}s", now)
            incident.suppressed_until = until
            detail = f"incident {incident.id} suppressed until {until:%H:%M:%S}Z ({seconds}s)"
        else:
            incident.move_to(wanted, f"{INVERSE}: suppression lifted", now)
            incident.suppressed_until = None
            detail = f"incident {incident.id} no longer suppressed"
        self.store.save_incident(incident)
        return ActionOutcome("succeeded", detail, plan)

    # helpers

    def _incident(self, request: ActionRequest) -> Incident:
        self._check(request)
        incident = self.store.get_incident(request.target.name)
        if incident is None:
            raise LookupError(f"no incident {request.target.name}")
        return incident

    def _check(self, request: ActionRequest) -> None:
        target = request.target
        if request.action not in self.actions:
            raise ValueError(f"the incident executor does not serve {request.action}")
        if target.kind != "incident":
            raise ValueError(f"{request.action} acts on an incident, not a {target.kind}")
        if target.name != request.incident_id:
            raise ValueError(f"{request.action} acts on its own incident, not {target.name}")

    def _seconds(self, request: ActionRequest, incident: Incident) -> int:
        given = request.params.get("seconds")
        if isinstance(given, int) and not isinstance(given, bool) and given > 0:
            return given
        known = self.taxonomy.incident_types.get(incident.incident_type)
        return (known.cooldowns if known else Cooldowns()).action_retry_seconds
