"""Incidents: a filtered, paged list and one incident's whole story (its
escalation ladder among it), with a person's mark on it (classification and
recommended action right or a false positive, rolled back, a note: the
evidence promotion is judged by)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.admin.access import action, page, refuse
from responder.admin.approval_pages import answer_notice, approval_rows
from responder.admin.forms import LEVEL_CHOICES
from responder.admin.render import render
from responder.admin.services import services
from responder.api.approvals import approver_for
from responder.guards.readiness import MarkError
from responder.incidents.ladder import ladder_for, ladder_view, span
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident
from responder.records.levels import Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.redaction import redacted
from responder.runtime import Runtime
from responder.store import IncidentFilter, Store

PAGE_SIZE = 50
CHUNK = 200
SURFACE = "admin"


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
        found = store.list_incidents(replace(base, limit=wanted, offset=query.page * PAGE_SIZE))
        return found[:PAGE_SIZE], len(found) > PAGE_SIZE
    # severity and time are not store filters: walk newest first, stop past ``since``
    skip = query.page * PAGE_SIZE
    matched: list[Incident] = []
    offset = 0
    while len(matched) < wanted:
        chunk = store.list_incidents(replace(base, limit=CHUNK, offset=offset))
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


@page("incidents")
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
        incidents=[redacted(i) for i in incidents],
        more=more,
        query=query,
        errors=errors,
        params={k: v for k, v in request.query_params.items() if k != "page"},
        states=[str(s) for s in IncidentState],
        **LEVEL_CHOICES,
        types=[*sorted(admin.runtime.taxonomy.incident_types), "unclassified"],
    )


def incident_ladder(runtime: Runtime, incident: Incident) -> dict[str, Any] | None:
    """The incident's escalation ladder as ``GET /api/v1/incidents/{id}``
    shows it (``ladder_view``), each step with its actions' display names
    (``action_names``) and its wait spelled out (``wait``). None for an
    incident not on its ladder and for a node storm, which does not climb."""
    if incident.is_storm:
        return None
    taxonomy = runtime.taxonomy
    ladder = ladder_for(
        taxonomy, incident.incident_type, runtime.settings.escalation_window_seconds
    )
    view = ladder_view(incident, ladder)
    if view is None:
        return None
    for step in view["steps"]:
        step["action_names"] = [
            taxonomy.actions[a].display_name if a in taxonomy.actions else a
            for a in step["actions"]
        ]
        step["wait"] = span(step["wait_seconds"])
    return view


MARK_FIELDS = ("classification", "action", "rolled_back", "note")
VERDICTS = ("right", "false_positive")


def _mark_values(mark: dict[str, Any] | None) -> dict[str, Any]:
    """What the mark form shows: the current mark, or nothing marked."""
    mark = mark or {}
    return {
        "classification": mark.get("classification") or "",
        "action": mark.get("action") or "",
        "rolled_back": bool(mark.get("rolled_back")),
        "note": mark.get("note") or "",
    }


async def _incident_page(
    request: Request,
    principal: Principal,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    admin = services(request)
    incident_id = request.path_params["incident_id"]
    marks = admin.runtime.marks

    def load() -> tuple[Incident | None, list[ApprovalRequest], dict[str, Any] | None]:
        incident = admin.runtime.store.get_incident(incident_id)
        if incident is None:
            return None, [], None
        return (
            incident,
            admin.runtime.approval_requests.for_incident(incident_id),
            marks.get(incident_id),
        )

    incident, approvals, mark = await anyio.to_thread.run_sync(load)
    if incident is None:
        return refuse(request, 404, f"No incident {incident_id!r}.")
    now = admin.now()
    return render(
        request,
        "incident.html",
        status=status,
        incident=redacted(incident),
        approvals=approval_rows(approvals, now, admin.runtime.approval_answers),
        answering=approver_for(principal, str(admin.runtime.settings.environment)) is not None,
        notice=answer_notice(request),
        known=admin.runtime.taxonomy.incident_types.get(incident.incident_type),
        ladder=incident_ladder(admin.runtime, incident),
        mark=mark,
        mark_values=values if values is not None else _mark_values(mark),
        mark_errors=errors or {},
        marked="marked" in request.query_params,
        verdicts=VERDICTS,
    )


@page("incidents")
async def incident_detail(request: Request, principal: Principal) -> Response:
    return await _incident_page(request, principal)


def mark_body(values: dict[str, Any]) -> dict[str, Any]:
    """The ``MarkBook.mark`` body the mark form describes: the whole mark
    (marking again replaces the earlier one, so an unticked "rolled back"
    is sent as false). Raises ``MarkError`` when nothing is marked."""
    body: dict[str, Any] = {
        name: values[name] for name in ("classification", "action") if values[name]
    }
    if not body and not values["rolled_back"]:
        raise MarkError(
            "classification",
            "mark the classification or the action as right or false positive, or tick rolled back",
        )
    body["rolled_back"] = values["rolled_back"]
    if values["note"]:
        body["note"] = values["note"]
    return body


@action("incidents", Role.operator)
async def incident_mark(request: Request, principal: Principal, form: FormData) -> Response:
    """Mark the incident's classification and recommended action right or a
    false positive (``MarkBook.mark``, as ``POST /api/v1/incidents/{id}/mark``)."""
    marks = services(request).runtime.marks
    incident_id = request.path_params["incident_id"]

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    values: dict[str, Any] = {
        "classification": text("classification"),
        "action": text("action"),
        "rolled_back": form.get("rolled_back") == "on",
        "note": text("note"),
    }
    try:
        body = mark_body(values)
        await anyio.to_thread.run_sync(
            lambda: marks.mark(incident_id, body, principal.name, SURFACE)
        )
    except MarkError as exc:
        field = exc.field if exc.field in MARK_FIELDS else "mark_form"
        return await _incident_page(request, principal, 400, {field: exc.message}, values)
    except LookupError:
        return refuse(request, 404, f"No incident {incident_id!r}.")
    return RedirectResponse(f"/admin/incidents/{quote(incident_id)}?marked=1#mark", 303)
