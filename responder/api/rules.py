"""Operator rules: ``GET/POST /api/v1/rules``, ``GET/PUT/DELETE
/api/v1/rules/{id}``, ``GET /api/v1/rules/{id}/history`` and
``POST /api/v1/rules/{id}/clone``.

The actor recorded in the audit log is the authenticated principal (API
token, session or trusted proxy; see ``responder/accounts/http_auth.py``); with
API auth off and nobody authenticated, the ``X-Robot-SRE-Actor`` header, or
``api``.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.errors import error
from responder.api.requests import actor_of, json_object
from responder.policy.rulebook import RuleConflict, RuleNotFound
from responder.policy.rules import OperatorRule, RuleRejected
from responder.runtime import Runtime


def _record(rule: OperatorRule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


def _rejected(exc: RuleRejected) -> JSONResponse:
    return JSONResponse(exc.as_json(), status_code=400)


async def list_rules(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    rules = await anyio.to_thread.run_sync(runtime.rules.all)
    return JSONResponse({"rules": [_record(r) for r in rules], "count": len(rules)})


async def create_rule(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await json_object(request, "a JSON object (a rule)")
    if isinstance(body, JSONResponse):
        return body
    try:
        rule = await anyio.to_thread.run_sync(runtime.rules.create, body, actor_of(request), "api")
    except RuleRejected as exc:
        return _rejected(exc)
    except RuleConflict as exc:
        return error(409, str(exc), "id")
    return JSONResponse(_record(rule), status_code=201)


async def get_rule(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    rule_id = request.path_params["rule_id"]
    try:
        rule = await anyio.to_thread.run_sync(runtime.rules.get, rule_id)
    except RuleNotFound:
        return error(404, f"no rule {rule_id!r}")
    return JSONResponse(_record(rule))


async def rule_history(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    rule_id = request.path_params["rule_id"]
    try:
        versions = await anyio.to_thread.run_sync(runtime.rules.history, rule_id)
    except RuleNotFound:
        return error(404, f"no rule {rule_id!r}")
    return JSONResponse({"id": rule_id, "versions": [_record(r) for r in versions]})


async def update_rule(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    rule_id = request.path_params["rule_id"]
    body = await json_object(request, "a JSON object (a rule)")
    if isinstance(body, JSONResponse):
        return body
    expected: int | None = None
    if_match = request.headers.get("if-match")
    if if_match is not None:
        if not if_match.strip('"').isdigit():
            return error(400, "If-Match must be a rule version number", "If-Match")
        expected = int(if_match.strip('"'))
    try:
        rule = await anyio.to_thread.run_sync(
            lambda: runtime.rules.update(rule_id, body, actor_of(request), "api", expected)
        )
    except RuleNotFound:
        return error(404, f"no rule {rule_id!r}")
    except RuleRejected as exc:
        return _rejected(exc)
    except RuleConflict as exc:
        return error(409, str(exc))
    return JSONResponse(_record(rule))


async def delete_rule(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    rule_id = request.path_params["rule_id"]
    try:
        await anyio.to_thread.run_sync(runtime.rules.delete, rule_id, actor_of(request), "api")
    except RuleNotFound:
        return error(404, f"no rule {rule_id!r}")
    except RuleRejected as exc:
        return _rejected(exc)
    return Response(status_code=204)


async def clone_rule(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    rule_id = request.path_params["rule_id"]
    new_id = request.query_params.get("id")
    try:
        rule = await anyio.to_thread.run_sync(
            lambda: runtime.rules.clone(rule_id, actor_of(request), "api", new_id)
        )
    except RuleNotFound:
        return error(404, f"no rule {rule_id!r}")
    except RuleRejected as exc:
        return _rejected(exc)
    except RuleConflict as exc:
        return error(409, str(exc), "id")
    return JSONResponse(_record(rule), status_code=201)
