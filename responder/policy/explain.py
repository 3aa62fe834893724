"""The explain contract, shared by ``POST /api/v1/policy/explain`` and
``robot-sre explain``: a hypothetical incident and action in, the decision
and every layer's contribution out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from responder.policy.decision import PolicyDecision
from responder.policy.engine import IncidentView, PolicyEngine
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target
from responder.records.validation import FieldError, validated
from responder.taxonomy.facts import FACT_DEFAULTS


class ExplainError(FieldError):
    pass


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_type: str
    environment: Environment
    severity: Severity = Severity.warning
    confidence: Confidence
    action: str
    target: Target | None = None
    labels: dict[str, str] = {}
    facts: dict[str, bool | int] = {}
    at: datetime | None = None

    @field_validator("target", mode="before")
    @classmethod
    def _target_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Target.parse(value) if value else None
        if isinstance(value, dict):
            return {**value, "namespace": value.get("namespace") or None}
        return value

    @field_validator("facts")
    @classmethod
    def _known_facts(cls, value: dict[str, bool | int]) -> dict[str, bool | int]:
        unknown = sorted(set(value) - set(FACT_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown fact(s) {unknown}; known: {sorted(FACT_DEFAULTS)}")
        return value


def parse_request(body: Any) -> ExplainRequest:
    if not isinstance(body, dict):
        raise ExplainError("-", "expected a JSON object")
    return validated(ExplainRequest, body, ExplainError)


def explain(engine: PolicyEngine, request: ExplainRequest) -> dict[str, Any]:
    """The decision and its five policy layers (``guards.explain`` adds the
    guard rails of the current state)."""
    return explain_decision(engine, request)[0]


def explain_decision(
    engine: PolicyEngine, request: ExplainRequest
) -> tuple[dict[str, Any], PolicyDecision, datetime | None]:
    """The explain answer, the decision behind it, and the time it was asked for."""
    taxonomy = engine.taxonomy
    if (
        request.incident_type not in taxonomy.incident_types
        and request.incident_type != "unclassified"
    ):
        raise ExplainError("incident_type", f"unknown incident type {request.incident_type!r}")
    if request.action not in taxonomy.actions:
        raise ExplainError("action", f"unknown action {request.action!r}")
    known = taxonomy.incident_types.get(request.incident_type)
    view = IncidentView(
        incident_type=request.incident_type,
        environment=request.environment,
        severity=str(request.severity),
        confidence=str(request.confidence),
        domain=known.domain if known else "",
        labels=request.labels,
        facts={**FACT_DEFAULTS, **request.facts},
    )
    at = request.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # a time without offset is read as UTC
    decision = engine.decide(view, request.action, request.target, at=at)
    answer = {"engine": engine.engine.name, **decision.explain()}
    return answer, decision, at
