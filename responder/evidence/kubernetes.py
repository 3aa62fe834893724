"""Kubernetes evidence: what the cluster itself says about an incident.

One collector per question, sharing ``KubeCollector``. Primary signals are
strong, secondary ones weak, ``direct`` marks an error the failing component
reported itself. A collector only reads; an API failure is a weak
``collector_error`` signal, never an exception."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from responder.evidence.collector import Evidence
from responder.evidence.kube_objects import JSON
from responder.kube import Kube, KubeError, labels_of
from responder.records.incident import Incident, Signal

Clock = Callable[[], datetime]


COLLECTOR_ERROR = "collector_error"


DEFAULT_CORE_LABELS: Mapping[str, str] = {"tier": "core"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_core(labels: Mapping[str, str], core_labels: Mapping[str, str]) -> bool:
    """Core (customer-facing) when any of ``core_labels`` is set to its value."""
    return any(labels.get(key) == value for key, value in core_labels.items())


@dataclass(eq=False)
class KubeCollector:
    """What every Kubernetes collector shares: the client, the clock, the
    core-workload labels and the never-raise rule. A collector with settings
    of its own declares them as keyword-only fields of a dataclass subclass."""

    name = "kubernetes"
    incident_types: frozenset[str] = field(default=frozenset(), init=False)

    kube: Kube
    _: KW_ONLY
    core_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CORE_LABELS))
    clock: Clock = utcnow

    def __post_init__(self) -> None:
        self.core_labels = dict(self.core_labels)

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


#: the Secret types that hold registry credentials (``imagePullSecrets``)
DOCKER_CONFIG_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")


def pull_secret_names(kube: Kube, namespace: str) -> list[str] | None:
    """The names of the registry credential Secrets in ``namespace`` (their
    metadata only, never their values); None when the responder may not
    list Secrets there (403: no Role in that namespace)."""
    path = f"/api/v1/namespaces/{quote(namespace)}/secrets"
    try:
        return sorted(
            {
                name
                for secret_type in DOCKER_CONFIG_TYPES
                for name in kube.names(
                    f"list pull secrets in {namespace}", path, f"type={secret_type}"
                )
            }
        )
    except KubeError as exc:
        if exc.status == 403:
            return None
        raise
