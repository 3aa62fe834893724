"""The automation API: pauses, automation modes, incident marks and
promotion readiness.

Writes need the ``operator`` role, reads ``viewer``; every write is audited
with the authenticated actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.errors import error
from responder.api.openapi import Body, Operation
from responder.api.requests import actor_of, if_match_version, json_object
from responder.guards.automation import (
    AutomationBook,
    AutomationConflict,
    AutomationError,
    ModeEntry,
    PauseRequest,
)
from responder.guards.readiness import MarkBook, MarkError, MarkRequest
from responder.records.levels import Environment
from responder.taxonomy.models import Taxonomy


class ModesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    modes: list[ModeEntry]


class Mark(MarkRequest):
    """A person's verdicts on an incident, as recorded."""

    incident_id: str
    incident_type: str
    environment: str
    marked_by: str
    marked_at: datetime
    version: int


@dataclass(frozen=True)
class AutomationApi:
    automation: AutomationBook
    marks: MarkBook
    taxonomy: Taxonomy

    @Operation("Active automation pauses", answers={200: "pauses, count"})
    async def list_pauses(self, request: Request) -> JSONResponse:
        pauses = await anyio.to_thread.run_sync(self.automation.active_pauses)
        return JSONResponse({"pauses": [p.as_json() for p in pauses], "count": len(pauses)})

    @Operation(
        "Pause automation (auto decisions ask, or go shadow) for a time",
        body=PauseRequest,
        answers={201: "the pause record with its id"},
        errors={400: "invalid field"},
    )
    async def create_pause(self, request: Request) -> Response:
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        actor = actor_of(request)
        try:
            pause = await anyio.to_thread.run_sync(self.automation.pause, body, actor, "api")
        except AutomationError as exc:
            return error(400, exc.message, exc.field)
        return JSONResponse(pause.as_json(), status_code=201)

    @Operation(
        "Resume: lift a pause", answers={204: "resumed"}, errors={404: "no such active pause"}
    )
    async def resume_pause(self, request: Request) -> Response:
        pause_id = request.path_params["pause_id"]
        actor = actor_of(request)
        resumed = await anyio.to_thread.run_sync(self.automation.resume, pause_id, actor, "api")
        if resumed is None:
            return error(404, f"no active pause {pause_id!r}")
        return Response(status_code=204)

    @Operation(
        "Automation mode of every incident type and environment",
        answers={200: "version, modes"},
    )
    async def get_modes(self, request: Request) -> JSONResponse:
        matrix = await anyio.to_thread.run_sync(self.automation.modes, self.taxonomy.incident_types)
        return JSONResponse(matrix)

    @Operation(
        "Set automation modes (If-Match: version)",
        body=ModesRequest,
        answers={200: "version, modes"},
        errors={400: "invalid entry", 409: "changed since the given version"},
    )
    async def put_modes(self, request: Request) -> Response:
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        entries = body.get("modes")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return error(
                400, 'expected {"modes": [{"incident_type", "environment", "mode"}, ...]}', "modes"
            )
        unknown = sorted(set(body) - {"modes"})
        if unknown:
            return error(400, f"unknown field {unknown[0]!r}", unknown[0])
        expected = if_match_version(request, "If-Match must be a version number")
        if isinstance(expected, JSONResponse):
            return expected
        actor = actor_of(request)
        types = self.taxonomy.incident_types

        def write() -> dict[str, Any]:
            self.automation.set_modes(entries, types, actor, "api", expected)
            return self.automation.modes(types)

        try:
            matrix = await anyio.to_thread.run_sync(write)
        except AutomationError as exc:
            return error(400, exc.message, exc.field)
        except AutomationConflict as exc:
            return error(409, str(exc))
        return JSONResponse(matrix)

    @Operation(
        "Mark an incident's classification and action right or a false positive"
        " (replaces an earlier mark)",
        body=MarkRequest,
        answers={200: Body("the mark", Mark)},
        errors={404: "no such incident", 422: "invalid field"},
    )
    async def mark_incident(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        incident_id = request.path_params["incident_id"]
        actor = actor_of(request)
        try:
            mark = await anyio.to_thread.run_sync(self.marks.mark, incident_id, body, actor, "api")
        except MarkError as exc:
            return error(422, exc.message, exc.field)
        except LookupError:
            return error(404, f"no incident {incident_id!r}")
        return JSONResponse(mark)

    @Operation(
        "Per incident type and environment: shadow decisions, agreement, false positives,"
        " rollbacks, and whether the promotion bar is met",
        query=[("incident_type", str), ("environment", Environment)],
        answers={
            200: "bar, classes: [{incident_type, environment, mode, shadow_decisions, marked,"
            " agreement_rate, false_positive_rate, rollbacks, last_rollback_at, ready,"
            " missing, bar}]"
        },
        errors={400: "invalid query parameter"},
    )
    async def get_readiness(self, request: Request) -> JSONResponse:
        unknown = sorted(set(request.query_params) - {"incident_type", "environment"})
        if unknown:
            return error(400, f"unknown query parameter {unknown[0]!r}", unknown[0])
        environment = request.query_params.get("environment") or None
        if environment is not None and environment not in {e.value for e in Environment}:
            return error(
                400,
                f"environment must be one of {', '.join(e.value for e in Environment)}",
                "environment",
            )
        incident_type = request.query_params.get("incident_type") or None
        rows = await anyio.to_thread.run_sync(self.marks.readiness, incident_type, environment)
        bar = self.marks.bar.model_dump()
        return JSONResponse({"bar": bar, "classes": rows})
