"""The admin Automation page: pauses, the automation mode of every incident
type x environment, and each class's readiness for promotion.

Changes go through the same service as the automation API, so they are
validated, versioned and audited alike. Promotion is a person's act: the
handler checks the bar again before it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.admin.access import action, page, refuse
from responder.admin.render import render
from responder.admin.services import AdminServices, services
from responder.guards.automation import (
    MAX_PAUSE_SECONDS,
    AutomationConflict,
    AutomationError,
    AutomationMode,
    Pause,
)
from responder.records.audit import audit
from responder.records.levels import Environment

SURFACE = "admin"
MAX_PAUSE_MINUTES = MAX_PAUSE_SECONDS // 60
#: promotion is one step up; ``off`` and ``auto`` have no next step
NEXT_MODE = {
    AutomationMode.shadow: AutomationMode.approval,
    AutomationMode.approval: AutomationMode.auto,
}
PAUSE_FIELDS = ("reason", "duration_minutes", "environment", "incident_type", "namespace")

#: what the page says after a change (fixed texts: nothing from the URL is shown)
NOTICES = {
    "paused": "Automation paused: the auto decisions it covers are held until it ends or is "
    "resumed.",
    "resumed": "Pause lifted: automation resumes.",
    "mode": "Automation mode saved.",
    "promoted": "Promoted: the class runs one step more automatically.",
}


@dataclass(frozen=True)
class ModeRow:
    """One incident type of the modes matrix: per environment its mode and
    whether it was set (else the default)."""

    incident_type: str
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AutomationView:
    pauses: list[Pause]
    version: int
    rows: list[ModeRow]
    readiness: list[dict[str, Any]]
    bar: dict[str, Any]


def _types(admin: AdminServices) -> list[str]:
    return sorted(admin.runtime.taxonomy.incident_types)


def _load(admin: AdminServices) -> AutomationView:
    book = admin.runtime.automation
    pauses = sorted(book.active_pauses(), key=lambda p: p.expires_at)
    matrix = book.modes(admin.runtime.taxonomy.incident_types)
    rows: dict[str, ModeRow] = {}
    for cell in matrix["modes"]:
        row = rows.setdefault(cell["incident_type"], ModeRow(cell["incident_type"]))
        row.cells[cell["environment"]] = (cell["mode"], cell["source"])
    readiness = admin.runtime.marks.readiness()
    bar = admin.runtime.settings.promotion_bar.model_dump()
    return AutomationView(pauses, int(matrix["version"]), list(rows.values()), readiness, bar)


async def _page(
    request: Request,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    admin = services(request)
    view = await anyio.to_thread.run_sync(_load, admin)
    done = request.query_params.get("done", "")
    return render(
        request,
        "automation.html",
        status=status,
        view=view,
        errors=errors or {},
        values=values or {},
        notice=NOTICES.get(done),
        environments=[str(e) for e in Environment],
        types=_types(admin),
        modes=[str(m) for m in AutomationMode],
        next_mode={str(k): str(v) for k, v in NEXT_MODE.items()},
        pause_effect=admin.runtime.settings.pause_effect,
        max_minutes=MAX_PAUSE_MINUTES,
    )


@page("automation")
async def automation_page(request: Request, principal: Principal) -> Response:
    return await _page(request)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def pause_body(values: dict[str, str]) -> dict[str, Any]:
    """The ``AutomationBook.pause`` body the pause form describes; raises
    ``AutomationError`` naming the form field for a duration it cannot read."""
    minutes = values["duration_minutes"]
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_PAUSE_MINUTES:
        raise AutomationError(
            "duration_minutes", f"a whole number of minutes from 1 to {MAX_PAUSE_MINUTES} (7 days)"
        )
    body: dict[str, Any] = {"reason": values["reason"], "duration_seconds": int(minutes) * 60}
    for name in ("environment", "incident_type", "namespace"):
        if values[name]:
            body[name] = values[name]
    return body


def _pause_field(api_field: str) -> str:
    if api_field == "duration_seconds":
        return "duration_minutes"
    return api_field if api_field in PAUSE_FIELDS else "pause_form"


@action("automation", Role.operator)
async def pause_create(request: Request, principal: Principal, form: FormData) -> Response:
    book = services(request).runtime.automation
    values = {name: _text(form, name) for name in PAUSE_FIELDS}
    try:
        body = pause_body(values)
        await anyio.to_thread.run_sync(lambda: book.pause(body, principal.name, SURFACE))
    except AutomationError as exc:
        return await _page(request, 400, {_pause_field(exc.field): exc.message}, values)
    return RedirectResponse("/admin/automation?done=paused#pauses", 303)


@action("automation", Role.operator)
async def pause_resume(request: Request, principal: Principal, form: FormData) -> Response:
    book = services(request).runtime.automation
    pause_id = request.path_params["pause_id"]
    resumed = await anyio.to_thread.run_sync(lambda: book.resume(pause_id, principal.name, SURFACE))
    if resumed is None:
        return refuse(
            request, 404, f"No active pause {pause_id!r}: it ran out or was lifted already."
        )
    return RedirectResponse("/admin/automation?done=resumed#pauses", 303)


def _version(form: FormData) -> int | None:
    text = _text(form, "version")
    return int(text) if text.isdigit() else None


def _conflict_message(exc: AutomationConflict) -> str:
    return f"Not saved: somebody changed the automation modes while you looked ({exc})."


def _mode_field(api_field: str) -> str:
    if api_field.endswith(".incident_type"):
        return "mode_incident_type"
    if api_field.endswith(".environment"):
        return "mode_environment"
    return "mode"


@action("automation", Role.operator)
async def modes_set(request: Request, principal: Principal, form: FormData) -> Response:
    admin = services(request)
    book = admin.runtime.automation
    values = {
        name: _text(form, name) for name in ("mode_incident_type", "mode_environment", "mode")
    }
    entry = {
        "incident_type": values["mode_incident_type"],
        "environment": values["mode_environment"],
        "mode": values["mode"],
    }
    expected = _version(form)
    if expected is None:
        return await _page(request, 400, {"modes_form": "reload the page: no version"}, values)
    types = admin.runtime.taxonomy.incident_types
    try:
        await anyio.to_thread.run_sync(
            lambda: book.set_modes([entry], types, principal.name, SURFACE, expected)
        )
    except AutomationError as exc:
        return await _page(request, 400, {_mode_field(exc.field): exc.message}, values)
    except AutomationConflict as exc:
        return await _page(request, 409, {"modes_form": _conflict_message(exc)}, values)
    return RedirectResponse("/admin/automation?done=mode#modes", 303)


@action("automation", Role.operator)
async def promote(request: Request, principal: Principal, form: FormData) -> Response:
    """Set one class's mode one step up, when it meets the promotion bar now."""
    admin = services(request)
    book = admin.runtime.automation
    marks = admin.runtime.marks
    incident_type = _text(form, "incident_type")
    environment = _text(form, "environment")
    seen = _text(form, "mode")
    expected = _version(form)
    if incident_type not in admin.runtime.taxonomy.incident_types:
        return refuse(request, 400, f"incident_type: unknown incident type {incident_type!r}.")
    if environment not in set(Environment):
        return refuse(request, 400, f"environment: unknown environment {environment!r}.")
    if expected is None:
        return refuse(request, 400, "version: reload the page and promote again.")

    def check() -> tuple[AutomationMode, dict[str, Any] | None]:
        book.invalidate()
        current, _ = book.mode(incident_type, environment)
        rows = marks.readiness(incident_type, environment)
        return current, rows[0] if rows else None

    current, row = await anyio.to_thread.run_sync(check)
    label = f"{incident_type} in {environment}"
    if current != seen:
        return refuse(
            request, 409, f"{label} is in {current} mode now, not {seen}: reload the page."
        )
    target = NEXT_MODE.get(current)
    if target is None:
        return refuse(
            request,
            400,
            f"{label} is in {current} mode: promotion goes shadow → approval → auto; "
            "set other modes in the modes form.",
        )
    if row is None or not row["ready"]:
        missing = "; ".join(row["missing"]) if row else "no readiness figures"
        return refuse(request, 400, f"{label} does not meet the promotion bar: {missing}.")
    entry = {"incident_type": incident_type, "environment": environment, "mode": str(target)}

    def write() -> None:
        saved = book.set_modes(
            [entry], admin.runtime.taxonomy.incident_types, principal.name, SURFACE, expected
        )
        audit(
            admin.runtime.store,
            actor=principal.name,
            surface=SURFACE,
            action="automation.promote",
            subject=f"automation:{incident_type}|{environment}",
            before={"mode": str(current)},
            after={"mode": str(target), "modes_version": saved["version"], "evidence": row},
            detail=f"promoted {label} from {current} to {target}",
            at=book.clock(),
        )

    try:
        await anyio.to_thread.run_sync(write)
    except AutomationConflict as exc:
        return refuse(request, 409, _conflict_message(exc))
    except AutomationError as exc:
        return refuse(request, 400, f"{exc.field}: {exc.message}")
    return RedirectResponse(f"/admin/automation?done=promoted#{quote(_row_id(entry))}", 303)


def _row_id(entry: dict[str, str]) -> str:
    return f"ready-{entry['incident_type']}-{entry['environment']}"
