"""registry_pull_failure end to end: the api Deployment's pods sit in
ImagePullBackOff. The pull error decides what is asked: when Docker Hub
answers ``toomanyrequests`` neither the image nor the credentials are at
fault, so the robot notifies, names the configured mirror and asks nothing;
when the registry has no such tag it asks to patch the image back to the
one that still runs (a Helm release that does not exist is not asked to
reconcile); when it refuses the credentials it asks to attach the registry
credential Secret the pods do not name. The robot executes nothing on its
own; a person approves the ladder's first step, kmock sees exactly that
patch, and the recorded inverse undoes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.kube import (
    KubeCluster,
    deployment,
    event,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    pod,
    secret,
)
from stories.approved import (
    approve,
    approved_run,
    approver,  # noqa: F401  (a fixture, registered here)
    runnable_ask,
    undo,
    write_of,
)
from stories.storyline import Story

from responder.evidence.hypothesis import hypothesis
from responder.policy.targets import candidate_params
from responder.records.lifecycle import IncidentState
from responder.records.target import Target

NAMESPACE = "image-factory"
IMAGE = "docker.io/library/nginx:1.27"
DOCKER_CONFIG = "kubernetes.io/dockerconfigjson"
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
DEPLOYMENT = "/apis/apps/v1/namespaces/image-factory/deployments/api"
UNAUTHORIZED = (
    f'Failed to pull image "{IMAGE}": failed to authorize: 401 Unauthorized: '
    "unauthorized: authentication required"
)


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


def seed_unknown_tag(cluster: KubeCluster) -> None:
    """api (of the Helm release factory, whose storage is not in the
    cluster) rolled out a tag the registry does not know; a pod of the
    previous ReplicaSet still runs the old image Ready."""
    helm = {"meta.helm.sh/release-name": "factory", "meta.helm.sh/release-namespace": NAMESPACE}
    cluster.add(
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


def test_an_unknown_tag_asks_for_the_image_that_still_runs_and_recommends_the_release(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    seed_unknown_tag(kube_cluster)
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

        # T+15m: still failing: the ladder's reconcile step names the Helm
        # release, but no such release is stored in the cluster: it cannot run,
        # so it is recommended with the reason instead of asked
        assert story.next_step(15) == (
            "step 2/3 ask_reconcile: ask_patch did not clear it within 15m"
        )
        assert story.asked() == {("patch_image_ref", API)}
        assert story.decisions()[("helm_reconcile", "helmrelease/image-factory/factory")] == (
            "recommend"
        )
        assert story.events("approval_not_asked") == [
            "helm_reconcile on helmrelease image-factory/factory recommended: "
            "no Helm release image-factory/factory"
        ]
        assert story.writes() == []
        story.assert_guard_rails()


def test_a_person_approves_the_image_patch_back_to_the_image_that_runs_and_undoes_it(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    seed_unknown_tag(kube_cluster)
    with Story(kube_cluster, tmp_path, environment="demo", **approver) as story:
        story.fire(WAITING)
        # the ladder's first step: the image patch, on the Deployment, with the
        # container and the image its Ready pod still runs
        patch = runnable_ask(story, "patch_image_ref")
        assert patch.target == {"kind": "deployment", "namespace": NAMESPACE, "name": "api"}
        assert patch.params == {"container": "main", "image": IMAGE}
        assert patch.change == [
            {"what": "image of container main", "before": BAD_TAG, "after": IMAGE}
        ]
        assert patch.undo == (
            f"patch image reference deployment image-factory/api (container=main, image={BAD_TAG})"
        )
        assert story.writes() == []

        # a person approves: one JSON patch of the container's image, tested first
        writes = approve(story, patch)
        path = "/spec/template/spec/containers/0"
        assert [write_of(w) for w in writes] == [
            (
                "PATCH",
                DEPLOYMENT,
                [
                    {"op": "test", "path": f"{path}/name", "value": "main"},
                    {"op": "test", "path": f"{path}/image", "value": BAD_TAG},
                    {"op": "replace", "path": f"{path}/image", "value": IMAGE},
                ],
            )
        ]
        assert template_images(kube_cluster) == {"main": IMAGE}
        ran = approved_run(story, patch)
        assert ran.inverse == {
            "action": "patch_image_ref",
            "target": patch.target,
            "params": {"container": "main", "image": BAD_TAG},
        }

        # the person undoes it: the Deployment names the tag it named before
        _, undone = undo(story, ran)
        assert [write_of(w) for w in undone] == [
            (
                "PATCH",
                DEPLOYMENT,
                [
                    {"op": "test", "path": f"{path}/name", "value": "main"},
                    {"op": "test", "path": f"{path}/image", "value": IMAGE},
                    {"op": "replace", "path": f"{path}/image", "value": BAD_TAG},
                ],
            )
        ]
        assert template_images(kube_cluster) == {"main": BAD_TAG}
        assert len(story.writes()) == 2
        story.assert_guard_rails(approved=frozenset({"patch_image_ref"}))


def test_refused_credentials_a_person_approves_attaching_the_pull_secret_and_undoes_it(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    # the registry refuses regcred; regcred-2026, a registry credential, is not attached
    kube_cluster.add(
        deployment(
            "api", NAMESPACE, image=IMAGE, replicas=2, available=0, pull_secrets=["regcred"]
        ),
        secret("regcred", NAMESPACE, {".dockerconfigjson": b"{}"}, type_=DOCKER_CONFIG),
        secret("regcred-2026", NAMESPACE, {".dockerconfigjson": b"{}"}, type_=DOCKER_CONFIG),
        *(
            pod(
                name,
                NAMESPACE,
                owner=("ReplicaSet", "api-7d9f8b6c5"),
                labels={"app": "api"},
                image=IMAGE,
                pull_secrets=["regcred"],
                waiting=("ErrImagePull", UNAUTHORIZED),
            )
            for name in PODS
        ),
    )
    with Story(kube_cluster, tmp_path, environment="demo", **approver) as story:
        story.fire(WAITING)
        incident = story.incident()
        assert "registry_unauthorized" in {s.name for s in incident.signals}
        assert (hypothesis(incident) or "").startswith("the pull credentials")
        # the first step asks for the pull secret, never for the image
        assert story.asked() == {("patch_pull_secret", API)}
        attach = runnable_ask(story, "patch_pull_secret")
        assert attach.target == {"kind": "deployment", "namespace": NAMESPACE, "name": "api"}
        assert attach.params == {"secret": "regcred-2026"}
        assert attach.change == [
            {"what": "imagePullSecrets", "before": "regcred", "after": "regcred, regcred-2026"}
        ]
        assert story.writes() == []

        # a person approves: one merge patch of the pod template's pull secrets
        writes = approve(story, attach)
        pulls_with = [{"name": "regcred"}, {"name": "regcred-2026"}]
        assert [write_of(w) for w in writes] == [
            (
                "PATCH",
                DEPLOYMENT,
                {"spec": {"template": {"spec": {"imagePullSecrets": pulls_with}}}},
            )
        ]
        assert template_pull_secrets(kube_cluster) == ["regcred", "regcred-2026"]
        ran = approved_run(story, attach)
        assert ran.inverse == {
            "action": "patch_pull_secret",
            "target": attach.target,
            "params": {"secret": "regcred-2026", "remove": True},
        }

        # the person undoes it: the pods pull with regcred alone again
        _, undone = undo(story, ran)
        assert [write_of(w) for w in undone] == [
            (
                "PATCH",
                DEPLOYMENT,
                {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "regcred"}]}}}},
            )
        ]
        assert template_pull_secrets(kube_cluster) == ["regcred"]
        assert len(story.writes()) == 2
        story.assert_guard_rails(approved=frozenset({"patch_pull_secret"}))


def template_images(cluster: KubeCluster) -> dict[str, str]:
    spec = cluster.live("Deployment", "api", NAMESPACE)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec["containers"]}


def template_pull_secrets(cluster: KubeCluster) -> list[str]:
    spec = cluster.live("Deployment", "api", NAMESPACE)["spec"]["template"]["spec"]
    return [s["name"] for s in spec.get("imagePullSecrets") or []]
