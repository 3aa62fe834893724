"""``POST /api/v1/policy/explain``: the five policy layers, and the guard
rails of the current state (pauses, automation modes, windows, blocking
alerts, blast radius) in ``guards``."""

from __future__ import annotations

import json

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api.errors import error
from responder.guards.explain import explain_guarded
from responder.policy.explain import ExplainError, parse_request
from responder.runtime import Runtime


async def explain_decision(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return error(400, f"malformed JSON: {exc}", "-")
    try:
        parsed = parse_request(body)
        answer = await anyio.to_thread.run_sync(
            lambda: explain_guarded(runtime.policy, parsed, runtime.guards)
        )
    except ExplainError as exc:
        return error(400, exc.message, exc.field)
    return JSONResponse(answer)
