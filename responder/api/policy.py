"""``POST /api/v1/policy/explain``."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api.errors import error
from responder.policy.explain import ExplainError, explain, parse_request
from responder.runtime import Runtime


async def explain_decision(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return error(400, f"malformed JSON: {exc}", "-")
    try:
        answer = explain(runtime.policy, parse_request(body))
    except ExplainError as exc:
        return error(400, exc.message, exc.field)
    return JSONResponse(answer)
