"""Which chats hear of an incident (spec section 10: channel routing).

In order: matching operator rules' notification policies, then the settings'
routes, else every chat channel's default chat; the in-app inbox always. A
route naming only channels this responder lacks falls back to the failover
order, so a message is never silently routed nowhere."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from responder.chat_settings import ChannelRoute, ChannelSettings
from responder.policy.rules import NotificationPolicy
from responder.records.incident import Incident

log = logging.getLogger(__name__)

IN_APP = "in_app"


@dataclass(frozen=True)
class Destination:
    channel: str
    chat: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.chat}"


def parse_channel(spec: str) -> tuple[str, str | None]:
    name, _, chat = spec.partition(":")
    return name.strip().lower(), (chat.strip() or None)


class Router:
    def __init__(
        self,
        settings: ChannelSettings,
        default_chats: Mapping[str, str],
        policies: Callable[[Incident], Sequence[NotificationPolicy]] = lambda incident: (),
    ) -> None:
        self.settings = settings
        self.default_chats = dict(default_chats)
        self.policies = policies
        self._warned: set[str] = set()

    @property
    def chat_channels(self) -> tuple[str, ...]:
        return tuple(self.default_chats)

    def for_incident(self, incident: Incident) -> list[Destination]:
        return self._route(incident, approval=False)

    def for_approval(self, incident: Incident) -> list[Destination]:
        return self._route(incident, approval=True)

    def failover(self, tried: Iterable[str]) -> list[Destination]:
        """The default chats of the channels not tried yet, in failover order."""
        done = set(tried)
        order = [c for c in self.settings.failover_order if c in self.default_chats]
        order += [c for c in self.default_chats if c not in order]
        return [Destination(c, self.default_chats[c]) for c in order if c not in done]

    def _route(self, incident: Incident, approval: bool) -> list[Destination]:
        if not self.default_chats:
            return []
        try:
            policies = list(self.policies(incident))
        except Exception:  # routing must never stop a notification
            log.exception("routing: operator rules could not be read; using the defaults")
            policies = []
        rank = incident.severity.rank
        if not approval and any(
            p.min_severity is not None and rank < p.min_severity.rank for p in policies
        ):
            return []  # an operator rule keeps this severity in the in-app inbox
        named = [spec for p in policies for spec in p.channels]
        if named:
            return self._resolve(named)
        if self.settings.routes:
            matching = [r for r in self.settings.routes if _matches(r, incident, approval)]
            return self._resolve([spec for r in matching for spec in r.channels])
        return [Destination(c, chat) for c, chat in self.default_chats.items()]

    def _resolve(self, specs: Sequence[str]) -> list[Destination]:
        found: list[Destination] = []
        wanted_chat = False
        for spec in specs:
            name, chat = parse_channel(spec)
            if name == IN_APP:
                continue
            wanted_chat = True
            if name not in self.default_chats:
                if spec not in self._warned:
                    self._warned.add(spec)
                    log.warning("routing: channel %r is not configured here", spec)
                continue
            destination = Destination(name, chat or self.default_chats[name])
            if destination not in found:
                found.append(destination)
        if wanted_chat and not found:
            return self.failover(())[:1]
        return found


def _matches(route: ChannelRoute, incident: Incident, approval: bool) -> bool:
    if "*" not in route.incident_types and incident.incident_type not in route.incident_types:
        return False
    if incident.environment not in route.environments:
        return False
    return approval or incident.severity.rank >= route.min_severity.rank
