"""ingress_configuration_drift end to end: the shop Ingress serves a TLS
Secret whose certificate expired, while a renewed, valid Secret for its host
sits beside it (real certificates, made for the story). The ingress evidence
names the Ingress and the renewed Secret; the ladder's first step asks to
point the TLS entry at it; a person approves; kmock shows one merge patch of
the Ingress's ``spec.tls`` and nothing else; the recorded inverse (the TLS
section as it was) puts the old Secret back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.ingress import ingress, ingress_class, tls_secret
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    service,
)
from stories.approving import approve, approved_run, approvers, listed, since, undo
from stories.storyline import Story

from responder.records.lifecycle import IncidentState

HOST = "shop.example.com"
EXPIRED = {
    "alertname": "NGINXCertificateExpiry",
    "host": HOST,
    "severity": "critical",
}
SHOP = "ingress/shop/shop"
SHOP_PATH = "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/shop"


def certificate(name: str, start_days_ago: int, valid_days: int) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=start_days_ago)
    return tls_secret(name, "shop", (HOST,), start, start + timedelta(days=valid_days))


def test_an_expired_certificate_is_replaced_by_the_renewed_secret_on_approval_and_put_back(
    kube_cluster: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_cluster.add(
        ingress_class("nginx", default=True),
        service("web", "shop"),
        ingress("shop", "shop", hosts=(HOST,), tls_secret="shop-tls"),
        certificate("shop-tls", start_days_ago=91, valid_days=90),  # expired yesterday
        certificate("shop-tls-renewed", start_days_ago=1, valid_days=90),
    )
    with Story(
        kube_cluster, tmp_path, environment="staging", approvers=approvers(monkeypatch, "staging")
    ) as story:
        story.fire(EXPIRED)

        incident = story.incident()
        assert incident.incident_type == "ingress_configuration_drift"
        assert incident.severity == "critical"  # TLS fails
        [failure] = [s for s in incident.signals if s.name == "tls_failure"]
        assert failure.detail.startswith(
            "shop/shop: the certificate of Secret shop/shop-tls expired"
        )
        # the first step (ask_patch) asks for the TLS patch; the routes are right, so
        # there is nothing for patch_ingress; the reconcile waits for its step
        assert story.asked() == {("patch_tls", SHOP)}
        assert story.decided("patch_ingress") == {"recommend"}
        assert story.decided("replace_certificate") == {"human_only"}
        assert story.writes() == []

        # the request: the Ingress, the renewed Secret, the exact change and its undo
        asked = listed(story, "patch_tls")
        assert asked["target"] == {"kind": "ingress", "namespace": "shop", "name": "shop"}
        stored = story.runtime.approval_requests.get(asked["id"])
        assert stored is not None and stored.params == {"secret": "shop-tls-renewed"}
        assert asked["params"] == {"secret": "[redacted]"}  # the API masks a key named so
        assert asked["change"] == [
            {"what": f"TLS secret of {HOST}", "before": "shop-tls", "after": "shop-tls-renewed"}
        ]
        assert asked["undo"].startswith("patch tls ingress shop/shop (restore=")

        # a person approves: one merge patch of spec.tls, nothing else
        before = kube_cluster.live("Ingress", "shop", "shop")
        mark = len(story.writes())
        answer = approve(story, asked["id"])
        assert answer["result"] == "executed", answer["detail"]
        [(method, path, body)] = since(story, mark)
        assert (method, path) == ("PATCH", SHOP_PATH)
        assert body["spec"] == {"tls": [{"hosts": [HOST], "secretName": "shop-tls-renewed"}]}
        assert set(body) == {"metadata", "spec"}
        assert set(body["metadata"]) == {"resourceVersion"}
        after = kube_cluster.live("Ingress", "shop", "shop")
        assert after["spec"] == {**before["spec"], "tls": body["spec"]["tls"]}
        done = approved_run(story, "patch_tls")
        assert (done.result, done.actor) == ("succeeded", "alice")
        assert story.incident().state == IncidentState.contained

        # an hour later the recorded inverse, approved and run: the old Secret again
        story.clock.advance(hours=1)
        mark = len(story.writes())
        run = undo(story, done, "the renewed certificate is wrong for a client; go back")
        assert run.executed is not None and run.executed.result == "succeeded", run.outcome
        [(method, path, body)] = since(story, mark)
        assert (method, path) == ("PATCH", SHOP_PATH)
        assert body["spec"] == {"tls": [{"hosts": [HOST], "secretName": "shop-tls"}]}
        assert kube_cluster.live("Ingress", "shop", "shop")["spec"] == before["spec"]
        story.assert_guard_rails(approved=frozenset({"patch_tls"}))
