"""The in-app inbox API: list approval requests and in-app notifications,
approve or deny a request.

Answers go through the same path as the chat buttons and the admin UI. The
caller is an approver token from the settings or an account with the
``approver`` role."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.accounts import authenticate
from responder.accounts.authorization import CSRF_HEADER, Need, forged, refusal
from responder.accounts.models import Principal, Role
from responder.accounts.service import Accounts
from responder.api import cursors
from responder.api.errors import error
from responder.api.openapi import Operation
from responder.approvals.answers import ApprovalAnswers
from responder.approvals.approvers import Approver, ApproverDirectory, bearer_token
from responder.approvals.requests import ApprovalRequests
from responder.channels.build import ChatOps
from responder.channels.render import approval_text
from responder.records.approval import ApprovalRequest
from responder.records.redaction import redact

MAX_LIMIT = 500
READ = Need(Role.viewer, "approvals")
ANSWER = Need(Role.approver, "approvals")
STATES = ("pending", "approved", "denied", "expired", "superseded", "executed")


class AnswerNote(BaseModel):
    """What an approver may say with an answer."""

    note: str = ""
    override_window: bool = Field(
        default=False, description="run this one action outside the action windows"
    )


def _record(approval: ApprovalRequest, now: datetime) -> dict[str, Any]:
    record = approval.model_dump(mode="json")
    record["state"] = approval.state_at(now)
    record["prompt"] = approval_text(
        approval, now if record["state"] == "pending" else approval.requested_at
    )
    if record["state"] == "pending":
        record["answer"] = {
            "approve": f"/api/v1/approvals/{approval.id}/approve",
            "deny": f"/api/v1/approvals/{approval.id}/deny",
        }
    return record


def approver_for(principal: Principal, environment: str) -> Approver | None:
    """The approver an account stands for: one with the ``approver`` role
    (and, for a token, the ``approvals`` scope) answers in this responder's
    ``environment``. The admin UI's Approve / Deny forms use it too, after
    their own CSRF check."""
    if refusal(principal, ANSWER) is not None:
        return None
    return Approver(name=principal.name, environments=frozenset({environment}))


def _unauthenticated(message: str) -> JSONResponse:
    response = error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="robot-sre approvals"'
    return response


def _answer_operation(summary: str) -> Operation:
    return Operation(
        summary,
        security=[{"bearer": []}],
        body=AnswerNote,
        body_required=False,
        answers={
            200: "answered: result executed, dry_run, failed, refused, skipped, denied",
            202: "approved, waiting: another node action is in flight; it runs once that ends"
            " (result waiting)",
            401: "no approver token",
            403: "not an approver for the request's environment",
            404: "no such request",
            409: "expired, superseded, already answered, or outside the action windows"
            " without override_window (the request stays pending)",
        },
    )


@dataclass(frozen=True)
class ApprovalsApi:
    approvals: ApprovalRequests
    answers: ApprovalAnswers
    approvers: ApproverDirectory
    accounts: Accounts
    chatops: ChatOps
    environment: str

    def _reader_allowed(self, request: Request) -> bool:
        token = bearer_token(request.headers.get("authorization"))
        if self.approvers.authenticate(token) is not None:
            return True
        if not self.accounts.api_auth_enabled():
            return True
        principal = authenticate(request)
        return principal is not None and refusal(principal, READ) is None

    def _approver(self, request: Request) -> Approver | None:
        """The approver behind the request: an approver token from the settings,
        else an account with the approver role (this responder's environment)."""
        token = bearer_token(request.headers.get("authorization"))
        found = self.approvers.authenticate(token)
        if found is not None:
            return found
        principal = authenticate(request)
        if principal is None:
            return None
        if forged(request, principal, request.headers.get(CSRF_HEADER)):
            return None  # a browser sent it on its own: cross-site forgery
        return approver_for(principal, self.environment)

    @Operation(
        "The in-app inbox: approval requests and notifications",
        query=[("state", str), ("incident_id", str), ("limit", int), ("cursor", str)],
        answers={200: "approvals, notifications, channels"},
    )
    async def list_approvals(self, request: Request) -> JSONResponse:
        if not await anyio.to_thread.run_sync(self._reader_allowed, request):
            return _unauthenticated("listing approvals needs an approver token or the viewer role")
        params = request.query_params
        state = params.get("state")
        if state is not None and state not in STATES:
            return error(400, f"unknown state {state!r}; one of {', '.join(STATES)}", "state")
        raw_limit = params.get("limit", "100")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return error(400, f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
        limit = int(raw_limit)
        incident_id = params.get("incident_id")
        try:
            after = cursors.moment_after(params.get("cursor"))
        except ValueError as exc:
            return error(400, str(exc), "cursor")

        def read() -> dict[str, Any]:
            now = self.approvals.clock()
            approvals = self.approvals.all()
            # newest first; a cursor names the last one of the page before
            approvals.sort(key=lambda a: (a.requested_at, a.id), reverse=True)
            if after is not None:
                approvals = [a for a in approvals if (a.requested_at, a.id) < after]
            records = [redact(_record(a, now)) for a in approvals]
            if state is not None:
                records = [r for r in records if r["state"] == state]
            if incident_id is not None:
                records = [r for r in records if r["incident_id"] == incident_id]
            notes = self.chatops.inbox.entries(limit, incident_id)
            page = records[:limit]
            more = len(records) > limit
            return {
                "approvals": page,
                "count": len(page),
                "next_cursor": (
                    cursors.encode(page[-1]["requested_at"], page[-1]["id"]) if more else None
                ),
                "pending": sum(1 for r in records if r["state"] == "pending"),
                "notifications": redact(notes),
                "channels": ["in_app", *self.chatops.chat_channels],
            }

        return JSONResponse(await anyio.to_thread.run_sync(read))

    @_answer_operation("Approve (the robot re-decides, then acts once)")
    async def approve(self, request: Request) -> JSONResponse:
        return await self._answer(request, "approve")

    @_answer_operation("Deny")
    async def deny(self, request: Request) -> JSONResponse:
        return await self._answer(request, "deny")

    async def _answer(self, request: Request, verb: str) -> JSONResponse:
        approver = await anyio.to_thread.run_sync(self._approver, request)
        if approver is None:
            return _unauthenticated("an approver's API token is required (Authorization: Bearer)")
        note = ""
        override_window = False
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return error(400, f"malformed JSON: {exc}", "-")
            if not isinstance(body, dict) or not isinstance(body.get("note", ""), str):
                return error(400, "expected a JSON object with an optional string note", "note")
            if not isinstance(body.get("override_window", False), bool):
                return error(400, "override_window is true or false", "override_window")
            note = body.get("note", "")
            override_window = body.get("override_window", False)
        approval_id = request.path_params["approval_id"]
        answer = await anyio.to_thread.run_sync(
            lambda: self.answers.answer(
                approval_id, verb, approver, "in_app", approver.name, note, override_window
            )
        )
        return JSONResponse(answer.as_json(), status_code=answer.status)
