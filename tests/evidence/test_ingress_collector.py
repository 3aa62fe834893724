"""The ingress collector against kmock: which Ingresses serve the incident's
scope, their class, backends, admission, the controller's Warning events, and
the certificates of their TLS Secrets (real ones, made for each test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fixtures.incidents import make_incident
from fixtures.ingress import ingress, ingress_class, tls_secret
from fixtures.kube import (
    KubeCluster,
    ago,
    event,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    service,
)

from responder.evidence.collector import Evidence
from responder.evidence.ingress import IngressCollector, TlsReplacement, replacement_tls_secret
from responder.evidence.observer import CollectorRegistry, Observer
from responder.kube import Kube
from responder.records.incident import AlertRef, Incident, ResourceScope
from responder.records.target import Target

HOST = "shop.example.com"
WEB = Target(kind="ingress", namespace="shop", name="web")


def drift(kind: str = "ingress", name: str = "web", namespace: str | None = "shop") -> Incident:
    return make_incident(
        incident_type="ingress_configuration_drift",
        key=f"ingress_configuration_drift|{kind}/{name}",
        resource_scope=ResourceScope(kind=kind, namespace=namespace, name=name),
    )


def valid(name: str = "web-tls", names: tuple[str, ...] = (HOST,), days: int = 60) -> Any:
    now = datetime.now(UTC)
    return tls_secret(name, "shop", names, now - timedelta(days=30), now + timedelta(days=days))


def expired(name: str = "web-tls") -> Any:
    now = datetime.now(UTC)
    return tls_secret(name, "shop", (HOST,), now - timedelta(days=90), now - timedelta(days=1))


def seed(cluster: KubeCluster, *objects: Any, secret: Any = None) -> None:
    """A healthy shop/web: class nginx, Service web, an address, TLS from
    ``web-tls`` (``secret``, a valid certificate by default)."""
    cluster.add(
        ingress_class("nginx"),
        service("web", "shop"),
        ingress("web", "shop", tls_secret="web-tls"),
        valid() if secret is None else secret,
        *objects,
    )


def signals(evidence: Evidence) -> dict[str, str]:
    return {s.name: s.detail for s in evidence.signals}


def test_a_healthy_ingress_meets_the_exit_criteria(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed(kube_cluster)
    evidence = IngressCollector(kube).collect(drift())
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True
    assert evidence.targets == {"patch_ingress": (WEB,)}
    assert evidence.refs == ("k8s://ingresses/shop/web",)
    assert evidence.summary == (
        "1 Ingress served (shop/web); routes, classes, backends and certificates look right"
    )


def test_an_expired_certificate_is_a_tls_failure_and_names_patch_tls(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, secret=expired())
    evidence = IngressCollector(kube).collect(drift())
    found = signals(evidence)
    assert set(found) == {"tls_failure"}
    assert found["tls_failure"].startswith(
        "shop/web: the certificate of Secret shop/web-tls expired "
    )
    assert evidence.signals[0].strength == "strong"
    assert evidence.targets == {"patch_tls": (WEB,)}
    assert evidence.exit_criteria_met is False


def test_a_valid_secret_covering_the_host_is_named_as_the_replacement(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    now = datetime.now(UTC)
    seed(
        kube_cluster,
        valid("web-tls-2027", days=400),
        valid("web-tls-short", days=20),
        valid("other-host", names=("blog.example.com",), days=900),
        tls_secret(
            "wrong-key", "shop", (HOST,), now, now + timedelta(days=900), key_of_another=True
        ),
        secret=expired(),
    )
    incident = drift()
    observer = Observer(CollectorRegistry([IngressCollector(kube)]))
    observer.observe(incident, now)
    names = {s.name: s for s in incident.signals}
    assert "tls_failure" in names
    offered = names["tls_secret_available:shop/web"]
    assert offered.strength == "weak"
    until = (now + timedelta(days=400)).strftime("%Y-%m-%d")
    assert offered.detail == (
        f"secret/shop/web-tls-2027 replaces web-tls (hosts {HOST}; valid until {until})"
    )
    assert replacement_tls_secret(incident, WEB) == TlsReplacement(
        WEB, Target(kind="secret", namespace="shop", name="web-tls-2027"), "web-tls"
    )
    other = Target(kind="ingress", namespace="shop", name="blog")
    assert replacement_tls_secret(incident, other) is None
    # the patch_tls that puts it in: its params name the Secret
    [named] = [t for t in incident.named_targets if t.action == "patch_tls"]
    assert (named.kind, named.namespace, named.name) == ("ingress", "shop", "web")
    assert named.params == {"secret": "web-tls-2027"}


def test_the_replacement_of_one_of_several_tls_entries_names_its_host(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    two = ingress("web", "shop", hosts=(HOST, "blog.example.com"), tls_secret="web-tls")
    two["spec"]["tls"] = [
        {"hosts": ["blog.example.com"], "secretName": "blog-tls"},
        {"hosts": [HOST], "secretName": "web-tls"},
    ]
    seed(
        kube_cluster,
        two,
        valid("blog-tls", names=("blog.example.com",)),
        valid("web-tls-2027", days=400),
        secret=expired(),
    )
    evidence = IngressCollector(kube).collect(drift())
    assert evidence.params == {("patch_tls", WEB): {"secret": "web-tls-2027", "host": HOST}}


def test_no_replacement_is_named_when_no_secret_covers_the_host(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, valid("other-host", names=("blog.example.com",)), secret=expired())
    evidence = IngressCollector(kube).collect(drift())
    assert set(signals(evidence)) == {"tls_failure"}
    assert evidence.params == {}


def test_a_certificate_for_other_hosts_fails(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed(kube_cluster, secret=valid(names=("*.example.org", "example.com")))
    found = signals(IngressCollector(kube).collect(drift()))
    assert found["tls_failure"] == (
        f"shop/web: the certificate of Secret shop/web-tls does not cover {HOST} "
        "(it names *.example.org, example.com)"
    )


def test_a_wildcard_certificate_covers_one_label(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed(kube_cluster, secret=valid(names=("*.example.com",)))
    assert IngressCollector(kube).collect(drift()).signals == ()


def test_a_key_that_is_not_the_certificates_fails(kube_cluster: KubeCluster, kube: Kube) -> None:
    now = datetime.now(UTC)
    mismatched = tls_secret(
        "web-tls",
        "shop",
        (HOST,),
        now - timedelta(days=1),
        now + timedelta(days=90),
        key_of_another=True,
    )
    seed(kube_cluster, secret=mismatched)
    found = signals(IngressCollector(kube).collect(drift()))
    assert found["tls_failure"].endswith("its key does not belong to the certificate")


def test_a_missing_secret_fails(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(
        ingress_class(), service("web", "shop"), ingress("web", "shop", tls_secret="gone")
    )
    found = signals(IngressCollector(kube).collect(drift()))
    assert found == {"tls_failure": "shop/web: Secret shop/gone does not exist"}


def test_a_certificate_expiring_soon_is_a_weak_signal_only(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, secret=valid(days=5))
    evidence = IngressCollector(kube).collect(drift())
    [signal] = evidence.signals
    assert (signal.name, signal.strength) == ("tls_certificate_expiring", "weak")
    assert "the certificate of Secret shop/web-tls expires in 4 days" in signal.detail
    assert evidence.exit_criteria_met is True


def test_a_missing_class_and_backend_are_routing_problems(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        ingress_class("nginx"),
        ingress("web", "shop", class_name="nginx-internal", service="web-v2"),
    )
    evidence = IngressCollector(kube).collect(drift())
    assert signals(evidence) == {
        "ingress_class_missing": "shop/web: IngressClass nginx-internal does not exist",
        "ingress_backend_missing": "shop/web: backend Service shop/web-v2 does not exist",
    }
    assert all(s.strength == "strong" for s in evidence.signals)
    assert evidence.targets == {"patch_ingress": (WEB,)}


def test_no_class_is_fine_only_with_a_default_class(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(service("web", "shop"), ingress("web", "shop", class_name=None))
    assert set(signals(IngressCollector(kube).collect(drift()))) == {"ingress_class_missing"}
    kube_cluster.add(ingress_class("nginx", default=True))
    assert IngressCollector(kube).collect(drift()).signals == ()


def test_recent_controller_warnings_about_the_ingress_are_direct_errors(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(
        kube_cluster,
        event(
            "shop",
            "AddedOrUpdatedWithError",
            "Configuration for shop/web was added or updated ; with error: invalid annotation",
            involved=("Ingress", "web"),
            involved_namespace="shop",
            component="nginx-ingress-controller",
        ),
        event(
            "shop",
            "Rejected",
            "an old complaint",
            involved=("Ingress", "web"),
            involved_namespace="shop",
            last=ago(hours=2),
        ),
        event(
            "shop",
            "Rejected",
            "about another ingress",
            involved=("Ingress", "blog"),
            involved_namespace="shop",
        ),
    )
    evidence = IngressCollector(kube).collect(drift())
    [signal] = evidence.signals
    assert (signal.name, signal.strength, signal.direct) == (
        "ingress_controller_warning",
        "strong",
        True,
    )
    assert signal.detail == (
        "shop/web: nginx-ingress-controller: AddedOrUpdatedWithError: Configuration for "
        "shop/web was added or updated ; with error: invalid annotation"
    )


def test_an_ingress_without_an_address_was_not_admitted(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(ingress_class(), service("web", "shop"), ingress("web", "shop", address=None))
    [signal] = IngressCollector(kube).collect(drift()).signals
    assert (signal.name, signal.strength) == ("ingress_not_admitted", "weak")
    assert signal.detail == "no load-balancer address: shop/web"


def test_a_probed_url_finds_the_ingress_of_its_host_in_any_namespace(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(
        kube_cluster,
        ingress("blog", "media", hosts=("blog.example.com",), class_name="nginx"),
        secret=expired(),
    )
    evidence = IngressCollector(kube).collect(
        drift("instance", f"https://{HOST}/healthz", namespace=None)
    )
    assert evidence.targets == {"patch_tls": (WEB,)}
    assert evidence.summary.startswith("1 Ingress served (shop/web)")


def test_the_url_a_blackbox_alert_probed_finds_its_ingress(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, ingress("blog", "media", hosts=("blog.example.com",)), secret=expired())
    # the probe's job names the scope (a service of the prober's namespace)
    incident = drift("service", "blackbox-http", namespace="monitoring")
    labels = {"alertname": "IngressRouteProbeFailing", "job": "blackbox-http"}
    labels |= {"namespace": "monitoring", "instance": f"https://{HOST}/healthz"}
    incident.alerts = {
        "f1": AlertRef(
            fingerprint="f1", alertname=labels["alertname"], status="firing", labels=labels
        )
    }
    evidence = IngressCollector(kube).collect(incident)
    assert evidence.targets == {"patch_tls": (WEB,)}
    assert set(signals(evidence)) == {"tls_failure"}


def test_a_service_scope_finds_the_ingresses_routing_to_it(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, ingress("blog", "shop", hosts=("blog.example.com",), service="blog"))
    evidence = IngressCollector(kube).collect(drift("service", "blog"))
    blog = Target(kind="ingress", namespace="shop", name="blog")
    assert set(signals(evidence)) == {"ingress_backend_missing"}
    assert evidence.targets == {"patch_ingress": (blog,)}


def test_an_ingress_that_is_gone_is_a_strong_signal(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed(kube_cluster)
    evidence = IngressCollector(kube).collect(drift(name="checkout"))
    assert signals(evidence) == {"ingress_missing": "no Ingress serves ingress shop/checkout"}
    assert evidence.exit_criteria_met is False
    assert evidence.targets == {}


def test_a_core_ingress_in_trouble_is_a_core_workload(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    kube_cluster.add(
        ingress_class(),
        service("web", "shop"),
        ingress("web", "shop", tls_secret="gone", labels={"tier": "core"}),
    )
    assert IngressCollector(kube).collect(drift()).facts == {"core_workload": True}


def test_secrets_it_may_not_read_leave_the_rest_of_the_evidence(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster, ingress("blog", "shop", hosts=("blog.example.com",), service="blog"))
    kube_cluster.fail("secrets", 403)
    evidence = IngressCollector(kube).collect(
        drift(kind="cluster", name="cluster", namespace="shop")
    )
    assert signals(evidence) == {
        "ingress_backend_missing": "shop/blog: backend Service shop/blog does not exist",
        "tls_secret_unreadable": "no permission to read Secret shop/web-tls",
    }
    assert evidence.exit_criteria_met is False


def test_a_certificate_it_may_not_read_leaves_the_exit_criteria_open(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    seed(kube_cluster)
    kube_cluster.fail("secrets", 403)
    evidence = IngressCollector(kube).collect(drift())
    assert [s.name for s in evidence.signals] == ["tls_secret_unreadable"]
    assert evidence.exit_criteria_met is None


def test_other_api_failures_are_a_collector_error(kube_cluster: KubeCluster, kube: Kube) -> None:
    seed(kube_cluster)
    kube_cluster.fail("ingressclasses", 500)
    [signal] = IngressCollector(kube).collect(drift()).signals
    assert (signal.name, signal.strength) == ("collector_error", "weak")
    assert "list ingressclasses: 500" in signal.detail
