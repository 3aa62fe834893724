"""Guard rails of gradual automation (``responder/guards/``):

- ``POST /api/v1/automation/pause`` ``{"reason", "duration_seconds"}`` and
  optionally ``environment``, ``incident_type``, ``namespace`` (none: the
  whole robot) pauses automation: 201 with the pause record and its id;
- ``GET /api/v1/automation/pause`` lists the active pauses;
- ``DELETE /api/v1/automation/pause/{id}`` resumes (204; 404 if unknown);
- ``GET /api/v1/automation/modes`` the mode (off, shadow, approval, auto) of
  every incident type and environment, with the document version;
- ``PUT /api/v1/automation/modes`` ``{"modes": [{"incident_type",
  "environment", "mode"}, ...]}`` sets some (``If-Match``: the version read).
- ``POST /api/v1/incidents/{id}/mark`` ``{"classification", "action",
  "rolled_back", "note"}`` marks an incident's verdicts (200 with the mark;
  404 unknown incident; 422 naming the field);
- ``GET /api/v1/automation/readiness?incident_type=&environment=`` the
  promotion bar and, per incident type and environment, the evidence and
  whether it meets the bar (``responder/guards/readiness.py``).

Writes need the ``operator`` role (``responder/accounts/guard.py``), reads
``viewer``; every write is audited with the authenticated actor.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.errors import error
from responder.api.requests import actor_of, json_object
from responder.guards.automation import AutomationBook, AutomationConflict, AutomationError
from responder.guards.readiness import MarkBook, MarkError
from responder.records.levels import Environment
from responder.runtime import Runtime


def _book(request: Request) -> tuple[Runtime, AutomationBook] | JSONResponse:
    runtime: Runtime = request.app.state.runtime
    return runtime, runtime.automation


async def list_pauses(request: Request) -> JSONResponse:
    found = _book(request)
    if isinstance(found, JSONResponse):
        return found
    _, book = found
    pauses = await anyio.to_thread.run_sync(book.active_pauses)
    return JSONResponse({"pauses": [p.as_json() for p in pauses], "count": len(pauses)})


async def create_pause(request: Request) -> Response:
    found = _book(request)
    if isinstance(found, JSONResponse):
        return found
    _, book = found
    body = await json_object(request)
    if isinstance(body, JSONResponse):
        return body
    actor = actor_of(request)
    try:
        pause = await anyio.to_thread.run_sync(book.pause, body, actor, "api")
    except AutomationError as exc:
        return error(400, exc.message, exc.field)
    return JSONResponse(pause.as_json(), status_code=201)


async def resume_pause(request: Request) -> Response:
    found = _book(request)
    if isinstance(found, JSONResponse):
        return found
    _, book = found
    pause_id = request.path_params["pause_id"]
    actor = actor_of(request)
    resumed = await anyio.to_thread.run_sync(book.resume, pause_id, actor, "api")
    if resumed is None:
        return error(404, f"no active pause {pause_id!r}")
    return Response(status_code=204)


async def get_modes(request: Request) -> JSONResponse:
    found = _book(request)
    if isinstance(found, JSONResponse):
        return found
    runtime, book = found
    matrix = await anyio.to_thread.run_sync(book.modes, runtime.taxonomy.incident_types)
    return JSONResponse(matrix)


async def put_modes(request: Request) -> Response:
    found = _book(request)
    if isinstance(found, JSONResponse):
        return found
    runtime, book = found
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
    expected: int | None = None
    if_match = request.headers.get("if-match")
    if if_match is not None:
        if not if_match.strip('"').isdigit():
            return error(400, "If-Match must be a version number", "If-Match")
        expected = int(if_match.strip('"'))
    actor = actor_of(request)
    types = runtime.taxonomy.incident_types

    def write() -> dict[str, Any]:
        book.set_modes(entries, types, actor, "api", expected)
        return book.modes(types)

    try:
        matrix = await anyio.to_thread.run_sync(write)
    except AutomationError as exc:
        return error(400, exc.message, exc.field)
    except AutomationConflict as exc:
        return error(409, str(exc))
    return JSONResponse(matrix)


def _marks(request: Request) -> MarkBook | JSONResponse:
    runtime: Runtime = request.app.state.runtime
    return runtime.marks


async def mark_incident(request: Request) -> JSONResponse:
    marks = _marks(request)
    if isinstance(marks, JSONResponse):
        return marks
    body = await json_object(request)
    if isinstance(body, JSONResponse):
        return body
    incident_id = request.path_params["incident_id"]
    actor = actor_of(request)
    try:
        mark = await anyio.to_thread.run_sync(marks.mark, incident_id, body, actor, "api")
    except MarkError as exc:
        return error(422, exc.message, exc.field)
    except LookupError:
        return error(404, f"no incident {incident_id!r}")
    return JSONResponse(mark)


async def get_readiness(request: Request) -> JSONResponse:
    marks = _marks(request)
    if isinstance(marks, JSONResponse):
        return marks
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
    rows = await anyio.to_thread.run_sync(marks.readiness, incident_type, environment)
    return JSONResponse({"bar": marks.bar.model_dump(), "classes": rows})


def automation_paths() -> dict[str, Any]:
    """The OpenAPI paths of pauses and automation modes."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    scope = {
        "environment": {"type": "string", "enum": ["demo", "staging", "production"]},
        "incident_type": {"type": "string"},
        "namespace": {"type": "string"},
    }
    mode_row = {
        "type": "object",
        "required": ["incident_type", "environment", "mode"],
        "properties": {
            "incident_type": {"type": "string"},
            "environment": {"type": "string", "enum": ["demo", "staging", "production"]},
            "mode": {"type": "string", "enum": ["off", "shadow", "approval", "auto"]},
        },
    }
    verdict = {"type": ["string", "null"], "enum": ["right", "false_positive", None]}
    mark: dict[str, Any] = {
        "type": "object",
        "properties": {
            "classification": {
                **verdict,
                "description": "was the incident type right?",
            },
            "action": {
                **verdict,
                "description": "was the recommended action (done or would have been) right?",
            },
            "rolled_back": {
                "type": ["boolean", "null"],
                "description": "a person had to undo what the robot did",
            },
            "note": {"type": ["string", "null"], "maxLength": 500},
        },
    }
    return {
        "/api/v1/incidents/{incident_id}/mark": {
            "post": {
                "summary": "Mark an incident's classification and action right or a false "
                "positive (replaces an earlier mark)",
                "parameters": [
                    {
                        "name": "incident_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                **mark,
                                "additionalProperties": False,
                                "minProperties": 1,
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the mark",
                        "content": {
                            "application/json": {
                                "schema": {
                                    **mark,
                                    "properties": {
                                        **mark["properties"],
                                        "incident_id": {"type": "string"},
                                        "incident_type": {"type": "string"},
                                        "environment": {"type": "string"},
                                        "marked_by": {"type": "string"},
                                        "marked_at": {"type": "string", "format": "date-time"},
                                        "version": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "404": {"description": "no such incident", "content": error},
                    "422": {"description": "invalid field", "content": error},
                },
            }
        },
        "/api/v1/automation/readiness": {
            "get": {
                "summary": "Per incident type and environment: shadow decisions, agreement, "
                "false positives, rollbacks, and whether the promotion bar is met",
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "schema": scope[name],
                    }
                    for name in ("incident_type", "environment")
                ],
                "responses": {
                    "200": {
                        "description": "bar, classes: [{incident_type, environment, mode, "
                        "shadow_decisions, marked, agreement_rate, false_positive_rate, "
                        "rollbacks, last_rollback_at, ready, missing, bar}]"
                    },
                    "400": {"description": "invalid query parameter", "content": error},
                },
            }
        },
        "/api/v1/automation/pause": {
            "get": {
                "summary": "Active automation pauses",
                "responses": {"200": {"description": "pauses, count"}},
            },
            "post": {
                "summary": "Pause automation (auto decisions ask, or go shadow) for a time",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reason", "duration_seconds"],
                                "properties": {
                                    "reason": {"type": "string"},
                                    "duration_seconds": {"type": "integer", "minimum": 1},
                                    **scope,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {"description": "the pause record with its id"},
                    "400": {"description": "invalid field", "content": error},
                },
            },
        },
        "/api/v1/automation/pause/{pause_id}": {
            "delete": {
                "summary": "Resume: lift a pause",
                "parameters": [
                    {
                        "name": "pause_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "204": {"description": "resumed"},
                    "404": {"description": "no such active pause", "content": error},
                },
            }
        },
        "/api/v1/automation/modes": {
            "get": {
                "summary": "Automation mode of every incident type and environment",
                "responses": {"200": {"description": "version, modes"}},
            },
            "put": {
                "summary": "Set automation modes (If-Match: version)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["modes"],
                                "properties": {"modes": {"type": "array", "items": mode_row}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "version, modes"},
                    "400": {"description": "invalid entry", "content": error},
                    "409": {"description": "changed since the given version", "content": error},
                },
            },
        },
    }
