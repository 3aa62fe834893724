"""Policy: the resolved matrix per environment and the explain form (the
same answer as ``POST /api/v1/policy/explain``: policy layers, guard rails,
whether the action can run here)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from responder.accounts.models import Principal
from responder.actions.feasibility import explain_here
from responder.admin.access import page
from responder.admin.forms import LEVEL_CHOICES
from responder.admin.render import render
from responder.admin.services import services
from responder.policy.explain import ExplainError, parse_request

EXPLAIN_FIELDS = ("incident_type", "environment", "severity", "confidence", "action", "target")


@page("policy")
async def policy_page(request: Request, principal: Principal) -> Response:
    admin = services(request)
    params = request.query_params
    answer: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    if "action" in params:
        body = {k: params[k] for k in EXPLAIN_FIELDS if params.get(k)}
        try:
            runtime = admin.runtime
            answer = explain_here(
                runtime.policy, parse_request(body), runtime.guards, runtime.feasibility
            )
        except ExplainError as exc:
            errors[exc.field.split(".")[0]] = exc.message
    matrix = await anyio.to_thread.run_sync(admin.matrix)
    return render(
        request,
        "policy.html",
        status=400 if errors else 200,
        matrix=matrix,
        answer=answer,
        errors=errors,
        params=dict(params),
        types=list(admin.runtime.taxonomy.incident_types),
        actions=list(admin.runtime.taxonomy.actions),
        **LEVEL_CHOICES,
    )
