"""Socket Mode through slack-sdk's built-in client against the local Slack
stub: the app opens the socket at start, acks every envelope, answers slash
commands through their response_url and carries out button presses; one
replica holds the socket, another takes over when it lets go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.polling import eventually
from fixtures.slack_api import (
    APP_TOKEN,
    SlackApi,
    block_actions,
    envelope,
    slash_command,
)
from pydantic import ValidationError
from slack_sdk import WebClient

from responder.console.socket_mode import LEASE_KEY, SocketModeLink
from responder.settings import Settings
from responder.store import Store


@pytest.fixture
def harness(make_harness: Make, slack_api: SlackApi) -> Iterator[ChatOpsHarness]:
    slack = {"channel": "COPS", "api_url": slack_api.url, "mode": "socket", "timeout_seconds": 2}
    made = make_harness(
        telegram=False,
        ladder_holds_asks=False,
        slack_app_token=APP_TOKEN,
        channels={"slack": slack, "retry_backoff_seconds": 0.01},
    )
    with made.client:  # the app's lifespan: the socket opens at start, closes at the end
        eventually(lambda: slack_api.socket.open_sockets() == 1, 20, "the Socket Mode connection")
        yield made


def deliver(slack: SlackApi, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one envelope; the ack the client answered it with."""
    sent = envelope(kind, payload)
    slack.socket.send(sent)
    return eventually(lambda: slack.socket.acked(sent["envelope_id"]), 20, f"the ack of {kind}")


def test_a_slash_command_is_acked_and_answered(harness: ChatOpsHarness) -> None:
    slack = harness.slack_api
    ack = deliver(slack, "slash_commands", slash_command("status", slack.response_url()))
    assert set(ack) == {"envelope_id"}  # acked at once, the answer follows
    [answer] = eventually(lambda: slack.responses() or None, 20, "the answer on the response_url")
    assert answer.args["response_type"] == "ephemeral"
    assert "queue depth" in answer.args["text"]
    [entry] = harness.runtime.store.list_audit(10, "chat:slack:COPS")
    assert (entry.actor, entry.action) == ("slack:U0ALICE", "chat.command.status")
    [opened] = slack.called("apps.connections.open")  # the app-level token was accepted
    assert opened.answer["url"].startswith(slack.socket.url)


def test_button_presses_are_acked_and_carried_out(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    slack = harness.slack_api
    value = harness.slack_value(reboot.id, "approve")
    deliver(slack, "interactive", block_actions(value, "approve", user="U0MALLORY"))
    [told] = eventually(lambda: slack.ephemeral() or None, 20, "the refusal told to the stranger")
    assert told.args["user"] == "U0MALLORY"
    assert "not an approver" in told.text
    assert harness.approval("reboot_worker").state == "pending"

    deliver(slack, "interactive", block_actions(harness.slack_value(reboot.id, "deny"), "deny"))

    def denied() -> bool:
        return harness.approval("reboot_worker").state == "denied"

    eventually(denied, 20, "the denial")
    done = harness.approval("reboot_worker")
    assert (done.decided_by, done.decided_via) == ("alice", "slack")
    assert harness.applies() == 0


def link(store: Store, slack: SlackApi, seen: list[dict[str, Any]]) -> SocketModeLink:
    client = WebClient(base_url=slack.url, timeout=2, retry_handlers=[])
    return SocketModeLink(store, APP_TOKEN, client, seen.append, seen.append, lease_seconds=0.6)


def test_one_replica_holds_the_socket_and_another_takes_over(
    sqlite_store: Store, slack_api: SlackApi
) -> None:
    seen: list[dict[str, Any]] = []
    first, second = link(sqlite_store, slack_api, seen), link(sqlite_store, slack_api, seen)
    first.start()
    try:
        eventually(lambda: first.connected, 20, "the first replica's socket")
        second.start()
        # the second replica tries at every third of the lease and finds it held
        eventually(lambda: sqlite_store.get_key(LEASE_KEY) == first.holder, 5, "a renewal")
        assert not second.connected
        assert len(slack_api.called("apps.connections.open")) == 1
        deliver(slack_api, "slash_commands", slash_command("help", slack_api.response_url()))
        [payload] = eventually(lambda: seen or None, 20, "the command handed over")
        assert payload["text"] == "help"
        first.stop()  # gives the lease back
        eventually(lambda: second.connected, 20, "the second replica's socket")
        assert sqlite_store.get_key(LEASE_KEY) == second.holder
    finally:
        first.stop()
        second.stop()
    assert sqlite_store.get_key(LEASE_KEY) is None


def test_socket_mode_without_the_app_token_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="ROBOT_SRE_SLACK_APP_TOKEN is not set"):
        Settings.model_validate({"channels": {"slack": {"channel": "COPS", "mode": "socket"}}})
