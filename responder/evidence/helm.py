"""Helm release drift (``release_drift_or_partial_apply``), read from the
release secrets Helm 3 keeps, not from the ``helm`` binary.

The latest revision's status, images and pull secrets are compared with the
live objects; a release that differs is named as the ``helm_reconcile``
target."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from responder.evidence.collector import Evidence
from responder.evidence.kubernetes import KubeCollector, secret_exists
from responder.kube import Kube, KubeError, meta
from responder.records.incident import Incident, Signal
from responder.records.target import Target

RELEASE_SECRET_TYPE = "helm.sh/release.v1"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
WORKLOAD_KINDS = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
}
GZIP_MAGIC = b"\x1f\x8b\x08"


class ReleaseDecodeError(ValueError):
    pass


@dataclass(frozen=True)
class HelmRelease:
    """One revision of a release as Helm stored it."""

    name: str
    namespace: str
    revision: int
    status: str
    manifest: str
    chart: str
    secret: str
    values: Mapping[str, Any] = field(default_factory=dict)
    """the user-supplied values of the revision (Helm's ``config``)"""

    @property
    def ref(self) -> str:
        return f"k8s://secrets/{self.namespace}/{self.secret}"

    def workloads(self) -> list[Mapping[str, Any]]:
        """The Deployments, StatefulSets and DaemonSets of the manifest."""
        try:
            documents = list(yaml.safe_load_all(self.manifest))
        except yaml.YAMLError as exc:
            raise ReleaseDecodeError(f"{self.secret}: manifest is not YAML: {exc}") from exc
        return [d for d in documents if isinstance(d, dict) and d.get("kind") in WORKLOAD_KINDS]


def decode_release(data: str) -> dict[str, Any]:
    """The release JSON of a release secret's ``data.release`` value (as the
    Secret API returns it: base64 of Helm's base64 of gzipped JSON; releases
    stored before Helm compressed them are plain JSON inside)."""
    try:
        helm_text = base64.b64decode(data, validate=True)
        raw = base64.b64decode(helm_text, validate=True)
        if raw[:3] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
        release = json.loads(raw)
    except (binascii.Error, OSError, EOFError, ValueError) as exc:
        raise ReleaseDecodeError(f"cannot decode the release: {exc}") from exc
    if not isinstance(release, dict):
        raise ReleaseDecodeError("the release is not a JSON object")
    return release


def read_releases(kube: Kube, namespace: str, name: str | None = None) -> list[HelmRelease]:
    """Every stored revision of the releases in ``namespace`` (of release
    ``name`` only, if given), oldest first per release."""
    selector = "owner=helm" + (f",name={name}" if name else "")
    secrets = kube.items(
        f"list helm release secrets in {namespace}",
        kube.core.list_namespaced_secret,
        namespace,
        label_selector=selector,
    )
    found = []
    for secret in secrets:
        if secret.get("type") != RELEASE_SECRET_TYPE:
            continue
        secret_name = str(meta(secret).get("name", ""))
        release = decode_release(str((secret.get("data") or {}).get("release", "")))
        info = release.get("info") or {}
        chart = ((release.get("chart") or {}).get("metadata")) or {}
        found.append(
            HelmRelease(
                name=str(release.get("name", "")),
                namespace=str(release.get("namespace") or namespace),
                revision=int(release.get("version", 0)),
                status=str(info.get("status", "unknown")),
                manifest=str(release.get("manifest", "")),
                chart=f"{chart.get('name', '?')}-{chart.get('version', '?')}",
                secret=secret_name,
                values=config if isinstance(config := release.get("config"), dict) else {},
            )
        )
    return sorted(found, key=lambda r: (r.name, r.revision))


def latest(releases: list[HelmRelease]) -> dict[str, HelmRelease]:
    """The newest revision of each release, by name."""
    newest: dict[str, HelmRelease] = {}
    for release in releases:
        if release.name not in newest or release.revision > newest[release.name].revision:
            newest[release.name] = release
    return newest


class HelmDriftCollector(KubeCollector):
    """Evidence and exit criteria for ``release_drift_or_partial_apply``.

    Which releases: the ``helm_release`` label of the incident's alerts, else
    the release that owns the incident's workload (Helm's
    ``meta.helm.sh/release-name`` annotation), else every release of the
    incident's namespace."""

    name = "helm.release_drift"
    incident_types = frozenset({"release_drift_or_partial_apply"})

    def _collect(self, incident: Incident) -> Evidence:
        namespace, wanted = self._which(incident)
        if namespace is None:
            return Evidence(summary="the incident names no namespace to look for Helm releases in")
        releases = latest(read_releases(self.kube, namespace, wanted))
        if not releases:
            what = f"release {wanted}" if wanted else "Helm releases"
            return Evidence(summary=f"no {what} in {namespace}")
        signals: list[Signal] = []
        parts: list[str] = []
        refs: list[str] = []
        blocked = unhealthy = False
        drifted: list[Target] = []
        for release in releases.values():
            refs.append(release.ref)
            before = len(signals)
            label = f"{release.name} v{release.revision}"
            if release.status == "failed":
                signals.append(self._signal("helm_release_failed", "strong", f"{label} failed"))
                parts.append(f"{label} failed")
            elif release.status.startswith("pending-"):
                signals.append(
                    self._signal("helm_release_pending", "strong", f"{label} {release.status}")
                )
                parts.append(f"{label} {release.status}")
            drift = self._drift(release)
            refs.extend(drift.refs)
            blocked = blocked or drift.blocked
            unhealthy = unhealthy or drift.unhealthy
            for name, details in (
                ("image_drift", drift.images),
                ("missing_image_pull_secrets", drift.pull_secrets),
                ("release_resource_missing", drift.missing),
            ):
                if details:
                    signals.append(self._signal(name, "strong", "; ".join(details)[:500]))
                    parts.append(f"{label}: " + "; ".join(details))
            if len(signals) > before:
                drifted.append(
                    Target(kind="helmrelease", namespace=release.namespace, name=release.name)
                )
        return Evidence(
            signals=tuple(signals),
            facts={"rollout_blocked": blocked, "workloads_unhealthy": unhealthy},
            refs=tuple(dict.fromkeys(refs)),
            targets={"helm_reconcile": tuple(drifted)} if drifted else {},
            summary="; ".join(parts)[:1000]
            or "releases deployed, live workloads match: "
            + ", ".join(f"{r.name} v{r.revision}" for r in releases.values()),
            exit_criteria_met=not signals,
        )

    def _which(self, incident: Incident) -> tuple[str | None, str | None]:
        scope = incident.resource_scope
        named = incident.labels.get("helm_release") or next(
            (
                a.labels["helm_release"]
                for a in incident.alerts.values()
                if "helm_release" in a.labels
            ),
            None,
        )
        if named:
            return scope.namespace, named
        if scope.namespace and scope.kind in WORKLOAD_KINDS.values():
            try:
                live = self._read(scope.kind, scope.namespace, scope.name)
            except KubeError as exc:
                if not exc.not_found:
                    raise
                return scope.namespace, None
            annotations = meta(live).get("annotations") or {}
            release = annotations.get(RELEASE_NAME_ANNOTATION)
            if release:
                return annotations.get(RELEASE_NAMESPACE_ANNOTATION, scope.namespace), release
        return scope.namespace, None

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        read = {
            "deployment": self.kube.apps.read_namespaced_deployment,
            "statefulset": self.kube.apps.read_namespaced_stateful_set,
            "daemonset": self.kube.apps.read_namespaced_daemon_set,
        }[kind]
        found: dict[str, Any] = self.kube.call(
            f"get {kind} {namespace}/{name}", read, name, namespace
        )
        return found

    def _drift(self, release: HelmRelease) -> _Drift:
        drift = _Drift()
        for desired in release.workloads():
            kind = WORKLOAD_KINDS[desired["kind"]]
            name = str(meta(desired).get("name", ""))
            namespace = str(meta(desired).get("namespace") or release.namespace)
            key = f"{kind}/{namespace}/{name}"
            try:
                live = self._read(kind, namespace, name)
            except KubeError as exc:
                if not exc.not_found:
                    raise
                drift.missing.append(f"{key} is in the release but not in the cluster")
                continue
            drift.refs.append(f"k8s://{kind}s/{namespace}/{name}")
            wanted, actual = _images(desired), _images(live)
            for container, image in sorted(wanted.items()):
                if actual.get(container) != image:
                    drift.images.append(
                        f"{key} container {container}: live {actual.get(container)}, "
                        f"release {image}"
                    )
            declared, present = _pull_secrets(desired), _pull_secrets(live)
            for secret in sorted(declared - present):
                drift.pull_secrets.append(f"{key} lacks imagePullSecret {secret}")
            for secret in sorted(present):
                if secret_exists(self.kube, namespace, secret) is False:
                    drift.pull_secrets.append(f"{key} names imagePullSecret {secret}, not found")
            blocked, unhealthy = _rollout(live)
            drift.blocked = drift.blocked or blocked
            drift.unhealthy = drift.unhealthy or unhealthy
        return drift


@dataclass
class _Drift:
    """What differs between one release and the cluster."""

    images: list[str] = field(default_factory=list)
    pull_secrets: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    blocked: bool = False
    unhealthy: bool = False


def _pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def _images(workload: Mapping[str, Any]) -> dict[str, str]:
    spec = _pod_spec(workload)
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    return {str(c.get("name")): str(c.get("image")) for c in containers}


def _pull_secrets(workload: Mapping[str, Any]) -> set[str]:
    return {str(s.get("name")) for s in _pod_spec(workload).get("imagePullSecrets") or []}


def _rollout(live: Mapping[str, Any]) -> tuple[bool, bool]:
    """(rollout blocked, workload unhealthy) from the live status."""
    spec, status = live.get("spec") or {}, live.get("status") or {}
    if live.get("kind") == "DaemonSet" or "desiredNumberScheduled" in status:
        desired = int(status.get("desiredNumberScheduled", 0))
        updated = int(status.get("updatedNumberScheduled", desired))
        return updated < desired, int(status.get("numberUnavailable", 0)) > 0
    replicas = int(spec.get("replicas", 1))
    available = int(status.get("availableReplicas", status.get("readyReplicas", 0)))
    updated = int(status.get("updatedReplicas", replicas))
    stalled = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )
    return stalled or updated < replicas, available < replicas
