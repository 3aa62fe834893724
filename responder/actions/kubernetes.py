"""The Kubernetes executor: every cluster write the robot can make.

``plan`` reads the live object and records what the inverse restores;
``apply`` makes exactly the planned write (JSON merge patches of the few fields
an action owns) and never raises for the API's failures: they are a ``failed``
outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from responder.actions.kube_calls import (
    FINISHED_PHASES,
    Applier,
    apply_config_key,
    apply_scale,
    expect_kind,
    finished_pods,
    guarded_apply,
    named,
    namespace_of,
    plan_config_key,
    plan_scale,
    shown,
    undo,
    verify_by_replan,
    workload_call,
)
from responder.kube import MERGE_PATCH, Kube, KubeError, controller_of, meta
from responder.policy.allowlist import never_auto_reason
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
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
        self._appliers: dict[str, Applier] = {
            "delete_completed_pods": self._apply_delete_completed_pods,
            "suspend_cronjob": self._apply_suspend,
            "scale_to_zero": apply_scale,
            "resume_workload": self._apply_resume_workload,
            "rollout_restart": self._apply_rollout_restart,
            "cordon_node": self._apply_cordon_node,
            "uncordon_node": self._apply_uncordon_node,
            "drain_node": self._apply_drain_node,
            "patch_config": apply_config_key,
        }

    # the protocol

    def plan(self, request: ActionRequest) -> Plan:
        kube = self._client()
        planner = self._planners.get(request.action)
        if planner is None:
            raise ValueError(f"the Kubernetes executor does not serve {request.action}")
        return planner(kube, request)

    def apply(self, plan: Plan) -> ActionOutcome:
        return guarded_apply(self.kube, plan, self._appliers, "Kubernetes")

    def verify(self, plan: Plan) -> str | None:
        return verify_by_replan(self.plan, plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        request, previous = plan.request, plan.previous
        if not plan.changes or plan.changes.get("refused"):
            return None
        action = request.action
        if action == "cordon_node" or action == "drain_node":
            if previous.get("unschedulable"):
                return None
            return undo(request, "uncordon_node", {})
        if action == "uncordon_node":
            return undo(request, "cordon_node", {}) if previous.get("unschedulable") else None
        if action == "suspend_cronjob":
            return undo(request, "resume_workload", {"suspend": bool(previous.get("suspend"))})
        if action == "scale_to_zero":
            return undo(request, "resume_workload", {"replicas": previous["replicas"]})
        if action == "resume_workload":
            if "suspend" in previous:
                if previous["suspend"]:
                    return undo(request, "suspend_cronjob", {})
                return undo(request, "resume_workload", {"suspend": False})
            if previous["replicas"] == 0:
                return undo(request, "scale_to_zero", {})
            return undo(request, "resume_workload", {"replicas": previous["replicas"]})
        if action == "patch_config":
            return undo(
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
        expect_kind(request, ("cluster", "namespace"))
        namespace = target.name if target.kind == "namespace" else None
        pods = [p for p in finished_pods(kube, namespace) if not meta(p).get("deletionTimestamp")]
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
        if not listed:
            return Plan(request, previous={}, changes={}, summary=summary)
        diff = (Change(f"finished pods {where}", str(len(listed)), "0"),)
        return Plan(request, {}, {"delete": listed}, summary, diff)

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
        expect_kind(request, ("cronjob",))
        return self._plan_suspend(kube, request, True)

    def _plan_suspend(self, kube: Kube, request: ActionRequest, suspend: bool) -> Plan:
        target = request.target
        namespace = namespace_of(target)
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
            return Plan(request, {"suspend": current}, {}, f"{named(target)} is already {state}")
        diff = (Change("spec.suspend", str(current).lower(), str(suspend).lower()),)
        return Plan(
            request, {"suspend": current}, {"suspend": suspend}, f"{verb} {named(target)}", diff
        )

    def _apply_suspend(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        namespace = namespace_of(target)
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
        return ActionOutcome("succeeded", f"{named(target)} {state}", plan)

    def _plan_scale_to_zero(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, SCALABLE)
        return plan_scale(kube, request, 0)

    def _plan_resume_workload(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, ("cronjob", *SCALABLE))
        if request.target.kind.lower() == "cronjob":
            return self._plan_suspend(kube, request, bool(request.params.get("suspend", False)))
        replicas = request.params.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ValueError(
                "resume_workload of a workload needs params.replicas, the recorded replica count"
            )
        return plan_scale(kube, request, replicas)

    def _apply_resume_workload(self, kube: Kube, plan: Plan) -> ActionOutcome:
        if "suspend" in plan.changes:
            return self._apply_suspend(kube, plan)
        return apply_scale(kube, plan)

    # rollout_restart

    def _plan_rollout_restart(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, RESTARTABLE)
        target = request.target
        workload = kube.call(
            f"get {named(target)}",
            workload_call(kube, target.kind, "read"),
            target.name,
            namespace_of(target),
        )
        template = (workload.get("spec") or {}).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        stamp = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        before = annotations.get(RESTARTED_AT)
        return Plan(
            request,
            previous={"restartedAt": before},
            changes={"restartedAt": stamp},
            summary=f"restart {named(target)} (rolling: pods are replaced one by one)",
            diff=(Change("restartedAt", shown(before), stamp),),
        )

    def _apply_rollout_restart(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        annotation = {RESTARTED_AT: plan.changes["restartedAt"]}
        kube.call(
            f"patch {named(target)}",
            workload_call(kube, target.kind, "patch"),
            target.name,
            namespace_of(target),
            {"spec": {"template": {"metadata": {"annotations": annotation}}}},
            _content_type=MERGE_PATCH,
        )
        return ActionOutcome("succeeded", f"{named(target)} restarting", plan)

    # cordon_node, uncordon_node, drain_node

    def _plan_cordon_node(self, kube: Kube, request: ActionRequest) -> Plan:
        return self._plan_schedulable(kube, request, unschedulable=True)

    def _plan_uncordon_node(self, kube: Kube, request: ActionRequest) -> Plan:
        return self._plan_schedulable(kube, request, unschedulable=False)

    def _plan_schedulable(self, kube: Kube, request: ActionRequest, unschedulable: bool) -> Plan:
        expect_kind(request, ("node",))
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
            (Change("unschedulable", str(current).lower(), str(unschedulable).lower()),),
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
        expect_kind(request, ("node",))
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
        diff = (
            *(() if current else (Change("unschedulable", "false", "true"),)),
            Change(f"pods to evict from {node}", str(len(evict)), "0"),
        )
        return Plan(request, {"unschedulable": current}, changes, summary, diff)

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
        expect_kind(request, ("configmap",))
        key, value = request.params.get("key"), request.params.get("value")
        if not isinstance(key, str) or not key:
            raise ValueError("patch_config needs params.key, the ConfigMap key to set")
        if value is not None and not isinstance(value, str):
            raise ValueError("patch_config params.value must be a string (or null to remove)")
        return plan_config_key(kube, request, key, value)


def _protected(action: str, pod: Mapping[str, Any]) -> bool:
    target = Target(
        kind="pod", namespace=meta(pod).get("namespace") or None, name=str(meta(pod).get("name"))
    )
    return never_auto_reason(action, target) is not None
