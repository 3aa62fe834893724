"""The settings of the operator channels: Slack, Telegram, routing, retries,
failover and storm control, and the approvers with their chat identities."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from responder.records.levels import Environment, Severity

ALL_ENVIRONMENTS = (Environment.demo, Environment.staging, Environment.production)


class SlackSettings(BaseModel):
    """Where Slack messages go and how Slack reaches us. The bot token, signing
    secret and app-level token are never written here: ``ROBOT_SRE_SLACK_BOT_TOKEN``,
    ``ROBOT_SRE_SLACK_SIGNING_SECRET``, ``ROBOT_SRE_SLACK_APP_TOKEN``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str = Field(description="default channel id (or #name) for notifications")
    api_url: str = Field(
        default="https://slack.com/api/", description="Web API base URL (ends with /)"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    mode: Literal["http", "socket"] = Field(
        default="http",
        description="how slash commands and button presses arrive: http = Slack posts to "
        "/webhooks/slack/commands and /webhooks/slack/interactions; socket = Socket Mode "
        "(one replica holds the socket, with ROBOT_SRE_SLACK_APP_TOKEN)",
    )
    command_reply_seconds: float = Field(
        default=2.5,
        ge=0,
        le=2.8,
        description="how long a slash command may run before its answer goes to the "
        "command's response_url instead (Slack waits 3 s for the HTTP answer)",
    )


class TelegramSettings(BaseModel):
    """Where Telegram messages go. The bot token and webhook secret come from
    ``ROBOT_SRE_TELEGRAM_BOT_TOKEN``, ``ROBOT_SRE_TELEGRAM_WEBHOOK_SECRET``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chat_id: str = Field(description="default chat id (e.g. -1001234567890 or @channel)")
    api_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL; the token is appended to it",
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_url: str | None = Field(
        default=None,
        description="public URL of POST /webhooks/telegram; when set, registered with "
        "setWebhook (and the secret token) at start",
    )
    topics: dict[str, int] = Field(
        default={},
        description="forum topic (message_thread_id) per incident type or environment, e.g. "
        "{production: 12, node_disk_pressure: 34}; the type's wins; an incident's follow-ups "
        "go to its topic; without one, the chat's General topic",
    )
    mode: Literal["webhook", "polling"] = Field(
        default="webhook",
        description="how updates (commands, messages, button presses) come in: POST "
        "/webhooks/telegram, or long polling with getUpdates for clusters without inbound "
        "HTTPS (one replica polls at a time, holding a lease in the store)",
    )
    poll_timeout_seconds: int = Field(
        default=20, ge=0, le=50, description="how long one getUpdates call waits for updates"
    )
    poll_lease_seconds: float = Field(
        default=30.0,
        ge=5,
        le=600,
        description="how long the polling replica's lease lasts unless renewed; another "
        "replica takes over polling after that",
    )
    dialog_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="a conversation (deny reason, typed node name) not finished within this "
        "time ends without doing anything, and says so",
    )


class ChannelRoute(BaseModel):
    """Default routing (operator rules' ``notification_policy`` comes first):
    incidents of these types, environments and at least this severity go to
    ``channels`` (``slack``, ``slack:<channel>``, ``telegram``,
    ``telegram:<chat>``, ``in_app``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_types: tuple[str, ...] = ("*",)
    environments: tuple[Environment, ...] = ALL_ENVIRONMENTS
    min_severity: Severity = Severity.info
    channels: tuple[str, ...]


class ChannelSettings(BaseModel):
    """Chat channels, routing, retries, failover and storm control."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack: SlackSettings | None = None
    telegram: TelegramSettings | None = None
    routes: list[ChannelRoute] = []
    failover_order: tuple[str, ...] = ("slack", "telegram")
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    retry_backoff_max_seconds: float = Field(default=8.0, ge=0, le=300)
    max_messages_per_window: int = Field(
        default=20, ge=1, description="new chat messages per channel per window; beyond: a digest"
    )
    window_seconds: float = Field(default=60.0, gt=0)
    public_url: str | None = Field(
        default=None,
        description="the responder's public base URL (e.g. https://robot-sre.example.com): "
        "messages link to the admin incident page and the runbooks it serves; without it, "
        "no such links",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="a Grafana dashboard linked from incident messages whose alerts carry "
        "no dashboard_url or grafana_url annotation",
    )

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None


class ApproverSettings(BaseModel):
    """A person who may answer approval requests in ``environments``.

    ``token_env`` names the environment variable holding the API token of the
    in-app inbox (``Authorization: Bearer``); ``slack_users`` and
    ``telegram_users`` are the chat identities that may press the buttons."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    environments: tuple[Environment, ...] = Field(min_length=1)
    token_env: str | None = None
    slack_users: tuple[str, ...] = ()
    telegram_users: tuple[str, ...] = ()

    @field_validator("telegram_users", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        return value
