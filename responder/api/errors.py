"""Error answers shared by the API handlers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import JSONResponse


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class Error(BaseModel):
    """The body of an error answer: what is wrong, and the field at fault."""

    error: str
    # absent, never null: the schema shows neither null nor a default of null
    field: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = Error(error=message, field=field).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)
