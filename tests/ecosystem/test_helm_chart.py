"""The Helm chart (helm/robot-sre): linted and rendered by the Helm engine
(helm-python-sdk, Helm v4 through ctypes), every manifest valid against the
Kubernetes JSON schemas (kubernetes-validate) or, for the prometheus-operator
kinds, the operator's CRD models (cloudcoil-models-prometheus-operator),
least-privilege RBAC, the pieces it carries from alert_rules/, dashboards/
and policies.cel/ equal to the repository's, and the rendered manifests
created in the Kubernetes API emulator (kmock) and read back unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as operator_v1
from cloudcoil.models.prometheus_operator import v1alpha1 as operator_v1alpha1
from fixtures.ecosystem import (
    CHART,
    DASHBOARD,
    REPO,
    all_manifests,
    by_kind,
    helm,
    load_yaml,
    render_chart,
    rule_files,
)
from fixtures.kube import KubeCluster, kube_cluster_fixture  # noqa: F401  (a fixture)
from pydantic import BaseModel

from responder.policy.engine import PolicyEngine
from responder.remedies import Remedies
from responder.settings import Settings, load_settings
from responder.taxonomy import builtin_taxonomy

NAMESPACE = "monitoring"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the
# newest kubernetes-validate knows.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.utils.latest_version())

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "bundled-redis": {
        "replicaCount": 2,
        "redis": {"enabled": True, "auth": {"existingSecret": "robot-sre-redis"}},
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    },
    "external-redis-production": {
        "replicaCount": 2,
        "environment": "production",
        "dryRun": False,
        "externalRedis": {"existingSecret": "robot-sre-store"},
        "allowlistExtra": [
            {
                "action": "suspend_cronjob",
                "targets": [{"kind": "cronjob", "namespace": "batch", "name": "report-*"}],
                "environments": ["production"],
                "reason": "reports may pause",
            }
        ],
        "sharedTargets": [{"kind": "deployment", "namespace": "ingress-nginx", "name": "*"}],
        "alertnameMap": [{"alertname": "MyAppDown", "incident_type": "runtime_dependency_outage"}],
        "settings": {"quiet_period_seconds": {"*": 300}},
    },
    "sqlite-persistent-watched-namespaces": {
        "persistence": {"enabled": True, "storageClass": "oci-bv"},
        "rbac": {"helmReleaseSecrets": {"namespaces": ["image-factory", "tekton-pipelines"]}},
    },
    "everything-configured": {
        "rbac": {"helmReleaseSecrets": {"clusterWide": True}},
        "webhook": {"existingSecret": "alertmanager-robot-sre", "secretKey": "bearer"},
        "channels": {
            "slack": {"enabled": True, "channel": "C0OPS", "existingSecret": "robot-sre-slack"},
            "telegram": {
                "enabled": True,
                "chatId": "-1001234567890",
                "existingSecret": "robot-sre-telegram",
            },
        },
        "oci": {
            "enabled": True,
            "existingSecret": "robot-sre-oci",
            "settings": {"region": "eu-frankfurt-1", "profile": "ROBOT"},
        },
        "dependencies": [
            {
                "name": "redis",
                "kind": "redis",
                "url": "redis://redis.runtime:6379/0",
                "core": True,
                "password_env": "DEP_REDIS_PASSWORD",
            }
        ],
        "secretEnv": [
            {"name": "DEP_REDIS_PASSWORD", "secretName": "runtime-redis", "key": "password"}
        ],
        "prometheusRule": {
            "thresholds": {"http_5xx_ratio": 0.02, "tls_cert_expiry_days": 21},
            "disabled": ["RedisMemorySaturated"],
            "additionalLabels": {"team": "sre"},
            "runbookBaseURL": "https://git.example.test/org/robot-sre/blob/main/docs/runbooks/",
        },
        "alertmanagerConfig": {
            "route": {
                "matchers": [{"name": "severity", "matchType": "=~", "value": "warning|critical"}]
            }
        },
        "dashboard": {"annotations": {"grafana_folder": "Robot SRE"}},
        "networkPolicy": {"egress": {"https": {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}}},
        "imagePullSecrets": [{"name": "registry"}],
    },
    "chat-exposed": {
        "replicaCount": 2,
        "redis": {"enabled": True},
        "rbac": {"tlsSecrets": {"namespaces": ["shop", "monitoring"]}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "host": "robot-sre.example.test",
            "tls": [{"secretName": "robot-sre-tls", "hosts": ["robot-sre.example.test"]}],
        },
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
            "hostnames": ["robot-sre.example.test"],
        },
    },
    "chat-console-and-remedies": {
        "alertmanagerUrl": "http://kube-prometheus-stack-alertmanager.monitoring:9093",
        "channels": {
            "publicUrl": "https://robot-sre.example.test/",
            "dashboardUrl": "https://grafana.example.test/d/robot-sre",
            "slack": {
                "enabled": True,
                "channel": "C0OPS",
                "existingSecret": "robot-sre-slack",
                "mode": "socket",
                "commandReplySeconds": 2,
                "appTokenKey": "xapp",
            },
            "telegram": {
                "enabled": True,
                "chatId": "-1001234567890",
                "existingSecret": "robot-sre-telegram",
                "mode": "polling",
                "pollTimeoutSeconds": 0,
                "pollLeaseSeconds": 45,
                "dialogTimeoutSeconds": 120.5,
                "topics": {"production": 12, "node_disk_pressure": 34},
            },
        },
        "prometheus": {
            "url": "http://kube-prometheus-stack-prometheus.monitoring:9090",
            "existingSecret": "prometheus-reader",
            "settings": {"error_ratio_threshold": 0.1, "scope_labels": ["ingress", "service"]},
        },
        "remedies": {
            "ldap": {
                "configmap": "auth/glauth",
                "key": "LDAP_URL",
                "fallback": "ldaps://standby:636",
            },
            "database": {
                "configmap": "shop/db",
                "key": "DB_HOST",
                "primary": "db-0.db",
                "standby": "db-1.db",
            },
            "recovery_jobs": [
                {"namespace": "shop", "cronjob": "reindex"},
                {
                    "name": "rebuild-cache",
                    "namespace": "shop",
                    "template": {
                        "spec": {
                            "backoffLimit": 2,
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [{"name": "rebuild", "image": "shop/tool:1.2"}],
                                }
                            },
                        }
                    },
                },
            ],
            "bulk_cleanup": {"cap": 50, "older_than_minutes": 30},
            "shared_controllers": ["tekton-pipelines/tekton-pipelines-controller"],
            "subsystems": {
                "search": {"description": "full-text search", "workload": "shop/search-indexer"},
                "recommendations": {
                    "configmap": "shop/features",
                    "key": "RECOMMENDATIONS",
                    "off_value": "false",
                },
            },
            "registry_mirror": "mirror.gcr.io",
        },
    },
    "only-the-responder": {
        "serviceMonitor": {"enabled": False},
        "prometheusRule": {"enabled": False},
        "alertmanagerConfig": {"enabled": False},
        "dashboard": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "robot-sre"},
        "oci": {"enabled": True, "auth": "instance_principal"},
    },
}

CRD_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): operator_v1.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): operator_v1.PrometheusRule,
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): operator_v1alpha1.AlertmanagerConfig,
}

_RENDERED: dict[str, dict[str, list[dict[str, Any]]]] = {}


def rendered(variant: str) -> dict[str, list[dict[str, Any]]]:
    if variant not in _RENDERED:
        _RENDERED[variant] = render_chart(VARIANTS[variant], namespace=NAMESPACE)
    return _RENDERED[variant]


def only(docs: list[dict[str, Any]], name_suffix: str = "") -> dict[str, Any]:
    matching = [d for d in docs if d["metadata"]["name"].endswith(name_suffix)]
    assert len(matching) == 1, [d["metadata"]["name"] for d in docs]
    return matching[0]


def container(variant: str) -> dict[str, Any]:
    deployment = only(by_kind(rendered(variant), "Deployment"), "robot-sre")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def env_of(variant: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(variant)["env"]}


def unknown_fields(given: Any, known: Any, path: str = "") -> list[str]:
    """Paths present in ``given`` that the model dropped (unknown fields)."""
    if isinstance(given, dict):
        if not isinstance(known, dict):
            return [path or "/"]
        problems = []
        for key, value in given.items():
            if key not in known:
                problems.append(f"{path}/{key}")
            else:
                problems += unknown_fields(value, known[key], f"{path}/{key}")
        return problems
    if isinstance(given, list) and isinstance(known, list) and len(given) == len(known):
        return [
            p
            for i, (g, k) in enumerate(zip(given, known, strict=True))
            for p in unknown_fields(g, k, f"{path}/{i}")
        ]
    return []


#: the HTTPRoute fields the chart uses (Gateway API v1; no schema package for
#: it reaches this machine, so its shape is checked by hand)
HTTPROUTE_SPEC = {"parentRefs", "hostnames", "rules"}
HTTPROUTE_RULE = {"matches", "backendRefs"}


def validate_manifest(doc: dict[str, Any]) -> None:
    if (doc["apiVersion"], doc["kind"]) == ("gateway.networking.k8s.io/v1", "HTTPRoute"):
        assert set(doc["spec"]) <= HTTPROUTE_SPEC and doc["spec"]["parentRefs"]
        for rule in doc["spec"]["rules"]:
            assert set(rule) <= HTTPROUTE_RULE
            for match in rule["matches"]:
                assert match["path"]["type"] in ("Exact", "PathPrefix")
        return
    model = CRD_MODELS.get((doc["apiVersion"], doc["kind"]))
    if model is not None:
        parsed = model.model_validate(doc)
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert not unknown_fields(doc, dumped), f"{doc['kind']}: fields the CRD does not know"
        return
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


# ------------------------------------------------------------------ lint, render, schemas


def test_chart_lints_clean() -> None:
    engine = helm()
    for variant, values in VARIANTS.items():
        report = engine.lint(str(CHART), values, namespace=NAMESPACE, with_subcharts=True)
        assert report["errors"] == [], (variant, report)
        findings = [m for m in report["messages"] if m["severity"] >= 2]
        assert findings == [], (variant, findings)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_rendered_manifest_is_valid(variant: str) -> None:
    docs = all_manifests(rendered(variant))
    assert docs
    for doc in docs:
        try:
            validate_manifest(doc)
        except Exception as exc:
            raise AssertionError(
                f"{variant}: {doc['kind']}/{doc['metadata']['name']}: {exc}"
            ) from exc


def test_the_crd_check_catches_an_unknown_field() -> None:
    rule = only(by_kind(rendered("defaults"), "ServiceMonitor"))
    broken = json.loads(json.dumps(rule))
    broken["spec"]["endpoints"][0]["scrapeTimout"] = "10s"
    with pytest.raises(AssertionError, match="fields the CRD does not know"):
        validate_manifest(broken)


def test_every_kind_the_chart_promises_is_rendered() -> None:
    kinds = {doc["kind"] for doc in all_manifests(rendered("defaults"))}
    assert kinds >= {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceMonitor",
        "PrometheusRule",
        "AlertmanagerConfig",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }


BAD_VALUES = [
    {"environment": "prod"},
    {"replicaCount": 0},
    {"externalRedis": {"url": "redis://:hunter2@redis:6379/0"}},
    {"channels": {"slack": {"enabled": True, "existingSecret": ""}}},
    {"oci": {"enabled": True, "existingSecret": ""}},
    {"settings": {"webhook_token": "inline"}},
    {"prometheusRule": {"thresholds": {"http_5xx_ratio": "high"}}},
    {"podDisruptionBudget": {"maxUnavailable": 1, "minAvailable": 1}},
    {"secretEnv": [{"name": "ROBOT_SRE_WEBHOOK_TOKEN", "secretName": "x", "key": "y"}]},
    {"dependencies": [{"name": "r", "kind": "redis", "url": "redis://:pw@redis:6379"}]},
    {"typo": True},
    {"channels": {"telegram": {"mode": "push"}}},
    {"channels": {"slack": {"mode": "websocket"}}},
    {
        "channels": {
            "telegram": {"mode": "polling", "webhookUrl": "https://rs.test/webhooks/telegram"}
        }
    },
    {"channels": {"telegram": {"pollTimeoutSeconds": 60}}},
    {"channels": {"telegram": {"topics": {"production": "general"}}}},
    {"channels": {"slack": {"commandReplySeconds": 3}}},
    {"channels": {"publicUrl": "robot-sre.example.test"}},
    {"alertmanagerUrl": "http://admin:hunter2@alertmanager:9093"},
    {"prometheus": {"url": "http://reader:hunter2@prometheus:9090"}},
    {"prometheus": {"settings": {"bearer_token_env": "TOKEN"}}},
    {"remedies": {"standby": "db-1"}},
    {"remedies": {"ldap": {"configmap": "glauth", "key": "LDAP_URL", "fallback": "ldaps://b"}}},
    {"remedies": {"shared_controllers": ["daemonset/kube-system/cilium"]}},
    {"remedies": {"recovery_jobs": [{"namespace": "shop"}]}},
    {"remedies": {"subsystems": {"s": {"configmap": "a/b", "key": "K", "off_value": False}}}},
    {"remedies": {"subsystems": {"s": {"workload": "a/b", "configmap": "a/c", "key": "K"}}}},
    {"settings": {"slack_app_token": "xapp-inline"}},
]


def bad_values_id(values: dict[str, Any]) -> str:
    """The path of the one leaf a bad value sets, e.g. channels.slack.mode."""
    path: list[str] = []
    node: Any = values
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        path.append(str(key))
        node = node[key]
    return ".".join(path)


@pytest.mark.parametrize("values", BAD_VALUES, ids=bad_values_id)
def test_values_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    engine = helm()
    with engine.Chart.load(str(CHART)) as chart, pytest.raises(engine.HelmError):
        chart.validate_schema(values)


def test_several_replicas_on_sqlite_are_refused() -> None:
    engine = helm()
    with (
        engine.Chart.load(str(CHART)) as chart,
        pytest.raises(engine.HelmError, match="shared store"),
    ):
        chart.render({"replicaCount": 2}, name="rs", namespace=NAMESPACE)


def test_both_redis_sources_are_refused() -> None:
    engine = helm()
    values = {"redis": {"enabled": True}, "externalRedis": {"url": "redis://r:6379/0"}}
    with engine.Chart.load(str(CHART)) as chart, pytest.raises(engine.HelmError, match="not both"):
        chart.render(values, name="rs", namespace=NAMESPACE)


def test_an_unknown_threshold_is_refused() -> None:
    engine = helm()
    values = {"prometheusRule": {"thresholds": {"http_500_ratio": 0.1}}}
    with (
        engine.Chart.load(str(CHART)) as chart,
        pytest.raises(engine.HelmError, match="http_500_ratio"),
    ):
        chart.render(values, name="rs", namespace=NAMESPACE)


# ------------------------------------------------------------------ RBAC


def rbac_rules(variant: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for kind in ("ClusterRole", "Role"):
        for role in by_kind(rendered(variant), kind):
            found += [(f"{kind}/{role['metadata']['name']}", rule) for rule in role["rules"]]
    return found


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_role_has_a_wildcard(variant: str) -> None:
    for role, rule in rbac_rules(variant):
        for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
            assert not any("*" in item for item in rule.get(field, [])), (variant, role, rule)


def documented_permissions() -> set[tuple[str, str, str]]:
    """(api group, resource, verb) from the permission table in docs/rbac.md
    (the rows after its "| API group |" header)."""
    lines = (REPO / "docs" / "rbac.md").read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| API group |"))
    found = set()
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        group = "" if cells[0] in ('""', "core") else cells[0]
        for resource in re.split(r",\s*", cells[1]):
            for verb in re.split(r",\s*", cells[2]):
                found.add((group, resource.strip("`"), verb.strip("`")))
    return found


def granted(variant: str) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for _, rule in rbac_rules(variant)
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_rbac_grants_exactly_the_documented_permissions() -> None:
    documented = documented_permissions()
    assert ("", "pods/eviction", "create") in documented
    assert granted("defaults") == documented
    assert granted("everything-configured") == documented


def test_helm_release_secrets_are_read_through_roles_by_default() -> None:
    secrets = ("", "secrets", "get")
    cluster = [r for kind in ("ClusterRole",) for r in by_kind(rendered("defaults"), kind)]
    assert all(secrets[1] not in rule["resources"] for role in cluster for rule in role["rules"])
    roles = by_kind(rendered("defaults"), "Role")
    assert [role["metadata"]["namespace"] for role in roles] == [NAMESPACE]
    watched = by_kind(rendered("sqlite-persistent-watched-namespaces"), "Role")
    assert sorted(r["metadata"]["namespace"] for r in watched) == [
        "image-factory",
        "tekton-pipelines",
    ]
    for binding in by_kind(rendered("sqlite-persistent-watched-namespaces"), "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rs-robot-sre", "namespace": NAMESPACE}
        ]
    assert by_kind(rendered("everything-configured"), "Role") == []
    cluster_wide = only(by_kind(rendered("everything-configured"), "ClusterRole"), "helm-releases")
    assert cluster_wide["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update"]}
    ]


def test_tls_secrets_are_read_only_where_asked() -> None:
    assert not [r for r in by_kind(rendered("defaults"), "Role") if "tls" in r["metadata"]["name"]]
    roles = [r for r in by_kind(rendered("chat-exposed"), "Role") if "tls" in r["metadata"]["name"]]
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["monitoring", "shop"]
    for role in roles:
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    bindings = [
        b
        for b in by_kind(rendered("chat-exposed"), "RoleBinding")
        if "tls" in b["metadata"]["name"]
    ]
    assert {b["roleRef"]["name"] for b in bindings} == {"rs-robot-sre-tls-secrets"}
    assert all(b["subjects"][0]["name"] == "rs-robot-sre" for b in bindings)


def test_no_rbac_when_switched_off() -> None:
    kinds = {doc["kind"] for doc in all_manifests(rendered("only-the-responder"))}
    assert not kinds & {
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    }
    pod = only(by_kind(rendered("only-the-responder"), "Deployment"))["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "robot-sre"


# ------------------------------------------------------------------ the pod


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pods_run_non_root_on_a_read_only_root_filesystem(variant: str) -> None:
    for deployment in by_kind(rendered(variant), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for box in pod["containers"]:
            context = box["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, box["name"]
            assert context["allowPrivilegeEscalation"] is False, box["name"]
            assert context["capabilities"]["drop"] == ["ALL"], box["name"]
            assert box["resources"]["requests"] and box["resources"]["limits"]["memory"]
            assert box["livenessProbe"] and box["readinessProbe"]


def test_responder_probes_healthz_and_readyz() -> None:
    box = container("defaults")
    assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert box["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert box["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert box["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_store_follows_the_values() -> None:
    assert (
        env_of("defaults")["ROBOT_SRE_STORE_URL"]["value"]
        == "sqlite:////var/lib/robot-sre/robot-sre.db"
    )
    bundled = env_of("bundled-redis")
    assert bundled["ROBOT_SRE_STORE_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@rs-redis:6379/0"
    assert bundled["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "robot-sre-redis",
        "key": "password",
    }
    external = env_of("external-redis-production")["ROBOT_SRE_STORE_URL"]
    assert external["valueFrom"]["secretKeyRef"] == {"name": "robot-sre-store", "key": "url"}
    redis = only(by_kind(rendered("bundled-redis"), "Deployment"), "-redis")
    assert "$(REDIS_PASSWORD)" in redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "noeviction" in redis["spec"]["template"]["spec"]["containers"][0]["args"]
    for variant in ("bundled-redis", "external-redis-production"):
        strategy = only(by_kind(rendered(variant), "Deployment"), "robot-sre")["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
    assert only(by_kind(rendered("defaults"), "Deployment"))["spec"]["strategy"] == {
        "type": "Recreate"
    }
    claim = only(by_kind(rendered("sqlite-persistent-watched-namespaces"), "PersistentVolumeClaim"))
    assert claim["spec"]["storageClassName"] == "oci-bv"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_secrets_are_referenced_never_inlined(variant: str) -> None:
    for entry in container(variant)["env"]:
        name = entry["name"]
        if re.search(r"TOKEN|SECRET|PASSWORD", name):
            assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], entry
        if "value" in entry:
            assert not re.search(r"://[^/@:]*:[^/@$]+@", entry["value"]), entry
    secrets = by_kind(rendered(variant), "Secret")
    expected = (
        []
        if VARIANTS[variant].get("webhook", {}).get("existingSecret")
        else ["rs-robot-sre-webhook-token"]
    )
    assert [s["metadata"]["name"] for s in secrets] == expected


def test_channel_and_oci_secrets_are_wired_by_reference() -> None:
    env = env_of("everything-configured")
    assert env["ROBOT_SRE_SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "robot-sre-slack",
        "key": "bot-token",
    }
    assert (
        env["ROBOT_SRE_TELEGRAM_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
        == "robot-sre-telegram"
    )
    assert env["DEP_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "runtime-redis",
        "key": "password",
    }
    assert env["ROBOT_SRE_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "alertmanager-robot-sre",
        "key": "bearer",
    }
    pod = only(by_kind(rendered("everything-configured"), "Deployment"))["spec"]["template"]["spec"]
    oci = next(v for v in pod["volumes"] if v["name"] == "oci")
    assert oci["secret"]["secretName"] == "robot-sre-oci"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["oci"] == {"name": "oci", "mountPath": "/etc/robot-sre/oci", "readOnly": True}
    instance_principal = only(by_kind(rendered("only-the-responder"), "Deployment"))["spec"][
        "template"
    ]["spec"]
    assert "oci" not in {v["name"] for v in instance_principal["volumes"]}


def settings_file(variant: str, tmp_path: Path) -> Path:
    config = only(by_kind(rendered(variant), "ConfigMap"), "-config")
    path = tmp_path / f"{variant}.yaml"
    path.write_text(config["data"]["config.yaml"], encoding="utf-8")
    return path


def responder_settings(variant: str, tmp_path: Path) -> Settings:
    """The settings the responder loads in the pod: the rendered settings file
    and the container's environment, each Secret reference standing for a value."""
    environ = {
        entry["name"]: entry.get("value")
        or "from-{name}-{key}".format(**entry["valueFrom"]["secretKeyRef"])
        for entry in container(variant)["env"]
    }
    environ["ROBOT_SRE_CONFIG"] = str(settings_file(variant, tmp_path))
    return load_settings(environ)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_settings_file_is_accepted_by_the_responder(variant: str, tmp_path: Path) -> None:
    settings = responder_settings(variant, tmp_path)
    values = VARIANTS[variant]
    assert settings.environment.value == values.get("environment", "demo")
    assert settings.dry_run is values.get("dryRun", True)
    assert settings.policies_dir == "/etc/robot-sre/policies.cel"
    assert len(settings.allowlist_extra) == len(values.get("allowlistExtra", []))
    if variant == "everything-configured":
        assert settings.oci is not None and settings.oci.region == "eu-frankfurt-1"
        assert settings.oci.config_file == "/etc/robot-sre/oci/config"
        assert [d.name for d in settings.dependencies] == ["redis"]
        # with the chart's channel ids the channels section is complete, so a
        # responder with the tokens set starts instead of refusing its config
        assert settings.channels.slack is not None
        assert settings.channels.slack.channel == "C0OPS"
        assert settings.channels.telegram is not None
        assert settings.channels.telegram.chat_id == "-1001234567890"
    if variant == "external-redis-production":
        assert settings.quiet_period_seconds == {"*": 300}


def test_chat_console_values_reach_the_settings(tmp_path: Path) -> None:
    settings = responder_settings("chat-console-and-remedies", tmp_path)
    channels = settings.channels
    assert channels.public_url == "https://robot-sre.example.test"
    assert channels.dashboard_url == "https://grafana.example.test/d/robot-sre"
    assert channels.slack is not None and channels.telegram is not None
    assert (channels.slack.mode, channels.slack.command_reply_seconds) == ("socket", 2.0)
    assert settings.slack_app_token == "from-robot-sre-slack-xapp"
    telegram = channels.telegram
    assert (telegram.mode, telegram.webhook_url) == ("polling", None)
    assert (telegram.poll_timeout_seconds, telegram.poll_lease_seconds) == (0, 45.0)
    assert telegram.dialog_timeout_seconds == 120.5
    assert telegram.topics == {"production": 12, "node_disk_pressure": 34}
    assert settings.alertmanager_url == "http://kube-prometheus-stack-alertmanager.monitoring:9093"


def test_default_chat_modes_are_webhooks_without_an_app_token(tmp_path: Path) -> None:
    settings = responder_settings("everything-configured", tmp_path)
    assert settings.channels.slack is not None and settings.channels.telegram is not None
    assert settings.channels.slack.mode == "http"
    assert settings.channels.slack.command_reply_seconds == 2.5
    assert settings.channels.telegram.mode == "webhook"
    assert settings.channels.telegram.poll_timeout_seconds == 20
    assert settings.channels.telegram.dialog_timeout_seconds == 300
    assert settings.channels.public_url is None
    assert "ROBOT_SRE_SLACK_APP_TOKEN" not in env_of("everything-configured")
    assert settings.alertmanager_url is None and settings.prometheus is None
    assert settings.remedies == Remedies()


def test_prometheus_values_reach_the_settings_with_the_token_by_reference(
    tmp_path: Path,
) -> None:
    settings = responder_settings("chat-console-and-remedies", tmp_path)
    prometheus = settings.prometheus
    assert prometheus is not None
    assert prometheus.url == "http://kube-prometheus-stack-prometheus.monitoring:9090"
    assert (prometheus.error_ratio_threshold, prometheus.scope_labels) == (
        0.1,
        ("ingress", "service"),
    )
    assert prometheus.bearer_token_env is not None
    token = env_of("chat-console-and-remedies")[prometheus.bearer_token_env]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "prometheus-reader", "key": "token"}


def test_the_network_policy_lets_the_responder_reach_alertmanager_and_prometheus() -> None:
    def egress_ports(variant: str) -> set[int]:
        policy = only(by_kind(rendered(variant), "NetworkPolicy"), "robot-sre")
        return {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}

    assert {9093, 9090} <= egress_ports("chat-console-and-remedies")
    assert not {9093, 9090} & egress_ports("defaults")


def test_remedies_reach_the_settings_whole(tmp_path: Path) -> None:
    remedies = responder_settings("chat-console-and-remedies", tmp_path).remedies
    given = VARIANTS["chat-console-and-remedies"]["remedies"]
    assert remedies == Remedies.model_validate(given)
    assert remedies.ldap is not None and remedies.ldap.fallback == "ldaps://standby:636"
    assert remedies.database is not None and remedies.database.standby == "db-1.db"
    assert [job.source for job in remedies.recovery_jobs] == [
        "cronjob/reindex",
        "template rebuild-cache",
    ]
    assert remedies.bulk_cleanup.cap == 50
    controller = "deployment/tekton-pipelines/tekton-pipelines-controller"
    assert remedies.shared_controllers == [controller]
    assert remedies.subsystems["recommendations"].off_value == "false"
    assert remedies.registry_mirror == "mirror.gcr.io"


def test_policy_files_mount_as_a_loadable_policies_dir(tmp_path: Path) -> None:
    config_map = only(by_kind(rendered("defaults"), "ConfigMap"), "-policies")
    pod = only(by_kind(rendered("defaults"), "Deployment"))["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "policies")
    shipped = {
        str(path.relative_to(REPO / "policies.cel")): path.read_text(encoding="utf-8")
        for path in [
            *(REPO / "policies.cel").glob("*.yaml"),
            *(REPO / "policies.cel" / "environments").glob("*.yaml"),
        ]
    }
    mounted = {}
    for item in volume["configMap"]["items"]:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_map["data"][item["key"]], encoding="utf-8")
        mounted[item["path"]] = config_map["data"][item["key"]]
    assert mounted == shipped
    engine = PolicyEngine.load(builtin_taxonomy(), tmp_path)
    assert set(engine.policies.environments) and engine.policies.hard_constraints is not None


def test_policy_overrides_replace_a_file() -> None:
    override = "name: production\nrule:\n  match: []\n"
    docs = render_chart({"policies": {"overrides": {"environments/production.yaml": override}}})
    config_map = only(by_kind(docs, "ConfigMap"), "-policies")
    assert config_map["data"]["environments__production.yaml"] == override


# ------------------------------------------------------------------ kube-prometheus-stack pieces


def test_prometheus_rule_carries_every_alert_rules_group() -> None:
    rule = only(by_kind(rendered("defaults"), "PrometheusRule"))
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    shipped = [group for path in rule_files() for group in load_yaml(path)["groups"]]
    # the same rules, the runbook links pointing at the responder's /runbooks
    served = json.loads(
        json.dumps(shipped).replace(
            "https://robot-sre.invalid/runbooks/",
            "http://rs-robot-sre.monitoring.svc:8080/runbooks/",
        )
    )
    assert sorted(rule["spec"]["groups"], key=lambda g: g["name"]) == sorted(
        served, key=lambda g: g["name"]
    )


def test_prometheus_rule_values_tune_thresholds_labels_and_runbooks() -> None:
    rule = only(by_kind(rendered("everything-configured"), "PrometheusRule"))
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    assert records["robot_sre:threshold:http_5xx_ratio"] == "vector(0.02)"
    assert records["robot_sre:threshold:tls_cert_expiry_days"] == "vector(21)"
    assert records["robot_sre:threshold:redis_memory_used_ratio"] == "vector(0.90)"
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert "RedisMemorySaturated" not in alerts and "RedisDown" in alerts
    for alert in alerts.values():
        assert alert["labels"]["team"] == "sre"
        assert alert["annotations"]["runbook_url"].startswith(
            "https://git.example.test/org/robot-sre/blob/main/docs/runbooks/"
        ), alert["alert"]
    assert alerts["NodeDiskPressure"]["labels"]["taxonomy_type"] == "node_disk_pressure"


def test_service_monitor_scrapes_the_service() -> None:
    monitor = only(by_kind(rendered("defaults"), "ServiceMonitor"))
    service = only(by_kind(rendered("defaults"), "Service"))
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_alertmanager_config_posts_to_the_service_with_the_token_secret() -> None:
    for variant in ("defaults", "everything-configured"):
        config = only(by_kind(rendered(variant), "AlertmanagerConfig"))
        receiver = config["spec"]["receivers"][0]
        assert config["spec"]["route"]["receiver"] == receiver["name"]
        webhook = receiver["webhookConfigs"][0]
        assert webhook["url"] == f"http://rs-robot-sre.{NAMESPACE}.svc:8080/webhooks/alertmanager"
        assert webhook["sendResolved"] is True
        credentials = webhook["httpConfig"]["authorization"]["credentials"]
        token_env = env_of(variant)["ROBOT_SRE_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert credentials == token_env
        # Alertmanager never sends more alerts than the responder accepts
        config_map = next(
            c for c in by_kind(rendered(variant), "ConfigMap") if "config.yaml" in c["data"]
        )
        settings = yaml.safe_load(config_map["data"]["config.yaml"])
        assert webhook["maxAlerts"] == settings["max_alerts_per_payload"] >= 1
    defaults = only(by_kind(rendered("defaults"), "AlertmanagerConfig"))
    secret = only(by_kind(rendered("defaults"), "Secret"))
    assert (
        secret["metadata"]["name"]
        == defaults["spec"]["receivers"][0]["webhookConfigs"][0]["httpConfig"]["authorization"][
            "credentials"
        ]["name"]
    )
    assert len(secret["data"]["token"]) >= 40


def test_dashboard_config_map_is_the_committed_dashboard() -> None:
    config_map = only(by_kind(rendered("defaults"), "ConfigMap"), "-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["robot-sre.json"]) == json.loads(
        DASHBOARD.read_text(encoding="utf-8")
    )
    folder = only(by_kind(rendered("everything-configured"), "ConfigMap"), "-dashboard")
    assert folder["metadata"]["annotations"] == {"grafana_folder": "Robot SRE"}


def test_disruption_budget_and_network_policy_select_the_pods() -> None:
    pod_labels = only(by_kind(rendered("defaults"), "Deployment"))["spec"]["template"]["metadata"][
        "labels"
    ]
    budget = only(by_kind(rendered("defaults"), "PodDisruptionBudget"))
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["maxUnavailable"] == 1
    assert only(by_kind(rendered("bundled-redis"), "PodDisruptionBudget"))["spec"] == {
        "minAvailable": 1,
        "selector": budget["spec"]["selector"],
    }
    policies = {
        p["metadata"]["name"]: p for p in by_kind(rendered("bundled-redis"), "NetworkPolicy")
    }
    responder = policies["rs-robot-sre"]
    assert responder["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    peers = [peer["podSelector"]["matchLabels"] for peer in responder["spec"]["ingress"][0]["from"]]
    assert {"app.kubernetes.io/name": "alertmanager"} in peers
    assert {"app.kubernetes.io/name": "prometheus"} in peers
    redis_egress = [
        rule for rule in responder["spec"]["egress"] if rule["ports"][0]["port"] == 6379
    ]
    assert (
        redis_egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis"
    )
    redis = policies["rs-redis"]
    assert redis["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "robot-sre",
        "app.kubernetes.io/instance": "rs",
    }


def test_default_values_keep_state_across_a_pod_restart() -> None:
    docs = rendered("defaults")
    claim = only(by_kind(docs, "PersistentVolumeClaim"))
    pod = only(by_kind(docs, "Deployment"))["spec"]["template"]["spec"]
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["data"] == "/var/lib/robot-sre"
    assert env_of("defaults")["ROBOT_SRE_STORE_URL"]["value"].startswith("sqlite:////var/lib/")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def _routed(path: str, rules: list[tuple[str, str]]) -> bool:
    """Whether an Ingress/HTTPRoute path rule sends ``path`` on (Prefix
    matches whole path elements, as Kubernetes does)."""
    for kind, value in rules:
        if kind == "Exact" and path == value:
            return True
        if kind in ("Prefix", "PathPrefix") and (path == value or path.startswith(value + "/")):
            return True
    return False


def test_the_ingress_and_route_expose_the_chat_callbacks_and_nothing_else() -> None:
    from starlette.routing import Mount, Route

    from responder.app import create_app
    from responder.settings import Settings

    app = create_app(Settings(store_url="sqlite:///:memory:"))
    paths = []
    for route in app.routes:
        if isinstance(route, Route):
            paths.append(route.path)
        elif isinstance(route, Mount):
            paths += [route.path + sub.path for sub in route.routes if isinstance(sub, Route)]
    docs = rendered("chat-exposed")
    ingress = only(by_kind(docs, "Ingress"))
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "robot-sre.example.test"
    ingress_rules = [(p["pathType"], p["path"]) for p in rule["http"]["paths"]]
    [route_rule] = only(by_kind(docs, "HTTPRoute"))["spec"]["rules"]
    route_rules = [(m["path"]["type"], m["path"]["value"]) for m in route_rule["matches"]]
    chat = {"/webhooks/slack/interactions", "/webhooks/slack/commands", "/webhooks/telegram"}
    assert {p for p in paths if _routed(p, ingress_rules)} == chat
    assert {p for p in paths if _routed(p, route_rules)} == chat
    assert not by_kind(rendered("defaults"), "Ingress")
    assert not by_kind(rendered("defaults"), "HTTPRoute")


def test_the_network_policy_admits_the_ingress_only_when_it_is_enabled() -> None:
    def peers(variant: str) -> list[Any]:
        policy = only(by_kind(rendered(variant), "NetworkPolicy"), "robot-sre")
        return [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]

    controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    }
    assert controller not in peers("defaults")
    assert controller in peers("chat-exposed")


def test_replicas_are_spread_over_nodes() -> None:
    spec = only(by_kind(rendered("chat-exposed"), "Deployment"), "robot-sre")["spec"]["template"]
    terms = spec["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"].items()
        <= spec["metadata"]["labels"].items()
    )
    assert (
        "affinity"
        not in only(by_kind(rendered("defaults"), "Deployment"))["spec"]["template"]["spec"]
    )


def test_chart_notes_explain_the_matcher_strategy() -> None:
    engine = helm()
    with engine.Chart.load(str(CHART)) as chart:
        notes = chart.render({}, name="rs", namespace=NAMESPACE)["robot-sre/templates/NOTES.txt"]
    assert "alertmanagerConfigMatcherStrategy" in notes
    assert "dry run" in notes


def test_values_yaml_documents_every_schema_property() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert set(values) <= set(schema["properties"])
    assert set(schema["properties"]) - {"global"} == set(values)


def test_packaged_chart_carries_the_linked_files(tmp_path: Path) -> None:
    """files/ links to alert_rules/, dashboards/ and policies.cel/: `helm
    package` must put their contents (not the links) into the archive, without
    the tests and generators .helmignore leaves out."""
    import tarfile

    engine = helm()
    archive = engine.package(str(CHART), destination=str(tmp_path))
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert all(not member.issym() for member in tar.getmembers())
    assert "robot-sre/files/alert_rules/infrastructure.yaml" in names
    assert "robot-sre/files/dashboards/robot-sre.json" in names
    assert "robot-sre/files/policies.cel/environments/production.yaml" in names
    assert "robot-sre/charts/redis/Chart.yaml" in names
    assert not any("/tests/" in name or name.endswith(".py") for name in names), sorted(names)
    with engine.Chart.load(archive) as chart:
        packaged = chart.render({}, name="rs", namespace=NAMESPACE)
    assert yaml.safe_load(packaged["robot-sre/templates/prometheusrule.yaml"]) == only(
        by_kind(rendered("defaults"), "PrometheusRule")
    )


# ------------------------------------------------------------------ applied to a cluster

CLUSTER_SCOPED = frozenset({"ClusterRole", "ClusterRoleBinding", "Namespace"})


def api_path(doc: dict[str, Any]) -> str:
    """Where a manifest is created: /api/v1/… for the core group, /apis/… else."""
    kind = doc["kind"].lower()
    plural = kind + ("es" if kind.endswith("s") else "s")
    if kind.endswith("y"):
        plural = kind[:-1] + "ies"
    group = "/api/v1" if doc["apiVersion"] == "v1" else f"/apis/{doc['apiVersion']}"
    if doc["kind"] in CLUSTER_SCOPED:
        return f"{group}/{plural}"
    return f"{group}/namespaces/{doc['metadata']['namespace']}/{plural}"


@pytest.mark.parametrize("variant", ["defaults", "chat-exposed", "everything-configured"])
def test_the_rendered_manifests_apply_to_an_emulated_cluster(
    variant: str, kube_cluster: KubeCluster
) -> None:
    docs = all_manifests(rendered(variant))
    with httpx.Client(base_url=kube_cluster.url, timeout=5) as api:
        for doc in docs:
            collection = api_path(doc)
            created = api.post(collection, json=doc)
            assert created.status_code in (200, 201), (doc["kind"], created.text)
            read = api.get(f"{collection}/{doc['metadata']['name']}").json()
            assert read["kind"] == doc["kind"]
            for field in ("spec", "data", "rules", "subjects", "roleRef"):
                assert read.get(field) == doc.get(field), (doc["kind"], field)
    assert len(docs) >= 15
