"""Approvers from the settings: API tokens read from the environment and
compared in constant time, chat identities, environments; and the channel
settings that go with them (secrets from ROBOT_SRE_* variables, redacted)."""

from __future__ import annotations

import logging

import pytest

from responder.approvals.approvers import ApproverDirectory, bearer_token
from responder.chat_settings import ApproverSettings
from responder.settings import Settings, SettingsError, load_settings

TOKEN = "a-long-enough-token-0123456789"


def directory(**environ: str) -> ApproverDirectory:
    return ApproverDirectory(
        [
            ApproverSettings(
                name="alice",
                environments=("demo",),
                token_env="ALICE_TOKEN",
                slack_users=("U1",),
                telegram_users=("42",),
            ),
            ApproverSettings(name="bob", environments=("production",), token_env="BOB_TOKEN"),
        ],
        environ,
    )


def test_a_token_finds_its_approver() -> None:
    found = directory(ALICE_TOKEN=TOKEN).authenticate(TOKEN)
    assert found is not None and found.name == "alice"
    assert found.may_answer("demo") and not found.may_answer("production")


@pytest.mark.parametrize("presented", [None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_anything_but_the_token_finds_nobody(presented: str | None) -> None:
    assert directory(ALICE_TOKEN=TOKEN).authenticate(presented) is None


def test_a_short_or_missing_token_is_refused_and_named_not_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    approvers = directory(ALICE_TOKEN="short")
    assert approvers.authenticate("short") is None
    text = caplog.text
    assert "ALICE_TOKEN is shorter than 16 characters" in text
    assert "BOB_TOKEN is unset" in text
    assert "short\n" not in text.replace("is shorter", "")
    assert TOKEN not in repr(directory(ALICE_TOKEN=TOKEN))


def test_chat_identities_find_their_approver() -> None:
    approvers = directory()
    found = approvers.by_chat_user("telegram", "42")
    assert found is not None and found.name == "alice"
    assert approvers.by_chat_user("slack", "42") is None
    assert approvers.by_chat_user("whatsapp", "U1") is None


def test_bearer_header_parsing() -> None:
    assert bearer_token(f"Bearer {TOKEN}") == TOKEN
    assert bearer_token(f"bearer  {TOKEN} ") == TOKEN
    assert bearer_token(f"Basic {TOKEN}") is None
    assert bearer_token("Bearer ") is None


def test_chat_secrets_come_from_their_environment_variables_and_are_redacted() -> None:
    settings = load_settings(
        {
            "ROBOT_SRE_SLACK_BOT_TOKEN": "xoxb-1",
            "ROBOT_SRE_SLACK_SIGNING_SECRET": "sign",
            "ROBOT_SRE_TELEGRAM_BOT_TOKEN": "1:tg",
            "ROBOT_SRE_TELEGRAM_WEBHOOK_SECRET": "hook",
            "ROBOT_SRE_CHANNELS": '{"slack": {"channel": "C1"}, "telegram": {"chat_id": "-1"}}',
            "ROBOT_SRE_APPROVERS": '[{"name": "alice", "environments": ["demo"]}]',
        }
    )
    assert settings.slack_bot_token == "xoxb-1" and settings.telegram_webhook_secret == "hook"
    shown = settings.redacted()
    for name in ("slack_bot_token", "slack_signing_secret", "telegram_bot_token"):
        assert shown[name] == "***"
    assert shown["telegram_webhook_secret"] == "***"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, "channels.slack"),
        (
            {"slack_bot_token": "xoxb-1", "channels": {"slack": {"channel": "C1"}}},
            "ROBOT_SRE_SLACK_SIGNING_SECRET",
        ),
        ({"telegram_bot_token": "1:x", "telegram_webhook_secret": "h"}, "channels.telegram"),
        (
            {"approvers": [{"name": "a", "environments": ["demo"]}] * 2},
            "distinct name",
        ),
        ({"approval_expiry_per_action": {"reboot_worker": 0}}, "positive"),
    ],
)
def test_incomplete_channel_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.model_validate(values)


def test_load_settings_names_the_problem() -> None:
    with pytest.raises(SettingsError, match=r"set channels\.slack\.channel"):
        load_settings({"ROBOT_SRE_SLACK_BOT_TOKEN": "xoxb-1"})
