"""The operator channels the settings configure, assembled.

Without a chat channel the in-app inbox is the only channel, and nothing
starts a thread or talks to the network. Slack and Telegram each need their
token and secret from the environment and their settings section."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from responder.channels.base import Channel, DeliveryFailed
from responder.channels.delivery import Delivery, HealthChange
from responder.channels.inbox import Inbox
from responder.channels.notifier import Notifier
from responder.channels.routing import Router, parse_channel
from responder.channels.slack import SlackChannel
from responder.channels.telegram import TelegramChannel
from responder.guards.rails import GuardRails
from responder.metrics import Metrics
from responder.policy.engine import History, PolicyEngine
from responder.policy.rules import NotificationPolicy
from responder.policy.stage import incident_view
from responder.records.incident import Incident
from responder.sections import ChatOpsSettings
from responder.store import Store

log = logging.getLogger(__name__)


@dataclass
class ChatOps:
    """Everything the channels need at run time, for the handlers too."""

    notifier: Notifier
    inbox: Inbox
    slack: SlackChannel | None = None
    telegram: TelegramChannel | None = None
    slack_signing_secret: str | None = field(default=None, repr=False)
    telegram_webhook_url: str | None = None
    #: closed first by ``close`` (the chat bots that use the channels)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def chat_channels(self) -> tuple[str, ...]:
        return tuple(self.notifier.channels)

    def start(self) -> None:
        """Point Telegram at our webhook when ``channels.telegram.webhook_url``
        is set. A failure is logged, not fatal: the chat still receives
        messages, and the buttons work once the webhook is registered."""
        if self.telegram is None or not self.telegram_webhook_url:
            return
        try:
            self.telegram.set_webhook(self.telegram_webhook_url)
        except DeliveryFailed as exc:
            log.error("telegram: setWebhook %s failed: %s", self.telegram_webhook_url, exc.detail)
        else:
            log.info("telegram: webhook set to %s", self.telegram_webhook_url)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()
        self.notifier.close()


def rule_policies(
    engine: PolicyEngine, clock: Callable[[], datetime]
) -> Callable[[Incident], list[NotificationPolicy]]:
    """The notification policies of the operator rules matching an incident,
    each rule's threshold seeing the input it sees in ``PolicyEngine.decide``."""

    def policies(incident: Incident) -> list[NotificationPolicy]:
        now = clock()
        view = incident_view(incident, now)
        known = engine.taxonomy.incident_types.get(view.incident_type)
        auto_contain = str(known.policy_binding.auto_contain) if known else "no"
        activation = engine.engine.activation(
            {
                "incident": view.as_input(auto_contain, known is not None),
                "history": History().as_input(),
                "environment": str(view.environment),
                "now": now.isoformat(),
            }
        )
        return [r.notification_policy for r in engine.matching_rules(view, activation)]

    return policies


def build_chatops(
    settings: ChatOpsSettings,
    store: Store,
    metrics: Metrics,
    clock: Callable[[], datetime],
    policies: Callable[[Incident], Sequence[NotificationPolicy]] = lambda incident: (),
    guards: GuardRails | None = None,
    on_health: Callable[[HealthChange], None] | None = None,
) -> ChatOps:
    """The channels of ``settings``; raises ``ValueError`` naming a bad route.
    ``guards``: the pauses shown on notifications and the action windows
    that give approval requests their "Approve outside window" button;
    ``on_health``: told when a chat channel goes down or comes back."""
    config = settings.channels
    for route in config.routes:
        for spec in route.channels:
            if parse_channel(spec)[0] not in ("slack", "telegram", "in_app"):
                raise ValueError(
                    f"channels.routes: unknown channel {spec!r} (slack, telegram or in_app)"
                )
    channels: dict[str, Channel] = {}
    chats: dict[str, str] = {}
    slack: SlackChannel | None = None
    telegram: TelegramChannel | None = None
    if settings.slack_bot_token and settings.slack_signing_secret and config.slack:
        slack = SlackChannel.connect(
            settings.slack_bot_token,
            settings.slack_signing_secret,
            config.slack.api_url,
            config.slack.timeout_seconds,
        )
        channels["slack"], chats["slack"] = slack, config.slack.channel
    if settings.telegram_bot_token and settings.telegram_webhook_secret and config.telegram:
        telegram = TelegramChannel(
            settings.telegram_bot_token,
            settings.telegram_webhook_secret,
            config.telegram.api_url,
            config.telegram.timeout_seconds,
            config.telegram.topics,
        )
        channels["telegram"], chats["telegram"] = telegram, config.telegram.chat_id
    inbox = Inbox(store)
    router = Router(config, chats, policies)
    return ChatOps(
        notifier=Notifier(
            Delivery(
                store,
                metrics,
                config,
                channels,
                router,
                inbox,
                clock,
                on_health=on_health if channels else None,
            ),
            guards=guards,
        ),
        inbox=inbox,
        slack=slack,
        telegram=telegram,
        slack_signing_secret=settings.slack_signing_secret,
        telegram_webhook_url=config.telegram.webhook_url if config.telegram else None,
    )
