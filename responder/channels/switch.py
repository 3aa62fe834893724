"""Which chat channel stands in for another: the switches ``failover_channel``
makes, in the store so that every replica delivers the same way. While the
channel is down, its new messages (incident notifications, approval
requests) go to the stand-in first, until the switch lapses or is switched
back; replies and edits stay with the messages they belong to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from responder.store import Store

SWITCHES = "chat_switches"


@dataclass(frozen=True)
class Switch:
    """Where ``channel``'s new messages go (``to`` is ``channel`` itself when
    switched back) and until when; ``version`` is its document's version
    (0: never switched)."""

    channel: str
    to: str
    until: datetime | None
    version: int

    def stand_in(self, now: datetime) -> str | None:
        """The channel standing in for ``channel`` at ``now``, or None."""
        if self.to == self.channel or (self.until is not None and now >= self.until):
            return None
        return self.to


def read_switch(store: Store, channel: str) -> Switch:
    found = store.get_document(SWITCHES, channel)
    if found is None:
        return Switch(channel, channel, None, 0)
    version, doc = found
    until = doc.get("until")
    return Switch(
        channel,
        str(doc.get("to") or channel),
        datetime.fromisoformat(until) if isinstance(until, str) else None,
        version,
    )


def switch_document(to: str, until: datetime | None, incident_id: str) -> dict[str, Any]:
    """The stored form of a switch made for ``incident_id``."""
    return {"to": to, "until": until.isoformat() if until else None, "incident_id": incident_id}
