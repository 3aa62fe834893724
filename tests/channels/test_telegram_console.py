"""The Telegram bot as a python-telegram-bot ``Application`` against the
local Bot API: commands answered in the chat they were written in, over the
webhook and over long polling, the command menu, and the dialogs behind the
buttons (a deny's reason, a reboot's typed node name, a timeout, a restart
or another replica between two steps)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.polling import eventually
from fixtures.telegram_api import (
    CHAT_ID,
    WEBHOOK_SECRET,
    TelegramApi,
    TelegramCall,
    callback_update,
    message_update,
)

from responder.console.commands import Console
from responder.console.telegram_bot import LEASE_KEY
from responder.store import Store


@pytest.fixture
def harness(make_harness: Make) -> ChatOpsHarness:
    # about answering approvals in Telegram, not about when the ladder raises them
    return make_harness(ladder_holds_asks=False)


def replies_in(api: TelegramApi, chat_id: str) -> list[TelegramCall]:
    return [c for c in api.sent() if str(c.args["chat_id"]) == chat_id]


def test_a_command_in_the_group_is_answered_there_in_html(harness: ChatOpsHarness) -> None:
    assert harness.write_telegram("/status").status_code == 200
    [reply] = replies_in(harness.telegram_api, CHAT_ID)
    assert reply.plain.startswith("Robot SRE in ")
    assert "queue depth" in reply.text
    assert reply.args["parse_mode"] == "HTML"
    assert "chat.command.status" in harness.audit_actions("chat:telegram:" + CHAT_ID)


def test_a_command_in_a_private_chat_is_answered_there(harness: ChatOpsHarness) -> None:
    harness.write_telegram("/help@rsre", chat_id="1001")
    [reply] = replies_in(harness.telegram_api, "1001")
    for name, _ in Console(harness.runtime).commands():
        assert f"/{name}" in reply.text


def test_a_plain_message_in_a_private_chat_gets_a_hint(harness: ChatOpsHarness) -> None:
    harness.write_telegram("hello?", chat_id="1001")
    [reply] = replies_in(harness.telegram_api, "1001")
    assert reply.text == "Send /help for what I can do."


def test_the_command_menu_is_set_at_start(harness: ChatOpsHarness) -> None:
    with harness.client:  # start-up and shutdown of the app
        pass
    [menu] = harness.telegram_api.called("setMyCommands")
    listed = [(c["command"], c["description"]) for c in menu.args["commands"]]
    assert listed == Console(harness.runtime).commands()


def polling(api: TelegramApi) -> dict[str, Any]:
    """Channel settings for Telegram by long polling."""
    telegram = {"chat_id": CHAT_ID, "api_url": api.url, "mode": "polling"}
    return {"telegram": telegram | {"poll_timeout_seconds": 1, "timeout_seconds": 2}}


def test_long_polling_delivers_a_command_and_the_reply(
    make_harness: Make, telegram_api: TelegramApi
) -> None:
    harness = make_harness(channels=polling(telegram_api))
    api = harness.telegram_api
    with harness.client:
        api.queue(message_update("/status"))
        reply = eventually(
            lambda: next(iter(replies_in(api, CHAT_ID)), None), 20, "the reply to /status"
        )
        assert "queue depth" in reply.text
        assert harness.store.get_key(LEASE_KEY) is not None  # this replica polls
        eventually(lambda: not api.pending() or None, 20, "the update confirmed")
    assert api.called("deleteWebhook")  # polling and a webhook exclude each other
    assert harness.store.get_key(LEASE_KEY) is None  # given up at shutdown


def test_only_the_replica_with_the_lease_polls(
    make_harness: Make, telegram_api: TelegramApi
) -> None:
    harness = make_harness(channels=polling(telegram_api))
    assert harness.store.set_if_absent(LEASE_KEY, "another-replica", 60)
    with harness.client:
        pass
    assert not harness.telegram_api.called("deleteWebhook")  # it never started polling
    assert harness.store.get_key(LEASE_KEY) == "another-replica"


def test_a_reboot_needs_the_node_name_typed(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id)
    [asked] = harness.telegram_api.called("answerCallbackQuery")
    assert asked.text == "To approve reboot worker 10.0.10.202, type the node name."
    harness.write_telegram("10.0.10.201")
    harness.flush()
    assert harness.approval().state == "pending"
    assert harness.applies() == 0
    told = replies_in(harness.telegram_api, CHAT_ID)[-1].text
    assert told.startswith("'10.0.10.201' is not the name of the target (10.0.10.202)")
    assert "not approved" in told
    # the dialog is over: the right name now is only a message
    harness.write_telegram("10.0.10.202")
    assert harness.approval().state == "pending"
    harness.approve_telegram(reboot)
    harness.flush()
    assert harness.approval().state == "executed"
    assert harness.applies() == 1


def test_a_deny_asks_for_the_reason_and_keeps_it(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id, "deny")
    assert harness.approval().state == "pending"  # not before the reason
    [asked] = harness.telegram_api.called("answerCallbackQuery")
    assert asked.text == "Why deny reboot worker 10.0.10.202? Reply with the reason, or skip."
    harness.write_telegram("the disk is cleaned by a <b>cron</b> at 03:00")
    harness.flush()
    denied = harness.approval()
    assert (denied.state, denied.decided_by, denied.decided_via) == ("denied", "alice", "telegram")
    assert denied.decision_note == "the disk is cleaned by a <b>cron</b> at 03:00"
    assert "Robot SRE: denied" in [c.text for c in harness.telegram_api.sent()]


def test_a_deny_reason_can_be_skipped(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id, "deny")
    harness.write_telegram("skip")
    denied = harness.approval()
    assert (denied.state, denied.decision_note) == ("denied", "")


def test_a_dialog_not_finished_in_time_ends_and_says_so(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id, "deny")
    harness.clock.advance(6 * 60)  # the dialog's 5 minutes are over, the request is not
    harness.write_telegram("a reason too late")
    assert harness.approval().state == "pending"
    told = replies_in(harness.telegram_api, CHAT_ID)[-1].text
    assert told.startswith("That dialog timed out after 5 min: nothing was done.")


def test_a_dialog_survives_a_restart_between_its_steps(
    make_harness: Make, sqlite_store: Store
) -> None:
    first = make_harness(ladder_holds_asks=False)
    reboot = first.approval_after(DISK)
    first.press_telegram(reboot.id)
    first.close()
    second = make_harness(ladder_holds_asks=False, store=sqlite_store)
    second.write_telegram("10.0.10.202")
    second.flush()
    done = second.approval()
    assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", "telegram")
    assert second.applies() == 1


def test_someone_else_in_the_chat_does_not_answer_a_dialog(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id, "deny")
    harness.write_telegram("looks fine to me", user_id=2002)  # paula, not in the dialog
    assert harness.approval().state == "pending"
    harness.write_telegram("cleaned by hand")
    assert harness.approval().decision_note == "cleaned by hand"


def test_cancel_ends_a_dialog(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id)
    harness.write_telegram("/cancel")
    harness.write_telegram("10.0.10.202")
    assert harness.approval().state == "pending"
    texts: list[Any] = [c.text for c in replies_in(harness.telegram_api, CHAT_ID)]
    assert "Cancelled: nothing was done." in texts


def two_replicas(make: Make) -> tuple[ChatOpsHarness, ChatOpsHarness]:
    """Two responders over one store, both fed by the webhook."""
    return make(ladder_holds_asks=False), make(ladder_holds_asks=False)


def test_the_node_name_typed_at_another_replica_approves_once(make_harness: Make) -> None:
    a, b = two_replicas(make_harness)
    with a.client, b.client:  # both started before the dialog
        reboot = a.approval_after(DISK)
        a.press_telegram(reboot.id)
        assert b.approval().state == "pending"
        b.write_telegram("10.0.10.202")
        b.flush()
        done = b.approval()
        assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", "telegram")
        assert a.applies() + b.applies() == 1
        b.write_telegram("10.0.10.202")  # the dialog is over at both
        a.write_telegram("10.0.10.202")
        assert a.applies() + b.applies() == 1


def test_the_deny_reason_given_at_another_replica_is_kept(make_harness: Make) -> None:
    a, b = two_replicas(make_harness)
    with a.client, b.client:  # both started before the dialog
        reboot = a.approval_after(DISK)
        b.press_telegram(reboot.id, "deny")
        assert a.approval().state == "pending"
        a.write_telegram("cleaned by hand already")
        denied = a.approval()
        assert (denied.state, denied.decided_by) == ("denied", "alice")
        assert denied.decision_note == "cleaned by hand already"
        assert a.applies() + b.applies() == 0


def test_a_dialog_in_a_private_chat_takes_the_answer_without_a_hint(
    harness: ChatOpsHarness,
) -> None:
    reboot = harness.approval_after(DISK)
    data, message_id = harness.telegram_data(reboot.id, "approve")
    update = callback_update(data, chat_id="1001", message_id=message_id)
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    harness.client.post("/webhooks/telegram", content=json.dumps(update), headers=headers)
    harness.write_telegram("10.0.10.202", chat_id="1001")
    harness.flush()
    assert harness.approval().state == "executed"
    texts = [c.text for c in replies_in(harness.telegram_api, "1001")]
    assert texts[0] == "To approve reboot worker 10.0.10.202, type the node name."
    assert "Send /help for what I can do." not in texts
