"""``POST /api/v1/policy/explain``: the five policy layers, the guard
rails of the current state (pauses, automation modes, windows, blocking
alerts, blast radius) in ``guards``, and whether the action can run here
(``cannot_run``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.actions.feasibility import Feasibility, explain_here
from responder.api.errors import error
from responder.api.openapi import Operation
from responder.guards.rails import GuardRails
from responder.policy.engine import PolicyEngine
from responder.policy.explain import ExplainError, ExplainRequest, parse_request


@dataclass(frozen=True)
class PolicyApi:
    policy: PolicyEngine
    guards: GuardRails
    feasibility: Feasibility

    @Operation(
        "Decision and layer-by-layer trace for a hypothetical incident",
        body=ExplainRequest,
        answers={200: "decision, action_class, layers"},
        errors={400: "invalid request: the field is named"},
    )
    async def explain_decision(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return error(400, f"malformed JSON: {exc}", "-")
        try:
            parsed = parse_request(body)
            answer = await anyio.to_thread.run_sync(
                lambda: explain_here(self.policy, parsed, self.guards, self.feasibility)
            )
        except ExplainError as exc:
            return error(400, exc.message, exc.field)
        return JSONResponse(answer)
