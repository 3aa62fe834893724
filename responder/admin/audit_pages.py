"""Audit: who changed or decided what, before and after, when and from
which surface; filterable, exported as CSV or JSON with the same filters."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from responder.accounts.models import Principal
from responder.admin.access import page
from responder.admin.diff import changes
from responder.admin.incident_pages import parse_time
from responder.admin.render import render
from responder.admin.services import services
from responder.records.audit import AuditEntry
from responder.records.redaction import redacted

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: how far back the filters that the store cannot apply look
SCAN = 5000
CSV_COLUMNS = ("at", "actor", "surface", "action", "subject", "detail", "before", "after")


def _filters(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    found: dict[str, Any] = {
        k: params.get(k, "").strip() for k in ("subject", "actor", "action", "surface")
    }
    for name in ("since", "until"):
        text = params.get(name, "").strip()
        found[name] = None
        if text:
            try:
                found[name] = parse_time(text, end_of_day=name == "until")
            except ValueError:
                errors[name] = "a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)"
    limit = params.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        errors["limit"] = f"from 1 to {MAX_LIMIT}"
        limit = str(DEFAULT_LIMIT)
    found["limit"] = int(limit)
    return found, errors


def select(entries: Sequence[AuditEntry], filters: dict[str, Any]) -> list[AuditEntry]:
    since: datetime | None = filters["since"]
    until: datetime | None = filters["until"]
    chosen = []
    for entry in entries:
        if filters["actor"] and filters["actor"] != entry.actor:
            continue
        if filters["surface"] and filters["surface"] != entry.surface:
            continue
        if filters["action"] and not entry.action.startswith(filters["action"]):
            continue
        if since is not None and entry.at < since:
            continue
        if until is not None and entry.at > until:
            continue
        chosen.append(entry)
        if len(chosen) >= filters["limit"]:
            break
    return chosen


async def _entries(request: Request) -> tuple[list[AuditEntry], dict[str, Any], dict[str, str]]:
    filters, errors = _filters(request.query_params)
    store = services(request).runtime.store
    narrow = any(filters[k] for k in ("actor", "surface", "action", "since", "until"))
    window = SCAN if narrow else filters["limit"]
    entries = await anyio.to_thread.run_sync(
        lambda: store.list_audit(window, filters["subject"] or None)
    )
    return [redacted(e) for e in select(entries, filters)], filters, errors


@page("audit")
async def audit_page(request: Request, principal: Principal) -> Response:
    entries, filters, errors = await _entries(request)
    rows = [(e, changes(e.before, e.after)) for e in entries]
    params = {k: v for k, v in request.query_params.items()}
    return render(
        request,
        "audit.html",
        status=400 if errors else 200,
        rows=rows,
        errors=errors,
        params=params,
        filters=filters,
    )


def _cell(value: str) -> str:
    """Spreadsheet programs run cells that start like a formula: defuse them."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@page("audit")
async def audit_export(request: Request, principal: Principal) -> Response:
    entries, _, _ = await _entries(request)
    if request.url.path.endswith(".json"):
        body = json.dumps({"entries": [e.model_dump(mode="json") for e in entries]}, indent=2)
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="robot-sre-audit.json"'},
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        record = entry.model_dump(mode="json")
        writer.writerow(
            [
                _cell(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                for v in (record[c] for c in CSV_COLUMNS)
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="robot-sre-audit.csv"'},
    )
