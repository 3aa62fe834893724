"""registry_pull_failure end to end: the api Deployment's pods sit in
ImagePullBackOff because Docker Hub answers ``toomanyrequests``. The robot
notifies and asks (image ref, pull secret, Helm reconcile or rollback);
it executes nothing. The story ends when the pods pull again and the
alert has been resolved for the quiet period."""

from __future__ import annotations

from pathlib import Path

from fixtures.kube import (
    KubeCluster,
    deployment,
    event,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    pod,
    secret,
)
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

IMAGE = "docker.io/library/nginx:1.27"
RATE_LIMITED = (
    f'Back-off pulling image "{IMAGE}": toomanyrequests: You have reached your pull rate '
    "limit. You may increase the limit by authenticating and upgrading"
)
PODS = ("api-7d9f8b6c5-abcde", "api-7d9f8b6c5-fghij")
WAITING = {
    "alertname": "KubeContainerWaiting",
    "namespace": "image-factory",
    "pod": PODS[0],
    "container": "main",
    "reason": "ImagePullBackOff",
    "severity": "warning",
}
API = "deployment/image-factory/api"


def api_pod(name: str, pulling: bool) -> dict[str, object]:
    return pod(
        name,
        "image-factory",
        owner=("ReplicaSet", "api-7d9f8b6c5"),
        labels={"app": "api"},
        image=IMAGE,
        pull_secrets=["regcred"],
        waiting=("ImagePullBackOff", RATE_LIMITED) if pulling else None,
    )


def test_rate_limited_pulls_are_notified_and_asked_about_never_acted_on(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kube_cluster.add(
        deployment("api", "image-factory", image=IMAGE, replicas=2, available=0),
        secret("regcred", "image-factory", {".dockerconfigjson": b"{}"}),
        *(api_pod(name, pulling=True) for name in PODS),
        event(
            "image-factory",
            "Failed",
            f'Failed to pull image "{IMAGE}": 429 Too Many Requests - Server message: '
            "toomanyrequests: You have reached your pull rate limit.",
            involved=("Pod", PODS[0]),
            involved_namespace="image-factory",
        ),
    )
    with Story(kube_cluster, tmp_path, environment="demo") as story:
        story.fire(WAITING)

        incident = story.incident()
        assert incident.incident_type == "registry_pull_failure"
        assert incident.resource_scope.key == "deployment/image-factory/api"
        assert incident.confidence == "high"
        names = {s.name for s in incident.signals}
        assert {"image_pull_error", "registry_rate_limited"} <= names
        assert "missing_pull_secret" not in names
        # notified in-app, asked about the narrowest changes (the ladder's first
        # step); the reconcile and the rollback wait for their steps; nothing executed
        assert [a.action for a in incident.executed_actions] == ["notify_operator"]
        assert story.asked() == {("patch_image_ref", API), ("patch_pull_secret", API)}
        held = story.events("approval_held")
        assert any("helm_reconcile" in d for d in held)
        assert any("rollback_release" in d for d in held)
        assert story.decided("rotate_registry_credentials") == {"human_only"}
        assert story.writes() == []
        assert incident.state == IncidentState.triaged
        labels = {"incident_type": "registry_pull_failure", "environment": "demo"}
        assert story.metric("ops_approvals_requested_total", action="patch_image_ref", **labels)

        # the poll a minute later sees the same: still nothing executed
        story.clock.advance(minutes=1)
        story.poll()
        assert story.writes() == []
        assert len(story.approvals()) == 2

        # T+15m: the pulls still fail, nobody patched: the ladder asks for a reconcile
        assert story.next_step(14) == (
            "step 2/3 ask_reconcile: ask_patch did not clear it within 15m"
        )
        assert ("helm_reconcile", API) in story.asked()
        assert story.writes() == []

        # T+30m: still failing: the last step asks for the rollback
        assert story.next_step(15) == (
            "step 3/3 ask_rollback: ask_reconcile did not clear it within 15m"
        )
        # asked about each change, nothing executed
        assert story.asked() == {
            ("patch_image_ref", API),
            ("patch_pull_secret", API),
            ("helm_reconcile", API),
            ("rollback_release", API),
        }
        assert story.writes() == []
        assert story.ran() == []

        # T+35m: the rate-limit window passed, the kubelet pulled the image
        story.clock.advance(minutes=5)
        kube_cluster.add(*(api_pod(name, pulling=False) for name in PODS))
        story.resolve_for_good(WAITING)
        story.assert_guard_rails()
