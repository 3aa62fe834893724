"""Never ask what cannot run, over the whole policy matrix (issue 14): in each
environment a responder sees one alert of every incident type, each with real
objects behind it in kmock (Helm releases Helm installed, TLS Secrets, ...).
Every (type, approval-required action) pair of the resolved matrix ends as a
request that can run (target kind, params, a before → after change, a plan
made again from the request alone) or as a recommendation that says why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import pytest
from fixtures.alerts import evictions, node_warning, pressure
from fixtures.helm_releases import write_chart
from fixtures.http_stub import StubServer
from fixtures.ingress import ingress, ingress_class
from fixtures.kube import (
    KubeCluster,
    ago,
    configmap,
    cronjob,
    deployment,
    node,
    pod,
    secret,
    seed_disk_pressure,
    service,
    statefulset,
)
from fixtures.manifests import job
from fixtures.oci_api import (  # noqa: F401  (oci_key: a fixture)
    POOL,
    OciApi,
    instance_ocid,
    oci_key,
)
from fixtures.tls import tls_secret
from stories.storyline import Story, target

from responder.actions.feasibility import ACTING, CannotRun
from responder.policy.matrix import resolve_row
from responder.records.action import ActionRequest
from responder.records.approval import ApprovalRequest
from responder.records.levels import Environment
from responder.records.target import Target
from responder.runtime import Runtime
from responder.store import IncidentFilter

#: the container of every Deployment the test chart makes
CHART_CONTAINER = "web"
#: the Helm releases, (namespace, name) → the image of each revision
RELEASES = {
    ("apps", "web"): ("registry.example/web:1.0", "registry.example/web:1.1"),
    ("factory", "api"): ("registry.example/api:1.4.1", "registry.example/api:1.4.2"),
    ("redis", "redis"): ("docker.io/library/redis:7.2", "docker.io/library/redis:7.4"),
    ("shop", "storefront"): ("registry.example/shop:2.0", "registry.example/shop:2.1"),
}
HOTFIX = "registry.example/web:1.1-hotfix"  # set by hand on apps/web: the release drifts
SHOP = "shop.example.com"

#: one alert of every incident type, as Alertmanager sends them
ALERTS: dict[str, tuple[dict[str, str], ...]] = {
    "node_disk_pressure": (pressure("worker-1"), evictions("worker-1")),
    "node_unreachable_or_notready": (node_warning("KubeNodeNotReady", "worker-3"),),
    "registry_pull_failure": (
        {
            "alertname": "KubeContainerWaiting",
            "namespace": "factory",
            "pod": "api-7d9f8b6c5-abcde",
            "container": CHART_CONTAINER,
            "reason": "ErrImagePull",
            "severity": "warning",
        },
    ),
    "runtime_dependency_outage": (
        {
            "alertname": "KubePodCrashLooping",
            "namespace": "redis",
            "pod": "redis-6b7c8d9f5-qwert",
            "container": CHART_CONTAINER,
            "severity": "warning",
        },
    ),
    "ingress_configuration_drift": (
        {
            "alertname": "NGINXCertificateExpiry",
            "namespace": "shop",
            "service": "storefront",
            "severity": "critical",
        },
    ),
    "identity_provider_unreachable": (
        {
            "alertname": "BlackboxProbeFailed",
            "namespace": "auth",
            "service": "glauth",
            "job": "blackbox-ldap",
            "instance": "ldap://glauth.auth.svc:3893",
            "severity": "critical",
        },
    ),
    "http_error_rate_spike": (
        {
            "alertname": "NGINXTooMany500s",
            "namespace": "apps",
            "service": "web",
            "severity": "warning",
        },
    ),
    "database_connectivity_degraded": (
        {
            "alertname": "PostgreSQLDown",
            "namespace": "db",
            "service": "postgres",
            "job": "postgres-exporter",
            "instance": "postgres.db.svc:5432",
            "severity": "critical",
        },
    ),
    "release_drift_or_partial_apply": (
        {
            "alertname": "KubeDeploymentRolloutStuck",
            "namespace": "apps",
            "deployment": "web",
            "severity": "warning",
        },
    ),
    "background_job_buildup": (
        {
            "alertname": "KubeJobFailed",
            "namespace": "trivy-system",
            "job_name": "trivy-db-warmup-291103",
            "severity": "warning",
        },
    ),
    "chatops_delivery_failure": (
        {
            "alertname": "AlertmanagerFailedToSendAlerts",
            "namespace": "monitoring",
            "integration": "telegram",
            "severity": "warning",
        },
    ),
}


#: (requests, recommendations) the walk sees in the seeded world: staging and
#: production also ask to suspend trivy-db-warmup (disk pressure, job backlog)
EXPECTED = {
    Environment.demo: Counter(asked=24, recommended=10),
    Environment.staging: Counter(asked=26, recommended=10),
    Environment.production: Counter(asked=26, recommended=10),
}
#: requests outside the matrix's approval column: in demo the disk pressure's
#: automatic cleanup (its alert comes first) leaves the job backlog's evidence
#: thin, and suppressing a low-confidence incident needs an approval
BEYOND_THE_MATRIX = {
    Environment.demo: {("background_job_buildup", "suppress_incident")},
    Environment.staging: set(),
    Environment.production: set(),
}
#: the types with both a request that can run and a recommendation
ASKED_AND_RECOMMENDED = {
    "node_disk_pressure",
    "registry_pull_failure",
    "runtime_dependency_outage",
    "release_drift_or_partial_apply",
    "background_job_buildup",
}


# the world


def chart_pod(name: str, namespace: str, image: str, **options: Any) -> dict[str, Any]:
    """A pod of a chart Deployment (its container is the chart's)."""
    made = pod(name, namespace, image=image, **options)
    made["spec"]["containers"][0]["name"] = CHART_CONTAINER
    made["status"]["containerStatuses"][0]["name"] = CHART_CONTAINER
    return made


def install_releases(cluster: KubeCluster, directory: Path) -> None:
    """Every release of ``RELEASES``, installed and upgraded by Helm (in-process)."""
    chart = str(write_chart(directory))
    for (namespace, name), images in RELEASES.items():
        config = helm_python.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=namespace)
        with config as helm:
            helm.install(chart, name, {"image": images[0]}, timeout=10)
            for image in images[1:]:
                helm.upgrade(chart, name, {"image": image}, timeout=10)
    drifted = cluster.live("Deployment", "web", "apps")
    drifted["spec"]["template"]["spec"]["containers"][0]["image"] = HOTFIX
    cluster.add(drifted)


def seed_world(cluster: KubeCluster, directory: Path) -> None:
    """Real objects behind every alert of ``ALERTS``."""
    seed_disk_pressure(cluster)  # worker-1 in DiskPressure, trivy-db-warmup and its pods
    install_releases(cluster, directory)
    evicted = "The node was low on resource: ephemeral-storage. Container builder was using 6Gi."
    cluster.add(
        # worker-1's pressure: the builder's pods fill it (a noisy workload to scale down)
        deployment("builder", "image-factory", replicas=2),
        *(
            pod(
                f"builder-6d5f7c9b8-{suffix}",
                "image-factory",
                phase="Failed",
                owner=("ReplicaSet", "builder-6d5f7c9b8"),
                labels={"app": "builder"},
                node_name="worker-1",
                reason="Evicted",
                message=evicted,
            )
            for suffix in ("aaaaa", "bbbbb", "ccccc")
        ),
        # worker-3 stopped posting its status; a pod of catalog runs on it
        node(
            "worker-3",
            ready="Unknown",
            ready_reason="NodeStatusUnknown",
            taints=["node.kubernetes.io/unreachable"],
        ),
        deployment("catalog", "apps"),
        pod(
            "catalog-5b6c7d8e9-zzzzz",
            "apps",
            owner=("ReplicaSet", "catalog-5b6c7d8e9"),
            labels={"app": "catalog"},
            node_name="worker-3",
        ),
        # registry: api's new tag does not exist; the old pod still runs the old one
        chart_pod(
            "api-5c6d7f8b9-xyzzy",
            "factory",
            RELEASES[("factory", "api")][0],
            owner=("ReplicaSet", "api-5c6d7f8b9"),
            labels={"app": "api"},
        ),
        chart_pod(
            "api-7d9f8b6c5-abcde",
            "factory",
            RELEASES[("factory", "api")][1],
            owner=("ReplicaSet", "api-7d9f8b6c5"),
            labels={"app": "api"},
            waiting=("ErrImagePull", f"{RELEASES[('factory', 'api')][1]}: not found"),
        ),
        secret(
            "regcred",
            "factory",
            {".dockerconfigjson": b"{}"},
            type_="kubernetes.io/dockerconfigjson",
        ),
        # runtime dependency: redis crash-loops behind its Service
        service("redis", "redis"),
        chart_pod(
            "redis-6b7c8d9f5-qwert",
            "redis",
            RELEASES[("redis", "redis")][1],
            owner=("ReplicaSet", "redis-6b7c8d9f5"),
            labels={"app": "redis"},
            waiting=("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
        ),
        # ingress: the storefront's certificate expired (a renewed Secret exists);
        # its admin route names no IngressClass
        service("storefront", "shop"),
        ingress_class("nginx"),
        ingress(
            "storefront", "shop", hosts=[SHOP], service="storefront", tls_secret="storefront-tls"
        ),
        ingress(
            "storefront-admin",
            "shop",
            hosts=[f"admin.{SHOP}"],
            service="storefront",
            class_name=None,
        ),
        tls_secret(
            "storefront-tls", "shop", [SHOP], not_before=ago(days=91), not_after=ago(days=1)
        ),
        tls_secret("storefront-tls-renewed", "shop", [SHOP]),
        # identity provider: glauth behind its Service; its URL in a ConfigMap
        service("glauth", "auth"),
        deployment("glauth", "auth"),
        configmap("glauth-config", "auth", {"LDAP_URL": "ldaps://glauth.auth.svc:636"}),
        # HTTP errors: the web release behind its Service
        service("web", "apps"),
        # database: postgres behind its Service, the app's database URL, a maintenance CronJob
        service("postgres", "db"),
        statefulset("postgres", "db"),
        configmap("app-db", "db", {"DATABASE_URL": "postgresql://postgres.db.svc:5432/app"}),
        cronjob("db-maintenance", "db", schedule="0 3 * * *"),
        # background jobs: the shared Tekton controller; trivy-db-warmup's Jobs of
        # hours ago left behind (what bulk_cleanup takes, past its age limit)
        deployment("tekton-pipelines-controller", "tekton-pipelines"),
        *(
            job(
                f"trivy-db-warmup-2910{index:02d}",
                "trivy-system",
                at=ago(hours=3),
                owner=("CronJob", "trivy-db-warmup"),
            )
            for index in range(2)
        ),
    )


def oci_settings(api: OciApi, directory: Path, key: Mapping[str, str]) -> dict[str, Any]:
    """The OCI settings of the two unhealthy workers."""
    config = directory / "oci-config"
    config.write_text("[DEFAULT]\n" + "".join(f"{k}={v}\n" for k, v in key.items()))
    chosen = api.settings(
        config_file=str(config),
        node_instances={"worker-1": instance_ocid(201), "worker-3": instance_ocid(203)},
    )
    return chosen.model_dump()


def settings_of(environment: str, oci: dict[str, Any]) -> dict[str, Any]:
    return {
        "environment": environment,
        # every approval the policy allows is considered at once, not step by step
        "ladder_holds_asks": False,
        # two unhealthy nodes (worker-1, worker-3) are no storm here
        "blast_radius": {"max_unhealthy_nodes": 2},
        # what the matrix asks for only on a shared target is shared here
        "shared_targets": [
            {"kind": "deployment", "namespace": "redis", "name": "redis"},
            {"kind": "deployment", "namespace": "image-factory", "name": "builder"},
        ],
        "remedies": {
            # the LDAP fallback is configured, the database standby is not
            "ldap": {
                "configmap": "auth/glauth-config",
                "key": "LDAP_URL",
                "fallback": "ldaps://ldap-standby.auth.svc:636",
            },
            "recovery_jobs": [{"namespace": "db", "cronjob": "db-maintenance"}],
            "shared_controllers": ["tekton-pipelines/tekton-pipelines-controller"],
        },
        "oci": oci,
    }


@dataclass(frozen=True)
class Seen:
    """How one (type, action, target) of the matrix ended."""

    incident_type: str
    action: str
    target: str
    asked: bool
    decision: str
    reason: str


@dataclass
class Walk:
    environment: Environment
    story: Story
    seen: list[Seen]
    problems: list[str]

    @property
    def runtime(self) -> Runtime:
        return self.story.runtime

    def count(self) -> Counter[str]:
        return Counter("asked" if s.asked else "recommended" for s in self.seen)

    def table(self) -> str:
        return "\n".join(
            f"{s.incident_type} {s.action} {s.target}: "
            + ("asked" if s.asked else f"{s.decision}: {s.reason}")
            for s in self.seen
        )


def why_it_cannot_run(runtime: Runtime, approval: ApprovalRequest) -> str | None:
    """What keeps ``approval`` from running once approved (None: nothing)."""
    spec = runtime.taxonomy.actions[approval.action]
    kind = approval.target.get("kind", "")
    if kind not in spec.target_kinds:
        return f"asked on a {kind}; it acts on {', '.join(spec.target_kinds)}"
    missing = [n for n, p in spec.params.items() if p.required and n not in approval.params]
    if missing:
        return f"asked without params.{missing[0]}"
    if not approval.change:
        return "asked without the change it makes"
    for line in approval.change:
        if not all(line.get(part) for part in ("what", "before", "after")):
            return f"asked with a change line missing a part: {line}"
    if all(line["before"] == line["after"] for line in approval.change):
        return f"asked for a change that changes nothing: {approval.change_text}"
    request = ActionRequest(
        action=approval.action,
        target=Target.from_dict(approval.target),
        incident_id=approval.incident_id,
        params=dict(approval.params),
    )
    try:
        plan = runtime.feasibility.plan(request)
    except CannotRun as exc:
        return f"its plan made again from the request fails: {exc}"
    if not plan.diff:
        return f"its plan made again shows no change: {plan.summary}"
    # the live state may have moved since the ask (the same turn's automatic
    # cleanup), what the plan changes may not
    again, shown = [c.what for c in plan.diff], [line["what"] for line in approval.change]
    if again != shown:
        return f"its plan made again changes {again}, the request showed {shown}"
    return None


def walk_matrix(story: Story, environment: Environment) -> Walk:
    """Every (type, approval-required action) pair of the resolved matrix, as the
    responder ended it on the incident of that type."""
    runtime = story.runtime
    incidents = {i.incident_type: i for i in runtime.store.list_incidents(IncidentFilter())}
    walk = Walk(environment, story, [], [])
    for incident_type in runtime.taxonomy.incident_types:
        row = resolve_row(runtime.policy, incident_type, environment)
        incident = incidents.get(incident_type)
        if incident is None:
            walk.problems.append(f"{incident_type}: no incident")
            continue
        asked = {
            (a.action, target(a.target)): a
            for a in runtime.approval_requests.for_incident(incident.id)
        }
        for action in (*row.approval_required, *row.approval_if_shared):
            shown = [r for r in incident.recommended_actions if r.action == action]
            if not shown:
                walk.problems.append(f"{incident_type} {action}: neither asked nor recommended")
            for rec in shown:
                where = target(rec.target)
                approval = asked.get((action, where))
                label = f"{incident_type} {action} {where}"
                if approval is not None:
                    why = why_it_cannot_run(runtime, approval)
                    if why is not None:
                        walk.problems.append(f"{label}: {why}")
                elif rec.decision in ACTING:
                    walk.problems.append(f"{label}: {rec.decision}, yet neither asked nor run")
                elif not rec.reason:
                    walk.problems.append(f"{label}: {rec.decision} without a reason")
                walk.seen.append(
                    Seen(
                        incident_type,
                        action,
                        where,
                        approval is not None,
                        rec.decision,
                        rec.reason,
                    )
                )
    return walk


@pytest.fixture(scope="module", params=[e.value for e in Environment])
def walk(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    oci_key: dict[str, str],  # noqa: F811
) -> Iterator[Walk]:
    environment = Environment(request.param)
    directory = tmp_path_factory.mktemp(f"matrix-{environment.value}")
    cluster = KubeCluster(directory).start()
    stub = StubServer().start()
    try:
        oci = OciApi(stub, oci_key)
        oci.add_instance(instance_ocid(201), "oke-worker-201")
        oci.add_instance(instance_ocid(203), "oke-worker-203")
        oci.add_pool(POOL, "pool-workers", [instance_ocid(201), instance_ocid(203)])
        seed_world(cluster, directory)
        settings = settings_of(environment.value, oci_settings(oci, directory, oci_key))
        with Story(cluster, directory, **settings) as story:
            for alerts in ALERTS.values():
                story.fire(*alerts)
            yield walk_matrix(story, environment)
    finally:
        stub.stop()
        cluster.stop()


def test_every_matrix_ask_can_run_or_is_recommended_with_its_reason(walk: Walk) -> None:
    assert not walk.problems, "\n".join(walk.problems)
    assert {s.incident_type for s in walk.seen} == set(ALERTS)
    assert walk.count() == EXPECTED[walk.environment], walk.table()
    both = {
        t for t in ALERTS if {s.asked for s in walk.seen if s.incident_type == t} == {True, False}
    }
    assert both == ASKED_AND_RECOMMENDED, walk.table()
    # a remedy that is not configured is recommended with the setting to add
    [switch] = [s for s in walk.seen if s.action == "switch_db_target"]
    assert switch.reason == (
        "cannot run here: no standby configured for switch_db_target (settings remedies.database)"
    )


def test_every_approval_request_can_run(walk: Walk) -> None:
    """Whatever its type and action, in the matrix's approval column or not."""
    requests = walk.runtime.approval_requests.all()
    cannot = {
        f"{a.incident_type} {a.action} {target(a.target)}": why
        for a in requests
        if (why := why_it_cannot_run(walk.runtime, a)) is not None
    }
    assert cannot == {}
    walked = {(s.incident_type, s.action, s.target) for s in walk.seen if s.asked}
    beyond = {
        (a.incident_type, a.action)
        for a in requests
        if (a.incident_type, a.action, target(a.target)) not in walked
    }
    assert beyond == BEYOND_THE_MATRIX[walk.environment]
    assert len(requests) == EXPECTED[walk.environment]["asked"] + len(beyond)
