"""The incident record (spec section 13) and the values attached to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from responder.records.levels import Confidence, Environment, Severity
from responder.records.lifecycle import TRANSITIONS, IncidentState, check_transition

UNCLASSIFIED = "unclassified"
#: the correlation key of an environment's node storm incident starts so
STORM_PREFIX = "node_storm|cluster|"
#: the most entries an incident keeps of each history; an incident that stays
#: open for weeks must not grow a record without bound
HISTORY_LIMITS = {"timeline": 300, "decisions": 50, "executed_actions": 200}
TIMELINE_HEAD = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_json(value: object) -> Any:
    """A record value (or a list of them) as JSON data."""
    return TypeAdapter(type(value)).dump_python(value, mode="json")


# The values an incident holds are plain frozen dataclasses (pydantic
# validates and serialises them as part of the incident): a storm makes
# tens of thousands of them, and they are made far more cheaply than models.


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceScope:
    """What the incident is about: a node, a workload, a service or the cluster."""

    kind: str
    namespace: str | None = None
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace or ''}/{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Signal:
    """One piece of evidence. ``strength`` feeds the confidence band;
    ``direct`` marks an error reported by the failing component itself."""

    name: str
    strength: Literal["strong", "weak"]
    source: str
    detail: str = ""
    direct: bool = False
    checks: int = 1
    observed_at: datetime = field(default_factory=utcnow)


#: the value of an action's param the evidence names (JSON: the incident is stored so)
ParamValue = str | int | bool


@dataclass(frozen=True, kw_only=True, slots=True)
class NamedTarget:
    """A target the evidence names for one of the incident's actions (for
    example the noisy CronJob whose suspension would contain a disk-pressure
    incident). ``source`` is the collector that named it; ``params`` are the
    action's params the evidence names for it (the container and the image
    to go back to), left out of the hash so that the record stays hashable."""

    action: str
    kind: str
    namespace: str | None = None
    name: str
    source: str
    params: dict[str, ParamValue] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertRef:
    """An Alertmanager alert as it last reached the incident."""

    fingerprint: str
    alertname: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    received: int = 1
    window_opened_at: datetime | None = None
    """when its duplicate-suppression window opened (None: closed by a resolve)"""


@dataclass(frozen=True, kw_only=True, slots=True)
class RecommendedAction:
    action: str
    action_class: str
    decision: str
    reason: str
    target: dict[str, str] | None = None
    would_have: str | None = None
    """under ``shadow``: the decision the robot would have acted on"""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutedAction:
    """Who did what to which target, when, and how it ended. For a write,
    ``previous`` is the state before it and ``inverse`` the request that
    undoes it (None when nothing can)."""

    action: str
    target: dict[str, str] | None = None
    actor: str
    result: Literal["succeeded", "failed", "refused", "dry_run", "skipped", "shadow"]
    detail: str = ""
    at: datetime = field(default_factory=utcnow)
    previous: dict[str, Any] | None = None
    inverse: dict[str, Any] | None = None
    approval_id: str | None = None


class LadderPosition(BaseModel):
    """Where the incident stands on its type's escalation ladder:
    the step (0-based) it is on, since
    when, and when the ladder escalated it (the climb ends there)."""

    model_config = ConfigDict(extra="forbid")

    step: int = 0
    step_id: str
    entered_at: datetime
    escalated_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineEntry:
    at: datetime = field(default_factory=utcnow)
    event: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Acknowledgement:
    """A person took the incident: no re-page while it stays in ``state``
    at ``severity`` (a move to another state ends it)."""

    by: str
    at: datetime
    state: IncidentState
    severity: Severity


@dataclass(frozen=True, kw_only=True, slots=True)
class SilenceRef:
    """The Alertmanager silences a person made for the incident's alerts
    (one per alert name)."""

    ids: tuple[str, ...]
    by: str
    at: datetime
    ends_at: datetime


class Incident(BaseModel):
    """One open or past problem: every field of spec section 13 plus identity,
    domain, lifecycle state, timestamps and the alerts it came from."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: str
    incident_type: str
    domain: str | None
    display_name: str
    severity: Severity
    confidence: Confidence
    environment: Environment
    state: IncidentState = IncidentState.observed
    correlation_key: str
    signal_sources: list[str] = Field(default_factory=list)
    resource_scope: ResourceScope
    evidence_summary: str = ""
    raw_evidence_refs: list[str] = Field(default_factory=list)
    signals: list[Signal] = Field(default_factory=list)
    recommended_actions: list[RecommendedAction] = Field(default_factory=list)
    executed_actions: list[ExecutedAction] = Field(default_factory=list)
    approval_state: Literal[
        "none", "pending", "approved", "denied", "expired", "superseded", "failed"
    ] = "none"
    alerts: dict[str, AlertRef] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    facts: dict[str, bool | int] = Field(default_factory=dict)
    named_targets: list[NamedTarget] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    history_dropped: dict[str, int] = Field(default_factory=dict)
    """entries dropped from the oldest end of each bounded history (see
    ``HISTORY_LIMITS``), by history"""
    duplicates_suppressed: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    recovering_since: datetime | None = None
    resolved_at: datetime | None = None
    ladder: LadderPosition | None = None
    """None for an incident stored before ladders existed: its first poll
    puts it on its ladder's first step"""
    polled_at: datetime | None = None
    """when the robot last looked at it again (evidence, decisions, ladder)"""
    suppressed_until: datetime | None = None
    acknowledged: Acknowledgement | None = None
    silence: SilenceRef | None = None

    @property
    def pages_held(self) -> bool:
        """Acknowledged, and still in the state and severity it was acknowledged in."""
        ack = self.acknowledged
        return ack is not None and (ack.state, ack.severity) == (self.state, self.severity)

    @property
    def fingerprints(self) -> list[str]:
        return sorted(self.alerts)

    @property
    def is_open(self) -> bool:
        return self.state != IncidentState.resolved

    @property
    def is_storm(self) -> bool:
        """A node storm: one cluster-level incident for a blast-radius breach."""
        return self.correlation_key.startswith(STORM_PREFIX)

    @property
    def firing_alerts(self) -> int:
        return sum(1 for alert in self.alerts.values() if alert.status == "firing")

    def move_to(self, target: IncidentState, reason: str, at: datetime) -> None:
        """Change state through the lifecycle table; an illegal move raises."""
        check_transition(self.state, target)
        self.timeline.append(TimelineEntry(at=at, event=f"state:{target}", detail=reason))
        self.state = target
        self.acknowledged = None  # an acknowledgement holds pages for one state
        self.updated_at = at
        if target == IncidentState.recovering:
            self.recovering_since = at
        elif target == IncidentState.resolved:
            self.resolved_at = at
        else:
            self.recovering_since = None

    def try_move(self, target: IncidentState, reason: str, at: datetime) -> bool:
        """Move when the lifecycle table allows it; False when it does not (or
        the incident is there already)."""
        if self.state == target or target not in TRANSITIONS[self.state]:
            return False
        self.move_to(target, reason, at)
        return True

    def record(self, event: str, detail: str, at: datetime) -> None:
        self.timeline.append(TimelineEntry(at=at, event=event, detail=detail))
        self.updated_at = at

    def note(self, event: str, detail: str, at: datetime) -> None:
        """A timeline entry, unless the same one is among the last few already
        (a cooldown seen on every poll is one note, not one per minute)."""
        if any(e.event == event and e.detail == detail for e in self.timeline[-20:]):
            return
        self.record(event, detail, at)

    def compact(self) -> None:
        """Keep each history within ``HISTORY_LIMITS``, the oldest entries
        dropped first (a timeline keeps its first ``TIMELINE_HEAD``: how it
        opened) and counted in ``history_dropped``."""
        for name, limit in HISTORY_LIMITS.items():
            entries: list[Any] = getattr(self, name)
            over = len(entries) - limit
            if over > 0:
                head = TIMELINE_HEAD if name == "timeline" else 0
                del entries[head : head + over]
                self.history_dropped[name] = self.history_dropped.get(name, 0) + over

    def to_record(self) -> dict[str, Any]:
        """The JSON form served by the API (adds the derived fingerprints)."""
        record = self.model_dump(mode="json")
        record["fingerprints"] = self.fingerprints
        return record
