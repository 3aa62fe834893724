"""What the Kubernetes executors share: checking and naming a request's
target, the generated client's method for a workload kind, the request an
inverse makes, a value as a diff shows it, the rules every ``apply`` follows
(no cluster, a refused or empty plan, a failed request), and the two writes
several actions make (a replica count, one ConfigMap key)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from responder.kube import MERGE_PATCH, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
ABSENT = "(none)"

Applier = Callable[[Kube, Plan], ActionOutcome]


def expect_kind(request: ActionRequest, kinds: tuple[str, ...]) -> None:
    """Raise ValueError unless the request's target is of one of ``kinds``."""
    if request.target.kind.lower() not in kinds:
        raise ValueError(
            f"{request.action} acts on a {' or '.join(kinds)}, not a {request.target.kind}"
        )


def namespace_of(target: Target) -> str:
    if not target.namespace:
        raise ValueError(f"{target.kind} {target.name}: the target needs a namespace")
    return target.namespace


def named(target: Target) -> str:
    """The target as people read it: ``deployment app/api``, ``node worker-1``."""
    where = f"{target.namespace}/" if target.namespace else ""
    return f"{target.kind.lower()} {where}{target.name}"


def undo(request: ActionRequest, action: str, params: dict[str, Any]) -> ActionRequest:
    """The request for ``action`` on the same target and incident."""
    return ActionRequest(
        action=action, target=request.target, incident_id=request.incident_id, params=params
    )


def scale_call(kube: Kube, kind: str, verb: str) -> Callable[..., Any]:
    """``read`` or ``patch`` of the scale subresource of a Deployment or StatefulSet."""
    name = {"deployment": "deployment", "statefulset": "stateful_set"}[kind.lower()]
    method: Callable[..., Any] = getattr(kube.apps, f"{verb}_namespaced_{name}_scale")
    return method


def workload_call(kube: Kube, kind: str, verb: str) -> Callable[..., Any]:
    """``read`` or ``patch`` of a Deployment, StatefulSet or DaemonSet."""
    name = {"deployment": "deployment", "statefulset": "stateful_set", "daemonset": "daemon_set"}[
        kind.lower()
    ]
    method: Callable[..., Any] = getattr(kube.apps, f"{verb}_namespaced_{name}")
    return method


def shown(value: Any) -> str:
    """A value as a diff line shows it: strings as they are, an absent value
    as ``(none)``, anything else as compact JSON."""
    if value is None:
        return ABSENT
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def replica_count(request: ActionRequest, minimum: int) -> int:
    """``params.replicas``, an integer of at least ``minimum``."""
    replicas = request.params.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < minimum:
        raise ValueError(
            f"{request.action} needs params.replicas, an integer of at least {minimum}"
        )
    return replicas


def guarded_apply(
    kube: Kube | None, plan: Plan, appliers: Mapping[str, Applier], backend: str
) -> ActionOutcome:
    """Run the applier of the plan's action, following the protocol: no
    cluster is ``not_available``, a refused plan ``failed`` with its reason,
    an empty one ``skipped``, and a failed request ``failed``."""
    if kube is None:
        return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
    applier = appliers.get(plan.request.action)
    if applier is None:
        return ActionOutcome("failed", f"not a {backend} action: {plan.request.action}", plan)
    if plan.changes.get("refused"):
        return ActionOutcome("failed", str(plan.changes["refused"]), plan)
    if not plan.changes:
        return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
    try:
        return applier(kube, plan)
    except KubeError as exc:
        return ActionOutcome("failed", str(exc), plan)


# The two writes several actions make: a replica count, one ConfigMap key.


def plan_scale(kube: Kube, request: ActionRequest, replicas: int) -> Plan:
    """Scale the target (a Deployment or StatefulSet) to ``replicas``,
    recording the count before."""
    target = request.target
    read = scale_call(kube, target.kind, "read")
    scale = kube.call(f"get {named(target)} scale", read, target.name, namespace_of(target))
    current = int((scale.get("spec") or {}).get("replicas") or 0)
    previous = {"replicas": current}
    if current == replicas:
        return Plan(request, previous, {}, f"{named(target)} already has {current} replicas")
    summary = f"scale {named(target)} from {current} to {replicas} replicas"
    diff = (Change("replicas", str(current), str(replicas)),)
    return Plan(request, previous, {"replicas": replicas}, summary, diff)


def apply_scale(kube: Kube, plan: Plan) -> ActionOutcome:
    target = plan.request.target
    replicas = int(plan.changes["replicas"])
    kube.call(
        f"scale {named(target)}",
        scale_call(kube, target.kind, "patch"),
        target.name,
        namespace_of(target),
        {"spec": {"replicas": replicas}},
        _content_type=MERGE_PATCH,
    )
    before = plan.previous["replicas"]
    return ActionOutcome(
        "succeeded", f"{named(target)} scaled from {before} to {replicas} replicas", plan
    )


def plan_config_key(kube: Kube, request: ActionRequest, key: str, value: str | None) -> Plan:
    """Set ``key`` of the target ConfigMap to ``value`` (None: remove it),
    recording the value before."""
    target = request.target
    configmap = kube.call(
        f"get {named(target)}",
        kube.core.read_namespaced_config_map,
        target.name,
        namespace_of(target),
    )
    data = configmap.get("data") or {}
    previous = {"key": key, "value": data.get(key)}
    if data.get(key) == value:
        return Plan(request, previous, {}, f"{named(target)} key {key} already has that value")
    verb = "remove" if value is None else "set"
    return Plan(
        request,
        previous,
        {"key": key, "value": value},
        f"{verb} {key} in {named(target)}",
        (Change(f"data.{key}", shown(data.get(key)), shown(value)),),
    )


def apply_config_key(kube: Kube, plan: Plan) -> ActionOutcome:
    target = plan.request.target
    key = plan.changes["key"]
    kube.call(
        f"patch {named(target)}",
        kube.core.patch_namespaced_config_map,
        target.name,
        namespace_of(target),
        {"data": {key: plan.changes["value"]}},
        _content_type=MERGE_PATCH,
    )
    return ActionOutcome("succeeded", f"{named(target)} key {key} patched", plan)


def verify_by_replan(planner: Callable[[ActionRequest], Plan], plan: Plan) -> str | None:
    """Plan ``plan``'s request again after it was applied: every field the
    write set must now read as written (the fields both name)."""
    again = planner(plan.request)
    wrong = [
        f"{key} reads {shown(again.previous[key])}, not {shown(plan.changes[key])}"
        for key in sorted(set(plan.changes) & set(again.previous))
        if again.previous[key] != plan.changes[key]
    ]
    return "; ".join(wrong) or None


FINISHED_PHASES = ("Succeeded", "Failed")


def finished_pods(kube: Kube, namespace: str | None) -> list[Any]:
    """The Succeeded and Failed pods of ``namespace`` (None: every namespace),
    the phase checked here too whatever a server's selector does: a cleanup
    must never touch a pod that is not finished."""
    pods: list[Any] = []
    for phase in FINISHED_PHASES:
        selector = f"status.phase={phase}"
        if namespace:
            found = kube.items(
                f"list {phase} pods in {namespace}",
                kube.core.list_namespaced_pod,
                namespace,
                field_selector=selector,
            )
        else:
            found = kube.items(
                f"list {phase} pods", kube.core.list_pod_for_all_namespaces, field_selector=selector
            )
        pods += [pod for pod in found if (pod.get("status") or {}).get("phase") == phase]
    return pods


def read_existing(kube: Kube, what: str, method: Callable[..., Any], *args: Any) -> Any:
    """``kube.call`` of a read whose 404 refuses the plan: ValueError
    ``"<what> does not exist"`` (other failures stay KubeError)."""
    found = kube.find(f"get {what}", method, *args)
    if found is None:
        raise ValueError(f"{what} does not exist")
    return found
