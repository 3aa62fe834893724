"""The in-app inbox: ``GET /api/v1/approvals`` lists approval requests and
the notifications of the in-app channel; ``POST /api/v1/approvals/{id}/approve``
and ``/deny`` answer a request as the approver whose API token comes in
``Authorization: Bearer <token>`` (``responder/approvals/approvers.py``).

The API guard leaves this area to these handlers. When accounts exist
(``responder/accounts/``) an account with the ``approver`` role, as
``responder.accounts.authenticate`` finds it (a bearer token with the
``approvals`` scope, a trusted proxy, or a session sending its CSRF header),
may answer in this responder's environment too (``approver_for``, which the
admin UI's Approve / Deny forms use as well), and once API authentication is on,
listing needs the ``viewer`` role or an approver token.

An optional JSON body ``{"note": "...", "override_window": true}`` is kept
with the answer; ``override_window`` lets this one recover or disruptive
action run outside the configured action windows. The
answer goes through the same desk as the chat buttons: 200 with the result
(``executed``, ``dry_run``, ``failed``, ``refused``, ``skipped``, ``denied``), 202
``waiting`` for an approved node action that waits for another one in flight, 401
without a valid token, 403 for an approver of another environment, 404 for
an unknown request, 409 for one that is expired, superseded or answered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.accounts import authenticate
from responder.accounts.authorization import CSRF_HEADER, Need, forged, refusal
from responder.accounts.models import Principal, Role
from responder.api import cursors
from responder.api.errors import error
from responder.approvals.approvers import Approver, bearer_token
from responder.channels.render import approval_text
from responder.records.approval import ApprovalRequest
from responder.records.redaction import redact
from responder.runtime import Runtime

MAX_LIMIT = 500
READ = Need(Role.viewer, "approvals")
ANSWER = Need(Role.approver, "approvals")
STATES = ("pending", "approved", "denied", "expired", "superseded", "executed")


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


def _reader_allowed(request: Request, runtime: Runtime) -> bool:
    token = bearer_token(request.headers.get("authorization"))
    if runtime.approvers.authenticate(token) is not None:
        return True
    accounts = runtime.accounts
    if not accounts.api_auth_enabled():
        return True
    principal = authenticate(request)
    return principal is not None and refusal(principal, READ) is None


def _approver(request: Request, runtime: Runtime) -> Approver | None:
    """The approver behind the request: an approver token from the settings,
    else an account with the approver role (this responder's environment)."""
    token = bearer_token(request.headers.get("authorization"))
    found = runtime.approvers.authenticate(token)
    if found is not None:
        return found
    principal = authenticate(request)
    if principal is None:
        return None
    if forged(request, principal, request.headers.get(CSRF_HEADER)):
        return None  # a browser sent it on its own: cross-site forgery
    return approver_for(principal, runtime)


def approver_for(principal: Principal, runtime: Runtime) -> Approver | None:
    """The approver an account stands for: one with the ``approver`` role
    (and, for a token, the ``approvals`` scope) answers in this responder's
    environment. The admin UI's Approve / Deny forms use it too, after their
    own CSRF check."""
    if refusal(principal, ANSWER) is not None:
        return None
    return Approver(
        name=principal.name, environments=frozenset({str(runtime.settings.environment)})
    )


def _unauthenticated(message: str) -> JSONResponse:
    response = error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="robot-sre approvals"'
    return response


async def list_approvals(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    if not await anyio.to_thread.run_sync(_reader_allowed, request, runtime):
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
        now = runtime.approvals.clock() if runtime.approvals else datetime.now(UTC)
        approvals = runtime.approvals.all() if runtime.approvals else []
        # newest first; a cursor names the last one of the page before
        approvals.sort(key=lambda a: (a.requested_at, a.id), reverse=True)
        if after is not None:
            approvals = [a for a in approvals if (a.requested_at, a.id) < after]
        records = [redact(_record(a, now)) for a in approvals]
        if state is not None:
            records = [r for r in records if r["state"] == state]
        if incident_id is not None:
            records = [r for r in records if r["incident_id"] == incident_id]
        notes = runtime.chatops.inbox.entries(limit, incident_id) if runtime.chatops else []
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
            "channels": ["in_app", *(runtime.chatops.chat_channels if runtime.chatops else ())],
        }

    return JSONResponse(await anyio.to_thread.run_sync(read))


async def approve(request: Request) -> JSONResponse:
    return await _answer(request, "approve")


async def deny(request: Request) -> JSONResponse:
    return await _answer(request, "deny")


async def _answer(request: Request, verb: str) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    approver = await anyio.to_thread.run_sync(_approver, request, runtime)
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
    desk = runtime.desk
    answer = await anyio.to_thread.run_sync(
        lambda: desk.answer(
            approval_id, verb, approver, "in_app", approver.name, note, override_window
        )
    )
    return JSONResponse(answer.as_json(), status_code=answer.status)


def approval_paths() -> dict[str, Any]:
    """The OpenAPI paths of the inbox and the chat callbacks."""
    answer = {
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "approval_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "note": {"type": "string"},
                            "override_window": {
                                "type": "boolean",
                                "description": "run this one action outside the action windows",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "answered: result executed, dry_run, failed, refused, skipped, "
                "denied"
            },
            "202": {
                "description": "approved, waiting: another node action is in flight; it runs "
                "once that ends (result waiting)"
            },
            "401": {"description": "no approver token"},
            "403": {"description": "not an approver for the request's environment"},
            "404": {"description": "no such request"},
            "409": {
                "description": "expired, superseded, already answered, or outside the action "
                "windows without override_window (the request stays pending)"
            },
        },
    }
    return {
        "/api/v1/approvals": {
            "get": {
                "summary": "The in-app inbox: approval requests and notifications",
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": kind}}
                    for name, kind in (
                        ("state", "string"),
                        ("incident_id", "string"),
                        ("limit", "integer"),
                        ("cursor", "string"),
                    )
                ],
                "responses": {"200": {"description": "approvals, notifications, channels"}},
            }
        },
        "/api/v1/approvals/{approval_id}/approve": {
            "post": {"summary": "Approve (the robot re-decides, then acts once)", **answer}
        },
        "/api/v1/approvals/{approval_id}/deny": {"post": {"summary": "Deny", **answer}},
        "/webhooks/slack/interactions": {
            "post": {
                "summary": "Slack button presses (X-Slack-Signature v0, 5 min window)",
                "responses": {
                    "200": {"description": "taken"},
                    "401": {"description": "bad signature"},
                    "404": {"description": "Slack is not configured here"},
                },
            }
        },
        "/webhooks/telegram": {
            "post": {
                "summary": "Telegram updates (X-Telegram-Bot-Api-Secret-Token)",
                "responses": {
                    "200": {"description": "taken"},
                    "401": {"description": "bad secret"},
                    "404": {"description": "Telegram is not configured here"},
                },
            }
        },
    }
