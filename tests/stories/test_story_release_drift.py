"""release_drift_or_partial_apply end to end: a release's latest revision
failed and the live Deployment runs another image than the release says.
The robot names the exact drift and asks to reconcile the release (the Helm
release itself is the target); on its own it executes nothing. In the first
story the release secrets are written by hand and a person's reconcile
happens outside; in the second Helm itself (in-process, helm-python-sdk)
installed the release and failed its upgrade, a person approves the
reconcile, Helm re-applies the last good revision, and the recorded inverse
rolls the release back to the revision that was current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from fixtures.helm_releases import NAMESPACE as WEB_NAMESPACE
from fixtures.helm_releases import RELEASE as WEB
from fixtures.helm_releases import history, install, write_chart
from fixtures.kube import (
    KubeCluster,
    deployment,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
)
from stories.approved import (
    approve,
    approved_run,
    approver,  # noqa: F401  (a fixture, registered here)
    runnable_ask,
    undo,
)
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

NAMESPACE = "image-factory"
RELEASE = "image-factory"
HELM = {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": NAMESPACE}
STUCK = {
    "alertname": "KubeDeploymentRolloutStuck",
    "namespace": NAMESPACE,
    "deployment": "api",
    "severity": "warning",
}
API = "deployment/image-factory/api"


def manifest(image: str) -> str:
    desired = deployment("api", NAMESPACE, image=image, replicas=2)
    desired.pop("status")
    return yaml.safe_dump(desired)


def live_api(image: str) -> dict[str, object]:
    return deployment("api", NAMESPACE, image=image, replicas=2, annotations=HELM)


def test_failed_release_with_image_drift_asks_for_a_reconcile_and_runs_nothing(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kube_cluster.add(
        helm_release_secret(
            RELEASE,
            NAMESPACE,
            1,
            status="superseded",
            manifest=manifest("registry.example/api:1.9"),
        ),
        helm_release_secret(
            RELEASE, NAMESPACE, 2, status="failed", manifest=manifest("registry.example/api:2.0")
        ),
        live_api("registry.example/api:1.9"),
    )
    with Story(kube_cluster, tmp_path, environment="staging") as story:
        story.fire(STUCK)

        incident = story.incident()
        assert incident.incident_type == "release_drift_or_partial_apply"
        assert incident.confidence == "high"
        assert {"helm_release_failed", "image_drift"} <= {s.name for s in incident.signals}
        # the exact drift, for the operator
        [drift] = [e for e in story.events("evidence") if e.startswith("helm.release_drift")]
        assert "image-factory v2 failed" in drift
        assert (
            "container main: live registry.example/api:1.9, release registry.example/api:2.0"
            in (drift)
        )
        # the ladder's first step asks to reconcile; the restart waits for its
        # step; no evidence names the drifted fields whose ownership to force,
        # so that is recommended with the reason, never asked
        assert story.asked() == {("helm_reconcile", "helmrelease/image-factory/image-factory")}
        held = story.events("approval_held")
        assert any("rollout_restart" in d for d in held)
        assert story.decisions()[("force_field_ownership", API)] == "recommend"
        assert story.decided("uninstall_release") == {"human_only"}
        assert [a.action for a in incident.executed_actions] == ["notify_operator"]
        assert story.writes() == []
        assert incident.state == IncidentState.triaged

        # T+15m: still drifted, nobody reconciled: the ladder asks to restart
        assert story.next_step(15) == (
            "step 2/3 ask_restart: ask_reconcile did not clear it within 15m"
        )
        assert ("rollout_restart", API) in story.asked()

        # T+25m: still drifted: the last step asks to force the field ownership
        assert story.next_step(10) == (
            "step 3/3 ask_force_ownership: ask_restart did not clear it within 10m"
        )
        assert story.asked() == {
            ("helm_reconcile", "helmrelease/image-factory/image-factory"),
            ("rollout_restart", API),
        }
        [forced] = [
            r for r in story.incident().recommended_actions if r.action == "force_field_ownership"
        ]
        assert forced.reason == (
            "cannot run here: force_field_ownership needs params.fields and the evidence gives none"
        )
        assert story.ran() == []
        assert story.writes() == []

        # T+30m: a person reconciled; revision 3 is deployed and matches the cluster
        story.clock.advance(minutes=5)
        kube_cluster.add(
            helm_release_secret(
                RELEASE,
                NAMESPACE,
                3,
                status="deployed",
                manifest=manifest("registry.example/api:2.0"),
            ),
            live_api("registry.example/api:2.0"),
        )
        story.resolve_for_good(STUCK)
        story.assert_guard_rails()


WEB_V1 = {"image": "registry.example/web:1.0"}
WEB_V2 = {"image": "registry.example/web:2.0"}
WEB_STUCK = {
    "alertname": "KubeDeploymentRolloutStuck",
    "namespace": WEB_NAMESPACE,
    "deployment": WEB,
    "severity": "warning",
}
WEB_SECRETS = f"/api/v1/namespaces/{WEB_NAMESPACE}/secrets"
#: what Helm writes for one rollback of release web: the new revision's
#: Secret, the chart's two objects applied server-side, the revisions' statuses
HELM_ROLLBACK_PATHS = {
    ("PATCH", f"/api/v1/namespaces/{WEB_NAMESPACE}/configmaps/web-settings"),
    ("PATCH", f"/apis/apps/v1/namespaces/{WEB_NAMESPACE}/deployments/{WEB}"),
    ("POST", WEB_SECRETS),
}


def web_image(cluster: KubeCluster) -> str:
    spec = cluster.live("Deployment", WEB, WEB_NAMESPACE)["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


def upgrade_fails_on_the_deployment(cluster: KubeCluster, chart: Path) -> None:
    """Helm upgrades web to WEB_V2 while the API server refuses Deployment
    writes: revision 2 is failed, the live Deployment still runs 1.0."""
    cluster.fail("deployments", 500, verbs=["patch"])
    with (
        pytest.raises(helm_python.HelmError, match="injected 500 for deployments"),
        helm_python.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=WEB_NAMESPACE) as cfg,
    ):
        cfg.upgrade(str(chart), WEB, WEB_V2, timeout=10)
    cluster.heal()


def test_a_person_approves_the_helm_reconcile_of_a_failed_upgrade_and_rolls_it_back(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    chart = write_chart(tmp_path / "charts")
    install(kube_cluster, chart, [WEB_V1])
    upgrade_fails_on_the_deployment(kube_cluster, chart)
    assert history(kube_cluster) == [(1, "deployed", "1.0.0"), (2, "failed", "1.0.0")]
    assert web_image(kube_cluster) == "registry.example/web:1.0"
    helm_wrote = len(kube_cluster.writes())  # the install and the failed upgrade
    with Story(kube_cluster, tmp_path, environment="staging", **approver) as story:
        story.fire(WEB_STUCK)

        incident = story.incident()
        assert incident.incident_type == "release_drift_or_partial_apply"
        assert {"helm_release_failed", "image_drift"} <= {s.name for s in incident.signals}
        # the ladder's first step: reconcile the release Helm's own Secrets describe
        reconcile = runnable_ask(story, "helm_reconcile")
        assert reconcile.target == {"kind": "helmrelease", "namespace": WEB_NAMESPACE, "name": WEB}
        assert reconcile.params == {}
        assert reconcile.change == [
            {"what": "revision", "before": "2 (failed)", "after": "re-apply 1"},
            {
                "what": "values.image",
                "before": "registry.example/web:2.0",
                "after": "registry.example/web:1.0",
            },
        ]
        assert reconcile.undo == "roll back release helmrelease apps/web (revision=2)"
        assert len(story.writes()) == helm_wrote  # the robot wrote nothing

        # a person approves: Helm re-applies revision 1 as revision 3, and
        # writes nothing but the release's own objects and Secrets
        writes = approve(story, reconcile)
        assert sorted((w.method, w.path) for w in writes) == sorted(
            HELM_ROLLBACK_PATHS
            | {
                # revision 1 (deployed until now) superseded, revision 3 deployed
                ("PUT", f"{WEB_SECRETS}/sh.helm.release.v1.web.v1"),
                ("PUT", f"{WEB_SECRETS}/sh.helm.release.v1.web.v3"),
            }
        )
        assert history(kube_cluster)[-1] == (3, "deployed", "1.0.0")
        assert web_image(kube_cluster) == "registry.example/web:1.0"
        ran = approved_run(story, reconcile)
        assert ran.inverse == {
            "action": "rollback_release",
            "target": reconcile.target,
            "params": {"revision": 2},
        }

        # the person undoes it: the release is back on revision 2's chart and
        # values (Helm applies them as revision 4; what 2 failed to roll out now runs)
        _, undone = undo(story, ran)
        assert sorted((w.method, w.path) for w in undone) == sorted(
            HELM_ROLLBACK_PATHS
            | {
                ("PUT", f"{WEB_SECRETS}/sh.helm.release.v1.web.v3"),
                ("PUT", f"{WEB_SECRETS}/sh.helm.release.v1.web.v4"),
            }
        )
        assert history(kube_cluster)[-1] == (4, "deployed", "1.0.0")
        with helm_python.Config(
            kubeconfig_path=str(kube_cluster.kubeconfig), namespace=WEB_NAMESPACE
        ) as cfg:
            assert cfg.get_values(WEB) == WEB_V2
        assert web_image(kube_cluster) == "registry.example/web:2.0"
        story.assert_guard_rails(approved=frozenset({"helm_reconcile"}))
