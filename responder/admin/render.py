"""Templates, the page context every page shares, and the security headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from responder.accounts.models import Principal, Role
from responder.admin.banner import pauses_in_force

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: no inline script or style anywhere: everything comes from /admin/static
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

NAV = (
    ("rules", "Rules", "/admin/rules", Role.viewer),
    ("incidents", "Incidents", "/admin/incidents", Role.viewer),
    ("approvals", "Approvals", "/admin/approvals", Role.viewer),
    ("automation", "Automation", "/admin/automation", Role.viewer),
    ("channels", "Channels", "/admin/channels", Role.viewer),
    ("policy", "Policy", "/admin/policy", Role.viewer),
    ("audit", "Audit", "/admin/audit", Role.viewer),
    ("users", "Users", "/admin/users", Role.admin),
    ("tokens", "API tokens", "/admin/tokens", Role.admin),
)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _safe_link(url: str) -> str | None:
    """Only http(s) links from alert data become hrefs."""
    return url if urlsplit(url).scheme in ("http", "https") else None


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _query(params: dict[str, Any], **changes: Any) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return urlencode(merged)


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters["when"] = _when
    env.filters["safe_link"] = _safe_link
    env.filters["pretty_json"] = _json
    env.globals["qs"] = _query
    env.globals["Role"] = Role
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    admin = request.app.state.admin
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    response: HTMLResponse = admin.templates.TemplateResponse(
        request,
        template,
        {
            "me": principal,
            "csrf": principal.csrf if principal else None,
            "nav": [n for n in NAV if principal and principal.can(n[3])],
            "static_url": admin.static.url,
            "can": (lambda role: principal is not None and principal.can(role)),
            "pauses": pauses_in_force(request) if principal else [],
            **context,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(eq=False)
class SecurityHeaders:
    """Adds the CSP and friends to every admin response."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
