"""runtime_dependency_outage end to end: the responder's own Redis probe
fails against a local port nobody listens on; in staging, at high
confidence, the robot restarts the (non-shared) dependency through kmock;
a shared one, or any in production, waits for an approval, and a person's
approval makes exactly that restart (nothing undoes a restart: the prompt
says so). Scaling it needs a replica count and patching its config a
ConfigMap that no evidence names, and the release that manages it is not
stored in the cluster: those are recommended with the reason, never asked.
A story ends when a real redis-server answers on that port again and the
alert has been resolved for the quiet period."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
)
from fixtures.processes import free_port
from stories.approved import (
    approve,
    approved_run,
    approver,  # noqa: F401  (a fixture, registered here)
    runnable_ask,
    write_of,
)
from stories.storyline import RedisServer, Story

from responder.records.lifecycle import IncidentState
from responder.settings import DependencyEndpoint

DOWN = {
    "alertname": "KubeDeploymentReplicasMismatch",
    "namespace": "platform",
    "deployment": "redis-cache",
    "severity": "warning",
}
DEPLOYMENT = "/apis/apps/v1/namespaces/platform/deployments/redis-cache"
RESTART = ("rollout_restart", "deployment/platform/redis-cache")
RECONCILE = ("helm_reconcile", "helmrelease/platform/cache")  # the release managing redis-cache
SCALE = ("scale_dependency", "deployment/platform/redis-cache")
HELM = {"meta.helm.sh/release-name": "cache", "meta.helm.sh/release-namespace": "platform"}


@pytest.fixture
def redis_cache(tmp_path: Path) -> Iterator[RedisServer]:
    """The dependency: down until the story starts it."""
    server = RedisServer(free_port(), tmp_path)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def redis_cache_down(
    cluster: KubeCluster,
    tmp: Path,
    redis: RedisServer,
    environment: str,
    shared: bool = False,
    **settings: Any,
) -> Iterator[Story]:
    """A story in ``environment`` whose redis-cache dependency (``shared`` or
    not) Alertmanager reports down."""
    cluster.add(
        deployment("redis-cache", "platform", image="redis:7.2", replicas=1, annotations=HELM)
    )
    endpoint = DependencyEndpoint(
        name="redis-cache",
        kind="redis",
        url=f"redis://127.0.0.1:{redis.port}/0",
        shared=shared,
        timeout_seconds=0.5,
    )
    with Story(
        cluster, tmp, environment=environment, dependencies=[endpoint.model_dump()], **settings
    ) as story:
        story.fire(DOWN)
        yield story


def climb_past_the_restart(story: Story) -> None:
    """The dependency stays down: the ladder climbs past the restart step
    (10 minutes) and the patch step (15 minutes) to the reconcile step; none
    of their actions can run here, so none is asked."""
    assert story.next_step(10) == "step 2/3 ask_patch: restart did not clear it within 10m"
    assert story.decisions()[SCALE] == "recommend"
    assert story.decided("patch_config") == {"recommend"}
    assert story.next_step(15) == "step 3/3 ask_reconcile: ask_patch did not clear it within 15m"
    assert story.decisions()[RECONCILE] == "recommend"
    assert story.events("approval_not_asked") == [
        "helm_reconcile on helmrelease platform/cache recommended: no Helm release platform/cache"
    ]
    reasons = {r.action: r.reason for r in story.incident().recommended_actions}
    assert reasons["scale_dependency"] == (
        "cannot run here: scale_dependency needs params.replicas and the evidence gives none"
    )
    assert reasons["patch_config"] == (
        "cannot run here: the evidence names no configmap for patch_config; "
        "the incident's scope is a deployment (platform/redis-cache)"
    )


def recover_and_resolve(story: Story, redis: RedisServer) -> None:
    """The dependency answers again; Prometheus resolves the alert; the quiet
    period (5 min) passes and the probe, looked at again, passes."""
    story.clock.advance(minutes=2)
    redis.start()
    story.resolve(DOWN)
    assert story.incident().state == IncidentState.recovering
    story.clock.advance(minutes=4, seconds=59)
    assert story.sweep() == []
    story.clock.advance(seconds=1)
    assert story.sweep() == [story.incident().id]
    incident = story.incident()
    assert incident.state == IncidentState.resolved
    assert story.events("exit_criteria")[-1] == "hold"


def test_staging_restarts_a_non_shared_dependency_at_high_confidence(
    kube_cluster: KubeCluster, tmp_path: Path, redis_cache: RedisServer
) -> None:
    with redis_cache_down(kube_cluster, tmp_path, redis_cache, "staging") as story:
        incident = story.incident()
        assert incident.incident_type == "runtime_dependency_outage"
        assert incident.confidence == "high"  # the alert and the responder's own probe
        [probe] = [s for s in incident.signals if s.source == "probes:redis-cache"]
        assert probe.name == "redis-cache:connection_refused"
        [restart] = story.writes()
        assert (restart.method, restart.path) == ("PATCH", DEPLOYMENT)
        annotations = restart.body["spec"]["template"]["metadata"]["annotations"]
        stamp = story.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert annotations == {"kubectl.kubernetes.io/restartedAt": stamp}
        assert story.ran() == [(*RESTART, "succeeded")]
        assert incident.state == IncidentState.contained
        # the reconcile waits for its step; nothing else could be asked
        assert story.asked() == set()
        assert {d.split()[0] for d in story.events("approval_held")} == {"helm_reconcile"}

        climb_past_the_restart(story)
        assert story.asked() == set()
        # 25 minutes down: past the containment window it escalated, and the
        # restart ran once more when its 15-minute cooldown was over (repeating
        # the robot's own containment leaves the incident escalated)
        assert story.incident().state == IncidentState.escalated
        assert story.ran() == [(*RESTART, "succeeded"), (*RESTART, "succeeded")]

        recover_and_resolve(story, redis_cache)
        # nothing but the two restarts was written
        assert [(w.method, w.path) for w in story.writes()] == [("PATCH", DEPLOYMENT)] * 2
        story.assert_guard_rails()


def test_staging_asks_before_restarting_a_shared_dependency(
    kube_cluster: KubeCluster, tmp_path: Path, redis_cache: RedisServer
) -> None:
    with redis_cache_down(kube_cluster, tmp_path, redis_cache, "staging", shared=True) as story:
        assert story.incident().confidence == "high"
        assert story.writes() == []
        assert story.decisions()[RESTART] == "approval"
        assert RESTART in story.asked()
        story.assert_guard_rails()


def test_production_asks_for_the_restart_and_resolves_without_it(
    kube_cluster: KubeCluster, tmp_path: Path, redis_cache: RedisServer
) -> None:
    with redis_cache_down(kube_cluster, tmp_path, redis_cache, "production") as story:
        incident = story.incident()
        assert incident.confidence == "high"
        assert story.writes() == []
        assert story.ran() == []
        # the ladder's first step asks for the restart; the rest waits for its steps
        assert story.asked() == {RESTART}
        [restart] = [a for a in story.approvals() if a.action == "rollout_restart"]
        assert restart.state == "pending"
        assert incident.state == IncidentState.triaged

        climb_past_the_restart(story)
        assert story.asked() == {RESTART}  # asked again each time the last expired
        assert story.writes() == []
        assert story.ran() == []

        recover_and_resolve(story, redis_cache)
        assert story.writes() == []
        story.assert_guard_rails()


def test_production_a_person_approves_the_restart_the_ladder_asks_first(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    redis_cache: RedisServer,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    with redis_cache_down(kube_cluster, tmp_path, redis_cache, "production", **approver) as story:
        # the ladder's first step, the restart, needs a person in production
        restart = runnable_ask(story, "rollout_restart", undoable=False)
        assert restart.target == {
            "kind": "deployment",
            "namespace": "platform",
            "name": "redis-cache",
        }
        assert restart.params == {}
        stamp = story.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert restart.change == [{"what": "restartedAt", "before": "(none)", "after": stamp}]
        assert restart.undo == (
            "nothing undoes it by itself: None; if pods do not become ready, roll back the release."
        )
        assert story.writes() == []

        # a person approves: kmock sees the restart annotation and nothing else
        writes = approve(story, restart)
        annotations = {"kubectl.kubernetes.io/restartedAt": stamp}
        assert [write_of(w) for w in writes] == [
            (
                "PATCH",
                DEPLOYMENT,
                {"spec": {"template": {"metadata": {"annotations": annotations}}}},
            )
        ]
        template = kube_cluster.live("Deployment", "redis-cache", "platform")["spec"]["template"]
        assert template["metadata"]["annotations"] == annotations
        assert template["spec"]["containers"][0]["image"] == "redis:7.2"
        # a restart replaces the pods; there is nothing to put back
        assert approved_run(story, restart).inverse is None
        assert story.incident().state == IncidentState.contained

        recover_and_resolve(story, redis_cache)
        assert len(story.writes()) == 1
        story.assert_guard_rails(approved=frozenset({"rollout_restart"}))
