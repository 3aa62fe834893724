"""The scales incidents are measured on: severity, confidence, environment."""

from __future__ import annotations

from enum import StrEnum


class RankedEnum(StrEnum):
    """A string enum whose members are ordered as declared, lowest first."""

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)


class Severity(RankedEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Environment(StrEnum):
    demo = "demo"
    staging = "staging"
    production = "production"


ALL_ENVIRONMENTS = (Environment.demo, Environment.staging, Environment.production)


class Confidence(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
