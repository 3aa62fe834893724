"""The scheduler reads the store's due-time index: open incidents cost nothing
until they are due; the due ones take their turns in batches (a node storm on
its own), each looked at once and scheduled again one interval later."""

from __future__ import annotations

import logging

import pytest
from fixtures.alerts import disk
from fixtures.rigs import Responder

from responder.records.lifecycle import IncidentState
from responder.settings import Settings
from responder.store import IncidentFilter, Store

POLL_SECONDS = 60


def pod_alert(n: int) -> dict[str, str]:
    """An alert of its own workload: one incident each."""
    return {
        "alertname": "KubeDeploymentReplicasMismatch",
        "namespace": "shop",
        "deployment": f"web-{n:04d}",
        "severity": "warning",
    }


def responder(store: Store, **settings: object) -> Responder:
    values = {"observation_poll_seconds": POLL_SECONDS, **settings}
    return Responder(store, settings=Settings.model_validate(values))


def open_ids(store: Store) -> set[str]:
    return {i.id for i in store.list_incidents(IncidentFilter(limit=10_000)) if i.is_open}


def test_open_incidents_cost_nothing_until_they_are_due(store: Store) -> None:
    rig = responder(store)
    rig.fire(*(pod_alert(n) for n in range(150)))
    opened = open_ids(store)
    assert len(opened) == 150
    rig.clock.advance(POLL_SECONDS - 1)
    assert store.due_incidents(rig.clock.now.timestamp(), 1000) == []
    assert rig.runtime.scheduler.run_due() == []
    rig.clock.advance(1)
    assert set(store.due_incidents(rig.clock.now.timestamp(), 1000)) == opened
    assert set(rig.runtime.scheduler.run_due()) == opened
    # each looked at once, and due again one interval later
    assert store.due_incidents(rig.clock.now.timestamp(), 1000) == []
    for incident in store.list_incidents(IncidentFilter(limit=1000)):
        assert incident.polled_at == rig.clock.now
    rig.clock.advance(POLL_SECONDS)
    assert set(store.due_incidents(rig.clock.now.timestamp(), 1000)) == opened


def test_a_round_stops_when_asked_and_the_rest_stay_due(store: Store) -> None:
    rig = responder(store)
    rig.fire(*(pod_alert(n) for n in range(150)))
    rig.clock.advance(POLL_SECONDS)
    rounds = iter([False, True])
    first = rig.runtime.scheduler.run_due(stop=lambda: next(rounds, True))
    assert 0 < len(first) < 150
    left = set(store.due_incidents(rig.clock.now.timestamp(), 1000))
    assert left == open_ids(store) - set(first)
    assert set(rig.runtime.scheduler.run_due()) == left


def test_a_node_storm_and_its_members_are_polled_in_one_round(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rig = responder(store, blast_radius={"max_unhealthy_nodes": 1})
    for node in ("10.0.10.201", "10.0.10.202", "10.0.10.203"):
        rig.fire(*disk(node))
    incidents = store.list_incidents(IncidentFilter())
    [storm] = [i for i in incidents if i.is_storm]
    assert storm.state == IncidentState.escalated
    rig.clock.advance(POLL_SECONDS)
    with caplog.at_level(logging.ERROR):
        polled = rig.runtime.scheduler.run_due()
    assert set(polled) == {i.id for i in incidents}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    [storm] = [i for i in store.list_incidents(IncidentFilter()) if i.is_storm]
    assert storm.polled_at == rig.clock.now
