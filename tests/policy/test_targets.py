"""Which target each candidate action is offered with, and the params the
evidence names for it: only targets of a kind the action accepts, evidence
before scope, some actions on evidence alone."""

from __future__ import annotations

import pytest
from fixtures.incidents import make_incident

from responder.policy.targets import (
    candidate_params,
    candidate_target,
    candidate_targets,
    missing_target_reason,
)
from responder.records.incident import Incident, NamedTarget, ResourceScope, Signal
from responder.records.target import Target
from responder.taxonomy import builtin_taxonomy

GLAUTH_SERVICE = ResourceScope(kind="service", namespace="auth", name="glauth")
API = ResourceScope(kind="deployment", namespace="image-factory", name="api")
API_TARGET = Target(kind="deployment", namespace="image-factory", name="api")


def incident(
    incident_type: str, scope: ResourceScope, *named: NamedTarget, incident_id: str = "i1"
) -> Incident:
    return make_incident(
        incident_id,
        incident_type=incident_type,
        key=f"{incident_type}|{scope.key}",
        resource_scope=scope,
        named_targets=list(named),
    )


def named(action: str, target: str, source: str = "kubernetes", **params: str) -> NamedTarget:
    parsed = Target.parse(target)
    return NamedTarget(
        action=action,
        kind=parsed.kind,
        namespace=parsed.namespace,
        name=parsed.name,
        source=source,
        params=dict(params),
    )


def test_a_service_scope_is_no_target_for_a_restart() -> None:
    glauth = incident("identity_provider_unreachable", GLAUTH_SERVICE)

    assert candidate_targets("rollout_restart", glauth) == [None]
    assert candidate_target("rollout_restart", glauth) is None


def test_the_deployment_the_evidence_found_behind_a_service_is_restarted() -> None:
    glauth = incident(
        "identity_provider_unreachable",
        GLAUTH_SERVICE,
        named("rollout_restart", "deployment/auth/glauth"),
    )

    assert candidate_targets("rollout_restart", glauth) == [
        Target(kind="deployment", namespace="auth", name="glauth")
    ]


def test_a_release_action_gets_the_helm_release_never_the_deployment() -> None:
    bare = incident("runtime_dependency_outage", API)
    released = incident(
        "runtime_dependency_outage",
        API,
        named("helm_reconcile", "helmrelease/image-factory/image-factory"),
    )

    assert candidate_targets("helm_reconcile", bare) == [None]
    assert candidate_targets("helm_reconcile", released) == [
        Target(kind="helmrelease", namespace="image-factory", name="image-factory")
    ]


def test_a_named_target_of_a_kind_the_action_does_not_accept_is_dropped() -> None:
    docs = incident(
        "registry_pull_failure",
        ResourceScope(kind="statefulset", namespace="docs", name="docs"),
        named("patch_pull_secret", "statefulset/docs/docs"),
        named("patch_pull_secret", "serviceaccount/docs/default", secret="regcred"),
    )

    assert candidate_targets("patch_pull_secret", docs) == [
        Target(kind="serviceaccount", namespace="docs", name="default")
    ]


@pytest.mark.parametrize("action", ["patch_image_ref", "patch_pull_secret"])
def test_image_and_pull_secret_patches_need_the_evidence_to_name_their_target(
    action: str,
) -> None:
    """The scope says which workload fails to pull, not why: without the
    pull error's verdict neither patch is offered."""
    assert candidate_targets(action, incident("registry_pull_failure", API)) == [None]


def test_a_missing_target_is_explained_by_the_scope_or_by_what_the_evidence_points_at() -> None:
    glauth = incident("identity_provider_unreachable", GLAUTH_SERVICE)
    limited = incident("registry_pull_failure", API)
    limited.signals.append(
        Signal(
            name="registry_rate_limited",
            strength="strong",
            source="kubernetes.image_pulls",
            detail="toomanyrequests: You have reached your pull rate limit.",
        )
    )

    assert missing_target_reason("rollout_restart", glauth) == (
        "the evidence names no deployment or statefulset or daemonset for rollout_restart; "
        "the incident's scope is a service (auth/glauth)"
    )
    assert missing_target_reason("patch_pull_secret", limited) == (
        "the evidence names no deployment or serviceaccount for patch_pull_secret: it points "
        "at the registry's pull rate limit (registry_rate_limited: toomanyrequests: You have "
        "reached your pull rate limit.)"
    )


def test_scale_to_zero_never_targets_what_the_never_auto_list_protects() -> None:
    pressure = make_incident(
        named_targets=[
            named("scale_to_zero", "deployment/ingress-nginx/ingress-nginx-controller"),
            named("scale_to_zero", "deployment/image-factory/builder"),
        ]
    )

    assert candidate_targets("scale_to_zero", pressure) == [
        Target(kind="deployment", namespace="image-factory", name="builder")
    ]
    assert candidate_targets("scale_to_zero", make_incident()) == [None]


@pytest.mark.parametrize("action", ["delete_completed_pods", "bulk_cleanup"])
def test_a_cleanup_acts_on_the_namespace_of_a_workload_scope_else_the_cluster(
    action: str,
) -> None:
    backlog = incident(
        "background_job_buildup",
        ResourceScope(kind="job", namespace="trivy-system", name="trivy-db-warmup-291103"),
    )

    assert candidate_targets(action, backlog) == [Target(kind="namespace", name="trivy-system")]
    assert candidate_targets(action, make_incident()) == [Target(kind="cluster", name="cluster")]


def test_two_collectors_naming_one_target_offer_it_once() -> None:
    drift = incident(
        "release_drift_or_partial_apply",
        API,
        named("helm_reconcile", "helmrelease/image-factory/image-factory", "helm"),
        named("helm_reconcile", "helmrelease/image-factory/image-factory", "scope"),
    )

    assert len(candidate_targets("helm_reconcile", drift)) == 1


def test_the_params_the_evidence_named_come_with_their_target() -> None:
    pulls = incident(
        "registry_pull_failure",
        API,
        named("patch_image_ref", "deployment/image-factory/api", container="main", image="a:1"),
        named("patch_image_ref", "deployment/image-factory/web", container="web"),
    )

    params = candidate_params("patch_image_ref", pulls, API_TARGET)
    assert params == {"container": "main", "image": "a:1"}
    params["image"] = "changed"  # a copy: the incident keeps what the evidence said
    assert candidate_params("patch_image_ref", pulls, API_TARGET)["image"] == "a:1"
    assert candidate_params("patch_pull_secret", pulls, API_TARGET) == {}
    assert candidate_params("patch_image_ref", pulls, None) == {}
    assert candidate_params("rollout_restart", pulls, API_TARGET) == {}


def test_named_params_survive_the_incident_stored_as_json() -> None:
    pulls = incident(
        "registry_pull_failure",
        API,
        named("patch_image_ref", "deployment/image-factory/api", container="main", image="a:1"),
    )

    stored = Incident.model_validate_json(pulls.model_dump_json())

    assert stored.named_targets == pulls.named_targets
    assert candidate_params("patch_image_ref", stored, API_TARGET) == {
        "container": "main",
        "image": "a:1",
    }


SCOPES = (
    ResourceScope(kind="node", name="worker-1"),
    ResourceScope(kind="cluster", name="cluster"),
    API,
    GLAUTH_SERVICE,
    ResourceScope(kind="statefulset", namespace="data", name="redis"),
    ResourceScope(kind="pod", namespace="data", name="redis-0"),
    ResourceScope(kind="cronjob", namespace="trivy-system", name="trivy-db-warmup"),
    ResourceScope(kind="ingress", namespace="web", name="shop"),
)


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.kind)
def test_no_action_of_any_type_is_offered_a_target_it_does_not_accept(
    scope: ResourceScope,
) -> None:
    catalogue = builtin_taxonomy()
    for incident_type in catalogue.incident_types.values():
        case = incident(incident_type.id, scope)
        for action in incident_type.candidate_actions:
            kinds = catalogue.action(action).target_kinds
            for target in candidate_targets(action, case):
                assert target is None or target.kind in kinds, (incident_type.id, action, target)
