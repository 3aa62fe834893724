"""Every console command over a whole responder: it answers a person with
the role and refuses one without (a stranger is told how to link); help
lists them, status says the queue, the pauses and the modes; labels reach
the HTML escaped; every command is audited with the chat identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.console import STRANGER, ConsoleRig

from responder.accounts.models import Role
from responder.records.incident import Incident
from responder.store import Store

CRASHING = {
    "alertname": "KubePodCrashLooping",
    "namespace": "shop",
    "pod": "api-<b>&amp;-7f9",
    "container": "api",
    "severity": "warning",
}

#: (command line, the role it needs, what the allowed person's answer starts with or holds)
COMMANDS = [
    ("incidents", Role.viewer, "1 open incident(s), newest first:"),
    ("incidents production", Role.viewer, "No open incidents in production."),
    ("incident {id}", Role.viewer, "Incident {id} [unclassified]"),
    ("why {id}", Role.viewer, "{id}"),
    ("approvals", Role.viewer, "No approval request waits for you."),
    ("status", Role.viewer, "queue depth 0"),
    ("ack {id}", Role.operator, "Incident {id} acknowledged by operator-person (telegram:1001)."),
    ("note {id} rolled back by hand", Role.operator, "Noted on incident {id}: rolled back by hand"),
    ("pause 30m staging deploy freeze", Role.operator, "Automation paused for environment staging"),
    ("resume pause-nothing", Role.operator, "No pause pause-nothing is on."),
    ("silence {id} 1h", Role.operator, "Silences need Alertmanager: set alertmanager_url."),
    ("unsilence {id}", Role.operator, "Incident {id} has no silence of ours."),
]


@pytest.fixture
def rig(store: Store) -> Iterator[ConsoleRig]:
    made = ConsoleRig(store)
    try:
        yield made
    finally:
        made.close()


def crashing(rig: ConsoleRig) -> Incident:
    rig.fire(CRASHING)
    return rig.only()


@pytest.mark.parametrize(("line", "role", "answer"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_command_answers_its_role_and_refuses_below_it(
    rig: ConsoleRig, line: str, role: Role, answer: str
) -> None:
    incident = crashing(rig)
    text = line.format(id=incident.id)
    refused = rig.run(STRANGER, text)
    assert refused.text.startswith("Sorry, I do not know you yet. Link your chat identity")
    assert "/start CODE" in refused.text
    if role != Role.viewer:
        below = rig.as_role(Role.viewer, text)
        name = text.split()[0]
        assert below.text == f"Sorry, {name} needs the {role} role; viewer-person is viewer."
    allowed = rig.as_role(role, text)
    assert answer.format(id=incident.id) in allowed.text
    [entry, *_] = rig.store.list_audit(5, "chat:telegram:-100")
    assert (entry.actor, entry.action) == (
        f"telegram:{1000 + role.rank}",
        f"chat.command.{text.split()[0]}",
    )
    stranger_entry = rig.store.list_audit(5, "chat:telegram:999")[0]
    assert stranger_entry.action == "chat.command_refused"


def test_help_lists_every_command_and_tells_a_stranger_how_to_link(rig: ConsoleRig) -> None:
    reply = rig.run(STRANGER, "help")
    for name, about in rig.console.commands():
        assert f"/{name} — {about}" in reply.text
    assert "/start CODE" in reply.text
    assert "/start CODE" not in rig.as_role(Role.viewer, "help").text


def test_status_says_the_queue_the_pauses_and_the_modes(rig: ConsoleRig) -> None:
    rig.runtime.automation.pause(
        {"duration_seconds": 1800, "reason": "<b>maintenance</b>"}, "bob", "api"
    )
    rig.runtime.automation.set_modes(
        [{"incident_type": "node_disk_pressure", "environment": "production", "mode": "approval"}],
        rig.runtime.taxonomy.incident_types,
        "bob",
        "api",
    )
    reply = rig.as_role(Role.viewer, "status")
    assert "queue depth 0" in reply.text
    assert "(<b>maintenance</b>)" in reply.text
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in reply.html
    assert "• node_disk_pressure in production: approval" in reply.text
    assert "approval 1" in reply.text


def test_labels_with_markup_arrive_escaped(rig: ConsoleRig) -> None:
    incident = crashing(rig)
    rig.as_role(Role.operator, f"note {incident.id} <i>fixed</i> & <a href='x'>done</a>")
    for line in (f"incident {incident.id}", "incidents"):
        reply = rig.as_role(Role.viewer, line)
        assert "api-<b>&amp;-7f9" in reply.text
        assert "api-&lt;b&gt;&amp;amp;-7f9" in reply.html
        assert "<b>&amp;" not in reply.html
    shown = rig.as_role(Role.viewer, f"incident {incident.id}").html
    assert "&lt;i&gt;fixed&lt;/i&gt; &amp; &lt;a href=&#x27;x&#x27;&gt;done&lt;/a&gt;" in shown
    assert f"<code>{incident.id}</code>" in shown


def test_an_incident_is_found_by_the_start_of_its_id(rig: ConsoleRig) -> None:
    incident = crashing(rig)
    reply = rig.as_role(Role.viewer, f"incident {incident.id[:6]}…")
    assert f"Incident {incident.id} [unclassified]" in reply.text
    assert rig.as_role(Role.viewer, "incident 0000").text == "No incident 0000."


def test_why_gives_the_trace_layer_by_layer(rig: ConsoleRig) -> None:
    incident = crashing(rig)
    action = incident.decisions[0]["action"]
    reply = rig.as_role(Role.viewer, f"why {incident.id} {action}")
    assert f"because: {incident.decisions[0]['reason']}" in reply.text
    for layer in incident.decisions[0]["layers"]:
        assert f"  {layer['layer']}: " in reply.text
    unknown = rig.as_role(Role.viewer, f"why {incident.id} reboot_everything")
    assert unknown.text.startswith(f"No decision about reboot_everything on incident {incident.id}")


def test_an_unknown_command_is_named_and_audited(rig: ConsoleRig) -> None:
    reply = rig.run(STRANGER, "/frobnicate now")
    assert reply.text == "Unknown command 'frobnicate'. Send help for the list."
    [entry] = rig.store.list_audit(10, "chat:telegram:999")
    assert (entry.actor, entry.action) == ("telegram:999", "chat.command_unknown")


def test_pause_and_resume_reach_the_automation_book(rig: ConsoleRig) -> None:
    paused = rig.as_role(Role.operator, "pause 2h namespace=shop <b>deploy</b> freeze")
    [pause] = rig.runtime.automation.active_pauses(rig.clock())
    assert (pause.namespace, pause.reason, pause.created_by) == (
        "shop",
        "<b>deploy</b> freeze",
        "telegram:1001",
    )
    assert "&lt;b&gt;deploy&lt;/b&gt;" in paused.html
    resumed = rig.as_role(Role.operator, "resume")
    assert resumed.text == f"Automation resumed for namespace shop ({pause.id})."
    assert rig.runtime.automation.active_pauses(rig.clock()) == []
