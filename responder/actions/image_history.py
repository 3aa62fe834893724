"""The image a workload's container last ran healthy: a Deployment's
ReplicaSets, a StatefulSet's or DaemonSet's ControllerRevisions. A revision
ran healthy when its pods serve now (ready or available replicas, a Ready
pod), as in a rollout stuck on a bad image; one scaled to 0 keeps no record
of its health and does not count (a person names ``params.image``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from responder.kube import Kube, controller_of, labels_of, meta

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HASH_LABEL = "controller-revision-hash"


@dataclass(frozen=True)
class Revision:
    """One revision of a workload's pod template."""

    number: int
    source: str  # as people read it: "ReplicaSet api-7d9f8 (revision 3)"
    images: dict[str, str]  # container name -> image
    healthy: bool


@dataclass(frozen=True)
class HealthyImage:
    container: str
    image: str
    source: str


def container_images(template: Mapping[str, Any]) -> dict[str, str]:
    """Container name -> image of a pod template."""
    containers = (template.get("spec") or {}).get("containers") or []
    return {str(c.get("name")): str(c.get("image")) for c in containers if c.get("name")}


def revisions(kube: Kube, kind: str, workload: Mapping[str, Any]) -> list[Revision]:
    """The workload's revisions, newest first."""
    if kind == "deployment":
        found = _replica_set_revisions(kube, workload)
    else:
        found = _controller_revisions(kube, workload)
    return sorted(found, key=lambda revision: revision.number, reverse=True)


def last_healthy_image(
    current: Mapping[str, str], history: list[Revision], container: str | None
) -> HealthyImage | None:
    """The image of the newest revision that ran healthy with another image
    of ``container`` than ``current`` has (any container whose image
    differs, when None). Raises ValueError when that revision changed the
    images of several containers and ``container`` is not given."""
    for revision in history:
        if not revision.healthy:
            continue
        differing = sorted(
            name
            for name, image in revision.images.items()
            if name in current and current[name] != image and container in (None, name)
        )
        if len(differing) > 1:
            raise ValueError(
                f"{revision.source} ran other images of containers {', '.join(differing)}; "
                "give params.container"
            )
        if differing:
            name = differing[0]
            return HealthyImage(name, revision.images[name], revision.source)
    return None


def _selector(workload: Mapping[str, Any]) -> str:
    match = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(match.items()))


def _owned(obj: Mapping[str, Any], workload: Mapping[str, Any]) -> bool:
    """Whether the workload controls ``obj`` (by uid when both carry one)."""
    uid = meta(workload).get("uid")
    for owner in meta(obj).get("ownerReferences") or []:
        if owner.get("controller") and owner.get("kind") == workload.get("kind"):
            if uid and owner.get("uid"):
                return bool(owner.get("uid") == uid)
            return bool(owner.get("name") == meta(workload).get("name"))
    return False


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _replica_set_revisions(kube: Kube, workload: Mapping[str, Any]) -> list[Revision]:
    namespace, name = str(meta(workload).get("namespace")), meta(workload).get("name")
    found = kube.items(
        f"list replicasets of deployment {namespace}/{name}",
        kube.apps.list_namespaced_replica_set,
        namespace,
        label_selector=_selector(workload),
    )
    history = []
    for replica_set in found:
        if not _owned(replica_set, workload):
            continue
        status = replica_set.get("status") or {}
        number = _number((meta(replica_set).get("annotations") or {}).get(REVISION_ANNOTATION))
        history.append(
            Revision(
                number=number,
                source=f"ReplicaSet {meta(replica_set).get('name')} (revision {number})",
                images=container_images((replica_set.get("spec") or {}).get("template") or {}),
                healthy=max(
                    _number(status.get("readyReplicas")), _number(status.get("availableReplicas"))
                )
                > 0,
            )
        )
    return history


def _controller_revisions(kube: Kube, workload: Mapping[str, Any]) -> list[Revision]:
    namespace, name = str(meta(workload).get("namespace")), meta(workload).get("name")
    what = f"{str(workload.get('kind')).lower()} {namespace}/{name}"
    selector = _selector(workload)
    found = kube.items(
        f"list controllerrevisions of {what}",
        kube.apps.list_namespaced_controller_revision,
        namespace,
        label_selector=selector,
    )
    pods = kube.items(
        f"list pods of {what}", kube.core.list_namespaced_pod, namespace, label_selector=selector
    )
    # A StatefulSet's pods carry the revision's name, a DaemonSet's its hash.
    serving = {
        labels_of(pod).get(REVISION_HASH_LABEL)
        for pod in pods
        if controller_of(pod) == (workload.get("kind"), name) and _ready(pod)
    }
    history = []
    for revision in found:
        if not _owned(revision, workload):
            continue
        template = ((revision.get("data") or {}).get("spec") or {}).get("template") or {}
        number = _number(revision.get("revision"))
        names = {meta(revision).get("name"), labels_of(revision).get(REVISION_HASH_LABEL)}
        history.append(
            Revision(
                number=number,
                source=f"ControllerRevision {meta(revision).get('name')} (revision {number})",
                images=container_images(template),
                healthy=any(name in serving for name in names if name),
            )
        )
    return history


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
