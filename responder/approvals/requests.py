"""Approval requests kept in the store as versioned documents.

Every change is a compare-and-set on the document's version, so two replicas
(or two clicks) never both approve, deny or consume one request; a guard key
per (incident, action, target) keeps one pending request at a time. A denied
request is not asked again for the same incident; an expired one may be."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prometheus_client import Counter

from responder.actions.feasibility import Planned
from responder.metrics import Metrics
from responder.records.action import ActionRequest
from responder.records.approval import ApprovalError, ApprovalRequest, ApprovalState
from responder.records.audit import AuditLog, audit
from responder.records.incident import Incident, RecommendedAction
from responder.records.writes import DocumentPut, Writes
from responder.store import Store, VersionConflict
from responder.taxonomy.models import Taxonomy

log = logging.getLogger(__name__)

COLLECTION = "approvals"
WAITS = "approval-waits"
#: the moves that record who answered, when and how
DECIDED = frozenset({"approved", "denied", "expired", "superseded"})
#: how long a denial keeps the robot from asking again for the same incident
DENIAL_MEMORY_SECONDS = 7 * 24 * 3600.0
IncidentApprovalState = Literal[
    "none", "pending", "approved", "denied", "expired", "superseded", "failed"
]
RequestListener = Callable[[ApprovalRequest, Incident, Writes], None]


def target_key(target: dict[str, str]) -> str:
    return f"{target.get('kind', '')}/{target.get('namespace') or ''}/{target.get('name', '')}"


class ApprovalRequests:
    def __init__(
        self,
        store: Store,
        taxonomy: Taxonomy,
        metrics: Metrics,
        expiry_seconds: int = 600,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        expiry_overrides: Mapping[str, int] | None = None,
        listeners: Sequence[RequestListener] = (),
    ) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.metrics = metrics
        self.expiry_seconds = expiry_seconds
        self.clock = clock
        self.expiry_overrides = dict(expiry_overrides or {})
        unknown = sorted(set(self.expiry_overrides) - set(taxonomy.actions))
        if unknown:
            raise ValueError(f"approval_expiry_per_action: unknown action(s) {', '.join(unknown)}")
        # each is called as listener(approval, incident, writes) for every new
        # request; what it writes goes with the request
        self._listeners = tuple(listeners)

    def expiry_for(self, action: str) -> int:
        return self.expiry_overrides.get(action, self.expiry_seconds)

    # requests

    def request(
        self,
        incident: Incident,
        recommendation: RecommendedAction,
        why_now: str,
        now: datetime,
        writes: Writes | None = None,
        fresh: bool = False,
        planned: Callable[[], Planned] | None = None,
    ) -> ApprovalRequest | None:
        """Create a pending request for the recommendation's action and
        target, unless one is already pending; return the new request or None.

        With ``writes`` the request is stored with them (the caller holds the
        incident's lock, which keeps requests for it one at a time); a
        ``fresh`` incident (opened in this turn) has no requests to look up.
        ``planned`` plans the change shown in the prompt, only when a request
        is to be made; its ``CannotRun`` propagates, and nothing is kept."""
        if recommendation.target is None:
            raise ApprovalError(f"{recommendation.action}: no target to ask approval for")
        guard = self._guard(incident.id, recommendation.action, recommendation.target)
        if not fresh:
            if self.store.get_key(self._denied(guard)) is not None:
                return None  # a person said no: not asked again for this incident
            existing = self.store.get_key(guard)
            if existing is not None:
                found = self.get(existing)
                if found is None or found.state_at(now) == "pending":
                    return None  # pending, or being written by another replica right now
                if writes is None:
                    self.store.delete_key(guard, expected=existing)
        # prefixed by the incident, so that its requests are read by an id
        # range rather than a scan of every request (and short enough for a
        # signed Telegram button)
        plan = planned() if planned is not None else None
        approval_id = f"{incident.id}-{secrets.token_hex(4)}"
        expiry = self.expiry_for(recommendation.action)
        batch = writes if writes is not None else Writes()
        if writes is not None:
            batch.set_key(guard, approval_id, float(expiry))
        elif not self.store.set_if_absent(guard, approval_id, float(expiry)):
            return None
        spec = self.taxonomy.actions[recommendation.action]
        approval = ApprovalRequest(
            id=approval_id,
            incident_id=incident.id,
            incident_type=incident.incident_type,
            environment=str(incident.environment),
            action=recommendation.action,
            action_class=recommendation.action_class,
            action_name=spec.display_name,
            target=dict(recommendation.target),
            why_now=why_now,
            evidence=incident.evidence_summary[:1000],
            expected_impact=spec.expected_impact or "see the action's runbook.",
            rollback=spec.rollback or "none recorded; see the action's runbook.",
            policy_reason=recommendation.reason,
            params=dict(recommendation.params),
            change=[c.as_dict() for c in plan.plan.diff] if plan else [],
            plan_summary=plan.plan.summary if plan else "",
            undo=plan.undo if plan else "",
            requested_at=now,
            expires_at=now + timedelta(seconds=expiry),
        )
        batch.put(DocumentPut(COLLECTION, approval_id, approval.model_dump(mode="json"), 0))
        self.metrics.approvals_requested.labels(
            incident.incident_type, recommendation.action, str(incident.environment)
        ).inc()
        _audit(batch, "approval.request", approval, None, approval.prompt(now), now)
        for listener in self._listeners:
            try:
                listener(approval, incident, batch)
            except Exception:  # a channel must never stop the request being kept
                log.exception("approval %s: a listener failed", approval_id)
        if writes is None:
            self.store.commit(batch)
        return approval

    def get(self, approval_id: str) -> ApprovalRequest | None:
        found = self.store.get_document(COLLECTION, approval_id)
        return ApprovalRequest.model_validate(found[1]) if found else None

    def for_incident(self, incident_id: str) -> list[ApprovalRequest]:
        """Every request of the incident, oldest first."""
        found = [
            ApprovalRequest.model_validate(doc)
            for _, doc in self.store.list_documents(COLLECTION, prefix=f"{incident_id}-")
            if doc.get("incident_id") == incident_id
        ]
        return sorted(found, key=lambda a: a.requested_at)

    def incident_state(self, incident_id: str, now: datetime) -> IncidentApprovalState:
        """``pending`` while any request waits; else the latest request's end."""
        requests = self.for_incident(incident_id)
        if not requests:
            return "none"
        states = [a.state_at(now) for a in requests]
        if "pending" in states:
            return "pending"
        last = states[-1]
        return "approved" if last == "executed" else last

    def pending(self, now: datetime) -> list[ApprovalRequest]:
        """Requests still waiting for an answer, oldest first."""
        found = [
            ApprovalRequest.model_validate(doc)
            for _, doc in self.store.list_documents(COLLECTION)
            if doc.get("state") == "pending"
        ]
        return sorted(
            (a for a in found if a.state_at(now) == "pending"), key=lambda a: a.requested_at
        )

    def all(self) -> list[ApprovalRequest]:
        """Every request kept, newest first."""
        found = [
            ApprovalRequest.model_validate(d) for _, d in self.store.list_documents(COLLECTION)
        ]
        return sorted(found, key=lambda a: a.requested_at, reverse=True)

    # decisions

    def grant(
        self, approval_id: str, actor: str, note: str = "", via: str | None = None
    ) -> ApprovalRequest:
        """pending → approved (compare-and-set: of two answers one wins)."""
        return self._answer(
            approval_id, "approved", self.metrics.approvals_granted, actor, note, via
        )

    def deny(
        self, approval_id: str, actor: str, note: str = "", via: str | None = None
    ) -> ApprovalRequest:
        """pending → denied; the robot does not ask again for the incident."""
        return self._answer(approval_id, "denied", self.metrics.approvals_denied, actor, note, via)

    def _answer(
        self,
        approval_id: str,
        state: ApprovalState,
        answers: Counter,
        actor: str,
        note: str,
        via: str | None,
    ) -> ApprovalRequest:
        approval = self._move(approval_id, ("pending",), state, actor, note, via)
        answers.labels(approval.incident_type, approval.action, approval.environment).inc()
        return approval

    def fail(self, approval_id: str, reason: str) -> ApprovalRequest:
        """approved or executed → failed: the approved action could not run
        after all (no executor, its plan refused) or its run failed."""
        self.stop_waiting(approval_id)
        return self._move(approval_id, ("approved", "executed"), "failed", "robot", reason)

    def expire(self, approval_id: str) -> ApprovalRequest:
        return self._move(approval_id, ("expired",), "expired", "robot", "expired unanswered")

    def supersede(
        self, approval_id: str, reason: str, actor: str = "robot", via: str | None = None
    ) -> ApprovalRequest:
        """pending → superseded: the answer came, but the robot will not act
        (the incident resolved or the decision changed); ``reason`` says why."""
        return self._move(approval_id, ("pending",), "superseded", actor, reason, via)

    def lapse(self, approval_id: str, reason: str) -> ApprovalRequest:
        """approved → expired: a waiting approval outlived its expiry unrun."""
        self.stop_waiting(approval_id)
        return self._move(approval_id, ("approved",), "expired", "robot", reason)

    def withdraw(self, approval_id: str, reason: str) -> ApprovalRequest:
        """approved → superseded: the robot will not carry out a waiting
        approval any more (the incident resolved or the decision changed)."""
        self.stop_waiting(approval_id)
        return self._move(approval_id, ("approved",), "superseded", "robot", reason)

    # approved node actions waiting for the one in flight

    def wait(
        self, approval: ApprovalRequest, why: str, now: datetime, override_window: bool = False
    ) -> None:
        """Keep the approved ``approval`` waiting until it can run
        (``override_window``: the approver let it run outside the action windows)."""
        self.store.put_document(
            WAITS,
            approval.id,
            {
                "approval_id": approval.id,
                "why": why,
                "since": now.isoformat(),
                "override_window": override_window,
            },
        )
        _audit(self.store, "approval.waiting", approval, approval.state, why, now)

    def waiting(self) -> list[tuple[ApprovalRequest, str]]:
        """The approvals waiting to run, oldest first, with why they wait."""
        found: list[tuple[str, ApprovalRequest, str]] = []
        for _, doc in self.store.list_documents(WAITS):
            approval = self.get(str(doc.get("approval_id", "")))
            if approval is None:
                self.store.delete_document(WAITS, str(doc.get("approval_id", "")))
                continue
            found.append((str(doc.get("since", "")), approval, str(doc.get("why", ""))))
        return [(a, why) for _, a, why in sorted(found, key=lambda f: f[0])]

    def wait_overrides_window(self, approval_id: str) -> bool:
        """Whether the approver of the waiting ``approval_id`` overrode the action windows."""
        found = self.store.get_document(WAITS, approval_id)
        return found is not None and bool(found[1].get("override_window"))

    def stop_waiting(self, approval_id: str) -> None:
        self.store.delete_document(WAITS, approval_id)

    def consume(self, approval_id: str, request: ActionRequest, actor: str) -> ApprovalRequest:
        """Use an approved request once, for exactly its incident, action and target."""
        approval = self.get(approval_id)
        if approval is None:
            raise ApprovalError(f"approval {approval_id} does not exist")
        wanted = (request.incident_id, request.action, target_key(request.target.as_dict()))
        held = (approval.incident_id, approval.action, target_key(approval.target))
        if wanted != held:
            raise ApprovalError(
                f"approval {approval_id} is for {held[1]} on {held[2]} of incident {held[0]}, "
                f"not {wanted[1]} on {wanted[2]} of incident {wanted[0]}"
            )
        return self._move(approval_id, ("approved",), "executed", actor, "carried out")

    def _move(
        self,
        approval_id: str,
        allowed: tuple[ApprovalState, ...],
        target: ApprovalState,
        actor: str,
        note: str,
        via: str | None = None,
    ) -> ApprovalRequest:
        now = self.clock()
        found = self.store.get_document(COLLECTION, approval_id)
        if found is None:
            raise ApprovalError(f"approval {approval_id} does not exist")
        version, doc = found
        approval = ApprovalRequest.model_validate(doc)
        current = approval.state_at(now)
        lapsing = target == "expired" and approval.state not in ("pending", "approved")
        if current not in allowed or lapsing:
            raise ApprovalError(f"approval {approval_id} is {current}, not {' or '.join(allowed)}")
        if target == "executed" and now >= approval.expires_at:
            raise ApprovalError(f"approval {approval_id} expired at {approval.expires_at}")
        update: dict[str, Any] = {"state": target}
        if target == "failed":
            update["failure"] = note[:500]
        # a waiting approval that lapses or is withdrawn keeps who approved it
        if target in DECIDED and approval.state == "pending":
            update |= {
                "decided_by": actor,
                "decided_at": now,
                "decision_note": note,
                "decided_via": via,
            }
        moved = approval.model_copy(update=update)
        try:
            self.store.put_document(
                COLLECTION, approval_id, moved.model_dump(mode="json"), expected_version=version
            )
        except VersionConflict as exc:
            raise ApprovalError(f"approval {approval_id} changed concurrently: {exc}") from exc
        if target in DECIDED:
            guard = self._guard(approval.incident_id, approval.action, approval.target)
            self.store.delete_key(guard, expected=approval_id)
            if target == "denied":
                self.store.set_if_absent(self._denied(guard), approval_id, DENIAL_MEMORY_SECONDS)
        _audit(self.store, f"approval.{target}", moved, current, note, now, actor)
        return moved

    def _guard(self, incident_id: str, action: str, target: dict[str, str]) -> str:
        return f"approval:pending:{incident_id}:{action}:{target_key(target)}"

    def _denied(self, guard: str) -> str:
        return "approval:denied:" + guard.removeprefix("approval:pending:")


def _audit(
    log: AuditLog,
    action: str,
    approval: ApprovalRequest,
    before: str | None,
    detail: str,
    now: datetime,
    actor: str = "robot",
) -> None:
    audit(
        log,
        actor=actor,
        surface="worker" if actor == "robot" else "approvals",
        action=action,
        subject=f"approval:{approval.id}",
        before={"state": before} if before else None,
        after={
            "state": approval.state,
            "incident": approval.incident_id,
            "action": approval.action,
            "target": approval.target,
            "via": approval.decided_via,
        },
        detail=detail,
        at=now,
    )
