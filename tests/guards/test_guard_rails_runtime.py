"""The guard rails in a runtime wired as ``build_runtime`` wires it, acting
through a real runner on an HTTP stub executor_stub (every write that reaches the
executor_stub is counted), with an injected clock: pauses, automation modes, the
blast radius and its storm cooldown, control-plane nodes, one node action
at a time, action windows with the approver's override, blocking alerts.
Node actions are asked when a disk-pressure incident climbs to their
escalation-ladder step (``ladder_holds_asks``, the default): the tests let
the steps' waits pass (``Responder.climb_to``) before answering them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fixtures.alerts import disk, filesystem, pressure
from fixtures.clock import T0  # a Thursday
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import StubServer
from fixtures.polling import eventually
from fixtures.rigs import Responder

from responder.approvals.approvers import Approver
from responder.guards.rails import NODE_ACTION_LOCK
from responder.records.action import ActionRequest
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.store import IncidentFilter, open_store

CONTAIN = frozenset({"delete_completed_pods", "suspend_cronjob", "scale_to_zero"})
NODE = frozenset({"cordon_node", "drain_node", "reboot_worker", "replace_worker"})
BOB = Approver(name="bob", environments=frozenset({"demo"}))


#: disk pressure on 10.0.10.202 as a control-plane node's alert labels it
CONTROL_PLANE_PRESSURE = {
    **pressure("10.0.10.202"),
    "label_node_role_kubernetes_io_control_plane": "",
}
BLOCKER = {"alertname": "KubeAPIErrorBudgetBurn", "severity": "critical", "long": "1h"}
#: node_disk_pressure's ladder: each step and the wait of the step before it
STEP_AFTER = {
    "ask_cordon": ("contain", 600),
    "ask_drain": ("ask_cordon", 600),
    "ask_reboot": ("ask_drain", 600),
}


class Robot(Responder):
    def __init__(self, executor_stub: StubServer, tmp: Path, **settings: Any) -> None:
        super().__init__(
            open_store(f"sqlite:///{tmp}/state.db"),
            executors=[HttpExecutor(executor_stub, CONTAIN | NODE)],
            **{"action_timeout_seconds": 2.0, "observation_poll_seconds": 60, **settings},
        )
        self.executor_stub = executor_stub
        self.automation = self.runtime.automation
        self.automation.refresh_seconds = 0.0  # read the store every time: the test moves fast

    def poll(self) -> None:
        self.clock.advance(61)
        self.runtime.scheduler.poll()

    def climb_to(self, step: str, *nodes: str) -> None:
        """Let the disk-pressure ladder's waits pass while the pressure
        persists, polling as each one ends, until the incidents of ``nodes``
        (opened at the clock's current time) stand on ``step`` and ask for its
        node action."""
        path = [step]
        while path[0] in STEP_AFTER:
            path.insert(0, STEP_AFTER[path[0]][0])
        for before, following in pairwise(path):
            self.clock.advance(STEP_AFTER[following][1])
            self.runtime.scheduler.poll()
            for node in nodes:
                incident = self.incident(node)
                assert incident.ladder is not None
                assert incident.ladder.step_id == following, (node, incident.ladder)
                assert any(
                    e.event == "ladder" and f"{before} did not clear it" in e.detail
                    for e in incident.timeline
                ), node

    def incident(self, node: str = "10.0.10.202") -> Incident:
        found = [
            i
            for i in self.runtime.store.list_incidents(IncidentFilter())
            if i.resource_scope.name == node
        ]
        assert len(found) == 1, found
        return found[0]

    def storms(self) -> list[Incident]:
        """The cluster-level node-storm incidents."""
        return [
            i
            for i in self.runtime.store.list_incidents(IncidentFilter())
            if i.resource_scope.kind == "cluster" and i.correlation_key.startswith("node_storm|")
        ]

    def decision(self, action: str, node: str = "10.0.10.202") -> tuple[str, str]:
        [rec] = [r for r in self.incident(node).recommended_actions if r.action == action]
        return rec.decision, rec.reason

    def asked(self, node: str = "10.0.10.202") -> set[str]:
        return {
            a.action for a in self.runtime.approval_requests.for_incident(self.incident(node).id)
        }

    def ran(self, node: str = "10.0.10.202") -> list[tuple[str, str]]:
        return [
            (a.action, a.result)
            for a in self.incident(node).executed_actions
            if a.action != "notify_operator"
        ]

    def pause(self, **body: Any) -> str:
        made = self.automation.pause(
            {"reason": "change freeze", "duration_seconds": 600, **body}, "alice", "test"
        )
        return made.id

    def set_mode(self, mode: str, incident_type: str = "node_disk_pressure") -> None:
        self.automation.set_modes(
            [{"incident_type": incident_type, "environment": "demo", "mode": mode}],
            self.runtime.taxonomy.incident_types,
            "alice",
            "test",
        )

    def approve(self, action: str, node: str = "10.0.10.202", **options: Any) -> Any:
        [request] = [
            a
            for a in self.runtime.approval_requests.for_incident(self.incident(node).id)
            if a.action == action and a.state == "pending"
        ]
        return self.runtime.approval_answers.answer(
            request.id, "approve", BOB, "in_app", "bob", **options
        )

    def close(self) -> None:
        super().close()
        self.store.close()


@pytest.fixture
def make(executor_stub: StubServer, tmp_path: Path) -> Iterator[Any]:
    made: list[Robot] = []

    def build(**settings: Any) -> Robot:
        responder = Robot(executor_stub, tmp_path, **settings)
        made.append(responder)
        return responder

    yield build
    for responder in made:
        responder.close()


# the baseline: without guard rails in the way the robot contains at once


def test_without_guard_rails_auto_containment_runs(make: Any) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.202"))
    assert ("delete_completed_pods", "succeeded") in robot.ran()
    assert applies(robot.executor_stub) == 1


# pause


def test_while_paused_auto_becomes_approval_and_the_reason_is_on_the_trace(make: Any) -> None:
    robot = make()
    pause_id = robot.pause()
    robot.fire(*disk("10.0.10.202"))
    assert applies(robot.executor_stub) == 0
    decision, reason = robot.decision("delete_completed_pods")
    assert decision == "approval"
    assert pause_id in reason and "change freeze" in reason
    assert "delete_completed_pods" in robot.asked()
    trace = [d for d in robot.incident().decisions if d["action"] == "delete_completed_pods"][-1]
    assert trace["policy_decision"] == "auto"
    assert [g["guard"] for g in trace["guards"]] == ["pause"]
    assert len(trace["layers"]) == 5


def test_a_pause_elsewhere_changes_nothing_here(make: Any) -> None:
    robot = make()
    robot.pause(environment="production")
    robot.pause(incident_type="runtime_dependency_outage")
    robot.pause(namespace="somewhere-else")
    robot.fire(*disk("10.0.10.202"))
    assert ("delete_completed_pods", "succeeded") in robot.ran()


def test_after_resume_the_next_poll_acts(make: Any) -> None:
    robot = make()
    pause_id = robot.pause()
    robot.fire(*disk("10.0.10.202"))
    assert applies(robot.executor_stub) == 0
    assert robot.automation.resume(pause_id, "alice", "test") is not None
    robot.poll()
    assert ("delete_completed_pods", "succeeded") in robot.ran()


def test_a_pause_that_ran_out_holds_nothing(make: Any) -> None:
    robot = make()
    robot.pause(duration_seconds=30)
    robot.clock.advance(31)
    robot.fire(*disk("10.0.10.202"))
    assert ("delete_completed_pods", "succeeded") in robot.ran()


def test_the_pause_effect_may_be_shadow(make: Any) -> None:
    robot = make(pause_effect="shadow")
    robot.pause()
    robot.fire(*disk("10.0.10.202"))
    assert applies(robot.executor_stub) == 0
    assert ("delete_completed_pods", "shadow") in robot.ran()
    [shadow] = [
        a
        for a in robot.incident().executed_actions
        if a.result == "shadow" and a.action == "delete_completed_pods"
    ]
    assert shadow.detail.startswith("would have run delete_completed_pods")
    assert "change freeze" in shadow.detail


# automation modes


def test_shadow_mode_records_what_would_have_run_and_runs_nothing(make: Any) -> None:
    robot = make()
    robot.set_mode("shadow")
    for alert in disk("10.0.10.202"):
        robot.fire(alert)  # one payload each: first at low, then at high confidence
    assert applies(robot.executor_stub) == 0
    assert robot.asked() == set()
    shadows = [a for a in robot.incident().executed_actions if a.result == "shadow"]
    details = {(a.action, a.detail.split(" on ")[0]) for a in shadows}
    # at low confidence (the first alert) the policy would have asked, at high
    # confidence (both alerts) it would have run the containment itself
    assert (
        "delete_completed_pods",
        "would have asked for an approval of delete_completed_pods",
    ) in details
    assert ("delete_completed_pods", "would have run delete_completed_pods") in details
    assert ("cordon_node", "would have asked for an approval of cordon_node") in details
    metric = robot.runtime.metrics.registry.get_sample_value(
        "ops_shadow_decisions_total",
        {
            "incident_type": "node_disk_pressure",
            "action": "delete_completed_pods",
            "environment": "demo",
            "decision": "auto",
        },
    )
    assert metric == 1.0
    # the next poll, inside the action's cooldown, records nothing new
    robot.poll()
    again = [a for a in robot.incident().executed_actions if a.result == "shadow"]
    assert len(again) == len(shadows)
    assert robot.incident().state == IncidentState.triaged


def test_approval_mode_asks_even_for_auto_decisions(make: Any) -> None:
    robot = make()
    robot.set_mode("approval")
    robot.fire(*disk("10.0.10.202"))
    assert applies(robot.executor_stub) == 0
    assert robot.decision("delete_completed_pods")[0] == "approval"
    assert "delete_completed_pods" in robot.asked()


def test_off_mode_neither_acts_nor_asks_but_still_notifies(make: Any) -> None:
    robot = make()
    robot.set_mode("off")
    robot.fire(*disk("10.0.10.202"))
    assert applies(robot.executor_stub) == 0
    assert robot.asked() == set()
    assert robot.decision("delete_completed_pods")[0] == "off"
    assert robot.decision("notify_operator")[0] == "auto"
    assert any(a.action == "notify_operator" for a in robot.incident().executed_actions)


def test_a_mode_of_another_type_changes_nothing_here(make: Any) -> None:
    robot = make()
    robot.set_mode("off", incident_type="runtime_dependency_outage")
    robot.fire(*disk("10.0.10.202"))
    assert ("delete_completed_pods", "succeeded") in robot.ran()


# blast radius


def test_a_node_action_beyond_the_blast_radius_is_refused_and_the_storm_escalates(
    make: Any,
) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.201"))
    assert "cordon_node" not in robot.asked("10.0.10.201")  # held for its ladder step
    robot.climb_to("ask_cordon", "10.0.10.201")
    assert "cordon_node" in robot.asked("10.0.10.201")  # one node: the policy asks
    assert robot.storms() == []
    robot.fire(*disk("10.0.10.202"))
    [storm] = robot.storms()
    decision, reason = robot.decision("cordon_node", "10.0.10.202")
    assert decision == "off"
    assert "2 nodes unhealthy" in reason and "limit is 1" in reason
    assert f"part of node storm {storm.id}" in reason
    assert "cordon_node" not in robot.asked("10.0.10.202")
    # the node incident is part of the storm, not escalated on its own
    second = robot.incident("10.0.10.202")
    assert second.state != IncidentState.escalated
    assert [e.detail for e in second.timeline if e.event == "node_storm"] == [
        f"part of node storm {storm.id}"
    ]
    # the storm: one cluster-level incident, critical, escalated with the nodes and the limit
    assert storm.correlation_key == "node_storm|cluster|demo"
    assert storm.incident_type == "node_disk_pressure"
    assert storm.severity == "critical"
    assert storm.state == IncidentState.escalated
    [escalated] = [e for e in storm.timeline if e.event == "state:escalated"]
    assert "10.0.10.201, 10.0.10.202" in escalated.detail and "limit is 1" in escalated.detail
    assert storm.labels["storm_nodes"] == "10.0.10.201,10.0.10.202"
    assert storm.labels["storm_incidents"] == second.id
    # the approval asked on the first node no longer carries: re-decided, superseded
    answer = robot.approve("cordon_node", "10.0.10.201")
    assert answer.result == "superseded"
    assert applies(robot.executor_stub) == 1  # only the first incident's containment ran
    first = robot.incident("10.0.10.201")
    assert first.state != IncidentState.escalated
    [storm] = robot.storms()
    assert storm.labels["storm_incidents"] == f"{second.id},{first.id}"
    members = [e.detail for e in storm.timeline if e.event == "storm_member"]
    assert [m.split(":")[0] for m in members] == [second.id, first.id]


def test_with_3_of_5_nodes_in_disk_pressure_no_node_action_runs_and_one_cluster_incident_is_escalated(  # noqa: E501
    make: Any,
) -> None:
    robot = make(blast_radius={"cluster_nodes": 5}, quiet_period_seconds={"*": 60})
    nodes = ["10.0.10.201", "10.0.10.202", "10.0.10.203"]
    robot.fire(*disk(nodes[0]))
    robot.climb_to("ask_cordon", nodes[0])  # the first node alone: the policy asks to cordon
    assert "cordon_node" in robot.asked(nodes[0])
    for node in nodes[1:]:
        robot.fire(*disk(node))
    robot.poll()  # every incident decided again, now that all three are known
    for node in nodes:
        for action in ("cordon_node", "drain_node", "reboot_worker", "replace_worker"):
            decided = [r for r in robot.incident(node).recommended_actions if r.action == action]
            assert all(r.decision == "off" for r in decided), (node, decided)
    # the approval asked while the first node was alone is superseded when answered
    assert robot.approve("cordon_node", "10.0.10.201").result == "superseded"
    ran_on_nodes = [
        (node, a.action, a.result)
        for node in nodes
        for a in robot.incident(node).executed_actions
        if a.action in NODE
    ]
    assert ran_on_nodes == []
    assert (
        robot.executor_stub.seen(
            "POST", r"/apply/(cordon_node|drain_node|reboot_worker|replace_worker)/.*"
        )
        == []
    )
    [storm] = robot.storms()
    assert storm.state == IncidentState.escalated
    assert storm.resource_scope.kind == "cluster"
    assert storm.labels["storm_nodes"] == ",".join(nodes)
    assert set(storm.labels["storm_incidents"].split(",")) == {robot.incident(n).id for n in nodes}
    assert all(robot.incident(n).state != IncidentState.escalated for n in nodes)
    # paged once: one notification of the storm, audited open and escalated
    assert [a.detail for a in storm.executed_actions if a.action == "notify_operator"] == [
        "in-app: incident opened"
    ]
    audited = [e.action for e in robot.runtime.store.list_audit(subject=f"incident:{storm.id}")]
    assert sorted(audited) == ["incident.escalated", "incident.open"]
    # the storm calms down: two nodes recover, the storm recovers and resolves
    for node in nodes[1:]:
        robot.resolve(*disk(node))
    robot.poll()
    [storm] = robot.storms()
    assert storm.state == IncidentState.recovering
    robot.clock.advance(61)
    robot.runtime.scheduler.sweep()
    [storm] = robot.storms()
    assert storm.state == IncidentState.resolved
    assert [a.detail for a in storm.executed_actions if a.action == "notify_operator"] == [
        "in-app: incident opened"
    ]


def test_the_breach_opens_a_storm_cooldown_that_holds_automatic_actions(make: Any) -> None:
    robot = make(blast_radius={"storm_cooldown_seconds": 600})
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    # the second incident's containment waits (the breach was seen at its decision)
    assert robot.decision("delete_completed_pods", "10.0.10.202")[0] == "approval"
    assert "storm cooldown" in robot.decision("delete_completed_pods", "10.0.10.202")[1]
    # the breach ends; the storm holds until its cooldown has passed
    robot.resolve(*disk("10.0.10.201"))
    robot.clock.advance(300)
    robot.poll()
    assert robot.decision("delete_completed_pods", "10.0.10.202")[0] == "approval"
    robot.clock.advance(300)
    robot.poll()
    assert robot.decision("delete_completed_pods", "10.0.10.202")[0] == "auto"


def test_a_percentage_of_a_known_cluster_size_may_allow_more_nodes(make: Any) -> None:
    robot = make(blast_radius={"cluster_nodes": 6})  # 34 % of 6 = 2 nodes
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    assert robot.decision("cordon_node", "10.0.10.202")[0] == "approval"
    robot.fire(*disk("10.0.10.203"))
    assert robot.decision("cordon_node", "10.0.10.203")[0] == "off"


def test_a_control_plane_node_is_never_acted_on(make: Any) -> None:
    robot = make()
    robot.fire(CONTROL_PLANE_PRESSURE, filesystem("10.0.10.202"))
    decision, reason = robot.decision("cordon_node")
    assert decision == "off"
    assert "control-plane" in reason
    assert "cordon_node" not in robot.asked()
    assert robot.incident().state == IncidentState.escalated


def test_at_most_one_node_action_is_in_flight_cluster_wide(make: Any) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.202"))
    runner = robot.runtime.runner
    assert runner is not None
    incident = robot.incident()
    # another replica's node action holds the lock
    assert robot.runtime.store.set_if_absent(f"lock:{NODE_ACTION_LOCK}", "elsewhere", 30)
    request = ActionRequest(
        action="cordon_node", target=Target(kind="node", name="10.0.10.202"), incident_id="x"
    )
    before = applies(robot.executor_stub)
    run = runner.run(incident, request, "auto")
    assert run.executed is None
    assert "another node action is in flight" in run.note
    assert applies(robot.executor_stub) == before
    robot.runtime.store.delete_key(f"lock:{NODE_ACTION_LOCK}")
    run = runner.run(incident, request, "auto")
    assert run.executed is not None and run.executed.result == "succeeded"


# action windows


def test_outside_the_windows_an_approval_needs_the_override(make: Any) -> None:
    window = {"days": ["sat", "sun"], "start": time(2, 0), "end": time(4, 0), "timezone": "UTC"}
    robot = make(action_windows=[window])
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_cordon", "10.0.10.202")
    assert "cordon_node" in robot.asked()
    refused = robot.approve("cordon_node")
    assert refused.result == "outside_window"
    assert refused.status == 409
    assert "override_window" in refused.detail
    assert "cordon_node" in robot.asked()  # still pending
    applied = applies(robot.executor_stub)
    answer = robot.approve("cordon_node", override_window=True)
    assert answer.result == "executed", answer.detail
    assert applies(robot.executor_stub) == applied + 1
    assert any("overriding the action windows" in e.detail for e in robot.incident().timeline)


def test_inside_the_windows_an_approval_runs_without_override(make: Any) -> None:
    window = {"days": ["thu"], "start": time(7, 0), "end": time(9, 0), "timezone": "UTC"}
    robot = make(action_windows=[window])
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_cordon", "10.0.10.202")  # 08:10
    assert robot.approve("cordon_node").result == "executed"


def test_windows_hold_no_contain_action(make: Any) -> None:
    window = {"days": ["sat"], "start": time(2, 0), "end": time(4, 0), "timezone": "UTC"}
    robot = make(action_windows=[window])
    robot.fire(*disk("10.0.10.202"))
    assert ("delete_completed_pods", "succeeded") in robot.ran()


# blocking alerts


def test_a_firing_blocking_alert_makes_automatic_actions_wait(make: Any) -> None:
    robot = make(blocking_alerts=[{"alertname": "KubeAPIErrorBudgetBurn"}])
    robot.fire(BLOCKER)
    robot.fire(*disk("10.0.10.202"))
    decision, reason = robot.decision("delete_completed_pods")
    assert decision == "approval"
    assert "KubeAPIErrorBudgetBurn" in reason
    assert applies(robot.executor_stub) == 0
    robot.resolve(BLOCKER)
    robot.poll()
    assert ("delete_completed_pods", "succeeded") in robot.ran()


def test_disk_pressure_and_notready_nodes_make_one_storm_of_the_breaching_type(
    make: Any,
) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.201"))
    notready = {"alertname": "KubeNodeNotReady", "node": "10.0.10.202", "severity": "warning"}
    robot.fire(notready)
    robot.poll()
    [storm] = robot.storms()
    # the NotReady node's decision saw the breach first: the storm has its type
    assert storm.incident_type == "node_unreachable_or_notready"
    assert storm.labels["storm_types"] == "node_disk_pressure,node_unreachable_or_notready"
    assert storm.labels["storm_nodes"] == "10.0.10.201,10.0.10.202"
    assert robot.incident("10.0.10.202").incident_type == "node_unreachable_or_notready"
    assert robot.incident("10.0.10.202").id in storm.labels["storm_incidents"]


def test_a_storm_that_broke_out_again_pages_again(make: Any) -> None:
    robot = make(quiet_period_seconds={"*": 600})
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    robot.resolve(*disk("10.0.10.202"))
    robot.poll()
    [storm] = robot.storms()
    assert storm.state == IncidentState.recovering
    robot.fire(*disk("10.0.10.203"))
    [storm] = robot.storms()
    assert storm.state == IncidentState.escalated
    pages = [a.detail for a in storm.executed_actions if a.action == "notify_operator"]
    assert pages == ["in-app: incident opened", "in-app: incident escalated"]


def test_a_breach_found_on_a_poll_pages_once_through_the_storm(make: Any) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.201"))
    first = robot.incident("10.0.10.201")
    assert first.state == IncidentState.contained
    notified = sum(1 for a in first.executed_actions if a.action == "notify_operator")
    robot.fire(*disk("10.0.10.202"))
    robot.poll()
    robot.poll()
    [storm] = robot.storms()
    first = robot.incident("10.0.10.201")
    # the member is not escalated nor paged again: the storm is
    assert first.state == IncidentState.contained
    assert sum(1 for a in first.executed_actions if a.action == "notify_operator") == notified
    assert any(e.detail == f"part of node storm {storm.id}" for e in first.timeline)
    assert sum(1 for a in storm.executed_actions if a.action == "notify_operator") == 1
    audited = robot.runtime.store.list_audit(subject=f"incident:{storm.id}")
    assert any(e.action == "incident.escalated" and "blast-radius" in e.detail for e in audited)
    assert not any(
        e.action == "incident.escalated"
        for e in robot.runtime.store.list_audit(subject=f"incident:{first.id}")
    )


def test_a_control_plane_refusal_inside_a_storm_still_escalates_its_incident(make: Any) -> None:
    robot = make()
    robot.fire(*disk("10.0.10.201"))
    robot.fire(CONTROL_PLANE_PRESSURE, filesystem("10.0.10.202"))
    [storm] = robot.storms()
    control = robot.incident("10.0.10.202")
    assert control.state == IncidentState.escalated
    assert "control-plane" in robot.decision("cordon_node", "10.0.10.202")[1]
    assert storm.state == IncidentState.escalated


# one node action at a time: an approved one waits for the one in flight


def test_a_second_reboot_approval_waits_while_the_first_node_action_is_in_flight(
    make: Any,
) -> None:
    # 34 % of 6 nodes: two nodes may be remediated; the first reboot is slow
    settings = {"blast_radius": {"cluster_nodes": 6}, "action_timeout_seconds": 30.0}
    robot = make(**settings)
    replica = make(**settings)  # a second replica sharing the store
    released = robot.executor_stub.hold("POST", r"/apply/reboot_worker/node/10.0.10.201")
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_reboot", "10.0.10.201", "10.0.10.202")
    replica.clock.now = robot.clock.now
    assert {"reboot_worker"} <= robot.asked("10.0.10.201") & robot.asked("10.0.10.202")
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(robot.approve("reboot_worker", "10.0.10.201"))
    )
    first.start()
    try:
        eventually(
            lambda: robot.executor_stub.seen("POST", r"/apply/reboot_worker/.*") or None,
            10,
            "the first reboot in flight",
        )
        second = robot.approve("reboot_worker", "10.0.10.202")
        assert second.result == "waiting", second.detail
        assert second.status == 202
        assert "reboot_worker on 10.0.10.201" in second.detail
        waiting = robot.runtime.approval_requests.get(second.approval.id)
        assert waiting is not None and waiting.state == "approved"
        assert any(e.event == "approval_waiting" for e in robot.incident("10.0.10.202").timeline)
        # while the first is in flight, neither replica's rounds start the second
        robot.runtime.worker.drain_once()
        replica.runtime.worker.drain_once()
        assert len(robot.executor_stub.seen("POST", r"/apply/reboot_worker/.*")) == 1
    finally:
        released.set()
        first.join(30)
    assert answers and answers[0].result == "executed", answers
    # the lock is free: both replicas' next rounds race; the reboot runs once
    rounds = [
        threading.Thread(target=robot.runtime.worker.drain_once),
        threading.Thread(target=replica.runtime.worker.drain_once),
    ]
    for round_ in rounds:
        round_.start()
    for round_ in rounds:
        round_.join(30)
    robot.runtime.worker.drain_once()
    replica.runtime.worker.drain_once()
    assert len(robot.executor_stub.seen("POST", r"/apply/reboot_worker/node/10.0.10.202")) == 1
    done = robot.runtime.approval_requests.get(second.approval.id)
    assert done is not None and done.state == "executed"
    assert done.decided_by == "bob"
    assert ("reboot_worker", "succeeded") in robot.ran("10.0.10.202")
    assert robot.runtime.approval_requests.waiting() == []


def test_a_reboot_outside_the_window_is_refused_and_inside_it_runs(make: Any) -> None:
    # the reboot is asked at 08:30 (the injected clock starts Thursday 08:00 UTC,
    # the ladder asks to reboot after 10m contain, 10m ask_cordon and 10m
    # ask_drain); the window opens five minutes later
    window = {"days": ["thu"], "start": time(8, 35), "end": time(9, 10), "timezone": "UTC"}
    robot = make(action_windows=[window])
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_reboot", "10.0.10.202")
    reboots = r"/apply/reboot_worker/node/10.0.10.202"
    refused = robot.approve("reboot_worker")
    assert (refused.result, refused.status) == ("outside_window", 409)
    assert robot.executor_stub.seen("POST", reboots) == []
    assert "reboot_worker" in robot.asked()  # still pending
    robot.clock.advance(6 * 60)  # 08:36, inside the window
    answer = robot.approve("reboot_worker")
    assert answer.result == "executed", answer.detail
    assert len(robot.executor_stub.seen("POST", reboots)) == 1
    assert ("reboot_worker", "succeeded") in robot.ran()


def _reboot_in_flight(robot: Any) -> tuple[threading.Event, threading.Thread, Any]:
    """Approve the reboot of 10.0.10.201 (held by the executor_stub) and, while it
    is in flight, the reboot of 10.0.10.202: the second one waits."""
    released = robot.executor_stub.hold("POST", r"/apply/reboot_worker/node/10.0.10.201")
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_reboot", "10.0.10.201", "10.0.10.202")
    first = threading.Thread(target=lambda: robot.approve("reboot_worker", "10.0.10.201"))
    first.start()
    eventually(
        lambda: robot.executor_stub.seen("POST", r"/apply/reboot_worker/.*") or None,
        10,
        "the first reboot in flight",
    )
    second = robot.approve("reboot_worker", "10.0.10.202")
    assert second.result == "waiting", second.detail
    return released, first, second


def test_a_waiting_reboot_whose_incident_recovered_is_withdrawn(make: Any) -> None:
    robot = make(blast_radius={"cluster_nodes": 6}, action_timeout_seconds=30.0)
    released, first, second = _reboot_in_flight(robot)
    try:
        robot.resolve(*disk("10.0.10.202"))  # the node recovers while it waits
    finally:
        released.set()
        first.join(30)
    [ended] = robot.runtime.approval_answers.run_waiting()
    assert ended.result == "superseded"
    assert "recovering" in ended.detail
    assert robot.executor_stub.seen("POST", r"/apply/reboot_worker/node/10.0.10.202") == []
    withdrawn = robot.runtime.approval_requests.get(second.approval.id)
    assert withdrawn is not None and withdrawn.state == "superseded"
    assert withdrawn.decided_by == "bob"  # who approved it is kept
    assert any(e.event == "approval_superseded" for e in robot.incident("10.0.10.202").timeline)
    assert robot.runtime.approval_requests.waiting() == []


@pytest.mark.parametrize("override", [False, True])
def test_a_waiting_reboot_keeps_to_the_action_windows_unless_its_approver_overrode(
    make: Any, override: bool
) -> None:
    # Thursday 08:00-08:40 and 09:00-10:00: approved inside the first window,
    # the reboot waits past its end behind the first node action
    windows = [
        {"days": ["thu"], "start": time(8, 0), "end": time(8, 40), "timezone": "UTC"},
        {"days": ["thu"], "start": time(9, 0), "end": time(10, 0), "timezone": "UTC"},
    ]
    robot = make(
        blast_radius={"cluster_nodes": 6},
        action_timeout_seconds=30.0,
        action_windows=windows,
        approval_expiry_per_action={"reboot_worker": 7200},
    )
    released = robot.executor_stub.hold("POST", r"/apply/reboot_worker/node/10.0.10.201")
    robot.fire(*disk("10.0.10.201"))
    robot.fire(*disk("10.0.10.202"))
    robot.climb_to("ask_reboot", "10.0.10.201", "10.0.10.202")
    assert robot.clock() < T0 + timedelta(minutes=40)  # inside the first window
    first = threading.Thread(target=lambda: robot.approve("reboot_worker", "10.0.10.201"))
    first.start()
    try:
        eventually(
            lambda: robot.executor_stub.seen("POST", r"/apply/reboot_worker/.*") or None,
            10,
            "the first reboot in flight",
        )
        second = robot.approve("reboot_worker", "10.0.10.202", override_window=override)
        assert second.result == "waiting", second.detail
        robot.clock.now = T0 + timedelta(minutes=45)  # between the windows
    finally:
        released.set()
        first.join(30)
    reboots = r"/apply/reboot_worker/node/10.0.10.202"
    if override:
        [ended] = robot.runtime.approval_answers.run_waiting()
        assert ended.result == "executed", ended.detail
        assert len(robot.executor_stub.seen("POST", reboots)) == 1
        return
    assert robot.runtime.approval_answers.run_waiting() == []  # the window closed: it keeps waiting
    assert robot.executor_stub.seen("POST", reboots) == []
    assert [a.id for a, _ in robot.runtime.approval_requests.waiting()] == [second.approval.id]
    robot.clock.now = T0 + timedelta(hours=1, minutes=1)  # the next window
    [ended] = robot.runtime.approval_answers.run_waiting()
    assert ended.result == "executed", ended.detail
    assert len(robot.executor_stub.seen("POST", reboots)) == 1
    assert robot.runtime.approval_requests.waiting() == []


def test_a_reboot_that_waits_past_its_expiry_lapses_unrun(make: Any) -> None:
    robot = make(blast_radius={"cluster_nodes": 6}, action_timeout_seconds=30.0)
    released, first, second = _reboot_in_flight(robot)
    try:
        robot.clock.advance(11 * 60)  # the approval expires after 10 min
        assert robot.runtime.approval_answers.run_waiting() == []  # still in flight: nothing ends
    finally:
        released.set()
        first.join(30)
    [ended] = robot.runtime.approval_answers.run_waiting()
    assert ended.result == "expired"
    assert robot.executor_stub.seen("POST", r"/apply/reboot_worker/node/10.0.10.202") == []
    lapsed = robot.runtime.approval_requests.get(second.approval.id)
    assert lapsed is not None and lapsed.state == "expired"
