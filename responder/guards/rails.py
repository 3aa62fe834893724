"""Guard rails of gradual automation, applied after the policy engine.

The policy says what an action may be in principle; the guard rails say what
it may be *now*, given the robot and the cluster. They only tighten, and only
actions that change something. The decision is a pure function of a state
built from the store's small indexes, never from incident bodies."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from responder.guards.automation import AutomationBook, AutomationMode, Pause
from responder.records.incident import STORM_PREFIX, Incident
from responder.records.lifecycle import IncidentState
from responder.records.node_role import (
    CONTROL_PLANE_FACT,
    CONTROL_PLANE_LABELS,
    has_control_plane_label,
)
from responder.records.window import SuppressionWindow
from responder.records.writes import Writes
from responder.sections import GuardSettings
from responder.store import Store
from responder.taxonomy.loader import builtin_taxonomy
from responder.taxonomy.models import CHANGING_CLASSES

NODE_ACTIONS = builtin_taxonomy().node_actions
NODE_INCIDENT_TYPES = frozenset({"node_disk_pressure", "node_unreachable_or_notready"})
GUARDED_CLASSES = CHANGING_CLASSES
WINDOWED_CLASSES = frozenset({"recover", "disruptive"})
STRICTNESS = {"auto": 0, "approval": 1, "shadow": 2, "off": 3, "human_only": 4}
STORM_KEY = "guard:storm"
NODE_ACTION_LOCK = "node-action"
BLOCKING_INDEX = "blocking"


def nodes_index(environment: str) -> str:
    """The index of the unhealthy nodes of ``environment`` (incident id -> node)."""
    return f"nodes:{environment}"


def nodes_lock(environment: str) -> str:
    """Held while a node incident's turn reads and changes the unhealthy nodes,
    so that replicas count them exactly."""
    return f"guard:nodes:{environment}"


def is_node_incident(incident_type: str, correlation_key: str) -> bool:
    return incident_type in NODE_INCIDENT_TYPES and not correlation_key.startswith(STORM_PREFIX)


def guard_entries(
    incident: Incident, blocking_selectors: Sequence[Mapping[str, str]]
) -> dict[str, str]:
    """What ``incident`` puts in the guard rails' indexes: its node while it is
    an open node incident that has not recovered, and its firing alerts that
    match a blocking selector."""
    entries: dict[str, str] = {}
    if not incident.is_open:
        return entries
    if (
        incident.state != IncidentState.recovering
        and incident.resource_scope.kind == "node"
        and is_node_incident(incident.incident_type, incident.correlation_key)
    ):
        entries[nodes_index(str(incident.environment))] = incident.resource_scope.name
    if blocking_selectors:
        names = sorted(
            {
                labels.get("alertname", "alert")
                for labels in firing_alerts([incident])
                if any(matches(s, labels) for s in blocking_selectors)
            }
        )
        if names:
            entries[BLOCKING_INDEX] = ",".join(names)
    return entries


@dataclass(frozen=True)
class GuardSubject:
    """What one decision is about."""

    incident_type: str
    environment: str
    action: str
    action_class: str
    target: Mapping[str, str] | None = None
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    """the incident's labels (for node actions with its alerts' labels)"""


@dataclass(frozen=True)
class GuardState:
    """What the guard rails see of the world at ``at``."""

    at: datetime
    mode: Callable[[str, str], AutomationMode] = lambda t, e: AutomationMode.auto
    pauses: tuple[Pause, ...] = ()
    pause_effect: str = "approval"
    windows: tuple[SuppressionWindow, ...] = ()
    blocking: tuple[str, ...] = ()
    """firing alerts that match a blocking selector, by name"""
    unhealthy_nodes: frozenset[str] = frozenset()
    node_limit: int = 1
    storm_until: datetime | None = None

    def outside_windows(self) -> bool:
        return bool(self.windows) and not any(w.active(self.at) for w in self.windows)


@dataclass(frozen=True)
class GuardNote:
    guard: str
    decision: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"guard": self.guard, "decision": self.decision, "reason": self.reason}


@dataclass(frozen=True)
class GuardVerdict:
    decision: str
    reason: str
    policy_decision: str
    notes: tuple[GuardNote, ...] = ()
    escalate: str | None = None
    """why the incident escalates (a refused node action), or None"""
    breach: bool = False
    """the blast radius is exceeded (opens the storm cooldown)"""

    @property
    def would_have(self) -> str | None:
        return self.policy_decision if self.decision == "shadow" else None

    @property
    def needs_window_override(self) -> bool:
        return any(n.guard == "action_window" for n in self.notes)


def stricter(a: str, b: str) -> str:
    return a if STRICTNESS.get(a, 4) >= STRICTNESS.get(b, 4) else b


def node_limit(max_nodes: int, percent: float, cluster_nodes: int | None) -> int:
    """The larger of the count and the percentage of the cluster (rounded down)."""
    by_percent = math.floor(cluster_nodes * percent / 100) if cluster_nodes else 0
    return max(max_nodes, by_percent)


def judge(decision: str, reason: str, subject: GuardSubject, state: GuardState) -> GuardVerdict:
    """The decision the robot may act on now (never looser than ``decision``)."""
    if subject.action_class not in GUARDED_CLASSES or decision not in ("auto", "approval"):
        return GuardVerdict(decision, reason, decision)
    notes: list[GuardNote] = []
    escalate: str | None = None
    breach = False
    auto = decision == "auto"
    node = (subject.target or {}).get("name", "") if subject.action in NODE_ACTIONS else ""

    if subject.action in NODE_ACTIONS:
        if has_control_plane_label(subject.labels):
            why = f"{subject.action} refused: {node or 'the node'} is a control-plane node"
            notes.append(GuardNote("control_plane", "off", why))
            escalate = why
        affected = set(state.unhealthy_nodes) | ({node} if node else set())
        if len(affected) > state.node_limit:
            why = (
                f"{subject.action} refused: {len(affected)} nodes unhealthy or under "
                f"remediation ({', '.join(sorted(affected))}), the blast-radius limit is "
                f"{state.node_limit}"
            )
            notes.append(GuardNote("blast_radius", "off", why))
            escalate = escalate or why
            breach = True

    mode = state.mode(subject.incident_type, subject.environment)
    if mode == AutomationMode.off:
        notes.append(
            GuardNote(
                "mode",
                "off",
                f"automation mode off for {subject.incident_type} in {subject.environment}",
            )
        )
    elif mode == AutomationMode.shadow:
        notes.append(
            GuardNote(
                "mode",
                "shadow",
                f"automation mode shadow for {subject.incident_type} in {subject.environment}: "
                f"recorded what would have been done ({decision}), nothing executed",
            )
        )
    elif mode == AutomationMode.approval and auto:
        notes.append(
            GuardNote(
                "mode",
                "approval",
                f"automation mode approval for {subject.incident_type} in "
                f"{subject.environment}: automatic decisions ask",
            )
        )

    for pause in state.pauses:
        if pause.active(state.at) and pause.covers(
            subject.environment, subject.incident_type, subject.namespace
        ):
            effect = state.pause_effect if auto else decision
            notes.append(
                GuardNote(
                    "pause",
                    effect,
                    f"automation paused ({pause.id}, {pause.scope}, until "
                    f"{pause.expires_at:%H:%M:%S}Z by {pause.created_by}): {pause.reason}",
                )
            )

    if auto and state.storm_until is not None and state.at < state.storm_until:
        notes.append(
            GuardNote(
                "storm_cooldown",
                "approval",
                f"storm cooldown after a blast-radius breach, until "
                f"{state.storm_until:%H:%M:%S}Z: automatic actions wait",
            )
        )
    if auto and state.blocking:
        notes.append(
            GuardNote(
                "blocking_alert",
                "approval",
                f"blocking alert firing ({', '.join(sorted(state.blocking))}): "
                "automatic actions wait",
            )
        )
    if subject.action_class in WINDOWED_CLASSES and state.outside_windows():
        notes.append(
            GuardNote(
                "action_window",
                "approval",
                f"outside the action windows: {subject.action} needs an approver who "
                "overrides the window",
            )
        )

    final, final_reason = decision, reason
    for item in notes:
        if STRICTNESS[item.decision] > STRICTNESS[final]:
            final, final_reason = item.decision, item.reason
    return GuardVerdict(final, final_reason, decision, tuple(notes), escalate, breach)


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def firing_alerts(incidents: Iterable[Incident]) -> list[Mapping[str, str]]:
    return [
        alert.labels
        for incident in incidents
        for alert in incident.alerts.values()
        if alert.status == "firing"
    ]


def subject_of(
    incident: Incident, action: str, action_class: str, target: Mapping[str, str] | None
) -> GuardSubject:
    labels: Mapping[str, str] = incident.labels
    if action in NODE_ACTIONS:
        # every alert's labels: one of them may carry the node's role
        merged: dict[str, str] = {}
        for alert in incident.alerts.values():
            merged.update(alert.labels)
        # the role the Kubernetes evidence collectors read from the Node
        # object (its labels or control-plane taint): the fact
        # ``control_plane_node`` about the incident's own node
        own_node = (target or {}).get("name") in (None, incident.resource_scope.name)
        if own_node and incident.facts.get(CONTROL_PLANE_FACT):
            merged[CONTROL_PLANE_LABELS[0]] = "true"
        labels = {**merged, **incident.labels}
    namespace = (target or {}).get("namespace") or incident.resource_scope.namespace
    return GuardSubject(
        incident_type=incident.incident_type,
        environment=str(incident.environment),
        action=action,
        action_class=action_class,
        target=target,
        namespace=namespace or None,
        labels=labels,
    )


@dataclass(eq=False)
class GuardRails:
    """Builds ``GuardState`` snapshots from the store and keeps the storm key."""

    store: Store
    automation: AutomationBook
    settings: GuardSettings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    node_limit: int = field(init=False)

    def __post_init__(self) -> None:
        radius = self.settings.blast_radius
        self.node_limit = node_limit(
            radius.max_unhealthy_nodes, radius.max_unhealthy_percent, radius.cluster_nodes
        )

    def snapshot(self, at: datetime | None = None) -> GuardState:
        """The guard rails' state now (read from the indexes)."""
        return self.view(at or self.clock()).state()

    def view(self, now: datetime) -> GuardView:
        """What a batch of updates starts from: the indexes as they are now."""
        return GuardView(
            at=now,
            rails=self,
            blocking=self.store.index(BLOCKING_INDEX) if self.settings.blocking_alerts else {},
            storm_until=self.storm_until(now),
        )

    def open_storm(self, now: datetime, writes: Writes) -> datetime | None:
        """(Re)start the storm cooldown at ``now``; until when it runs."""
        seconds = self.settings.blast_radius.storm_cooldown_seconds
        if seconds <= 0:
            return None
        writes.set_key(STORM_KEY, now.isoformat(), float(seconds))
        return now + timedelta(seconds=seconds)

    def storm_until(self, now: datetime) -> datetime | None:
        opened = self.store.get_key(STORM_KEY)
        if opened is None:
            return None
        until = datetime.fromisoformat(opened) + timedelta(
            seconds=self.settings.blast_radius.storm_cooldown_seconds
        )
        return until if now < until else None

    def outside_windows(self, action_class: str, at: datetime | None = None) -> bool:
        """Whether an action of ``action_class`` needs a window override now."""
        if action_class not in WINDOWED_CLASSES or not self.settings.action_windows:
            return False
        moment = at or self.clock()
        return not any(w.active(moment) for w in self.settings.action_windows)


@dataclass
class GuardView:
    """The guard rails' view for one batch of updates: the indexes as read at
    its start, kept up to date with each update of the batch."""

    at: datetime
    rails: GuardRails
    blocking: dict[str, str]
    """incident id -> its firing blocking alerts (comma-separated)"""
    storm_until: datetime | None
    decided: dict[tuple[object, ...], GuardVerdict] = field(default_factory=dict)
    """guarded decisions by what decided them, while the view stays as it is"""
    _state: GuardState | None = None
    _nodes: dict[str, str] | None = None

    @property
    def nodes(self) -> dict[str, str]:
        """Incident id -> the node it stands for (open node incidents not
        recovered); read when a node incident's turn first needs it."""
        if self._nodes is None:
            environment = str(self.rails.settings.environment)
            self._nodes = self.rails.store.index(nodes_index(environment))
            self.changed()
        return self._nodes

    def state(self) -> GuardState:
        if self._state is None:
            self._state = self._fresh_state()
        return self._state

    def judge(self, decision: str, reason: str, subject: GuardSubject) -> GuardVerdict:
        """``judge`` against this view, kept for the subjects that decide alike."""
        node = (subject.target or {}).get("name", "") if subject.action in NODE_ACTIONS else ""
        key = (
            decision,
            reason,
            subject.incident_type,
            subject.environment,
            subject.action,
            subject.action_class,
            subject.namespace,
            node,
            bool(node) and has_control_plane_label(subject.labels),
        )
        found = self.decided.get(key)
        if found is None:
            found = self.decided[key] = judge(decision, reason, subject, self.state())
        return found

    def changed(self) -> None:
        """What the view holds changed: decide afresh."""
        self._state = None
        self.decided.clear()

    def _fresh_state(self) -> GuardState:
        rails = self.rails
        names = {name for value in self.blocking.values() for name in value.split(",") if name}
        # only a node incident has node actions: without one the nodes are not read
        nodes = self._nodes or {}
        return GuardState(
            at=self.at,
            mode=lambda t, e: rails.automation.mode(t, e)[0],
            pauses=tuple(rails.automation.active_pauses(self.at)),
            pause_effect=rails.settings.pause_effect,
            windows=tuple(rails.settings.action_windows),
            blocking=tuple(sorted(names)),
            unhealthy_nodes=frozenset(nodes.values()),
            node_limit=rails.node_limit,
            storm_until=self.storm_until
            if self.storm_until and self.at < self.storm_until
            else None,
        )

    def take(self, incident: Incident) -> None:
        """Count ``incident`` as it stands now (the batch's later updates see it)."""
        entries = guard_entries(incident, self.rails.settings.blocking_alerts)
        node = entries.get(nodes_index(str(incident.environment)))
        counted = is_node_incident(incident.incident_type, incident.correlation_key)
        nodes = self.nodes if counted or self._nodes is not None else {}
        before = (nodes.get(incident.id), self.blocking.get(incident.id))
        if node is None:
            nodes.pop(incident.id, None)
        else:
            nodes[incident.id] = node
        blocking = entries.get(BLOCKING_INDEX)
        if blocking is None:
            self.blocking.pop(incident.id, None)
        else:
            self.blocking[incident.id] = blocking
        if (node, blocking) != before:
            self.changed()


def explain_with_guards(base: Mapping[str, Any], guarded: GuardVerdict) -> dict[str, Any]:
    """The explain answer of a decision with the guard rails applied: the
    five policy layers unchanged, the guard rails in ``guards``."""
    answer = dict(base)
    answer["policy_decision"] = guarded.policy_decision
    answer["decision"] = guarded.decision
    answer["reason"] = guarded.reason
    answer["guards"] = [n.as_json() for n in guarded.notes]
    return answer
