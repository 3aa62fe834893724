"""The Kubernetes collectors against kmock, over HTTP, through the official client."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest
from fixtures.incidents import make_incident
from fixtures.kube import (
    KubeCluster,
    ago,
    cronjob,
    deployment,
    event,
    eviction_threshold_met,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    node,
    pod,
    secret,
    seed_disk_pressure,
)

from responder.evidence.collector import Evidence
from responder.evidence.confidence import confidence_band
from responder.evidence.kubernetes import KubeCollector
from responder.evidence.node_collectors import DiskPressureCollector, NodeReadinessCollector
from responder.evidence.workload_collectors import (
    ImagePullCollector,
    JobBacklogCollector,
    classify_pull_error,
    runs_per_hour,
)
from responder.kube import Kube
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Confidence
from responder.records.target import Target

TRIVY = Target(kind="cronjob", namespace="trivy-system", name="trivy-db-warmup")


def incident(incident_type: str, kind: str, name: str, namespace: str | None = None) -> Incident:
    scope = ResourceScope(kind=kind, namespace=namespace, name=name)
    key = f"{incident_type}:{kind}/{name}"
    return make_incident(incident_type=incident_type, key=key, resource_scope=scope)


def collect(
    collector: type[KubeCollector], kube: Kube, kind: str, name: str, namespace: str | None = None
) -> Evidence:
    """What ``collector`` finds for an incident of its type on ``kind`` ``name``."""
    [incident_type] = collector.incident_types
    return collector(kube).collect(incident(incident_type, kind, name, namespace))


def by_name(evidence: Evidence) -> dict[str, tuple[str, bool]]:
    return {s.name: (s.strength, s.direct) for s in evidence.signals}


# node_disk_pressure


def scan_job_evicted(minutes_ago: int) -> dict[str, Any]:
    """The kubelet's event for a pod it evicted from worker-1 ``minutes_ago``."""
    return event(
        "image-factory",
        "Evicted",
        "The node was low on resource: ephemeral-storage.",
        involved=("Pod", "scan-job-01"),
        involved_namespace="image-factory",
        host="worker-1",
        last=ago(minutes=minutes_ago),
    )


def test_disk_pressure_scenario_reports_primary_and_secondary_signals(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)

    evidence = collect(DiskPressureCollector, kube, "node", "worker-1")

    signals = by_name(evidence)
    assert signals["disk_pressure_condition"] == ("strong", False)
    assert signals["disk_pressure_taint"] == ("strong", False)
    assert signals["eviction_threshold_met"] == ("strong", True)
    assert signals["free_disk_space_failed"] == ("strong", True)
    assert signals["evicted_pods_burst"][0] == "strong"
    assert signals["completed_pod_backlog"][0] == "weak"
    assert all(s.source == "kubernetes.disk_pressure" for s in evidence.signals)
    assert evidence.facts == {
        "nodes_affected": 1,
        "customer_facing_failures": False,
        "control_plane_node": False,
    }
    assert evidence.exit_criteria_met is False
    assert "k8s://nodes/worker-1" in evidence.refs
    assert any(r.startswith("k8s://events/") for r in evidence.refs)
    assert "k8s://pods/image-factory/scan-job-00" in evidence.refs
    assert "EvictionThresholdMet x4" in evidence.summary
    assert confidence_band(evidence.signals).confidence == Confidence.high
    # the CronJob whose finished pods pile up on the node is named for suspension
    assert evidence.targets == {"suspend_cronjob": (TRIVY,)}
    assert "finished pods left by CronJobs trivy-system/trivy-db-warmup" in evidence.summary


def test_disk_pressure_failing_core_pod_on_pressured_node_is_customer_facing(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.add(
        pod(
            "backend-7f9c8d6b5-qwert",
            "image-factory",
            phase="Failed",
            reason="Evicted",
            labels={"tier": "core"},
            node_name="worker-1",
        )
    )

    evidence = collect(DiskPressureCollector, kube, "node", "worker-1")

    assert evidence.facts["customer_facing_failures"] is True


def test_disk_pressure_core_labels_are_a_parameter(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.add(
        pod(
            "portal-0",
            "image-factory",
            waiting=("CrashLoopBackOff", "back-off restarting failed container"),
            labels={"app.kubernetes.io/part-of": "image-factory"},
            node_name="worker-1",
        )
    )
    scope = incident("node_disk_pressure", "node", "worker-1")

    default = DiskPressureCollector(kube).collect(scope)
    part_of = DiskPressureCollector(
        kube, core_labels={"app.kubernetes.io/part-of": "image-factory"}
    ).collect(scope)

    assert default.facts["customer_facing_failures"] is False
    assert part_of.facts["customer_facing_failures"] is True


def test_disk_pressure_on_two_nodes_counts_both(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(
        node("worker-1", disk_pressure=True, taints=["node.kubernetes.io/disk-pressure"]),
        node("worker-2", disk_pressure=True),
        node("worker-3"),
    )

    evidence = collect(DiskPressureCollector, kube, "cluster", "cluster")

    assert evidence.facts["nodes_affected"] == 2
    assert "DiskPressure=True on worker-1, worker-2" in evidence.summary


def test_disk_pressure_repeated_image_pulls_are_a_weak_signal(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        node("worker-1", disk_pressure=True),
        event(
            "image-factory",
            "Pulling",
            'Pulling image "registry.example/builder:2.1"',
            involved=("Pod", "builder-1"),
            involved_namespace="image-factory",
            host="worker-1",
            kind="Normal",
            count=5,
        ),
    )

    evidence = collect(DiskPressureCollector, kube, "node", "worker-1")

    assert by_name(evidence)["repeated_image_pulls"] == ("weak", False)
    signal = next(s for s in evidence.signals if s.name == "repeated_image_pulls")
    assert "registry.example/builder:2.1 x5" in signal.detail


def test_disk_pressure_exit_criteria_hold_when_clear_and_quiet_for_ten_minutes(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        node("worker-1"),
        eviction_threshold_met("worker-1", last=ago(minutes=25)),
        scan_job_evicted(minutes_ago=11),
    )

    evidence = collect(DiskPressureCollector, kube, "node", "worker-1")

    assert evidence.exit_criteria_met is True
    assert "disk_pressure_condition" not in by_name(evidence)


def test_disk_pressure_exit_criteria_fail_on_a_recent_eviction(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        node("worker-1"),
        scan_job_evicted(minutes_ago=3),
    )

    evidence = collect(DiskPressureCollector, kube, "node", "worker-1")

    assert evidence.exit_criteria_met is False


def test_disk_pressure_finds_the_node_by_address(kube_cluster: KubeCluster, kube: Kube) -> None:
    pressured = node("10-0-10-202", disk_pressure=True)
    pressured["status"]["addresses"] = [{"type": "InternalIP", "address": "10.0.10.202"}]
    kube_cluster.add(pressured, node("worker-2", disk_pressure=True))

    evidence = collect(DiskPressureCollector, kube, "node", "10.0.10.202")

    assert evidence.refs == ("k8s://nodes/10-0-10-202",)
    assert evidence.facts["nodes_affected"] == 2


# node_unreachable_or_notready


def test_unreachable_node_with_core_pods_is_customer_facing(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        node(
            "worker-3",
            ready="Unknown",
            ready_reason="NodeStatusUnknown",
            taints=["node.kubernetes.io/unreachable"],
        ),
        node("worker-1"),
        pod("api-5d9c7b8f6-abcde", "image-factory", labels={"tier": "core"}, node_name="worker-3"),
    )

    evidence = collect(NodeReadinessCollector, kube, "node", "worker-3")

    signals = by_name(evidence)
    assert signals["node_not_ready"] == ("strong", False)
    assert signals["node_unreachable_taint"] == ("strong", False)
    assert evidence.facts == {
        "nodes_affected": 1,
        "customer_facing_failures": True,
        "control_plane_node": False,
    }
    assert evidence.exit_criteria_met is False
    assert evidence.refs == ("k8s://nodes/worker-3",)


def test_kubelet_reporting_not_ready_is_a_direct_signal(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(node("worker-1", ready="False", ready_reason="KubeletNotReady"))

    evidence = collect(NodeReadinessCollector, kube, "node", "worker-1")

    assert by_name(evidence)["node_not_ready"] == ("strong", True)
    assert evidence.facts["customer_facing_failures"] is False


def test_ready_node_meets_the_exit_criteria(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(node("worker-1"))

    evidence = collect(NodeReadinessCollector, kube, "node", "worker-1")

    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True


# registry_pull_failure


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "failed to pull: 429 Too Many Requests - Server message: toomanyrequests: "
            "You have reached your pull rate limit.",
            "registry_rate_limited",
        ),
        ("failed to authorize: 401 Unauthorized", "registry_unauthorized"),
        ('manifest unknown: manifest tagged by "9.9" is not found', "image_manifest_unknown"),
        ("unexpected status from HEAD request: 403 Forbidden", "registry_forbidden"),
        ("context deadline exceeded", None),
    ],
)
def test_pull_errors_are_classified(message: str, expected: str | None) -> None:
    assert classify_pull_error(message) == expected


def test_pull_backoff_is_classified_from_the_kubelet_event(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        pod(
            "dispatcher-6c7d8e9f0-zzzzz",
            "image-factory",
            phase="Pending",
            owner=("ReplicaSet", "dispatcher-6c7d8e9f0"),
            waiting=("ImagePullBackOff", 'Back-off pulling image "docker.io/library/redis:7"'),
            pull_secrets=["regcred"],
            labels={"tier": "core"},
        ),
        pod("other-1", "image-factory", owner=("ReplicaSet", "other-5f6")),
        event(
            "image-factory",
            "Failed",
            'Failed to pull image "docker.io/library/redis:7": toomanyrequests: '
            "You have reached your pull rate limit.",
            involved=("Pod", "dispatcher-6c7d8e9f0-zzzzz"),
            involved_namespace="image-factory",
        ),
    )

    evidence = collect(ImagePullCollector, kube, "deployment", "dispatcher", "image-factory")

    signals = by_name(evidence)
    assert signals["image_pull_error"] == ("strong", True)
    assert signals["registry_rate_limited"] == ("strong", True)
    assert signals["missing_pull_secret"] == ("strong", False)
    assert evidence.facts == {"core_workload": True}
    assert evidence.exit_criteria_met is False
    assert "k8s://pods/image-factory/dispatcher-6c7d8e9f0-zzzzz" in evidence.refs
    assert "k8s://secrets/image-factory/regcred" in evidence.refs
    assert "registry says registry_rate_limited" in evidence.summary


def docs_pod_failing_to_pull(message: str, pull_secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The docs StatefulSet's pod, pending on ``ErrImagePull`` with ``message``."""
    return pod(
        "docs-0",
        "docs",
        phase="Pending",
        owner=("StatefulSet", "docs"),
        waiting=("ErrImagePull", message),
        pull_secrets=pull_secrets,
    )


def test_unauthorized_pull_without_pull_secret(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(docs_pod_failing_to_pull("failed to authorize: 401 Unauthorized"))

    evidence = collect(ImagePullCollector, kube, "statefulset", "docs", "docs")

    signals = by_name(evidence)
    assert signals["registry_unauthorized"] == ("strong", True)
    assert signals["no_pull_secret"] == ("weak", False)
    assert "missing_pull_secret" not in signals
    assert evidence.facts == {"core_workload": False}


def test_existing_pull_secret_is_not_reported_missing(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        secret("regcred", "docs", {".dockerconfigjson": b"{}"}),
        docs_pod_failing_to_pull("manifest unknown", pull_secrets=["regcred"]),
    )

    evidence = collect(ImagePullCollector, kube, "statefulset", "docs", "docs")

    assert "missing_pull_secret" not in by_name(evidence)
    assert "image_manifest_unknown" in by_name(evidence)
    [check] = [r for r in kube_cluster.requests() if r.path.endswith("/secrets/regcred")]
    assert check.accept.startswith("application/json;as=PartialObjectMetadata")


def test_pull_secret_the_responder_may_not_read_is_not_a_failure(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        docs_pod_failing_to_pull("manifest unknown", pull_secrets=["regcred"]),
    )
    kube_cluster.fail("secrets", 403)

    evidence = collect(ImagePullCollector, kube, "statefulset", "docs", "docs")

    assert set(by_name(evidence)) == {"image_pull_error", "image_manifest_unknown"}


def test_no_pull_failure_meets_the_exit_criteria(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(pod("docs-0", "docs", owner=("StatefulSet", "docs")))

    evidence = collect(ImagePullCollector, kube, "statefulset", "docs", "docs")

    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True


# background_job_buildup


def test_job_backlog_in_the_disk_pressure_scenario(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed_disk_pressure(kube_cluster)

    evidence = collect(JobBacklogCollector, kube, "cronjob", "trivy-db-warmup", "trivy-system")

    signals = by_name(evidence)
    assert signals["completed_pod_backlog"] == ("strong", False)
    assert signals["noisy_cronjob"] == ("strong", False)
    assert evidence.facts == {"contributes_to_disk_pressure": True}
    assert evidence.exit_criteria_met is False
    assert "k8s://cronjobs/trivy-system/trivy-db-warmup" in evidence.refs
    assert "40 finished pods (20 Succeeded, 20 Failed)" in evidence.summary
    assert evidence.targets == {"suspend_cronjob": (TRIVY,)}


def test_suspended_cronjob_is_not_noisy_and_small_backlog_meets_exit(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        node("worker-1"),
        cronjob("trivy-db-warmup", "trivy-system", suspend=True),
        cronjob("report", "image-factory", schedule="*/10 * * * *"),
        cronjob("nightly", "image-factory", schedule="0 3 * * *"),
        *(pod(f"job-{i}", "image-factory", phase="Succeeded") for i in range(3)),
    )

    evidence = collect(JobBacklogCollector, kube, "cluster", "cluster")

    signals = by_name(evidence)
    assert "noisy_cronjob" not in signals
    assert signals["frequent_cronjob"] == ("weak", False)
    assert evidence.targets == {}  # frequent is not noisy: nothing to suspend on its own
    assert "completed_pod_backlog" not in signals
    assert evidence.facts == {"contributes_to_disk_pressure": False}
    assert evidence.exit_criteria_met is True


def test_tekton_history_growth(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(
        *(
            pod(
                f"build-{i}-pod",
                "tekton-builds",
                phase="Succeeded",
                labels={"tekton.dev/taskRun": f"build-{i}"},
            )
            for i in range(25)
        )
    )

    evidence = collect(JobBacklogCollector, kube, "cluster", "cluster")

    assert by_name(evidence)["tekton_history_growth"] == ("strong", False)


def tekton_builds(count: int) -> list[dict[str, Any]]:
    """Finished TaskRun pods, labelled as Tekton labels the pods it makes."""
    labels = {"app.kubernetes.io/managed-by": "tekton-pipelines"}
    return [
        pod(
            f"build-{i}-pod",
            "tekton-builds",
            phase="Succeeded",
            labels={"tekton.dev/taskRun": f"build-{i}", **labels},
        )
        for i in range(count)
    ]


def test_the_running_shared_controller_that_made_the_backlog_is_the_pause_target(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    part_of = {"app.kubernetes.io/part-of": "tekton-pipelines"}
    kube_cluster.add(
        deployment("tekton-pipelines-controller", "tekton-pipelines", labels=part_of),
        deployment("workflow-controller", "argo"),  # configured, made none of the pods
        *tekton_builds(25),
    )
    configured = [
        "deployment/tekton-pipelines/tekton-pipelines-controller",
        "deployment/argo/workflow-controller",
        "statefulset/gone/controller",  # configured, not in the cluster
    ]
    collector = JobBacklogCollector(kube, shared_controllers=configured)

    evidence = collector.collect(incident("background_job_buildup", "cluster", "cluster"))

    tekton = Target(
        kind="deployment", namespace="tekton-pipelines", name="tekton-pipelines-controller"
    )
    assert evidence.targets == {"pause_shared_controller": (tekton,)}
    assert evidence.summary.endswith(
        "; made by running shared controllers: "
        "deployment tekton-pipelines/tekton-pipelines-controller (25 pods)"
    )
    # paused already, or the backlog under its threshold: nothing to pause
    kube_cluster.add(
        deployment("tekton-pipelines-controller", "tekton-pipelines", labels=part_of, replicas=0)
    )
    assert collector.collect(incident("background_job_buildup", "cluster", "cluster")).targets == {}
    kube_cluster.add(deployment("tekton-pipelines-controller", "tekton-pipelines", labels=part_of))
    small = JobBacklogCollector(
        kube, shared_controllers=configured, backlog_threshold=30, tekton_threshold=30
    )
    assert small.collect(incident("background_job_buildup", "cluster", "cluster")).targets == {}


@pytest.mark.parametrize(
    ("schedule", "per_hour"),
    [("*/5 * * * *", 12.0), ("* * * * *", 60.0), ("0,30 * * * *", 2.0), ("0 3 * * *", 0.0)],
)
def test_cron_frequency(schedule: str, per_hour: float) -> None:
    assert runs_per_hour(schedule) == per_hour


# failures: a collector reports them, it never raises


def all_collectors(kube: Kube) -> list[tuple[KubeCollector, Incident]]:
    return [
        (DiskPressureCollector(kube), incident("node_disk_pressure", "node", "worker-1")),
        (
            NodeReadinessCollector(kube),
            incident("node_unreachable_or_notready", "node", "worker-1"),
        ),
        (
            ImagePullCollector(kube),
            incident("registry_pull_failure", "deployment", "api", "image-factory"),
        ),
        (JobBacklogCollector(kube), incident("background_job_buildup", "cluster", "cluster")),
    ]


def assert_collector_error(evidence: Evidence, source: str, text: str) -> None:
    assert [(s.name, s.strength, s.source) for s in evidence.signals] == [
        ("collector_error", "weak", source)
    ]
    assert text in evidence.signals[0].detail
    assert evidence.facts == {}
    assert evidence.exit_criteria_met is None


def test_api_answering_500_is_a_collector_error(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.fail("pods", 500)
    kube_cluster.fail("nodes", 500)

    for collector, scope in all_collectors(kube):
        assert_collector_error(collector.collect(scope), collector.name, "500")


def test_api_that_hangs_is_a_collector_error_within_the_timeout(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.hang("nodes")
    kube_cluster.hang("pods")

    for collector, scope in all_collectors(kube):
        started = time.monotonic()
        evidence = collector.collect(scope)
        assert time.monotonic() - started < 2 * kube.timeout.read + 1
        assert_collector_error(evidence, collector.name, "timeout")


# the role of the incident's node (read for the control-plane guard rail)


@pytest.mark.parametrize(
    ("labels", "taint", "control_plane"),
    [
        ({"node-role.kubernetes.io/control-plane": ""}, None, True),
        ({"node-role.kubernetes.io/master": ""}, None, True),
        ({}, "node-role.kubernetes.io/control-plane", True),
        ({"node-role.kubernetes.io/worker": ""}, None, False),
        ({}, None, False),
    ],
)
@pytest.mark.parametrize("collector", [DiskPressureCollector, NodeReadinessCollector])
def test_node_collectors_read_whether_the_incidents_node_is_a_control_plane_node(
    kube_cluster: KubeCluster,
    kube: Kube,
    collector: type[KubeCollector],
    labels: dict[str, str],
    taint: str | None,
    control_plane: bool,
) -> None:
    found = node("node-1", ready="False", disk_pressure=True, labels=labels)
    if taint:
        found["spec"]["taints"].append({"key": taint, "effect": "NoSchedule"})
    kube_cluster.add(found, node("node-2", labels={"node-role.kubernetes.io/control-plane": ""}))

    evidence = collect(collector, kube, "node", "node-1")

    assert evidence.facts["control_plane_node"] is control_plane


def test_the_role_is_not_reported_for_a_node_the_cluster_does_not_know(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    """A control-plane node elsewhere in the cluster says nothing about the
    incident's node; without the node, there is no fact (the last one stays)."""
    kube_cluster.add(
        node("cp-1", disk_pressure=True, labels={"node-role.kubernetes.io/control-plane": ""})
    )

    evidence = collect(DiskPressureCollector, kube, "node", "10.0.10.99")

    assert "control_plane_node" not in evidence.facts
    assert evidence.facts["nodes_affected"] == 1
