"""What the MCP tools do, independent of the transport: plain synchronous
methods over the runtime, each taking the ``Caller`` (the token's name and
role) and answering a JSON-ready dict.

The safety rules, enforced here and not by the client:

- read tools only read; every answer passes through ``redact`` (no secret,
  token or password value leaves, whatever the evidence or labels hold);
- ``collect_evidence`` re-runs the read-only collectors, nothing else;
- ``add_incident_note`` only appends a timeline entry marked ``mcp:<client>``
  (and tells the incident's chat thread when channels are configured);
- ``propose_action`` decides with the policy engine on the incident's
  current evidence (collected again first, as an approval answer is): ``auto``
  goes through the act stage and the action runner (cooldown, lock, dry-run,
  record), and only for a high-confidence incident; ``approval`` becomes an
  approval request in the normal channels whose "why now" carries the
  rationale and "proposed by mcp:<client>"; ``human_only`` and ``off`` are
  refused with the trace. Proposals are rate limited per client;
- ``draft_rule`` validates and previews an operator rule; it never saves;
- ``automation_readiness`` and ``automation_pauses`` read the promotion
  evidence and the active pauses; no tool marks an incident, pauses,
  resumes or changes an automation mode (writes by an AI client there need
  a decision of their own).

No tool approves, edits policies or rules, runs a command or returns a secret.
Every call is audited with actor ``mcp:<client>`` and counted in
``ops_mcp_calls_total{tool, outcome}``.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from responder.accounts.models import Role
from responder.actions.stage import record, target_of
from responder.admin import whatif
from responder.api.taxonomy import taxonomy_document
from responder.approvals.ask import why_now
from responder.approvals.desk import NOT_ACTING
from responder.guards.explain import explain_guarded
from responder.policy.engine import DEFAULT_POLICIES_DIR
from responder.policy.explain import ExplainError, parse_request
from responder.policy.rules import RuleRejected
from responder.policy.stage import incident_view
from responder.records.action import ActionRequest
from responder.records.audit import AuditEntry
from responder.records.incident import Incident, RecommendedAction, as_json
from responder.records.levels import Confidence, Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.records.update import PlannedRun
from responder.runtime import Runtime
from responder.store import IncidentFilter, LockBusy, held_lock

R = TypeVar("R")

#: bump when a tool's name, input schema or output shape changes
#: (tests/mcp/test_contract.py keeps a snapshot of the schemas per version)
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
ACTING_CLASSES = frozenset({"contain", "recover"})
MAX_NOTE = 2000
MAX_RATIONALE = 1000
_LOCK_WAIT_SECONDS = 10.0

_SECRET_KEY = re.compile(
    r"secret|token|passw|credential|api[_-]?key|private[_-]?key|authorization|cookie|"
    r"dockerconfig|\.dockercfg|session",
    re.IGNORECASE,
)
_SECRET_TEXT = [
    re.compile(r"rsre_[A-Za-z0-9]+_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)\s*[=:]\s*[^\s,;\"']+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abpr]-[A-Za-z0-9\-]+"),
]
REDACTED = "[redacted]"
#: keys whose values are identifiers, not secrets, even though the name matches
_NOT_SECRET_KEYS = frozenset({"missing_pull_secret", "token_id"})


def redact(value: Any) -> Any:
    """``value`` with every secret-looking field and string masked."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text_key = str(key)
            if (
                _SECRET_KEY.search(text_key)
                and text_key not in _NOT_SECRET_KEYS
                and isinstance(item, str | bytes | int | float)
                and not isinstance(item, bool)
            ):
                out[text_key] = REDACTED
            else:
                out[text_key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        for pattern in _SECRET_TEXT:
            value = pattern.sub(REDACTED, value)
        return value
    return value


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
    """At most ``calls`` per ``per_seconds`` for each client (sliding window)."""

    def __init__(
        self, calls: int, per_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.calls = calls
        self.per_seconds = per_seconds
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the call may go ahead (and counts it), else seconds to wait."""
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and now - seen[0] >= self.per_seconds:
                seen.popleft()
            if len(seen) >= self.calls:
                return self.per_seconds - (now - seen[0])
            seen.append(now)
            return 0.0


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


class McpTools:
    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime] | None = None,
        propose_limit: RateLimit | None = None,
    ) -> None:
        self.runtime = runtime
        self.clock = clock or runtime.pipeline.clock
        self.propose_limit = propose_limit or RateLimit(10, 60.0)
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
            self.runtime.store.append_audit(
                AuditEntry(
                    actor=caller.actor,
                    surface="mcp",
                    action=f"mcp.{tool}",
                    subject=subject,
                    after={"outcome": outcome},
                    detail=redact(detail),
                )
            )

    # read

    def list_incidents(
        self,
        caller: Caller,
        state: str | None = None,
        incident_type: str | None = None,
        environment: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            try:
                chosen_state = IncidentState(state) if state else None
            except ValueError:
                raise ToolFailure(
                    f"unknown state {state!r}; one of {', '.join(IncidentState)}"
                ) from None
            try:
                chosen_env = Environment(environment) if environment else None
            except ValueError:
                raise ToolFailure(f"unknown environment {environment!r}") from None
            if not 1 <= limit <= 500 or offset < 0:
                raise ToolFailure("limit must be 1-500 and offset at least 0")
            query = IncidentFilter(
                state=chosen_state,
                incident_type=incident_type or None,
                environment=chosen_env,
                limit=limit,
                offset=offset,
            )
            found = self.runtime.store.list_incidents(query)
            return {
                "incidents": [self._summary(i) for i in found],
                "count": len(found),
                "limit": limit,
                "offset": offset,
            }

        return dict(self.call(caller, "list_incidents", "incidents", work))

    def get_incident(self, caller: Caller, incident_id: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            incident = self._incident(incident_id)
            record = incident.to_record()
            return {
                "incident": {
                    k: v
                    for k, v in record.items()
                    if k not in ("decisions", "timeline", "signals", "alerts")
                },
                "alerts": record.get("alerts", {}),
                "evidence": {
                    "summary": incident.evidence_summary,
                    "confidence": str(incident.confidence),
                    "signals": record.get("signals", []),
                },
                "decisions": record.get("decisions", []),
                "timeline": record.get("timeline", []),
            }

        return dict(self.call(caller, "get_incident", f"incident:{incident_id}", work))

    def get_incident_type(self, caller: Caller, incident_type: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            known = self.runtime.taxonomy.incident_types.get(incident_type)
            if known is None:
                raise ToolFailure(f"unknown incident type {incident_type!r}")
            return {"incident_type": known.model_dump(mode="json")}

        return dict(self.call(caller, "get_incident_type", f"type:{incident_type}", work))

    def get_policy_matrix(self, caller: Caller) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            document = taxonomy_document(self.runtime.taxonomy)
            return {"version": document["version"], "policy_matrix": document["policy_matrix"]}

        return dict(self.call(caller, "get_policy_matrix", "policy", work))

    def explain_decision(self, caller: Caller, request: Mapping[str, Any]) -> dict[str, Any]:
        """The explain contract: the same answer as ``robot-sre explain --json``."""

        def work() -> dict[str, Any]:
            body = {k: v for k, v in request.items() if v is not None}
            try:
                return explain_guarded(
                    self.runtime.policy, parse_request(body), self.runtime.guards
                )
            except ExplainError as exc:
                raise ToolFailure(f"{exc.field}: {exc.message}") from exc

        return dict(self.call(caller, "explain_decision", "policy", work))

    def list_rules(self, caller: Caller) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            rules = self.runtime.rules.all()
            return {"rules": [r.model_dump(mode="json") for r in rules]}

        return dict(self.call(caller, "list_rules", "rules", work))

    def list_approvals(
        self, caller: Caller, incident_id: str | None = None, state: str | None = None
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            book = self.runtime.approvals
            if book is None:
                return {"approvals": []}
            now = self.clock()
            found = book.for_incident(incident_id) if incident_id else book.all()
            rows = []
            for approval in found:
                record = approval.model_dump(mode="json")
                record["state"] = approval.state_at(now)
                if state and record["state"] != state:
                    continue
                rows.append(record)
            return {"approvals": rows}

        return dict(self.call(caller, "list_approvals", "approvals", work))

    def get_audit(
        self, caller: Caller, subject: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            if not 1 <= limit <= 1000:
                raise ToolFailure("limit must be 1-1000")
            entries = self.runtime.store.list_audit(limit, subject or None)
            return {"entries": [e.model_dump(mode="json") for e in entries]}

        return dict(self.call(caller, "get_audit", "audit", work))

    def automation_readiness(
        self,
        caller: Caller,
        incident_type: str | None = None,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """The promotion bar and the readiness rows, as ``GET
        /api/v1/automation/readiness`` answers them."""

        def work() -> dict[str, Any]:
            marks = self.runtime.marks
            if marks is None:
                raise ToolFailure(
                    "incident marks are not configured in this responder", "unavailable"
                )
            chosen_env = _environment(environment)
            rows = marks.readiness(incident_type or None, chosen_env)
            return {"bar": marks.settings.promotion_bar.model_dump(), "classes": rows}

        subject = "automation:readiness"
        return dict(self.call(caller, "automation_readiness", subject, work))

    def automation_pauses(self, caller: Caller) -> dict[str, Any]:
        """The pauses in force, as ``GET /api/v1/automation/pause`` lists them."""

        def work() -> dict[str, Any]:
            book = self.runtime.automation
            if book is None:
                raise ToolFailure(
                    "automation guard rails are not configured in this responder", "unavailable"
                )
            pauses = book.active_pauses()
            return {"pauses": [p.as_json() for p in pauses], "count": len(pauses)}

        return dict(self.call(caller, "automation_pauses", "automation:pauses", work))

    def draft_rule(
        self,
        caller: Caller,
        rule: Mapping[str, Any],
        severity: str | None = None,
        confidence: str = "high",
    ) -> dict[str, Any]:
        """Validate ``rule`` as a save would and preview it; never saves."""

        def work() -> dict[str, Any]:
            try:
                draft = self.runtime.rules.validate(dict(rule))
            except RuleRejected as exc:
                return {
                    "outcome": "invalid",
                    "valid": False,
                    "detail": exc.message,
                    "errors": [
                        {"field": exc.field, "message": exc.message, "boundary": exc.boundary}
                    ],
                }
            try:
                chosen_severity = Severity(severity) if severity else None
                chosen_confidence = Confidence(confidence)
            except ValueError as exc:
                raise ToolFailure(str(exc)) from exc
            preview = whatif.preview(
                self.runtime.policy,
                draft,
                self.runtime.rules.active(),
                self.clock(),
                chosen_severity,
                chosen_confidence,
            )
            return {
                "outcome": "ok",
                "valid": True,
                "saved": False,
                "rule": draft.model_dump(mode="json"),
                "preview": {
                    "incident_type": preview.incident_type,
                    "severity": preview.severity,
                    "confidence": preview.confidence,
                    "environments": preview.environments,
                    "applies": preview.applies,
                    "changed": preview.changed,
                    "rows": [
                        {
                            "action": row.action,
                            "action_class": row.action_class,
                            "target": row.target,
                            "cells": [
                                {
                                    "environment": cell.environment,
                                    "before": cell.before["decision"],
                                    "after": cell.after["decision"],
                                    "changed": cell.changed,
                                    "clamped": cell.clamped,
                                }
                                for cell in row.cells
                            ],
                        }
                        for row in preview.rows
                    ],
                },
            }

        return dict(self.call(caller, "draft_rule", "rules", work))

    # observe

    def collect_evidence(self, caller: Caller, incident_id: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            observer = self.runtime.observer

            def change(incident: Incident, now: datetime) -> dict[str, Any]:
                if observer is None or not observer.serves(incident):
                    return {
                        "outcome": "no_collectors",
                        "detail": f"no collector serves {incident.incident_type} here",
                        "collectors": [],
                        "summaries": [],
                        "confidence": str(incident.confidence),
                        "signals": as_json(incident.signals),
                    }
                observation = observer.observe(incident, now)
                for summary in observation.summaries:
                    incident.record("evidence", summary[:1000], now)
                incident.record("evidence_requested", f"collected for {caller.actor}", now)
                return {
                    "outcome": "ok",
                    "collectors": list(observation.collectors),
                    "summaries": list(observation.summaries),
                    "exit_criteria_met": observation.exit_criteria_met,
                    "confidence": str(incident.confidence),
                    "signals": as_json(incident.signals),
                }

            return self._on_incident(incident_id, change)

        return dict(self.call(caller, "collect_evidence", f"incident:{incident_id}", work))

    # notify

    def add_incident_note(self, caller: Caller, incident_id: str, text: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            cleaned = text.strip()
            if not cleaned or len(cleaned) > MAX_NOTE:
                raise ToolFailure(f"text must be 1-{MAX_NOTE} characters")
            cleaned = str(redact(cleaned))

            def change(incident: Incident, now: datetime) -> dict[str, Any]:
                incident.record("agent_note", f"{caller.actor}: {cleaned}", now)
                return {"outcome": "ok", "at": now.isoformat(), "author": caller.actor}

            answer = self._on_incident(incident_id, change)
            chatops = self.runtime.chatops
            if chatops is not None and chatops.chat_channels:
                fresh = self.runtime.store.get_incident(incident_id)
                if fresh is not None:
                    chatops.notifier.incident(
                        fresh, f"note from {caller.actor}: {cleaned[:300]}", self.clock()
                    )
                    answer["chat"] = list(chatops.chat_channels)
            return answer

        return dict(self.call(caller, "add_incident_note", f"incident:{incident_id}", work))

    # propose

    def propose_action(
        self,
        caller: Caller,
        incident_id: str,
        action: str,
        target: str | Mapping[str, Any],
        rationale: str,
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            wait = self.propose_limit.take(caller.client)
            if wait > 0:
                raise ToolFailure(
                    f"rate limited: at most {self.propose_limit.calls} proposals per "
                    f"{self.propose_limit.per_seconds:g}s; try again in {wait:.0f}s",
                    "rate_limited",
                )
            return self._propose(caller, incident_id, action, target, rationale)

        subject = f"incident:{incident_id}"
        return dict(self.call(caller, "propose_action", subject, work))

    def _propose(
        self,
        caller: Caller,
        incident_id: str,
        action: str,
        target: str | Mapping[str, Any],
        rationale: str,
    ) -> dict[str, Any]:
        runtime = self.runtime
        if action not in runtime.taxonomy.actions:
            raise ToolFailure(f"unknown action {action!r}")
        why = " ".join(rationale.split())
        if not why or len(why) > MAX_RATIONALE:
            raise ToolFailure(f"rationale must be 1-{MAX_RATIONALE} characters")
        wanted = parse_target(target)
        wanted_key = _target_key(wanted.as_dict())
        act = runtime.pipeline.stages.act
        planned: list[PlannedRun] = []

        def decide(incident: Incident, now: datetime) -> dict[str, Any]:
            base = {"incident_id": incident.id, "action": action, "target": wanted.as_dict()}
            if incident.state in NOT_ACTING:
                return {
                    **base,
                    "outcome": "refused",
                    "detail": f"the incident is {incident.state}: the robot does not act on it",
                }
            looked = runtime.pipeline.look_again(incident, now)
            runtime.store.commit(looked.writes)
            recommendations = looked.recommendations
            decision = runtime.policy.decide(incident_view(incident, now), action, wanted, at=now)
            trace = decision.explain()
            base["trace"] = trace
            base["confidence"] = str(incident.confidence)
            incident.record(
                "agent_proposal",
                f"{caller.actor} proposed {action} on {_target_text(wanted_key_map())}: {why}",
                now,
            )
            matches = [
                r
                for r in recommendations
                if r.action == action and r.target and _target_key(r.target) == wanted_key
            ]
            if not matches:
                return {
                    **base,
                    "outcome": "refused",
                    "decision": trace["decision"],
                    "detail": f"on the current evidence the robot does not consider {action} "
                    f"on {_target_text(wanted_key_map())} for this incident; candidates: "
                    + ", ".join(
                        f"{r.action} on {_target_text(r.target)}"
                        for r in recommendations
                        if r.target
                    ),
                }
            rec = matches[0]
            base["decision"] = rec.decision
            if rec.decision in ("human_only", "off"):
                return {
                    **base,
                    "outcome": "refused",
                    "detail": f"the policy decision is {rec.decision}: {rec.reason}",
                }
            if rec.decision == "auto":
                return self._auto(incident, rec, base, planned, now)
            if rec.decision == "approval":
                return self._ask(caller, incident, rec, why, base, now)
            return {**base, "outcome": "refused", "detail": f"unknown decision {rec.decision}"}

        def wanted_key_map() -> dict[str, str]:
            return wanted.as_dict()

        answer = self._on_incident(incident_id, decide)
        if planned:
            snapshot = self._incident(incident_id)
            override = runtime.pipeline.cooldown_override(snapshot, self.clock())
            runs = act.run(snapshot, planned, override)

            def put_runs(incident: Incident, now: datetime) -> None:
                record(incident, runs, now)

            self._on_incident(incident_id, put_runs)
            results = []
            for run in runs:
                executed = run.executed
                result = executed.result if executed is not None else run.outcome.result
                results.append({"result": result, "detail": run.outcome.detail})
            answer["runs"] = results
            ran = [r for r in results if r["result"] in ("succeeded", "dry_run")]
            answer["outcome"] = "executed" if ran else "skipped"
            answer["detail"] = "; ".join(str(r["detail"]) for r in results)[:500]
        return answer

    def _auto(
        self,
        incident: Incident,
        rec: RecommendedAction,
        base: dict[str, Any],
        planned: list[PlannedRun],
        now: datetime,
    ) -> dict[str, Any]:
        if rec.action_class not in ACTING_CLASSES:
            return {
                **base,
                "outcome": "refused",
                "detail": f"{rec.action} is {rec.action_class}: nothing to run "
                "(use collect_evidence or add_incident_note)",
            }
        if incident.confidence != Confidence.high:
            return {
                **base,
                "outcome": "refused",
                "detail": f"the incident's confidence is {incident.confidence}: "
                "the robot acts on its own only at high confidence",
            }
        if rec.target is None:
            return {**base, "outcome": "skipped", "detail": "the act stage planned no run"}
        request = ActionRequest(
            action=rec.action, target=target_of(rec.target), incident_id=incident.id
        )
        planned.append(PlannedRun(request, rec.decision, rec.action_class))
        return {**base, "outcome": "executing", "detail": rec.reason}

    def _ask(
        self,
        caller: Caller,
        incident: Incident,
        rec: RecommendedAction,
        why: str,
        base: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        book = self.runtime.approvals
        if book is None:
            return {**base, "outcome": "refused", "detail": "approvals are not configured"}
        text = f"proposed by {caller.actor}: {why} | {why_now(incident, rec, now)}"
        created = book.request(incident, rec, text, now)
        incident.approval_state = book.incident_state(incident.id, now)
        if created is None:
            pending = [
                a
                for a in book.for_incident(incident.id)
                if a.action == rec.action
                and _target_key(a.target) == _target_key(rec.target)
                and a.state_at(now) == "pending"
            ]
            return {
                **base,
                "outcome": "already_pending" if pending else "not_asked",
                "approval_id": pending[0].id if pending else None,
                "detail": "an approval request for this action and target is already pending"
                if pending
                else "not asked again: a person denied it for this incident",
            }
        incident.record("approval_requested", f"{created.id}: {created.prompt(now)}", now)
        return {
            **base,
            "outcome": "approval_requested",
            "approval_id": created.id,
            "why_now": created.why_now,
            "detail": f"approval request {created.id}",
        }

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

    # resources

    def incident_record(self, incident_id: str) -> dict[str, Any]:
        return dict(redact(self._incident(incident_id).to_record()))

    def policy_files(self) -> dict[str, str]:
        configured = self.runtime.settings.policies_dir
        root = Path(configured) if configured else DEFAULT_POLICIES_DIR
        return {
            str(path.relative_to(root)): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.yaml"))
            if "tests" not in path.relative_to(root).parts
        }
