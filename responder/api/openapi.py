"""``GET /openapi.json``, generated from the route table: each documented
endpoint carries an ``Operation``; bodies and answers are pydantic models."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from responder import __version__
from responder.api.errors import Error
from responder.ingest.webhook import AlertmanagerWebhook
from responder.records.alert import WebhookPayload

REF = "#/components/schemas/{model}"
ATTRIBUTE = "openapi_operation"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class Body:
    """An answer with a JSON body the model describes."""

    description: str
    model: type[BaseModel]


@dataclass(frozen=True)
class Text:
    """An answer in plain text."""

    description: str


Answer = str | Body | Text
ModelKey = tuple[type[BaseModel], JsonSchemaMode]
#: the schema (a reference into the components) of each model, as models_json_schema gives them
Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    """What the document says about one endpoint; used as its decorator.

    ``answers``: status → description or body; ``errors``: status →
    description of an answer with the ``Error`` body; ``query``: (name,
    type) of the optional query parameters; ``path``: descriptions of path
    parameters (all path parameters are listed, as strings)."""

    summary: str
    answers: Mapping[int, Answer] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    query: Sequence[tuple[str, Any]] = ()
    path: Mapping[str, str] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    body_required: bool = True
    security: Sequence[Mapping[str, list[str]]] | None = None

    def __call__(self, endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, ATTRIBUTE, self)
        return endpoint


class WebhookAccepted(BaseModel):
    accepted: int
    queued: str
    truncated_alerts: int


#: endpoints of other layers, which cannot carry their operation themselves
FOREIGN: dict[Callable[..., Any], Operation] = {
    AlertmanagerWebhook.handle: Operation(
        "Alertmanager webhook (payload version 4)",
        security=[{"bearer": []}, {}],
        body=WebhookPayload,
        answers={200: Body("accepted and queued durably", WebhookAccepted)},
        errors={
            400: "malformed JSON or not an object",
            401: "missing or wrong bearer token",
            413: "body over max_body_bytes, or more alerts than max_alerts_per_payload",
            422: "invalid payload: the field is named",
            503: "store unavailable or queue full: retry",
        },
    ),
}


def operation_of(endpoint: Callable[..., Any]) -> Operation | None:
    found: Operation | None = getattr(endpoint, ATTRIBUTE, None)
    return found or FOREIGN.get(getattr(endpoint, "__func__", endpoint))


@dataclass(eq=False)
class OpenApi:
    """The document of ``routes`` (the app's own), built on the first request."""

    routes: Sequence[BaseRoute]
    _document: dict[str, Any] | None = field(default=None, init=False)

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = openapi_document(self.routes)
        return self._document

    async def serve(self, request: Request) -> JSONResponse:
        return JSONResponse(self.document())


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    documented = [
        (route, found)
        for route in routes
        if isinstance(route, Route) and (found := operation_of(route.endpoint)) is not None
    ]
    models: set[ModelKey] = {(Error, "serialization")}
    models.update(model for _, found in documented for model in _models(found))
    refs, defs = models_json_schema(
        sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for route, found in documented:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            item = paths.setdefault(route.path, {})
            item[method.lower()] = _operation(route, found, refs)
    _with_common_answers(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Robot SRE", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _models(found: Operation) -> list[ModelKey]:
    models: list[ModelKey] = [
        (answer.model, "serialization")
        for answer in found.answers.values()
        if isinstance(answer, Body)
    ]
    if found.body is not None:
        models.append((found.body, "validation"))
    return models


def _operation(route: Route, found: Operation, refs: Refs) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            **({"description": found.path[name]} if name in found.path else {}),
        }
        for name in route.param_convertors
    ] + [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": TypeAdapter(kind).json_schema(),
        }
        for name, kind in found.query
    ]
    described: dict[str, Any] = {"summary": found.summary}
    if found.security is not None:
        described["security"] = [dict(s) for s in found.security]
    if parameters:
        described["parameters"] = parameters
    if found.body is not None:
        described["requestBody"] = {
            "required": found.body_required,
            "content": {"application/json": {"schema": refs[(found.body, "validation")]}},
        }
    answers: dict[int, Answer] = {
        **found.answers,
        **{status: Body(text, Error) for status, text in found.errors.items()},
    }
    described["responses"] = {
        str(status): _answer(answer, refs) for status, answer in sorted(answers.items())
    }
    return described


def _answer(answer: Answer, refs: Refs) -> dict[str, Any]:
    if isinstance(answer, str):
        return {"description": answer}
    if isinstance(answer, Text):
        content = {"text/plain": {"schema": {"type": "string"}}}
    else:
        content = {"application/json": {"schema": refs[(answer.model, "serialization")]}}
    return {"description": answer.description, "content": content}


METHODS = ("get", "put", "post", "delete", "patch")
ERROR_CONTENT = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}


def _with_common_answers(paths: dict[str, dict[str, Any]]) -> None:
    """Every operation with the answers any route of its kind may give: the
    API's guard (401, 403), unknown ids (404), bad input (400), and 503 when
    the store is down or too many requests are in flight (not ``/healthz``)."""
    for path, item in paths.items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            common: dict[str, str] = {}
            if path.startswith("/api/v1/"):
                common["401"] = "no credential, or a wrong one"
                common["403"] = "the role or the token's scope does not allow it"
            if "{" in path:
                common["404"] = "no such object"
            if method != "get" or operation.get("parameters"):
                common["400"] = "invalid input: the field is named"
            if path != "/healthz":
                common["503"] = "store unavailable or too busy: retry"
            responses = operation.setdefault("responses", {})
            for status, description in common.items():
                responses.setdefault(status, {"description": description, "content": ERROR_CONTENT})
