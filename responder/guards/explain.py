"""The explain answer with the guard rails of the current state."""

from __future__ import annotations

from typing import Any

from responder.guards.rails import GuardRails, GuardSubject, explain_with_guards, judge
from responder.policy.engine import PolicyEngine
from responder.policy.explain import ExplainRequest, explain_decision


def explain_guarded(
    engine: PolicyEngine, request: ExplainRequest, guards: GuardRails
) -> dict[str, Any]:
    """The decision and its five policy layers, then the guard rails (pauses,
    modes, windows, blocking alerts, blast radius) as a ``guards`` list;
    ``decision`` and ``reason`` are the guarded ones, ``policy_decision`` the
    policy's."""
    answer, decision, at = explain_decision(engine, request)
    target = request.target
    subject = GuardSubject(
        incident_type=request.incident_type,
        environment=str(request.environment),
        action=request.action,
        action_class=decision.action_class,
        target=target.as_dict() if target else None,
        namespace=(target.namespace if target else None) or request.labels.get("namespace"),
        labels=request.labels,
    )
    state = guards.snapshot(at)
    return explain_with_guards(
        answer, judge(decision.decision.value, decision.reason, subject, state)
    )
