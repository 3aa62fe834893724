"""Kubernetes evidence: what the cluster itself says about an incident.

One collector per question, sharing ``KubeCollector``. Primary signals are
strong, secondary ones weak, ``direct`` marks an error the failing component
reported itself. A collector only reads; an API failure is a weak
``collector_error`` signal, never an exception."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from responder.evidence.collector import Evidence
from responder.kube import Kube, KubeError, labels_of, meta
from responder.records.incident import Incident, Signal
from responder.records.target import Target

Clock = Callable[[], datetime]


JSON = dict[str, Any]


COLLECTOR_ERROR = "collector_error"


DEFAULT_CORE_LABELS: Mapping[str, str] = {"tier": "core"}


FINISHED_PHASES = ("Succeeded", "Failed")


PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff"})


MAX_REFS_PER_KIND = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_core(labels: Mapping[str, str], core_labels: Mapping[str, str]) -> bool:
    """Core (customer-facing) when any of ``core_labels`` is set to its value."""
    return any(labels.get(key) == value for key, value in core_labels.items())


class KubeCollector:
    """What every Kubernetes collector shares: the client, the clock, the
    core-workload labels and the never-raise rule."""

    name = "kubernetes"
    incident_types: frozenset[str] = frozenset()

    def __init__(
        self,
        kube: Kube,
        *,
        core_labels: Mapping[str, str] = DEFAULT_CORE_LABELS,
        clock: Clock = utcnow,
    ) -> None:
        self.kube = kube
        self.core_labels = dict(core_labels)
        self.clock = clock

    def collect(self, incident: Incident) -> Evidence:
        try:
            return self._collect(incident)
        except KubeError as exc:
            return self._error(str(exc))
        except ValueError as exc:
            return self._error(f"unreadable answer: {exc}")
        except (KeyError, TypeError) as exc:
            return self._error(f"unexpected answer from the API: {type(exc).__name__}: {exc}")

    def _collect(self, incident: Incident) -> Evidence:
        raise NotImplementedError

    def _error(self, detail: str) -> Evidence:
        return Evidence(
            signals=(self._signal(COLLECTOR_ERROR, "weak", detail[:500]),),
            summary=f"could not read the cluster: {detail[:200]}",
        )

    def _signal(
        self, name: str, strength: Literal["strong", "weak"], detail: str, direct: bool = False
    ) -> Signal:
        return Signal(name=name, strength=strength, source=self.name, detail=detail, direct=direct)

    # reads shared by several collectors

    def _nodes(self) -> list[JSON]:
        return self.kube.items("list nodes", self.kube.core.list_node)

    def _pods(self, namespace: str | None = None, field_selector: str = "") -> list[JSON]:
        core = self.kube.core
        return self._list(
            "pods",
            namespace,
            field_selector,
            core.list_namespaced_pod,
            core.list_pod_for_all_namespaces,
        )

    def _events(self, field_selector: str, namespace: str | None = None) -> list[JSON]:
        core = self.kube.core
        return self._list(
            "events",
            namespace,
            field_selector,
            core.list_namespaced_event,
            core.list_event_for_all_namespaces,
            note=f" ({field_selector})",
        )

    def _list(
        self,
        kind: str,
        namespace: str | None,
        field_selector: str,
        namespaced: Callable[..., Any],
        everywhere: Callable[..., Any],
        note: str = "",
    ) -> list[JSON]:
        """The ``kind`` objects in ``namespace``, or in every namespace when it
        is None; ``note`` ends what a failure says was listed."""
        if namespace:
            return self.kube.items(
                f"list {kind} in {namespace}{note}",
                namespaced,
                namespace,
                field_selector=field_selector,
            )
        return self.kube.items(f"list {kind}{note}", everywhere, field_selector=field_selector)

    def _is_core_pod(self, pod: Mapping[str, Any]) -> bool:
        return is_core(labels_of(pod), self.core_labels)


def _suspend_targets(cronjobs: list[JSON]) -> dict[str, tuple[Target, ...]]:
    if not cronjobs:
        return {}
    return {
        "suspend_cronjob": tuple(
            Target(kind="cronjob", namespace=ns, name=name) for ns, name in _pairs(cronjobs)
        )
    }


def node_name(node: Mapping[str, Any]) -> str:
    return str(meta(node).get("name", ""))


def _condition(node: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _disk_pressure(node: Mapping[str, Any]) -> bool:
    return (_condition(node, "DiskPressure") or {}).get("status") == "True"


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def _pod_node(pod: Mapping[str, Any]) -> str | None:
    return (pod.get("spec") or {}).get("nodeName")


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def _waiting_reasons(pod: Mapping[str, Any]) -> set[str]:
    return {
        str((c.get("state") or {}).get("waiting", {}).get("reason", ""))
        for c in _container_statuses(pod)
        if (c.get("state") or {}).get("waiting")
    }


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
    return str(meta(obj).get("namespace") or ""), str(meta(obj).get("name") or "")


def _involved(event: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the object an event is about."""
    involved = event.get("involvedObject") or {}
    return str(involved.get("namespace") or ""), str(involved.get("name") or "")


def _event_refs(events: list[JSON]) -> list[str]:
    return [f"k8s://events/{meta(e).get('uid')}" for e in events[:MAX_REFS_PER_KIND]]


def _pairs(objects: list[JSON]) -> list[tuple[str, str]]:
    return [(str(meta(o).get("namespace", "")), str(meta(o).get("name", ""))) for o in objects]


def _keys(objects: list[JSON]) -> list[str]:
    return [f"{ns}/{name}" for ns, name in _pairs(objects)]


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    shown = ", ".join(listed[:5])
    return shown + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")


def secret_exists(kube: Kube, namespace: str, name: str) -> bool | None:
    """Whether the Secret exists (its metadata is read, never its values);
    None when the responder may not look (403: no Role in that namespace)."""
    try:
        return kube.exists(
            f"get secret {namespace}/{name}",
            f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}",
        )
    except KubeError as exc:
        if exc.status == 403:
            return None
        raise
