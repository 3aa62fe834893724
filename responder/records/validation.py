"""A request refused because of one of its fields, and reading a request
body into its model so that the refusal names that field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class FieldError(ValueError):
    """``field`` names the part of the request at fault, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


E = TypeVar("E", bound=FieldError)


def validated(model: type[M], body: Mapping[str, Any], error: type[E]) -> M:
    """``body`` as ``model``; raises ``error`` naming the first field at fault."""
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "-"
        if first["type"] == "extra_forbidden":
            raise error(name, f"unknown field {name!r}") from exc
        raise error(name, first["msg"]) from exc
