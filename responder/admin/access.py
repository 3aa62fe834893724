"""Who may see and do what in the admin UI.

Every page handler is wrapped by ``page(role)``: not logged in → the login
page; logged in without the role → 403. Every state-changing handler is
wrapped by ``action(role)``: on top of that the request must come from this
site (Origin / Sec-Fetch-Site) and carry the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``); anything else is 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.accounts.service import CSRF_HEADER, authenticate, csrf_matches, same_origin
from responder.admin.banner import load_pauses

PageHandler = Callable[[Request, Principal], Awaitable[Response]]
ActionHandler = Callable[[Request, Principal, FormData], Awaitable[Response]]


async def principal_of(request: Request) -> Principal | None:
    if "principal" not in request.scope.setdefault("state", {}):
        request.scope["state"]["principal"] = await anyio.to_thread.run_sync(authenticate, request)
    found: Principal | None = request.scope["state"]["principal"]
    return found


def refuse(request: Request, status: int, message: str) -> Response:
    from responder.admin.render import render

    return render(request, "error.html", status=status, message=message)


def page(role: Role = Role.viewer) -> Callable[[PageHandler], Callable[[Request], Any]]:
    def wrap(handler: PageHandler) -> Callable[[Request], Any]:
        @wraps(handler)
        async def run(request: Request) -> Response:
            principal = await principal_of(request)
            if principal is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/admin/login?next={quote(target)}", status_code=303)
            if not principal.can(role):
                return refuse(
                    request, 403, f"This page needs the {role} role; you are {principal.role}."
                )
            await load_pauses(request)
            return await handler(request, principal)

        return run

    return wrap


def action(role: Role) -> Callable[[ActionHandler], Callable[[Request], Any]]:
    def wrap(handler: ActionHandler) -> Callable[[Request], Any]:
        @wraps(handler)
        async def run(request: Request) -> Response:
            principal = await principal_of(request)
            if principal is None:
                return refuse(request, 403, "Log in first.")
            form = await request.form()
            submitted = form.get("csrf_token") or request.headers.get(CSRF_HEADER)
            token = submitted if isinstance(submitted, str) else None
            if not same_origin(request) or not csrf_matches(principal, token):
                return refuse(
                    request, 403, "Cross-site request refused: the form's CSRF token is missing."
                )
            if not principal.can(role):
                return refuse(
                    request, 403, f"This needs the {role} role; you are {principal.role}."
                )
            await load_pauses(request)
            return await handler(request, principal, form)

        run.needs_role = role  # type: ignore[attr-defined]
        return run

    return wrap
