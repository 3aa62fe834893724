"""Resource scope from alert labels: what makes two alerts "the same problem".

Workload scope collapses pods to their owner when the pod name follows the
controllers' naming (``web-5d9c7b8f6-abcde`` → deployment ``web``,
``redis-0`` → statefulset ``redis``), so that every crashing replica of one
Deployment lands in one incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from responder.records.incident import ResourceScope
from responder.taxonomy.models import ScopeKind

_WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset", "cronjob", "job_name")
# kube-state-metrics names the object an alert is about in a label of its own;
# its ``service`` label names kube-state-metrics itself (the scrape target).
_OBJECT_LABELS = ("persistentvolumeclaim", "horizontalpodautoscaler")
# A CronJob's Job is named <cronjob>-<minutes since epoch>: an all-digit middle.
_CRONJOB_POD = re.compile(r"^(?P<owner>.+)-\d{8,10}-[a-z0-9]{5}$")
_REPLICASET_POD = re.compile(r"^(?P<owner>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(?P<owner>.+)-\d+$")


def _node_name(labels: Mapping[str, str]) -> str | None:
    for key in ("node", "nodename", "kubernetes_node", "exported_node"):
        if labels.get(key):
            return labels[key]
    instance = labels.get("instance")
    if instance:
        if instance.startswith("["):  # [IPv6]:port
            return instance[1:].partition("]")[0]
        return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance
    return None


def _workload(labels: Mapping[str, str]) -> ResourceScope | None:
    namespace = labels.get("namespace") or labels.get("exported_namespace")
    for key in _WORKLOAD_LABELS:
        if labels.get(key):
            kind = "job" if key == "job_name" else key
            return ResourceScope(kind=kind, namespace=namespace, name=labels[key])
    for key in _OBJECT_LABELS:
        if labels.get(key):
            return ResourceScope(kind=key, namespace=namespace, name=labels[key])
    pod = labels.get("pod")
    if pod:
        if match := _CRONJOB_POD.match(pod):
            return ResourceScope(kind="cronjob", namespace=namespace, name=match["owner"])
        if match := _REPLICASET_POD.match(pod):
            return ResourceScope(kind="deployment", namespace=namespace, name=match["owner"])
        if match := _STATEFUL_POD.match(pod):
            return ResourceScope(kind="statefulset", namespace=namespace, name=match["owner"])
        return ResourceScope(kind="pod", namespace=namespace, name=pod)
    return None


def _service(labels: Mapping[str, str]) -> ResourceScope | None:
    namespace = labels.get("namespace") or labels.get("exported_namespace")
    for key, kind in (
        ("ingress", "ingress"),
        ("host", "host"),
        ("service", "service"),
        ("job", "service"),
    ):
        if labels.get(key):
            return ResourceScope(kind=kind, namespace=namespace, name=labels[key])
    if labels.get("instance"):
        return ResourceScope(kind="instance", namespace=namespace, name=labels["instance"])
    return None


def resource_scope(labels: Mapping[str, str], kind: ScopeKind | None) -> ResourceScope:
    """The scope of an alert for an incident type of scope ``kind``
    (``None`` for unclassified alerts: the most specific scope the labels give)."""
    cluster = ResourceScope(kind="cluster", name=labels.get("cluster", "cluster"))
    if kind == ScopeKind.cluster:
        return cluster
    if kind == ScopeKind.node:
        node = _node_name(labels)
        return ResourceScope(kind="node", name=node) if node else cluster
    if kind == ScopeKind.service:
        return _service(labels) or _workload(labels) or cluster
    found = _workload(labels) or _service(labels)
    if found is None and kind is None and (node := _node_name(labels)):
        found = ResourceScope(kind="node", name=node)
    return found or cluster
