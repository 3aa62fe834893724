"""``GET /api/v1/audit``: who changed or decided what, when (newest first)."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api.errors import error
from responder.records.redaction import redact
from responder.runtime import Runtime


async def list_audit(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    subject = request.query_params.get("subject")
    limit_text = request.query_params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        return error(400, "limit must be an integer from 1 to 1000", "limit")
    entries = await anyio.to_thread.run_sync(
        lambda: runtime.store.list_audit(int(limit_text), subject)
    )
    return JSONResponse({"entries": [redact(e.model_dump(mode="json")) for e in entries]})
