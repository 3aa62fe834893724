"""The Kubernetes executor: every cluster write the robot can make.

``plan`` reads the live object and records what the inverse restores;
``apply`` makes exactly the planned write (JSON merge patches of the few fields
an action owns) and never raises for the API's failures: they are a ``failed``
outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from responder.kube import MERGE_PATCH, Kube, KubeError, controller_of, meta
from responder.policy.allowlist import never_auto_reason
from responder.records.action import ActionOutcome, ActionRequest, Plan
from responder.records.target import Target

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = ("Succeeded", "Failed")
SCALABLE = ("deployment", "statefulset")
RESTARTABLE = ("deployment", "statefulset", "daemonset")


class KubernetesExecutor:
    actions: frozenset[str] = frozenset(
        {
            "delete_completed_pods",
            "suspend_cronjob",
            "scale_to_zero",
            "resume_workload",
            "rollout_restart",
            "cordon_node",
            "uncordon_node",
            "drain_node",
            "patch_config",
        }
    )

    def __init__(
        self, kube: Kube | None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """``kube`` None: no cluster is configured; plans raise and applies
        are ``not_available``."""
        self.kube = kube
        self.clock = clock
        self._planners: dict[str, Callable[[Kube, ActionRequest], Plan]] = {
            "delete_completed_pods": self._plan_delete_completed_pods,
            "suspend_cronjob": self._plan_suspend_cronjob,
            "scale_to_zero": self._plan_scale_to_zero,
            "resume_workload": self._plan_resume_workload,
            "rollout_restart": self._plan_rollout_restart,
            "cordon_node": self._plan_cordon_node,
            "uncordon_node": self._plan_uncordon_node,
            "drain_node": self._plan_drain_node,
            "patch_config": self._plan_patch_config,
        }
        self._appliers: dict[str, Callable[[Kube, Plan], ActionOutcome]] = {
            "delete_completed_pods": self._apply_delete_completed_pods,
            "suspend_cronjob": self._apply_suspend,
            "scale_to_zero": self._apply_scale,
            "resume_workload": self._apply_resume_workload,
            "rollout_restart": self._apply_rollout_restart,
            "cordon_node": self._apply_cordon_node,
            "uncordon_node": self._apply_uncordon_node,
            "drain_node": self._apply_drain_node,
            "patch_config": self._apply_patch_config,
        }

    # the protocol

    def plan(self, request: ActionRequest) -> Plan:
        kube = self._client()
        planner = self._planners.get(request.action)
        if planner is None:
            raise ValueError(f"the Kubernetes executor does not serve {request.action}")
        return planner(kube, request)

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        applier = self._appliers.get(plan.request.action)
        if applier is None:
            return ActionOutcome("failed", f"not a Kubernetes action: {plan.request.action}", plan)
        if plan.changes.get("refused"):
            return ActionOutcome("failed", str(plan.changes["refused"]), plan)
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        try:
            return applier(self.kube, plan)
        except KubeError as exc:
            return ActionOutcome("failed", str(exc), plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        request, previous = plan.request, plan.previous
        if not plan.changes or plan.changes.get("refused"):
            return None
        action = request.action
        if action == "cordon_node" or action == "drain_node":
            if previous.get("unschedulable"):
                return None
            return _undo(request, "uncordon_node", {})
        if action == "uncordon_node":
            return _undo(request, "cordon_node", {}) if previous.get("unschedulable") else None
        if action == "suspend_cronjob":
            return _undo(request, "resume_workload", {"suspend": bool(previous.get("suspend"))})
        if action == "scale_to_zero":
            return _undo(request, "resume_workload", {"replicas": previous["replicas"]})
        if action == "resume_workload":
            if "suspend" in previous:
                if previous["suspend"]:
                    return _undo(request, "suspend_cronjob", {})
                return _undo(request, "resume_workload", {"suspend": False})
            if previous["replicas"] == 0:
                return _undo(request, "scale_to_zero", {})
            return _undo(request, "resume_workload", {"replicas": previous["replicas"]})
        if action == "patch_config":
            return _undo(
                request, "patch_config", {"key": previous["key"], "value": previous["value"]}
            )
        return None  # delete_completed_pods, rollout_restart: nothing to restore

    def _client(self) -> Kube:
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        return self.kube

    # delete_completed_pods

    def _plan_delete_completed_pods(self, kube: Kube, request: ActionRequest) -> Plan:
        target = request.target
        _expect(request, ("cluster", "namespace"))
        namespace = target.name if target.kind == "namespace" else None
        pods: list[dict[str, Any]] = []
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
                    f"list {phase} pods",
                    kube.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                )
            # The phase is checked here too: this action must never touch
            # a pod that is not finished, whatever a server's selector does.
            pods += [
                p
                for p in found
                if (p.get("status") or {}).get("phase") == phase
                and not meta(p).get("deletionTimestamp")
            ]
        # A cluster-wide cleanup must not reach into what the never-auto list
        # protects (the ingress controller, cert-manager): their finished
        # pods (admission and start-up check Jobs) are left to a person.
        kept = [p for p in pods if not _protected(request.action, p)]
        protected = len(pods) - len(kept)
        listed = [
            {
                "namespace": meta(p).get("namespace"),
                "name": meta(p).get("name"),
                "uid": meta(p).get("uid"),
                "phase": (p.get("status") or {}).get("phase"),
            }
            for p in kept
        ]
        where = f"in {namespace}" if namespace else "cluster-wide"
        succeeded = sum(1 for p in listed if p["phase"] == "Succeeded")
        summary = (
            f"delete {len(listed)} finished pods {where} "
            f"({succeeded} Succeeded, {len(listed) - succeeded} Failed)"
        )
        if protected:
            summary += f"; {protected} left alone (never-auto list)"
        changes: dict[str, Any] = {"delete": listed} if listed else {}
        return Plan(request, previous={}, changes=changes, summary=summary)

    def _apply_delete_completed_pods(self, kube: Kube, plan: Plan) -> ActionOutcome:
        deleted, gone, failed = 0, 0, []
        for pod in plan.changes["delete"]:
            if pod.get("phase") not in FINISHED_PHASES:
                continue
            name, namespace = pod["name"], pod["namespace"]
            body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
            if pod.get("uid"):
                body["preconditions"] = {"uid": pod["uid"]}
            try:
                kube.call(
                    f"delete pod {namespace}/{name}",
                    kube.core.delete_namespaced_pod,
                    name,
                    namespace,
                    body=body,
                )
                deleted += 1
            except KubeError as exc:
                if exc.not_found:
                    gone += 1
                    continue
                failed.append(str(exc))
                if exc.status == 0:
                    break  # the API does not answer: do not wait out every pod
        total = len(plan.changes["delete"])
        detail = f"deleted {deleted} of {total} finished pods"
        if gone:
            detail += f" ({gone} were already gone)"
        if failed:
            return ActionOutcome("failed", f"{detail}; failed: {'; '.join(failed[:5])}", plan)
        return ActionOutcome("succeeded", detail, plan)

    # suspend_cronjob, resume_workload, scale_to_zero

    def _plan_suspend_cronjob(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, ("cronjob",))
        return self._plan_suspend(kube, request, True)

    def _plan_suspend(self, kube: Kube, request: ActionRequest, suspend: bool) -> Plan:
        target = request.target
        namespace = _namespace(target)
        cronjob = kube.call(
            f"get cronjob {namespace}/{target.name}",
            kube.batch.read_namespaced_cron_job,
            target.name,
            namespace,
        )
        current = bool((cronjob.get("spec") or {}).get("suspend"))
        verb = "suspend" if suspend else "resume"
        if current == suspend:
            state = "suspended" if current else "running"
            return Plan(request, {"suspend": current}, {}, f"{_key(target)} is already {state}")
        return Plan(request, {"suspend": current}, {"suspend": suspend}, f"{verb} {_key(target)}")

    def _apply_suspend(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        namespace = _namespace(target)
        suspend = bool(plan.changes["suspend"])
        kube.call(
            f"patch cronjob {namespace}/{target.name}",
            kube.batch.patch_namespaced_cron_job,
            target.name,
            namespace,
            {"spec": {"suspend": suspend}},
            _content_type=MERGE_PATCH,
        )
        state = "suspended" if suspend else "resumed"
        return ActionOutcome("succeeded", f"{_key(target)} {state}", plan)

    def _plan_scale_to_zero(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, SCALABLE)
        return self._plan_scale(kube, request, 0)

    def _plan_resume_workload(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, ("cronjob", *SCALABLE))
        if request.target.kind.lower() == "cronjob":
            return self._plan_suspend(kube, request, bool(request.params.get("suspend", False)))
        replicas = request.params.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ValueError(
                "resume_workload of a workload needs params.replicas, the recorded replica count"
            )
        return self._plan_scale(kube, request, replicas)

    def _plan_scale(self, kube: Kube, request: ActionRequest, replicas: int) -> Plan:
        target = request.target
        namespace = _namespace(target)
        read = _scale_call(kube, target.kind, "read")
        scale = kube.call(f"get {_key(target)} scale", read, target.name, namespace)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        previous = {"replicas": current}
        if current == replicas:
            return Plan(request, previous, {}, f"{_key(target)} already has {current} replicas")
        summary = f"scale {_key(target)} from {current} to {replicas} replicas"
        return Plan(request, previous, {"replicas": replicas}, summary)

    def _apply_resume_workload(self, kube: Kube, plan: Plan) -> ActionOutcome:
        if "suspend" in plan.changes:
            return self._apply_suspend(kube, plan)
        return self._apply_scale(kube, plan)

    def _apply_scale(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        replicas = int(plan.changes["replicas"])
        patch = _scale_call(kube, target.kind, "patch")
        kube.call(
            f"scale {_key(target)}",
            patch,
            target.name,
            _namespace(target),
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
        )
        before = plan.previous["replicas"]
        return ActionOutcome(
            "succeeded", f"{_key(target)} scaled from {before} to {replicas} replicas", plan
        )

    # rollout_restart

    def _plan_rollout_restart(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, RESTARTABLE)
        target = request.target
        workload = kube.call(
            f"get {_key(target)}",
            _workload_call(kube, target.kind, "read"),
            target.name,
            _namespace(target),
        )
        template = (workload.get("spec") or {}).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        stamp = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Plan(
            request,
            previous={"restartedAt": annotations.get(RESTARTED_AT)},
            changes={"restartedAt": stamp},
            summary=f"restart {_key(target)} (rolling: pods are replaced one by one)",
        )

    def _apply_rollout_restart(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        annotation = {RESTARTED_AT: plan.changes["restartedAt"]}
        kube.call(
            f"patch {_key(target)}",
            _workload_call(kube, target.kind, "patch"),
            target.name,
            _namespace(target),
            {"spec": {"template": {"metadata": {"annotations": annotation}}}},
            _content_type=MERGE_PATCH,
        )
        return ActionOutcome("succeeded", f"{_key(target)} restarting", plan)

    # cordon_node, uncordon_node, drain_node

    def _plan_cordon_node(self, kube: Kube, request: ActionRequest) -> Plan:
        return self._plan_schedulable(kube, request, unschedulable=True)

    def _plan_uncordon_node(self, kube: Kube, request: ActionRequest) -> Plan:
        return self._plan_schedulable(kube, request, unschedulable=False)

    def _plan_schedulable(self, kube: Kube, request: ActionRequest, unschedulable: bool) -> Plan:
        _expect(request, ("node",))
        current = self._unschedulable(kube, request.target.name)
        node = request.target.name
        verb = "cordon" if unschedulable else "uncordon"
        if current == unschedulable:
            state = "cordoned" if current else "schedulable"
            return Plan(request, {"unschedulable": current}, {}, f"node {node} is already {state}")
        return Plan(
            request,
            {"unschedulable": current},
            {"unschedulable": unschedulable},
            f"{verb} node {node}",
        )

    def _unschedulable(self, kube: Kube, node: str) -> bool:
        found = kube.call(f"get node {node}", kube.core.read_node, node)
        return bool((found.get("spec") or {}).get("unschedulable"))

    def _apply_cordon_node(self, kube: Kube, plan: Plan) -> ActionOutcome:
        return self._set_unschedulable(kube, plan, True)

    def _apply_uncordon_node(self, kube: Kube, plan: Plan) -> ActionOutcome:
        return self._set_unschedulable(kube, plan, False)

    def _set_unschedulable(self, kube: Kube, plan: Plan, value: bool) -> ActionOutcome:
        node = plan.request.target.name
        kube.call(
            f"patch node {node}",
            kube.core.patch_node,
            node,
            {"spec": {"unschedulable": value}},
            _content_type=MERGE_PATCH,
        )
        return ActionOutcome(
            "succeeded", f"node {node} {'cordoned' if value else 'uncordoned'}", plan
        )

    def _plan_drain_node(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, ("node",))
        node = request.target.name
        current = self._unschedulable(kube, node)
        pods = kube.items(
            f"list pods on node {node}",
            kube.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
        )
        evict, skipped, unmanaged = [], [], []
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") != node or meta(pod).get(
                "deletionTimestamp"
            ):
                continue
            entry = {"namespace": meta(pod).get("namespace"), "name": meta(pod).get("name")}
            owner = controller_of(pod)
            if MIRROR_ANNOTATION in (meta(pod).get("annotations") or {}):
                skipped.append({**entry, "why": "mirror pod"})
            elif owner is not None and owner[0] == "DaemonSet":
                skipped.append({**entry, "why": "DaemonSet pod"})
            elif owner is None and (pod.get("status") or {}).get("phase") not in FINISHED_PHASES:
                unmanaged.append(f"{entry['namespace']}/{entry['name']}")
                evict.append(entry)
            else:
                evict.append(entry)
        changes: dict[str, Any] = {"unschedulable": True, "evict": evict, "skipped": skipped}
        summary = f"cordon node {node} and evict {len(evict)} pods"
        summary += f" (skip {len(skipped)} DaemonSet/mirror pods)" if skipped else ""
        if unmanaged and not request.params.get("force"):
            # As kubectl drain: a pod no controller recreates is lost for good.
            changes["refused"] = (
                f"drain of {node} refused: pods without a controller would be lost: "
                f"{', '.join(unmanaged[:5])}; approve again with params.force=true to evict them"
            )
            summary = str(changes["refused"])
        return Plan(request, {"unschedulable": current}, changes, summary)

    def _apply_drain_node(self, kube: Kube, plan: Plan) -> ActionOutcome:
        node = plan.request.target.name
        if not plan.previous.get("unschedulable"):
            self._set_unschedulable(kube, plan, True)
        evicted: list[str] = []
        for pod in plan.changes["evict"]:
            name, namespace = pod["name"], pod["namespace"]
            body = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace},
            }
            try:
                kube.call(
                    f"evict pod {namespace}/{name}",
                    kube.core.create_namespaced_pod_eviction,
                    name,
                    namespace,
                    body,
                )
            except KubeError as exc:
                if exc.not_found:
                    continue
                so_far = f"node {node} cordoned; evicted {len(evicted)} pods before"
                if exc.status == 429:
                    return ActionOutcome(
                        "failed",
                        f"eviction of {namespace}/{name} blocked by a PodDisruptionBudget "
                        f"({exc.reason}); {so_far}",
                        plan,
                    )
                return ActionOutcome("failed", f"{exc}; {so_far}", plan)
            evicted.append(f"{namespace}/{name}")
        return ActionOutcome(
            "succeeded",
            f"node {node} cordoned; evictions requested for {len(evicted)} pods",
            plan,
        )

    # patch_config

    def _plan_patch_config(self, kube: Kube, request: ActionRequest) -> Plan:
        _expect(request, ("configmap",))
        key, value = request.params.get("key"), request.params.get("value")
        if not isinstance(key, str) or not key:
            raise ValueError("patch_config needs params.key, the ConfigMap key to set")
        if value is not None and not isinstance(value, str):
            raise ValueError("patch_config params.value must be a string (or null to remove)")
        target = request.target
        configmap = kube.call(
            f"get configmap {_namespace(target)}/{target.name}",
            kube.core.read_namespaced_config_map,
            target.name,
            _namespace(target),
        )
        data = configmap.get("data") or {}
        previous = {"key": key, "value": data.get(key)}
        if data.get(key) == value:
            return Plan(request, previous, {}, f"{_key(target)} key {key} already has that value")
        verb = "remove" if value is None else "set"
        return Plan(
            request, previous, {"key": key, "value": value}, f"{verb} {key} in {_key(target)}"
        )

    def _apply_patch_config(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        key = plan.changes["key"]
        kube.call(
            f"patch configmap {_namespace(target)}/{target.name}",
            kube.core.patch_namespaced_config_map,
            target.name,
            _namespace(target),
            {"data": {key: plan.changes["value"]}},
            _content_type=MERGE_PATCH,
        )
        return ActionOutcome("succeeded", f"{_key(target)} key {key} patched", plan)


def _protected(action: str, pod: Mapping[str, Any]) -> bool:
    target = Target(
        kind="pod", namespace=meta(pod).get("namespace") or None, name=str(meta(pod).get("name"))
    )
    return never_auto_reason(action, target) is not None


def _expect(request: ActionRequest, kinds: tuple[str, ...]) -> None:
    if request.target.kind.lower() not in kinds:
        raise ValueError(
            f"{request.action} acts on a {' or '.join(kinds)}, not a {request.target.kind}"
        )


def _namespace(target: Target) -> str:
    if not target.namespace:
        raise ValueError(f"{target.kind} {target.name}: the target needs a namespace")
    return target.namespace


def _key(target: Target) -> str:
    where = f"{target.namespace}/" if target.namespace else ""
    return f"{target.kind.lower()} {where}{target.name}"


def _undo(request: ActionRequest, action: str, params: dict[str, Any]) -> ActionRequest:
    return ActionRequest(
        action=action, target=request.target, incident_id=request.incident_id, params=params
    )


def _scale_call(kube: Kube, kind: str, verb: str) -> Callable[..., Any]:
    name = {"deployment": "deployment", "statefulset": "stateful_set"}[kind.lower()]
    method: Callable[..., Any] = getattr(kube.apps, f"{verb}_namespaced_{name}_scale")
    return method


def _workload_call(kube: Kube, kind: str, verb: str) -> Callable[..., Any]:
    name = {"deployment": "deployment", "statefulset": "stateful_set", "daemonset": "daemon_set"}[
        kind.lower()
    ]
    method: Callable[..., Any] = getattr(kube.apps, f"{verb}_namespaced_{name}")
    return method
