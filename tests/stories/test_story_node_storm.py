"""A node storm against kmock: five nodes, three of them in DiskPressure.

The limit for a cluster of five is one node (1 node or 34 %, whichever is
larger), so the three disk-pressure incidents are a storm: no node action
runs (kmock sees no write to a node), the cordon asked while the first node
was alone (once its contain step had its 10 minutes) is superseded when
approved, and one cluster-level incident is escalated and notified once,
naming the three nodes and their incidents."""

from __future__ import annotations

from pathlib import Path

from fixtures.alerts import evictions, pressure
from fixtures.kube import (
    KubeCluster,
    job_pod,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    node,
)
from stories.storyline import Story

from responder.approvals.approvers import Approver
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import IncidentFilter

NODES = ["worker-1", "worker-2", "worker-3", "worker-4", "worker-5"]
PRESSURED = NODES[:3]
BOB = Approver(name="bob", environments=frozenset({"demo"}))
NODE_ACTIONS = {"cordon_node", "drain_node", "reboot_worker", "replace_worker"}


def incidents(story: Story) -> list[Incident]:
    return story.runtime.store.list_incidents(IncidentFilter())


def on_node(story: Story, name: str) -> Incident:
    [found] = [i for i in incidents(story) if i.resource_scope.name == name]
    return found


def test_with_3_of_5_nodes_in_disk_pressure_no_node_action_runs_and_one_cluster_incident_is_escalated(  # noqa: E501
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kube_cluster.add(
        *(
            node(n, disk_pressure=True, taints=["node.kubernetes.io/disk-pressure"])
            for n in PRESSURED
        ),
        *(node(n) for n in NODES[3:]),
        # what worker-1's contain step cleans up (so that it contains, not suppresses)
        job_pod("scan-job-00", "scan-job-00", "image-factory", "Failed", "worker-1"),
    )
    with Story(
        kube_cluster,
        tmp_path,
        environment="demo",
        observation_poll_seconds=60,
        blast_radius={"cluster_nodes": 5},
    ) as story:
        story.fire(pressure("worker-1"), evictions("worker-1"))
        first = on_node(story, "worker-1")
        # one node alone: after the contain step's 10 minutes the ladder asks to cordon it
        story.clock.advance(minutes=10)
        story.poll()
        asked = [
            a
            for a in story.runtime.approval_requests.for_incident(first.id)
            if a.action in NODE_ACTIONS
        ]
        assert [a.action for a in asked] == ["cordon_node"]
        for name in PRESSURED[1:]:
            story.fire(pressure(name), evictions(name))
        story.clock.advance(seconds=61)
        story.poll()

        # the node actions asked for before the storm are superseded when approved
        for request in asked:
            answer = story.runtime.approval_answers.answer(
                request.id, "approve", BOB, "in_app", "bob"
            )
            assert answer.result == "superseded", answer.detail
        # no node action anywhere: refused, and kmock saw no write to a node
        for name in PRESSURED:
            member = on_node(story, name)
            if member.state != IncidentState.suppressed:  # a suppressed one is not decided
                for rec in member.recommended_actions:
                    if rec.action in NODE_ACTIONS and rec.target is not None:
                        assert rec.decision == "off", rec
            assert not [a for a in member.executed_actions if a.action in NODE_ACTIONS]
            assert member.state != IncidentState.escalated
        assert [w for w in story.writes() if "/nodes" in w.path] == []

        # one cluster-level incident, escalated with the three nodes, paged once
        [storm] = [i for i in incidents(story) if i.resource_scope.kind == "cluster"]
        assert storm.correlation_key == "node_storm|cluster|demo"
        assert storm.state == IncidentState.escalated
        assert storm.severity == "critical"
        assert storm.labels["storm_nodes"] == ",".join(PRESSURED)
        # the members: the incidents whose node actions the storm refused (one
        # the policy suppressed before the storm is not decided until it wakes)
        decided = [on_node(story, n) for n in PRESSURED]
        decided = [i for i in decided if i.state != IncidentState.suppressed]
        assert len(decided) >= 2
        assert {i.id for i in decided} <= set(storm.labels["storm_incidents"].split(","))
        [escalated] = [e for e in storm.timeline if e.event == "state:escalated"]
        # escalated when the second node made it a storm; the third joins its timeline
        assert "2 nodes unhealthy" in escalated.detail and "limit is 1" in escalated.detail
        assert [e.detail for e in storm.timeline if e.event == "storm_nodes"] == [
            "more nodes unhealthy: worker-3"
        ]
        assert sum(1 for a in storm.executed_actions if a.action == "notify_operator") == 1
        for member in decided:
            assert any(e.event == "node_storm" and storm.id in e.detail for e in member.timeline)
        story.assert_guard_rails()
