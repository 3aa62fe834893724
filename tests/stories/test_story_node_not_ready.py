"""node_unreachable_or_notready end to end: worker-1's kubelet went silent
(Ready=Unknown, the unreachable taint) and Alertmanager reports it. The
ladder observes for 5 minutes, then asks to cordon the node; a person
approves through the inbox, kmock sees exactly the cordon, and the
recorded inverse uncordons it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    node,
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

from responder.records.lifecycle import IncidentState

NOT_READY = {"alertname": "KubeNodeNotReady", "node": "worker-1", "severity": "warning"}
NODE = "/api/v1/nodes/worker-1"


def test_a_person_approves_the_cordon_the_ladder_asks_and_undoes_it(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    kube_cluster.add(
        node(
            "worker-1",
            ready="Unknown",
            ready_reason="NodeStatusUnknown",
            taints=["node.kubernetes.io/unreachable"],
        ),
        node("worker-2"),
    )
    with Story(kube_cluster, tmp_path, environment="demo", **approver) as story:
        story.fire(NOT_READY)

        incident = story.incident()
        assert (incident.incident_type, incident.resource_scope.key) == (
            "node_unreachable_or_notready",
            "node//worker-1",
        )
        assert incident.confidence == "high"
        # the observe step first: the node often comes back by itself
        assert story.events("ladder") == ["step 1/5 observe: opened (waits 5m)"]
        assert story.asked() == set()
        assert {d.split()[0] for d in story.events("approval_held")} == {
            "cordon_node",
            "drain_node",
        }
        # no executor reboots or replaces a worker here: recommended, never asked
        assert story.decided("reboot_worker") == {"recommend"}
        assert story.decided("replace_worker") == {"recommend"}

        # T+5m: still NotReady: the ladder asks to cordon the node
        assert story.next_step(5) == "step 2/5 ask_cordon: observe did not clear it within 5m"
        assert story.asked() == {("cordon_node", "node/worker-1")}
        cordon = runnable_ask(story, "cordon_node")
        assert cordon.target == {"kind": "node", "namespace": "", "name": "worker-1"}
        assert cordon.params == {}
        assert cordon.change == [{"what": "unschedulable", "before": "false", "after": "true"}]
        assert cordon.undo == "uncordon node worker-1"
        assert story.writes() == []

        # a person approves: kmock sees the cordon and nothing else
        writes = approve(story, cordon)
        assert [write_of(w) for w in writes] == [("PATCH", NODE, {"spec": {"unschedulable": True}})]
        assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is True
        ran = approved_run(story, cordon)
        assert ran.inverse == {
            "action": "uncordon_node",
            "target": {"kind": "node", "namespace": "", "name": "worker-1"},
            "params": {},
        }
        assert story.incident().state == IncidentState.contained

        # the node came back; the person undoes the cordon: schedulable again
        _, undone = undo(story, ran)
        assert [write_of(w) for w in undone] == [
            ("PATCH", NODE, {"spec": {"unschedulable": False}})
        ]
        assert kube_cluster.live("Node", "worker-1")["spec"]["unschedulable"] is False
        assert len(story.writes()) == 2
        story.assert_guard_rails(approved=frozenset({"cordon_node"}))
