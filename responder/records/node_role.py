"""Which nodes are control-plane nodes: one rule for the Node objects the
evidence reads and for the labels alerts carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
CONTROL_PLANE_LABELS = (
    *CONTROL_PLANE_ROLES,
    # the same labels as kube-state-metrics exports them onto alerts
    *("label_" + re.sub(r"[^0-9A-Za-z]", "_", role) for role in CONTROL_PLANE_ROLES),
)
CONTROL_PLANE_FACT = "control_plane_node"
"""the incident fact: the incident's node is a control-plane node"""


def has_control_plane_label(labels: Mapping[str, str]) -> bool:
    return any(name in labels for name in CONTROL_PLANE_LABELS)


def is_control_plane_node(node: Mapping[str, Any]) -> bool:
    """A control-plane role label, or the taint kubeadm puts on control-plane
    nodes (``node-role.kubernetes.io/control-plane:NoSchedule``)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    taints = {t.get("key") for t in (node.get("spec") or {}).get("taints") or []}
    return any(role in labels or role in taints for role in CONTROL_PLANE_ROLES)
