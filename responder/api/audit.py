"""``GET /api/v1/audit``: who changed or decided what, when (newest first;
``next_cursor`` gives the next page as ``?cursor=``)."""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api import cursors
from responder.api.errors import error
from responder.api.openapi import Operation
from responder.records.redaction import redact
from responder.store import Store


@dataclass(frozen=True)
class AuditApi:
    store: Store

    @Operation(
        "Audit log, newest first",
        query=[("subject", str), ("limit", int), ("cursor", str)],
        answers={200: "entries, and next_cursor"},
    )
    async def list_audit(self, request: Request) -> JSONResponse:
        subject = request.query_params.get("subject")
        limit_text = request.query_params.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return error(400, "limit must be an integer from 1 to 1000", "limit")
        limit = int(limit_text)
        before = None
        if "cursor" in request.query_params:
            try:
                [before] = cursors.decode(request.query_params["cursor"], 1)
            except ValueError as exc:
                return error(400, str(exc), "cursor")
        entries = await anyio.to_thread.run_sync(
            lambda: self.store.list_audit(limit, subject, before)
        )
        last = entries[-1].id if len(entries) == limit else None
        return JSONResponse(
            {
                "entries": [redact(e.model_dump(mode="json")) for e in entries],
                "next_cursor": cursors.encode(last) if last else None,
            }
        )
