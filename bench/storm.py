"""Alert storms: distinct stock kube-prometheus-stack alerts over a small cluster.

A storm is ``count`` distinct firing alerts of the alert set users already run
(kubernetes-mixin, node-exporter, general.rules), spread over ``nodes`` nodes
and ``namespaces`` namespaces, in Alertmanager webhook v4 payloads of at most
``size`` alerts grouped by namespace (kube-prometheus-stack's route groups by
``namespace``). Alert ``i`` of a storm has its own workload, so nearly every
alert opens its own incident; node alerts name one of the nodes, so the node
alerts of a storm collapse into one incident per node and type (and breach the
blast radius: the node storm). ``seed`` makes the names of one storm differ
from another's, so a second storm opens new incidents next to the first's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

PROMETHEUS = "monitoring/kube-prometheus-stack-prometheus"
EXTERNAL_URL = "http://kube-prometheus-stack-alertmanager.monitoring:9093"
RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks"

#: alertname -> (runbook path, what the labels describe)
STOCK = {
    "KubePodCrashLooping": ("kubernetes/kubepodcrashlooping", "pod"),
    "KubePodNotReady": ("kubernetes/kubepodnotready", "pod"),
    "KubeContainerWaiting": ("kubernetes/kubecontainerwaiting", "container"),
    "KubeDeploymentReplicasMismatch": ("kubernetes/kubedeploymentreplicasmismatch", "deployment"),
    "KubeDeploymentRolloutStuck": ("kubernetes/kubedeploymentrolloutstuck", "deployment"),
    "KubeStatefulSetReplicasMismatch": ("kubernetes/kubestatefulsetreplicasmismatch", "sts"),
    "KubeJobFailed": ("kubernetes/kubejobfailed", "job"),
    "KubeJobNotCompleted": ("kubernetes/kubejobnotcompleted", "job"),
    "CPUThrottlingHigh": ("kubernetes/cputhrottlinghigh", "pod"),
    "KubeHpaMaxedOut": ("kubernetes/kubehpamaxedout", "hpa"),
    "KubePersistentVolumeFillingUp": ("kubernetes/kubepersistentvolumefillingup", "pvc"),
    "TargetDown": ("general/targetdown", "service"),
    "KubeNodeNotReady": ("kubernetes/kubenodenotready", "node"),
    "NodeFilesystemAlmostOutOfSpace": ("node/nodefilesystemalmostoutofspace", "filesystem"),
}
NODE_ALERTS = ("KubeNodeNotReady", "NodeFilesystemAlmostOutOfSpace")
#: one alert in this many is a node alert (a dying node is a minority of a storm)
NODE_EVERY = 25
POD_ALERTS = tuple(a for a in STOCK if a not in NODE_ALERTS)


def node_name(index: int) -> str:
    return f"10.0.10.{100 + index}"


def _ksm(namespace: str) -> dict[str, str]:
    return {
        "container": "kube-state-metrics",
        "endpoint": "http",
        "instance": "10.244.1.17:8080",
        "job": "kube-state-metrics",
        "namespace": namespace,
        "prometheus": PROMETHEUS,
        "service": "kube-prometheus-stack-kube-state-metrics",
    }


def alert(index: int, seed: str, nodes: int, namespaces: int) -> dict[str, Any]:
    """The ``index``-th alert of the storm ``seed``."""
    namespace = f"team-{index % namespaces:02d}"
    node = node_name(index % nodes) if nodes else ""
    workload = f"app-{seed}-{index:05d}"
    if nodes and index % NODE_EVERY == 0:
        alertname = NODE_ALERTS[(index // NODE_EVERY) % len(NODE_ALERTS)]
    else:
        alertname = POD_ALERTS[index % len(POD_ALERTS)]
    kind = STOCK[alertname][1]
    pod = f"{workload}-7d9c6b5f4d-{index % 99999:05d}"
    labels: dict[str, str]
    if kind == "node":
        labels = {**_ksm("monitoring"), "node": node}
    elif kind == "filesystem":
        labels = {
            "container": "node-exporter",
            "device": f"/dev/sda{index % 4 + 1}",
            "fstype": "xfs",
            "instance": f"{node}:9100",
            "job": "node-exporter",
            "mountpoint": f"/var/lib/{seed}/{index:05d}",
            "namespace": "monitoring",
            "node": node,
            "prometheus": PROMETHEUS,
        }
    elif kind == "pod":
        labels = {**_ksm(namespace), "pod": pod, "uid": f"{seed}-{index:08x}"}
        if alertname == "KubePodCrashLooping":
            labels["reason"] = "CrashLoopBackOff"
    elif kind == "container":
        labels = {**_ksm(namespace), "pod": pod, "container": "app", "reason": "ImagePullBackOff"}
    elif kind == "deployment":
        labels = {**_ksm(namespace), "deployment": workload}
    elif kind == "sts":
        labels = {**_ksm(namespace), "statefulset": workload}
    elif kind == "job":
        labels = {**_ksm(namespace), "job_name": f"{workload}-29012345"}
    elif kind == "hpa":
        labels = {**_ksm(namespace), "horizontalpodautoscaler": workload}
    elif kind == "pvc":
        labels = {
            "job": "kubelet",
            "namespace": namespace,
            "persistentvolumeclaim": f"data-{workload}",
            "prometheus": PROMETHEUS,
        }
    else:
        labels = {
            "job": f"{workload}-metrics",
            "namespace": namespace,
            "prometheus": PROMETHEUS,
            "service": workload,
        }
    labels["alertname"] = alertname
    labels["severity"] = "critical" if kind in ("node", "filesystem") else "warning"
    if alertname == "CPUThrottlingHigh":
        labels["severity"] = "info"
    runbook = STOCK[alertname][0]
    return {
        "status": "firing",
        "labels": dict(sorted(labels.items())),
        "annotations": {
            "description": f"{alertname} on {labels.get('pod') or labels.get('node') or workload}",
            "runbook_url": f"{RUNBOOK}/{runbook}",
            "summary": f"{alertname} fired.",
        },
        "startsAt": "2026-11-01T07:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=up&g0.tab=1",
        "fingerprint": f"{seed}{index:010x}",
    }


def job_failed(namespace: str, job: str, fingerprint: str) -> dict[str, Any]:
    """A stock KubeJobFailed alert for ``job`` in ``namespace``."""
    return {
        "status": "firing",
        "labels": {
            **_ksm(namespace),
            "alertname": "KubeJobFailed",
            "job_name": job,
            "severity": "warning",
        },
        "annotations": {
            "description": f"Job {namespace}/{job} failed to complete.",
            "runbook_url": f"{RUNBOOK}/{STOCK['KubeJobFailed'][0]}",
            "summary": "Job failed to complete.",
        },
        "startsAt": "2026-11-01T07:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=kube_job_failed",
        "fingerprint": fingerprint,
    }


def payloads(
    count: int, seed: str, size: int = 100, nodes: int = 12, namespaces: int = 40
) -> Iterator[dict[str, Any]]:
    """The storm as webhook payloads of at most ``size`` alerts, one namespace each."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for index in range(count):
        found = alert(index, seed, nodes, namespaces)
        groups.setdefault(found["labels"].get("namespace", ""), []).append(found)
    for namespace, alerts in groups.items():
        for start in range(0, len(alerts), size):
            yield payload(namespace, alerts[start : start + size])


def payload(namespace: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """A firing webhook payload of ``alerts``, grouped by ``namespace``."""
    return {
        "receiver": "robot-sre",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"namespace": namespace},
        "commonLabels": {"namespace": namespace, "prometheus": PROMETHEUS},
        "commonAnnotations": {},
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": f'{{}}:{{namespace="{namespace}"}}',
        "truncatedAlerts": 0,
    }


def bodies(count: int, seed: str, size: int = 100, nodes: int = 12) -> list[bytes]:
    """The storm as JSON bodies; ``nodes=0``: workload alerts only (no node storm)."""
    return [
        json.dumps(p, separators=(",", ":")).encode()
        for p in payloads(count, seed, size, nodes=nodes)
    ]
