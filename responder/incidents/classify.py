"""Alert → incident type.

A ``taxonomy_type`` label naming a known type wins; then the alertname map
(the operator's additions first, then the built-in map); otherwise
``unclassified``, recorded and notified but never acted on. Entries marked
``ignore`` (Watchdog, InfoInhibitor) produce no incident."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from responder.records.incident import UNCLASSIFIED
from responder.settings import AlertnameRule
from responder.taxonomy.loader import DATA_DIR, CatalogueError, read_yaml
from responder.taxonomy.models import Taxonomy

TAXONOMY_LABEL = "taxonomy_type"


@dataclass(frozen=True)
class Classification:
    incident_type: str | None
    """``None`` when the alert is to be ignored."""
    reason: str


@dataclass(frozen=True)
class _CompiledRule:
    alertname: str
    matchers: tuple[tuple[str, re.Pattern[str]], ...]
    incident_type: str | None
    origin: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(pattern.fullmatch(labels.get(name, "")) for name, pattern in self.matchers)


class Classifier:
    """``sources`` are (origin, rules) pairs, tried in the order given."""

    def __init__(
        self, taxonomy: Taxonomy, sources: Iterable[tuple[str, Iterable[AlertnameRule]]]
    ) -> None:
        self._taxonomy = taxonomy
        self._by_alertname: dict[str, list[_CompiledRule]] = {}
        for origin, rules in sources:
            self._add(origin, rules)

    def _add(self, origin: str, rules: Iterable[AlertnameRule]) -> None:
        taxonomy = self._taxonomy
        for index, rule in enumerate(rules):
            where = f"{origin}: rules[{index}] ({rule.alertname})"
            if rule.ignore == (rule.incident_type is not None):
                raise CatalogueError(
                    where, "incident_type", "give exactly one of incident_type or ignore"
                )
            if rule.incident_type is not None and rule.incident_type not in taxonomy.incident_types:
                raise CatalogueError(
                    where, "incident_type", f"unknown incident type {rule.incident_type!r}"
                )
            matchers: list[tuple[str, re.Pattern[str]]] = []
            for label, expression in rule.match.items():
                try:
                    matchers.append((label, re.compile(expression)))
                except re.error as exc:
                    raise CatalogueError(where, f"match.{label}", f"invalid regex: {exc}") from exc
            compiled = _CompiledRule(rule.alertname, tuple(matchers), rule.incident_type, origin)
            self._by_alertname.setdefault(rule.alertname, []).append(compiled)

    def classify(self, labels: Mapping[str, str]) -> Classification:
        labelled = labels.get(TAXONOMY_LABEL)
        if labelled in self._taxonomy.incident_types:
            return Classification(labelled, f"label {TAXONOMY_LABEL}={labelled}")
        for rule in self._by_alertname.get(labels.get("alertname", ""), ()):
            if rule.matches(labels):
                if rule.incident_type is None:
                    return Classification(None, f"{rule.alertname} is ignored ({rule.origin})")
                return Classification(
                    rule.incident_type, f"alertname {rule.alertname} ({rule.origin})"
                )
        if labelled:
            return Classification(UNCLASSIFIED, f"unknown {TAXONOMY_LABEL} {labelled!r}")
        return Classification(UNCLASSIFIED, "no taxonomy_type label and no alertname rule")


def load_alertname_rules(path: Path = DATA_DIR / "alertnames.yaml") -> list[AlertnameRule]:
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise CatalogueError(path, "rules", "expected a top-level list named 'rules'")
    rules: list[AlertnameRule] = []
    for index, entry in enumerate(doc["rules"]):
        try:
            rules.append(AlertnameRule.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise CatalogueError(path, f"rules[{index}].{field}", first["msg"]) from exc
    return rules


def build_classifier(taxonomy: Taxonomy, operator_rules: Iterable[AlertnameRule]) -> Classifier:
    """The operator's rules (from settings) first, then the built-in map."""
    return Classifier(
        taxonomy,
        [
            ("settings alertname_map", operator_rules),
            ("built-in alertnames.yaml", load_alertname_rules()),
        ],
    )
