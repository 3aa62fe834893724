"""The append-only audit log entry: who changed or decided what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from responder.records.incident import Incident, utcnow


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    at: datetime = Field(default_factory=utcnow)
    actor: str
    surface: str
    action: str
    subject: str
    before: Any = None
    after: Any = None
    detail: str = ""


class AuditLog(Protocol):
    """Where entries go: the store, or a batch of writes."""

    def append_audit(self, entry: AuditEntry, /) -> object: ...


def audit(
    log: AuditLog,
    *,
    actor: str,
    surface: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    """Append one entry to ``log``, made at ``at`` (default: now)."""
    log.append_audit(
        AuditEntry(
            actor=actor,
            surface=surface,
            action=action,
            subject=subject,
            before=before,
            after=after,
            detail=detail,
            at=at or utcnow(),
        )
    )


def audit_incident(
    log: AuditLog,
    incident: Incident,
    action: str,
    detail: str,
    at: datetime,
    surface: str = "worker",
    **after: Any,
) -> None:
    """An entry by the robot about ``incident``: its state, and ``after``."""
    audit(
        log,
        actor="robot",
        surface=surface,
        action=action,
        subject=f"incident:{incident.id}",
        after={"state": incident.state, **after},
        detail=detail,
        at=at,
    )
