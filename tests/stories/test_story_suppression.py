"""suppress_incident in a story: a node in DiskPressure with nothing left
for the robot to clean (no finished pods, no noisy CronJob). The round
contains nothing, so the robot marks the incident suppressed for its
cooldown (15 min): no polls, no decisions meanwhile. The poll after the
window lifts it and decides again; a person may lift it early through the
recorded inverse, with an approval. The story ends in resolution."""

from __future__ import annotations

from pathlib import Path

from fixtures.alerts import pressure
from fixtures.kube import (
    KubeCluster,
    event,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    node,
)
from stories.storyline import Story

from responder.records.action import ActionRequest
from responder.records.incident import RecommendedAction
from responder.records.lifecycle import IncidentState
from responder.records.target import Target

PRESSURE = pressure("worker-1")


def test_nothing_to_contain_suppresses_for_the_cooldown_then_looks_again(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kube_cluster.add(
        node("worker-1", disk_pressure=True, taints=["node.kubernetes.io/disk-pressure"]),
        event(
            "default",
            "EvictionThresholdMet",
            "Attempting to reclaim ephemeral-storage",
            involved=("Node", "worker-1"),
            host="worker-1",
        ),
    )
    with Story(kube_cluster, tmp_path, environment="demo") as story:
        # T+0: high confidence, but the cleanup finds nothing: the incident is suppressed
        story.fire(PRESSURE)
        incident = story.incident()
        assert incident.confidence == "high"
        assert incident.state == IncidentState.suppressed
        me = f"incident/{incident.id}"
        assert story.ran() == [
            ("delete_completed_pods", "cluster/cluster", "skipped"),
            ("suppress_incident", me, "succeeded"),
        ]
        [suppressed] = [a for a in incident.executed_actions if a.action == "suppress_incident"]
        assert suppressed.detail.endswith("(900s)")
        assert suppressed.inverse == {
            "action": "unsuppress_incident",
            "target": {"kind": "incident", "namespace": "", "name": incident.id},
            "params": {},
        }
        assert story.events("state:suppressed") == ["suppress_incident: quiet for 900s"]

        # T+5m: suppressed incidents are not polled: the cluster is not even read
        story.clock.advance(minutes=5)
        seen = len(kube_cluster.requests())
        assert story.poll() == []
        assert len(kube_cluster.requests()) == seen

        # T+15m: the window has passed: the poll lifts it, looks and decides again
        story.clock.advance(minutes=10)
        assert story.poll() == [incident.id]
        again = story.incident()
        assert story.events("state:triaged")[-1] == "suppression window ended"
        assert again.state == IncidentState.suppressed  # still nothing to contain
        assert len(story.events("state:suppressed")) == 2

        # a person lifts it early: the recorded inverse, approved, run by the runner
        runtime = story.runtime
        target = {"kind": "incident", "namespace": "", "name": incident.id}
        asked = runtime.approval_requests.request(
            again,
            RecommendedAction(
                action="unsuppress_incident",
                action_class="recover",
                decision="approval",
                reason="an operator wants the incident back",
                target=target,
            ),
            "the operator is on it",
            story.clock.now,
        )
        assert asked is not None
        runtime.approval_requests.grant(asked.id, "alice")
        request = ActionRequest("unsuppress_incident", Target.parse(me), incident.id)
        run = runtime.runner.run(again, request, "approval", approval_id=asked.id, actor="alice")
        assert run.executed is not None and run.executed.result == "succeeded"
        assert story.incident().state == IncidentState.triaged

        # the node recovers; the alert resolves; 10 minutes later it is resolved
        kube_cluster.add(node("worker-1"))
        story.resolve(PRESSURE)
        story.clock.advance(minutes=10)
        assert story.sweep() == [incident.id]
        assert story.incident().state == IncidentState.resolved
        assert story.writes() == []
        story.assert_guard_rails()
