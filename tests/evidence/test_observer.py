"""The observer: collectors' evidence merged into incidents, repeated checks
raising confidence (spec section 8), the observation poll of open incidents,
exit criteria, and escalation when a contained problem persists."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures.alerts import DISK, FILESYSTEM, payload
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import StubServer
from fixtures.processes import free_port
from fixtures.rigs import Responder

from responder.evidence.collector import Collector, Evidence
from responder.records.incident import Incident, Signal
from responder.records.lifecycle import IncidentState
from responder.runtime import Runtime
from responder.settings import DependencyEndpoint, Settings
from responder.store import IncidentFilter, Store, held_lock

# an info-severity alert is a weak signal on its own
REDIS_DOWN = {
    "alertname": "KubeDeploymentReplicasMismatch",
    "namespace": "platform",
    "deployment": "redis-cache",
    "severity": "info",
}


@dataclass
class Scripted:
    """A collector whose answers the test sets (a data source, like a cluster)."""

    name: str = "scripted"
    incident_types: frozenset[str] = frozenset({"runtime_dependency_outage"})
    answer: Evidence = field(default_factory=Evidence)
    raises: Exception | None = None
    hang: threading.Event | None = None
    calls: int = 0

    def collect(self, incident: Incident) -> Evidence:
        self.calls += 1
        if self.hang is not None:
            self.hang.wait(30)
        if self.raises is not None:
            raise self.raises
        return self.answer


def strong(name: str, **extra: Any) -> Signal:
    return Signal(name=name, strength="strong", source="scripted", **extra)


def fire(runtime: Runtime, *alerts: Mapping[str, str]) -> None:
    runtime.pipeline.process(payload(*alerts))


def only(runtime: Runtime) -> Incident:
    [found] = runtime.store.list_incidents(IncidentFilter())
    return found


def clock_of(runtime: Runtime) -> Clock:
    found = runtime.pipeline.clock
    assert isinstance(found, Clock)
    return found


def make(
    store: Store, executor_stub: StubServer, *collectors: Collector, **settings: object
) -> Runtime:
    values: dict[str, object] = {"dry_run": False, "action_timeout_seconds": 1.0}
    values.update(settings)
    return Responder(
        store,
        settings=Settings.model_validate(values),
        executors=[
            HttpExecutor(executor_stub, frozenset({"rollout_restart", "delete_completed_pods"}))
        ],
        collectors=collectors,
    ).runtime


def observed(
    store: Store, executor_stub: StubServer, *collectors: Collector, **settings: object
) -> Runtime:
    """A runtime with ``collectors`` that has opened an incident for ``REDIS_DOWN``."""
    runtime = make(store, executor_stub, *collectors, **settings)
    fire(runtime, REDIS_DOWN)
    return runtime


def poll_after(runtime: Runtime, seconds: float) -> list[str]:
    """Move the clock on by ``seconds`` and run the observation poll."""
    clock_of(runtime).advance(seconds)
    return runtime.scheduler.poll()


# merging and confidence


def test_signal_seen_in_two_checks_raises_confidence_to_high(
    store: Store, executor_stub: StubServer
) -> None:
    collector = Scripted(answer=Evidence(signals=(strong("probe_failed"),)))
    runtime = observed(store, executor_stub, collector)
    assert only(runtime).confidence == "medium"  # one strong + one weak
    assert poll_after(runtime, 60) == [only(runtime).id]
    incident = only(runtime)
    [signal] = [s for s in incident.signals if s.name == "probe_failed"]
    assert signal.checks == 2
    assert incident.confidence == "high"


def test_alert_signals_never_count_checks(store: Store, executor_stub: StubServer) -> None:
    runtime = observed(store, executor_stub, Scripted())
    for _ in range(3):
        poll_after(runtime, 60)
    [alert] = only(runtime).signals
    assert (alert.source, alert.checks) == ("alertmanager", 1)


def test_signal_no_longer_reported_drops_out(store: Store, executor_stub: StubServer) -> None:
    collector = Scripted(answer=Evidence(signals=(strong("probe_failed"),)))
    runtime = observed(store, executor_stub, collector)
    collector.answer = Evidence()
    poll_after(runtime, 60)
    incident = only(runtime)
    assert [s.name for s in incident.signals] == ["KubeDeploymentReplicasMismatch"]
    assert incident.confidence == "low"


def test_facts_and_refs_of_a_collector_reach_the_incident(
    store: Store, executor_stub: StubServer
) -> None:
    collector = Scripted(
        answer=Evidence(facts={"core_workload": True}, refs=("probe:redis:cache",))
    )
    runtime = observed(store, executor_stub, collector)
    incident = only(runtime)
    assert incident.facts["core_workload"] is True
    assert "probe:redis:cache" in incident.raw_evidence_refs
    assert "collector:scripted" in incident.signal_sources
    assert incident.severity == "critical"  # "a core dependency is down"


def test_collector_that_raises_is_a_weak_collector_error(
    store: Store, executor_stub: StubServer
) -> None:
    runtime = observed(store, executor_stub, Scripted(raises=RuntimeError("API exploded")))
    [error] = [s for s in only(runtime).signals if s.name == "collector_error"]
    assert (error.strength, error.source) == ("weak", "scripted")
    assert "API exploded" in error.detail


def test_collector_that_hangs_is_abandoned_at_its_deadline(
    store: Store, executor_stub: StubServer
) -> None:
    stuck = threading.Event()
    runtime = make(store, executor_stub, Scripted(hang=stuck), collector_timeout_seconds=0.3)
    try:
        fire(runtime, REDIS_DOWN)
    finally:
        stuck.set()
    [error] = [s for s in only(runtime).signals if s.name == "collector_error"]
    assert "no answer within 0.3s" in error.detail


def test_exit_criteria_are_recorded_when_they_change(
    store: Store, executor_stub: StubServer
) -> None:
    collector = Scripted(answer=Evidence(exit_criteria_met=False))
    runtime = observed(store, executor_stub, collector)
    for met in (False, True, True):
        collector.answer = Evidence(exit_criteria_met=met)
        poll_after(runtime, 60)
    events = [e.detail for e in only(runtime).timeline if e.event == "exit_criteria"]
    assert events == ["do not hold", "hold"]


# the poll


def test_poll_looks_once_per_interval(store: Store, executor_stub: StubServer) -> None:
    collector = Scripted()
    runtime = observed(store, executor_stub, collector)
    assert collector.calls == 1  # at open
    assert runtime.scheduler.poll() == []
    assert poll_after(runtime, 59) == []
    assert poll_after(runtime, 1) == [only(runtime).id]
    assert collector.calls == 2


def test_poll_interval_follows_the_setting(store: Store, executor_stub: StubServer) -> None:
    collector = Scripted()
    runtime = observed(store, executor_stub, collector, observation_poll_seconds=10)
    poll_after(runtime, 10)
    assert collector.calls == 2


def test_poll_skips_an_incident_another_replica_holds(
    store: Store, executor_stub: StubServer
) -> None:
    collector = Scripted()
    runtime = observed(store, executor_stub, collector)
    clock_of(runtime).advance(60)
    with held_lock(store, f"incident:{only(runtime).correlation_key}", 30):
        assert runtime.scheduler.poll() == []
    assert collector.calls == 1
    assert runtime.scheduler.poll() == [only(runtime).id]


def test_worker_runs_the_observation_poll(store: Store, executor_stub: StubServer) -> None:
    collector = Scripted()
    runtime = observed(store, executor_stub, collector)
    clock_of(runtime).advance(60)
    runtime.worker.drain_once()
    assert collector.calls == 2


# acting on what the polls found


def test_repeated_probe_failure_lets_the_robot_restart_the_dependency(
    store: Store, executor_stub: StubServer
) -> None:
    refused = DependencyEndpoint(
        name="redis-cache", kind="redis", url=f"redis://127.0.0.1:{free_port()}/0"
    )
    runtime = observed(store, executor_stub, dependencies=[refused])
    first = only(runtime)
    assert first.confidence == "medium"
    assert applies(executor_stub) == 0
    poll_after(runtime, 60)
    incident = only(runtime)
    assert incident.confidence == "high"
    [restart] = [a for a in incident.executed_actions if a.action == "rollout_restart"]
    assert restart.target == {"kind": "deployment", "namespace": "platform", "name": "redis-cache"}
    assert restart.result == "succeeded"
    assert incident.state == IncidentState.contained
    assert applies(executor_stub) == 1


def test_contained_problem_that_persists_past_its_window_escalates(
    store: Store, executor_stub: StubServer
) -> None:
    runtime = make(store, executor_stub)
    fire(runtime, DISK, FILESYSTEM)
    assert only(runtime).state == IncidentState.contained
    poll_after(runtime, 14 * 60)
    assert only(runtime).state == IncidentState.contained
    poll_after(runtime, 60)
    incident = only(runtime)
    assert incident.state == IncidentState.escalated
    assert any(
        e.event == "state:escalated" and "persists 15m after containment" in e.detail
        for e in incident.timeline
    )
    # the cleanup ran again (its cooldown had passed) but cannot contain it again
    cleanups = [a for a in incident.executed_actions if a.action == "delete_completed_pods"]
    assert [a.result for a in cleanups] == ["succeeded", "succeeded"]
    assert any(
        a.action == "notify_operator" and a.detail == "in-app: incident escalated"
        for a in incident.executed_actions
    )


def test_contained_problem_whose_exit_criteria_hold_does_not_escalate(
    store: Store, executor_stub: StubServer, tmp_path: Path
) -> None:
    cleared = Scripted(
        incident_types=frozenset({"node_disk_pressure"}),
        answer=Evidence(signals=(strong("disk_pressure_condition"),)),
    )
    runtime = make(store, executor_stub, cleared)
    fire(runtime, DISK, FILESYSTEM)
    assert only(runtime).state == IncidentState.contained
    cleared.answer = Evidence(exit_criteria_met=True)
    poll_after(runtime, 16 * 60)
    assert only(runtime).state == IncidentState.contained


@dataclass
class Meeting:
    """A collector that answers only when ``parties`` calls are in it at once."""

    parties: int
    wait_seconds: float
    name: str = "meeting"
    incident_types: frozenset[str] = frozenset({"runtime_dependency_outage"})

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.parties, timeout=self.wait_seconds)

    def collect(self, incident: Incident) -> Evidence:
        self.barrier.wait()
        return Evidence(signals=(strong("met"),))


REDIS_QUEUE_DOWN = {**REDIS_DOWN, "deployment": "redis-queue"}


def test_a_payloads_incidents_are_observed_together(
    store: Store, executor_stub: StubServer
) -> None:
    runtime = make(store, executor_stub, Meeting(parties=2, wait_seconds=5.0))
    fire(runtime, REDIS_DOWN, REDIS_QUEUE_DOWN)  # two incidents, one batch
    incidents = runtime.store.list_incidents(IncidentFilter())
    assert len(incidents) == 2
    for incident in incidents:
        assert {s.name for s in incident.signals} >= {"met"}, incident.signals
        assert "collector_error" not in {s.name for s in incident.signals}


def test_collectors_at_once_are_bounded_by_the_setting(
    store: Store, executor_stub: StubServer
) -> None:
    meeting = Meeting(parties=2, wait_seconds=0.3)
    runtime = make(store, executor_stub, meeting, collector_concurrency=1)
    fire(runtime, REDIS_DOWN, REDIS_QUEUE_DOWN)
    # one at a time: the first waits for a second that cannot come in
    for incident in runtime.store.list_incidents(IncidentFilter()):
        [error] = [s for s in incident.signals if s.name == "collector_error"]
        assert "BrokenBarrierError" in error.detail
