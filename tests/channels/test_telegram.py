"""Telegram through the real ``python-telegram-bot`` against a local Bot API:
inline keyboards with signed opaque callback data, the webhook's secret
token, edits with the outcome, and a bot token that never reaches a log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.slack_api import SIGNING_SECRET
from fixtures.telegram_api import (
    BOT_TOKEN,
    CHAT_ID,
    WEBHOOK_SECRET,
    TelegramApi,
    callback_update,
)


@pytest.fixture
def harness(make_harness: Make) -> ChatOpsHarness:
    # about answering approvals in Telegram, not about when the ladder raises them
    return make_harness(ladder_holds_asks=False)


def test_approval_request_has_an_inline_keyboard(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    call = harness.telegram_prompt(reboot.id)
    assert [b["text"] for b in call.keyboard] == ["Approve", "Deny"]
    assert call.args["chat_id"] == CHAT_ID
    assert call.text.startswith("Robot SRE requests approval: reboot worker 10.0.10.202.")
    assert "Expected impact:" in call.text and "Approval expires in 10m." in call.text
    # replies under the incident's first message
    head = harness.telegram_api.sent()[0]
    assert call.args["reply_parameters"]["message_id"] == head.answer["message_id"]


def test_callback_data_is_short_opaque_and_signed(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    approve, _ = harness.telegram_data(reboot.id, "approve")
    deny, _ = harness.telegram_data(reboot.id, "deny")
    assert len(approve.encode()) <= 64 and approve != deny
    for text in ("reboot", "10.0.10.202", reboot.id, "approve"):
        assert text not in approve


def test_the_same_prompt_in_slack_telegram_and_the_inbox(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    telegram = harness.telegram_prompt(reboot.id)
    slack = harness.slack_prompt(reboot.id)
    listed = harness.client.get("/api/v1/approvals", params={"state": "pending"}).json()
    [inbox] = [a for a in listed["approvals"] if a["id"] == reboot.id]
    assert telegram.text == slack.section_text == inbox["prompt"]


def test_wrong_or_missing_secret_token_is_refused_with_401(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    assert harness.press_telegram(reboot.id, secret="guessed-secret").status_code == 401
    assert harness.press_telegram(reboot.id, secret=None).status_code == 401
    harness.flush()
    assert harness.approval("reboot_worker").state == "pending"
    assert harness.applies() == 0
    assert harness.audit_actions().count("chat.callback_rejected") == 2


def test_press_by_an_approver_runs_the_action_and_edits_the_message(
    harness: ChatOpsHarness,
) -> None:
    reboot = harness.approval_after(DISK)
    _, message_id = harness.telegram_data(reboot.id, "approve")
    assert harness.press_telegram(reboot.id).status_code == 200
    assert harness.applies() == 0  # a reboot counts once the node's name is typed
    assert harness.write_telegram("10.0.10.202").status_code == 200
    harness.flush()
    assert harness.applies() == 1
    done = harness.approval("reboot_worker")
    assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", "telegram")
    telegram = harness.telegram
    assert telegram is not None
    [edit] = [
        c for c in telegram.called("editMessageText") if int(c.args["message_id"]) == message_id
    ]
    assert "Approved by alice via telegram" in edit.text
    assert "reply_markup" not in edit.args  # the keyboard is gone
    [answered] = telegram.called("answerCallbackQuery")
    assert answered.args["text"] == "To approve reboot worker 10.0.10.202, type the node name."
    assert "Robot SRE: executed" in [c.text for c in telegram.sent()]
    # the Slack copy of the same request says so too
    assert any("Approved by alice via telegram" in c.text for c in harness.slack_api.updated())


def test_tampered_callback_data_is_not_acted_on(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    data, _ = harness.telegram_data(reboot.id, "deny")
    tampered = ("B" if data[0] != "B" else "C") + data[1:]  # flip the answer's byte
    assert harness.press_telegram(reboot.id, data=tampered).status_code == 200
    harness.flush()
    assert harness.approval("reboot_worker").state == "pending"
    [answered] = harness.telegram_api.called("answerCallbackQuery")
    assert answered.args["text"] == "This button is not valid."
    assert "chat.callback_rejected" in harness.audit_actions()


def test_user_who_is_no_approver_cannot_approve(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    assert harness.press_telegram(reboot.id, user_id=666).status_code == 200
    harness.flush()
    assert harness.approval("reboot_worker").state == "pending"
    assert harness.applies() == 0
    [answered] = harness.telegram_api.called("answerCallbackQuery")
    assert "telegram user 666 is not an approver" in answered.args["text"]


def test_second_press_after_approval_is_refused(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    harness.approve_telegram(reboot)
    harness.press_slack(reboot.id, "approve")  # the same request, the other channel
    harness.press_telegram(reboot.id, verb="deny")  # a stale button: the current state
    harness.flush()
    assert harness.applies() == 1
    assert harness.approval("reboot_worker").state == "executed"
    assert "Robot SRE: executed" in [c.text for c in harness.telegram_api.sent()]
    texts = [c.args["text"] for c in harness.telegram_api.called("answerCallbackQuery")]
    assert "is executed by alice via telegram" in texts[-1]


def callback_without_data() -> dict[str, Any]:
    update = callback_update("x")
    del update["callback_query"]["data"]
    return update


@pytest.mark.parametrize(
    "update",
    [
        pytest.param(
            {"update_id": 7, "message": {"message_id": 1, "date": 0, "text": "/start"}},
            id="a message",
        ),
        pytest.param(callback_without_data(), id="a callback without data"),
    ],
)
def test_updates_other_than_a_press_are_acknowledged_and_ignored(
    harness: ChatOpsHarness, update: dict[str, Any]
) -> None:
    response = harness.client.post(
        "/webhooks/telegram",
        content=json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": "telegram-webhook-secret-0123456789"},
    )
    assert response.status_code == 200


def test_bot_token_never_reaches_the_logs(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # the bot is made with DEBUG logging on; about the logs of answering an
    # approval, not about when the ladder raises it
    harness: ChatOpsHarness = make_harness(ladder_holds_asks=False)
    reboot = harness.approval_after(DISK)
    harness.press_telegram(reboot.id)
    harness.flush()
    assert harness.telegram_api.sent()
    assert any("/bot<token>/sendMessage" in r.getMessage() for r in caplog.records)
    assert any("Set Bot API URL" in r.getMessage() for r in caplog.records)
    assert all(BOT_TOKEN not in r.getMessage() for r in caplog.records)
    shown = repr(harness.runtime.chatops)
    assert BOT_TOKEN not in shown and SIGNING_SECRET not in shown


def test_the_webhook_is_registered_with_its_secret_at_start(
    make_harness: Any, telegram_api: TelegramApi
) -> None:
    harness: ChatOpsHarness = make_harness(
        channels={
            "telegram": {
                "chat_id": CHAT_ID,
                "api_url": telegram_api.url,
                "webhook_url": "https://robot-sre.example.invalid/webhooks/telegram",
            }
        }
    )
    with harness.client:  # start-up and shutdown of the app
        pass
    [registered] = telegram_api.called("setWebhook")
    assert registered.args["url"] == "https://robot-sre.example.invalid/webhooks/telegram"
    assert registered.args["secret_token"] == WEBHOOK_SECRET
    assert registered.args["allowed_updates"] == ["message", "callback_query"]
