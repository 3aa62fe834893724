"""What a command is given: the responder, who asks, and the words after
the command's name; and the helpers commands share to find and change an
incident."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from responder.console.identity import ChatAccount, Identities
from responder.console.reply import ChatUser
from responder.records.audit import audit
from responder.records.incident import Incident
from responder.runtime import Runtime
from responder.store import IncidentFilter, LockBusy, held_lock

T = TypeVar("T")
DURATION = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: how many incidents an abbreviated id is looked for among
PREFIX_SEARCH = 500
_LOCK_WAIT_SECONDS = 5.0


class CommandError(ValueError):
    """A command that cannot be done; the message is the reply."""


@dataclass(frozen=True)
class Asked:
    runtime: Runtime
    identities: Identities
    user: ChatUser
    account: ChatAccount | None
    args: list[str]
    now: datetime

    @property
    def who(self) -> str:
        """The person as the incident and the audit log name them."""
        name = self.account.name if self.account else self.user.name
        return f"{name} ({self.user.actor})" if name else self.user.actor

    def audit(
        self,
        action: str,
        incident_id: str,
        detail: str,
        before: object = None,
        after: object = None,
    ) -> None:
        """An audit entry about an incident, by this person, from their chat."""
        audit(
            self.runtime.store,
            actor=self.user.actor,
            surface=self.user.platform,
            action=action,
            subject=f"incident:{incident_id}",
            before=before,
            after=after,
            detail=detail,
            at=self.now,
        )

    def arg(self, index: int, usage: str) -> str:
        if len(self.args) <= index:
            raise CommandError(f"Usage: {usage}")
        return self.args[index]

    def incident(self, text: str) -> Incident:
        """The incident ``text`` names: its id, or the start of the id of
        one incident (at least 4 characters)."""
        store = self.runtime.store
        text = text.strip().rstrip("…")
        found = store.get_incident(text)
        if found is not None:
            return found
        if len(text) >= 4:
            matches = [
                i
                for i in store.list_incidents(IncidentFilter(limit=PREFIX_SEARCH))
                if i.id.startswith(text)
            ]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise CommandError(f"{text} starts {len(matches)} incident ids: give more of it.")
        raise CommandError(f"No incident {text}.")

    def change(self, incident: Incident, change: Callable[[Incident], T]) -> T:
        """Run ``change`` on a fresh copy of ``incident`` under its lock and save it."""
        store = self.runtime.store
        try:
            with held_lock(
                store,
                f"incident:{incident.correlation_key}",
                self.runtime.pipeline.lock_ttl,
                _LOCK_WAIT_SECONDS,
            ):
                fresh = store.get_incident(incident.id)
                if fresh is None:
                    raise CommandError(f"No incident {incident.id}.")
                answer = change(fresh)
                store.save_incident(fresh)
                return answer
        except LockBusy:
            raise CommandError("The incident is busy; try again in a moment.") from None


def duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w``."""
    found = DURATION.match(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise CommandError(f"{text!r} is no duration: use e.g. 30m, 2h, 1d.")
    return timedelta(seconds=int(found.group(1)) * UNITS[found.group(2)])
