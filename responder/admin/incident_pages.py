"""Incidents: a filtered, paged list and one incident's whole story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from responder.accounts.models import Principal
from responder.admin.access import page, refuse
from responder.admin.approval_pages import answer_notice, approval_rows
from responder.admin.render import render
from responder.admin.services import services
from responder.api.approvals import approver_for
from responder.approvals.models import ApprovalRequest
from responder.incidents.lifecycle import IncidentState
from responder.incidents.models import Incident
from responder.store import IncidentFilter, Store
from responder.taxonomy.models import Environment, Severity

PAGE_SIZE = 50
CHUNK = 200


@dataclass(frozen=True)
class IncidentQuery:
    state: IncidentState | None = None
    incident_type: str | None = None
    severity: Severity | None = None
    environment: Environment | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 0

    @property
    def needs_scan(self) -> bool:
        """Filters the store cannot apply itself."""
        return self.severity is not None or self.since is not None or self.until is not None


def parse_time(text: str, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (UTC unless an offset is given)."""
    value = datetime.fromisoformat(text)
    if len(text) == 10 and end_of_day:
        value = datetime.combine(value.date(), time.max)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_query(params: Any) -> tuple[IncidentQuery, dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, kind in (
        ("state", IncidentState),
        ("severity", Severity),
        ("environment", Environment),
    ):
        text = params.get(name)
        if text:
            try:
                values[name] = kind(text)
            except ValueError:
                errors[name] = f"unknown {name} {text!r}"
    if params.get("type"):
        values["incident_type"] = params["type"]
    for name in ("since", "until"):
        text = params.get(name)
        if text:
            try:
                values[name] = parse_time(text, end_of_day=name == "until")
            except ValueError:
                errors[name] = "a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)"
    page_text = params.get("page", "0")
    values["page"] = int(page_text) if page_text.isdigit() else 0
    return IncidentQuery(**values), errors


def find_incidents(store: Store, query: IncidentQuery) -> tuple[list[Incident], bool]:
    """One page of incidents (newest first) and whether there is a next page."""
    wanted = PAGE_SIZE + 1
    base = IncidentFilter(
        state=query.state,
        incident_type=query.incident_type,
        environment=str(query.environment) if query.environment else None,
    )
    if not query.needs_scan:
        found = store.list_incidents(
            IncidentFilter(
                state=base.state,
                incident_type=base.incident_type,
                environment=base.environment,
                limit=wanted,
                offset=query.page * PAGE_SIZE,
            )
        )
        return found[:PAGE_SIZE], len(found) > PAGE_SIZE
    # severity and time are not store filters: walk newest first, stop past ``since``
    skip = query.page * PAGE_SIZE
    matched: list[Incident] = []
    offset = 0
    while len(matched) < wanted:
        chunk = store.list_incidents(
            IncidentFilter(
                state=base.state,
                incident_type=base.incident_type,
                environment=base.environment,
                limit=CHUNK,
                offset=offset,
            )
        )
        for incident in chunk:
            if query.since is not None and incident.created_at < query.since:
                return matched[:PAGE_SIZE], False
            if query.until is not None and incident.created_at > query.until:
                continue
            if query.severity is not None and incident.severity != query.severity:
                continue
            if skip:
                skip -= 1
                continue
            matched.append(incident)
        if len(chunk) < CHUNK:
            break
        offset += CHUNK
    return matched[:PAGE_SIZE], len(matched) > PAGE_SIZE


@page()
async def incidents_list(request: Request, principal: Principal) -> Response:
    admin = services(request)
    query, errors = parse_query(request.query_params)
    incidents: list[Incident] = []
    more = False
    if not errors:
        incidents, more = await anyio.to_thread.run_sync(find_incidents, admin.runtime.store, query)
    return render(
        request,
        "incidents.html",
        status=400 if errors else 200,
        incidents=incidents,
        more=more,
        query=query,
        errors=errors,
        params={k: v for k, v in request.query_params.items() if k != "page"},
        states=[str(s) for s in IncidentState],
        severities=[str(s) for s in Severity],
        environments=[str(e) for e in Environment],
        types=[*sorted(admin.runtime.taxonomy.incident_types), "unclassified"],
    )


@page()
async def incident_detail(request: Request, principal: Principal) -> Response:
    admin = services(request)
    incident_id = request.path_params["incident_id"]

    def load() -> tuple[Incident | None, list[ApprovalRequest]]:
        incident = admin.runtime.store.get_incident(incident_id)
        if incident is None or admin.runtime.approvals is None:
            return incident, []
        return incident, admin.runtime.approvals.for_incident(incident_id)

    incident, approvals = await anyio.to_thread.run_sync(load)
    if incident is None:
        return refuse(request, 404, f"No incident {incident_id!r}.")
    now = admin.now()
    return render(
        request,
        "incident.html",
        incident=incident,
        approvals=approval_rows(approvals, now, admin.runtime.desk),
        answering=approver_for(principal, admin.runtime) is not None,
        notice=answer_notice(request),
        known=admin.runtime.taxonomy.incident_types.get(incident.incident_type),
    )
