"""What a verified chat button press does, for Slack and Telegram alike.

- **Approve / Deny** answer the approval request through the desk
  (``responder/approvals/desk.py``); **Approve outside window** answers
  with ``override_window``. A plain Approve outside the action windows is
  refused (``outside_window``, the request stays pending) and the request's
  messages get the override button if they lacked it.
- **Right / False positive** (on the "resolved" message) mark the
  incident's classification and action right, or its classification a
  false positive (``runtime.marks``, ``responder/guards/readiness.py``);
  the resolution's messages then say who marked it.
- **Pause automation** (on an incident's notification) pauses automation
  of the incident's type in its environment for ``chat_pause_minutes``;
  the answer in the thread names the pause and its expiry and has a
  **Resume** button, which lifts it.

Only approvers of the environment concerned may press any of them: others
get the refusal the desk gives for approvals ("… is not an approver",
"… may not answer approvals in …"), audited as ``chat.press_refused``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from responder.approvals.answer import Answer
from responder.approvals.approvers import Approver
from responder.channels.buttons import APPROVAL_VERBS, Press
from responder.guards.automation import AutomationError
from responder.guards.readiness import MarkError
from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.levels import Environment
from responder.runtime import Runtime

log = logging.getLogger(__name__)

#: answers that did nothing: the person who pressed is told why
REFUSED = frozenset(
    {
        "forbidden",
        "unknown",
        "expired",
        "already_answered",
        "busy",
        "superseded",
        "outside_window",
        "invalid",
        "unavailable",
    }
)
#: what each marking button says about the incident
MARKS: dict[str, dict[str, Any]] = {
    "right": {"classification": "right", "action": "right"},
    "false_positive": {"classification": "false_positive"},
}


@dataclass(frozen=True)
class PressOutcome:
    """How a press ended: ``result`` is the desk's answer for the approval
    verbs, else ``marked``, ``paused``, ``resumed`` or a refusal
    (``forbidden``, ``unknown``, ``invalid``, ``unavailable``)."""

    result: str
    detail: str

    @property
    def refused(self) -> bool:
        return self.result in REFUSED

    def short(self) -> str:
        """The few words a person who pressed is told."""
        if self.refused or self.result in ("marked", "paused", "resumed"):
            return f"Robot SRE: {self.detail}"
        return f"Robot SRE: {self.result.replace('_', ' ')}"


def handle_press(runtime: Runtime, surface: str, user: str, press: Press) -> PressOutcome:
    """Carry out ``press`` by chat user ``user`` of ``surface`` (slack | telegram)."""
    approver = runtime.approvers.by_chat_user(surface, user)
    who = f"{surface} user {user}"
    if press.verb in APPROVAL_VERBS:
        return _answer_approval(runtime, surface, approver, who, press)
    if press.verb in MARKS:
        outcome = _mark(runtime, surface, approver, who, press)
    elif press.verb == "pause":
        outcome = _pause(runtime, surface, approver, who, press)
    else:
        outcome = _resume(runtime, surface, approver, who, press)
    if outcome.refused:
        _audit_refusal(runtime, approver.name if approver else who, surface, press, outcome)
    return outcome


def _answer_approval(
    runtime: Runtime, surface: str, approver: Approver | None, who: str, press: Press
) -> PressOutcome:
    override = press.verb == "approve_outside_window"
    verb = "deny" if press.verb == "deny" else "approve"
    answer = runtime.desk.answer(
        press.subject_id, verb, approver, surface, who, override_window=override
    )
    if answer.result == "outside_window":
        return _outside_window(runtime, answer)
    return PressOutcome(answer.result, answer.detail)


def _outside_window(runtime: Runtime, answer: Answer) -> PressOutcome:
    approval = answer.approval
    if approval is not None:
        runtime.chatops.notifier.offer_window_override(approval)
    what = f"{approval.action_name.lower()} {approval.target_label}" if approval else "this action"
    return PressOutcome(
        "outside_window",
        f"{what} may run only inside the action windows, and it is outside them now. "
        'Press "Approve outside window" to run it now anyway; the request stays open.',
    )


def _refusal(approver: Approver | None, who: str, environment: str | None) -> PressOutcome | None:
    """The desk's refusal for someone who may not answer in ``environment``
    (None: every environment), or None when ``approver`` may."""
    if approver is None:
        return PressOutcome("forbidden", f"{who} is not an approver")
    wanted = [environment] if environment is not None else [e.value for e in Environment]
    missing = [e for e in wanted if not approver.may_answer(e)]
    if missing:
        return PressOutcome(
            "forbidden", f"{approver.name} may not answer approvals in {', '.join(missing)}"
        )
    return None


def _incident_for(
    runtime: Runtime, approver: Approver | None, who: str, press: Press
) -> tuple[Incident, Approver] | PressOutcome:
    """The pressed incident and its approver, or why the press is refused."""
    incident = runtime.store.get_incident(press.subject_id)
    if incident is None:
        return PressOutcome("unknown", f"no incident {press.subject_id!r}")
    refusal = _refusal(approver, who, str(incident.environment))
    if refusal is not None:
        return refusal
    assert approver is not None
    return incident, approver


def _mark(
    runtime: Runtime, surface: str, approver: Approver | None, who: str, press: Press
) -> PressOutcome:
    found = _incident_for(runtime, approver, who, press)
    if isinstance(found, PressOutcome):
        return found
    incident, approver = found
    try:
        mark = runtime.marks.mark(incident.id, MARKS[press.verb], approver.name, surface)
    except LookupError:
        return PressOutcome("unknown", f"no incident {incident.id!r}")
    except MarkError as exc:
        return PressOutcome("invalid", f"{exc.field}: {exc.message}")
    runtime.chatops.notifier.marked(incident.id, mark, surface)
    verdict = "right" if press.verb == "right" else "a false positive"
    return PressOutcome("marked", f"incident {incident.id} marked {verdict} by {approver.name}")


def _pause(
    runtime: Runtime, surface: str, approver: Approver | None, who: str, press: Press
) -> PressOutcome:
    found = _incident_for(runtime, approver, who, press)
    if isinstance(found, PressOutcome):
        return found
    incident, approver = found
    body = {
        "reason": f"paused from {surface} by {approver.name} on incident {incident.id}",
        "duration_seconds": runtime.settings.chat_pause_minutes * 60,
        "environment": str(incident.environment),
        "incident_type": incident.incident_type,
    }
    try:
        pause = runtime.automation.pause(body, approver.name, surface)
    except AutomationError as exc:
        return PressOutcome("invalid", f"{exc.field}: {exc.message}")
    runtime.chatops.notifier.paused(incident, pause, approver.name, surface)
    return PressOutcome(
        "paused",
        f"automation of {incident.incident_type} in {incident.environment} paused until "
        f"{pause.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({pause.id})",
    )


def _resume(
    runtime: Runtime, surface: str, approver: Approver | None, who: str, press: Press
) -> PressOutcome:
    now: datetime = runtime.automation.clock()
    found = [p for p in runtime.automation.active_pauses(now) if p.id == press.subject_id]
    if not found:
        return PressOutcome("unknown", f"pause {press.subject_id} is over (resumed or expired)")
    pause = found[0]
    refusal = _refusal(approver, who, pause.environment)
    if refusal is not None:
        return refusal
    assert approver is not None
    lifted = runtime.automation.resume(pause.id, approver.name, surface)
    if lifted is None:
        return PressOutcome("unknown", f"pause {pause.id} is over (resumed or expired)")
    notifier = runtime.chatops.notifier
    notifier.resumed(lifted, notifier.pause_incident(lifted.id), approver.name, surface)
    return PressOutcome(
        "resumed", f"pause {lifted.id} lifted: automation of {lifted.scope} resumed"
    )


def _audit_refusal(
    runtime: Runtime, actor: str, surface: str, press: Press, outcome: PressOutcome
) -> None:
    subject = (
        f"pause:{press.subject_id}" if press.verb == "resume" else f"incident:{press.subject_id}"
    )
    runtime.store.append_audit(
        AuditEntry(
            actor=actor,
            surface=surface,
            action="chat.press_refused",
            subject=subject,
            after={"button": press.verb, "result": outcome.result},
            detail=outcome.detail[:2000],
        )
    )
