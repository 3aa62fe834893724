"""What the notifier hands the delivery thread: a new post, a reply in an
incident's threads, or an edit of messages already sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from responder.channels.base import NO_META, Meta
from responder.channels.buttons import Button
from responder.channels.routing import Destination
from responder.records.incident import Incident


@dataclass(frozen=True)
class Post:
    """A new message for the destinations: an incident notification (the
    thread head's text plus the reply ``event``) or an approval request."""

    kind: Literal["incident", "approval"]
    incident_id: str
    incident_type: str
    environment: str
    text: str
    event: str
    destinations: tuple[Destination, ...]
    approval_id: str | None = None
    buttons: tuple[Button, ...] = ()
    meta: Meta = NO_META

    @classmethod
    def about(
        cls,
        incident: Incident,
        kind: Literal["incident", "approval"],
        text: str,
        event: str,
        destinations: tuple[Destination, ...],
        approval_id: str | None = None,
        buttons: tuple[Button, ...] = (),
        meta: Meta = NO_META,
    ) -> Post:
        """A post about ``incident``, which names its id, type and environment."""
        return cls(
            kind,
            incident.id,
            incident.incident_type,
            str(incident.environment),
            text,
            event,
            destinations,
            approval_id,
            buttons,
            meta,
        )


@dataclass(frozen=True)
class Reply:
    """A new message in every thread the incident has (its resolution, a
    pause made from its button), remembered under ``key`` to be edited."""

    kind: Literal["resolved", "pause"]
    incident_id: str
    key: str
    text: str
    buttons: tuple[Button, ...]
    head_text: str | None = None
    """new text (and no buttons) for the thread's head, or None to leave it"""
    meta: Meta = NO_META
    """the head's title and links; its topics are the reply's too"""


@dataclass(frozen=True)
class Edit:
    """New text for every message posted under ``key`` (an approval
    request's id, ``resolved:<incident>``, ``pause:<pause>``). ``append``:
    the text is the one the messages were posted with plus this line."""

    key: str
    incident_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    append: str | None = None
    meta: Meta = NO_META
