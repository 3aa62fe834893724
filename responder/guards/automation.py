"""Pauses and automation modes in the store: versioned, audited documents,
read through a cache at most ``refresh_seconds`` old so that replicas see a
pause within a second.

An absent mode is the default: ``auto`` for built-in types, ``shadow`` for
others. A mode only tightens, so none is looser than the hard constraints."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from responder.records.audit import audit
from responder.records.levels import Environment
from responder.records.validation import FieldError, validated
from responder.store import Store, VersionConflict

PAUSES = "automation_pauses"
MODES = "automation"
MODES_DOC = "modes"
MAX_PAUSE_SECONDS = 7 * 24 * 3600


class AutomationMode(StrEnum):
    off = "off"
    shadow = "shadow"
    approval = "approval"
    auto = "auto"


class AutomationError(FieldError):
    pass


class AutomationConflict(RuntimeError):
    pass


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=500)
    duration_seconds: int = Field(gt=0, le=MAX_PAUSE_SECONDS)
    environment: Environment | None = None
    incident_type: str | None = Field(default=None, min_length=1, max_length=100)
    namespace: str | None = Field(default=None, min_length=1, max_length=253)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why the robot is paused")
        return value.strip()


class Pause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    reason: str
    environment: Environment | None = None
    incident_type: str | None = None
    namespace: str | None = None
    created_by: str
    created_at: datetime
    expires_at: datetime

    def active(self, at: datetime) -> bool:
        return self.created_at <= at < self.expires_at

    def covers(self, environment: str, incident_type: str, namespace: str | None) -> bool:
        return (
            (self.environment is None or self.environment == environment)
            and (self.incident_type is None or self.incident_type == incident_type)
            and (self.namespace is None or self.namespace == namespace)
        )

    @property
    def scope(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("environment", self.environment),
                ("type", self.incident_type),
                ("namespace", self.namespace),
            )
            if value is not None
        ]
        return ", ".join(parts) or "the whole robot"

    def as_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "scope": self.scope}


class ModeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_type: str
    environment: Environment
    mode: AutomationMode


def _key(incident_type: str, environment: str) -> str:
    return f"{incident_type}|{environment}"


class AutomationBook:
    def __init__(
        self,
        store: Store,
        builtin_types: Iterable[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.builtin_types = frozenset(builtin_types)
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._pauses: tuple[Pause, ...] = ()
        self._modes: tuple[int, dict[str, AutomationMode]] = (0, {})

    # reading (cached)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at < self.refresh_seconds:
            return
        with self._lock:
            if now - self._loaded_at < self.refresh_seconds:
                return
            self._pauses = tuple(
                Pause.model_validate(doc) for _, doc in self.store.list_documents(PAUSES)
            )
            found = self.store.get_document(MODES, MODES_DOC)
            if found is None:
                self._modes = (0, {})
            else:
                version, doc = found
                self._modes = (
                    version,
                    {k: AutomationMode(v) for k, v in dict(doc.get("modes", {})).items()},
                )
            self._loaded_at = now

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def active_pauses(self, at: datetime | None = None) -> list[Pause]:
        """The pauses in force at ``at`` (default: now); ones that ran out
        are deleted from the store on the way."""
        self._refresh()
        moment = at or self.clock()
        if any(p.expires_at <= moment for p in self._pauses):
            self.expire(moment)
            self._refresh()
        return [p for p in self._pauses if p.active(moment)]

    def default_mode(self, incident_type: str) -> AutomationMode:
        return AutomationMode.auto if incident_type in self.builtin_types else AutomationMode.shadow

    def mode(self, incident_type: str, environment: str) -> tuple[AutomationMode, bool]:
        """The mode of (type, environment) and whether it was set (not the default)."""
        self._refresh()
        found = self._modes[1].get(_key(incident_type, environment))
        if found is None:
            return self.default_mode(incident_type), False
        return found, True

    def modes(self, types: Iterable[str]) -> dict[str, Any]:
        """The whole matrix for ``types`` by environment, with the document version."""
        self._refresh()
        version, stored = self._modes
        rows = []
        for incident_type in sorted(set(types) | {k.split("|")[0] for k in stored}):
            for environment in Environment:
                mode, set_ = self.mode(incident_type, environment.value)
                rows.append(
                    {
                        "incident_type": incident_type,
                        "environment": environment.value,
                        "mode": mode.value,
                        "source": "set" if set_ else "default",
                    }
                )
        return {"version": version, "modes": rows}

    # writing

    def pause(self, body: Mapping[str, Any], actor: str, surface: str) -> Pause:
        asked = validated(PauseRequest, body, AutomationError)
        now = self.clock()
        pause = Pause(
            id=f"pause-{uuid.uuid4().hex[:12]}",
            reason=asked.reason,
            environment=asked.environment,
            incident_type=asked.incident_type,
            namespace=asked.namespace,
            created_by=actor,
            created_at=now,
            expires_at=now + timedelta(seconds=asked.duration_seconds),
        )
        self.store.put_document(PAUSES, pause.id, pause.model_dump(mode="json"), 0)
        self.invalidate()
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="automation.pause",
            subject=f"pause:{pause.id}",
            after=pause.as_json(),
            detail=f"paused {pause.scope} until {pause.expires_at:%Y-%m-%d %H:%M:%S}Z: "
            f"{pause.reason}",
            at=now,
        )
        return pause

    def resume(self, pause_id: str, actor: str, surface: str) -> Pause | None:
        """Lift the pause; None when there is no such (live) pause."""
        found = self.store.get_document(PAUSES, pause_id)
        if found is None:
            return None
        pause = Pause.model_validate(found[1])
        if not self.store.delete_document(PAUSES, pause_id):
            return None
        self.invalidate()
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="automation.resume",
            subject=f"pause:{pause_id}",
            before=pause.as_json(),
            detail=f"resumed {pause.scope}",
            at=self.clock(),
        )
        return pause

    def expire(self, at: datetime | None = None) -> list[str]:
        """Delete the pauses that have run out (the listing already hides them)."""
        moment = at or self.clock()
        gone = []
        for _, doc in self.store.list_documents(PAUSES):
            pause = Pause.model_validate(doc)
            if pause.expires_at <= moment and self.store.delete_document(PAUSES, pause.id):
                gone.append(pause.id)
        if gone:
            self.invalidate()
        return gone

    def set_modes(
        self,
        entries: Iterable[Mapping[str, Any]],
        known_types: Iterable[str],
        actor: str,
        surface: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        known = set(known_types)
        parsed: list[ModeEntry] = []
        for index, raw in enumerate(entries):
            try:
                entry = ModeEntry.model_validate(dict(raw))
            except (ValidationError, TypeError, ValueError) as exc:
                message = (
                    exc.errors(include_url=False)[0]["msg"]
                    if isinstance(exc, ValidationError)
                    else str(exc)
                )
                raise AutomationError(f"modes[{index}]", message) from exc
            if entry.incident_type not in known:
                raise AutomationError(
                    f"modes[{index}].incident_type",
                    f"unknown incident type {entry.incident_type!r}",
                )
            parsed.append(entry)
        if not parsed:
            raise AutomationError("modes", "name at least one incident_type/environment/mode")
        current = self.store.get_document(MODES, MODES_DOC)
        version, before = current if current is not None else (0, {"modes": {}})
        expected = version if expected_version is None else expected_version
        modes = dict(before.get("modes", {}))
        for entry in parsed:
            modes[_key(entry.incident_type, entry.environment.value)] = entry.mode.value
        try:
            saved = self.store.put_document(MODES, MODES_DOC, {"modes": modes}, expected)
        except VersionConflict as exc:
            raise AutomationConflict(
                f"the automation modes changed since version {expected}; reload and retry"
            ) from exc
        self.invalidate()
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="automation.modes",
            subject="automation:modes",
            before={"version": version, **before},
            after={"version": saved, "modes": modes},
            detail=", ".join(f"{e.incident_type} in {e.environment}: {e.mode}" for e in parsed),
            at=self.clock(),
        )
        return {"version": saved}

    def mode_history(self) -> list[dict[str, Any]]:
        return [{"version": v, **doc} for v, doc in self.store.document_history(MODES, MODES_DOC)]
