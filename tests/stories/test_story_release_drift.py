"""release_drift_or_partial_apply end to end: the image-factory release's
latest revision failed and the live api Deployment runs another image than
the release says (Helm's release secrets in kmock). The robot names the
exact drift and asks to reconcile the release (the Helm release itself is
the target); nothing is executed: no helm run, no write. The story ends
when a person's reconcile left the release deployed and matching."""

from __future__ import annotations

from pathlib import Path

import yaml
from fixtures.kube import (
    KubeCluster,
    deployment,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
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
        # the ladder's first step asks to reconcile; restart and field ownership wait
        assert story.asked() == {("helm_reconcile", "helmrelease/image-factory/image-factory")}
        held = story.events("approval_held")
        assert any("rollout_restart" in d for d in held)
        assert any("force_field_ownership" in d for d in held)
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
            ("force_field_ownership", API),
            ("rollout_restart", API),
        }
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
