"""The workload executor: a workload's image, its pull secrets, the
ownership of drifted fields. An image is a JSON patch that first tests the
planned image (a workload changed since is refused, never overwritten); pull
secrets a merge patch of the whole list; fields a server-side apply with
force."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from responder.actions.field_ownership import (
    apply_body,
    checked_fields,
    dotted,
    managers_of,
    nested,
    value_at,
)
from responder.actions.image_history import container_images, last_healthy_image, revisions
from responder.actions.kube_calls import (
    ABSENT,
    APPLY_PATCH,
    JSON_PATCH,
    Applier,
    expect_kind,
    guarded_apply,
    named,
    namespace_of,
    shown,
    undo,
    workload_call,
)
from responder.kube import MERGE_PATCH, PARTIAL_METADATA_LIST, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

IMAGE_KINDS = ("deployment", "statefulset", "daemonset")
PULL_SECRET_KINDS = ("deployment", "serviceaccount")
APPLIED_KINDS = ("deployment", "statefulset", "daemonset", "configmap")
DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"
DEFAULT_FIELD_MANAGER = "robot-sre"


class WorkloadExecutor:
    actions: frozenset[str] = frozenset(
        {"patch_image_ref", "patch_pull_secret", "force_field_ownership"}
    )

    def __init__(self, kube: Kube | None) -> None:
        """``kube`` None: no cluster is configured; plans raise and applies
        are ``not_available``."""
        self.kube = kube
        self._planners: dict[str, Callable[[Kube, ActionRequest], Plan]] = {
            "patch_image_ref": self._plan_image_ref,
            "patch_pull_secret": self._plan_pull_secret,
            "force_field_ownership": self._plan_field_ownership,
        }
        self._appliers: dict[str, Applier] = {
            "patch_image_ref": self._apply_image_ref,
            "patch_pull_secret": self._apply_pull_secret,
            "force_field_ownership": self._apply_field_ownership,
        }

    # the protocol

    def plan(self, request: ActionRequest) -> Plan:
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        planner = self._planners.get(request.action)
        if planner is None:
            raise ValueError(f"the workload executor does not serve {request.action}")
        return planner(self.kube, request)

    def apply(self, plan: Plan) -> ActionOutcome:
        return guarded_apply(self.kube, plan, self._appliers, "workload")

    def inverse(self, plan: Plan) -> ActionRequest | None:
        request, previous, changes = plan.request, plan.previous, plan.changes
        if not changes or changes.get("refused"):
            return None
        if request.action == "patch_image_ref":
            params = {"container": previous["container"], "image": previous["image"]}
            return undo(request, "patch_image_ref", params)
        if request.action == "patch_pull_secret":
            params = {"secret": changes["secret"], "remove": not changes["remove"]}
            return undo(request, "patch_pull_secret", params)
        if request.action == "force_field_ownership":
            params = {"fields": previous["fields"], "field_manager": previous["field_manager"]}
            return undo(request, "force_field_ownership", params)
        return None

    # patch_image_ref

    def _plan_image_ref(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, IMAGE_KINDS)
        target, kind = request.target, request.target.kind.lower()
        workload = _read(kube, target)
        current = container_images((workload.get("spec") or {}).get("template") or {})
        container = _text_param(request, "container")
        image = _text_param(request, "image")
        if container is not None and container not in current:
            raise ValueError(
                f"{named(target)} has no container {container} "
                f"(it runs {', '.join(current) or 'none'})"
            )
        if image is not None:
            if container is None:
                if len(current) != 1:
                    raise ValueError(
                        f"{named(target)} runs containers {', '.join(current)}; "
                        "give params.container"
                    )
                container = next(iter(current))
            source = "params.image"
        else:
            found = last_healthy_image(current, revisions(kube, kind, workload), container)
            if found is None:
                history = "ReplicaSet" if kind == "deployment" else "revision"
                which = f" of container {container}" if container else ""
                raise ValueError(
                    f"{named(target)} has no earlier {history} that ran healthy with another "
                    f"image{which}; give params.image to name one"
                )
            container, image, source = found.container, found.image, found.source
        before = current[container]
        previous = {"container": container, "image": before}
        if before == image:
            summary = f"container {container} of {named(target)} already runs {image}"
            return Plan(request, previous, {}, summary)
        changes = {"container": container, "index": list(current).index(container), "image": image}
        return Plan(
            request,
            previous,
            changes,
            f"point container {container} of {named(target)} to {image} (from {source})",
            (Change(f"image of container {container}", before, image),),
        )

    def _apply_image_ref(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target, changes = plan.request.target, plan.changes
        path = f"/spec/template/spec/containers/{changes['index']}"
        patch = [
            {"op": "test", "path": f"{path}/name", "value": changes["container"]},
            {"op": "test", "path": f"{path}/image", "value": plan.previous["image"]},
            {"op": "replace", "path": f"{path}/image", "value": changes["image"]},
        ]
        try:
            kube.call(
                f"patch {named(target)}",
                workload_call(kube, target.kind, "patch"),
                target.name,
                namespace_of(target),
                patch,
                _content_type=JSON_PATCH,
            )
        except KubeError as exc:
            if exc.status != 422:
                raise
            detail = (
                f"container {changes['container']} of {named(target)} no longer runs "
                f"{plan.previous['image']} (changed since the plan); nothing written: {exc.reason}"
            )
            return ActionOutcome("failed", detail, plan)
        detail = f"container {changes['container']} of {named(target)} now runs {changes['image']}"
        return ActionOutcome("succeeded", detail, plan)

    # patch_pull_secret

    def _plan_pull_secret(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, PULL_SECRET_KINDS)
        target = request.target
        secret = _text_param(request, "secret")
        if secret is None:
            raise ValueError("patch_pull_secret needs params.secret, the pull secret's name")
        remove = request.params.get("remove", False)
        if not isinstance(remove, bool):
            raise ValueError("patch_pull_secret params.remove must be true or false")
        found = _read(kube, target)
        holder = found if target.kind.lower() == "serviceaccount" else _pod_spec(found)
        current = [str(s.get("name")) for s in holder.get("imagePullSecrets") or []]
        previous = {"imagePullSecrets": current}
        if remove:
            after = [name for name in current if name != secret]
        else:
            _check_pull_secret(kube, namespace_of(target), secret)
            after = current if secret in current else [*current, secret]
        if after == current:
            state = "does not name" if remove else "already names"
            return Plan(request, previous, {}, f"{named(target)} {state} pull secret {secret}")
        verb = "remove pull secret" if remove else "add pull secret"
        return Plan(
            request,
            previous,
            {"secret": secret, "remove": remove, "imagePullSecrets": after},
            f"{verb} {secret} {'from' if remove else 'to'} {named(target)}",
            (Change("imagePullSecrets", ", ".join(current) or ABSENT, ", ".join(after) or ABSENT),),
        )

    def _apply_pull_secret(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        secrets = [{"name": name} for name in plan.changes["imagePullSecrets"]]
        body: dict[str, Any] = {"imagePullSecrets": secrets}
        if target.kind.lower() != "serviceaccount":
            body = {"spec": {"template": {"spec": body}}}
        kube.call(
            f"patch {named(target)}",
            _object_call(kube, target.kind, "patch"),
            target.name,
            namespace_of(target),
            body,
            _content_type=MERGE_PATCH,
        )
        names = ", ".join(plan.changes["imagePullSecrets"]) or ABSENT
        return ActionOutcome("succeeded", f"{named(target)} pulls with {names}", plan)

    # force_field_ownership

    def _plan_field_ownership(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, APPLIED_KINDS)
        target = request.target
        asked = checked_fields(request.params.get("fields"))
        manager = request.params.get("field_manager", DEFAULT_FIELD_MANAGER)
        if not isinstance(manager, str) or not manager:
            raise ValueError("force_field_ownership params.field_manager must be a name")
        live = _read(kube, target)
        diff: list[Change] = []
        for path, value in asked.items():
            before, holders = value_at(live, path), managers_of(live, path)
            if value is None:  # released: removed when no other manager holds it
                after = [holder for holder in holders if holder != manager]
                value_after = None if holders == [manager] else before
            else:  # force takes a field whose value differs; an equal one is shared
                after = [manager] if before != value else sorted({*holders, manager})
                value_after = value
            if value_after != before:
                diff.append(Change(dotted(path), shown(before), shown(value_after)))
            if after != holders:
                diff.append(
                    Change(
                        f"managers of {dotted(path)}",
                        ", ".join(holders) or ABSENT,
                        ", ".join(after) or ABSENT,
                    )
                )
        previous = {
            "fields": nested({path: value_at(live, path) for path in asked}),
            "field_manager": manager,
        }
        if not diff:
            return Plan(request, previous, {}, f"{named(target)} already holds those values")
        changes = {
            "fields": nested(asked),
            "field_manager": manager,
            "body": apply_body(live, asked, manager),
        }
        fields = ", ".join(dotted(path) for path in asked)
        summary = f"apply {fields} to {named(target)} as {manager}, taking them over (force)"
        return Plan(request, previous, changes, summary, tuple(diff))

    def _apply_field_ownership(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target, manager = plan.request.target, plan.changes["field_manager"]
        kube.call(
            f"apply {named(target)}",
            _object_call(kube, target.kind, "patch"),
            target.name,
            namespace_of(target),
            plan.changes["body"],
            field_manager=manager,
            force=True,
            _content_type=APPLY_PATCH,
        )
        return ActionOutcome("succeeded", f"{named(target)} applied as {manager}", plan)


def _text_param(request: ActionRequest, name: str) -> str | None:
    value = request.params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{request.action} params.{name} must be a non-empty string")
    return value


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def _object_call(kube: Kube, kind: str, verb: str) -> Callable[..., Any]:
    if kind.lower() == "configmap":
        method: Callable[..., Any] = getattr(kube.core, f"{verb}_namespaced_config_map")
        return method
    if kind.lower() == "serviceaccount":
        method = getattr(kube.core, f"{verb}_namespaced_service_account")
        return method
    return workload_call(kube, kind, verb)


def _read(kube: Kube, target: Target) -> dict[str, Any]:
    found: dict[str, Any] = kube.call(
        f"get {named(target)}",
        _object_call(kube, target.kind, "read"),
        target.name,
        namespace_of(target),
    )
    return found


def _check_pull_secret(kube: Kube, namespace: str, name: str) -> None:
    """ValueError unless Secret ``name`` exists and is a registry credential.
    Only metadata is asked for: no credential is transferred."""
    found = kube.items(
        f"list secret {namespace}/{name}",
        kube.core.list_namespaced_secret,
        namespace,
        field_selector=f"metadata.name={name},type={DOCKER_CONFIG}",
        _headers={"Accept": PARTIAL_METADATA_LIST},
    )
    if found:
        return
    path = f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}"
    if not kube.exists(f"get secret {namespace}/{name}", path):
        raise ValueError(f"secret {namespace}/{name} does not exist")
    raise ValueError(f"secret {namespace}/{name} is not of type {DOCKER_CONFIG}")
