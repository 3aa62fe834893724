"""Operator rules over the API: list, create, read, update, delete, history
and clone.

The actor audited is the authenticated principal; with API auth off and nobody
authenticated, the ``X-Robot-SRE-Actor`` header, or ``api``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.errors import error
from responder.api.openapi import Operation
from responder.api.requests import actor_of, if_match_version, json_object
from responder.policy.rulebook import RuleBook, RuleConflict, RuleNotFound
from responder.policy.rules import OperatorRule, RuleRejected

Found = TypeVar("Found")


def _record(rule: OperatorRule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


@dataclass(frozen=True)
class RulesApi:
    rules: RuleBook

    async def _call(
        self, request: Request, work: Callable[[str], Found], conflict_field: str | None = None
    ) -> Found | Response:
        """``work(rule_id)`` in a thread, or the error answer of its exception."""
        rule_id = request.path_params["rule_id"]
        try:
            return await anyio.to_thread.run_sync(work, rule_id)
        except RuleNotFound:
            return error(404, f"no rule {rule_id!r}")
        except RuleRejected as exc:
            return JSONResponse(exc.as_json(), status_code=400)
        except RuleConflict as exc:
            return error(409, str(exc), conflict_field)

    @Operation("Built-in and custom operator rules", answers={200: "rules"})
    async def list_rules(self, request: Request) -> JSONResponse:
        rules = await anyio.to_thread.run_sync(self.rules.all)
        return JSONResponse({"rules": [_record(r) for r in rules], "count": len(rules)})

    @Operation(
        "Create a custom rule (validated, versioned, audited)",
        body=OperatorRule,
        answers={201: "the saved rule"},
        errors={400: "rejected: names the boundary and field", 409: "id already exists"},
    )
    async def create_rule(self, request: Request) -> Response:
        body = await json_object(request, "a JSON object (a rule)")
        if isinstance(body, JSONResponse):
            return body
        try:
            rule = await anyio.to_thread.run_sync(self.rules.create, body, actor_of(request), "api")
        except RuleRejected as exc:
            return JSONResponse(exc.as_json(), status_code=400)
        except RuleConflict as exc:
            return error(409, str(exc), "id")
        return JSONResponse(_record(rule), status_code=201)

    @Operation("One rule", answers={200: "rule"}, errors={404: "no such rule"})
    async def get_rule(self, request: Request) -> Response:
        found = await self._call(request, self.rules.get)
        return found if isinstance(found, Response) else JSONResponse(_record(found))

    @Operation("Every version of a rule", answers={200: "versions, oldest first"})
    async def rule_history(self, request: Request) -> Response:
        found = await self._call(request, self.rules.history)
        if isinstance(found, Response):
            return found
        rule_id = request.path_params["rule_id"]
        return JSONResponse({"id": rule_id, "versions": [_record(r) for r in found]})

    @Operation(
        "Replace a custom rule (If-Match: version)",
        body=OperatorRule,
        answers={200: "the new version"},
        errors={
            400: "rejected",
            404: "no such rule",
            409: "changed since the given version",
        },
    )
    async def update_rule(self, request: Request) -> Response:
        body = await json_object(request, "a JSON object (a rule)")
        if isinstance(body, JSONResponse):
            return body
        expected = if_match_version(request, "If-Match must be a rule version number")
        if isinstance(expected, JSONResponse):
            return expected
        actor = actor_of(request)
        found = await self._call(
            request, lambda rule_id: self.rules.update(rule_id, body, actor, "api", expected)
        )
        return found if isinstance(found, Response) else JSONResponse(_record(found))

    @Operation("Delete a custom rule", answers={204: "deleted"}, errors={404: "no such rule"})
    async def delete_rule(self, request: Request) -> Response:
        actor = actor_of(request)
        found = await self._call(request, lambda rule_id: self.rules.delete(rule_id, actor, "api"))
        return found if isinstance(found, Response) else Response(status_code=204)

    @Operation(
        "Clone a rule (typically a built-in) into a custom override",
        answers={201: "the new custom rule"},
    )
    async def clone_rule(self, request: Request) -> Response:
        new_id = request.query_params.get("id")
        actor = actor_of(request)
        found = await self._call(
            request, lambda rule_id: self.rules.clone(rule_id, actor, "api", new_id), "id"
        )
        return (
            found if isinstance(found, Response) else JSONResponse(_record(found), status_code=201)
        )
