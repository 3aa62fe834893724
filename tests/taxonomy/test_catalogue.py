"""The built-in catalogue: incident types, their severity rules, the loader's
refusals, and the alertname map."""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel

from responder.records.levels import Severity
from responder.taxonomy import (
    ActionClass,
    CatalogueError,
    IncidentType,
    Taxonomy,
    builtin_taxonomy,
    load_taxonomy,
)
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.loader import DATA_DIR

DOMAINS = {
    "infrastructure",
    "runtime_services",
    "application_services",
    "network_ingress",
    "golden_signals",
    "identity_security",
    "release_configuration",
    "operator_channels",
}

INCIDENT_TYPES = {
    "node_disk_pressure",
    "node_unreachable_or_notready",
    "registry_pull_failure",
    "runtime_dependency_outage",
    "ingress_configuration_drift",
    "identity_provider_unreachable",
    "http_error_rate_spike",
    "database_connectivity_degraded",
    "release_drift_or_partial_apply",
    "background_job_buildup",
    "chatops_delivery_failure",
}

CEL = celpy.Environment()


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return builtin_taxonomy()


def _incident(
    *,
    age_seconds: int = 0,
    firing_alerts: int = 1,
    labels: Mapping[str, str] | None = None,
    signals: Mapping[str, Any] | None = None,
    **facts: bool | int,
) -> dict[str, Any]:
    unknown = set(facts) - set(FACT_DEFAULTS)
    assert not unknown, f"not facts of FACT_DEFAULTS: {unknown}"
    return {
        "age_seconds": age_seconds,
        "firing_alerts": firing_alerts,
        "labels": dict(labels or {}),
        "signals": dict(signals or {}),
        "facts": {**FACT_DEFAULTS, **facts},
    }


def _evaluate(condition: str, incident: dict[str, Any]) -> Any:
    program = CEL.program(CEL.compile(condition))
    return program.evaluate({"incident": json_to_cel(incident)})


def _severity(incident_type: IncidentType, incident: dict[str, Any]) -> Severity:
    for rule in incident_type.severity_rules:
        if _evaluate(rule.condition, incident):
            return rule.severity
    raise AssertionError(f"{incident_type.id}: no severity rule matched")


# --------------------------------------------------------------------- catalogue


def test_builtin_catalogue_has_the_eight_domains_and_eleven_types(taxonomy: Taxonomy) -> None:
    assert set(taxonomy.domains) == DOMAINS
    assert set(taxonomy.incident_types) == INCIDENT_TYPES
    assert taxonomy.version == "2026.11.1"


def test_every_type_auto_allows_evidence_and_notification_first(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        assert incident_type.auto_allowed[:2] == ("collect_evidence", "notify_operator"), (
            incident_type.id
        )


def test_auto_allowed_actions_are_only_observe_notify_or_contain(taxonomy: Taxonomy) -> None:
    allowed = {ActionClass.observe, ActionClass.notify, ActionClass.contain}
    for incident_type in taxonomy.incident_types.values():
        for action_id in incident_type.auto_allowed:
            assert taxonomy.action(action_id).action_class in allowed, (incident_type.id, action_id)


def test_types_without_auto_contain_auto_allow_no_contain_action(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        contain = [
            action_id
            for action_id in incident_type.auto_allowed
            if taxonomy.action(action_id).action_class == ActionClass.contain
        ]
        if incident_type.policy_binding.auto_contain == "no":
            assert contain == [], incident_type.id


def test_policy_matrix_auto_contain_column(taxonomy: Taxonomy) -> None:
    column = {
        type_id: incident_type.policy_binding.auto_contain
        for type_id, incident_type in taxonomy.incident_types.items()
    }
    assert column == {
        "node_disk_pressure": "allowlist_only",
        "node_unreachable_or_notready": "no",
        "registry_pull_failure": "no",
        "runtime_dependency_outage": "limited_restart_demo_staging",
        "ingress_configuration_drift": "no",
        "identity_provider_unreachable": "no",
        "http_error_rate_spike": "no",
        "database_connectivity_degraded": "no",
        "release_drift_or_partial_apply": "no",
        "background_job_buildup": "allowlist_only",
        "chatops_delivery_failure": "alternate_channel_retry",
    }


def test_runtime_dependency_restart_needs_approval_not_auto(taxonomy: Taxonomy) -> None:
    outage = taxonomy.incident_type("runtime_dependency_outage")
    assert "rollout_restart" in outage.approval_required
    assert "rollout_restart" not in outage.auto_allowed


def test_destructive_data_actions_are_human_only(taxonomy: Taxonomy) -> None:
    database = taxonomy.incident_type("database_connectivity_degraded")
    assert {"restore_data", "reset_schema", "delete_pvc"} <= set(database.human_only)
    disk = taxonomy.incident_type("node_disk_pressure")
    assert {"delete_persistent_data", "delete_pvc"} <= set(disk.human_only)
    assert {"cordon_node", "reboot_worker", "replace_worker"} <= set(disk.approval_required)


def test_quiet_periods(taxonomy: Taxonomy) -> None:
    for type_id, incident_type in taxonomy.incident_types.items():
        expected = 600 if type_id == "node_disk_pressure" else 300
        assert incident_type.quiet_period_seconds == expected, type_id


def test_disk_pressure_cooldowns_match_the_spec(taxonomy: Taxonomy) -> None:
    cooldowns = taxonomy.incident_type("node_disk_pressure").cooldowns
    assert cooldowns.action_retry_seconds == 15 * 60
    assert cooldowns.disruptive_retry_seconds == 60 * 60


def test_scope_kinds(taxonomy: Taxonomy) -> None:
    kinds = {t.id: t.scope_kind for t in taxonomy.incident_types.values()}
    assert kinds["node_disk_pressure"] == kinds["node_unreachable_or_notready"] == "node"
    assert kinds["ingress_configuration_drift"] == "service"
    assert kinds["identity_provider_unreachable"] == "service"
    assert kinds["chatops_delivery_failure"] == "cluster"


# ---------------------------------------------------------------- severity rules


def test_every_severity_condition_is_standard_cel_returning_a_bool(taxonomy: Taxonomy) -> None:
    incident = _incident()
    for incident_type in taxonomy.incident_types.values():
        assert incident_type.severity_rules, incident_type.id
        for rule in incident_type.severity_rules:
            result = _evaluate(rule.condition, incident)
            assert isinstance(result, celpy.celtypes.BoolType), (incident_type.id, rule.condition)


def test_last_severity_rule_is_the_catch_all(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        assert incident_type.severity_rules[-1].condition.strip() == "true", incident_type.id


def test_default_facts_give_the_default_severity(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        assert _severity(incident_type, _incident()) == incident_type.default_severity, (
            incident_type.id
        )


@pytest.mark.parametrize(
    ("type_id", "incident", "expected"),
    [
        ("node_disk_pressure", _incident(nodes_affected=1), "warning"),
        ("node_disk_pressure", _incident(nodes_affected=2), "critical"),
        ("node_disk_pressure", _incident(customer_facing_failures=True), "critical"),
        ("node_disk_pressure", _incident(age_seconds=601), "critical"),
        ("node_disk_pressure", _incident(age_seconds=599), "warning"),
        ("registry_pull_failure", _incident(core_workload=True), "critical"),
        ("registry_pull_failure", _incident(shared_dependency=True), "critical"),
        ("runtime_dependency_outage", _incident(impact_cascades=True), "critical"),
        (
            "ingress_configuration_drift",
            _incident(signals={"tls_failure": {"strength": "strong", "count": 1}}),
            "critical",
        ),
        ("http_error_rate_spike", _incident(rising=True), "critical"),
        ("database_connectivity_degraded", _incident(), "critical"),
        ("release_drift_or_partial_apply", _incident(rollout_blocked=True), "warning"),
        (
            "release_drift_or_partial_apply",
            _incident(rollout_blocked=True, workloads_unhealthy=True),
            "critical",
        ),
        ("background_job_buildup", _incident(contributes_to_disk_pressure=True), "critical"),
        ("chatops_delivery_failure", _incident(all_channels_down=True), "warning"),
        (
            "chatops_delivery_failure",
            _incident(all_channels_down=True, active_incident=True),
            "critical",
        ),
    ],
)
def test_severity_rules_follow_the_spec(
    taxonomy: Taxonomy, type_id: str, incident: dict[str, Any], expected: str
) -> None:
    assert _severity(taxonomy.incident_type(type_id), incident) == expected


# ----------------------------------------------------------------- loader errors


def _broken_copy(tmp_path: Path, type_id: str, field: str, value: Any) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    types_file = data_dir / "incident_types.yaml"
    doc = yaml.safe_load(types_file.read_text(encoding="utf-8"))
    (entry,) = [t for t in doc["incident_types"] if t["id"] == type_id]
    entry[field] = value
    types_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return data_dir


def test_copied_data_dir_loads(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    assert set(load_taxonomy(data_dir).incident_types) == INCIDENT_TYPES


@pytest.mark.parametrize(
    ("incident_type", "field", "value", "reason"),
    [
        (
            "node_disk_pressure",
            "approval_required",
            [
                *builtin_taxonomy().incident_type("node_disk_pressure").approval_required,
                "format_disk",
            ],
            "format_disk",
        ),
        ("registry_pull_failure", "domain", "storage", "storage"),
        (
            "background_job_buildup",
            "auto_allowed",
            ["collect_evidence", "notify_operator", "resume_workload"],
            "'resume_workload' is a recover action",
        ),
    ],
    ids=["unknown action", "unknown domain", "recover action in auto_allowed"],
)
def test_a_broken_incident_type_is_refused_with_its_place(
    tmp_path: Path, incident_type: str, field: str, value: Any, reason: str
) -> None:
    data_dir = _broken_copy(tmp_path, incident_type, field, value)
    with pytest.raises(CatalogueError) as caught:
        load_taxonomy(data_dir)
    message = str(caught.value)
    assert "incident_types.yaml" in message
    assert f"incident_types[{incident_type}].{field}" in message
    assert reason in message


# --------------------------------------------------------------- alertname map


def _alertname_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DATA_DIR / "alertnames.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    assert isinstance(doc.get("version"), str)
    rules = doc["rules"]
    assert isinstance(rules, list) and rules
    return rules


def _classify(rules: list[dict[str, Any]], labels: Mapping[str, str]) -> str | None:
    """First match wins; regexes are fully anchored; a missing label is ""."""
    for rule in rules:
        if rule["alertname"] != labels.get("alertname"):
            continue
        match = rule.get("match", {})
        if all(re.fullmatch(expr, labels.get(name, "")) for name, expr in match.items()):
            return "ignore" if rule.get("ignore") else rule["incident_type"]
    return None


def test_alertname_rules_name_known_types_or_ignore(taxonomy: Taxonomy) -> None:
    for index, rule in enumerate(_alertname_rules()):
        where = f"rules[{index}] {rule.get('alertname')}"
        assert set(rule) <= {"alertname", "match", "incident_type", "ignore"}, where
        assert isinstance(rule["alertname"], str) and rule["alertname"], where
        if rule.get("ignore"):
            assert rule["ignore"] is True and "incident_type" not in rule, where
        else:
            assert "ignore" not in rule, where
            assert rule["incident_type"] in taxonomy.incident_types, where


def test_alertname_regexes_compile() -> None:
    try:  # the RE2 binding is optional; Python's re is what classification uses
        re2: Any = importlib.import_module("re2")
    except ImportError:
        re2 = None
    for index, rule in enumerate(_alertname_rules()):
        match = rule.get("match", {})
        assert isinstance(match, dict), index
        for label, expression in match.items():
            assert isinstance(label, str) and isinstance(expression, str), (index, label)
            re.compile(expression)
            if re2 is not None:
                re2.compile(expression)


def test_no_alertname_rule_is_shadowed_by_a_broader_one() -> None:
    broad: set[str] = set()
    for index, rule in enumerate(_alertname_rules()):
        assert rule["alertname"] not in broad, f"rules[{index}] {rule['alertname']} unreachable"
        if not rule.get("match"):
            broad.add(rule["alertname"])


def test_required_alertnames_are_covered() -> None:
    names = {rule["alertname"] for rule in _alertname_rules()}
    assert {
        "KubeNodeNotReady",
        "KubeNodeUnreachable",
        "KubeletDown",
        "KubeNodeReadinessFlapping",
        "KubeNodePressure",
        "NodeFilesystemAlmostOutOfSpace",
        "NodeFilesystemSpaceFillingUp",
        "NodeFilesystemFilesFillingUp",
        "NodeFilesystemAlmostOutOfFiles",
        "KubeContainerWaiting",
        "KubePodCrashLooping",
        "KubePodNotReady",
        "TargetDown",
        "KubeDeploymentReplicasMismatch",
        "KubeDeploymentRolloutStuck",
        "KubeDeploymentGenerationMismatch",
        "KubeStatefulSetReplicasMismatch",
        "KubeDaemonSetRolloutStuck",
        "KubeJobFailed",
        "KubeJobNotCompleted",
        "AlertmanagerFailedToSendAlerts",
        "AlertmanagerClusterFailedToSendAlerts",
        "RedisDown",
        "Watchdog",
        "InfoInhibitor",
    } <= names


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "Watchdog"}, "ignore"),
        ({"alertname": "InfoInhibitor"}, "ignore"),
        ({"alertname": "KubeNodePressure", "condition": "DiskPressure"}, "node_disk_pressure"),
        ({"alertname": "KubeNodePressure", "condition": "MemoryPressure"}, None),
        (
            {"alertname": "KubeNodeEviction", "eviction_signal": "imagefs.available"},
            "node_disk_pressure",
        ),
        ({"alertname": "KubeNodeEviction", "eviction_signal": "memory.available"}, None),
        (
            {"alertname": "KubeContainerWaiting", "reason": "ImagePullBackOff"},
            "registry_pull_failure",
        ),
        # fully anchored: a reason merely containing the text does not match
        ({"alertname": "KubeContainerWaiting", "reason": "NotErrImagePullAtAll"}, None),
        ({"alertname": "KubeContainerWaiting", "reason": "ContainerCreating"}, None),
        (
            {"alertname": "KubePodCrashLooping", "namespace": "apps", "pod": "redis-master-0"},
            "runtime_dependency_outage",
        ),
        ({"alertname": "KubePodCrashLooping", "namespace": "apps", "pod": "backend-1"}, None),
        (
            {"alertname": "TargetDown", "job": "nats", "namespace": "messaging"},
            "runtime_dependency_outage",
        ),
        ({"alertname": "TargetDown", "job": "kubelet"}, "node_unreachable_or_notready"),
        ({"alertname": "TargetDown", "job": "backend", "namespace": "apps"}, None),
        (
            {"alertname": "KubeStatefulSetReplicasMismatch", "statefulset": "minio"},
            "runtime_dependency_outage",
        ),
        (
            {"alertname": "KubeStatefulSetReplicasMismatch", "statefulset": "postgres"},
            "release_drift_or_partial_apply",
        ),
        ({"alertname": "KubeJobFailed"}, "background_job_buildup"),
        ({"alertname": "AlertmanagerFailedToSendAlerts"}, "chatops_delivery_failure"),
        ({"alertname": "PostgreSQLDown"}, "database_connectivity_degraded"),
        ({"alertname": "NGINXTooMany500s"}, "http_error_rate_spike"),
        ({"alertname": "CertManagerCertExpirySoon"}, "ingress_configuration_drift"),
        ({"alertname": "SomethingElse"}, None),
    ],
)
def test_alertname_map_classifies(labels: dict[str, str], expected: str | None) -> None:
    assert _classify(_alertname_rules(), labels) == expected
