"""registry_pull_failure end to end: the api Deployment's pods sit in
ImagePullBackOff. The pull error decides what is asked: when Docker Hub
answers ``toomanyrequests`` neither the image nor the credentials are at
fault, so the robot notifies, names the configured mirror and asks nothing;
when the registry has no such tag it asks to patch the image back to the
one that still runs, then to reconcile the Helm release. It executes
nothing. A story ends when the pods pull again and the alert has been
resolved for the quiet period."""

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

from responder.evidence.hypothesis import hypothesis
from responder.policy.targets import candidate_params
from responder.records.lifecycle import IncidentState
from responder.records.target import Target

NAMESPACE = "image-factory"
IMAGE = "docker.io/library/nginx:1.27"
BAD_TAG = "docker.io/library/nginx:1.72"
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


def test_rate_limited_pulls_are_notified_with_the_mirror_and_nothing_is_asked(
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
    remedies = {"registry_mirror": "mirror.gcr.io"}
    with Story(kube_cluster, tmp_path, environment="demo", remedies=remedies) as story:
        story.fire(WAITING)

        incident = story.incident()
        assert incident.incident_type == "registry_pull_failure"
        assert incident.resource_scope.key == "deployment/image-factory/api"
        assert incident.confidence == "high"
        names = {s.name for s in incident.signals}
        assert {"image_pull_error", "registry_rate_limited"} <= names
        assert "missing_pull_secret" not in names
        # notified in-app with the way out; a rate limit is neither the image's
        # nor the credentials' fault: no patch, reconcile or rollback is asked
        assert [a.action for a in incident.executed_actions] == ["notify_operator"]
        assert any(
            "pull rate limit: wait for the limit to reset, or pull through the mirror "
            "mirror.gcr.io" in e
            for e in story.events("evidence")
        )
        assert (hypothesis(incident) or "").startswith("the registry's pull rate limit")
        assert story.asked() == set()
        assert story.decided("rotate_registry_credentials") == {"human_only"}
        assert story.writes() == []
        assert incident.state == IncidentState.triaged

        # T+30m: the ladder climbs its steps; still nothing to ask, nothing executed
        story.next_step(15)
        story.next_step(15)
        assert story.asked() == set()
        assert story.writes() == []
        assert story.ran() == []

        # T+35m: the rate-limit window passed, the kubelet pulled the image
        story.clock.advance(minutes=5)
        kube_cluster.add(*(api_pod(name, pulling=False) for name in PODS))
        story.resolve_for_good(WAITING)
        story.assert_guard_rails()


def test_an_unknown_tag_asks_for_the_image_that_still_runs_then_for_the_release(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    helm = {"meta.helm.sh/release-name": "factory", "meta.helm.sh/release-namespace": NAMESPACE}
    kube_cluster.add(
        deployment("api", NAMESPACE, image=BAD_TAG, replicas=2, available=1, annotations=helm),
        pod(
            "api-5c6d7f8b9-xyzzy",
            NAMESPACE,
            owner=("ReplicaSet", "api-5c6d7f8b9"),
            labels={"app": "api"},
            image=IMAGE,
        ),
        pod(
            PODS[0],
            NAMESPACE,
            owner=("ReplicaSet", "api-7d9f8b6c5"),
            labels={"app": "api"},
            image=BAD_TAG,
            waiting=("ErrImagePull", f"{BAD_TAG}: not found"),
        ),
    )
    with Story(kube_cluster, tmp_path, environment="demo") as story:
        story.fire(WAITING)

        incident = story.incident()
        assert "image_manifest_unknown" in {s.name for s in incident.signals}
        assert (hypothesis(incident) or "").startswith("the image reference is wrong")
        # the first step asks for the image patch, never for the pull secret
        assert story.asked() == {("patch_image_ref", API)}
        assert candidate_params("patch_image_ref", incident, Target.parse(API)) == {
            "container": "main",
            "image": IMAGE,
        }
        assert story.writes() == []

        # T+15m: still failing: the reconcile is asked on the Helm release
        assert story.next_step(15) == (
            "step 2/3 ask_reconcile: ask_patch did not clear it within 15m"
        )
        assert story.asked() == {
            ("patch_image_ref", API),
            ("helm_reconcile", "helmrelease/image-factory/factory"),
        }
        assert story.writes() == []
        story.assert_guard_rails()
