"""Control-plane nodes known from the cluster, not from the alert: a
responder built as ``robot-sre serve`` builds it, against kmock, gets a
disk-pressure alert that carries no node-role label. The Kubernetes evidence
collector reads the Node object; on a node labelled (or tainted) as a
control-plane node every node action is refused and the incident escalates
with the reason; on a worker node the same alerts leave the node actions to
the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures.alerts import evictions, pressure
from fixtures.kube import (
    KubeCluster,
    event,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    node,
    pod,
)
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

NODE_ACTIONS = ("cordon_node", "drain_node", "reboot_worker", "replace_worker")
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def pressured_node(
    name: str, labels: dict[str, str] | None = None, taints: tuple[str, ...] = ()
) -> dict[str, Any]:
    found = node(
        name,
        disk_pressure=True,
        taints=["node.kubernetes.io/disk-pressure"],
        labels=labels or {"kubernetes.io/hostname": name},
    )
    found["spec"]["taints"] += [{"key": key, "effect": "NoSchedule"} for key in taints]
    return found


def seed(cluster: KubeCluster, pressured: dict[str, Any]) -> None:
    name = pressured["metadata"]["name"]
    cluster.add(
        pressured,
        node("worker-9"),
        event(
            "default",
            "EvictionThresholdMet",
            "Attempting to reclaim ephemeral-storage",
            involved=("Node", name),
            host=name,
            count=3,
        ),
    )


@pytest.fixture
def story(kube_cluster: KubeCluster, tmp_path: Path) -> Any:
    made = Story(kube_cluster, tmp_path, environment="demo", observation_poll_seconds=60)
    try:
        yield made
    finally:
        made.close()


def node_decisions(story: Story) -> dict[str, tuple[str, str]]:
    return {
        r.action: (r.decision, r.reason)
        for r in story.incident().recommended_actions
        if r.action in NODE_ACTIONS
    }


@pytest.mark.parametrize(
    ("labels", "taints"),
    [
        ({CONTROL_PLANE: ""}, ()),
        ({"node-role.kubernetes.io/master": ""}, ()),
        ({}, (CONTROL_PLANE,)),  # only the kubeadm taint
    ],
    ids=["control-plane label", "master label", "control-plane taint"],
)
def test_node_actions_on_a_control_plane_node_are_refused_and_the_incident_escalates(
    kube_cluster: KubeCluster, story: Story, labels: dict[str, str], taints: tuple[str, ...]
) -> None:
    seed(kube_cluster, pressured_node("cp-1", {"kubernetes.io/hostname": "cp-1", **labels}, taints))

    story.fire(pressure("cp-1"), evictions("cp-1"))

    incident = story.incident()
    assert all(CONTROL_PLANE not in a.labels for a in incident.alerts.values())
    assert incident.facts["control_plane_node"] is True
    decisions = node_decisions(story)
    assert set(decisions) == set(NODE_ACTIONS)
    for action, (decision, reason) in decisions.items():
        assert decision == "off", (action, decision, reason)
        assert reason == f"{action} refused: cp-1 is a control-plane node"
    assert incident.state == IncidentState.escalated
    assert story.events("state:escalated") == ["cordon_node refused: cp-1 is a control-plane node"]
    # the refusal is on the explain trace, and nobody is asked for a node action
    traced = [d for d in incident.decisions if d["action"] == "reboot_worker"]
    assert {"guard": "control_plane", "decision": "off", "reason": traced[-1]["reason"]} in traced[
        -1
    ]["guards"]
    assert not {a for a, _ in story.asked()} & set(NODE_ACTIONS)
    assert not [w for w in story.writes() if "/nodes/" in w.path]
    story.assert_guard_rails()


def test_the_same_alerts_on_a_worker_node_leave_node_actions_to_the_policy(
    kube_cluster: KubeCluster, story: Story
) -> None:
    seed(
        kube_cluster,
        pressured_node(
            "worker-1",
            {
                "kubernetes.io/hostname": "worker-1",
                "node.kubernetes.io/instance-type": "VM.Standard.E4.Flex",
            },
        ),
    )

    story.fire(pressure("worker-1"), evictions("worker-1"))

    incident = story.incident()
    assert incident.facts["control_plane_node"] is False
    decisions = node_decisions(story)
    assert set(decisions) == set(NODE_ACTIONS)
    for action, (decision, reason) in decisions.items():
        assert decision != "off", (action, reason)
        assert "control-plane" not in reason
    assert incident.state != IncidentState.escalated
    assert story.events("state:escalated") == []
    story.assert_guard_rails()


def test_a_node_that_becomes_control_plane_is_refused_at_the_next_poll(
    kube_cluster: KubeCluster, story: Story
) -> None:
    """The fact follows the Node object: it is read again at every poll."""
    seed(kube_cluster, pressured_node("node-7"))
    # finished pods to clean up: the robot contains the incident and keeps polling it
    kube_cluster.add(
        *(pod(f"job-{i}", "ci", phase="Succeeded", node_name="node-7") for i in range(3))
    )
    story.fire(pressure("node-7"), evictions("node-7"))
    assert story.incident().state == IncidentState.contained
    assert story.incident().facts["control_plane_node"] is False
    assert {d for d, _ in node_decisions(story).values()} != {"off"}

    kube_cluster.add(pressured_node("node-7", {CONTROL_PLANE: ""}))
    story.clock.advance(seconds=61)
    story.poll()

    incident = story.incident()
    assert incident.facts["control_plane_node"] is True
    assert {d for d, _ in node_decisions(story).values()} == {"off"}
    assert incident.state == IncidentState.escalated
