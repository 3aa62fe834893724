"""The console's commands over a whole responder: help lists them, status
says the queue and the pauses, an unknown one is named; every command is
audited with the person's chat identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.rigs import Responder

from responder.console.commands import Console
from responder.console.reply import ChatUser
from responder.store import Store

ALICE = ChatUser(platform="telegram", user_id="1001", chat_id="1001", private=True, name="alice")


@pytest.fixture
def console(store: Store) -> Iterator[Console]:
    rig = Responder(store)
    try:
        yield Console(rig.runtime, rig.clock)
    finally:
        rig.close()


def test_help_lists_every_command(console: Console) -> None:
    reply = console.run(ALICE, "help")
    for name, about in console.commands():
        assert f"/{name} — {about}" in reply.text


def test_status_says_the_queue_and_the_pauses(console: Console) -> None:
    console.runtime.automation.pause(
        {"duration_seconds": 1800, "reason": "<b>maintenance</b>"}, "bob", "api"
    )
    reply = console.run(ALICE, "status")
    assert "queue depth 0" in reply.text
    assert "(<b>maintenance</b>)" in reply.text
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in reply.html


def test_an_unknown_command_is_named_and_audited(console: Console) -> None:
    reply = console.run(ALICE, "/frobnicate now")
    assert reply.text == "Unknown command 'frobnicate'. Send help for the list."
    [entry] = console.runtime.store.list_audit(10, "chat:telegram:1001")
    assert (entry.actor, entry.action) == ("telegram:1001", "chat.command_unknown")
