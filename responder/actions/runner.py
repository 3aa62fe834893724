"""The action runner: the guard rails around every executor.

It refuses human-only actions, needs an ``auto`` decision or a usable approval,
holds the action's lock (and the cluster-wide node-action lock), respects the
cooldown and the action caps, then plans and, unless in dry-run, applies under
a deadline. Every run is recorded and audited."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol, TypeVar

from responder.actions.executor import Executor, Verifies
from responder.actions.registry import ExecutorRegistry
from responder.guards.caps import ActionCaps, CapExceeded, CapsBusy, Reservation, usage_of, used_by
from responder.guards.rails import NODE_ACTION_LOCK
from responder.metrics import Metrics
from responder.records.action import ActionOutcome, ActionRequest, ActionRun, Plan
from responder.records.approval import ApprovalError, ApprovalRequest
from responder.records.audit import audit
from responder.records.incident import ExecutedAction, Incident
from responder.sections import ActionSettings
from responder.store import LockBusy, Store, held_lock
from responder.taxonomy.models import ActionClass, Cooldowns, Taxonomy

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")


class ApprovalConsumer(Protocol):
    """Where approvals are used up (the approval requests)."""

    def consume(self, approval_id: str, request: ActionRequest, actor: str) -> ApprovalRequest:
        """Use an approved request once, for exactly its incident, action and
        target; raise ``ApprovalError`` otherwise."""


class ActionRefused(RuntimeError):
    """The runner will not run this request at all (human-only, not decided
    ``auto`` and not approved, or an approval that does not fit)."""


class ActionTimeout(RuntimeError):
    pass


class _Capped(RuntimeError):
    """The plan would exceed an action cap (raised between plan and apply)."""

    def __init__(self, plan: Plan, why: str) -> None:
        super().__init__(why)
        self.plan = plan
        self.why = why


def target_key(request: ActionRequest) -> str:
    target = request.target
    return f"{target.kind}/{target.namespace or ''}/{target.name}"


@dataclass(eq=False)
class ActionRunner:
    store: Store
    taxonomy: Taxonomy
    registry: ExecutorRegistry
    settings: ActionSettings
    metrics: Metrics
    approvals: ApprovalConsumer | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    caps: ActionCaps = field(init=False)

    def __post_init__(self) -> None:
        self.caps = ActionCaps(self.store, self.settings.action_caps, self.clock)

    def run(
        self,
        incident: Incident,
        request: ActionRequest,
        decision: str,
        *,
        approval_id: str | None = None,
        actor: str = "robot",
        cooldown_seconds: int | None = None,
    ) -> ActionRun:
        """Run ``request`` for ``incident`` (read, never changed here).

        Raises ``ActionRefused`` for a request the robot may not run; any
        other problem is a ``failed`` or ``skipped`` outcome."""
        spec = self.taxonomy.actions.get(request.action)
        if spec is None:
            self._refuse(incident, request, actor, f"unknown action {request.action!r}")
        if spec.action_class == ActionClass.human_only:
            self._refuse(incident, request, actor, f"{request.action} is human-only")
        if decision in ("human_only", "off"):
            self._refuse(incident, request, actor, f"the policy decision is {decision}")
        if decision != "auto" and approval_id is None:
            self._refuse(
                incident, request, actor, f"the policy decision is {decision} and no approval"
            )
        executor = self.registry.get(request.action)
        if executor is None:
            detail = f"no executor serves {request.action} here"
            return ActionRun(request, ActionOutcome("not_available", detail), None, detail)
        timeout = self.settings.action_timeout_seconds
        lock = f"action:{request.action}:{target_key(request)}"
        try:
            with contextlib.ExitStack() as held:
                if request.action in self.taxonomy.node_actions:
                    # at most one node action in flight, cluster-wide
                    held.enter_context(
                        held_lock(self.store, NODE_ACTION_LOCK, ttl_seconds=2 * timeout + 30)
                    )
                held.enter_context(held_lock(self.store, lock, ttl_seconds=2 * timeout + 30))
                return self._locked(
                    incident,
                    request,
                    executor,
                    spec.action_class,
                    approval_id,
                    actor,
                    cooldown_seconds,
                )
        except LockBusy as busy:
            if str(busy) == NODE_ACTION_LOCK:
                detail = (
                    f"{request.action} on {target_key(request)} waits: another node action "
                    "is in flight (at most one cluster-wide)"
                )
                return ActionRun(request, ActionOutcome("skipped", detail), None, detail)
            detail = f"{request.action} on {target_key(request)} is running elsewhere"
            return ActionRun(
                request, ActionOutcome("skipped", detail), None, detail, acted_elsewhere=True
            )

    # inside the action lock

    def _locked(
        self,
        incident: Incident,
        request: ActionRequest,
        executor: Executor,
        action_class: ActionClass,
        approval_id: str | None,
        actor: str,
        cooldown_seconds: int | None,
    ) -> ActionRun:
        now = self.clock()
        window = self._cooldown(incident, action_class, cooldown_seconds)
        key = f"cooldown:{request.action}:{target_key(request)}"
        until = self._cooling_until(key, window, now)
        if until is not None:
            detail = (
                f"{request.action} on {target_key(request)} in cooldown until {until:%H:%M:%S}Z"
            )
            self.metrics.policy_suppressions.labels(
                incident.incident_type, str(incident.environment), "cooldown"
            ).inc()
            return ActionRun(
                request, ActionOutcome("skipped", detail), None, detail, acted_elsewhere=True
            )
        if approval_id is not None:
            if self.approvals is None:
                self._refuse(incident, request, actor, "approvals are not configured")
            try:
                self.approvals.consume(approval_id, request, actor)
            except ApprovalError as exc:
                self._refuse(incident, request, actor, str(exc))
        # The window starts with the attempt: a failed run is not retried at
        # once either (spec section 7, "same remediation action retry").
        self.store.delete_key(key)
        self.store.set_if_absent(key, now.isoformat(), float(window))
        if self.settings.effective_dry_run:
            outcome = self._dry_run(executor, request)  # counts nothing against the caps
        else:
            try:
                outcome = self._apply(executor, request)
            except _Capped as capped:
                return self._capped(incident, request, capped.plan, capped.why, approval_id, actor)
        return self._record(incident, request, executor, outcome, approval_id, actor)

    def cooldown_for(self, incident: Incident, action: str) -> int:
        """The action's retry window for ``incident`` (no operator override)."""
        spec = self.taxonomy.actions[action]
        return self._cooldown(incident, spec.action_class, None)

    def _cooldown(self, incident: Incident, action_class: ActionClass, override: int | None) -> int:
        if override is not None:
            return max(int(override), 1)
        known = self.taxonomy.incident_types.get(incident.incident_type)
        cooldowns = known.cooldowns if known else Cooldowns()
        if action_class == ActionClass.disruptive:
            return cooldowns.disruptive_retry_seconds
        return cooldowns.action_retry_seconds

    def _cooling_until(self, key: str, window: int, now: datetime) -> datetime | None:
        """When the running cooldown ends, or None. The key holds when the
        window opened, read against the runner's clock (as the dedupe window)."""
        opened = self.store.get_key(key)
        if opened is None:
            return None
        until = datetime.fromisoformat(opened) + timedelta(seconds=window)
        return until if now < until else None

    def _dry_run(self, executor: Executor, request: ActionRequest) -> ActionOutcome:
        try:
            plan = self._deadline(executor.plan, request, "plan")
        except Exception as exc:
            return ActionOutcome("dry_run", f"dry-run: no cluster ({_reason(exc)})")
        return ActionOutcome("dry_run", f"dry-run: {plan.summary}", plan)

    def _apply(self, executor: Executor, request: ActionRequest) -> ActionOutcome:
        try:
            plan = self._deadline(executor.plan, request, "plan")
        except Exception as exc:
            return ActionOutcome("failed", f"plan failed: {_reason(exc)}")
        reservation: Reservation | None = None
        usage = usage_of(plan)
        if usage:
            try:
                reservation = self.caps.reserve(usage)
            except CapExceeded as exc:
                raise _Capped(plan, str(exc)) from exc
            except CapsBusy as exc:
                return ActionOutcome("skipped", f"not run: the action caps: {exc}", plan)
        try:
            outcome = self._deadline(executor.apply, plan, "apply")
        except Exception as exc:
            outcome = ActionOutcome("failed", f"apply failed: {_reason(exc)}", plan)
        if outcome.plan is None:
            outcome = ActionOutcome(outcome.result, outcome.detail, plan)
        if outcome.result == "succeeded" and isinstance(executor, Verifies):
            outcome = self._verified(executor, outcome, plan)
        if reservation is not None:
            try:
                self.caps.settle(reservation, used_by(reservation.usage, outcome))
            except CapsBusy as exc:
                # the reservation stands: the caps count high, never low
                log.warning("action caps not settled after %s: %s", request.action, exc)
        return outcome

    def _verified(self, executor: Verifies, outcome: ActionOutcome, plan: Plan) -> ActionOutcome:
        """``outcome`` read back: failed when the write did not take; a
        read-back that cannot be made is said, the outcome stands."""
        try:
            problem = self._deadline(executor.verify, plan, "verify")
        except Exception as exc:
            return ActionOutcome(
                "succeeded", f"{outcome.detail} (not verified: {_reason(exc)})", plan
            )
        if problem is not None:
            return ActionOutcome("failed", f"{outcome.detail}, but read back: {problem}", plan)
        return outcome

    def _deadline(self, call: Callable[[A], T], argument: A, what: str) -> T:
        """``call(argument)`` in a daemon thread; ``ActionTimeout`` after the
        deadline. A backend call that hangs is abandoned, never waited for:
        the worker moves on and the cooldown keeps the action from repeating."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def target() -> None:
            try:
                box["value"] = call(argument)
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"action-{what}", daemon=True)
        thread.start()
        seconds = self.settings.action_timeout_seconds
        if not done.wait(seconds):
            raise ActionTimeout(f"{what} timed out after {seconds:g}s")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def _record(
        self,
        incident: Incident,
        request: ActionRequest,
        executor: Executor,
        outcome: ActionOutcome,
        approval_id: str | None,
        actor: str,
    ) -> ActionRun:
        plan: Plan | None = outcome.plan
        inverse: dict[str, Any] | None = None
        if plan is not None and outcome.result in ("succeeded", "dry_run"):
            try:
                undo = executor.inverse(plan)
            except Exception as exc:
                log.warning("inverse of %s failed: %s", request.action, exc)
                undo = None
            if undo is not None:
                inverse = {
                    "action": undo.action,
                    "target": undo.target.as_dict(),
                    "params": dict(undo.params),
                }
        # "not available" from apply (the backend is not configured here) is
        # not a backend failure: recorded as skipped, it escalates nothing
        result = "skipped" if outcome.result == "not_available" else outcome.result
        now = self.clock()
        executed = ExecutedAction(
            action=request.action,
            target=request.target.as_dict(),
            actor=actor,
            result=result,
            detail=outcome.detail[:2000],
            at=now,
            previous=plan.previous if plan else None,
            inverse=inverse,
            approval_id=approval_id,
        )
        labels = (incident.incident_type, request.action, str(incident.environment))
        if result in ("succeeded", "failed"):
            self.metrics.auto_remediations.labels(*labels).inc()
        if result == "failed":
            self.metrics.auto_remediations_failed.labels(*labels).inc()
        self._audit_action(
            incident,
            request,
            actor,
            result,
            outcome.detail[:2000],
            now,
            before=plan.previous if plan else None,
            changes=plan.changes if plan else None,
            inverse=inverse,
            approval_id=approval_id,
        )
        if result == "failed":
            log.warning(
                "action %s on %s failed: %s", request.action, target_key(request), outcome.detail
            )
        return ActionRun(request, outcome, executed)

    def _capped(
        self,
        incident: Incident,
        request: ActionRequest,
        plan: Plan,
        why: str,
        approval_id: str | None,
        actor: str,
    ) -> ActionRun:
        """The record of a run the action caps refused: a ``refused`` entry
        (the incident escalates to a person) that says which cap."""
        now = self.clock()
        detail = f"refused by the action caps: {why}"
        self.metrics.guard_refusals.labels(
            incident.incident_type, str(incident.environment), "action_cap"
        ).inc()
        self._audit_action(
            incident,
            request,
            actor,
            "refused",
            detail,
            now,
            guard="action_cap",
            plan=plan.summary,
            approval_id=approval_id,
        )
        log.warning("action %s on %s %s", request.action, target_key(request), detail)
        executed = ExecutedAction(
            action=request.action,
            target=request.target.as_dict(),
            actor=actor,
            result="refused",
            detail=detail[:2000],
            at=now,
            approval_id=approval_id,
        )
        return ActionRun(request, ActionOutcome("refused", detail, plan), executed, detail)

    def _refuse(self, incident: Incident, request: ActionRequest, actor: str, why: str) -> NoReturn:
        self._audit_action(incident, request, actor, "refused", why, self.clock())
        raise ActionRefused(f"{request.action} on {target_key(request)} refused: {why}")

    def _audit_action(
        self,
        incident: Incident,
        request: ActionRequest,
        actor: str,
        result: str,
        detail: str,
        at: datetime,
        before: Any = None,
        **more: Any,
    ) -> None:
        """The ``action.<result>`` audit entry of ``request``; ``more`` joins
        the action and target in ``after``."""
        audit(
            self.store,
            actor=actor,
            surface="worker",
            action=f"action.{result}",
            subject=f"incident:{incident.id}",
            before=before,
            after={"action": request.action, "target": request.target.as_dict(), **more},
            detail=detail,
            at=at,
        )


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:1000] if not isinstance(exc, ActionTimeout) else text
