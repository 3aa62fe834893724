"""The controller executor: the replicas of a runtime dependency or of a
shared controller, and the switch of a subsystem. Shared controllers and
subsystems are only the configured ones (``settings.remedies``); every
inverse is ``resume_workload`` or ``patch_config`` with the recorded value."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

from responder.actions.kube_calls import (
    Applier,
    apply_config_key,
    apply_scale,
    expect_kind,
    guarded_apply,
    named,
    namespace_of,
    plan_config_key,
    plan_scale,
    replica_count,
    undo,
    verify_by_replan,
)
from responder.kube import Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Plan
from responder.remedies import Subsystem

SCALABLE = ("deployment", "statefulset")


class ControllerExecutor:
    actions: frozenset[str] = frozenset(
        {
            "scale_dependency",
            "scale_shared_controller",
            "pause_shared_controller",
            "disable_subsystem",
        }
    )

    def __init__(
        self,
        kube: Kube | None,
        shared_controllers: Collection[str] = (),
        subsystems: Mapping[str, Subsystem] | None = None,
    ) -> None:
        """``shared_controllers``: ``kind/namespace/name`` of each configured
        shared controller; ``subsystems``: name -> how it is switched off.
        ``kube`` None: plans raise and applies are ``not_available``."""
        self.kube = kube
        self.shared_controllers = frozenset(shared_controllers)
        self.subsystems = dict(subsystems or {})
        self._planners: dict[str, Callable[[Kube, ActionRequest], Plan]] = {
            "scale_dependency": self._plan_scale_dependency,
            "scale_shared_controller": self._plan_scale_shared_controller,
            "pause_shared_controller": self._plan_pause_shared_controller,
            "disable_subsystem": self._plan_disable_subsystem,
        }
        self._appliers: dict[str, Applier] = {
            "scale_dependency": apply_scale,
            "scale_shared_controller": apply_scale,
            "pause_shared_controller": apply_scale,
            "disable_subsystem": self._apply_disable_subsystem,
        }

    # the protocol

    def unavailable(self, action: str) -> str | None:
        if action in ("scale_shared_controller", "pause_shared_controller"):
            if not self.shared_controllers:
                return f"no shared controller configured for {action} (settings remedies)"
        elif action == "disable_subsystem" and not self.subsystems:
            return "no subsystem configured for disable_subsystem (settings remedies.subsystems)"
        return None

    def plan(self, request: ActionRequest) -> Plan:
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        planner = self._planners.get(request.action)
        if planner is None:
            raise ValueError(f"the controller executor does not serve {request.action}")
        return planner(self.kube, request)

    def apply(self, plan: Plan) -> ActionOutcome:
        return guarded_apply(self.kube, plan, self._appliers, "controller")

    def verify(self, plan: Plan) -> str | None:
        return verify_by_replan(self.plan, plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        request, previous = plan.request, plan.previous
        if not plan.changes or plan.changes.get("refused"):
            return None
        if "replicas" in previous:
            return undo(request, "resume_workload", {"replicas": previous["replicas"]})
        if "key" in previous:
            return undo(
                request, "patch_config", {"key": previous["key"], "value": previous["value"]}
            )
        return None

    # scale_dependency, scale_shared_controller, pause_shared_controller

    def _plan_scale_dependency(self, kube: Kube, request: ActionRequest) -> Plan:
        expect_kind(request, SCALABLE)
        replicas = replica_count(request, 0)
        if replicas == 0:
            raise ValueError(
                "scale_dependency never scales to 0: stopping a workload is scale_to_zero"
            )
        return plan_scale(kube, request, replicas)

    def _plan_scale_shared_controller(self, kube: Kube, request: ActionRequest) -> Plan:
        self._expect_shared(request)
        return plan_scale(kube, request, replica_count(request, 0))

    def _plan_pause_shared_controller(self, kube: Kube, request: ActionRequest) -> Plan:
        self._expect_shared(request)
        plan = plan_scale(kube, request, 0)
        if not plan.changes:
            return replace(plan, summary=f"{named(request.target)} is already paused (0 replicas)")
        replicas = plan.previous["replicas"]
        summary = f"pause {named(request.target)}: scale it from {replicas} to 0 replicas"
        return replace(plan, summary=summary)

    def _expect_shared(self, request: ActionRequest) -> None:
        expect_kind(request, SCALABLE)
        target = request.target
        ref = f"{target.kind.lower()}/{namespace_of(target)}/{target.name}"
        if ref not in self.shared_controllers:
            raise ValueError(
                f"{named(target)} is not a configured shared controller "
                "(settings remedies.shared_controllers)"
            )

    # disable_subsystem

    def _plan_disable_subsystem(self, kube: Kube, request: ActionRequest) -> Plan:
        name = request.params.get("subsystem")
        if not isinstance(name, str) or not name:
            raise ValueError("disable_subsystem needs params.subsystem, the subsystem's name")
        subsystem = self.subsystems.get(name)
        if subsystem is None:
            raise ValueError(f"subsystem {name} is not configured (settings remedies.subsystems)")
        target = request.target
        wanted = subsystem.workload or f"configmap/{subsystem.configmap}"
        if f"{target.kind.lower()}/{target.namespace}/{target.name}" != wanted:
            kind, namespace, object_name = wanted.split("/")
            raise ValueError(
                f"subsystem {name} is switched off through {kind} {namespace}/{object_name}, "
                f"not {named(target)}"
            )
        if subsystem.workload is not None:
            plan = plan_scale(kube, request, 0)
        else:
            assert subsystem.key is not None  # the settings model checks it
            plan = plan_config_key(kube, request, subsystem.key, subsystem.off_value)
        state = "switch off" if plan.changes else "already off:"
        return replace(plan, summary=f"{state} subsystem {name}: {plan.summary}")

    def _apply_disable_subsystem(self, kube: Kube, plan: Plan) -> ActionOutcome:
        if "replicas" in plan.changes:
            return apply_scale(kube, plan)
        return apply_config_key(kube, plan)
