"""The configured remedies name their ConfigMaps as targets: switch_db_target
for database connectivity, patch_ldap_config for the identity provider;
nothing when no remedy is configured."""

from __future__ import annotations

from fixtures.incidents import make_incident

from responder.app import build_backends
from responder.evidence.remedy_targets import RemedyTargetCollector
from responder.records.incident import Incident, ResourceScope
from responder.records.target import Target
from responder.remedies import Remedies
from responder.settings import Settings

DATABASE = {
    "configmap": "shop/orders-db",
    "key": "DATABASE_URL",
    "primary": "postgresql://db-a/orders",
    "standby": "postgresql://db-b/orders",
}
LDAP = {"configmap": "auth/backend-ldap", "key": "LDAP_URL", "fallback": "ldaps://standby:636"}


def incident(incident_type: str) -> Incident:
    scope = ResourceScope(kind="deployment", namespace="shop", name="orders")
    return make_incident(
        incident_type=incident_type, key=f"{incident_type}|{scope.key}", resource_scope=scope
    )


def test_the_database_remedy_names_its_configmap_for_switch_db_target() -> None:
    collector = RemedyTargetCollector(Remedies.model_validate({"database": DATABASE}))
    assert collector.incident_types == {"database_connectivity_degraded"}

    evidence = collector.collect(incident("database_connectivity_degraded"))

    configmap = Target(kind="configmap", namespace="shop", name="orders-db")
    assert evidence.targets == {"switch_db_target": (configmap,)}
    assert evidence.signals == ()
    assert evidence.summary == (
        "switch_db_target acts on configmap shop/orders-db key DATABASE_URL "
        "(settings remedies.database)"
    )


def test_each_remedy_is_named_only_for_the_type_it_remedies() -> None:
    collector = RemedyTargetCollector(Remedies.model_validate({"database": DATABASE, "ldap": LDAP}))
    assert collector.incident_types == {
        "database_connectivity_degraded",
        "identity_provider_unreachable",
    }

    evidence = collector.collect(incident("identity_provider_unreachable"))

    configmap = Target(kind="configmap", namespace="auth", name="backend-ldap")
    assert evidence.targets == {"patch_ldap_config": (configmap,)}
    assert collector.collect(incident("http_error_rate_spike")).targets == {}


def test_the_collector_is_there_only_when_a_remedy_is_configured() -> None:
    _, collectors = build_backends(Settings(remedies={"ldap": LDAP}))
    assert any(isinstance(c, RemedyTargetCollector) for c in collectors)
    _, collectors = build_backends(Settings())
    assert not any(isinstance(c, RemedyTargetCollector) for c in collectors)
