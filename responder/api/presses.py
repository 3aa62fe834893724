"""What a verified chat button press does, for Slack and Telegram alike:
answer an approval (also outside the action windows), mark an incident right
or a false positive, pause or resume automation.

Only approvers of the environment concerned may press; others get the
refusal, audited as ``chat.press_refused``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from responder.approvals.answers import Answer, ApprovalAnswers
from responder.approvals.approvers import Approver, ChatApprovers
from responder.channels.buttons import APPROVAL_VERBS, Press
from responder.channels.notifier import Notifier
from responder.guards.automation import AutomationBook, AutomationError
from responder.guards.readiness import MarkBook, MarkError
from responder.records.audit import audit
from responder.records.incident import Incident
from responder.records.levels import Environment
from responder.store import Store

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
    }
)
#: what each marking button says about the incident
MARKS: dict[str, dict[str, Any]] = {
    "right": {"classification": "right", "action": "right"},
    "false_positive": {"classification": "false_positive"},
}


@dataclass(frozen=True)
class PressOutcome:
    """How a press ended: ``result`` is the answer for the approval
    verbs, else ``marked``, ``paused``, ``resumed`` or a refusal
    (``forbidden``, ``unknown``, ``invalid``)."""

    result: str
    detail: str

    @property
    def refused(self) -> bool:
        return self.result in REFUSED

    def short(self) -> str:
        """The few words a person who pressed is told."""
        if self.refused or self.result in ("marked", "paused", "resumed", "type_to_confirm"):
            return f"Robot SRE: {self.detail}"
        return f"Robot SRE: {self.result.replace('_', ' ')}"


def _refusal(approver: Approver | None, who: str, environment: str | None) -> PressOutcome | None:
    """The refusal for someone who may not answer in ``environment``
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


@dataclass(frozen=True)
class ChatPresses:
    """Carries out verified button presses with the services they need."""

    store: Store
    approvers: ChatApprovers
    answers: ApprovalAnswers
    notifier: Notifier
    marks: MarkBook
    automation: AutomationBook
    chat_pause_minutes: int

    def handle(self, surface: str, user: str, press: Press, note: str = "") -> PressOutcome:
        """Carry out ``press`` by chat user ``user`` of ``surface`` (slack |
        telegram); ``note``: the reason given for a deny."""
        approver = self.approvers.by_chat_user(surface, user)
        who = f"{surface} user {user}"
        if surface == "slack" and press.verb in ("approve", "approve_outside_window"):
            typed = self._typed_step(press.subject_id, approver)
            if typed is not None:
                return typed
        if press.verb in APPROVAL_VERBS:
            return self._answer_approval(surface, approver, who, press, note)
        if press.verb in MARKS or press.verb == "pause":
            found = self._incident_for(approver, who, press)
            if isinstance(found, PressOutcome):
                outcome = found
            elif press.verb == "pause":
                outcome = self._pause(surface, *found)
            else:
                outcome = self._mark(surface, press, *found)
        else:
            outcome = self._resume(surface, approver, who, press)
        if outcome.refused:
            self._audit_refusal(approver.name if approver else who, surface, press, outcome)
        return outcome

    def _typed_step(self, approval_id: str, approver: Approver | None) -> PressOutcome | None:
        """A disruptive approval counts only with its node typed (Slack has no
        dialog: the slash command is the second step); None: press on (also
        for someone who may not answer: the answer path refuses them)."""
        approval = self.answers.requests.get(approval_id)
        if approval is None or approval.action_class != "disruptive":
            return None
        if approver is None or not approver.may_answer(approval.environment):
            return None
        if approval.state_at(self.answers.clock()) != "pending":
            return None  # answered with its current state
        return PressOutcome(
            "type_to_confirm",
            f"{approval.action_name.lower()} needs the node typed to count: "
            f"/robot-sre approve {approval.id} NODE-NAME",
        )

    def _answer_approval(
        self, surface: str, approver: Approver | None, who: str, press: Press, note: str
    ) -> PressOutcome:
        override = press.verb == "approve_outside_window"
        verb = "deny" if press.verb == "deny" else "approve"
        answer = self.answers.answer(
            press.subject_id, verb, approver, surface, who, note, override_window=override
        )
        if answer.result == "outside_window":
            return self._outside_window(answer)
        return PressOutcome(answer.result, answer.detail)

    def _outside_window(self, answer: Answer) -> PressOutcome:
        approval = answer.approval
        if approval is not None:
            self.notifier.offer_window_override(approval)
        what = (
            f"{approval.action_name.lower()} {approval.target_label}" if approval else "this action"
        )
        return PressOutcome(
            "outside_window",
            f"{what} may run only inside the action windows, and it is outside them now. "
            'Press "Approve outside window" to run it now anyway; the request stays open.',
        )

    def _incident_for(
        self, approver: Approver | None, who: str, press: Press
    ) -> tuple[Incident, Approver] | PressOutcome:
        """The pressed incident and its approver, or why the press is refused."""
        incident = self.store.get_incident(press.subject_id)
        if incident is None:
            return PressOutcome("unknown", f"no incident {press.subject_id!r}")
        refusal = _refusal(approver, who, str(incident.environment))
        if refusal is not None:
            return refusal
        assert approver is not None
        return incident, approver

    def _mark(
        self, surface: str, press: Press, incident: Incident, approver: Approver
    ) -> PressOutcome:
        try:
            mark = self.marks.mark(incident.id, MARKS[press.verb], approver.name, surface)
        except LookupError:
            return PressOutcome("unknown", f"no incident {incident.id!r}")
        except MarkError as exc:
            return PressOutcome("invalid", f"{exc.field}: {exc.message}")
        self.notifier.marked(incident.id, mark, surface)
        verdict = "right" if press.verb == "right" else "a false positive"
        return PressOutcome("marked", f"incident {incident.id} marked {verdict} by {approver.name}")

    def _pause(self, surface: str, incident: Incident, approver: Approver) -> PressOutcome:
        body = {
            "reason": f"paused from {surface} by {approver.name} on incident {incident.id}",
            "duration_seconds": self.chat_pause_minutes * 60,
            "environment": str(incident.environment),
            "incident_type": incident.incident_type,
        }
        try:
            pause = self.automation.pause(body, approver.name, surface)
        except AutomationError as exc:
            return PressOutcome("invalid", f"{exc.field}: {exc.message}")
        self.notifier.paused(incident, pause, approver.name, surface)
        return PressOutcome(
            "paused",
            f"automation of {incident.incident_type} in {incident.environment} paused until "
            f"{pause.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({pause.id})",
        )

    def _resume(
        self, surface: str, approver: Approver | None, who: str, press: Press
    ) -> PressOutcome:
        now: datetime = self.automation.clock()
        found = [p for p in self.automation.active_pauses(now) if p.id == press.subject_id]
        if not found:
            return PressOutcome("unknown", f"pause {press.subject_id} is over (resumed or expired)")
        pause = found[0]
        refusal = _refusal(approver, who, pause.environment)
        if refusal is not None:
            return refusal
        assert approver is not None
        lifted = self.automation.resume(pause.id, approver.name, surface)
        if lifted is None:
            return PressOutcome("unknown", f"pause {pause.id} is over (resumed or expired)")
        self.notifier.resumed(
            lifted, self.notifier.pause_incident(lifted.id), approver.name, surface
        )
        return PressOutcome(
            "resumed", f"pause {lifted.id} lifted: automation of {lifted.scope} resumed"
        )

    def _audit_refusal(self, actor: str, surface: str, press: Press, outcome: PressOutcome) -> None:
        subject = (
            f"pause:{press.subject_id}"
            if press.verb == "resume"
            else f"incident:{press.subject_id}"
        )
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="chat.press_refused",
            subject=subject,
            after={"button": press.verb, "result": outcome.result},
            detail=outcome.detail[:2000],
        )
