"""The configured ConfigMap remedies against kmock: patch_ldap_config falls
back to the configured identity provider, switch_db_target points at the
standby; each shows its diff, writes one key and is undone by patch_config."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    configmap,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
)

from responder.actions.configs import ConfigRemedyExecutor
from responder.actions.jobs import BulkCleanupExecutor
from responder.actions.kubernetes import KubernetesExecutor
from responder.app import build_backends
from responder.kube import Kube
from responder.records.action import ActionRequest, Change
from responder.records.target import Target
from responder.remedies import DatabaseTarget, LdapFallback, Remedies
from responder.settings import Settings

LDAP = LdapFallback(
    configmap="auth/glauth-config", key="LDAP_URL", fallback="ldaps://ldap-standby:636"
)
DATABASE = DatabaseTarget(
    configmap="image-factory/backend",
    key="DATABASE_URL",
    primary="postgres://app:s3cret@db-primary:5432/app",
    standby="postgres://app:s3cret@db-standby:5432/app",
)


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(action, Target.parse(target), "inc-1", params)


@pytest.fixture
def executor(kube: Kube) -> ConfigRemedyExecutor:
    return ConfigRemedyExecutor(kube, ldap=LDAP, database=DATABASE)


def test_patch_ldap_config_falls_back_and_patch_config_restores(
    kube_cluster: KubeCluster, kube: Kube, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(
        configmap("glauth-config", "auth", {"LDAP_URL": "ldaps://ldap:636", "BASE_DN": "dc=x"})
    )

    plan = executor.plan(request("patch_ldap_config", "configmap/auth/glauth-config"))

    assert plan.previous == {"key": "LDAP_URL", "value": "ldaps://ldap:636"}
    assert plan.diff == (Change("data.LDAP_URL", "ldaps://ldap:636", "ldaps://ldap-standby:636"),)
    assert kube_cluster.writes() == []
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    assert [(a.verb, a.path) for a in kube_cluster.applied()] == [
        ("patch", "/api/v1/namespaces/auth/configmaps/glauth-config")
    ]
    assert [w.body for w in kube_cluster.writes()] == [
        {"data": {"LDAP_URL": "ldaps://ldap-standby:636"}}
    ]
    assert kube_cluster.live("ConfigMap", "glauth-config", "auth")["data"] == {
        "LDAP_URL": "ldaps://ldap-standby:636",
        "BASE_DN": "dc=x",
    }

    inverse = executor.inverse(plan)
    assert inverse == request(
        "patch_config", "configmap/auth/glauth-config", key="LDAP_URL", value="ldaps://ldap:636"
    )
    kubernetes = KubernetesExecutor(kube)
    assert kubernetes.apply(kubernetes.plan(inverse)).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "glauth-config", "auth")["data"]["LDAP_URL"] == (
        "ldaps://ldap:636"
    )


def test_a_missing_key_is_shown_absent_and_its_inverse_removes_it(
    kube_cluster: KubeCluster, kube: Kube, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(configmap("glauth-config", "auth", {"BASE_DN": "dc=x"}))

    plan = executor.plan(request("patch_ldap_config", "configmap/auth/glauth-config"))
    assert plan.diff == (Change("data.LDAP_URL", "absent", "ldaps://ldap-standby:636"),)
    assert executor.apply(plan).result == "succeeded"

    inverse = executor.inverse(plan)
    assert inverse is not None and inverse.params == {"key": "LDAP_URL", "value": None}
    kubernetes = KubernetesExecutor(kube)
    assert kubernetes.apply(kubernetes.plan(inverse)).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "glauth-config", "auth")["data"] == {"BASE_DN": "dc=x"}


def test_switch_db_target_points_at_the_standby_with_the_password_masked_in_the_diff(
    kube_cluster: KubeCluster, kube: Kube, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"DATABASE_URL": DATABASE.primary}))

    plan = executor.plan(request("switch_db_target", "configmap/image-factory/backend"))

    assert plan.diff == (
        Change(
            "data.DATABASE_URL",
            "postgres://app:***@db-primary:5432/app",
            "postgres://app:***@db-standby:5432/app",
        ),
    )
    assert "s3cret" not in plan.summary
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    assert "s3cret" not in outcome.detail
    assert [w.body for w in kube_cluster.writes()] == [{"data": {"DATABASE_URL": DATABASE.standby}}]
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {
        "DATABASE_URL": DATABASE.standby
    }
    inverse = executor.inverse(plan)
    assert inverse is not None
    assert (inverse.action, inverse.params) == (
        "patch_config",
        {"key": "DATABASE_URL", "value": DATABASE.primary},
    )
    kubernetes = KubernetesExecutor(kube)
    assert kubernetes.apply(kubernetes.plan(inverse)).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "image-factory")["data"] == {
        "DATABASE_URL": DATABASE.primary
    }


def test_already_on_the_standby_is_nothing_to_do(
    kube_cluster: KubeCluster, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"DATABASE_URL": DATABASE.standby}))

    plan = executor.plan(request("switch_db_target", "configmap/image-factory/backend"))

    assert (plan.changes, plan.diff) == ({}, ())
    assert executor.apply(plan).result == "skipped"
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


def test_a_database_setting_that_is_neither_primary_nor_standby_is_left_to_a_person(
    kube_cluster: KubeCluster, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(
        configmap("backend", "image-factory", {"DATABASE_URL": "postgres://db-other:5432/app"})
    )

    with pytest.raises(ValueError, match=r"neither the configured primary .* a person decides"):
        executor.plan(request("switch_db_target", "configmap/image-factory/backend"))


def test_without_the_remedy_the_plan_refuses_with_the_reason(kube: Kube) -> None:
    remedies = Remedies()
    bare = ConfigRemedyExecutor(kube, remedies.ldap, remedies.database)

    with pytest.raises(ValueError, match=r"^no standby configured for switch_db_target"):
        bare.plan(request("switch_db_target", "configmap/image-factory/backend"))
    with pytest.raises(ValueError, match=r"^no LDAP fallback configured for patch_ldap_config"):
        bare.plan(request("patch_ldap_config", "configmap/auth/glauth-config"))


def test_only_the_configured_configmap_is_patched(executor: ConfigRemedyExecutor) -> None:
    with pytest.raises(ValueError, match="acts on configmap auth/glauth-config"):
        executor.plan(request("patch_ldap_config", "configmap/auth/other"))
    with pytest.raises(ValueError, match="acts on a configmap, not a deployment"):
        executor.plan(request("switch_db_target", "deployment/image-factory/backend"))


def test_a_value_changed_since_the_plan_is_not_overwritten(
    kube_cluster: KubeCluster, executor: ConfigRemedyExecutor
) -> None:
    kube_cluster.add(configmap("backend", "image-factory", {"DATABASE_URL": DATABASE.primary}))
    plan = executor.plan(request("switch_db_target", "configmap/image-factory/backend"))
    kube_cluster.add(
        configmap("backend", "image-factory", {"DATABASE_URL": "postgres://db-new:5432/app"})
    )

    outcome = executor.apply(plan)

    assert outcome.result == "failed"
    assert "changed since the plan (now postgres://db-new:5432/app)" in outcome.detail
    assert kube_cluster.writes() == []


def test_remedies_name_a_namespaced_configmap() -> None:
    with pytest.raises(ValueError, match="expected NAMESPACE/NAME"):
        LdapFallback(configmap="glauth-config", key="LDAP_URL", fallback="ldaps://x:636")
    assert LDAP.target == Target(kind="configmap", namespace="auth", name="glauth-config")


def test_the_settings_remedies_reach_the_executors_build_backends_makes(
    kube_cluster: KubeCluster,
) -> None:
    settings = Settings.model_validate(
        {
            "kubeconfig": str(kube_cluster.kubeconfig),
            "remedies": {"database": DATABASE.model_dump(), "bulk_cleanup": {"cap": 5}},
        }
    )
    kube_cluster.add(configmap("backend", "image-factory", {"DATABASE_URL": DATABASE.primary}))

    executors, _ = build_backends(settings)

    serving = {action: e for e in executors for action in e.actions}
    assert {
        "patch_ingress",
        "patch_tls",
        "patch_ldap_config",
        "switch_db_target",
        "run_recovery_job",
        "bulk_cleanup",
    } <= set(serving)
    plan = serving["switch_db_target"].plan(
        request("switch_db_target", "configmap/image-factory/backend")
    )
    assert plan.changes == {"key": "DATABASE_URL", "value": DATABASE.standby}
    cleanup = serving["bulk_cleanup"]
    assert isinstance(cleanup, BulkCleanupExecutor) and cleanup.limits.cap == 5
    with pytest.raises(ValueError, match=r"^no LDAP fallback configured"):
        serving["patch_ldap_config"].plan(request("patch_ldap_config", "configmap/auth/x"))
