"""The Ingress executor against kmock: patch_ingress routes through a class
and a Service port that exist, patch_tls points a TLS entry at a valid TLS
Secret or renews a cert-manager Certificate as cmctl does; each plan shows
its diff, apply writes exactly the planned patch, the inverse restores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    secret,
    service,
)
from fixtures.manifests import certificate, ingress, ingress_class
from fixtures.tls import tls_secret

from responder.actions.networking import IngressExecutor
from responder.kube import MERGE_PATCH, Kube
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

NOW = datetime.now(UTC)
SHOP = "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web"


def request(action: str, target: str, **params: Any) -> ActionRequest:
    return ActionRequest(action, Target.parse(target), "inc-1", params)


@pytest.fixture
def executor(kube: Kube) -> IngressExecutor:
    return IngressExecutor(kube, clock=lambda: NOW)


def undo(executor: IngressExecutor, plan: Plan) -> tuple[Plan, ActionOutcome]:
    inverse = executor.inverse(plan)
    assert inverse is not None
    assert inverse.action == plan.request.action and inverse.target == plan.request.target
    undo_plan = executor.plan(inverse)
    return undo_plan, executor.apply(undo_plan)


def shop(**options: Any) -> dict[str, Any]:
    routes = (
        ("shop.example.test", "/", "storefront", 80),
        ("shop.example.test", "/api", "shop-api-old", 8080),
    )
    return ingress("web", "shop", **{"routes": routes, **options})


# patch_ingress


def test_patch_ingress_points_a_path_at_an_existing_service_and_the_inverse_restores(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(), service("shop-api", "shop", ports=((8080, "http"),)))
    before = kube_cluster.live("Ingress", "web", "shop")["spec"]

    plan = executor.plan(
        request(
            "patch_ingress",
            "ingress/shop/web",
            backend={"service": "shop-api", "port": 8080},
            host="shop.example.test",
            path="/api",
        )
    )

    assert plan.diff == (
        Change("backend of shop.example.test/api", "shop-api-old:8080", "shop-api:8080"),
    )
    assert plan.previous == {"rules": before["rules"]}
    assert kube_cluster.writes() == []
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    writes = kube_cluster.writes()
    assert [(w.method, w.path, w.content_type) for w in writes] == [("PATCH", SHOP, MERGE_PATCH)]
    assert set(writes[0].body["spec"]) == {"rules"}
    paths = kube_cluster.live("Ingress", "web", "shop")["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"] for p in paths] == [
        {"name": "storefront", "port": {"number": 80}},
        {"name": "shop-api", "port": {"number": 8080}},
    ]

    undo_plan, undone = undo(executor, plan)
    assert undone.result == "succeeded", undone.detail
    assert undo_plan.diff == (
        Change("backend of shop.example.test/api", "shop-api:8080", "shop-api-old:8080"),
    )
    assert kube_cluster.live("Ingress", "web", "shop")["spec"] == before


def test_patch_ingress_by_port_name(kube_cluster: KubeCluster, executor: IngressExecutor) -> None:
    kube_cluster.add(shop(), service("shop-api", "shop", ports=((8080, "http"),)))

    plan = executor.plan(
        request(
            "patch_ingress",
            "ingress/shop/web",
            backend={"service": "shop-api", "port": "http"},
            path="/api",
        )
    )

    assert plan.diff == (
        Change("backend of shop.example.test/api", "shop-api-old:8080", "shop-api:http"),
    )


def test_patch_ingress_refuses_a_service_or_port_that_does_not_exist(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(), service("shop-api", "shop", ports=((8080, "http"),)))

    with pytest.raises(ValueError, match="service shop/nope does not exist"):
        executor.plan(
            request("patch_ingress", "ingress/shop/web", backend={"service": "nope", "port": 80})
        )
    with pytest.raises(
        ValueError, match=r"service shop/shop-api has no port 9090 \(it has 8080/http\)"
    ):
        executor.plan(
            request(
                "patch_ingress",
                "ingress/shop/web",
                backend={"service": "shop-api", "port": 9090},
                path="/api",
            )
        )


def test_patch_ingress_asks_which_path_when_several_match(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(), service("shop-api", "shop", ports=((8080, "http"),)))

    with pytest.raises(ValueError, match=r"has 2 paths for host shop\.example\.test: name params"):
        executor.plan(
            request(
                "patch_ingress",
                "ingress/shop/web",
                backend={"service": "shop-api", "port": 8080},
                host="shop.example.test",
            )
        )


def test_patch_ingress_sets_the_class_asked_for_when_it_exists(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(class_name="nginx-old"), ingress_class("nginx"))

    with pytest.raises(ValueError, match="IngressClass traefik does not exist"):
        executor.plan(request("patch_ingress", "ingress/shop/web", ingress_class="traefik"))
    plan = executor.plan(request("patch_ingress", "ingress/shop/web", ingress_class="nginx"))

    assert plan.diff == (Change("ingressClassName", "nginx-old", "nginx"),)
    assert executor.apply(plan).result == "succeeded"
    assert [w.body["spec"] for w in kube_cluster.writes()] == [{"ingressClassName": "nginx"}]
    assert kube_cluster.live("Ingress", "web", "shop")["spec"]["ingressClassName"] == "nginx"


def test_without_params_patch_ingress_takes_the_default_class_and_undo_removes_it(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(
        shop(class_name=None), ingress_class("nginx", default=True), ingress_class("internal")
    )

    plan = executor.plan(request("patch_ingress", "ingress/shop/web"))
    assert plan.diff == (Change("ingressClassName", "absent", "nginx"),)
    assert executor.apply(plan).result == "succeeded"

    _, undone = undo(executor, plan)
    assert undone.result == "succeeded", undone.detail
    assert "ingressClassName" not in kube_cluster.live("Ingress", "web", "shop")["spec"]


def test_without_params_and_no_single_default_class_the_plan_asks_for_one(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(class_name="gone"), ingress_class("a"), ingress_class("b"))

    with pytest.raises(ValueError, match=r"name params\.ingress_class: .* among a, b"):
        executor.plan(request("patch_ingress", "ingress/shop/web"))


def test_a_route_already_as_asked_writes_nothing(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(), ingress_class("nginx"))

    plan = executor.plan(request("patch_ingress", "ingress/shop/web"))

    assert (plan.changes, plan.diff) == ({}, ())
    assert executor.apply(plan).result == "skipped"
    assert executor.inverse(plan) is None
    assert kube_cluster.writes() == []


def test_an_ingress_changed_since_the_plan_is_not_patched(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(shop(), service("shop-api", "shop", ports=((8080, "http"),)))
    plan = executor.plan(
        request(
            "patch_ingress",
            "ingress/shop/web",
            backend={"service": "shop-api", "port": 8080},
            path="/api",
        )
    )
    kube_cluster.add(shop(routes=(("shop.example.test", "/", "storefront-v2", 80),)))

    outcome = executor.apply(plan)

    assert outcome.result == "failed"
    assert "changed since the plan (rules)" in outcome.detail
    assert kube_cluster.writes() == []


# patch_tls of an ingress


def tls_shop(secret_name: str | None = "web-tls-old") -> dict[str, Any]:
    return shop(tls=((("shop.example.test",), secret_name),))


def test_patch_tls_points_the_entry_at_a_valid_secret_and_the_inverse_restores(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(tls_shop(), tls_secret("web-tls", "shop", ["*.example.test"]))
    before = kube_cluster.live("Ingress", "web", "shop")["spec"]

    plan = executor.plan(request("patch_tls", "ingress/shop/web", secret="web-tls"))

    assert plan.diff == (Change("TLS secret of shop.example.test", "web-tls-old", "web-tls"),)
    assert plan.previous == {"tls": before["tls"]}
    assert "valid until" in plan.summary
    assert "BEGIN" not in repr(plan)  # the Secret's values stay out of the plan
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    writes = kube_cluster.writes()
    assert [(w.method, w.path) for w in writes] == [("PATCH", SHOP)]
    assert writes[0].body["spec"] == {
        "tls": [{"hosts": ["shop.example.test"], "secretName": "web-tls"}]
    }

    undo_plan, undone = undo(executor, plan)
    assert undone.result == "succeeded", undone.detail
    assert undo_plan.diff == (Change("TLS secret of shop.example.test", "web-tls", "web-tls-old"),)
    assert kube_cluster.live("Ingress", "web", "shop")["spec"] == before


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "secret shop/web-tls does not exist"),
        (secret("web-tls", "shop", {"password": b"x"}), "is of type Opaque, not kubernetes.io/tls"),
        (
            secret(
                "web-tls",
                "shop",
                {"tls.crt": b"junk", "tls.key": b"junk"},
                type_="kubernetes.io/tls",
            ),
            "tls.crt is not a PEM certificate",
        ),
        (
            tls_secret("web-tls", "shop", ["shop.example.test"], foreign_key=True),
            "tls.key does not belong to the certificate",
        ),
        (
            tls_secret(
                "web-tls", "shop", ["shop.example.test"], not_before=NOW - timedelta(days=100)
            ),
            "the certificate in secret shop/web-tls expired on",
        ),
        (
            tls_secret(
                "web-tls", "shop", ["shop.example.test"], not_before=NOW + timedelta(days=1)
            ),
            "is not valid before",
        ),
        (
            tls_secret("web-tls", "shop", ["www.example.test", "*.other.test"]),
            r"does not cover shop.example.test \(it names www.example.test, \*.other.test\)",
        ),
        (tls_secret("web-tls", "shop", []), r"does not cover shop.example.test \(it names no DNS"),
    ],
)
def test_patch_tls_refuses_a_secret_that_cannot_serve_the_host(
    kube_cluster: KubeCluster, executor: IngressExecutor, bad: dict[str, Any] | None, reason: str
) -> None:
    kube_cluster.add(tls_shop())
    if bad is not None:
        kube_cluster.add(bad)

    with pytest.raises(ValueError, match=reason):
        executor.plan(request("patch_tls", "ingress/shop/web", secret="web-tls"))


def test_patch_tls_picks_the_entry_of_the_host(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(
        shop(tls=((("shop.example.test",), "shop-tls"), (("api.example.test",), None))),
        tls_secret("api-tls", "shop", ["api.example.test"]),
    )

    with pytest.raises(ValueError, match=r"has 2 TLS entries: name params\.host"):
        executor.plan(request("patch_tls", "ingress/shop/web", secret="api-tls"))
    with pytest.raises(ValueError, match=r"has no TLS entry for host www\.example\.test"):
        executor.plan(
            request("patch_tls", "ingress/shop/web", secret="api-tls", host="www.example.test")
        )
    plan = executor.plan(
        request("patch_tls", "ingress/shop/web", secret="api-tls", host="api.example.test")
    )

    assert plan.diff == (Change("TLS secret of api.example.test", "absent", "api-tls"),)


def test_patch_tls_of_an_ingress_needs_the_secret(
    executor: IngressExecutor, kube_cluster: KubeCluster
) -> None:
    kube_cluster.add(tls_shop())

    with pytest.raises(ValueError, match=r"needs params\.secret"):
        executor.plan(request("patch_tls", "ingress/shop/web"))


# patch_tls of a cert-manager Certificate


def test_patch_tls_of_a_certificate_sets_the_issuing_condition_as_cmctl_renew(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(
        certificate(
            "web",
            "shop",
            secret_name="web-tls",
            dns_names=["shop.example.test"],
            conditions=(("Ready", "False"),),
            not_after=NOW - timedelta(days=1),
        )
    )

    plan = executor.plan(request("patch_tls", "certificate/shop/web"))

    assert plan.diff == (
        Change("condition Issuing of certificate shop/web", "absent", "True (ManuallyTriggered)"),
    )
    assert kube_cluster.writes() == []
    outcome = executor.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    writes = kube_cluster.writes()
    assert [(w.method, w.path, w.content_type) for w in writes] == [
        (
            "PATCH",
            "/apis/cert-manager.io/v1/namespaces/shop/certificates/web/status",
            MERGE_PATCH,
        )
    ]
    conditions = kube_cluster.live("Certificate", "web", "shop")["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [
        ("Ready", "False"),
        ("Issuing", "True"),
    ]
    issuing = conditions[1]
    assert issuing["reason"] == "ManuallyTriggered"
    assert issuing["observedGeneration"] == 1
    assert issuing["lastTransitionTime"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "inc-1" in issuing["message"]
    assert executor.inverse(plan) is None


def test_a_certificate_already_being_issued_is_not_touched(
    kube_cluster: KubeCluster, executor: IngressExecutor
) -> None:
    kube_cluster.add(
        certificate(
            "web",
            "shop",
            secret_name="web-tls",
            dns_names=["shop.example.test"],
            conditions=(("Ready", "False"), ("Issuing", "True")),
        )
    )

    plan = executor.plan(request("patch_tls", "certificate/shop/web"))

    assert plan.changes == {}
    assert executor.apply(plan).result == "skipped"
    assert kube_cluster.writes() == []


def test_the_ingress_actions_refuse_other_kinds(executor: IngressExecutor) -> None:
    with pytest.raises(ValueError, match="patch_ingress acts on a ingress, not a service"):
        executor.plan(request("patch_ingress", "service/shop/web"))


def test_without_a_cluster_plans_raise_and_applies_are_not_available() -> None:
    executor = IngressExecutor(None)
    wanted = request("patch_ingress", "ingress/shop/web")

    with pytest.raises(Exception, match="no Kubernetes cluster"):
        executor.plan(wanted)
    assert executor.apply(Plan(wanted, {}, {"rules": []}, "x")).result == "not_available"
