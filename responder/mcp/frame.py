"""The frame every MCP tool runs in: the caller and the role a tool needs,
the audit entry and metric of every call, redaction of what it answers, the
rate limit on proposals, and the incident helpers the tools share."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from responder.accounts.models import Role
from responder.records.audit import audit
from responder.records.incident import Incident, as_json
from responder.records.levels import Environment
from responder.records.redaction import redact
from responder.records.target import Target
from responder.runtime import Runtime
from responder.store import LockBusy, Store, held_lock
from responder.store.windows import WindowCounter

R = TypeVar("R")

#: bump when a tool's name, input schema or output shape changes
#: (the MCP contract test keeps a snapshot of the schemas per version)
CONTRACT_VERSION = "2"

READ_TOOLS = (
    "list_incidents",
    "get_incident",
    "get_incident_type",
    "get_policy_matrix",
    "explain_decision",
    "list_rules",
    "list_approvals",
    "get_audit",
    "draft_rule",
    "automation_readiness",
    "automation_pauses",
)
WRITE_TOOLS = ("collect_evidence", "add_incident_note", "propose_action")
#: the role each tool needs (reads: viewer; anything that changes an incident: operator)
TOOL_ROLES: dict[str, Role] = {
    **{name: Role.viewer for name in READ_TOOLS},
    **{name: Role.operator for name in WRITE_TOOLS},
}
MAX_NOTE = 2000
MAX_RATIONALE = 1000
_LOCK_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the API token's name (the MCP client) and its role."""

    client: str
    role: Role

    @property
    def actor(self) -> str:
        return f"mcp:{self.client}"


class ToolFailure(Exception):
    """A call that cannot be served (unknown incident, bad input, no permission)."""

    def __init__(self, message: str, outcome: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome


class RateLimit:
    """At most ``calls`` per ``per_seconds`` for each client, counted in the
    store (fixed windows, shared by every replica)."""

    def __init__(
        self, store: Store, calls: int, per_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.calls = calls
        self.per_seconds = per_seconds
        self._counter = WindowCounter(store, "mcp:propose", per_seconds, clock)

    def take(self, client: str) -> float:
        """0 when the call may go ahead (and counts it), else seconds to wait."""
        count, left = self._counter.add(client)
        return 0.0 if count <= self.calls else left


_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_COUNTERS_LOCK = threading.Lock()


def calls_counter(registry: CollectorRegistry) -> Counter:
    """``ops_mcp_calls_total{tool, outcome}`` in the runtime's own registry."""
    with _COUNTERS_LOCK:
        found = _COUNTERS.get(registry)
        if found is None:
            found = Counter(
                "ops_mcp_calls",
                "MCP tool calls, by tool and outcome.",
                ["tool", "outcome"],
                registry=registry,
            )
            _COUNTERS[registry] = found
        return found


def _target_key(target: Mapping[str, Any] | None) -> tuple[str, str, str]:
    if not target:
        return ("", "", "")
    return (
        str(target.get("kind", "")).lower(),
        str(target.get("namespace") or ""),
        str(target.get("name", "")),
    )


def _target_text(target: Mapping[str, Any] | None) -> str:
    kind, namespace, name = _target_key(target)
    return "/".join(p for p in (kind, namespace, name) if p) or "-"


def parse_target(value: str | Mapping[str, Any]) -> Target:
    try:
        if isinstance(value, str):
            return Target.parse(value)
        return Target(
            kind=str(value.get("kind", "")),
            namespace=str(value.get("namespace") or "") or None,
            name=str(value.get("name", "")),
        )
    except (ValueError, ValidationError) as exc:
        raise ToolFailure(f"target: expected KIND/NAMESPACE/NAME or KIND/NAME ({exc})") from exc


def _environment(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return Environment(value).value
    except ValueError:
        raise ToolFailure(
            f"environment: must be one of {', '.join(e.value for e in Environment)}, not {value!r}",
            "invalid",
        ) from None


class ToolFrame:
    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime] | None = None,
        propose_limit: RateLimit | None = None,
    ) -> None:
        self.runtime = runtime
        self.clock = clock or runtime.pipeline.clock
        self.propose_limit = propose_limit or RateLimit(runtime.store, 10, 60.0)
        self.calls = calls_counter(runtime.metrics.registry)
        self.lock_ttl = max(15.0, runtime.settings.collector_timeout_seconds + 5.0)

    # the frame every tool runs in: role, audit, metrics

    def call(self, caller: Caller, tool: str, subject: str, work: Callable[[], Any]) -> Any:
        needed = TOOL_ROLES[tool]
        outcome = "ok"
        detail = ""
        try:
            if not caller.role.includes(needed):
                raise ToolFailure(
                    f"{tool} needs the {needed} role; this token is {caller.role}", "forbidden"
                )
            answer = work()
            if isinstance(answer, dict) and isinstance(answer.get("outcome"), str):
                outcome = answer["outcome"]
                detail = str(answer.get("detail", ""))[:500]
            return redact(answer)
        except ToolFailure as exc:
            outcome, detail = exc.outcome, exc.message
            raise
        except Exception as exc:
            outcome, detail = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.calls.labels(tool, outcome).inc()
            audit(
                self.runtime.store,
                actor=caller.actor,
                surface="mcp",
                action=f"mcp.{tool}",
                subject=subject,
                after={"outcome": outcome},
                detail=redact(detail),
            )

    # helpers

    def _incident(self, incident_id: str) -> Incident:
        incident = self.runtime.store.get_incident(incident_id)
        if incident is None:
            raise ToolFailure(f"no incident {incident_id!r}", "not_found")
        return incident

    def _on_incident(self, incident_id: str, change: Callable[[Incident, datetime], R]) -> R:
        """Run ``change`` on a fresh copy under the incident's lock and save it."""
        snapshot = self._incident(incident_id)
        try:
            with held_lock(
                self.runtime.store,
                f"incident:{snapshot.correlation_key}",
                self.lock_ttl,
                _LOCK_WAIT_SECONDS,
            ):
                incident = self._incident(incident_id)
                answer = change(incident, self.clock())
                self.runtime.store.save_incident(incident)
                return answer
        except LockBusy:
            raise ToolFailure("the incident is busy; try again in a moment", "busy") from None

    def _summary(self, incident: Incident) -> dict[str, Any]:
        return {
            "id": incident.id,
            "incident_type": incident.incident_type,
            "domain": incident.domain,
            "state": str(incident.state),
            "severity": str(incident.severity),
            "confidence": str(incident.confidence),
            "environment": str(incident.environment),
            "resource_scope": as_json(incident.resource_scope),
            "display_name": incident.display_name,
            "created_at": incident.created_at.isoformat(),
            "updated_at": incident.updated_at.isoformat(),
            "approval_state": incident.approval_state,
        }
