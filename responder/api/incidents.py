"""``GET /api/v1/incidents`` and ``GET /api/v1/incidents/{id}``."""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api import cursors
from responder.api.errors import error
from responder.api.openapi import Body, Operation
from responder.incidents.ladder import ladder_for, ladder_view
from responder.records.incident import Incident
from responder.records.levels import Environment
from responder.records.lifecycle import IncidentState
from responder.records.redaction import redact
from responder.store import IncidentFilter, Store
from responder.taxonomy.models import Taxonomy

MAX_LIMIT = 500


def _int(value: str | None, default: int, name: str, low: int, high: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return int(value)


@dataclass(frozen=True)
class IncidentsApi:
    store: Store
    taxonomy: Taxonomy
    escalation_window_seconds: int | None

    def _record(self, incident: Incident) -> dict[str, object]:
        """The incident's record with its escalation ladder: steps, the current
        one, when it was entered and when its wait ends."""
        record = incident.to_record()
        ladder = ladder_for(self.taxonomy, incident.incident_type, self.escalation_window_seconds)
        # a node storm is a person's from its start: it has no ladder to climb
        record["ladder"] = None if incident.is_storm else ladder_view(incident, ladder)
        masked: dict[str, object] = redact(record)
        return masked

    @Operation(
        "List incidents, newest first (next_cursor: the next page)",
        query=[
            ("state", str),
            ("type", str),
            ("environment", str),
            ("limit", int),
            ("offset", int),
            ("cursor", str),
        ],
        answers={200: "incident records"},
        errors={400: "invalid filter"},
    )
    async def list_incidents(self, request: Request) -> JSONResponse:
        params = request.query_params
        try:
            state = IncidentState(params["state"]) if "state" in params else None
        except ValueError:
            return error(
                400,
                f"unknown state {params['state']!r}; one of " + ", ".join(IncidentState),
                "state",
            )
        try:
            environment = Environment(params["environment"]) if "environment" in params else None
        except ValueError:
            return error(400, f"unknown environment {params['environment']!r}", "environment")
        incident_type = params.get("type") or params.get("incident_type")
        try:
            limit = _int(params.get("limit"), 100, "limit", 1, MAX_LIMIT)
            offset = _int(params.get("offset"), 0, "offset", 0, 10**9)
        except ValueError as exc:
            return error(400, str(exc), "limit" if "limit" in str(exc) else "offset")
        try:
            after = cursors.moment_after(params.get("cursor"))
        except ValueError as exc:
            return error(400, str(exc), "cursor")
        if after is not None and offset:
            return error(400, "give a cursor or an offset, not both", "offset")
        query = IncidentFilter(
            state=state,
            incident_type=incident_type,
            environment=environment,
            limit=limit,
            offset=offset,
            after=after,
        )
        incidents = await anyio.to_thread.run_sync(self.store.list_incidents, query)
        last = incidents[-1] if len(incidents) == limit else None
        return JSONResponse(
            {
                "incidents": [self._record(incident) for incident in incidents],
                "count": len(incidents),
                "limit": limit,
                "offset": offset,
                "next_cursor": cursors.encode(last.created_at.isoformat(), last.id)
                if last
                else None,
            }
        )

    @Operation(
        "One incident record",
        answers={200: Body("the incident record", Incident)},
        errors={404: "no such incident"},
    )
    async def get_incident(self, request: Request) -> JSONResponse:
        incident_id = request.path_params["incident_id"]
        incident = await anyio.to_thread.run_sync(self.store.get_incident, incident_id)
        if incident is None:
            return error(404, f"no incident {incident_id!r}")
        return JSONResponse(self._record(incident))
