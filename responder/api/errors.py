"""Error answers shared by the API handlers."""

from __future__ import annotations

from starlette.responses import JSONResponse


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)
