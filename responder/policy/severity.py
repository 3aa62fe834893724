"""Severity rules per incident type (taxonomy data), evaluated with CEL.

The first rule whose condition holds gives the severity. Conditions see the
incident's age, firing alerts, labels, signals and facts (defaults filled in);
a result is kept by what the type's conditions read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from responder.policy.cel import CelError, Engine, Program
from responder.policy.reads import Path as ReadPath
from responder.policy.reads import paths_read, value_at
from responder.records.levels import Severity
from responder.taxonomy.loader import CatalogueError
from responder.taxonomy.models import SeverityRule, Taxonomy

log = logging.getLogger(__name__)

MEMO_SIZE = 10_000


class SeverityRules:
    def __init__(self, taxonomy: Taxonomy, engine: Engine) -> None:
        self.engine = engine
        self._rules: dict[str, list[tuple[SeverityRule, Program]]] = {}
        self._reads: dict[str, list[ReadPath]] = {}
        self._found: dict[tuple[object, ...], tuple[Severity, str] | None] = {}
        for incident_type in taxonomy.incident_types.values():
            compiled = []
            for index, rule in enumerate(incident_type.severity_rules):
                try:
                    compiled.append((rule, engine.compile(rule.condition)))
                except CelError as exc:
                    raise CatalogueError(
                        "incident_types.yaml",
                        f"incident_types[{incident_type.id}].severity_rules[{index}].condition",
                        f"CEL: {exc}",
                    ) from exc
            self._rules[incident_type.id] = compiled
            self._reads[incident_type.id] = sorted(
                {
                    path
                    for rule in incident_type.severity_rules
                    for path in paths_read(rule.condition, ("incident",))
                }
            )

    def evaluate(
        self, incident_type: str, incident: Mapping[str, Any]
    ) -> tuple[Severity, str] | None:
        """(severity, the rule's description) of the first rule that holds."""
        rules = self._rules.get(incident_type)
        if not rules:
            return None
        data = {"incident": dict(incident)}
        key = (incident_type, *(value_at(data, path) for path in self._reads[incident_type]))
        if key in self._found:
            return self._found[key]
        found = self._evaluate(incident_type, rules, data)
        if len(self._found) >= MEMO_SIZE:
            self._found.clear()
        self._found[key] = found
        return found

    def _evaluate(
        self,
        incident_type: str,
        rules: list[tuple[SeverityRule, Program]],
        data: Mapping[str, Any],
    ) -> tuple[Severity, str] | None:
        activation = self.engine.activation(data)
        for rule, program in rules:
            try:
                holds = program.evaluate(activation)
            except CelError as exc:
                log.error("severity rule of %s failed (%s): %s", incident_type, rule.when, exc)
                continue
            if holds is True:
                return rule.severity, rule.when
        return None
