"""The collectors name targets of the kinds the actions accept, found in the
cluster (kmock, over HTTP): the workload behind a Service or a pod, the Helm
release that manages it, the image and the pull secret the pull error
points at, the workloads that fill a node's disk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fixtures.incidents import make_incident
from fixtures.ingress import ingress
from fixtures.kube import (
    KubeCluster,
    deployment,
    event,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
    secret,
    seed_disk_pressure,
    service,
    statefulset,
)

from responder.evidence.collector import Collector, Evidence
from responder.evidence.hypothesis import hypothesis
from responder.evidence.node_collectors import DiskPressureCollector
from responder.evidence.observer import CollectorRegistry, Observer
from responder.evidence.scope_targets import ScopeTargetCollector
from responder.evidence.workload_collectors import ImagePullCollector
from responder.kube import Kube
from responder.policy.targets import candidate_params, candidate_targets
from responder.records.incident import Incident, ResourceScope
from responder.records.target import Target

HELM = {"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": "shop"}
GLAUTH = Target(kind="deployment", namespace="auth", name="glauth")
API = Target(kind="deployment", namespace="shop", name="api")
SHOP_RELEASE = Target(kind="helmrelease", namespace="shop", name="shop")


def incident(incident_type: str, kind: str, name: str, namespace: str | None = None) -> Incident:
    scope = ResourceScope(kind=kind, namespace=namespace, name=name)
    return make_incident(
        incident_type=incident_type, key=f"{incident_type}|{scope.key}", resource_scope=scope
    )


def observed(collector: Collector, case: Incident) -> Incident:
    """``case`` after the observer merged what ``collector`` found into it."""
    Observer(CollectorRegistry([collector])).observe(case, datetime.now(UTC))
    return case


# the workload behind a scope


def test_a_restart_asked_on_a_service_targets_the_deployment_its_selector_selects(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        service("glauth", "auth"),
        deployment("glauth", "auth"),
        deployment("glauth-exporter", "auth"),  # its pods are app=glauth-exporter
        deployment("glauth", "other"),  # another namespace's
    )
    case = incident("identity_provider_unreachable", "service", "glauth", "auth")

    evidence = ScopeTargetCollector(kube).collect(case)

    assert evidence.targets == {"rollout_restart": (GLAUTH,)}
    assert evidence.signals == ()
    assert "service auth/glauth selects deployment auth/glauth" in evidence.summary
    assert "k8s://services/auth/glauth" in evidence.refs
    assert candidate_targets("rollout_restart", observed(ScopeTargetCollector(kube), case)) == [
        GLAUTH
    ]


def test_a_service_in_front_of_a_statefulset_names_it_for_restart_and_scaling(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        service("redis", "data", {"app.kubernetes.io/name": "redis"}),
        statefulset("redis", "data", labels={"app.kubernetes.io/name": "redis"}),
    )

    evidence = ScopeTargetCollector(kube).collect(
        incident("runtime_dependency_outage", "service", "redis", "data")
    )

    redis = Target(kind="statefulset", namespace="data", name="redis")
    assert evidence.targets == {"rollout_restart": (redis,), "scale_dependency": (redis,)}


def test_a_missing_service_names_nothing(kube_cluster: KubeCluster, kube: Kube) -> None:
    case = incident("identity_provider_unreachable", "service", "glauth", "auth")

    evidence = ScopeTargetCollector(kube).collect(case)

    assert evidence.targets == {}
    assert evidence.summary == "service auth/glauth not found"
    assert candidate_targets("rollout_restart", observed(ScopeTargetCollector(kube), case)) == [
        None
    ]


def test_a_pod_scope_names_the_deployment_that_runs_the_pod(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        deployment("api", "shop"),
        pod("api-7d9f8b6c5-abcde", "shop", owner=("ReplicaSet", "api-7d9f8b6c5")),
    )

    evidence = ScopeTargetCollector(kube).collect(
        incident("http_error_rate_spike", "pod", "api-7d9f8b6c5-abcde", "shop")
    )

    assert evidence.targets == {"rollout_restart": (API,)}


def test_an_ingress_scope_names_the_workloads_behind_its_backend_services(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        ingress("checkout", "shop", service="api"),
        service("api", "shop"),
        deployment("api", "shop", annotations=HELM),
    )

    evidence = ScopeTargetCollector(kube).collect(
        incident("http_error_rate_spike", "ingress", "checkout", "shop")
    )

    assert evidence.targets == {"rollout_restart": (API,), "rollback_release": (SHOP_RELEASE,)}
    assert evidence.summary.startswith(
        "ingress shop/checkout routes to api; service shop/api selects deployment shop/api"
    )
    assert "k8s://ingresses/shop/checkout" in evidence.refs


def test_an_ingress_that_does_not_exist_names_nothing(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    evidence = ScopeTargetCollector(kube).collect(
        incident("http_error_rate_spike", "ingress", "checkout", "shop")
    )
    assert (evidence.targets, evidence.summary) == ({}, "ingress shop/checkout not found")


# the Helm release that manages a workload


def test_the_release_actions_target_the_helm_release_that_manages_the_workload(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(deployment("api", "shop", annotations=HELM))

    evidence = ScopeTargetCollector(kube).collect(
        incident("http_error_rate_spike", "deployment", "api", "shop")
    )

    assert evidence.targets == {"rollback_release": (SHOP_RELEASE,), "rollout_restart": (API,)}
    assert evidence.summary == "deployment shop/api; Helm release shop/shop manages it"


def test_which_release_a_drift_reconciles_is_left_to_the_drift_evidence(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    """The release collector names the releases that drifted; the one that
    merely manages the workload is no reason to reconcile."""
    kube_cluster.add(deployment("api", "shop", annotations=HELM))

    evidence = ScopeTargetCollector(kube).collect(
        incident("release_drift_or_partial_apply", "deployment", "api", "shop")
    )

    assert evidence.targets == {
        "force_field_ownership": (API,),
        "rollout_restart": (API,),
        "uninstall_release": (SHOP_RELEASE,),
    }


def test_a_chart_labelled_workload_names_its_release_by_the_instance_label(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    chart = {"app.kubernetes.io/instance": "cache", "helm.sh/chart": "redis-19.0.1"}
    kube_cluster.add(deployment("redis-cache", "platform", labels=chart))

    evidence = ScopeTargetCollector(kube).collect(
        incident("runtime_dependency_outage", "deployment", "redis-cache", "platform")
    )

    assert evidence.targets["helm_reconcile"] == (
        Target(kind="helmrelease", namespace="platform", name="cache"),
    )


def test_a_workload_no_release_manages_gets_no_release_target(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(deployment("redis-cache", "platform", labels={"app": "redis-cache"}))
    case = incident("runtime_dependency_outage", "deployment", "redis-cache", "platform")

    observed(ScopeTargetCollector(kube), case)

    assert candidate_targets("helm_reconcile", case) == [None]
    assert candidate_targets("patch_config", case) == [None]  # a ConfigMap action
    cache = Target(kind="deployment", namespace="platform", name="redis-cache")
    assert candidate_targets("scale_dependency", case) == [cache]


# the registry's pull error decides what is asked


def api_pod(name: str, image: str, waiting: tuple[str, str] | None, **options: Any) -> Any:
    return pod(
        name,
        "shop",
        owner=("ReplicaSet", name.rsplit("-", 1)[0]),
        labels={"app": "api"},
        image=image,
        waiting=waiting,
        phase="Pending" if waiting else "Running",
        **options,
    )


def stuck_rollout(kube_cluster: KubeCluster, message: str, **options: Any) -> None:
    """The api Deployment rolling from reg/a:1.4.1 (one old pod still Ready)
    to reg/a:1.4.2, whose pods wait on ``message``."""
    kube_cluster.add(
        deployment("api", "shop", image="reg/a:1.4.2", replicas=2, annotations=HELM),
        api_pod("api-5c6d7f8b9-old01", "reg/a:1.4.1", None, **options),
        api_pod("api-7d9f8b6c5-new01", "reg/a:1.4.2", ("ErrImagePull", message), **options),
        api_pod("api-7d9f8b6c5-new02", "reg/a:1.4.2", ("ImagePullBackOff", "Back-off"), **options),
        event(
            "shop",
            "Failed",
            f'Failed to pull image "reg/a:1.4.2": {message}',
            involved=("Pod", "api-7d9f8b6c5-new02"),
            involved_namespace="shop",
        ),
    )


def pulls(kube: Kube, mirror: str | None = None) -> tuple[Evidence, Incident]:
    case = incident("registry_pull_failure", "deployment", "api", "shop")
    evidence = ImagePullCollector(kube, registry_mirror=mirror).collect(case)
    return evidence, observed(ImagePullCollector(kube, registry_mirror=mirror), case)


def test_manifest_unknown_asks_for_the_image_that_still_runs_not_the_pull_secret(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    stuck_rollout(kube_cluster, 'manifest unknown: manifest tagged by "1.4.2" is not found')

    evidence, case = pulls(kube)

    assert evidence.targets == {
        "patch_image_ref": (API,),
        "helm_reconcile": (SHOP_RELEASE,),
        "rollback_release": (SHOP_RELEASE,),
    }
    assert candidate_targets("patch_image_ref", case) == [API]
    assert candidate_params("patch_image_ref", case, API) == {
        "container": "main",
        "image": "reg/a:1.4.1",
    }
    assert candidate_targets("patch_pull_secret", case) == [None]
    assert "reg/a:1.4.1 still runs Ready" in evidence.summary
    assert (hypothesis(case) or "").startswith(
        "the image reference is wrong (image_manifest_unknown: manifest unknown"
    )


def test_an_unknown_image_with_no_healthy_pod_left_names_the_container_only(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        deployment("api", "shop", image="reg/a:9.9"),
        api_pod("api-7d9f8b6c5-new01", "reg/a:9.9", ("ErrImagePull", "reg/a:9.9: not found")),
    )

    _, case = pulls(kube)

    assert candidate_params("patch_image_ref", case, API) == {"container": "main"}


def test_an_unauthorized_pull_asks_to_attach_the_existing_credentials_not_for_an_image(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    stuck_rollout(kube_cluster, "failed to authorize: 401 Unauthorized")
    kube_cluster.add(
        secret(
            "regcred", "shop", {".dockerconfigjson": b"{}"}, type_="kubernetes.io/dockerconfigjson"
        ),
        secret("api-token", "shop", {"token": b"t"}),
    )

    evidence, case = pulls(kube)

    assert evidence.targets == {"patch_pull_secret": (API,), "helm_reconcile": (SHOP_RELEASE,)}
    assert candidate_params("patch_pull_secret", case, API) == {"secret": "regcred"}
    assert candidate_targets("patch_image_ref", case) == [None]
    assert "registry credential Secret regcred exists and is not attached" in evidence.summary
    assert (hypothesis(case) or "").startswith("the pull credentials are missing or refused")
    # the Secrets were listed by type, their metadata only: no value left the API
    [listing, *_] = [
        r for r in kube_cluster.requests() if r.path == "/api/v1/namespaces/shop/secrets"
    ]
    assert listing.params["fieldSelector"] == "type=kubernetes.io/dockerconfigjson"
    assert "as=PartialObjectMetadataList" in listing.accept


def test_a_refused_statefulset_pull_patches_its_service_account(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        statefulset("docs", "docs"),
        pod(
            "docs-0",
            "docs",
            phase="Pending",
            owner=("StatefulSet", "docs"),
            waiting=("ErrImagePull", "unexpected status from HEAD request: 403 Forbidden"),
            pull_secrets=["old-cred"],
        ),
    )
    kube_cluster.fail("secrets", 403)  # no Role in that namespace: cannot tell which to attach

    evidence, case = pulls_of(kube, "statefulset", "docs", "docs")

    account = Target(kind="serviceaccount", namespace="docs", name="default")
    assert evidence.targets == {"patch_pull_secret": (account,)}
    assert candidate_params("patch_pull_secret", case, account) == {}
    assert "cannot list the namespace's registry credential Secrets" in evidence.summary


def pulls_of(kube: Kube, kind: str, name: str, namespace: str) -> tuple[Evidence, Incident]:
    case = incident("registry_pull_failure", kind, name, namespace)
    return ImagePullCollector(kube).collect(case), observed(ImagePullCollector(kube), case)


def test_a_rate_limited_pull_asks_for_nothing_and_names_the_mirror(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    stuck_rollout(kube_cluster, "toomanyrequests: You have reached your pull rate limit.")

    evidence, case = pulls(kube, mirror="mirror.gcr.io")

    assert evidence.targets == {}
    for action in ("patch_image_ref", "patch_pull_secret", "helm_reconcile", "rollback_release"):
        assert candidate_targets(action, case) == [None], action
    assert (
        "deployment shop/api: the registry's pull rate limit: wait for the limit to reset, "
        "or pull through the mirror mirror.gcr.io" in evidence.summary
    )
    assert (hypothesis(case) or "").startswith("the registry's pull rate limit")


# the workloads that fill a node's disk


def evicted(name: str, namespace: str, owner: str, used: str, **options: Any) -> Any:
    return pod(
        name,
        namespace,
        phase="Failed",
        owner=("ReplicaSet", owner),
        node_name="worker-1",
        reason="Evicted",
        message="The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, "
        f"available: 512Mi. Container main was using {used}, request is 0, has larger "
        "consumption of ephemeral-storage. ",
        **options,
    )


def test_disk_pressure_names_the_workloads_evicted_most_for_scale_to_zero(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_disk_pressure(kube_cluster)
    kube_cluster.add(
        evicted("builder-6f7-aaaaa", "image-factory", "builder-6f7", "6Gi"),
        evicted("builder-6f7-bbbbb", "image-factory", "builder-6f7", "5Gi"),
        evicted("headlamp-5c6d7f8b9-ccccc", "headlamp", "headlamp-5c6d7f8b9", "800Mi"),
        evicted(
            "ingress-nginx-controller-7d9f8b6c5-ddddd",
            "ingress-nginx",
            "ingress-nginx-controller-7d9f8b6c5",
            "9Gi",
        ),
        evicted("portal-4b5-eeeee", "shop", "portal-4b5", "9Gi", labels={"tier": "core"}),
    )
    case = incident("node_disk_pressure", "node", "worker-1")

    evidence = DiskPressureCollector(kube).collect(case)

    builder = Target(kind="deployment", namespace="image-factory", name="builder")
    headlamp = Target(kind="deployment", namespace="headlamp", name="headlamp")
    ingress = Target(kind="deployment", namespace="ingress-nginx", name="ingress-nginx-controller")
    # the core portal is never named; the most evicted first, then the most used
    assert evidence.targets["scale_to_zero"] == (builder, ingress, headlamp)
    assert (
        "evicted most: deployment image-factory/builder (2 evicted, one using 6.0Gi)"
        in evidence.summary
    )
    # the ingress controller is named as evidence, never offered to scale to zero
    observed(DiskPressureCollector(kube), case)
    assert candidate_targets("scale_to_zero", case) == [builder, headlamp]
