"""What the MCP tools do, independent of the transport: plain methods over
the runtime, each taking the ``Caller`` and answering a JSON-ready dict.

The safety rules are enforced here, not by the client: answers are redacted,
proposals go through the policy engine and the action runner, and no tool
approves, edits policy, pauses or changes a mode."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from responder.actions.feasibility import explain_here
from responder.admin import whatif
from responder.api.taxonomy import taxonomy_document
from responder.mcp.frame import Caller, ToolFailure, _environment
from responder.mcp.writes import WriteTools
from responder.policy.engine import DEFAULT_POLICIES_DIR
from responder.policy.explain import ExplainError, parse_request
from responder.policy.rules import RuleRejected
from responder.records.levels import Confidence, Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.redaction import redact
from responder.store import IncidentFilter


class McpTools(WriteTools):
    """Every tool of the MCP server: the reads below, the writes of ``WriteTools``."""

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
                runtime = self.runtime
                return explain_here(
                    runtime.policy, parse_request(body), runtime.guards, runtime.feasibility
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
            book = self.runtime.approval_requests
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
            chosen_env = _environment(environment)
            rows = marks.readiness(incident_type or None, chosen_env)
            return {"bar": marks.bar.model_dump(), "classes": rows}

        subject = "automation:readiness"
        return dict(self.call(caller, "automation_readiness", subject, work))

    def automation_pauses(self, caller: Caller) -> dict[str, Any]:
        """The pauses in force, as ``GET /api/v1/automation/pause`` lists them."""

        def work() -> dict[str, Any]:
            book = self.runtime.automation
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
