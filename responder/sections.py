"""The settings sections: the part of the settings each subsystem takes,
built from the (flat) settings by ``Settings.section``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from responder.chat_settings import ChannelSettings
from responder.records.levels import Environment
from responder.records.window import SuppressionWindow
from responder.settings import ActionCapSettings, BlastRadiusSettings


class Section(BaseModel):
    """The part of the settings one subsystem reads (``Settings.section``);
    its fields keep the names they have in the settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueSettings(Section):
    """How the queue worker claims and works through the queued payloads."""

    worker_batch: int
    worker_slice_alerts: int
    worker_lease_seconds: float
    worker_idle_poll_seconds: float
    sweep_interval_seconds: float


class WebhookSettings(Section):
    """What the Alertmanager webhook checks a request against."""

    webhook_token: str | None = Field(repr=False)
    max_body_bytes: int
    max_alerts_per_payload: int
    queue_max_depth: int


class ActionSettings(Section):
    """How the action runner runs actions."""

    action_timeout_seconds: float
    effective_dry_run: bool
    action_caps: ActionCapSettings


class TimingSettings(Section):
    """The operator's overrides of the catalogue's per-type timings."""

    observation_poll_seconds: float | None
    duplicate_window_seconds: int | None
    quiet_period_seconds: dict[str, int]
    escalation_window_seconds: int | None


class GuardSettings(Section):
    """What the guard rails hold automatic actions to."""

    environment: Environment
    pause_effect: Literal["approval", "shadow"]
    blast_radius: BlastRadiusSettings
    action_windows: list[SuppressionWindow]
    blocking_alerts: list[dict[str, str]]


class AccountSettings(Section):
    """Who may sign in, and how the API and the admin UI authenticate."""

    api_auth: Literal["auto", "on", "off"]
    admin_user: str | None
    admin_password: str | None = Field(repr=False)
    session_secret: str | None = Field(repr=False)
    session_ttl_seconds: int
    trusted_proxies: list[str]
    proxy_group_roles: dict[str, Literal["viewer", "operator", "approver", "admin"]]
    token_lifetime: str


class ChatOpsSettings(Section):
    """The operator channels with the secrets of the chat ones."""

    channels: ChannelSettings
    slack_bot_token: str | None = Field(repr=False)
    slack_signing_secret: str | None = Field(repr=False)
    telegram_bot_token: str | None = Field(repr=False)
    telegram_webhook_secret: str | None = Field(repr=False)
