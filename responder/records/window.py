"""Recurring weekly windows: when notifications are quiet, when actions may run."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SuppressionWindow(BaseModel):
    """A recurring window in which matching incidents notify nobody."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Day, ...] = DAYS
    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def active(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        day = DAYS[local.weekday()]
        now = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return day in self.days and self.start <= now < self.end
        # crosses midnight: the part after midnight belongs to the previous day
        previous = DAYS[(local.weekday() - 1) % 7]
        return (day in self.days and now >= self.start) or (
            previous in self.days and now < self.end
        )
