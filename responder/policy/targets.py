"""The targets each candidate action of an incident would act on.

Targets the evidence named come first; otherwise the target derives from the
incident's resource scope. An action whose target is not known gets none, and
the policy then never lets it run on its own."""

from __future__ import annotations

from typing import Any

from responder.records.incident import Incident
from responder.records.target import Target
from responder.taxonomy.loader import builtin_taxonomy

WORKLOAD_KINDS = frozenset({"deployment", "statefulset", "daemonset", "cronjob", "job"})


def candidate_targets(action_id: str, incident: Incident) -> list[Target | None]:
    """Every target ``action_id`` is offered to the policy with, in order: the
    ones the evidence named, else the one from the scope (or None)."""
    named = [
        Target(kind=t.kind, namespace=t.namespace, name=t.name)
        for t in incident.named_targets
        if t.action == action_id
    ]
    if named:
        return list(dict.fromkeys(named))
    return [candidate_target(action_id, incident)]


def candidate_target(action_id: str, incident: Incident) -> Target | None:
    """The target the incident's scope gives ``action_id``, if any."""
    scope = incident.resource_scope
    catalogue = builtin_taxonomy()
    if action_id in catalogue.untargeted_actions:
        return None
    if action_id == "suppress_incident":
        return Target(kind="incident", name=incident.id)
    if action_id == "failover_channel":
        return Target(kind="channel", name="alternate")
    if action_id == "delete_completed_pods":
        if scope.kind in WORKLOAD_KINDS and scope.namespace:
            return Target(kind="namespace", name=scope.namespace)
        return Target(kind="cluster", name="cluster")
    if action_id in catalogue.node_actions:
        return Target(kind="node", name=scope.name) if scope.kind == "node" else None
    if action_id == "suspend_cronjob":
        return _scope_target(incident) if scope.kind == "cronjob" else None
    if scope.kind in ("node", "cluster"):
        return None
    return _scope_target(incident)


def _scope_target(incident: Incident) -> Target:
    scope = incident.resource_scope
    return Target(kind=scope.kind, namespace=scope.namespace, name=scope.name)


def candidate_params(action_id: str, incident: Incident, target: Target | None) -> dict[str, Any]:
    """The params the evidence named for ``action_id`` on ``target`` (empty:
    none named; the executor's plan then reads what it needs live)."""
    return {}
