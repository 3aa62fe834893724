"""Who owns what in the cluster: the workload that runs a pod, the
workloads a Service selects, and the Helm release that manages a workload,
read from the labels, owner references and annotations the controllers
and Helm write. Targets come out in the action catalogue's kinds
(``deployment``, ``statefulset``, ``daemonset``, ``helmrelease``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from responder.evidence.helm import RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION
from responder.evidence.kube_objects import JSON
from responder.kube import Kube, controller_of, labels_of, meta
from responder.records.target import Target

WORKLOAD_KINDS = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
}
INSTANCE_LABEL = "app.kubernetes.io/instance"
CHART_LABEL = "helm.sh/chart"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TEMPLATE_HASH_LABEL = "pod-template-hash"


def pod_workload(pod: Mapping[str, Any]) -> Target | None:
    """The Deployment, StatefulSet or DaemonSet that runs ``pod`` (a
    Deployment's pods are owned by its ReplicaSet ``<name>-<template hash>``);
    None for bare pods and the pods of Jobs."""
    owner = controller_of(pod)
    if owner is None:
        return None
    kind, name = owner
    namespace = str(meta(pod).get("namespace") or "") or None
    if kind in WORKLOAD_KINDS:
        return Target(kind=WORKLOAD_KINDS[kind], namespace=namespace, name=name)
    if kind != "ReplicaSet":
        return None
    template_hash = labels_of(pod).get(TEMPLATE_HASH_LABEL)
    if template_hash and name.endswith(f"-{template_hash}"):
        deployment = name.removesuffix(f"-{template_hash}")
    else:
        deployment = name.rpartition("-")[0]
    return Target(kind="deployment", namespace=namespace, name=deployment) if deployment else None


def release_of(obj: Mapping[str, Any]) -> Target | None:
    """The Helm release that manages ``obj``: Helm's ``meta.helm.sh``
    annotations, else the ``app.kubernetes.io/instance`` label of an object
    a chart labelled (``helm.sh/chart``, or managed-by Helm)."""
    namespace = str(meta(obj).get("namespace") or "") or None
    annotations = meta(obj).get("annotations") or {}
    if annotations.get(RELEASE_NAME_ANNOTATION):
        return Target(
            kind="helmrelease",
            namespace=annotations.get(RELEASE_NAMESPACE_ANNOTATION) or namespace,
            name=str(annotations[RELEASE_NAME_ANNOTATION]),
        )
    labels = labels_of(obj)
    charted = CHART_LABEL in labels or labels.get(MANAGED_BY_LABEL) == "Helm"
    if charted and labels.get(INSTANCE_LABEL):
        return Target(kind="helmrelease", namespace=namespace, name=labels[INSTANCE_LABEL])
    return None


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a Service's ``selector`` selects pods labelled ``labels`` (an
    empty selector selects nothing the Service manages: its endpoints are
    set by hand)."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def template_labels(workload: Mapping[str, Any]) -> Mapping[str, str]:
    """The labels a workload gives its pods."""
    template = (workload.get("spec") or {}).get("template") or {}
    return labels_of(template)


def read_workload(kube: Kube, target: Target) -> JSON | None:
    """The live Deployment, StatefulSet or DaemonSet ``target``; None when it
    does not exist."""
    read = _readers(kube)[target.kind]
    what = f"get {target.kind} {target.namespace}/{target.name}"
    found: JSON | None = kube.find(what, read, target.name, target.namespace)
    return found


def read_service(kube: Kube, namespace: str, name: str) -> JSON | None:
    """The Service ``namespace/name``; None when it does not exist."""
    what = f"get service {namespace}/{name}"
    found: JSON | None = kube.find(what, kube.core.read_namespaced_service, name, namespace)
    return found


def read_ingress(kube: Kube, namespace: str, name: str) -> JSON | None:
    """The Ingress ``namespace/name``; None when it does not exist."""
    what = f"get ingress {namespace}/{name}"
    found: JSON | None = kube.find(what, kube.networking.read_namespaced_ingress, name, namespace)
    return found


def workloads_selected_by(kube: Kube, service: Mapping[str, Any]) -> list[tuple[Target, JSON]]:
    """The Deployments, StatefulSets and DaemonSets of the Service's
    namespace whose pod template labels its selector selects."""
    namespace = str(meta(service).get("namespace") or "")
    selector = (service.get("spec") or {}).get("selector") or {}
    if not namespace or not selector:
        return []
    found = []
    for kind, list_in in _listers(kube).items():
        for workload in kube.items(f"list {kind}s in {namespace}", list_in, namespace):
            if selects(selector, template_labels(workload)):
                name = str(meta(workload).get("name", ""))
                found.append((Target(kind=kind, namespace=namespace, name=name), workload))
    return found


def _readers(kube: Kube) -> dict[str, Callable[..., Any]]:
    return {
        "deployment": kube.apps.read_namespaced_deployment,
        "statefulset": kube.apps.read_namespaced_stateful_set,
        "daemonset": kube.apps.read_namespaced_daemon_set,
    }


def _listers(kube: Kube) -> dict[str, Callable[..., Any]]:
    return {
        "deployment": kube.apps.list_namespaced_deployment,
        "statefulset": kube.apps.list_namespaced_stateful_set,
        "daemonset": kube.apps.list_namespaced_daemon_set,
    }
