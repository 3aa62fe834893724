"""Who may see and do what in the admin UI.

Pages need a session with the role (and a token scoped to the area), by the
same rule as the API; state changes also need a same-site request carrying the
CSRF token. Anything else is 403 (or the login page when not logged in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.authorization import CSRF_HEADER, Need, forged, refusal
from responder.accounts.models import Principal, Role
from responder.accounts.service import authenticate
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


def page(
    area: str | None, role: Role = Role.viewer
) -> Callable[[PageHandler], Callable[[Request], Any]]:
    need = Need(role, area)

    def wrap(handler: PageHandler) -> Callable[[Request], Any]:
        async def serve(request: Request, principal: Principal) -> Response:
            return await _admit(request, principal, need) or await handler(request, principal)

        return _signed_in(handler, _to_login, serve)

    return wrap


def action(area: str | None, role: Role) -> Callable[[ActionHandler], Callable[[Request], Any]]:
    need = Need(role, area)

    def wrap(handler: ActionHandler) -> Callable[[Request], Any]:
        async def serve(request: Request, principal: Principal) -> Response:
            form = await request.form()
            submitted = form.get("csrf_token") or request.headers.get(CSRF_HEADER)
            token = submitted if isinstance(submitted, str) else None
            if forged(request, principal, token):
                return refuse(
                    request, 403, "Cross-site request refused: the form's CSRF token is missing."
                )
            return await _admit(request, principal, need) or await handler(request, principal, form)

        return _signed_in(handler, lambda request: refuse(request, 403, "Log in first."), serve)

    return wrap


def _signed_in(
    handler: Callable[..., Any],
    anonymous: Callable[[Request], Response],
    serve: Callable[[Request, Principal], Awaitable[Response]],
) -> Callable[[Request], Any]:
    """``handler``'s endpoint: ``anonymous`` answers a request nobody signed
    in to, ``serve`` the others."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        principal = await principal_of(request)
        if principal is None:
            return anonymous(request)
        return await serve(request, principal)

    return run


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/login?next={quote(target)}", status_code=303)


async def _admit(request: Request, principal: Principal, need: Need) -> Response | None:
    """403 without the role, or with a token not scoped to the area; else
    None, with the pause banner loaded for the page."""
    denied = refusal(principal, need)
    if denied is not None:
        return refuse(request, 403, f"Not for you: {denied}.")
    await load_pauses(request)
    return None
