"""Escalation ladders followed by incidents (issue 10, item 6): a disk-pressure
incident enters its contain step when it opens, climbs to "ask to cordon"
after 10 minutes of persisting pressure, moves on when a step is denied or
fails, escalates from its last step, stops climbing once the problem clears,
and shows the ladder in the API. The responder is built as ``build_runtime``
wires it, against a hand-moved clock and a real store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fixtures.alerts import DISK, FILESYSTEM
from fixtures.clock import T0
from fixtures.executors import HttpExecutor
from fixtures.http_stub import Answer, StubServer
from fixtures.rigs import Responder

from responder.evidence.collector import Evidence
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import Store

UNKNOWN = {"alertname": "KubeCPUOvercommit", "severity": "warning"}
NODE = "node//10.0.10.202"
LADDER_ACTIONS = {"cordon_node", "drain_node", "reboot_worker", "replace_worker"}


@dataclass
class ExitCriteria:
    """A disk-pressure collector whose verdict on the exit criteria the test sets."""

    met: bool | None = None
    name: str = "exit-criteria"
    incident_types: frozenset[str] = field(
        default_factory=lambda: frozenset({"node_disk_pressure"})
    )

    def collect(self, incident: Incident) -> Evidence:
        return Evidence(exit_criteria_met=self.met)


def make(
    store: Store, executor_stub: StubServer, *collectors: ExitCriteria, **settings: Any
) -> Responder:
    executor = HttpExecutor(executor_stub, frozenset({"delete_completed_pods", *LADDER_ACTIONS}))
    return Responder(store, executors=[executor], collectors=collectors, **settings)


def disk_pressure(
    store: Store, executor_stub: StubServer, *collectors: ExitCriteria, **settings: Any
) -> Responder:
    """A responder told of a high-confidence disk-pressure incident on 10.0.10.202."""
    rig = make(store, executor_stub, *collectors, **settings)
    rig.fire(DISK, FILESYSTEM)
    return rig


def poll_at(rig: Responder, minutes: float) -> Incident:
    """Move the clock to T0 + ``minutes`` and run the observation poll."""
    rig.clock.now = T0 + timedelta(minutes=minutes)
    rig.runtime.scheduler.poll()
    return rig.only()


def assert_on_step(incident: Incident, step_id: str, since_minute: int) -> None:
    assert incident.ladder is not None
    assert (incident.ladder.step_id, incident.ladder.entered_at) == (
        step_id,
        T0.replace(minute=since_minute),
    )


def ladder_events(incident: Incident) -> list[str]:
    return [e.detail for e in incident.timeline if e.event == "ladder"]


def asked(rig: Responder, incident: Incident, action: str) -> list[ApprovalRequest]:
    return [
        a for a in rig.runtime.approval_requests.for_incident(incident.id) if a.action == action
    ]


def notified(incident: Incident) -> list[str]:
    return [a.detail for a in incident.executed_actions if a.action == "notify_operator"]


# entering and climbing


def test_an_opened_incident_stands_on_its_first_step(
    store: Store, executor_stub: StubServer
) -> None:
    rig = disk_pressure(store, executor_stub)
    incident = rig.only()
    assert incident.state == IncidentState.contained
    assert incident.ladder is not None
    assert (incident.ladder.step, incident.ladder.step_id) == (0, "contain")
    assert incident.ladder.entered_at == T0
    assert ladder_events(incident) == ["step 1/5 contain: opened (waits 10m)"]


def test_contain_step_that_does_not_clear_it_in_10m_asks_to_cordon(
    store: Store, executor_stub: StubServer
) -> None:
    rig = disk_pressure(store, executor_stub, ladder_holds_asks=True)
    opened = rig.only()
    assert asked(rig, opened, "cordon_node") == []  # held until its step
    assert poll_at(rig, 9).ladder.step_id == "contain"  # type: ignore[union-attr]

    incident = poll_at(rig, 10)
    assert_on_step(incident, "ask_cordon", since_minute=10)
    assert ladder_events(incident)[-1] == "step 2/5 ask_cordon: contain did not clear it within 10m"
    assert incident.state == IncidentState.contained  # climbing is not escalating
    [cordon] = asked(rig, incident, "cordon_node")
    assert (cordon.state, cordon.target["name"]) == ("pending", "10.0.10.202")
    assert "escalation ladder step 2 ask_cordon" in cordon.why_now
    assert notified(incident)[-1] == (
        "in-app: incident climbed its escalation ladder: step 2/5 ask_cordon: contain did "
        "not clear it within 10m; now: Cordon node"
    )
    # the later steps still wait
    assert asked(rig, incident, "reboot_worker") == []
    assert asked(rig, incident, "replace_worker") == []


def test_escalation_window_setting_is_the_first_steps_wait(
    store: Store, executor_stub: StubServer
) -> None:
    rig = disk_pressure(store, executor_stub, escalation_window_seconds=120)
    assert ladder_events(rig.only()) == ["step 1/5 contain: opened (waits 2m)"]
    assert poll_at(rig, 1).ladder.step_id == "contain"  # type: ignore[union-attr]
    incident = poll_at(rig, 2)
    assert ladder_events(incident)[-1] == "step 2/5 ask_cordon: contain did not clear it within 2m"


def test_a_denied_step_moves_on_to_the_next(store: Store, executor_stub: StubServer) -> None:
    rig = disk_pressure(store, executor_stub, ladder_holds_asks=True)
    incident = poll_at(rig, 10)
    [cordon] = asked(rig, incident, "cordon_node")
    rig.runtime.approval_requests.deny(cordon.id, "alice", "not this node")

    incident = poll_at(rig, 11)
    assert incident.ladder is not None
    assert incident.ladder.step_id == "ask_drain"
    assert ladder_events(incident)[-1] == (
        f"step 3/5 ask_drain: ask_cordon failed (cordon_node on {NODE} denied)"
    )
    [drain] = asked(rig, incident, "drain_node")
    assert drain.state == "pending"
    assert "Drain node" in notified(incident)[-1]


def test_a_failed_contain_step_climbs_at_once_and_notifies_once(
    store: Store, executor_stub: StubServer
) -> None:
    executor_stub.fail("POST", r"/apply/.*", Answer(500, {}))
    rig = disk_pressure(store, executor_stub, ladder_holds_asks=True)
    incident = rig.only()
    assert incident.state == IncidentState.escalated
    assert incident.ladder is not None
    assert incident.ladder.step_id == "ask_cordon"
    assert ladder_events(incident)[-1] == (
        "step 2/5 ask_cordon: contain failed (delete_completed_pods on cluster//cluster failed)"
    )
    # opened (both alerts of the payload in one turn), escalated: the climb adds
    # no third message
    assert len(notified(incident)) == 2
    assert notified(incident)[-1] == "in-app: incident escalated"
    # the step entered asks for its approval in the same round
    [cordon] = asked(rig, incident, "cordon_node")
    assert cordon.state == "pending"


def test_the_last_step_escalates_the_incident(store: Store, executor_stub: StubServer) -> None:
    rig = make(store, executor_stub)
    rig.fire(DISK)  # one alert: low confidence, nothing runs, the incident stays triaged
    assert rig.only().state == IncidentState.triaged
    steps = [(10, "ask_cordon"), (20, "ask_drain"), (30, "ask_reboot"), (50, "ask_replace")]
    for minutes, step_id in steps:
        incident = poll_at(rig, minutes)
        assert incident.ladder is not None and incident.ladder.step_id == step_id
        assert incident.state == IncidentState.triaged
    assert poll_at(rig, 79).state == IncidentState.triaged

    incident = poll_at(rig, 80)
    assert incident.state == IncidentState.escalated
    assert incident.ladder is not None
    assert incident.ladder.escalated_at == rig.clock.now
    detail = "step 5/5 ask_replace: ask_replace did not clear it within 30m; escalated"
    assert ladder_events(incident)[-1] == detail
    assert [e.detail for e in incident.timeline if e.event == "state:escalated"] == [detail]
    assert notified(incident)[-1] == "in-app: incident escalated"
    audited = [e for e in rig.runtime.store.list_audit() if e.action == "incident.escalated"]
    assert [e.detail for e in audited] == [detail]

    # the climb is over: later polls add nothing
    before = len(ladder_events(incident))
    assert len(ladder_events(poll_at(rig, 200))) == before


def test_an_incident_of_an_unknown_type_notifies_then_escalates(
    store: Store, executor_stub: StubServer
) -> None:
    rig = make(store, executor_stub)
    rig.fire(UNKNOWN)
    assert ladder_events(rig.only()) == ["step 1/1 notify: opened (waits 15m)"]
    assert poll_at(rig, 14).state == IncidentState.triaged
    incident = poll_at(rig, 15)
    assert incident.state == IncidentState.escalated
    assert ladder_events(incident)[-1] == (
        "step 1/1 notify: notify did not clear it within 15m; escalated"
    )


# not climbing


def test_a_problem_whose_exit_criteria_hold_does_not_climb(
    store: Store, executor_stub: StubServer
) -> None:
    verdict = ExitCriteria()
    rig = disk_pressure(store, executor_stub, verdict)
    verdict.met = True
    incident = poll_at(rig, 11)
    assert incident.ladder is not None and incident.ladder.step_id == "contain"
    # the pressure is back: the step's wait has long passed, so it climbs
    verdict.met = False
    incident = poll_at(rig, 12)
    assert incident.ladder is not None and incident.ladder.step_id == "ask_cordon"


def test_a_resolved_incident_stops_climbing(store: Store, executor_stub: StubServer) -> None:
    rig = disk_pressure(store, executor_stub)
    rig.clock.advance(60)
    rig.resolve(DISK, FILESYSTEM)
    assert rig.only().state == IncidentState.recovering
    assert rig.runtime.scheduler.poll() == []  # a recovering incident is not polled
    rig.clock.advance(11 * 60)
    assert rig.runtime.scheduler.sweep() == [rig.only().id]
    incident = poll_at(rig, 60)
    assert incident.state == IncidentState.resolved
    assert incident.ladder is not None and incident.ladder.step_id == "contain"
    assert ladder_events(incident) == ["step 1/5 contain: opened (waits 10m)"]


# holding the asks back, or not


def test_without_holding_every_ask_comes_at_once_and_the_ladder_still_climbs(
    store: Store, executor_stub: StubServer
) -> None:
    rig = make(store, executor_stub, ladder_holds_asks=False)  # the default is True
    rig.fire(DISK, FILESYSTEM)
    incident = rig.only()
    for action in LADDER_ACTIONS:
        [request] = asked(rig, incident, action)
        assert request.state == "pending"
    assert not any(e.event == "approval_held" for e in incident.timeline)
    # the cordon request expired unanswered at T+10m: entering its step asks again
    incident = poll_at(rig, 10)
    assert incident.ladder is not None and incident.ladder.step_id == "ask_cordon"
    now = rig.clock.now
    assert [a.state_at(now) for a in asked(rig, incident, "cordon_node")] == [
        "expired",
        "pending",
    ]


def test_holding_asks_back_asks_no_node_action_before_its_step(
    store: Store, executor_stub: StubServer
) -> None:
    rig = disk_pressure(store, executor_stub, ladder_holds_asks=True)
    incident = rig.only()
    # drain sits after cordon: nothing of the node is asked while containment has its time
    for action in LADDER_ACTIONS:
        assert asked(rig, incident, action) == []
    held = {e.detail for e in incident.timeline if e.event == "approval_held"}
    assert held == {f"{a} waits for its ladder step" for a in LADDER_ACTIONS}
    incident = poll_at(rig, 10)
    assert [a.action for a in rig.runtime.approval_requests.for_incident(incident.id)] == [
        "cordon_node"
    ]


# stored incidents and the API


def test_a_stored_incident_without_a_ladder_loads_and_joins_it(
    store: Store, executor_stub: StubServer
) -> None:
    rig = disk_pressure(store, executor_stub)
    record = rig.only().model_dump(mode="json")
    del record["ladder"]
    old = Incident.model_validate(record)
    assert old.ladder is None
    rig.runtime.store.save_incident(old)
    assert rig.only().ladder is None

    incident = poll_at(rig, 5)
    assert_on_step(incident, "contain", since_minute=5)
    assert ladder_events(incident)[-1] == "step 1/5 contain: joined its ladder (waits 10m)"


def test_the_api_shows_the_ladder(store: Store, executor_stub: StubServer) -> None:
    rig = disk_pressure(store, executor_stub)
    poll_at(rig, 10)
    client = rig.client  # no lifespan: no workers
    incident_id = rig.only().id
    body = client.get(f"/api/v1/incidents/{incident_id}").json()
    ladder = body["ladder"]
    assert (ladder["step"], ladder["step_id"]) == (1, "ask_cordon")
    assert ladder["entered_at"] == "2026-11-26T08:10:00+00:00"
    assert ladder["wait_ends_at"] == "2026-11-26T08:20:00+00:00"
    assert ladder["escalated_at"] is None
    assert [s["id"] for s in ladder["steps"]] == [
        "contain",
        "ask_cordon",
        "ask_drain",
        "ask_reboot",
        "ask_replace",
    ]
    assert ladder["steps"][0] == {
        "id": "contain",
        "actions": ["delete_completed_pods", "suspend_cronjob", "scale_to_zero"],
        "wait_seconds": 600,
        "on_failure": "next",
    }
    [listed] = client.get("/api/v1/incidents").json()["incidents"]
    assert listed["ladder"] == ladder
