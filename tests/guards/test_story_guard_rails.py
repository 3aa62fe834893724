"""The disk-pressure story under the guard rails, against kmock through
``POST /webhooks/alertmanager`` and the automation API: in shadow mode the
robot records what it would have done and writes nothing to the cluster;
paused, it asks instead of acting; once an operator sets the mode back to
auto and lifts the pause, the next poll contains the incident."""

from __future__ import annotations

from pathlib import Path

from fixtures.alerts import evictions, pressure
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    seed_disk_pressure,
)
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

PRESSURE = pressure("worker-1")
EVICTIONS = evictions("worker-1")
OPERATOR = {"X-Robot-SRE-Actor": "alice@example.org"}


def _mode(story: Story, mode: str) -> None:
    body = {"modes": [{"incident_type": "node_disk_pressure", "environment": "demo", "mode": mode}]}
    answer = story.client.put("/api/v1/automation/modes", json=body, headers=OPERATOR)
    assert answer.status_code == 200, answer.text


def test_shadow_then_pause_then_auto_acts_only_at_the_end(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    seed_disk_pressure(kube_cluster)
    story = Story(kube_cluster, tmp_path, environment="demo", observation_poll_seconds=60)
    try:
        story.runtime.automation.refresh_seconds = 0.0
        _mode(story, "shadow")
        story.fire(PRESSURE, EVICTIONS)
        incident = story.incident()
        assert incident.confidence == "high"
        assert story.writes() == []
        assert story.approvals() == []
        shadows = story.ran("shadow")
        assert ("delete_completed_pods", "cluster/cluster", "shadow") in shadows
        assert ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup", "shadow") in shadows
        assert story.ran("succeeded", "failed", "dry_run") == []
        assert (
            story.metric(
                "ops_shadow_decisions_total",
                incident_type="node_disk_pressure",
                action="suspend_cronjob",
                environment="demo",
                decision="auto",
            )
            == 1.0
        )

        # back to auto, but paused for a change freeze: the robot asks, writes nothing
        pause = story.client.post(
            "/api/v1/automation/pause",
            json={"reason": "change freeze", "duration_seconds": 3600, "environment": "demo"},
            headers=OPERATOR,
        ).json()
        _mode(story, "auto")
        story.clock.advance(seconds=61)
        story.poll()
        assert story.writes() == []
        assert ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup") in story.asked()
        assert (
            story.decisions()[("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup")]
            == "approval"
        )

        # the pause lifted: the next poll contains the incident
        gone = story.client.delete(f"/api/v1/automation/pause/{pause['id']}", headers=OPERATOR)
        assert gone.status_code == 204
        story.clock.advance(seconds=61)
        story.poll()
        assert story.incident().state == IncidentState.contained
        assert ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup", "succeeded") in (
            story.ran()
        )
        assert any(w.method == "PATCH" for w in story.writes())
        story.assert_guard_rails()
    finally:
        story.close()
