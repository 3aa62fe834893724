"""run_recovery_job and bulk_cleanup against kmock: a recovery Job made as
``kubectl create job --from=cronjob/...`` makes it, never beside a running
one; a bulk cleanup of finished Jobs and pods within its cap, never running
or protected objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    ago,
    cronjob,
    job_pod,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    pod,
)
from fixtures.manifests import job

from responder.actions.jobs import BulkCleanupExecutor, RecoveryJobExecutor
from responder.kube import Kube
from responder.records.action import ActionRequest, Change
from responder.records.target import Target
from responder.remedies import BulkCleanup, RecoveryJob

FIXED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
MIGRATE = RecoveryJob(namespace="image-factory", cronjob="db-migrate")
TEMPLATE = {
    "metadata": {"labels": {"app": "reconcile"}},
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "registry.example/reconcile:2"}],
            }
        },
    },
}
RECONCILE = RecoveryJob(name="reconcile", namespace="image-factory", template=TEMPLATE)


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(action, Target.parse(target), "inc-7", params)


@pytest.fixture
def recovery(kube: Kube) -> RecoveryJobExecutor:
    return RecoveryJobExecutor(kube, [MIGRATE, RECONCILE], clock=lambda: FIXED)


# run_recovery_job


def test_a_recovery_job_from_a_cronjob_is_made_as_kubectl_create_job_from_makes_it(
    kube_cluster: KubeCluster, recovery: RecoveryJobExecutor
) -> None:
    kube_cluster.add(cronjob("db-migrate", "image-factory"))
    source = kube_cluster.live("CronJob", "db-migrate", "image-factory")

    plan = recovery.plan(request("run_recovery_job", "job/image-factory/db-migrate"))

    assert plan.changes["job"] == "db-migrate-manual-2611260930"
    assert plan.diff == (
        Change("job db-migrate-manual-2611260930", "absent", "created from cronjob/db-migrate"),
    )
    assert kube_cluster.writes() == []
    outcome = recovery.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    assert [(a.verb, a.path) for a in kube_cluster.applied()] == [
        ("post", "/apis/batch/v1/namespaces/image-factory/jobs")
    ]
    made = kube_cluster.live("Job", "db-migrate-manual-2611260930", "image-factory")
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "db-migrate",
            "uid": source["metadata"]["uid"],
            "controller": True,
        }
    ]
    assert made["metadata"]["annotations"] == {
        "cronjob.kubernetes.io/instantiate": "manual",
        "robot-sre.io/incident": "inc-7",
    }
    assert made["metadata"]["labels"] == {"robot-sre.io/recovery-job": "db-migrate"}
    assert made["spec"] == source["spec"]["jobTemplate"]["spec"]
    assert recovery.inverse(plan) is None


def test_a_recovery_job_from_a_configured_template(
    kube_cluster: KubeCluster, recovery: RecoveryJobExecutor
) -> None:
    plan = recovery.plan(request("run_recovery_job", "job/image-factory/reconcile"))

    assert plan.diff == (
        Change("job reconcile-manual-2611260930", "absent", "created from template reconcile"),
    )
    assert recovery.apply(plan).result == "succeeded"
    made = kube_cluster.live("Job", "reconcile-manual-2611260930", "image-factory")
    assert made["spec"] == TEMPLATE["spec"]
    assert made["metadata"]["labels"] == {
        "app": "reconcile",
        "robot-sre.io/recovery-job": "reconcile",
    }
    assert "ownerReferences" not in made["metadata"]


def test_no_second_recovery_job_while_one_from_the_same_source_runs(
    kube_cluster: KubeCluster, recovery: RecoveryJobExecutor
) -> None:
    kube_cluster.add(
        cronjob("db-migrate", "image-factory"),
        job("db-migrate-29111", "image-factory", finished=None, owner=("CronJob", "db-migrate")),
        job("db-migrate-29110", "image-factory", owner=("CronJob", "db-migrate")),
    )

    with pytest.raises(
        ValueError, match="db-migrate-29111 from cronjob/db-migrate is still running"
    ):
        recovery.plan(request("run_recovery_job", "job/image-factory/db-migrate"))


def test_a_job_started_between_plan_and_apply_stops_the_apply(
    kube_cluster: KubeCluster, recovery: RecoveryJobExecutor
) -> None:
    plan = recovery.plan(request("run_recovery_job", "job/image-factory/reconcile"))
    kube_cluster.add(
        job(
            "reconcile-by-hand",
            "image-factory",
            finished=None,
            labels={"robot-sre.io/recovery-job": "reconcile"},
        )
    )

    outcome = recovery.apply(plan)

    assert outcome.result == "failed"
    assert (
        "reconcile-by-hand from template reconcile is still running; not started" in outcome.detail
    )
    assert kube_cluster.writes() == []


def test_without_a_configured_recovery_job_the_plan_refuses(kube: Kube) -> None:
    with pytest.raises(ValueError, match=r"^no recovery job configured for run_recovery_job"):
        RecoveryJobExecutor(kube).plan(request("run_recovery_job", "job/image-factory/db-migrate"))
    with pytest.raises(ValueError, match="no recovery job image-factory/other is configured"):
        RecoveryJobExecutor(kube, [MIGRATE]).plan(
            request("run_recovery_job", "job/image-factory/other")
        )


def test_recovery_jobs_name_one_source() -> None:
    with pytest.raises(ValueError, match="either cronjob or template"):
        RecoveryJob(namespace="x", cronjob="a", template=TEMPLATE, name="b")
    with pytest.raises(ValueError, match="needs a name"):
        RecoveryJob(namespace="x", template=TEMPLATE)
    assert MIGRATE.name == "db-migrate"


def test_a_long_name_is_cut_to_a_valid_job_name(kube: Kube) -> None:
    long = RecoveryJob(name="x" * 70, namespace="image-factory", template=TEMPLATE)
    executor = RecoveryJobExecutor(kube, [long], clock=lambda: FIXED)

    plan = executor.plan(request("run_recovery_job", f"job/image-factory/{'x' * 70}"))

    assert len(plan.changes["job"]) == 63
    assert plan.changes["job"].endswith("-manual-2611260930")


# bulk_cleanup


def seed_backlog(kube_cluster: KubeCluster) -> None:
    """In image-factory: 3 finished scan Jobs an hour and more ago with their
    pods, one finished 10 minutes ago, one running with a failed pod; a failed
    pod whose Job is gone, a running pod; in ingress-nginx a finished Job."""
    kube_cluster.add(
        *(job(f"scan-{i}", "image-factory", at=ago(hours=2 + i)) for i in range(3)),
        *(
            job_pod(f"scan-{i}", f"scan-{i}-pod", "image-factory", "Succeeded", "w1")
            for i in range(3)
        ),
        job("scan-recent", "image-factory", at=ago(minutes=10)),
        job("scan-running", "image-factory", finished=None),
        job_pod("scan-running", "scan-running-try1", "image-factory", "Failed", "w1"),
        job_pod("scan-deleted", "scan-orphan", "image-factory", "Failed", "w1"),
        pod("api-1", "image-factory"),
        job("ingress-nginx-admission-create", "ingress-nginx", at=ago(days=3)),
    )


def test_bulk_cleanup_deletes_old_finished_jobs_and_orphan_pods_only(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_backlog(kube_cluster)
    executor = BulkCleanupExecutor(kube, BulkCleanup(cap=10, older_than_minutes=30))

    plan = executor.plan(request("bulk_cleanup", "cluster/cluster"))

    assert [j["name"] for j in plan.changes["delete_jobs"]] == ["scan-0", "scan-1", "scan-2"]
    assert [p["name"] for p in plan.changes["delete_pods"]] == ["scan-orphan"]
    assert plan.diff == (
        Change("finished jobs cluster-wide (finished over 30 min ago)", "3", "0"),
        Change("finished pods cluster-wide (finished over 30 min ago)", "1", "0"),
    )
    assert kube_cluster.writes() == []
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    assert outcome.detail == "deleted 4 of 4 finished jobs and pods"
    writes = kube_cluster.writes()
    assert [(w.method, w.path.rsplit("/", 2)[-2:]) for w in writes] == [
        ("DELETE", ["jobs", "scan-0"]),
        ("DELETE", ["jobs", "scan-1"]),
        ("DELETE", ["jobs", "scan-2"]),
        ("DELETE", ["pods", "scan-orphan"]),
    ]
    assert all(w.body["preconditions"]["uid"] for w in writes)
    # the API server's garbage collector deletes the Jobs' pods (the emulator has none)
    assert [w.body.get("propagationPolicy") for w in writes] == [
        "Background",
        "Background",
        "Background",
        None,
    ]
    assert kube_cluster.names("Job") == [
        "ingress-nginx-admission-create",
        "scan-recent",
        "scan-running",
    ]
    assert "scan-running-try1" in kube_cluster.names("Pod") and "api-1" in kube_cluster.names("Pod")
    assert executor.inverse(plan) is None


def test_bulk_cleanup_refuses_more_than_its_cap_with_the_count(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed_backlog(kube_cluster)
    executor = BulkCleanupExecutor(kube, BulkCleanup(cap=3, older_than_minutes=30))

    too_many = (
        r"would delete 4 objects \(3 finished jobs, 1 finished pods\), more than the cap of 3 "
    )
    with pytest.raises(ValueError, match=too_many):
        executor.plan(request("bulk_cleanup", "cluster/cluster"))
    plan = executor.plan(request("bulk_cleanup", "cluster/cluster", older_than_minutes=180))
    assert [j["name"] for j in plan.changes["delete_jobs"]] == ["scan-1", "scan-2"]
    assert kube_cluster.writes() == []


def test_bulk_cleanup_of_one_namespace(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed_backlog(kube_cluster)
    kube_cluster.add(job("report", "batch", at=ago(days=1)))
    executor = BulkCleanupExecutor(kube, BulkCleanup(older_than_minutes=5))

    plan = executor.plan(request("bulk_cleanup", "namespace/batch"))

    assert plan.changes == {
        "delete_jobs": [
            {
                "namespace": "batch",
                "name": "report",
                "uid": kube_cluster.live("Job", "report", "batch")["metadata"]["uid"],
            }
        ],
        "delete_pods": [],
    }
    assert plan.diff == (Change("finished jobs in batch (finished over 5 min ago)", "1", "0"),)


def test_bulk_cleanup_with_nothing_old_enough_writes_nothing(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(job("scan-recent", "image-factory", at=ago(minutes=10)))
    executor = BulkCleanupExecutor(kube)

    plan = executor.plan(request("bulk_cleanup", "namespace/image-factory"))

    assert (plan.changes, plan.diff) == ({}, ())
    assert executor.apply(plan).result == "skipped"
    assert kube_cluster.writes() == []


def test_an_object_replaced_since_the_plan_is_not_deleted(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(job("scan-0", "image-factory", at=ago(hours=2)))
    executor = BulkCleanupExecutor(kube)
    plan = executor.plan(request("bulk_cleanup", "namespace/image-factory"))
    kube_cluster.add(
        job("scan-0", "image-factory", finished=None)
        | {"metadata": {"name": "scan-0", "namespace": "image-factory", "uid": "new"}}
    )

    outcome = executor.apply(plan)

    assert outcome.result == "failed"
    assert "precondition failed" in outcome.detail
    assert kube_cluster.names("Job") == ["scan-0"]


def test_bulk_cleanup_params_are_checked(kube: Kube) -> None:
    with pytest.raises(ValueError, match="older_than_minutes must be a whole number"):
        BulkCleanupExecutor(kube).plan(
            request("bulk_cleanup", "cluster/cluster", older_than_minutes=0)
        )
    with pytest.raises(ValueError, match="acts on a cluster or namespace, not a job"):
        BulkCleanupExecutor(kube).plan(request("bulk_cleanup", "job/x/y"))


def test_bulk_cleanup_never_trusts_the_server_selector(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        pod("done", "default", phase="Succeeded"),
        pod("web", "default"),
        pod("starting", "default", phase="Pending"),
    )
    kube_cluster.ignore_selectors()

    plan = BulkCleanupExecutor(kube).plan(request("bulk_cleanup", "namespace/default"))

    assert [p["name"] for p in plan.changes["delete_pods"]] == ["done"]
