"""``GET /openapi.json``: the HTTP interface, with schemas from the models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder import __version__
from responder.api.approvals import approval_paths
from responder.api.automation import automation_paths
from responder.policy.rules import OperatorRule
from responder.records.alert import WebhookPayload
from responder.records.incident import Incident

REF = "#/components/schemas/{model}"


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


METHODS = ("get", "put", "post", "delete", "patch")


def _with_common_answers(paths: dict[str, Any]) -> None:
    """Every operation with the answers any route of its kind may give: the
    API's guard (401, 403), unknown ids (404), bad input (400), and 503 when
    the store is down or too many requests are in flight (not ``/healthz``)."""
    for path, item in paths.items():
        has_id = "{" in path
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if path.startswith("/api/v1/"):
                responses.setdefault("401", _error("no credential, or a wrong one"))
                responses.setdefault(
                    "403", _error("the role or the token's scope does not allow it")
                )
            takes_input = method != "get" or operation.get("parameters") or item.get("parameters")
            if has_id:
                responses.setdefault("404", _error("no such object"))
            if takes_input:
                responses.setdefault("400", _error("invalid input: the field is named"))
            if path != "/healthz":
                responses.setdefault("503", _error("store unavailable or too busy: retry"))


@cache
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (WebhookPayload, "validation"),
            (Incident, "serialization"),
            (OperatorRule, "validation"),
        ],
        ref_template=REF,
    )
    schemas: dict[str, Any] = defs["$defs"]
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    }
    list_params = [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        for name, kind in (
            ("state", "string"),
            ("type", "string"),
            ("environment", "string"),
            ("limit", "integer"),
            ("offset", "integer"),
            ("cursor", "string"),
        )
    ]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Robot SRE", "version": __version__},
        "paths": {
            "/webhooks/alertmanager": {
                "post": {
                    "summary": "Alertmanager webhook (payload version 4)",
                    "security": [{"bearer": []}, {}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": REF.format(model="WebhookPayload")}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "accepted and queued durably",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "accepted": {"type": "integer"},
                                            "queued": {"type": "string"},
                                            "truncated_alerts": {"type": "integer"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("malformed JSON or not an object"),
                        "401": _error("missing or wrong bearer token"),
                        "413": _error(
                            "body over max_body_bytes, or more alerts than max_alerts_per_payload"
                        ),
                        "422": _error("invalid payload: the field is named"),
                        "503": _error("store unavailable or queue full: retry"),
                    },
                }
            },
            "/api/v1/incidents": {
                "get": {
                    "summary": "List incidents, newest first (next_cursor: the next page)",
                    "parameters": list_params,
                    "responses": {
                        "200": {"description": "incident records"},
                        "400": _error("invalid filter"),
                    },
                }
            },
            "/api/v1/incidents/{incident_id}": {
                "get": {
                    "summary": "One incident record",
                    "parameters": [
                        {
                            "name": "incident_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("Incident", "the incident record"),
                        "404": _error("no such incident"),
                    },
                }
            },
            "/api/v1/taxonomy": {
                "get": {
                    "summary": "Domains, incident types, actions, matrix",
                    "responses": {"200": {"description": "the catalogue"}},
                }
            },
            "/api/v1/policy/explain": {
                "post": {
                    "summary": "Decision and layer-by-layer trace for a hypothetical incident",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": [
                                        "incident_type",
                                        "environment",
                                        "confidence",
                                        "action",
                                    ],
                                    "properties": {
                                        "incident_type": {"type": "string"},
                                        "environment": {"enum": ["demo", "staging", "production"]},
                                        "severity": {"enum": ["info", "warning", "critical"]},
                                        "confidence": {"enum": ["low", "medium", "high"]},
                                        "action": {"type": "string"},
                                        "target": {
                                            "oneOf": [{"type": "string"}, {"type": "object"}]
                                        },
                                        "labels": {"type": "object"},
                                        "facts": {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "decision, action_class, layers"},
                        "400": _error("invalid request: the field is named"),
                    },
                }
            },
            "/api/v1/rules": {
                "get": {
                    "summary": "Built-in and custom operator rules",
                    "responses": {"200": {"description": "rules"}},
                },
                "post": {
                    "summary": "Create a custom rule (validated, versioned, audited)",
                    "responses": {
                        "201": {"description": "the saved rule"},
                        "400": _error("rejected: names the boundary and field"),
                        "409": _error("id already exists"),
                    },
                },
            },
            "/api/v1/rules/{rule_id}": {
                "parameters": [
                    {
                        "name": "rule_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "get": {
                    "summary": "One rule",
                    "responses": {
                        "200": {"description": "rule"},
                        "404": _error("no such rule"),
                    },
                },
                "put": {
                    "summary": "Replace a custom rule (If-Match: version)",
                    "responses": {
                        "200": {"description": "the new version"},
                        "400": _error("rejected"),
                        "404": _error("no such rule"),
                        "409": _error("changed since the given version"),
                    },
                },
                "delete": {
                    "summary": "Delete a custom rule",
                    "responses": {
                        "204": {"description": "deleted"},
                        "404": _error("no such rule"),
                    },
                },
            },
            "/api/v1/rules/{rule_id}/history": {
                "get": {
                    "summary": "Every version of a rule",
                    "parameters": [
                        {
                            "name": "rule_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "versions, oldest first"}},
                }
            },
            "/api/v1/rules/{rule_id}/clone": {
                "post": {
                    "summary": "Clone a rule (typically a built-in) into a custom override",
                    "parameters": [
                        {
                            "name": "rule_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"201": {"description": "the new custom rule"}},
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "Audit log, newest first",
                    "parameters": [
                        {"name": "subject", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "entries, and next_cursor"}},
                }
            },
            **approval_paths(),
            **automation_paths(),
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the store answers and the worker runs",
                    "responses": {
                        "200": {"description": "ready (warnings: a store that keeps nothing)"},
                        "503": {
                            "description": "store unavailable, worker stopped, or (production)"
                            " a store that keeps nothing on disk"
                        },
                    },
                }
            },
            "/runbooks/{name}": {
                "get": {
                    "summary": "The runbook of an incident type (docs/runbooks/), as text",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "<incident_type>.md",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the runbook (Markdown)",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": _error("no such runbook"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    _with_common_answers(document["paths"])
    return document


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())
