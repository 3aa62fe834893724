"""Access to the HTTP API: reads need ``viewer``, rule and automation
changes and incident marks ``operator``, other writes ``admin``.

With ``api_auth`` off every request passes; either way the authenticated
principal is left on the request so that handlers record who acted. The
approvals area is left to its own handlers (approver tokens)."""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from responder.accounts.authorization import CSRF_HEADER, SAFE_METHODS, Need, forged, refusal
from responder.accounts.models import Principal, Role
from responder.accounts.service import Accounts
from responder.store import StoreUnavailable

PREFIX = "/api/v1/"
#: areas whose writes an operator may make; ``policy`` only computes (explain)
WRITE_ROLES = {
    "rules": Role.operator,
    "automation": Role.operator,
    "incidents": Role.operator,  # marks (POST /api/v1/incidents/{id}/mark)
    "policy": Role.viewer,
}
SELF_GUARDED = frozenset({"approvals"})


def required_role(method: str, area: str) -> Role:
    if method in SAFE_METHODS:
        return Role.viewer
    return WRITE_ROLES.get(area, Role.admin)


def authentication_required(how: str) -> JSONResponse:
    """401 with the bearer challenge; ``how`` says where a credential comes from."""
    return JSONResponse(
        {"error": f"authentication required: send Authorization: Bearer <token> {how}"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="robot-sre"'},
    )


@dataclass(eq=False)
class ApiAuth:
    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        area = path[len(PREFIX) :].split("/", 1)[0]
        accounts: Accounts = scope["app"].state.accounts
        if area in SELF_GUARDED:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await anyio.to_thread.run_sync(accounts.authenticate, request)
            enforced = await anyio.to_thread.run_sync(accounts.api_auth_enabled)
        except StoreUnavailable as exc:
            await JSONResponse({"error": f"store unavailable: {exc}"}, 503)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        refusal = self._refusal(request, principal, area, enforced)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(
        self, request: Request, principal: Principal | None, area: str, enforced: bool
    ) -> JSONResponse | None:
        if not enforced:
            return None
        method = request.method
        if principal is None:
            return authentication_required("(robot-sre token create) or log in at /admin/login")
        denied = refusal(principal, Need(required_role(method, area), area))
        if denied is not None:
            return JSONResponse({"error": f"{method} {request.url.path}: {denied}"}, 403)
        if method not in SAFE_METHODS and forged(
            request, principal, request.headers.get(CSRF_HEADER)
        ):
            return JSONResponse(
                {"error": f"cross-site request refused: send the {CSRF_HEADER} header"},
                status_code=403,
            )
        return None
