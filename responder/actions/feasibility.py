"""Whether an action can run here: an executor serves it and is set up, the
target is of a kind the action accepts, its required params are there, and,
before a person is asked, its plan reads the live state without refusing.

A decision the robot could act on (``auto``) or ask about (``approval``) but
cannot carry out becomes ``recommend``, with the reason: the robot never asks
a person to approve what it cannot then do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from responder.actions.executor import PlansOnIncident
from responder.actions.registry import ExecutorRegistry
from responder.guards.explain import explain_guarded
from responder.guards.rails import GuardRails
from responder.policy.engine import PolicyEngine
from responder.policy.explain import ExplainRequest
from responder.policy.targets import missing_target_reason
from responder.records.action import ActionRequest, Plan
from responder.records.incident import Incident
from responder.records.update import RECOMMEND, Update
from responder.taxonomy.models import CHANGING_CLASSES, Taxonomy

#: the decisions that make the robot act or ask
ACTING = frozenset({"auto", "approval"})


class CannotRun(Exception):
    """Why an action cannot be asked for or run here."""


@dataclass(frozen=True)
class Planned:
    """A plan a person is asked to approve, and what its inverse will do."""

    plan: Plan
    undo: str


@dataclass(eq=False)
class Feasibility:
    taxonomy: Taxonomy
    registry: ExecutorRegistry

    def obstacle(
        self, action: str, target: Mapping[str, str] | None, params: Mapping[str, Any]
    ) -> str | None:
        """What keeps ``action`` on ``target`` from running here, read from
        the catalogue and the executors alone (no backend call); None: nothing."""
        spec = self.taxonomy.actions.get(action)
        if spec is None:
            return f"{action} is not in the catalogue"
        unavailable = self.registry.unavailable(action)
        if unavailable is not None:
            return unavailable
        kinds = " or ".join(spec.target_kinds) or "target"
        if target is None:
            return f"no {kinds} was found for {action}"
        kind = target.get("kind", "").lower()
        if spec.target_kinds and kind not in spec.target_kinds:
            return f"{action} acts on a {kinds}, not a {kind}"
        missing = [name for name, p in spec.params.items() if p.required and name not in params]
        if missing:
            return f"{action} needs params.{missing[0]} and the evidence gives none"
        return None

    def cannot_run(self, incident_type: str) -> list[str]:
        """Why the changing actions the type lets the robot take on its own
        (its ``auto_allowed`` ones) cannot run here; empty when they all can."""
        known = self.taxonomy.incident_types.get(incident_type)
        if known is None:
            return []
        found = []
        for action in known.auto_allowed:
            spec = self.taxonomy.actions[action]
            why = self.registry.unavailable(action)
            if spec.action_class in CHANGING_CLASSES and why is not None:
                found.append(why)
        return found

    def plan(self, request: ActionRequest, incident: Incident | None = None) -> Plan:
        """The executor's plan for ``request`` read from the live state (and
        ``incident``, the one in hand); ``CannotRun`` says why there is none
        (the executor refused, or the plan changes nothing)."""
        why = self.obstacle(request.action, request.target.as_dict(), request.params)
        if why is not None:
            raise CannotRun(why)
        executor = self.registry.get(request.action)
        assert executor is not None  # obstacle() found it
        try:
            if incident is not None and isinstance(executor, PlansOnIncident):
                plan = executor.plan_for(incident, request)
            else:
                plan = executor.plan(request)
        except Exception as exc:  # an executor's refusal or a backend failure
            raise CannotRun(str(exc) or type(exc).__name__) from exc
        if plan.changes.get("refused"):
            raise CannotRun(str(plan.changes["refused"]))
        if not plan.changes:
            raise CannotRun(f"nothing to do: {plan.summary}")
        return plan

    def planned(self, request: ActionRequest, incident: Incident | None = None) -> Planned:
        """``plan`` with the words of its inverse (``CannotRun`` as ``plan``)."""
        plan = self.plan(request, incident)
        return Planned(plan, self.undo(plan))

    def undo(self, plan: Plan) -> str:
        """What the inverse of ``plan`` will do, in words (the catalogue's
        rollback text when nothing can undo it)."""
        executor = self.registry.get(plan.request.action)
        inverse = None
        if executor is not None:
            try:
                inverse = executor.inverse(plan)
            except Exception:
                inverse = None
        if inverse is None:
            spec = self.taxonomy.actions.get(plan.request.action)
            return f"nothing undoes it by itself: {spec.rollback if spec else 'see the runbook'}"
        spec = self.taxonomy.actions.get(inverse.action)
        name = spec.display_name.lower() if spec else inverse.action
        shown = ", ".join(f"{k}={v}" for k, v in sorted(inverse.params.items()))
        label = inverse.target.label
        if name.endswith(f" {inverse.target.kind.lower()}"):
            # "uncordon node worker-1", not "uncordon node node worker-1"
            label = label.partition(" ")[2]
        return f"{name} {label}" + (f" ({shown})" if shown else "")


def explain_here(
    policy: PolicyEngine, request: ExplainRequest, guards: GuardRails, feasibility: Feasibility
) -> dict[str, Any]:
    """The explain answer (CLI, API, MCP, admin): the policy layers, the
    guard rails, and whether the action can run here: ``cannot_run`` (None:
    it can), and ``recommend`` for a decision that would act or ask."""
    answer = explain_guarded(policy, request, guards)
    target = answer.get("target")
    why = None
    if answer.get("action_class") in CHANGING_CLASSES:
        why = feasibility.obstacle(
            str(answer["action"]), target if isinstance(target, dict) else None, {}
        )
    shown = {**answer, "cannot_run": why}
    if why is not None and answer.get("decision") in ACTING:
        shown |= {"decision": RECOMMEND, "reason": f"cannot run here: {why}"}
    return shown


@dataclass(eq=False)
class FeasibilityStage:
    """Turns the decisions the robot cannot carry out here into
    recommendations with the reason (before the guard rails see them)."""

    name = "feasibility"

    feasibility: Feasibility

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        for decided in update.decided:
            if decided.decision not in ACTING or decided.action_class not in CHANGING_CLASSES:
                continue
            why = self.feasibility.obstacle(decided.action, decided.target, decided.params)
            if why is None:
                continue
            # an action whose remedy is not configured names the setting to add,
            # not what the evidence lacks
            registry = self.feasibility.registry
            if decided.target is None and registry.unavailable(decided.action) is None:
                why = missing_target_reason(decided.action, incident)
            decided.decision = RECOMMEND
            decided.reason = f"cannot run here: {why}"
            decided.answer = {
                **decided.answer,
                "decision": RECOMMEND,
                "reason": decided.reason,
                "cannot_run": why,
            }
        return True
