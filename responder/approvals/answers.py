"""Answering approval requests: one path for every surface (API, admin UI,
chat buttons).

An approval executes at most once, and it looks at the incident again
under its lock before granting: a request the incident or the policy no longer
supports is superseded. An approved node action waits for one in flight."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from responder.actions.runner import ActionRefused, ActionRunner
from responder.approvals.approvers import Approver
from responder.approvals.requests import ApprovalRequests, target_key
from responder.guards.rails import NODE_ACTION_LOCK, GuardRails
from responder.metrics import Metrics
from responder.records.action import ActionOutcome, ActionRequest, ActionRun, record_runs
from responder.records.approval import ApprovalError, ApprovalRequest
from responder.records.audit import audit, audit_incident
from responder.records.incident import Incident
from responder.records.lifecycle import NOT_ACTING
from responder.records.target import Target
from responder.records.update import Update
from responder.records.writes import Writes
from responder.store import LockBusy, Store, held_lock

log = logging.getLogger(__name__)

_LOCK_WAIT_SECONDS = 10.0
#: what the node action run from an answer is, while it runs (names it to the ones that wait)
NODE_ACTION_CURRENT = "node-action:current"
#: answers refused before anything was decided (kept in the audit log)
REFUSALS = ("forbidden", "unknown", "expired", "already_answered", "busy", "outside_window")


_STATUS = {
    "executed": 200,
    "dry_run": 200,
    "failed": 200,
    "skipped": 200,
    "refused": 200,
    "denied": 200,
    "superseded": 409,
    "expired": 409,
    "already_answered": 409,
    "forbidden": 403,
    "unknown": 404,
    "busy": 503,
    "outside_window": 409,
    "waiting": 202,
}


@dataclass(frozen=True)
class Answer:
    """How an answer ended. ``result``: ``executed`` (the action ran),
    ``dry_run``, ``failed``, ``skipped`` (cooldown, lock, no executor),
    ``refused`` (the runner would not run it), ``denied``, ``superseded``,
    ``expired``, ``already_answered``, ``forbidden``, ``unknown``, ``busy``,
    ``outside_window`` (a recover or disruptive action outside the action
    windows, approved without ``override_window``: the request stays pending),
    ``waiting`` (an approved node action waits for the node action in flight:
    the request stays approved and runs when that one ends)."""

    result: str
    detail: str
    approval: ApprovalRequest | None = None

    @property
    def status(self) -> int:
        return _STATUS.get(self.result, 200)

    @property
    def acted(self) -> bool:
        return self.result in ("executed", "dry_run", "failed")

    def as_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "detail": self.detail,
            "approval": self.approval.model_dump(mode="json") if self.approval else None,
        }


class IncidentReview(Protocol):
    """How an answer looks at an incident again before an approved action runs
    (the pipeline's ``review`` turn)."""

    def look_again(self, incident: Incident, now: datetime) -> Update:
        """Fresh evidence, decisions and guard rails for ``incident`` (the
        caller holds its lock and commits the turn's writes)."""

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        """An operator rule's cooldown for the incident's actions, if any."""


@dataclass(eq=False)
class ApprovalAnswers:
    store: Store
    requests: ApprovalRequests
    runner: ActionRunner
    review: IncidentReview
    metrics: Metrics
    clock: Callable[[], datetime]
    announce: Callable[[ApprovalRequest, str], None] | None = None
    notify: Callable[[Incident, str, datetime], None] | None = None
    lock_ttl_seconds: float = 15.0
    guards: GuardRails | None = None

    def answer(
        self,
        approval_id: str,
        verb: str,
        approver: Approver | None,
        via: str,
        who: str,
        note_text: str = "",
        override_window: bool = False,
    ) -> Answer:
        """``verb`` (approve | deny) ``approval_id`` as ``approver`` (None: a
        chat user who is no approver, known as ``who``) through ``via``.
        ``override_window``: the approver lets this one action run outside
        the action windows."""
        approval = self.requests.get(approval_id)
        if approval is None:
            answer = Answer("unknown", f"no approval request {approval_id!r}")
        elif approver is None:
            answer = Answer("forbidden", f"{who} is not an approver", approval)
        elif not approver.may_answer(approval.environment):
            answer = Answer(
                "forbidden",
                f"{approver.name} may not answer approvals in {approval.environment}",
                approval,
            )
        else:
            answer = self._not_pending(approval) or self._carry_out(
                approval, verb, approver, via, note_text[:500], override_window
            )
        self.metrics.approval_answers.labels(via, answer.result).inc()
        if answer.result in REFUSALS:
            audit(
                self.store,
                actor=approver.name if approver else who,
                surface="approvals",
                action="approval.answer_refused",
                subject=f"approval:{approval_id}",
                after={"via": via, "result": answer.result},
                detail=answer.detail[:2000],
                at=self.clock(),
            )
        return answer

    def _carry_out(
        self,
        approval: ApprovalRequest,
        verb: str,
        approver: Approver,
        via: str,
        note_text: str,
        override_window: bool,
    ) -> Answer:
        if verb == "deny":
            return self._deny(approval, approver, via, note_text)
        if verb == "approve":
            return self._approve(approval, approver, via, note_text, override_window)
        return Answer("unknown", f"unknown answer {verb!r}: approve or deny", approval)

    def _not_pending(self, approval: ApprovalRequest) -> Answer | None:
        now = self.clock()
        state = approval.state_at(now)
        if state == "expired":
            if approval.state == "pending":
                try:
                    approval = self.requests.expire(approval.id)
                    self._announce(approval, "nobody answered in time")
                except ApprovalError:
                    pass
            return Answer(
                "expired", f"approval {approval.id} expired at {approval.expires_at}", approval
            )
        if state != "pending":
            by = f" by {approval.decided_by}" if approval.decided_by else ""
            via = f" via {approval.decided_via}" if approval.decided_via else ""
            return Answer(
                "already_answered", f"approval {approval.id} is {state}{by}{via}", approval
            )
        return None

    # deny

    def _deny(
        self, approval: ApprovalRequest, approver: Approver, via: str, note_text: str
    ) -> Answer:
        try:
            denied = self.requests.deny(approval.id, approver.name, note_text, via)
        except ApprovalError as exc:
            return self._lost_race(approval, exc)
        detail = note_text or "the robot will not ask again for this incident"
        self._on_incident(
            denied.incident_id,
            lambda incident, now: incident.record(
                "approval_denied",
                f"{denied.id}: {denied.action} on {target_key(denied.target)} denied by "
                f"{approver.name} via {via}" + (f": {note_text}" if note_text else ""),
                now,
            ),
        )
        self._announce(denied, detail)
        return Answer("denied", detail, denied)

    # approve

    def _approve(
        self,
        approval: ApprovalRequest,
        approver: Approver,
        via: str,
        note_text: str,
        override_window: bool = False,
    ) -> Answer:
        if not override_window and self._outside_window(approval.action):
            # the request stays pending: the approver may answer again, overriding
            return Answer(
                "outside_window",
                f"{approval.action} runs only inside the action windows; approve with "
                "override_window to run it now",
                approval,
            )
        try:
            with self._locked(approval.incident_id) as incident:
                if incident is None:
                    return self._supersede(approval, approver, via, "the incident no longer exists")
                now = self.clock()
                why_not, writes = self._why_not_now(incident, approval, now)
                writes.save_incident(incident)
                if why_not is not None:
                    answer = self._supersede(approval, approver, via, why_not)
                    incident.record("approval_superseded", f"{approval.id}: {why_not}", now)
                    incident.approval_state = self.requests.incident_state(incident.id, now)
                    self.store.commit(writes)
                    return answer
                try:
                    granted = self.requests.grant(approval.id, approver.name, note_text, via)
                except ApprovalError as exc:
                    self.store.commit(writes)  # keeps the fresh decisions
                    return self._lost_race(approval, exc)
                incident.record(
                    "approval_granted",
                    f"{granted.id}: {granted.action} on {target_key(granted.target)} approved "
                    f"by {approver.name} via {via}"
                    + (
                        ", overriding the action windows"
                        if override_window and self._outside_window(approval.action)
                        else ""
                    ),
                    now,
                )
                incident.approval_state = self.requests.incident_state(incident.id, now)
                self.store.commit(writes)
        except LockBusy:
            return Answer("busy", "the incident is busy; answer again in a moment", approval)
        in_flight = self._node_action_in_flight(granted.action)
        run = None if in_flight else self._run(incident, granted, approver.name)
        if run is None or self._still_waiting(granted, run):
            return self._wait(granted, in_flight or self._in_flight_name(), override_window)
        self._record(incident.id, run)
        return self._finish(incident.id, self.requests.get(granted.id) or granted, run)

    def _finish(self, incident_id: str, final: ApprovalRequest, run: ActionRun) -> Answer:
        """Announce how the approved action ended and notify the incident's
        update. A request that could not run, or whose run failed, ends
        ``failed`` with the reason."""
        raw: str = run.executed.result if run.executed is not None else run.outcome.result
        if raw in ("failed", "not_available") and final.state in ("approved", "executed"):
            try:
                final = self.requests.fail(final.id, run.outcome.detail)
            except ApprovalError as exc:  # another answer moved it meanwhile
                log.info("approval %s not marked failed: %s", final.id, exc)
            raw = "failed"
        result = {"succeeded": "executed"}.get(raw, raw)
        detail = f"{final.action_name.lower()} {final.target_label}: {run.outcome.detail}"
        self._announce(final, detail)
        if self.notify is not None:
            fresh = self.store.get_incident(incident_id)
            if fresh is not None:
                self.notify(
                    fresh,
                    f"updated: {final.action} approved by {final.decided_by}, {result}",
                    self.clock(),
                )
        return Answer(result, detail, final)

    def _why_not_now(
        self, incident: Incident, approval: ApprovalRequest, now: datetime
    ) -> tuple[str | None, Writes]:
        """Why the robot should not act on ``approval`` now, or None (looks at
        the incident's current evidence and decides again); and the writes
        of that look, for the caller to commit with the incident."""
        if incident.state in NOT_ACTING:
            return (
                f"the incident is {incident.state}: the robot does not act on it any more",
                Writes(),
            )
        update = self.review.look_again(incident, now)
        if update.cleared:
            return "the incident's exit criteria hold now: the problem cleared", update.writes
        wanted = target_key(approval.target)
        for rec in update.recommendations:
            if rec.action != approval.action or rec.target is None:
                continue
            if target_key(rec.target) != wanted:
                continue
            if rec.decision != "approval":
                return (
                    f"the decision changed: {approval.action} on {wanted} is now "
                    f"{rec.decision} ({rec.reason})",
                    update.writes,
                )
            return None, update.writes
        return (
            f"on the current evidence the robot no longer recommends {approval.action} on {wanted}",
            update.writes,
        )

    # approved node actions waiting for the one in flight

    def run_waiting(self) -> list[Answer]:
        """Run the approved node actions that wait, each once, as soon as no
        node action is in flight (the oldest first; one per call can take the
        lock). Returns how each one that ended its wait ended."""
        ended: list[Answer] = []
        for approval, _why in self.requests.waiting():
            if self._node_action_in_flight(approval.action):
                break  # still in flight: all of them wait
            answer = self._run_waiting(approval)
            if answer is not None:
                ended.append(answer)
                self.metrics.approval_answers.labels(
                    approval.decided_via or "worker", answer.result
                ).inc()
        return ended

    def _run_waiting(self, approval: ApprovalRequest) -> Answer | None:
        now = self.clock()
        if approval.state != "approved":
            self.requests.stop_waiting(approval.id)  # carried out (or ended) elsewhere
            return None
        if now >= approval.expires_at:
            return self._end_wait(approval, "expired", "waited past its expiry, not carried out")
        if self._outside_window(approval.action) and not self.requests.wait_overrides_window(
            approval.id
        ):
            return None  # the windows closed while it waited: it waits for the next one
        try:
            with self._locked(approval.incident_id) as incident:
                if incident is None:
                    return self._end_wait(approval, "superseded", "the incident no longer exists")
                why_not, writes = self._why_not_now(incident, approval, now)
                ended = None
                if why_not is not None:
                    ended = self._end_wait(approval, "superseded", why_not, incident)
                incident.approval_state = self.requests.incident_state(incident.id, now)
                writes.save_incident(incident)
                self.store.commit(writes)
                if ended is not None:
                    return ended
        except LockBusy:
            return None  # the incident is busy: the next round looks again
        run = self._run(incident, approval, approval.decided_by or "approver")
        if self._still_waiting(approval, run):
            return None
        self.requests.stop_waiting(approval.id)
        if (
            run.executed is None
            and (self.requests.get(approval.id) or approval).state != "approved"
        ):
            return None  # another replica carried it out
        self._record(incident.id, run)
        return self._finish(incident.id, self.requests.get(approval.id) or approval, run)

    def _end_wait(
        self, approval: ApprovalRequest, result: str, why: str, incident: Incident | None = None
    ) -> Answer:
        """End the wait of ``approval`` unrun (``result``: expired or superseded);
        recorded on ``incident`` when the caller holds its lock, else on a fresh copy."""
        try:
            ended = (
                self.requests.lapse(approval.id, why)
                if result == "expired"
                else self.requests.withdraw(approval.id, why)
            )
        except ApprovalError as exc:
            self.requests.stop_waiting(approval.id)
            return Answer("already_answered", str(exc), self.requests.get(approval.id) or approval)
        event, detail = f"approval_{result}", f"{approval.id}: {approval.action} not run: {why}"
        if incident is not None:
            incident.record(event, detail, self.clock())
        else:
            self._on_incident(
                approval.incident_id, lambda found, now: found.record(event, detail, now)
            )
        self._announce(ended, why)
        return Answer(result, f"the robot did not act: {why}", ended)

    def _wait(
        self, approval: ApprovalRequest, in_flight: str, override_window: bool = False
    ) -> Answer:
        detail = (
            f"{approval.action_name.lower()} {approval.target_label} approved; it waits while "
            f"{in_flight} is in flight (one node action at a time) and runs when that ends"
        )
        self.requests.wait(approval, detail, self.clock(), override_window)
        self._on_incident(
            approval.incident_id,
            lambda incident, now: incident.record(
                "approval_waiting", f"{approval.id}: {detail}", now
            ),
        )
        self._announce(approval, detail)
        return Answer("waiting", detail, self.requests.get(approval.id) or approval)

    def _node_action_in_flight(self, action: str) -> str | None:
        """What node action is in flight when ``action`` is one and must wait, or None."""
        if (
            action not in self.runner.taxonomy.node_actions
            or self.store.get_key(f"lock:{NODE_ACTION_LOCK}") is None
        ):
            return None
        return self._in_flight_name()

    def _in_flight_name(self) -> str:
        return self.store.get_key(NODE_ACTION_CURRENT) or "another node action"

    def _still_waiting(self, approval: ApprovalRequest, run: ActionRun) -> bool:
        """The runner found the node-action lock held: nothing ran, the
        approval was not used (it is used up only once the locks are held)."""
        if approval.action not in self.runner.taxonomy.node_actions or run.executed is not None:
            return False
        if run.acted_elsewhere or run.outcome.result != "skipped":
            return False
        current = self.requests.get(approval.id)
        return current is not None and current.state == "approved"

    def _run(self, incident: Incident, approval: ApprovalRequest, actor: str) -> ActionRun:
        request = ActionRequest(
            action=approval.action,
            target=Target.from_dict(approval.target),
            incident_id=incident.id,
            params=dict(approval.params),
        )
        described = None
        if approval.action in self.runner.taxonomy.node_actions:
            described = (
                f"{approval.action} on {approval.target_label} (incident {incident.id}, "
                f"approved by {actor})"
            )
            ttl = 2 * self.runner.settings.action_timeout_seconds + 30
            if not self.store.set_if_absent(NODE_ACTION_CURRENT, described, ttl):
                described = None
        try:
            return self.runner.run(
                incident,
                request,
                "approval",
                approval_id=approval.id,
                actor=actor,
                cooldown_seconds=self.review.cooldown_override(incident, self.clock()),
            )
        except ActionRefused as exc:
            return ActionRun(request, ActionOutcome("skipped", str(exc)), None, str(exc))
        finally:
            if described is not None:
                self.store.delete_key(NODE_ACTION_CURRENT, expected=described)

    def _record(self, incident_id: str, run: ActionRun) -> None:
        """Put the run on a fresh copy of the incident, under its lock."""

        def change(incident: Incident, now: datetime) -> None:
            acted = record_runs(incident, [run], now)
            incident.approval_state = self.requests.incident_state(incident.id, now)
            if acted.contained or acted.escalated:
                detail = incident.timeline[-1].detail
                audit_incident(
                    self.store, incident, f"incident.{incident.state}", detail, now, "approvals"
                )

        self._on_incident(incident_id, change)

    # helpers

    def _outside_window(self, action: str) -> bool:
        if self.guards is None:
            return False
        spec = self.runner.taxonomy.actions.get(action)
        klass = spec.action_class.value if spec is not None else "disruptive"
        return self.guards.outside_windows(klass, self.clock())

    @contextmanager
    def _locked(self, incident_id: str) -> Iterator[Incident | None]:
        """The incident read again under its lock (LockBusy when another
        holds it); None, and no lock, when it no longer exists."""
        snapshot = self.store.get_incident(incident_id)
        if snapshot is None:
            yield None
            return
        with held_lock(
            self.store,
            f"incident:{snapshot.correlation_key}",
            self.lock_ttl_seconds,
            _LOCK_WAIT_SECONDS,
        ):
            yield self.store.get_incident(incident_id)

    def _on_incident(
        self, incident_id: str, change: Callable[[Incident, datetime], object]
    ) -> None:
        try:
            with self._locked(incident_id) as incident:
                if incident is None:
                    return
                change(incident, self.clock())
                self.store.save_incident(incident)
        except LockBusy:
            # the approval requests and the audit log have it; only the incident's copy is missing
            log.error("incident %s stayed locked: an approval answer is not on it", incident_id)

    def _supersede(
        self, approval: ApprovalRequest, approver: Approver, via: str, why: str
    ) -> Answer:
        try:
            superseded = self.requests.supersede(approval.id, why, approver.name, via)
        except ApprovalError as exc:
            return self._lost_race(approval, exc)
        self._announce(superseded, why)
        return Answer("superseded", f"the robot did not act: {why}", superseded)

    def _lost_race(self, approval: ApprovalRequest, exc: ApprovalError) -> Answer:
        now_state = self.requests.get(approval.id) or approval
        refusal = self._not_pending(now_state)
        return refusal or Answer("already_answered", str(exc), now_state)

    def _announce(self, approval: ApprovalRequest, detail: str) -> None:
        if self.announce is None:
            return
        try:
            self.announce(approval, detail)
        except Exception:  # telling the channels must never undo an answer
            log.exception("approval %s: announcing the answer failed", approval.id)
