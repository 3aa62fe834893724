"""Alertmanager webhook v4 payloads shaped like kube-prometheus-stack's.

A payload is one Alertmanager group (kube-prometheus-stack groups by
``namespace``): ``size`` alerts of a mix of kubernetes-mixin, node-exporter
and general.rules alerts for the workloads of one namespace.

Bodies are serialised once per size as a template holding placeholders in
the namespace, pod, node and uid names and every fingerprint;
``body(serial)`` is two ``bytes.replace`` calls, so the load generator stays
light while every request carries new fingerprints and new resources
(the responder's worker opens and updates real incidents instead of
suppressing duplicates).
"""

from __future__ import annotations

import json
from typing import Any

PLACEHOLDER = "@serial@@@@@"
SHORT_PLACEHOLDER = "@short@@@@"
PROMETHEUS = "monitoring/kube-prometheus-stack-prometheus"
EXTERNAL_URL = "http://kube-prometheus-stack-alertmanager.monitoring:9093"
RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks"

_APPS = (
    "checkout",
    "cart",
    "payments",
    "catalog",
    "search",
    "frontend",
    "recommendations",
    "shipping",
    "inventory",
    "notifications",
    "redis-cache",
    "nats",
)


def _pod(app: str, index: int) -> str:
    # Deployment pod names (<deployment>-<replicaset hash>-<5 chars>): the
    # responder's scope collapses replicas of one deployment into one incident.
    return f"{app}-{SHORT_PLACEHOLDER}-{index:05x}"


def _kube_state(namespace: str) -> dict[str, str]:
    return {
        "container": "kube-state-metrics",
        "endpoint": "http",
        "instance": "10.244.1.17:8080",
        "job": "kube-state-metrics",
        "namespace": namespace,
        "prometheus": PROMETHEUS,
        "service": "kube-prometheus-stack-kube-state-metrics",
    }


_KSM = 'job="kube-state-metrics"'
_FS = 'job="node-exporter",fstype!="",mountpoint!=""'

# alertname -> (runbook path, summary, PromQL expression), as in the
# kube-prometheus-stack rules.
_RULES = {
    "KubePodCrashLooping": (
        "kubernetes/kubepodcrashlooping",
        "Pod is crash looping.",
        f"max_over_time(kube_pod_container_status_waiting_reason{{{_KSM},"
        'reason="CrashLoopBackOff"}[5m]) >= 1',
    ),
    "KubePodNotReady": (
        "kubernetes/kubepodnotready",
        "Pod has been in a non-ready state for more than 15 minutes.",
        "sum by (namespace, pod, cluster) (max by (namespace, pod, cluster) "
        f'(kube_pod_status_phase{{{_KSM}, phase=~"Pending|Unknown|Failed"}})) > 0',
    ),
    "KubeDeploymentReplicasMismatch": (
        "kubernetes/kubedeploymentreplicasmismatch",
        "Deployment has not matched the expected number of replicas.",
        f"kube_deployment_spec_replicas{{{_KSM}}} > "
        f"kube_deployment_status_replicas_available{{{_KSM}}}",
    ),
    "KubeContainerWaiting": (
        "kubernetes/kubecontainerwaiting",
        "Pod container waiting longer than 1 hour",
        f'kube_pod_container_status_waiting_reason{{reason!="CrashLoopBackOff", {_KSM}}} > 0',
    ),
    "CPUThrottlingHigh": (
        "kubernetes/cputhrottlinghigh",
        "Processes experience elevated CPU throttling.",
        'sum(increase(container_cpu_cfs_throttled_periods_total{container!=""}[5m])) '
        "by (cluster, container, pod, namespace) / sum(increase("
        "container_cpu_cfs_periods_total{}[5m])) by (cluster, container, pod, namespace)"
        " > (25 / 100)",
    ),
    "NodeFilesystemSpaceFillingUp": (
        "node/nodefilesystemspacefillingup",
        "Filesystem is predicted to run out of space within the next 24 hours.",
        f"(node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}} * 100"
        f" < 15 and predict_linear(node_filesystem_avail_bytes{{{_FS}}}[6h], 24*60*60) < 0"
        f" and node_filesystem_readonly{{{_FS}}} == 0)",
    ),
    "TargetDown": (
        "general/targetdown",
        "One or more targets are unreachable.",
        "100 * (count(up == 0) BY (cluster, job, namespace, service) / count(up) BY "
        "(cluster, job, namespace, service)) > 10",
    ),
    "KubeJobFailed": (
        "kubernetes/kubejobfailed",
        "Job failed to complete.",
        f"kube_job_failed{{{_KSM}}}  > 0",
    ),
}
_ORDER = tuple(_RULES)


def _alert(index: int, namespace: str) -> tuple[dict[str, str], dict[str, str], str]:
    """(labels, annotations, PromQL expression) of the ``index``-th alert."""
    app = _APPS[(index // 3) % len(_APPS)]
    alertname = _ORDER[index % len(_ORDER)]
    pod = _pod(app, index)
    ip = f"10.0.{index % 7}.{(index * 37) % 250 + 1}"
    node = f"{SHORT_PLACEHOLDER}-ip-{ip.replace('.', '-')}.eu-west-1.compute.internal"
    labels: dict[str, str]
    if alertname == "KubePodCrashLooping":
        labels = {
            **_kube_state(namespace),
            "pod": pod,
            "reason": "CrashLoopBackOff",
            "uid": f"{PLACEHOLDER}-{index:04x}-4c7e-9a51-3f2b8d6e1c09",
        }
        description = (
            f'Pod {namespace}/{pod} ({app}) is in waiting state (reason: "CrashLoopBackOff").'
        )
    elif alertname == "KubePodNotReady":
        labels = {**_kube_state(namespace), "pod": pod}
        description = (
            f"Pod {namespace}/{pod} has been in a non-ready state for longer than 15 minutes."
        )
    elif alertname == "KubeDeploymentReplicasMismatch":
        labels = {**_kube_state(namespace), "deployment": app}
        description = (
            f"Deployment {namespace}/{app} has not matched the expected number of replicas"
            " for longer than 15 minutes."
        )
    elif alertname == "KubeContainerWaiting":
        labels = {**_kube_state(namespace), "container": app, "pod": pod}
        labels["reason"] = "ImagePullBackOff"
        description = (
            f"pod/{pod} in namespace {namespace} on container {app} has been in waiting state"
            " for longer than 1 hour. (reason: ImagePullBackOff)"
        )
    elif alertname == "CPUThrottlingHigh":
        labels = {"container": app, "namespace": namespace, "pod": pod, "prometheus": PROMETHEUS}
        description = (
            f"87.3% throttling of CPU in namespace {namespace} for container {app} in pod {pod}."
        )
    elif alertname == "NodeFilesystemSpaceFillingUp":
        labels = {
            "container": "node-exporter",
            "device": "/dev/nvme0n1p1",
            "endpoint": "http-metrics",
            "fstype": "xfs",
            "instance": f"{ip}:9100",
            "job": "node-exporter",
            "mountpoint": "/",
            "namespace": "monitoring",
            "node": node,
            "pod": f"kube-prometheus-stack-prometheus-node-exporter-{index:05x}",
            "prometheus": PROMETHEUS,
            "service": "kube-prometheus-stack-prometheus-node-exporter",
        }
        description = (
            f"Filesystem on /dev/nvme0n1p1, mounted on /, at {node} has only 14.2% available"
            " space left and is filling up."
        )
    elif alertname == "TargetDown":
        labels = {
            "job": f"{app}-metrics",
            "namespace": namespace,
            "prometheus": PROMETHEUS,
            "service": app,
        }
        description = f"100% of the {app}-metrics/{app} targets in {namespace} namespace are down."
    else:
        labels = {**_kube_state(namespace), "job_name": f"{app}-migrate-{index:05d}"}
        description = (
            f"Job {namespace}/{app}-migrate-{index:05d} failed to complete. Removing failed job"
            " after investigation should clear this alert."
        )
    runbook, summary, expr = _RULES[alertname]
    labels["alertname"] = alertname
    labels["severity"] = "info" if alertname == "CPUThrottlingHigh" else "warning"
    annotations = {
        "description": description,
        "runbook_url": f"{RUNBOOK}/{runbook}",
        "summary": summary,
    }
    return dict(sorted(labels.items())), annotations, expr


def _generator_url(expr: str) -> str:
    from urllib.parse import quote

    return (
        "http://kube-prometheus-stack-prometheus.monitoring:9090/graph?g0.expr="
        + quote(expr, safe="")
        + "&g0.tab=1"
    )


def payload(size: int) -> dict[str, Any]:
    """A firing Alertmanager v4 payload of ``size`` alerts, holding PLACEHOLDER."""
    namespace = f"shop-{PLACEHOLDER}"
    alerts: list[dict[str, Any]] = []
    for index in range(size):
        labels, annotations, expr = _alert(index, namespace)
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": f"2026-11-01T07:{index % 60:02d}:{index * 7 % 60:02d}.{index:03d}Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": _generator_url(expr),
                "fingerprint": f"{PLACEHOLDER}{index:04x}",
            }
        )
    common = {"namespace": namespace, "prometheus": PROMETHEUS}
    return {
        "receiver": "robot-sre",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"namespace": namespace},
        "commonLabels": common if size > 1 else alerts[0]["labels"],
        "commonAnnotations": {} if size > 1 else alerts[0]["annotations"],
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": f'{{}}/{{severity!="info"}}:{{namespace="{namespace}"}}',
        "truncatedAlerts": 0,
    }


class BodyFactory:
    """Pre-serialised payload of one size; ``body(n)`` fills in serial ``n``."""

    def __init__(self, size: int, run: int) -> None:
        self.size = size
        self._template = json.dumps(payload(size), separators=(",", ":")).encode()
        self._placeholder = PLACEHOLDER.encode()
        self._short = SHORT_PLACEHOLDER.encode()
        self._run = run

    def body(self, serial: int) -> bytes:
        # 2 hex digits of run and 10 of serial fill the 12-character
        # placeholder; the serial alone fills the 10-character one (the
        # replicaset hash of pod names, which the scope regex wants 6-10 long).
        short = b"%010x" % serial
        return self._template.replace(
            self._placeholder, b"%02x" % (self._run & 0xFF) + short
        ).replace(self._short, short)
