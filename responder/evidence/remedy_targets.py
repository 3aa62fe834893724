"""The targets of the remedies an operator configured: ``switch_db_target``
acts on the ConfigMap of settings ``remedies.database``, ``patch_ldap_config``
on the one of ``remedies.ldap``. Each is named for the incident type it
remedies, only when configured; the executor's plan reads the key live and
refuses a value it does not know."""

from __future__ import annotations

from dataclasses import dataclass, field

from responder.evidence.collector import Evidence
from responder.records.incident import Incident
from responder.records.target import Target
from responder.remedies import ConfigKey, Remedies

#: action → (the incident type it remedies, the ``remedies`` setting naming its ConfigMap)
REMEDIED: dict[str, tuple[str, str]] = {
    "switch_db_target": ("database_connectivity_degraded", "database"),
    "patch_ldap_config": ("identity_provider_unreachable", "ldap"),
}


@dataclass(eq=False)
class RemedyTargetCollector:
    """Names the configured remedies' ConfigMaps; reads nothing, adds no
    signal (a configured remedy is no evidence of the problem)."""

    remedies: Remedies
    name: str = "remedies"
    incident_types: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.incident_types = frozenset(kind for kind, _ in self._configured().values())

    def collect(self, incident: Incident) -> Evidence:
        targets: dict[str, tuple[Target, ...]] = {}
        said = []
        for action, (kind, remedy) in sorted(self._configured().items()):
            if kind == incident.incident_type:
                targets[action] = (remedy.target,)
                said.append(
                    f"{action} acts on configmap {remedy.configmap} key {remedy.key} "
                    f"(settings remedies.{REMEDIED[action][1]})"
                )
        return Evidence(summary="; ".join(said), targets=targets)

    def _configured(self) -> dict[str, tuple[str, ConfigKey]]:
        found: dict[str, tuple[str, ConfigKey]] = {}
        for action, (kind, setting) in REMEDIED.items():
            remedy = getattr(self.remedies, setting)
            if isinstance(remedy, ConfigKey):
                found[action] = (kind, remedy)
        return found
