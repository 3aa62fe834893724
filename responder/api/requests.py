"""What the API handlers read from a request: who is asking, a JSON object
body and the ``If-Match`` version (or the 400 answer that says why not)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api.errors import error

ACTOR_HEADER = "x-robot-sre-actor"


def actor_of(request: Request) -> str:
    """The authenticated principal, else the actor header (API auth off)."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.name)
    return request.headers.get(ACTOR_HEADER, "api")[:100] or "api"


async def json_object(
    request: Request, what: str = "a JSON object"
) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, or a 400 naming what was expected."""
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return error(400, f"malformed JSON: {exc}", "-")
    if not isinstance(body, dict):
        return error(400, f"expected {what}")
    return body


def if_match_version(request: Request, message: str) -> int | JSONResponse | None:
    """The version the ``If-Match`` header names (None without one), or a 400."""
    if_match = request.headers.get("if-match")
    if if_match is None:
        return None
    if not if_match.strip('"').isdigit():
        return error(400, message, "If-Match")
    return int(if_match.strip('"'))
