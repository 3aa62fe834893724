"""Error answers shared by the API handlers."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import JSONResponse


class Error(BaseModel):
    """The body of an error answer: what is wrong, and the field at fault."""

    error: str
    field: str | SkipJsonSchema[None] = None


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = Error(error=message, field=field).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)
