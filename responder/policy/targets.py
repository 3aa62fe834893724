"""The targets each candidate action of an incident would act on.

Targets the evidence named come first; otherwise the target derives from the
incident's resource scope. Either way a target is always of a kind the action
accepts (its ``target_kinds`` in the catalogue): an action whose target is
not known gets none, and is then recommended, never asked for or run."""

from __future__ import annotations

from typing import Any

from responder.evidence.hypothesis import hypothesis
from responder.policy.allowlist import never_auto_reason
from responder.records.incident import Incident
from responder.records.target import Target
from responder.taxonomy.loader import builtin_taxonomy

WORKLOAD_KINDS = frozenset({"deployment", "statefulset", "daemonset", "cronjob", "job"})

#: actions offered only on targets the evidence named: the scope alone does
#: not say that the image reference is wrong, that the pull credentials are,
#: or which workload fills a node's disk
EVIDENCE_ONLY = frozenset({"patch_image_ref", "patch_pull_secret", "scale_to_zero"})

#: actions that clean up finished pods (and Jobs): in the namespace of a
#: workload scope, else cluster-wide
CLEANUP_ACTIONS = frozenset({"delete_completed_pods", "bulk_cleanup"})

#: actions never offered on what the never-auto list protects: a noisy
#: workload to scale to zero is never the ingress controller or cert-manager
NEVER_ON_PROTECTED = frozenset({"scale_to_zero"})


def candidate_targets(action_id: str, incident: Incident) -> list[Target | None]:
    """Every target ``action_id`` is offered to the policy with, in order: the
    ones the evidence named, else the one from the scope (or None). Never a
    target of a kind the action does not accept."""
    named = [
        target
        for target in (
            Target(kind=t.kind, namespace=t.namespace, name=t.name)
            for t in incident.named_targets
            if t.action == action_id
        )
        if accepts(action_id, target)
        and not (action_id in NEVER_ON_PROTECTED and never_auto_reason(action_id, target))
    ]
    if named:
        return list(dict.fromkeys(named))
    if action_id in EVIDENCE_ONLY:
        return [None]
    return [candidate_target(action_id, incident)]


def candidate_target(action_id: str, incident: Incident) -> Target | None:
    """The target the incident's scope gives ``action_id``, if any (and if
    the action accepts its kind)."""
    target = _scope_candidate(action_id, incident)
    return target if target is not None and accepts(action_id, target) else None


def missing_target_reason(action_id: str, incident: Incident) -> str:
    """Why ``action_id`` has no target on ``incident``, for the
    recommendation made instead of asking (e.g. "the evidence names no
    deployment or serviceaccount for patch_pull_secret: it points at the
    registry's pull rate limit (...)")."""
    action = builtin_taxonomy().actions.get(action_id)
    kinds = " or ".join(action.target_kinds) if action and action.target_kinds else "target"
    why = f"the evidence names no {kinds} for {action_id}"
    if action_id in EVIDENCE_ONLY:
        cause = hypothesis(incident)
        return why + (f": it points at {cause}" if cause else "")
    scope = incident.resource_scope
    where = "/".join(p for p in (scope.namespace, scope.name) if p)
    return f"{why}; the incident's scope is a {scope.kind} ({where})"


def accepts(action_id: str, target: Target) -> bool:
    """Whether the catalogue's ``action_id`` acts on targets of ``target``'s kind."""
    action = builtin_taxonomy().actions.get(action_id)
    return action is not None and target.kind.lower() in action.target_kinds


def candidate_params(action_id: str, incident: Incident, target: Target | None) -> dict[str, Any]:
    """The params the evidence named for ``action_id`` on ``target`` (empty:
    none named; the executor's plan then reads what it needs live). A copy:
    changing it leaves the incident alone."""
    if target is None:
        return {}
    for named in incident.named_targets:
        if (
            named.action == action_id
            and named.params
            and Target(kind=named.kind, namespace=named.namespace, name=named.name) == target
        ):
            return dict(named.params)
    return {}


def _scope_candidate(action_id: str, incident: Incident) -> Target | None:
    scope = incident.resource_scope
    catalogue = builtin_taxonomy()
    if action_id in catalogue.untargeted_actions:
        return None
    if action_id == "suppress_incident":
        return Target(kind="incident", name=incident.id)
    if action_id == "failover_channel":
        return Target(kind="channel", name="alternate")
    if action_id in CLEANUP_ACTIONS:
        if scope.kind in WORKLOAD_KINDS and scope.namespace:
            return Target(kind="namespace", name=scope.namespace)
        return Target(kind="cluster", name="cluster")
    if action_id in catalogue.node_actions:
        return Target(kind="node", name=scope.name) if scope.kind == "node" else None
    if scope.kind in ("node", "cluster"):
        return None
    return Target(kind=scope.kind, namespace=scope.namespace, name=scope.name)
