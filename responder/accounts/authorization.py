"""One rule for who may do what on every surface: API, admin UI, approvals.

A request needs a role and belongs to an area a scoped token must name. Account
management is no scope a token can be given, so a narrow token never mints a
wide one. A browser's state change must carry the CSRF token and come from
this site; a bearer token needs neither, as no browser sends one on its own."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from responder.accounts.models import Principal, Role

#: user and token management: an unscoped principal only
ACCOUNTS = "accounts"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Need:
    """What a route asks of its caller; ``area`` None: any token may."""

    role: Role
    area: str | None


def refusal(principal: Principal, need: Need) -> str | None:
    """Why ``principal`` may not do what ``need`` describes, or None."""
    if not principal.can(need.role):
        return f"this needs the {need.role} role; {principal.name} is {principal.role}"
    limited = ", ".join(principal.scopes)
    if need.area == ACCOUNTS and principal.scopes:
        return (
            "users and tokens are managed only by an unscoped admin session or token; "
            f"this token is limited to {limited}"
        )
    if need.area is not None and not principal.allows_scope(need.area):
        return f"this token is limited to {limited}; this needs the {need.area} scope"
    return None


def forged(request: HTTPConnection, principal: Principal, submitted: str | None) -> bool:
    """A state change ``principal`` did not mean to make: sent from another
    site, or by a browser without the page's CSRF token."""
    if principal.via == "token":
        return False
    if not same_origin(request):
        return True
    return not (
        submitted
        and principal.csrf
        and hmac.compare_digest(submitted.encode(), principal.csrf.encode())
    )


def same_origin(request: HTTPConnection) -> bool:
    """False when the browser says the request came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
