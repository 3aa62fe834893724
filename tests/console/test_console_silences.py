"""``silence ID DURATION`` makes a silence in a real Alertmanager with the
incident's alert name and the labels its alerts share, by the person, with
the incident in the comment; ``unsilence ID`` expires it. Both are audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fixtures.alertmanager import Alertmanager
from fixtures.alerts import pressure
from fixtures.console import ConsoleRig

from responder.accounts.models import Role
from responder.store import Store

NODE = "10.0.10.203"


@pytest.fixture
def rig(store: Store, alertmanager: Alertmanager) -> Iterator[ConsoleRig]:
    made = ConsoleRig(store, alertmanager_url=alertmanager.url)
    try:
        yield made
    finally:
        made.close()


def silence_of(alertmanager: Alertmanager, silence_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{alertmanager.url}/api/v2/silence/{silence_id}", timeout=5)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def test_silence_and_unsilence_in_alertmanager(rig: ConsoleRig, alertmanager: Alertmanager) -> None:
    rig.fire(pressure(NODE))
    incident = rig.only()
    reply = rig.as_role(Role.operator, f"silence {incident.id} 2h")
    assert reply.text.startswith(f"Silenced the alerts of incident {incident.id} until ")
    silenced = rig.only()
    assert silenced.silence is not None
    [silence_id] = silenced.silence.ids
    made = silence_of(alertmanager, silence_id)
    assert made["status"]["state"] == "active"
    assert made["createdBy"] == "operator-person (telegram:1001)"
    assert incident.id in made["comment"]
    assert sorted(made["matchers"], key=lambda m: m["name"]) == [
        {"name": name, "value": value, "isRegex": False, "isEqual": True}
        for name, value in sorted(pressure(NODE).items())
    ]
    assert f"<code>{silence_id}</code>" in reply.html

    assert rig.as_role(Role.operator, f"unsilence {incident.id}").text == (
        f"Silence expired for incident {incident.id}."
    )
    assert silence_of(alertmanager, silence_id)["status"]["state"] == "expired"
    assert rig.only().silence is None
    actions = [e.action for e in rig.store.list_audit(10, f"incident:{incident.id}")]
    assert actions[:2] == ["incident.unsilence", "incident.silence"]


def test_a_viewer_cannot_silence(rig: ConsoleRig, alertmanager: Alertmanager) -> None:
    rig.fire(pressure(NODE))
    incident = rig.only()
    reply = rig.as_role(Role.viewer, f"silence {incident.id} 1h")
    assert reply.text == "Sorry, silence needs the operator role; viewer-person is viewer."
    assert rig.only().silence is None
