"""A Kubernetes API that times out or answers 500 in the middle of the
disk-pressure story: the action fails cleanly (recorded on the incident and
in the audit log, counted in ``ops_auto_remediations_failed_total``), the
incident escalates and the operator is told, and the queue worker is back
for the next alert within the action deadline: it never hangs."""

from __future__ import annotations

import time
from pathlib import Path

from fixtures.alerts import evictions, filesystem, pressure
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    seed_disk_pressure,
)
from stories.storyline import Story

from responder.records.lifecycle import IncidentState
from responder.store import IncidentFilter

PRESSURE = pressure("worker-1")
EVICTIONS = evictions("worker-1")
OTHER_NODE = filesystem("worker-2")
LABELS = {"incident_type": "node_disk_pressure", "environment": "demo"}


def escalations(story: Story) -> list[str]:
    return [
        a.detail
        for a in story.incident().executed_actions
        if a.action == "notify_operator" and "escalated" in a.detail
    ]


def test_api_that_never_answers_fails_the_action_within_its_deadline(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.hang("pods", verbs=["delete"])
    with Story(kube_cluster, tmp_path, environment="demo", action_timeout_seconds=1.0) as story:
        started = time.monotonic()
        story.fire(PRESSURE, EVICTIONS)
        assert time.monotonic() - started < 8  # collectors, one 1 s deadline, the rest

        incident = story.incident()
        assert incident.state == IncidentState.escalated
        [cleanup] = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
        assert (cleanup.result, cleanup.detail) == (
            "failed",
            "apply failed: apply timed out after 1s",
        )
        assert any("delete_completed_pods failed" in d for d in story.events("state:escalated"))
        assert escalations(story) == ["in-app: incident escalated"]
        failed = story.metric(
            "ops_auto_remediations_failed_total", action="delete_completed_pods", **LABELS
        )
        assert failed == 1
        assert "action.failed" in [e.action for e in story.runtime.store.list_audit()]
        # the CronJob API answered: that step went through
        assert ("suspend_cronjob", "cronjob/trivy-system/trivy-db-warmup", "succeeded") in (
            story.ran()
        )

        # the worker is free: the next alert is processed at once
        started = time.monotonic()
        story.fire(OTHER_NODE)
        assert time.monotonic() - started < 5
        # two node incidents (two unhealthy nodes also make a node storm incident)
        found = story.runtime.store.list_incidents(IncidentFilter())
        assert len([i for i in found if i.resource_scope.kind == "node"]) == 2
        story.assert_guard_rails()


def test_api_answering_500_fails_the_action_and_escalates(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.fail("cronjobs", 500, verbs=["patch"])
    with Story(kube_cluster, tmp_path, environment="demo") as story:
        story.fire(PRESSURE, EVICTIONS)

        incident = story.incident()
        assert incident.state == IncidentState.escalated
        [suspend] = [a for a in incident.executed_actions if a.action == "suspend_cronjob"]
        assert suspend.result == "failed"
        assert "500" in suspend.detail
        assert suspend.inverse is None  # nothing was changed, so nothing to undo
        assert (
            story.metric("ops_auto_remediations_failed_total", action="suspend_cronjob", **LABELS)
            == 1
        )
        assert not kube_cluster.live("CronJob", "trivy-db-warmup", "trivy-system")["spec"][
            "suspend"
        ]
        assert escalations(story) == ["in-app: incident escalated"]
        # the other step of the round went through
        assert ("delete_completed_pods", "cluster/cluster", "succeeded") in story.ran()
        story.assert_guard_rails()
