"""The admin Approvals page: every approval request, pending ones first, and
the answer to one for an approver.

An answer takes the same path as the chat buttons and the API (single
use, environment checked, evidence looked at again); a viewer or operator gets
403 before the answer is looked at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.admin.access import action, page, refuse
from responder.admin.render import render
from responder.admin.services import services
from responder.api.approvals import approver_for
from responder.approvals.answers import ApprovalAnswers
from responder.approvals.requests import COLLECTION
from responder.records.approval import ApprovalRequest
from responder.records.redaction import redacted

ORDER = {
    "pending": 0,
    "approved": 1,
    "executed": 2,
    "denied": 3,
    "superseded": 4,
    "expired": 5,
}
MAX_NOTE = 500

#: what the page says after an answer (fixed texts: nothing from the URL is shown)
RESULTS = {
    "executed": "Approved: the action ran.",
    "dry_run": "Approved: the action was recorded as a dry run (nothing changed).",
    "failed": "Approved, but the action failed: see the incident's executed actions.",
    "skipped": "Approved, but the runner skipped the action (cooldown, lock or no executor).",
    "refused": "Approved, but the runner refused to run the action.",
    "denied": "Denied: the robot will not ask again for this.",
    "superseded": "Superseded: on the current evidence the robot no longer wants this action, "
    "so it did not act.",
    "expired": "Too late: the request had expired.",
    "already_answered": "Somebody answered this request already.",
    "busy": "The incident is busy: answer again in a moment.",
    "waiting": "Approved: another node action is in flight, so this one waits and runs "
    "when that ends (one node action at a time).",
    "outside_window": "Outside the action windows: the request stays pending; tick "
    '"run outside the action windows" to approve it now.',
}


@dataclass(frozen=True)
class ApprovalRow:
    """One request as a page shows it: the six elements of spec section 14
    (action, target, why now, expected impact, rollback, expiry) and the
    state as of now."""

    approval: ApprovalRequest
    state: str
    prompt: str
    time_left: str
    #: a recover or disruptive action outside the action windows: approving
    #: it needs the approver to override them for this one action
    outside_window: bool = False

    @property
    def pending(self) -> bool:
        return self.state == "pending"


def time_left(approval: ApprovalRequest, now: datetime) -> str:
    seconds = int((approval.expires_at - now).total_seconds())
    if seconds <= 0:
        return "expired"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m {seconds:02d}s left" if minutes else f"{seconds}s left"


def approval_rows(
    approvals: list[ApprovalRequest], now: datetime, answers: ApprovalAnswers
) -> list[ApprovalRow]:
    guards = answers.guards
    rows = []
    for a in map(redacted, approvals):
        state = a.state_at(now)
        rows.append(
            ApprovalRow(
                a,
                state,
                a.prompt(now if state == "pending" else a.requested_at),
                time_left(a, now),
                state == "pending"
                and guards is not None
                and guards.outside_windows(a.action_class, now),
            )
        )
    return rows


def answer_notice(request: Request) -> tuple[str, str] | None:
    """(result, text) after an answer, from ``?answered=ID&result=…``."""
    result = request.query_params.get("result", "")
    answered = request.query_params.get("answered", "")
    if result not in RESULTS or not answered:
        return None
    return result, f"{answered[:40]}: {RESULTS[result]}"


@page("approvals")
async def approvals_page(request: Request, principal: Principal) -> Response:
    admin = services(request)
    now = admin.now()
    state = request.query_params.get("state", "")

    def load() -> list[ApprovalRequest]:
        docs = admin.runtime.store.list_documents(COLLECTION)
        return [ApprovalRequest.model_validate(doc) for _, doc in docs]

    approvals = await anyio.to_thread.run_sync(load)
    rows = approval_rows(approvals, now, admin.runtime.approval_answers)
    if state:
        rows = [r for r in rows if r.state == state]
    rows.sort(key=lambda r: (ORDER.get(r.state, 9), -r.approval.requested_at.timestamp()))
    return render(
        request,
        "approvals.html",
        rows=rows,
        state=state,
        states=list(ORDER),
        pending=sum(1 for r in rows if r.pending),
        answering=approver_for(principal, str(admin.runtime.settings.environment)) is not None,
        notice=answer_notice(request),
        back="/admin/approvals" + (f"?state={state}" if state in ORDER else ""),
    )


def _back(form: FormData, approval_id: str) -> str:
    raw = form.get("back")
    back = raw if isinstance(raw, str) else ""
    if not back.startswith("/admin/") or back.startswith("//") or "\\" in back:
        back = "/admin/approvals"
    path, _, query = back.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith(("answered=", "result="))]
    kept.append(urlencode({"answered": approval_id}))
    return f"{path}?{'&'.join(kept)}"


async def _answer(request: Request, principal: Principal, form: FormData, verb: str) -> Response:
    admin = services(request)
    answers = admin.runtime.approval_answers
    approver = approver_for(principal, str(admin.runtime.settings.environment))
    if approver is None:
        return refuse(
            request, 403, f"Answering approvals needs the approver role; you are {principal.role}."
        )
    approval_id = request.path_params["approval_id"]
    raw = form.get("note")
    note = raw.strip()[:MAX_NOTE] if isinstance(raw, str) else ""
    if verb == "deny" and not note:
        return refuse(request, 400, "Say why you deny the request: the reason is kept with it.")
    override_window = verb == "approve" and form.get("override_window") == "on"
    answer = await anyio.to_thread.run_sync(
        lambda: answers.answer(
            approval_id, verb, approver, "in_app", approver.name, note, override_window
        )
    )
    if answer.result in ("unknown", "forbidden"):
        return refuse(request, answer.status, answer.detail)
    back = _back(form, approval_id)
    return RedirectResponse(f"{back}&{urlencode({'result': answer.result})}", status_code=303)


@action("approvals", Role.approver)
async def approval_approve(request: Request, principal: Principal, form: FormData) -> Response:
    return await _answer(request, principal, form, "approve")


@action("approvals", Role.approver)
async def approval_deny(request: Request, principal: Principal, form: FormData) -> Response:
    return await _answer(request, principal, form, "deny")
