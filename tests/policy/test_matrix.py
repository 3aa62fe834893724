"""The resolved policy matrix (what the engine decides) against spec
section 11, row by row and environment by environment.

Section 11 is encoded below as data: for each incident class the spec's
column values, with the spec's words mapped to action ids. Section 11 gives
one row per class; how a row differs between environments follows from
sections 4 and 12 and is spelled out per environment: demo shows "yes,
allowlist only" in full; staging and production keep only the low-risk,
clearly safe idempotent containment automatic (delete completed/failed
pods, suppress the incident, fail over a channel); the limited restart is
demo/staging only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from responder.policy.allowlist import never_auto_reason
from responder.policy.engine import PolicyEngine
from responder.policy.matrix import (
    COLUMNS,
    Row,
    format_matrix,
    matrix_as_json,
    matrix_json_text,
    representative_target,
    resolved_matrix,
)
from responder.records.levels import Environment
from responder.taxonomy import ActionClass, builtin_taxonomy

DEMO, STAGING, PRODUCTION = Environment.demo, Environment.staging, Environment.production
EVERY = (DEMO, STAGING, PRODUCTION)


@dataclass(frozen=True)
class Spec:
    """One row of section 11 (or, for the two types it lacks, the derived row)."""

    #: the "auto contain" column, in the spec's words
    auto_contain: str
    #: the "approval required" column: action id -> the spec's words
    approval: dict[str, str]
    #: the "human only" column: action id -> the spec's words
    human_only: dict[str, str] = field(default_factory=dict)
    #: actions section 9 (or section 5) names beyond the matrix row
    also_approval: dict[str, str] = field(default_factory=dict)
    also_human_only: dict[str, str] = field(default_factory=dict)
    #: environment -> the actions automatic at high confidence on an allowlisted target
    auto: dict[Environment, set[str]] = field(default_factory=dict)
    #: environment -> auto-allowed contain actions the environment holds for approval
    held: dict[Environment, set[str]] = field(default_factory=dict)
    #: environment -> actions automatic on a non-shared target, approval on a shared one
    shared: dict[Environment, set[str]] = field(default_factory=dict)


SAFE_SET = {"delete_completed_pods", "suppress_incident"}

SECTION_11: dict[str, Spec] = {
    "node_disk_pressure": Spec(
        auto_contain="yes, allowlist only",
        approval={
            "cordon_node": "cordon",
            "reboot_worker": "reboot",
            "replace_worker": "replace",
            "scale_shared_controller": "shared scale-down",
        },
        human_only={
            "delete_persistent_data": "persistent data deletion",
            "delete_pvc": "persistent data deletion",
        },
        also_approval={"drain_node": "section 5: drain node is disruptive"},
        auto={
            DEMO: {
                "delete_completed_pods",
                "suspend_cronjob",
                "scale_to_zero",
                "suppress_incident",
            },
            STAGING: SAFE_SET,
            PRODUCTION: SAFE_SET,
        },
        held={
            STAGING: {"suspend_cronjob", "scale_to_zero"},
            PRODUCTION: {"suspend_cronjob", "scale_to_zero"},
        },
        # "shared scale-down": scaling a shared workload to zero needs an approval
        shared={DEMO: {"scale_to_zero"}},
    ),
    "registry_pull_failure": Spec(
        auto_contain="no",
        approval={
            "patch_image_ref": "image patch",
            "patch_pull_secret": "pull-secret patch",
            "helm_reconcile": "release reconcile",
        },
        human_only={"rotate_registry_credentials": "registry credential rotation outside runbook"},
        also_approval={"rollback_release": "section 9: Helm reconcile or rollback"},
    ),
    "runtime_dependency_outage": Spec(
        auto_contain="limited restart",  # "limited restart in demo/staging"
        approval={
            "rollout_restart": "shared dependency restart",
            "patch_config": "config patch",
            "helm_reconcile": "release reconcile",
        },
        human_only={},  # none by default
        also_approval={"scale_dependency": "section 9: scale dependency"},
        auto={DEMO: {"rollout_restart"}, STAGING: {"rollout_restart"}},
        shared={DEMO: {"rollout_restart"}, STAGING: {"rollout_restart"}},
    ),
    "ingress_configuration_drift": Spec(
        auto_contain="no",
        approval={
            "patch_ingress": "ingress enable/patch",
            "patch_tls": "TLS patch",
            "helm_reconcile": "release reconcile",
        },
        human_only={"replace_certificate": "certificate/key replacement outside runbook"},
    ),
    "identity_provider_unreachable": Spec(
        auto_contain="no",
        approval={"patch_ldap_config": "patch LDAP config", "rollout_restart": "backend restart"},
        human_only={"disable_auth": "auth disablement"},
    ),
    "database_connectivity_degraded": Spec(
        auto_contain="no",
        approval={
            "switch_db_target": "DB target patch",
            "run_recovery_job": "recovery workflow start",
        },
        human_only={
            "restore_data": "restore data",
            "reset_schema": "reset data",
            "delete_persistent_data": "delete data",
        },
        also_approval={"patch_config": "section 9: patch system configs referencing the DB"},
        also_human_only={"delete_pvc": "section 9: PVC deletion"},
    ),
    "release_drift_or_partial_apply": Spec(
        auto_contain="no",
        approval={"helm_reconcile": "Helm reconcile", "rollout_restart": "restart workloads"},
        human_only={"uninstall_release": "uninstall/delete release resources"},
        also_approval={"force_field_ownership": "section 9: force conflict ownership"},
    ),
    "background_job_buildup": Spec(
        auto_contain="yes, allowlist only",
        approval={
            "pause_shared_controller": "shared controller pause",
            "bulk_cleanup": "bulk cleanup",
        },
        human_only={
            "delete_namespace": "namespace deletion",
            "delete_persistent_data": "data deletion",
        },
        auto={
            DEMO: {"delete_completed_pods", "suspend_cronjob", "suppress_incident"},
            STAGING: SAFE_SET,
            PRODUCTION: SAFE_SET,
        },
        held={STAGING: {"suspend_cronjob"}, PRODUCTION: {"suspend_cronjob"}},
    ),
    "chatops_delivery_failure": Spec(
        auto_contain="alternate-channel retry",
        approval={"patch_config": "channel credential/config changes"},
        human_only={},  # none
        auto={env: {"failover_channel"} for env in EVERY},
    ),
}

#: Types of section 9 without a row in section 11: derived the conservative
#: way (no automatic containment; what section 9 names needs an approval).
DERIVED: dict[str, Spec] = {
    "node_unreachable_or_notready": Spec(
        auto_contain="no",
        approval={
            "cordon_node": "cordon",
            "reboot_worker": "reboot worker",
            "replace_worker": "replace worker",
        },
        also_approval={"drain_node": "section 5: drain node is disruptive"},
    ),
    "http_error_rate_spike": Spec(
        auto_contain="no",
        approval={"rollout_restart": "restart backend", "rollback_release": "rollback release"},
    ),
}

EXPECTED = {**SECTION_11, **DERIVED}


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(builtin_taxonomy())


@pytest.fixture(scope="module")
def matrix(engine: PolicyEngine) -> dict[Environment, list[Row]]:
    return resolved_matrix(engine)


def row_of(
    matrix: dict[Environment, list[Row]], environment: Environment, incident_type: str
) -> Row:
    [row] = [row for row in matrix[environment] if row.incident_type == incident_type]
    return row


def test_the_expected_data_names_every_incident_type() -> None:
    assert set(EXPECTED) == set(builtin_taxonomy().incident_types)
    assert set(SECTION_11) == set(EXPECTED) - set(DERIVED)


def test_one_row_per_type_in_every_environment(matrix: dict[Environment, list[Row]]) -> None:
    assert list(matrix) == list(Environment)
    for rows in matrix.values():
        assert [row.incident_type for row in rows] == list(builtin_taxonomy().incident_types)


CELLS = [(env, incident_type) for incident_type in EXPECTED for env in EVERY]


@pytest.mark.parametrize(
    ("environment", "incident_type"), CELLS, ids=[f"{e}-{t}" for e, t in CELLS]
)
def test_row_agrees_with_section_11(
    matrix: dict[Environment, list[Row]], environment: Environment, incident_type: str
) -> None:
    spec = EXPECTED[incident_type]
    row = row_of(matrix, environment, incident_type)

    # auto observe, auto notify: yes, everywhere
    assert row.auto_observe, "auto observe must be yes"
    assert row.auto_notify, "auto notify must be yes"

    # auto contain: the spec's kind where anything is automatic, else no
    auto = spec.auto.get(environment, set())
    assert set(row.auto_contain) == auto
    assert row.auto_contain_kind == (spec.auto_contain if auto else "no")

    # approval required: the spec's words, the section 9 extras, the contain
    # actions this environment holds for approval; an action automatic on a
    # non-shared target shows as approval-if-shared instead
    shared = spec.shared.get(environment, set())
    approval = set(spec.approval) | set(spec.also_approval) | spec.held.get(environment, set())
    assert set(row.approval_required) == approval - shared
    assert set(row.approval_if_shared) == shared

    # human only
    assert set(row.human_only) == set(spec.human_only) | set(spec.also_human_only)
    assert row.off == ()


def test_production_auto_contain_is_the_safe_set_only(matrix: dict[Environment, list[Row]]) -> None:
    automatic = {action for row in matrix[PRODUCTION] for action in row.auto_contain}
    assert automatic == {"delete_completed_pods", "suppress_incident", "failover_channel"}


def test_demo_shows_the_full_allowlist(matrix: dict[Environment, list[Row]]) -> None:
    demo = {action for row in matrix[DEMO] for action in row.auto_contain}
    assert demo == {
        "delete_completed_pods",
        "suspend_cronjob",
        "scale_to_zero",
        "suppress_incident",
        "failover_channel",
        "rollout_restart",
    }
    assert "scale_to_zero" not in {a for row in matrix[STAGING] for a in row.auto_contain}


def test_nothing_disruptive_or_human_only_is_ever_automatic(
    matrix: dict[Environment, list[Row]],
) -> None:
    taxonomy = builtin_taxonomy()
    for rows in matrix.values():
        for row in rows:
            for action in row.auto_contain:
                assert taxonomy.actions[action].action_class in (
                    ActionClass.contain,
                    ActionClass.recover,
                ), (row.incident_type, action)


def test_representative_targets_are_allowlisted() -> None:
    taxonomy = builtin_taxonomy()
    engine_allowlist = PolicyEngine.load(taxonomy).allowlist
    for entry in engine_allowlist.entries:
        target = representative_target(entry.action, "node_disk_pressure")
        assert target is not None
        assert any(
            engine_allowlist.allowing(entry.action, target, env) for env in entry.environments
        )
        assert never_auto_reason(entry.action, target) is None
    assert str(representative_target("delete_completed_pods", "x")) == str(
        representative_target("delete_completed_pods", "y")
    )
    assert representative_target("collect_evidence", "node_disk_pressure") is None
    incident = representative_target("suppress_incident", "background_job_buildup")
    assert incident is not None and incident.name == "background_job_buildup"


def test_the_table_reads_like_section_11(matrix: dict[Environment, list[Row]]) -> None:
    text = format_matrix(matrix)
    for environment in Environment:
        assert f"## {environment.value}" in text
    header = next(line for line in text.splitlines() if line.startswith("| incident class"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == list(COLUMNS)
    demo = text.split("## staging")[0]
    assert "yes, allowlist only: delete_completed_pods, suspend_cronjob, scale_to_zero" in demo
    assert "limited restart: rollout_restart" in demo
    assert "alternate-channel retry: failover_channel" in demo
    assert "rollout_restart (shared)" in demo
    production = text.split("## production")[1]
    assert "limited restart" not in production


def test_the_json_form(matrix: dict[Environment, list[Row]]) -> None:
    data = json.loads(matrix_json_text(matrix))
    assert data == matrix_as_json(matrix)
    assert list(data) == ["demo", "staging", "production"]
    [row] = [r for r in data["staging"] if r["incident_type"] == "runtime_dependency_outage"]
    assert row["auto_contain"] == {"summary": "limited restart", "actions": ["rollout_restart"]}
    assert row["approval_if_shared"] == ["rollout_restart"]
    assert row["targets"]["rollout_restart"] == "deployment/default/redis"
