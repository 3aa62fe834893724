"""A node storm as one cluster-level incident.

When the blast radius is breached, the members' node actions are refused and
the storm is one incident per environment for a person, paged once instead
of once per node. Locks are taken member, then storm, never the reverse."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from responder.records.audit import audit_incident
from responder.records.incident import STORM_PREFIX, Incident, ResourceScope
from responder.records.levels import Severity
from responder.records.lifecycle import TRANSITIONS, IncidentState
from responder.store import Store, held_lock

MEMBER_EVENT = "storm_member"
#: a storm is changed in milliseconds; a lock left by a dead replica blocks it briefly
_LOCK_TTL_SECONDS = 15.0
_LOCK_WAIT_SECONDS = 5.0


def storm_key(environment: str) -> str:
    return f"{STORM_PREFIX}{environment}"


def storm_reason(nodes: Iterable[str], limit: int) -> str:
    names = sorted(set(nodes))
    return (
        f"node storm: {len(names)} nodes unhealthy or under remediation "
        f"({', '.join(names)}), the blast-radius limit is {limit}; node actions are refused "
        "until the cluster recovers"
    )


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


@dataclass(eq=False)
class NodeStorms:
    """Opens, updates and settles the storm incident of an environment."""

    store: Store
    clock: Callable[[], datetime]
    notify: Callable[[Incident, str, datetime], None] = lambda incident, why, now: None

    def open_storm(self, environment: str) -> Incident | None:
        found = self.store.open_incident_id(storm_key(environment))
        return self.store.get_incident(found) if found else None

    def breach(self, member: Incident, nodes: Iterable[str], limit: int, now: datetime) -> Incident:
        """Open (or update) the storm for ``member``'s environment, with
        ``member`` and ``nodes`` in it; the caller holds ``member``'s lock."""
        key = storm_key(str(member.environment))
        with held_lock(self.store, f"incident:{key}", _LOCK_TTL_SECONDS, _LOCK_WAIT_SECONDS):
            found = self.store.open_incident_id(key)
            storm = self.store.get_incident(found) if found else None
            nodes = set(nodes) | {member.resource_scope.name}
            if storm is None:
                storm = self._open(member, key, nodes, limit, now)
            else:
                self._update(storm, member, nodes, limit, now)
            self.store.save_incident(storm)
            return storm

    def settle(self, storm: Incident, unhealthy: int, limit: int, now: datetime) -> bool:
        """Under the storm's lock: the breach is over → recovering. True if it moved."""
        if unhealthy > limit or storm.state not in (
            IncidentState.escalated,
            IncidentState.triaged,
        ):
            return False
        storm.move_to(
            IncidentState.recovering,
            f"the node storm is over: {unhealthy} node(s) unhealthy, the limit is {limit}",
            now,
        )
        self._audit("incident.recovering", storm, storm.timeline[-1].detail, now)
        return True

    def settle_open(self, environment: str, unhealthy: int, limit: int, now: datetime) -> None:
        """Settle the environment's open storm, if any (the caller may hold a
        member's lock: member, then storm)."""
        key = storm_key(environment)
        if unhealthy > limit or self.store.open_incident_id(key) is None:
            return
        with held_lock(self.store, f"incident:{key}", _LOCK_TTL_SECONDS, _LOCK_WAIT_SECONDS):
            storm = self.open_storm(environment)
            if storm is not None and self.settle(storm, unhealthy, limit, now):
                self.store.save_incident(storm)

    # inside the storm's lock

    def _open(
        self, member: Incident, key: str, nodes: set[str], limit: int, now: datetime
    ) -> Incident:
        reason = storm_reason(nodes, limit)
        storm = Incident(
            id=secrets.token_hex(8),
            incident_type=member.incident_type,
            domain=member.domain,
            display_name=f"Node storm in {member.environment}",
            severity=Severity.critical,
            confidence=member.confidence,
            environment=member.environment,
            correlation_key=key,
            resource_scope=ResourceScope(kind="cluster", name="cluster"),
            labels={"storm": "node", "storm_limit": str(limit)},
            created_at=now,
            updated_at=now,
        )
        storm.record("observed", f"blast radius breached by {member.id}: {reason}", now)
        storm.move_to(IncidentState.triaged, "a cluster-level node storm", now)
        self._take(storm, member, nodes, limit, now)
        storm.move_to(IncidentState.escalated, reason[:500], now)
        self._audit("incident.open", storm, reason, now)
        self._audit("incident.escalated", storm, reason, now)
        self.notify(storm, "opened", now)
        return storm

    def _update(
        self, storm: Incident, member: Incident, nodes: set[str], limit: int, now: datetime
    ) -> None:
        self._take(storm, member, nodes, limit, now)
        storm.severity = Severity.critical
        if storm.state == IncidentState.escalated:
            return
        if IncidentState.escalated in TRANSITIONS[storm.state]:
            # a storm that had calmed down breaks out again: one page for the new episode
            reason = storm_reason(_split(storm.labels["storm_nodes"]), limit)
            storm.move_to(IncidentState.escalated, reason[:500], now)
            self._audit("incident.escalated", storm, reason, now)
            self.notify(storm, "escalated", now)

    def _take(
        self, storm: Incident, member: Incident, nodes: set[str], limit: int, now: datetime
    ) -> None:
        """Add ``member`` and ``nodes`` to the storm's labels and timeline."""
        known_nodes = set(_split(storm.labels.get("storm_nodes", "")))
        members = _split(storm.labels.get("storm_incidents", ""))
        types = set(_split(storm.labels.get("storm_types", "")))
        if member.id not in members:
            members.append(member.id)
            storm.record(
                MEMBER_EVENT,
                f"{member.id}: {member.incident_type} on node {member.resource_scope.name}",
                now,
            )
        new_nodes = nodes - known_nodes
        if new_nodes and known_nodes:
            storm.record(
                "storm_nodes", f"more nodes unhealthy: {', '.join(sorted(new_nodes))}", now
            )
        storm.labels = {
            **storm.labels,
            "storm_nodes": ",".join(sorted(known_nodes | nodes)),
            "storm_incidents": ",".join(members),
            "storm_types": ",".join(sorted(types | {member.incident_type})),
            "storm_limit": str(limit),
        }
        storm.updated_at = now

    def _audit(self, action: str, storm: Incident, detail: str, now: datetime) -> None:
        audit_incident(self.store, storm, action, detail[:2000], now, storm=True)
