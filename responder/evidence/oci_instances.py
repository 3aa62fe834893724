"""OCI evidence for node incidents: the instance's state against the node's.

An instance that is not RUNNING is a strong, direct signal (OCI itself says
the worker is down); a RUNNING instance behind a NotReady node is a strong
one (kubelet or network, not the VM). Exit criteria hold when the instance
runs and the node is Ready."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from responder.evidence.collector import Evidence
from responder.kube import Kube, KubeError
from responder.oci_clients import NodeInstances, describe_error, short
from responder.records.incident import Incident, Signal

NODE_TYPES = frozenset({"node_unreachable_or_notready", "node_disk_pressure"})


class OciInstanceCollector:
    name = "oci"
    incident_types = NODE_TYPES

    def __init__(
        self,
        compute: object,
        instances: NodeInstances,
        node_ready: Callable[[str], bool | None] = lambda node: None,
    ) -> None:
        self.compute = compute
        self.instances = instances
        self.node_ready = node_ready

    def collect(self, incident: Incident) -> Evidence:
        scope = incident.resource_scope
        if scope.kind != "node":
            return Evidence()
        instance_id = self.instances.instance_id(scope.name)
        if instance_id is None:
            return Evidence(summary=f"no OCI instance known for node {scope.name}")
        source = f"{self.name}:{short(instance_id)}"
        try:
            instance = self.compute.get_instance(instance_id).data  # type: ignore[attr-defined]
        except Exception as exc:
            return Evidence(
                signals=(
                    Signal(
                        name="collector_error",
                        strength="weak",
                        source=source,
                        detail=describe_error(exc),
                    ),
                ),
                refs=(f"oci:instance/{instance_id}",),
            )
        state = str(instance.lifecycle_state)
        try:
            ready = self.node_ready(scope.name)
        except Exception:
            ready = None
        signals: list[Signal] = []
        if state != "RUNNING":
            signals.append(
                Signal(
                    name=f"oci_instance_{state.lower()}",
                    strength="strong",
                    source=source,
                    direct=True,
                    detail=f"instance {instance.display_name} is {state}",
                )
            )
        elif ready is False:
            signals.append(
                Signal(
                    name="oci_instance_running_node_notready",
                    strength="strong",
                    source=source,
                    detail=f"instance {instance.display_name} is RUNNING but node "
                    f"{scope.name} is not Ready",
                )
            )
        exit_met = ready if state == "RUNNING" else False
        readiness = {True: "Ready", False: "not Ready", None: "readiness unknown"}[ready]
        return Evidence(
            signals=tuple(signals),
            refs=(f"oci:instance/{instance_id}",),
            summary=f"instance {instance.display_name} {state}, node {scope.name} {readiness}",
            exit_criteria_met=exit_met,
        )


class KubeNodes:
    """The Kubernetes side of a node for the OCI executors and collector: its
    ``spec.providerID`` and its Ready condition (None when unreadable)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _node(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.kube.call(f"read node {name}", self.kube.core.read_node, name)
        except KubeError:
            return None
        return found if isinstance(found, dict) else None

    def provider_id(self, name: str) -> str | None:
        node = self._node(name)
        value = ((node or {}).get("spec") or {}).get("providerID")
        return str(value) if value else None

    def ready(self, name: str) -> bool | None:
        node = self._node(name)
        if node is None:
            return None
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready":
                return bool(condition.get("status") == "True")
        return None
