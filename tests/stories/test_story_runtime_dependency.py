"""runtime_dependency_outage end to end: the responder's own Redis probe
fails against a local port nobody listens on; in staging, at high
confidence, the robot restarts the (non-shared) dependency through kmock;
a shared one, or any in production, waits for an approval. The story ends
when a real redis-server answers on that port again and the alert has been
resolved for the quiet period."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
)
from fixtures.processes import free_port
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
# patch_config is never asked: no evidence names a ConfigMap of the dependency
ASKED = {("scale_dependency", "deployment/platform/redis-cache"), RECONCILE}
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
    cluster: KubeCluster, tmp: Path, redis: RedisServer, environment: str, shared: bool = False
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
        cluster, tmp, environment=environment, dependencies=[endpoint.model_dump()]
    ) as story:
        story.fire(DOWN)
        yield story


def climb_past_the_restart(story: Story) -> None:
    """The dependency stays down: after the restart step's 10 minutes the
    ladder asks for the scaling, 15 minutes later for the reconcile of the
    Helm release."""
    assert story.next_step(10) == "step 2/3 ask_patch: restart did not clear it within 10m"
    assert ("scale_dependency", "deployment/platform/redis-cache") in story.asked()
    assert RECONCILE not in story.asked()
    assert story.next_step(15) == "step 3/3 ask_reconcile: ask_patch did not clear it within 15m"


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
        # scaling, reconcile: a person decides, once the ladder gets there
        assert story.asked() == set()
        assert {d.split()[0] for d in story.events("approval_held")} == {a for a, _ in ASKED}

        climb_past_the_restart(story)
        assert story.asked() == ASKED
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
        assert story.asked() == ASKED | {RESTART}
        assert story.writes() == []
        assert story.ran() == []

        recover_and_resolve(story, redis_cache)
        assert story.writes() == []
        story.assert_guard_rails()
