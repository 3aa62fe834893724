"""OCI executors: reboot (soft reset) and replace the worker behind a
Kubernetes node.

Replacing deletes the node from its OKE node pool without shrinking the pool,
so the pool creates a replacement. A reboot cannot be undone. Both actions are
disruptive: policy never lets them run without an approval."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from responder.oci_clients import NodeInstances, OciClients, describe_error, short
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan


class OciPlanError(LookupError):
    pass


def _instance_for(request: ActionRequest, instances: NodeInstances) -> str:
    given = request.params.get("instance_id")
    if isinstance(given, str) and given:
        return given
    if request.target.kind != "node":
        raise OciPlanError(f"{request.action} acts on a node, not a {request.target.kind}")
    found = instances.instance_id(request.target.name)
    if not found:
        raise OciPlanError(
            f"no OCI instance known for node {request.target.name} (its providerID is not "
            "an OCI instance and settings oci.node_instances does not name it)"
        )
    return found


def _retry_token(request: ActionRequest) -> str:
    """One token per (incident, action, target): should a request reach OCI
    twice, OCI carries it out once."""
    key = f"{request.incident_id}|{request.action}|{request.target.name}"
    return hashlib.sha256(key.encode()).hexdigest()[:64]


@dataclass(eq=False)
class _WorkerAction:
    """An action on the OCI instance behind a node. Neither can be undone: a
    reboot's fallback is replace_worker; a replaced instance is gone (the
    pool's size was kept)."""

    clients: OciClients
    instances: NodeInstances

    def inverse(self, plan: Plan) -> ActionRequest | None:
        return None


class RebootWorker(_WorkerAction):
    actions = frozenset({"reboot_worker"})

    def plan(self, request: ActionRequest) -> Plan:
        instance_id = _instance_for(request, self.instances)
        instance = self.clients.compute.get_instance(instance_id).data
        state = str(instance.lifecycle_state)
        return Plan(
            request=request,
            previous={
                "instance_id": instance_id,
                "lifecycle_state": state,
                "display_name": instance.display_name,
            },
            changes={"instance_action": "SOFTRESET"},
            summary=(
                f"soft-reset OCI instance {instance.display_name} ({short(instance_id)}) "
                f"behind node {request.target.name}, now {state}"
            ),
            diff=(Change("instance state", state, "soft reset"),),
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        instance_id = str(plan.previous["instance_id"])
        try:
            response = self.clients.compute.instance_action(
                instance_id, "SOFTRESET", opc_retry_token=_retry_token(plan.request)
            )
        except Exception as exc:
            return ActionOutcome(
                "failed", f"SOFTRESET of {short(instance_id)}: {describe_error(exc)}", plan
            )
        state = getattr(response.data, "lifecycle_state", "?")
        request_id = response.headers.get("opc-request-id", "")
        return ActionOutcome(
            "succeeded",
            f"SOFTRESET sent to {short(instance_id)}; instance {state}"
            + (f" (opc-request-id {request_id})" if request_id else ""),
            plan,
        )


class ReplaceWorker(_WorkerAction):
    actions = frozenset({"replace_worker"})

    def plan(self, request: ActionRequest) -> Plan:
        instance_id = _instance_for(request, self.instances)
        pool = self._pool_of(request, instance_id)
        size = getattr(getattr(pool, "node_config_details", None), "size", None)
        node = next((n for n in (pool.nodes or []) if n.id == instance_id), None)
        return Plan(
            request=request,
            previous={
                "instance_id": instance_id,
                "node_pool_id": pool.id,
                "node_pool_name": pool.name,
                "node_pool_size": size,
                "node_state": getattr(node, "lifecycle_state", None),
            },
            changes={"delete_node": instance_id, "is_decrement_size": False},
            summary=(
                f"delete node {request.target.name} ({short(instance_id)}) from node pool "
                f"{pool.name} keeping its size {size}: the pool replaces it"
            ),
            diff=(
                Change(
                    f"instance of node {request.target.name}",
                    short(instance_id),
                    f"replaced from node pool {pool.name}",
                ),
            ),
        )

    def _pool_of(self, request: ActionRequest, instance_id: str) -> Any:
        engine = self.clients.container_engine
        given = request.params.get("node_pool_id")
        if isinstance(given, str) and given:
            return engine.get_node_pool(given).data
        settings = self.clients.settings
        if not settings.compartment_id:
            raise OciPlanError(
                "cannot find the node pool: set oci.compartment_id (and oci.cluster_id)"
            )
        kwargs: dict[str, Any] = {}
        if settings.cluster_id:
            kwargs["cluster_id"] = settings.cluster_id
        summaries = engine.list_node_pools(settings.compartment_id, **kwargs).data
        for summary in summaries:
            pool = engine.get_node_pool(summary.id).data
            if any(node.id == instance_id for node in pool.nodes or []):
                return pool
        raise OciPlanError(f"no node pool of the cluster holds instance {short(instance_id)}")

    def apply(self, plan: Plan) -> ActionOutcome:
        pool_id = str(plan.previous["node_pool_id"])
        instance_id = str(plan.previous["instance_id"])
        try:
            response = self.clients.container_engine.delete_node(
                pool_id, instance_id, is_decrement_size=False
            )
        except Exception as exc:
            return ActionOutcome(
                "failed", f"delete node {short(instance_id)}: {describe_error(exc)}", plan
            )
        work_request = response.headers.get("opc-work-request-id", "")
        return ActionOutcome(
            "succeeded",
            f"node {short(instance_id)} deleted from pool {plan.previous['node_pool_name']}; "
            "the pool replaces it" + (f" (work request {work_request})" if work_request else ""),
            plan,
        )
