"""http_error_rate_spike end to end against a real Prometheus: its storage
holds ingress-nginx's request counters of the shop/checkout Ingress (written
with promtool), whose 5xx share rose from 1% to 20% over the last half hour
and still does. The responder reads the ratio and its trend (``rising``: the
incident is critical at once), finds the api Deployment behind the Ingress's
backend Service, and the ladder's first step asks to restart it; a person
approves; kmock shows one merge patch of the pod template's ``restartedAt``
annotation and nothing else (a restart has no inverse: the request says so)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.ingress import ingress, ingress_class
from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    service,
)
from fixtures.prometheus import Prometheus, backfill, start_prometheus
from stories.approving import approve, approved_run, approvers, listed, since
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

SPIKE = {
    "alertname": "HTTPErrorRateHigh",
    "taxonomy_type": "http_error_rate_spike",
    "domain": "golden_signals",
    "golden_signal": "errors",
    "namespace": "shop",
    "ingress": "checkout",
    "severity": "warning",
}
API = "deployment/shop/api"
API_PATH = "/apis/apps/v1/namespaces/shop/deployments/api"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
STEP_SECONDS = 15
REQUESTS_PER_SECOND = 10.0
RAMP_SECONDS = 25 * 60


def checkout_requests(start: datetime, end: datetime) -> str:
    """The Ingress's request counters from ``start`` to ``end`` (OpenMetrics):
    5xx at 0.1 per second rising to 2 (20%) over the first 25 minutes, then held."""
    labels = 'namespace="ingress-nginx",exported_namespace="shop",ingress="checkout"'
    lines = ["# TYPE nginx_ingress_controller_requests unknown"]
    steps = int((end - start).total_seconds()) // STEP_SECONDS
    ok = failed = 0.0
    for step in range(steps + 1):
        errors = min(2.0, 0.1 + 1.9 * step * STEP_SECONDS / RAMP_SECONDS)
        failed += errors * STEP_SECONDS
        ok += (REQUESTS_PER_SECOND - errors) * STEP_SECONDS
        at = (start + timedelta(seconds=step * STEP_SECONDS)).timestamp()
        lines.append(f'nginx_ingress_controller_requests{{{labels},status="200"}} {ok} {at}')
        lines.append(f'nginx_ingress_controller_requests{{{labels},status="503"}} {failed} {at}')
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """Prometheus over the 40 minutes up to now, and the 20 the story lives through."""
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=40), now + timedelta(minutes=20)
    backfill(tmp_path / "tsdb", checkout_requests(start, end))
    server = start_prometheus(tmp_path, {}, [])
    try:
        yield server
    finally:
        server.stop()


def test_a_rising_5xx_ratio_gets_an_approved_restart_of_the_deployment_behind_the_ingress(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    prometheus: Prometheus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube_cluster.add(
        ingress_class("nginx", default=True),
        ingress("checkout", "shop", service="api"),
        service("api", "shop"),
        deployment("api", "shop", replicas=3),
    )
    with Story(
        kube_cluster,
        tmp_path,
        environment="staging",
        prometheus={"url": prometheus.url},
        approvers=approvers(monkeypatch, "staging"),
    ) as story:
        story.fire(SPIKE)

        incident = story.incident()
        assert incident.incident_type == "http_error_rate_spike"
        assert incident.resource_scope.key == "ingress/shop/checkout"
        assert incident.facts["rising"] is True
        assert incident.severity == "critical"  # rising errors
        names = {s.name: s.detail for s in incident.signals}
        assert names["http_error_ratio_high"].startswith(
            "20.0% of the answers of ingress shop/checkout are 5xx"
        )
        assert "rose from" in names["http_errors_rising"]
        # the first step (ask_restart) asks to restart what serves the Ingress; the
        # rollback waits for its step
        assert story.asked() == {("rollout_restart", API)}
        assert story.writes() == []

        asked = listed(story, "rollout_restart")
        assert asked["target"] == {"kind": "deployment", "namespace": "shop", "name": "api"}
        assert asked["params"] == {}
        [change] = asked["change"]
        assert (change["what"], change["before"]) == ("restartedAt", "(none)")
        assert asked["undo"].startswith("nothing undoes it by itself")

        # T+2m: alice approves: one merge patch of the template annotation, nothing else
        story.clock.advance(minutes=2)
        stamp = story.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        before = kube_cluster.live("Deployment", "api", "shop")
        mark = len(story.writes())
        answer = approve(story, asked["id"])
        assert answer["result"] == "executed", answer["detail"]
        annotation = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        assert since(story, mark) == [("PATCH", API_PATH, annotation)]
        after = kube_cluster.live("Deployment", "api", "shop")
        assert after["spec"]["template"]["metadata"].pop("annotations") == {RESTARTED_AT: stamp}
        assert after["spec"] == before["spec"]
        done = approved_run(story, "rollout_restart")
        assert (done.result, done.actor, done.inverse) == ("succeeded", "alice", None)
        assert story.incident().state == IncidentState.contained
        story.assert_guard_rails(approved=frozenset({"rollout_restart"}))
