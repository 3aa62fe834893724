"""Reading Kubernetes API objects (nodes, pods, events, CronJobs) as the
plain dicts the client returns, for the Kubernetes evidence collectors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from responder.kube import meta
from responder.records.target import Target

JSON = dict[str, Any]


FINISHED_PHASES = ("Succeeded", "Failed")


PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff"})


MAX_REFS_PER_KIND = 10


def node_name(node: Mapping[str, Any]) -> str:
    return str(meta(node).get("name", ""))


def condition(node: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The node's condition of type ``kind``, None when it reports none."""
    for found in (node.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return found  # type: ignore[no-any-return]
    return None


def disk_pressure(node: Mapping[str, Any]) -> bool:
    """Whether the node reports DiskPressure=True."""
    return (condition(node, "DiskPressure") or {}).get("status") == "True"


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def pod_node(pod: Mapping[str, Any]) -> str | None:
    """The node the pod is scheduled on, None before scheduling."""
    return (pod.get("spec") or {}).get("nodeName")


def container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statuses of the pod's init containers, then of its containers."""
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def waiting_reasons(pod: Mapping[str, Any]) -> set[str]:
    """Why the pod's waiting containers wait (``ImagePullBackOff``, ...)."""
    return {
        str((c.get("state") or {}).get("waiting", {}).get("reason", ""))
        for c in container_statuses(pod)
        if (c.get("state") or {}).get("waiting")
    }


def key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
    return str(meta(obj).get("namespace") or ""), str(meta(obj).get("name") or "")


def involved(event: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the object an event is about."""
    involved = event.get("involvedObject") or {}
    return str(involved.get("namespace") or ""), str(involved.get("name") or "")


def event_refs(events: list[JSON]) -> list[str]:
    """Evidence refs of the first ``MAX_REFS_PER_KIND`` events."""
    return [f"k8s://events/{meta(e).get('uid')}" for e in events[:MAX_REFS_PER_KIND]]


def pairs(objects: list[JSON]) -> list[tuple[str, str]]:
    """(namespace, name) of each object."""
    return [(str(meta(o).get("namespace", "")), str(meta(o).get("name", ""))) for o in objects]


def keys(objects: list[JSON]) -> list[str]:
    """``namespace/name`` of each object."""
    return [f"{ns}/{name}" for ns, name in pairs(objects)]


def name_list(names: Iterable[str]) -> str:
    """The first five names, comma-separated, and how many more there are."""
    listed = list(names)
    shown = ", ".join(listed[:5])
    return shown + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")


def suspend_targets(cronjobs: list[JSON]) -> dict[str, tuple[Target, ...]]:
    """The ``suspend_cronjob`` targets naming ``cronjobs`` (none when empty)."""
    if not cronjobs:
        return {}
    return {
        "suspend_cronjob": tuple(
            Target(kind="cronjob", namespace=ns, name=name) for ns, name in pairs(cronjobs)
        )
    }
