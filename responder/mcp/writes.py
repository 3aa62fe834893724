"""The MCP tools that change an incident: collect evidence, add a note,
propose an action (run when the policy lets the robot act on its own, asked
for approval when it needs one, refused otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from responder.actions.feasibility import CannotRun
from responder.actions.stage import ACTING_CLASSES
from responder.approvals.ask import why_now
from responder.mcp.frame import (
    MAX_NOTE,
    MAX_RATIONALE,
    Caller,
    ToolFailure,
    ToolFrame,
    _target_key,
    _target_text,
    parse_target,
)
from responder.policy.stage import incident_view
from responder.records.action import record_runs, requested
from responder.records.incident import Incident, RecommendedAction, as_json
from responder.records.levels import Confidence
from responder.records.lifecycle import NOT_ACTING
from responder.records.redaction import redact
from responder.records.update import RECOMMEND, PlannedRun


class WriteTools(ToolFrame):
    # observe

    def collect_evidence(self, caller: Caller, incident_id: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            observer = self.runtime.observer

            def change(incident: Incident, now: datetime) -> dict[str, Any]:
                if not observer.serves(incident):
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
            if chatops.chat_channels:
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
            if rec.decision in ("human_only", "off", RECOMMEND):
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
                record_runs(incident, runs, now)

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
        planned.append(PlannedRun(requested(rec, incident.id), rec.decision, rec.action_class))
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
        book = self.runtime.approval_requests
        if book is None:
            return {**base, "outcome": "refused", "detail": "approvals are not configured"}
        text = f"proposed by {caller.actor}: {why} | {why_now(incident, rec, now)}"
        try:
            created = self.runtime.pipeline.stages.ask.request(incident, rec, text, now)
        except CannotRun as exc:
            return {**base, "outcome": "refused", "detail": f"cannot run here: {exc}"}
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
