"""Helm release drift read from release secrets in kmock."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from fixtures.incidents import make_incident
from fixtures.kube import (
    KubeCluster,
    deployment,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    secret,
)

from responder.evidence.helm import (
    HelmDriftCollector,
    ReleaseDecodeError,
    decode_release,
    read_releases,
)
from responder.kube import Kube
from responder.records.incident import Incident, ResourceScope

NAMESPACE = "image-factory"
HELM_ANNOTATIONS = {
    "meta.helm.sh/release-name": "image-factory",
    "meta.helm.sh/release-namespace": NAMESPACE,
}


def manifest(image: str = "registry.example/api:2.0", pull_secret: str | None = "regcred") -> str:
    desired = deployment("api", NAMESPACE, image=image, replicas=2)
    if pull_secret:
        desired["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": pull_secret}]
    desired.pop("status")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}}
    return "---\n# Source: app/templates/api.yaml\n" + yaml.safe_dump_all([service, desired])


def drift_incident(labels: dict[str, str] | None = None) -> Incident:
    scope = ResourceScope(kind="deployment", namespace=NAMESPACE, name="api")
    return make_incident(
        incident_type="release_drift_or_partial_apply",
        key="drift",
        resource_scope=scope,
        labels=labels or {},
    )


def live_api(image: str = "registry.example/api:2.0", **options: Any) -> dict[str, Any]:
    return deployment(
        "api",
        NAMESPACE,
        image=image,
        replicas=2,
        pull_secrets=["regcred"],
        annotations=HELM_ANNOTATIONS,
        **options,
    )


def signals(collector: HelmDriftCollector) -> dict[str, str]:
    evidence = collector.collect(drift_incident())
    return {s.name: s.strength for s in evidence.signals}


def test_decode_release_reads_what_helm_writes() -> None:
    stored = helm_release_secret("image-factory", NAMESPACE, 3, status="failed")

    release = decode_release(stored["data"]["release"])

    assert (release["name"], release["version"], release["info"]["status"]) == (
        "image-factory",
        3,
        "failed",
    )


def test_decode_release_accepts_releases_stored_before_compression() -> None:
    helm_text = base64.b64encode(json.dumps({"name": "old", "version": 1}).encode())

    assert decode_release(base64.b64encode(helm_text).decode())["name"] == "old"


def test_decode_release_rejects_garbage() -> None:
    with pytest.raises(ReleaseDecodeError):
        decode_release("not base64!")


def test_read_releases_lists_revisions_oldest_first(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 2, status="deployed"),
        helm_release_secret("image-factory", NAMESPACE, 1, status="superseded"),
        helm_release_secret("other", NAMESPACE, 1),
        secret("regcred", NAMESPACE, {".dockerconfigjson": b"{}"}),
    )

    releases = read_releases(kube, NAMESPACE, "image-factory")

    assert [(r.name, r.revision, r.status) for r in releases] == [
        ("image-factory", 1, "superseded"),
        ("image-factory", 2, "deployed"),
    ]


def test_matching_release_meets_the_exit_criteria(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 4, manifest=manifest()),
        live_api(),
        secret("regcred", NAMESPACE, {".dockerconfigjson": b"{}"}),
    )

    evidence = HelmDriftCollector(kube).collect(drift_incident())

    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True
    assert evidence.facts == {"rollout_blocked": False, "workloads_unhealthy": False}
    assert "k8s://secrets/image-factory/sh.helm.release.v1.image-factory.v4" in evidence.refs


@pytest.mark.parametrize(
    ("status", "signal"),
    [("failed", "helm_release_failed"), ("pending-upgrade", "helm_release_pending")],
)
def test_release_status_is_a_strong_signal(
    kube_cluster: KubeCluster, kube: Kube, status: str, signal: str
) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 5, status=status, manifest=manifest()),
        live_api(),
        secret("regcred", NAMESPACE, {".dockerconfigjson": b"{}"}),
    )

    evidence = HelmDriftCollector(kube).collect(drift_incident())

    assert {s.name: s.strength for s in evidence.signals} == {signal: "strong"}
    assert evidence.exit_criteria_met is False


def test_live_image_differing_from_the_release_is_drift(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 4, manifest=manifest()),
        live_api(image="registry.example/api:1.9-hotfix", available=0),
        secret("regcred", NAMESPACE, {".dockerconfigjson": b"{}"}),
    )

    evidence = HelmDriftCollector(kube).collect(drift_incident())

    drift = next(s for s in evidence.signals if s.name == "image_drift")
    assert drift.strength == "strong"
    assert "live registry.example/api:1.9-hotfix, release registry.example/api:2.0" in drift.detail
    assert evidence.facts == {"rollout_blocked": False, "workloads_unhealthy": True}


def test_missing_image_pull_secrets_are_drift(kube_cluster: KubeCluster, kube: Kube) -> None:
    live = live_api()
    live["spec"]["template"]["spec"].pop("imagePullSecrets")
    kube_cluster.add(helm_release_secret("image-factory", NAMESPACE, 4, manifest=manifest()), live)

    evidence = HelmDriftCollector(kube).collect(drift_incident())

    drift = next(s for s in evidence.signals if s.name == "missing_image_pull_secrets")
    assert "lacks imagePullSecret regcred" in drift.detail


def test_named_pull_secret_that_does_not_exist_is_drift(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 4, manifest=manifest()), live_api()
    )

    assert signals(HelmDriftCollector(kube)) == {"missing_image_pull_secrets": "strong"}


def test_workload_of_the_release_missing_from_the_cluster(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(helm_release_secret("image-factory", NAMESPACE, 4, manifest=manifest()))

    evidence = HelmDriftCollector(kube).collect(
        drift_incident(labels={"helm_release": "image-factory"})
    )

    assert {s.name for s in evidence.signals} == {"release_resource_missing"}


def test_api_failure_is_a_collector_error(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(live_api())
    kube_cluster.fail("secrets", 500)

    evidence = HelmDriftCollector(kube).collect(drift_incident())

    assert [(s.name, s.strength) for s in evidence.signals] == [("collector_error", "weak")]
    assert "500" in evidence.signals[0].detail
    assert evidence.facts == {}
