"""``ack``: who acknowledged, when, on the incident; the notifier pages an
acknowledged incident again only once its state or severity changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.alerts import filesystem, pressure
from fixtures.console import ConsoleRig
from fixtures.quiet import tie_hands

from responder.accounts.models import Role
from responder.channels.inbox import COLLECTION as INBOX
from responder.records.incident import Incident
from responder.store import Store

NODE = "10.0.10.202"


@pytest.fixture
def rig(store: Store) -> Iterator[ConsoleRig]:
    made = ConsoleRig(store)
    tie_hands(made.runtime.pipeline)  # what is left: correlation, lifecycle, notifications
    try:
        yield made
    finally:
        made.close()


def pages(rig: ConsoleRig, incident: Incident) -> list[str]:
    """The incident's notifications in the in-app inbox (not its approval requests)."""
    found = rig.store.get_document(INBOX, incident.id)
    assert found is not None
    return [e["event"] for e in found[1]["events"] if not e["event"].startswith("approval_")]


def test_an_acknowledged_incident_is_not_paged_until_it_changes(rig: ConsoleRig) -> None:
    rig.fire(pressure(NODE))
    incident = rig.only()
    assert pages(rig, incident) == ["opened"]
    reply = rig.as_role(Role.operator, f"ack {incident.id}")
    assert reply.text.startswith(f"Incident {incident.id} acknowledged by operator-person")
    acked = rig.only()
    assert acked.acknowledged is not None
    assert (acked.acknowledged.by, acked.acknowledged.at) == (
        "operator-person (telegram:1001)",
        rig.clock(),
    )
    rig.clock.advance(minutes=1)
    rig.fire(filesystem(NODE))
    held = rig.only()
    assert pages(rig, held) == ["opened"]
    assert any(e.event == "notification_held" for e in held.timeline)
    # a change of state (or severity) pages again
    rig.clock.advance(minutes=1)
    rig.resolve(pressure(NODE), filesystem(NODE))
    recovering = rig.only()
    assert recovering.state != acked.state
    rig.clock.advance(minutes=1)
    rig.fire(pressure(NODE))
    changed = rig.only()
    assert len(pages(rig, changed)) > 1, [(e.event, e.detail) for e in changed.timeline[-8:]]
