"""The channel protocol: one small unit per chat integration.

A channel sends a message and edits one it sent. It does not retry: it raises
``DeliveryFailed`` saying whether a retry is worth it and after how long; the
notifier owns retries, failover and rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from responder.channels.buttons import Button
from responder.records.redaction import redact

ChannelName = Literal["slack", "telegram"]


class DeliveryFailed(RuntimeError):
    """The platform did not take the message. ``retry``: a later attempt may
    succeed (network, 5xx, rate limit); otherwise it will not (bad token,
    unknown chat, malformed message)."""

    def __init__(self, detail: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry = retry
        self.retry_after = retry_after


@dataclass(frozen=True)
class MessageRef:
    """Where a sent message lives: enough to edit it or reply under it."""

    channel: str
    chat: str
    id: str


@dataclass(frozen=True)
class Link:
    """A link a message shows under its text (the incident page, the alert's
    source, a dashboard, the runbook)."""

    text: str
    url: str


@dataclass(frozen=True)
class Meta:
    """What a channel shows around a message's text: ``title`` in bold where
    the text has it, ``links`` under it, and ``topics`` (the incident type,
    then its environment): a forum chat posts in the first one with a topic."""

    title: str = ""
    links: tuple[Link, ...] = ()
    topics: tuple[str, ...] = ()


NO_META = Meta()


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one chat with its ``buttons`` (Approve / Deny on an
    approval request, Pause automation on an incident,
    Right / False positive on its resolution, Resume on a pause); ``thread``
    is the id of the message to reply under; ``meta`` its title, links and
    forum topics."""

    chat: str
    text: str
    buttons: tuple[Button, ...] = ()
    thread: str | None = None
    meta: Meta = NO_META

    def __post_init__(self) -> None:
        # every text that goes to a chat passes here: nothing secret-looking leaves
        object.__setattr__(self, "text", redact(self.text))
        links = tuple(Link(redact(link.text), redact(link.url)) for link in self.meta.links)
        meta = Meta(redact(self.meta.title), links, self.meta.topics)
        object.__setattr__(self, "meta", meta)


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> MessageRef:
        """Post ``message``; raises ``DeliveryFailed``."""

    def update(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Replace the text (and buttons) of the message at ``ref``; raises
        ``DeliveryFailed``. Editing to the same text is not a failure."""

    def close(self) -> None: ...
