"""The named facts an incident carries for severity rules and policies.

Evidence collectors set them; every fact is always present (with the default
below) so that CEL conditions never fail on a missing key and both CEL engines
see the same input.
"""

from __future__ import annotations

FACT_DEFAULTS: dict[str, bool | int] = {
    # how many nodes show the incident's condition
    "nodes_affected": 0,
    # pods of customer-facing workloads are failing because of the incident
    "customer_facing_failures": False,
    # the affected workload or dependency is part of the core platform
    "core_workload": False,
    # the affected dependency or controller is shared by other workloads
    "shared_dependency": False,
    # the cascade reached other components
    "impact_cascades": False,
    # a rollout cannot progress
    "rollout_blocked": False,
    # workloads of the release are not healthy
    "workloads_unhealthy": False,
    # how many operator channels currently fail to deliver
    "channels_down": 0,
    # every configured operator channel fails to deliver
    "all_channels_down": False,
    # another incident of the cluster is active (open, not resolved)
    "active_incident": False,
    # a job backlog contributes to node disk pressure or control-plane churn
    "contributes_to_disk_pressure": False,
    # error rate keeps rising between checks
    "rising": False,
    # the incident's node is a control-plane node (its labels or taints); the
    # guard rails never act on one
    "control_plane_node": False,
}
