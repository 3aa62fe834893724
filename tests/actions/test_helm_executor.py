"""The Helm executor against kmock, with Helm itself in the process: the
release is installed and upgraded by helm-python-sdk (fixtures/helm_releases),
the executor plans from its release Secrets and rolls back or upgrades
through the same SDK; the emulator shows the writes and the workload."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.helm_releases import NAMESPACE, RELEASE, history, install, write_chart
from fixtures.incidents import make_incident
from fixtures.kube import (
    KubeCluster,
    Seen,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
)
from fixtures.rigs import Responder

from responder.actions.helm import HelmExecutor
from responder.kube import Kube, KubeError
from responder.records.action import ActionRequest, Change
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.store import Store

V1 = {"image": "registry.example/web:1.0", "db": {"password": "first"}}
V2 = {"image": "registry.example/web:2.0", "db": {"password": "second"}}
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}"
SECRETS = f"/api/v1/namespaces/{NAMESPACE}/secrets"


def request(action: str, name: str = RELEASE, **params: object) -> ActionRequest:
    return ActionRequest(
        action=action,
        target=Target(kind="helmrelease", namespace=NAMESPACE, name=name),
        incident_id="inc-3",
        params=dict(params),
    )


def image(cluster: KubeCluster) -> str:
    spec = cluster.live("Deployment", RELEASE, NAMESPACE)["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


class Writes:
    """The writes the emulator receives from now on."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self.start = len(cluster.requests())

    def seen(self) -> list[Seen]:
        return [r for r in self.cluster.requests()[self.start :] if r.is_write]

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.seen()]


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    return write_chart(tmp_path / "charts")


@pytest.fixture
def released(kube_cluster: KubeCluster, chart: Path) -> KubeCluster:
    """Release web: revision 1 with V1 (superseded), revision 2 with V2 (deployed)."""
    install(kube_cluster, chart, [V1, V2])
    return kube_cluster


@pytest.fixture
def executor(kube: Kube, kube_cluster: KubeCluster) -> HelmExecutor:
    return HelmExecutor(kube, str(kube_cluster.kubeconfig))


def test_rollback_plan_shows_the_revision_and_the_values_it_brings_back(
    released: KubeCluster, executor: HelmExecutor
) -> None:
    writes = Writes(released)

    plan = executor.plan(request("rollback_release"))

    assert plan.previous == {"revision": 2, "status": "deployed"}
    assert plan.changes == {"rollback_to": 1}
    assert plan.diff == (
        Change("revision", "2 (deployed)", "rollback to 1"),
        Change("values.db.password", "[redacted]", "[redacted]"),
        Change("values.image", "registry.example/web:2.0", "registry.example/web:1.0"),
    )
    assert writes.seen() == []


def test_rollback_rolls_the_workload_back_in_a_new_revision(
    released: KubeCluster, executor: HelmExecutor
) -> None:
    writes = Writes(released)

    outcome = executor.apply(executor.plan(request("rollback_release")))

    assert (outcome.result, outcome.detail) == (
        "succeeded",
        "helm rollback web 1: revision 3 deployed",
    )
    assert history(released) == [
        (1, "superseded", "1.0.0"),
        (2, "superseded", "1.0.0"),
        (3, "deployed", "1.0.0"),
    ]
    assert image(released) == "registry.example/web:1.0"
    # Helm's own writes: the new revision's Secret, the release's two objects
    # applied server-side, the revisions' statuses
    assert sorted(writes.paths()) == [
        ("PATCH", f"/api/v1/namespaces/{NAMESPACE}/configmaps/web-settings"),
        ("PATCH", DEPLOYMENT),
        ("POST", SECRETS),
        ("PUT", f"{SECRETS}/sh.helm.release.v1.web.v2"),
        ("PUT", f"{SECRETS}/sh.helm.release.v1.web.v3"),
    ]
    applied = next(r for r in writes.seen() if r.path == DEPLOYMENT)
    assert applied.content_type == "application/apply-patch+yaml"


def test_the_inverse_rolls_forward_to_the_revision_that_was_current(
    released: KubeCluster, executor: HelmExecutor
) -> None:
    plan = executor.plan(request("rollback_release"))
    executor.apply(plan)

    undo = executor.inverse(plan)
    assert undo == request("rollback_release", revision=2)
    undo_plan = executor.plan(undo)
    assert undo_plan.diff[0] == Change("revision", "3 (deployed)", "rollback to 2")
    outcome = executor.apply(undo_plan)

    assert outcome.result == "succeeded", outcome.detail
    assert image(released) == "registry.example/web:2.0"
    assert history(released)[-1] == (4, "deployed", "1.0.0")


def test_reconcile_without_a_chart_reapplies_the_deployed_revision_over_drift(
    released: KubeCluster, executor: HelmExecutor, kube: Kube
) -> None:
    drifted = released.live("Deployment", RELEASE, NAMESPACE)
    drifted["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/web:9.9"
    released.add(drifted)

    plan = executor.plan(request("helm_reconcile"))
    outcome = executor.apply(plan)

    assert plan.changes == {"rollback_to": 2}
    assert plan.diff == (Change("revision", "2 (deployed)", "re-apply 2"),)
    assert outcome.result == "succeeded", outcome.detail
    assert image(released) == "registry.example/web:2.0"
    assert history(released)[-1] == (3, "deployed", "1.0.0")
    assert executor.inverse(plan) == request("rollback_release", revision=2)


def test_reconcile_with_a_chart_upgrades_to_it_reusing_the_values(
    released: KubeCluster, executor: HelmExecutor, tmp_path: Path
) -> None:
    newer = write_chart(tmp_path / "newer", version="1.1.0")

    plan = executor.plan(request("helm_reconcile", chart=str(newer)))
    outcome = executor.apply(plan)

    assert plan.changes == {"upgrade": str(newer)}
    assert plan.diff == (
        Change("revision", "2 (deployed)", "upgrade to 3"),
        Change("chart", "web-1.0.0", f"{newer} (its latest version)"),
    )
    assert (outcome.result, outcome.detail) == (
        "succeeded",
        "helm upgrade web: revision 3 deployed",
    )
    live = released.live("Deployment", RELEASE, NAMESPACE)
    assert live["metadata"]["labels"]["chart"] == "web-1.1.0"
    assert image(released) == "registry.example/web:2.0"  # revision 2's values, reused
    assert history(released)[-1] == (3, "deployed", "1.1.0")
    assert executor.inverse(plan) == request("rollback_release", revision=2)


def test_the_runner_rolls_back_through_the_configured_executor_and_audits_it(
    released: KubeCluster, sqlite_store: Store
) -> None:
    rig = Responder(sqlite_store, kubeconfig=str(released.kubeconfig), action_timeout_seconds=20.0)
    incident = make_incident("inc-3", state=IncidentState.triaged)

    try:
        run = rig.runtime.runner.run(incident, request("rollback_release"), "auto")
    finally:
        rig.close()

    assert run.executed is not None
    assert (run.executed.result, run.executed.detail) == (
        "succeeded",
        "helm rollback web 1: revision 3 deployed",
    )
    assert run.executed.previous == {"revision": 2, "status": "deployed"}
    assert run.executed.inverse == {
        "action": "rollback_release",
        "target": {"kind": "helmrelease", "namespace": NAMESPACE, "name": RELEASE},
        "params": {"revision": 2},
    }
    [audited] = [e for e in sqlite_store.list_audit(50) if e.action == "action.succeeded"]
    assert audited.after["changes"] == {"rollback_to": 1}
    assert image(released) == "registry.example/web:1.0"


def test_a_rollback_helm_cannot_apply_fails_with_helms_error(
    released: KubeCluster, executor: HelmExecutor
) -> None:
    released.fail("deployments", 500, verbs=["patch"])

    outcome = executor.apply(executor.plan(request("rollback_release")))

    assert outcome.result == "failed"
    assert outcome.detail.startswith("helm rollback web 1: ")
    assert "injected 500 for deployments" in outcome.detail
    assert image(released) == "registry.example/web:2.0"


def test_an_upgrade_that_does_not_finish_is_cancelled_at_the_deadline(
    released: KubeCluster, kube: Kube, tmp_path: Path
) -> None:
    executor = HelmExecutor(kube, str(released.kubeconfig), timeout_seconds=0.5)
    newer = write_chart(tmp_path / "newer", version="1.1.0")
    released.hang("deployments", verbs=["patch"])

    outcome = executor.apply(executor.plan(request("helm_reconcile", chart=str(newer))))

    assert (outcome.result, outcome.detail) == (
        "failed",
        "helm upgrade web did not finish within 0.5s",
    )
    assert history(released)[-1][:2] == (3, "failed")


def test_a_rollback_that_does_not_finish_is_left_behind_at_the_deadline(
    released: KubeCluster, kube: Kube
) -> None:
    executor = HelmExecutor(kube, str(released.kubeconfig), timeout_seconds=0.5)
    released.hang("deployments", verbs=["patch"])

    outcome = executor.apply(executor.plan(request("rollback_release")))

    assert (outcome.result, outcome.detail) == (
        "failed",
        "helm rollback web 1 did not finish within 0.5s; it may still complete",
    )


# planning from release Secrets as Helm 3 wrote them


@pytest.fixture
def helm3_history(kube_cluster: KubeCluster) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 1, status="superseded"),
        helm_release_secret("image-factory", NAMESPACE, 2, status="superseded"),
        helm_release_secret("image-factory", NAMESPACE, 3, status="failed", chart_version="1.1.0"),
    )


@pytest.mark.usefixtures("helm3_history")
def test_rollback_skips_a_failed_revision_to_the_last_deployed_one(
    executor: HelmExecutor,
) -> None:
    plan = executor.plan(request("rollback_release", name="image-factory"))

    assert plan.previous == {"revision": 3, "status": "failed"}
    assert plan.changes == {"rollback_to": 2}
    assert plan.diff == (
        Change("revision", "3 (failed)", "rollback to 2"),
        Change("chart", "app-1.1.0", "app-1.0.0"),
    )
    assert executor.inverse(plan) == request("rollback_release", name="image-factory", revision=3)


def test_unknown_release_or_revision_cannot_be_planned(
    kube_cluster: KubeCluster, executor: HelmExecutor
) -> None:
    with pytest.raises(ValueError, match="no Helm release"):
        executor.plan(request("rollback_release"))

    kube_cluster.add(helm_release_secret(RELEASE, NAMESPACE, 1, status="deployed"))
    with pytest.raises(ValueError, match="no deployed revision to roll back to"):
        executor.plan(request("rollback_release"))
    with pytest.raises(ValueError, match="no stored revision 7"):
        executor.plan(request("rollback_release", revision=7))
    with pytest.raises(ValueError, match="acts on a helmrelease"):
        executor.plan(ActionRequest("rollback_release", Target.parse("deployment/app/x"), "i"))


def test_without_a_cluster_nothing_is_planned_or_applied(released: KubeCluster, kube: Kube) -> None:
    plan = HelmExecutor(kube).plan(request("rollback_release"))
    detached = HelmExecutor(None)

    with pytest.raises(KubeError, match="no Kubernetes cluster"):
        detached.plan(request("rollback_release"))
    assert detached.apply(plan).result == "not_available"
