"""Promotion by evidence: people mark incidents, the responder says per class
(incident type x environment) whether the robot has earned a looser mode.

Marks are versioned, audited documents. Promotion itself is a person's act:
nothing here changes a mode."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from responder.guards.automation import AutomationBook, AutomationMode
from responder.metrics import Metrics
from responder.records.audit import audit
from responder.records.incident import UNCLASSIFIED, Incident
from responder.records.levels import Environment
from responder.records.validation import FieldError, validated
from responder.settings import PromotionBar
from responder.store import IncidentFilter, Store, VersionConflict

MARKS = "incident_marks"
PAGE = 500
KINDS = ("classification", "action")


class Verdict(StrEnum):
    right = "right"
    false_positive = "false_positive"


class MarkError(FieldError):
    pass


class MarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    classification: Verdict | None = None
    action: Verdict | None = None
    rolled_back: StrictBool | None = None
    note: str | None = Field(default=None, max_length=500)

    @field_validator("note")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@dataclass
class _Tally:
    shadow_decisions: int = 0
    marked: int = 0
    action_verdicts: int = 0
    action_right: int = 0
    classification_verdicts: int = 0
    false_positives: int = 0
    rollbacks: list[datetime] = field(default_factory=list)


def _parse(body: Mapping[str, Any]) -> MarkRequest:
    asked = validated(MarkRequest, body, MarkError)
    if asked.classification is None and asked.action is None and asked.rolled_back is None:
        raise MarkError(
            "classification", "give at least one of classification, action, rolled_back"
        )
    return asked


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}".removesuffix(".0") + "%"


def _ago(at: datetime, now: datetime) -> str:
    days = int((now - at).total_seconds() // 86400)
    if days <= 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


def undone_robot_actions(incident: Incident) -> list[datetime]:
    """When a person ran the recorded inverse of a robot write on ``incident``."""
    undone: list[datetime] = []
    robot_writes = []
    for executed in incident.executed_actions:
        if executed.result != "succeeded":
            continue
        if executed.actor == "robot":
            if executed.inverse is not None:
                robot_writes.append(executed)
            continue
        for earlier in robot_writes:
            assert earlier.inverse is not None
            if (
                earlier.at <= executed.at
                and earlier.inverse.get("action") == executed.action
                and earlier.inverse.get("target") == executed.target
            ):
                undone.append(executed.at)
                robot_writes.remove(earlier)
                break
    return undone


@dataclass(eq=False)
class MarkBook:
    store: Store
    automation: AutomationBook
    bar: PromotionBar
    metrics: Metrics
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    cannot_run: Callable[[str], list[str]] = lambda incident_type: []
    """why the actions a promotion would let the robot run on its own
    cannot run here, by incident type (none: they can)"""

    # marks

    def mark(
        self, incident_id: str, body: Mapping[str, Any], actor: str, surface: str
    ) -> dict[str, Any]:
        """Record a person's verdict on an incident, replacing any earlier one.

        Raises ``MarkError`` on a bad body, ``LookupError`` for an unknown incident."""
        asked = _parse(body)
        incident = self.store.get_incident(incident_id)
        if incident is None:
            raise LookupError(f"no incident {incident_id!r}")
        now = self.clock()
        doc = {
            "incident_id": incident.id,
            "incident_type": incident.incident_type,
            "environment": str(incident.environment),
            "classification": asked.classification.value if asked.classification else None,
            "action": asked.action.value if asked.action else None,
            "rolled_back": asked.rolled_back,
            "note": asked.note,
            "marked_by": actor,
            "marked_at": now.isoformat(),
        }
        while True:
            found = self.store.get_document(MARKS, incident.id)
            expected, before = found if found is not None else (0, None)
            try:
                version = self.store.put_document(MARKS, incident.id, doc, expected)
            except VersionConflict:
                continue  # marked meanwhile: this mark replaces that one too
            break
        for kind in KINDS:
            if doc[kind] == Verdict.false_positive and (before or {}).get(kind) != doc[kind]:
                self.metrics.false_positives.labels(
                    incident.incident_type, str(incident.environment), kind
                ).inc()
        mark = {**doc, "version": version}
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="incident.mark",
            subject=f"incident:{incident.id}",
            before={**before, "version": expected} if before is not None else None,
            after=mark,
            detail=self._describe(mark),
            at=now,
        )
        return mark

    @staticmethod
    def _describe(mark: Mapping[str, Any]) -> str:
        said = [f"{kind} {mark[kind]}" for kind in KINDS if mark[kind] is not None]
        if mark["rolled_back"] is not None:
            said.append("rolled back" if mark["rolled_back"] else "not rolled back")
        text = f"marked {mark['incident_type']} in {mark['environment']}: {', '.join(said)}"
        return f"{text} ({mark['note']})" if mark["note"] else text

    def get(self, incident_id: str) -> dict[str, Any] | None:
        found = self.store.get_document(MARKS, incident_id)
        if found is None:
            return None
        version, doc = found
        return {**doc, "version": version}

    # readiness

    def _incidents(self, incident_type: str | None, environment: str | None) -> Iterator[Incident]:
        """Every incident matching, page by page; an incident that a newer
        one pushed onto the next page meanwhile is given once."""
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.store.list_incidents(
                IncidentFilter(
                    incident_type=incident_type,
                    environment=environment,
                    limit=PAGE,
                    offset=offset,
                )
            )
            for incident in page:
                if incident.id not in seen:
                    seen.add(incident.id)
                    yield incident
            if len(page) < PAGE:
                return
            offset += PAGE

    def _candidates(
        self,
        marks: Iterable[Mapping[str, Any]],
        incident_type: str | None,
        environment: str | None,
    ) -> list[tuple[str, str]]:
        """The classes an overview reads the incidents of: those not in
        ``auto`` (on their way to promotion) and those with a mark. A class
        already in ``auto`` without marks has nothing to earn, and reading
        its incidents would make the overview cost one parse per incident
        ever stored (seconds with 10,000)."""
        types = set(self.automation.builtin_types) | {UNCLASSIFIED}
        found: set[tuple[str, str]] = set()
        for type_ in types:
            for env in Environment:
                if self.automation.mode(type_, env.value)[0] != AutomationMode.auto:
                    found.add((type_, env.value))
        for mark in marks:
            found.add((str(mark.get("incident_type")), str(mark.get("environment"))))
        return sorted(
            (t, e)
            for t, e in found
            if (incident_type is None or t == incident_type)
            and (environment is None or e == environment)
        )

    def readiness(
        self, incident_type: str | None = None, environment: str | None = None
    ) -> list[dict[str, Any]]:
        """One row per incident type x environment that has incidents and is
        not in ``auto`` or has a mark (``_candidates``), and the asked class
        when both are given (read in full whatever its mode), ordered by
        type, environment."""
        now = self.clock()
        bar = self.bar
        window_start = now - timedelta(days=bar.rollback_free_days)
        marks = {doc["incident_id"]: doc for _, doc in self.store.list_documents(MARKS)}
        tallies: dict[tuple[str, str], _Tally] = {}
        if incident_type is not None and environment is not None:
            tallies[(incident_type, environment)] = _Tally()
            incidents: Iterable[Incident] = self._incidents(incident_type, environment)
        else:
            incidents = (
                incident
                for type_, env in self._candidates(marks.values(), incident_type, environment)
                for incident in self._incidents(type_, env)
            )
        for incident in incidents:
            tally = tallies.setdefault(
                (incident.incident_type, str(incident.environment)), _Tally()
            )
            tally.shadow_decisions += sum(
                1 for a in incident.executed_actions if a.result == "shadow"
            )
            tally.rollbacks += undone_robot_actions(incident)
            mark = marks.get(incident.id)
            if mark is None:
                continue
            tally.marked += 1
            if mark.get("action") is not None:
                tally.action_verdicts += 1
                tally.action_right += mark["action"] == Verdict.right
            if mark.get("classification") is not None:
                tally.classification_verdicts += 1
                tally.false_positives += mark["classification"] == Verdict.false_positive
            if mark.get("rolled_back"):
                tally.rollbacks.append(datetime.fromisoformat(mark["marked_at"]))
        return [
            self._row(type_, env, tally, now, window_start)
            for (type_, env), tally in sorted(tallies.items())
        ]

    def _row(
        self,
        incident_type: str,
        environment: str,
        tally: _Tally,
        now: datetime,
        window_start: datetime,
    ) -> dict[str, Any]:
        bar = self.bar
        agreement = tally.action_right / tally.action_verdicts if tally.action_verdicts else None
        false_positive = (
            tally.false_positives / tally.classification_verdicts
            if tally.classification_verdicts
            else None
        )
        recent = sorted(at for at in tally.rollbacks if at >= window_start)
        missing: list[str] = []
        if tally.shadow_decisions < bar.min_shadow_decisions:
            missing.append(
                f"{tally.shadow_decisions} of {bar.min_shadow_decisions} shadow decisions"
            )
        if agreement is None:
            missing.append(
                f"no action verdicts yet (agreement must reach {_percent(bar.min_agreement)})"
            )
        elif agreement < bar.min_agreement - 1e-9:
            missing.append(f"agreement {_percent(agreement)} < {_percent(bar.min_agreement)}")
        if recent:
            text = f"rolled back {_ago(recent[-1], now)}"
            if len(recent) > 1:
                text += f" ({len(recent)} rollbacks in {bar.rollback_free_days} days)"
            missing.append(text)
        missing += [f"cannot run here: {why}" for why in self.cannot_run(incident_type)]
        last = max(tally.rollbacks, default=None)
        return {
            "incident_type": incident_type,
            "environment": environment,
            "mode": self.automation.mode(incident_type, environment)[0].value,
            "shadow_decisions": tally.shadow_decisions,
            "marked": tally.marked,
            "agreement_rate": agreement,
            "false_positive_rate": false_positive,
            "rollbacks": len(recent),
            "last_rollback_at": last.isoformat() if last is not None else None,
            "ready": not missing,
            "missing": missing,
            "bar": bar.model_dump(),
        }
