"""The in-app inbox: the channel that is always there.

One entry per incident, edited rather than repeated like a chat thread: the
latest text, the events operators were told of, and what each chat channel
did with them. Approval requests are kept apart and are listed
next to these entries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from responder.records.incident import Incident
from responder.records.writes import Writes
from responder.store import Store

log = logging.getLogger(__name__)

COLLECTION = "inbox"
#: events and deliveries kept per entry (oldest dropped first)
MAX_ENTRIES = 50


@dataclass(eq=False)
class Inbox:
    store: Store

    def incident(
        self,
        incident: Incident,
        why: str,
        text: str,
        now: datetime,
        *,
        detail: str | None = None,
        paused_until: datetime | None = None,
        writes: Writes | None = None,
        new: bool = False,
    ) -> None:
        """Record a notification: the entry now shows ``text``; its event
        says ``detail`` (default: ``text``). ``paused_until``: a pause of
        automation covers the incident until then."""
        attention = incident.incident_type == "chatops_delivery_failure"

        def change(doc: dict[str, Any]) -> None:
            doc.update(
                {
                    "incident_id": incident.id,
                    "incident_type": incident.incident_type,
                    "display_name": incident.display_name,
                    "severity": str(incident.severity),
                    "environment": str(incident.environment),
                    "state": str(incident.state),
                    "text": text,
                    "attention": attention or doc.get("attention", False),
                    "automation_paused_until": paused_until.isoformat() if paused_until else None,
                    "updated_at": now.isoformat(),
                }
            )
            doc.setdefault("created_at", now.isoformat())
            event = {"at": now.isoformat(), "event": why, "detail": detail or text}
            _append(doc, "events", event)

        self._change(incident.id, change, writes, new)

    def event(
        self,
        incident_id: str,
        event: str,
        detail: str,
        now: datetime,
        writes: Writes | None = None,
    ) -> None:
        def change(doc: dict[str, Any]) -> None:
            doc.setdefault("incident_id", incident_id)
            doc.setdefault("created_at", now.isoformat())
            doc["updated_at"] = now.isoformat()
            _append(doc, "events", {"at": now.isoformat(), "event": event, "detail": detail})

        self._change(incident_id, change, writes)

    def deliveries(self, incident_id: str, results: list[dict[str, str]], now: datetime) -> None:
        """What the chat channels did with one message (one write per message)."""
        if not results:
            return

        def change(doc: dict[str, Any]) -> None:
            doc.setdefault("incident_id", incident_id)
            doc.setdefault("created_at", now.isoformat())
            for result in results:
                _append(doc, "deliveries", {"at": now.isoformat(), **result})

        self._change(incident_id, change)

    def entries(self, limit: int = 100, incident_id: str | None = None) -> list[dict[str, Any]]:
        """Entries, most recently updated first."""
        found = [doc for _, doc in self.store.list_documents(COLLECTION)]
        if incident_id is not None:
            found = [d for d in found if d.get("incident_id") == incident_id]
        found.sort(
            key=lambda d: str(d.get("updated_at") or d.get("created_at") or ""), reverse=True
        )
        return found[:limit]

    def _change(
        self,
        incident_id: str,
        change: Callable[[dict[str, Any]], None],
        writes: Writes | None = None,
        new: bool = False,
    ) -> None:
        """Change the entry with ``writes`` (stored with them), or now
        (``new``: the incident has no entry yet)."""
        batch = writes if writes is not None else Writes()
        batch.change_document(COLLECTION, incident_id, change, lambda: {"id": incident_id}, new)
        if writes is None:
            self.store.commit(batch)


def _append(doc: dict[str, Any], key: str, item: dict[str, Any]) -> None:
    items = list(doc.get(key) or [])
    items.append(item)
    doc[key] = items[-MAX_ENTRIES:]
