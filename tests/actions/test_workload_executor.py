"""The workload executor against kmock: the image a workload last ran healthy,
pull secrets, server-side apply with force; each plan shows its diff, each
apply makes one write, each inverse restores."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    configmap,
    controller_revision,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
    replica_set,
    secret,
    service_account,
    statefulset,
    workload,
)
from fixtures.kube_apply import managed

from responder.actions.kube_calls import APPLY_PATCH, JSON_PATCH
from responder.actions.workloads import WorkloadExecutor
from responder.kube import MERGE_PATCH, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

REGISTRY = "registry.example/api"


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(
        action=action, target=Target.parse(target), incident_id="inc-1", params=params
    )


@pytest.fixture
def executor(kube: Kube) -> WorkloadExecutor:
    return WorkloadExecutor(kube)


def run(executor: WorkloadExecutor, wanted: ActionRequest) -> tuple[Plan, ActionOutcome]:
    plan = executor.plan(wanted)
    return plan, executor.apply(plan)


def undo(executor: WorkloadExecutor, plan: Plan) -> ActionOutcome:
    inverse = executor.inverse(plan)
    assert inverse is not None
    return executor.apply(executor.plan(inverse))


def one_write(kube_cluster: KubeCluster) -> Any:
    """The only write the emulator answered, as it saw it."""
    [applied] = kube_cluster.applied()
    [write] = kube_cluster.writes()
    assert (applied.verb, applied.path) == (write.method.lower(), write.path)
    return write


def container(kube_cluster: KubeCluster, kind: str, name: str, namespace: str) -> Any:
    return kube_cluster.live(kind, name, namespace)["spec"]["template"]["spec"]["containers"][0]


def rollout_stuck_on_a_bad_image(kube_cluster: KubeCluster) -> dict[str, Any]:
    """Deployment app/api at revision 3 (1.4.2, which cannot be pulled);
    revision 2 (1.4.1) still serves; revision 1 (1.4.0) is scaled to 0.
    ReplicaSets of another Deployment with the same labels are not its own."""
    api = deployment("api", "app", replicas=2, image=f"{REGISTRY}:1.4.2", available=1)
    api["metadata"]["uid"] = "uid-api"
    api["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    stranger = deployment("api-canary", "app", image=f"{REGISTRY}:0.9")
    stranger["metadata"]["uid"] = "uid-canary"
    stranger["spec"]["selector"]["matchLabels"] = {"app": "api"}
    kube_cluster.add(
        api,
        replica_set(api, "api-7d9f8b6c5", revision=3, image=f"{REGISTRY}:1.4.2", ready=0),
        replica_set(api, "api-6c5d4b3a2", revision=2, image=f"{REGISTRY}:1.4.1", ready=1),
        replica_set(api, "api-5b4c3d2e1", revision=1, image=f"{REGISTRY}:1.4.0", ready=0),
        replica_set(stranger, "api-canary-1", revision=4, image=f"{REGISTRY}:0.9", ready=1),
    )
    return api


# patch_image_ref


def test_patch_image_ref_points_back_to_the_replicaset_that_last_ran_healthy(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    rollout_stuck_on_a_bad_image(kube_cluster)

    plan = executor.plan(request("patch_image_ref", "deployment/app/api"))

    assert kube_cluster.writes() == []
    assert plan.previous == {"container": "main", "image": f"{REGISTRY}:1.4.2"}
    assert plan.diff == (
        Change("image of container main", f"{REGISTRY}:1.4.2", f"{REGISTRY}:1.4.1"),
    )
    assert "ReplicaSet api-6c5d4b3a2 (revision 2)" in plan.summary

    outcome = executor.apply(plan)

    assert outcome.result == "succeeded", outcome.detail
    write = one_write(kube_cluster)
    assert (write.method, write.path, write.content_type) == (
        "PATCH",
        "/apis/apps/v1/namespaces/app/deployments/api",
        JSON_PATCH,
    )
    assert container(kube_cluster, "Deployment", "api", "app") == {
        "name": "main",
        "image": f"{REGISTRY}:1.4.1",
        "ports": [{"containerPort": 8080}],
    }
    inverse = executor.inverse(plan)
    assert inverse == request(
        "patch_image_ref", "deployment/app/api", container="main", image=f"{REGISTRY}:1.4.2"
    )
    assert undo(executor, plan).result == "succeeded"
    assert container(kube_cluster, "Deployment", "api", "app")["image"] == f"{REGISTRY}:1.4.2"


def test_patch_image_ref_refuses_without_an_earlier_replicaset_that_ran_healthy(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", image=f"{REGISTRY}:1.4.2", available=0)
    kube_cluster.add(
        api,
        replica_set(api, "api-7d9f8b6c5", revision=2, image=f"{REGISTRY}:1.4.2", ready=0),
        replica_set(api, "api-5b4c3d2e1", revision=1, image=f"{REGISTRY}:1.4.1", ready=0),
    )

    with pytest.raises(ValueError, match="deployment app/api has no earlier ReplicaSet that ran"):
        executor.plan(request("patch_image_ref", "deployment/app/api"))
    assert kube_cluster.writes() == []


def test_a_replicaset_that_runs_the_current_image_is_not_a_way_back(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", image=f"{REGISTRY}:1.4.2")
    kube_cluster.add(
        api, replica_set(api, "api-7d9f8b6c5", revision=1, image=f"{REGISTRY}:1.4.2", ready=1)
    )

    with pytest.raises(ValueError, match="no earlier ReplicaSet"):
        executor.plan(request("patch_image_ref", "deployment/app/api"))


def test_patch_image_ref_of_a_statefulset_reads_its_controller_revisions(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    redis = statefulset("redis", "runtime", replicas=2, image="redis:7.4")
    kube_cluster.add(
        redis,
        controller_revision(redis, "redis-5f6d7c8b9", revision=2, image="redis:7.4"),
        controller_revision(redis, "redis-4e5c6b7a8", revision=1, image="redis:7.2"),
        pod(
            "redis-0",
            "runtime",
            labels={"app": "redis", "controller-revision-hash": "redis-4e5c6b7a8"},
            owner=("StatefulSet", "redis"),
            image="redis:7.2",
        ),
        pod(
            "redis-1",
            "runtime",
            labels={"app": "redis", "controller-revision-hash": "redis-5f6d7c8b9"},
            owner=("StatefulSet", "redis"),
            waiting=("ErrImagePull", "manifest unknown"),
            image="redis:7.4",
        ),
    )

    plan, outcome = run(executor, request("patch_image_ref", "statefulset/runtime/redis"))

    assert plan.diff == (Change("image of container main", "redis:7.4", "redis:7.2"),)
    assert "ControllerRevision redis-4e5c6b7a8 (revision 1)" in plan.summary
    assert outcome.result == "succeeded", outcome.detail
    assert one_write(kube_cluster).path.endswith("/statefulsets/redis")
    assert container(kube_cluster, "StatefulSet", "redis", "runtime")["image"] == "redis:7.2"


def test_a_revision_without_a_ready_pod_did_not_run_healthy(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    agent = workload("DaemonSet", "agent", "logging", image="agent:2")
    kube_cluster.add(
        agent,
        controller_revision(agent, "agent-7c8d9e", revision=2, image="agent:2"),
        controller_revision(agent, "agent-6b7c8d", revision=1, image="agent:1"),
    )

    with pytest.raises(ValueError, match="daemonset logging/agent has no earlier revision"):
        executor.plan(request("patch_image_ref", "daemonset/logging/agent"))


def test_patch_image_ref_to_a_named_image(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(workload("DaemonSet", "agent", "logging", image="agent:2"))

    plan, outcome = run(
        executor, request("patch_image_ref", "daemonset/logging/agent", image="agent:1")
    )

    assert plan.diff == (Change("image of container main", "agent:2", "agent:1"),)
    assert outcome.result == "succeeded"
    assert container(kube_cluster, "DaemonSet", "agent", "logging")["image"] == "agent:1"


def test_with_several_changed_containers_the_container_must_be_named(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", image=f"{REGISTRY}:2")
    api["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "proxy:2"})
    old = replica_set(api, "api-1", revision=1, image=f"{REGISTRY}:1", ready=1)
    old["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "proxy:1"})
    kube_cluster.add(api, old)

    with pytest.raises(ValueError, match=r"containers main, proxy; give params\.container"):
        executor.plan(request("patch_image_ref", "deployment/app/api"))

    plan, outcome = run(
        executor, request("patch_image_ref", "deployment/app/api", container="proxy")
    )

    assert plan.diff == (Change("image of container proxy", "proxy:2", "proxy:1"),)
    assert outcome.result == "succeeded"
    containers = kube_cluster.live("Deployment", "api", "app")["spec"]["template"]["spec"]
    assert [c["image"] for c in containers["containers"]] == [f"{REGISTRY}:2", "proxy:1"]


def test_patch_image_ref_refuses_a_container_the_workload_does_not_run(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(deployment("api", "app"))

    with pytest.raises(ValueError, match="has no container proxy"):
        executor.plan(
            request("patch_image_ref", "deployment/app/api", container="proxy", image="x")
        )


def test_an_image_changed_since_the_plan_is_not_overwritten(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    rollout_stuck_on_a_bad_image(kube_cluster)
    plan = executor.plan(request("patch_image_ref", "deployment/app/api"))
    kube_cluster.add(deployment("api", "app", image=f"{REGISTRY}:1.4.3"))

    outcome = executor.apply(plan)

    assert outcome.result == "failed"
    assert outcome.detail.startswith(
        f"container main of deployment app/api no longer runs {REGISTRY}:1.4.2 "
        "(changed since the plan); nothing written: 422"
    )
    assert kube_cluster.applied() == []
    assert container(kube_cluster, "Deployment", "api", "app")["image"] == f"{REGISTRY}:1.4.3"


# patch_pull_secret


def registry_secret(name: str, namespace: str) -> dict[str, Any]:
    return secret(
        name, namespace, {".dockerconfigjson": b"{}"}, type_="kubernetes.io/dockerconfigjson"
    )


def pull_secrets(obj: dict[str, Any]) -> list[str]:
    holder = obj if obj["kind"] == "ServiceAccount" else obj["spec"]["template"]["spec"]
    return [s["name"] for s in holder.get("imagePullSecrets") or []]


def test_patch_pull_secret_adds_the_secret_to_the_pod_template(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(
        deployment("api", "app", pull_secrets=["old"]), registry_secret("regcred", "app")
    )

    plan = executor.plan(request("patch_pull_secret", "deployment/app/api", secret="regcred"))

    assert plan.previous == {"imagePullSecrets": ["old"]}
    assert plan.diff == (Change("imagePullSecrets", "old", "old, regcred"),)
    [check] = [r for r in kube_cluster.requests() if r.path.endswith("/secrets")]
    assert "PartialObjectMetadataList" in check.accept  # no credential is read
    assert (
        check.params["fieldSelector"] == "metadata.name=regcred,type=kubernetes.io/dockerconfigjson"
    )

    outcome = executor.apply(plan)

    assert outcome.result == "succeeded", outcome.detail
    write = one_write(kube_cluster)
    assert (write.content_type, write.body) == (
        MERGE_PATCH,
        {
            "spec": {
                "template": {"spec": {"imagePullSecrets": [{"name": "old"}, {"name": "regcred"}]}}
            }
        },
    )
    assert pull_secrets(kube_cluster.live("Deployment", "api", "app")) == ["old", "regcred"]
    assert executor.inverse(plan) == request(
        "patch_pull_secret", "deployment/app/api", secret="regcred", remove=True
    )
    assert undo(executor, plan).result == "succeeded"
    assert pull_secrets(kube_cluster.live("Deployment", "api", "app")) == ["old"]


def test_patch_pull_secret_of_a_service_account(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(service_account("builder", "ci"), registry_secret("regcred", "ci"))

    plan, outcome = run(
        executor, request("patch_pull_secret", "serviceaccount/ci/builder", secret="regcred")
    )

    assert plan.diff == (Change("imagePullSecrets", "(none)", "regcred"),)
    assert outcome.result == "succeeded", outcome.detail
    assert one_write(kube_cluster).path == "/api/v1/namespaces/ci/serviceaccounts/builder"
    assert pull_secrets(kube_cluster.live("ServiceAccount", "builder", "ci")) == ["regcred"]
    assert undo(executor, plan).result == "succeeded"
    assert pull_secrets(kube_cluster.live("ServiceAccount", "builder", "ci")) == []


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (None, "secret app/regcred does not exist"),
        (
            secret("regcred", "app", {"token": b"x"}),
            "is not of type kubernetes.io/dockerconfigjson",
        ),
    ],
)
def test_patch_pull_secret_refuses_a_secret_that_is_no_registry_credential(
    kube_cluster: KubeCluster,
    executor: WorkloadExecutor,
    stored: dict[str, Any] | None,
    reason: str,
) -> None:
    kube_cluster.add(deployment("api", "app"), *([stored] if stored else []))

    with pytest.raises(ValueError, match=reason):
        executor.plan(request("patch_pull_secret", "deployment/app/api", secret="regcred"))
    assert kube_cluster.writes() == []


def test_a_pull_secret_already_named_is_skipped(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(
        deployment("api", "app", pull_secrets=["regcred"]), registry_secret("regcred", "app")
    )

    plan, outcome = run(
        executor, request("patch_pull_secret", "deployment/app/api", secret="regcred")
    )

    assert outcome.result == "skipped"
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


def test_patch_pull_secret_needs_the_secret_name(executor: WorkloadExecutor) -> None:
    with pytest.raises(ValueError, match=r"needs params\.secret"):
        executor.plan(request("patch_pull_secret", "deployment/app/api"))


# force_field_ownership


def test_force_field_ownership_takes_a_drifted_field_from_its_manager(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", replicas=2)
    api["metadata"]["managedFields"] = [managed("helm", "spec.replicas", "spec.selector")]
    kube_cluster.add(api)

    plan = executor.plan(
        request("force_field_ownership", "deployment/app/api", fields={"spec": {"replicas": 3}})
    )

    assert plan.diff == (
        Change("spec.replicas", "2", "3"),
        Change("managers of spec.replicas", "helm", "robot-sre"),
    )
    assert plan.previous == {"fields": {"spec": {"replicas": 2}}, "field_manager": "robot-sre"}
    outcome = executor.apply(plan)

    assert outcome.result == "succeeded", outcome.detail
    write = one_write(kube_cluster)
    assert (write.content_type, write.params) == (
        APPLY_PATCH,
        {"fieldManager": "robot-sre", "force": "true"},
    )
    assert write.body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "app"},
        "spec": {"replicas": 3},
    }
    live = kube_cluster.live("Deployment", "api", "app")
    assert live["spec"]["replicas"] == 3
    assert {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]} == {
        "helm": {"f:spec": {"f:selector": {}}},
        "robot-sre": {"f:spec": {"f:replicas": {}}},
    }
    assert executor.inverse(plan) == request(
        "force_field_ownership",
        "deployment/app/api",
        fields={"spec": {"replicas": 2}},
        field_manager="robot-sre",
    )
    assert undo(executor, plan).result == "succeeded"
    assert kube_cluster.live("Deployment", "api", "app")["spec"]["replicas"] == 2


def test_undoing_a_field_that_was_absent_removes_it(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(configmap("backend", "app", {"A": "1"}))

    plan, outcome = run(
        executor,
        request("force_field_ownership", "configmap/app/backend", fields={"data": {"B": "2"}}),
    )

    assert plan.diff == (
        Change("data.B", "(none)", "2"),
        Change("managers of data.B", "(none)", "robot-sre"),
    )
    assert outcome.result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "app")["data"] == {"A": "1", "B": "2"}

    inverse = executor.inverse(plan)
    assert inverse is not None and inverse.params["fields"] == {"data": {"B": None}}
    undo_plan = executor.plan(inverse)
    assert undo_plan.diff == (
        Change("data.B", "2", "(none)"),
        Change("managers of data.B", "robot-sre", "(none)"),
    )
    assert executor.apply(undo_plan).result == "succeeded"
    assert kube_cluster.live("ConfigMap", "backend", "app")["data"] == {"A": "1"}


def test_a_second_apply_keeps_the_fields_the_manager_applied_before(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    kube_cluster.add(configmap("backend", "app", {}))
    run(
        executor,
        request("force_field_ownership", "configmap/app/backend", fields={"data": {"A": "1"}}),
    )

    plan, outcome = run(
        executor,
        request("force_field_ownership", "configmap/app/backend", fields={"data": {"B": "2"}}),
    )

    assert outcome.result == "succeeded"
    assert plan.changes["body"]["data"] == {"A": "1", "B": "2"}
    assert kube_cluster.live("ConfigMap", "backend", "app")["data"] == {"A": "1", "B": "2"}


def test_fields_the_manager_already_holds_are_skipped(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", replicas=3)
    api["metadata"]["managedFields"] = [managed("robot-sre", "spec.replicas", operation="Apply")]
    kube_cluster.add(api)

    plan, outcome = run(
        executor,
        request("force_field_ownership", "deployment/app/api", fields={"spec": {"replicas": 3}}),
    )

    assert outcome.result == "skipped"
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


def test_an_equal_value_is_shared_with_its_manager(
    kube_cluster: KubeCluster, executor: WorkloadExecutor
) -> None:
    api = deployment("api", "app", replicas=3)
    api["metadata"]["managedFields"] = [managed("helm", "spec.replicas")]
    kube_cluster.add(api)

    plan, outcome = run(
        executor,
        request("force_field_ownership", "deployment/app/api", fields={"spec": {"replicas": 3}}),
    )

    assert plan.diff == (Change("managers of spec.replicas", "helm", "helm, robot-sre"),)
    assert outcome.result == "succeeded"
    managers = kube_cluster.live("Deployment", "api", "app")["metadata"]["managedFields"]
    assert sorted(e["manager"] for e in managers) == ["helm", "robot-sre"]


def test_without_force_an_apply_over_another_manager_conflicts(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    api = deployment("api", "app", replicas=2)
    api["metadata"]["managedFields"] = [managed("helm", "spec.replicas")]
    kube_cluster.add(api)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}}
    body["spec"] = {"replicas": 3}

    def apply(**options: Any) -> Any:
        return kube.call(
            "apply", kube.apps.patch_namespaced_deployment, "api", "app", body, **options
        )

    with pytest.raises(KubeError, match=r'409 Conflict: Apply failed .* "helm": \.spec\.replicas'):
        apply(field_manager="robot-sre", _content_type=APPLY_PATCH)
    with pytest.raises(KubeError, match=r"422.*fieldManager: Required value"):
        apply(force=True, _content_type=APPLY_PATCH)
    assert kube_cluster.applied() == []
    assert (
        apply(field_manager="robot-sre", force=True, _content_type=APPLY_PATCH)["spec"]["replicas"]
        == 3
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (None, r"needs params\.fields"),
        ({"status": {"replicas": 1}}, "does not apply status.replicas"),
        ({"metadata": {"name": "other"}}, "does not apply metadata.name"),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}},
            "is a list of objects",
        ),
    ],
)
def test_force_field_ownership_refuses_what_it_cannot_apply(
    kube_cluster: KubeCluster, executor: WorkloadExecutor, fields: Any, reason: str
) -> None:
    kube_cluster.add(deployment("api", "app"))

    with pytest.raises(ValueError, match=reason):
        executor.plan(request("force_field_ownership", "deployment/app/api", fields=fields))


# plans only read; the wrong kind; no cluster


def test_plans_never_write(kube_cluster: KubeCluster, executor: WorkloadExecutor) -> None:
    rollout_stuck_on_a_bad_image(kube_cluster)
    kube_cluster.add(registry_secret("regcred", "app"))
    for wanted in (
        request("patch_image_ref", "deployment/app/api"),
        request("patch_pull_secret", "deployment/app/api", secret="regcred"),
        request("force_field_ownership", "deployment/app/api", fields={"spec": {"paused": True}}),
    ):
        assert executor.plan(wanted).diff
    assert kube_cluster.writes() == []


def test_a_request_for_the_wrong_kind_is_refused(executor: WorkloadExecutor) -> None:
    with pytest.raises(ValueError, match="acts on a deployment or serviceaccount"):
        executor.plan(request("patch_pull_secret", "statefulset/app/db", secret="regcred"))


def test_without_a_cluster_plans_raise_and_applies_are_not_available() -> None:
    executor = WorkloadExecutor(None)
    wanted = request("patch_image_ref", "deployment/app/api", image="x")

    with pytest.raises(KubeError, match="no Kubernetes cluster"):
        executor.plan(wanted)
    outcome = executor.apply(Plan(wanted, {"image": "y"}, {"image": "x"}, ""))
    assert outcome.result == "not_available"
