"""The append-only audit log entry: who changed or decided what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from responder.records.incident import utcnow


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
