"""The scales incidents are measured on: severity, confidence, environment."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.info: 0, Severity.warning: 1, Severity.critical: 2}


class Environment(StrEnum):
    demo = "demo"
    staging = "staging"
    production = "production"


ALL_ENVIRONMENTS = (Environment.demo, Environment.staging, Environment.production)


class Confidence(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
