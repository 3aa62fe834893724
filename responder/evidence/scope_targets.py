"""The targets behind an incident's scope: an alert names an Ingress, a
Service or a pod, the actions act on the Deployment, StatefulSet or
DaemonSet behind it (``rollout_restart`` on ``service/auth/glauth`` restarts
the glauth Deployment its selector selects; on an Ingress, the workloads of
its backend Services), and the release actions on the Helm release that
manages that workload."""

from __future__ import annotations

from dataclasses import dataclass, field

from responder.evidence import owners
from responder.evidence.collector import Evidence
from responder.evidence.ingress import backend_services
from responder.evidence.kube_objects import JSON
from responder.evidence.kubernetes import KubeCollector
from responder.kube import ref
from responder.records.incident import Incident
from responder.records.target import Target
from responder.taxonomy.loader import builtin_taxonomy
from responder.taxonomy.models import ScopeKind

#: actions that act on the incident's workload itself
WORKLOAD_ACTIONS = frozenset({"rollout_restart", "scale_dependency", "force_field_ownership"})
#: actions that act on the Helm release managing the incident's workload
RELEASE_ACTIONS = frozenset({"helm_reconcile", "rollback_release", "uninstall_release"})
#: type → the actions another collector names targets for from its own
#: evidence: the pull error decides a registry type's, the release drift
#: which release to reconcile
NAMED_ELSEWHERE: dict[str, frozenset[str]] = {
    "registry_pull_failure": WORKLOAD_ACTIONS | RELEASE_ACTIONS,
    "release_drift_or_partial_apply": frozenset({"helm_reconcile"}),
}


def named_here(incident_type: str) -> frozenset[str]:
    """The actions of ``incident_type`` this collector names targets for."""
    known = builtin_taxonomy().incident_types.get(incident_type)
    if known is None or known.scope_kind not in (ScopeKind.workload, ScopeKind.service):
        return frozenset()
    mine = (WORKLOAD_ACTIONS | RELEASE_ACTIONS) - NAMED_ELSEWHERE.get(incident_type, frozenset())
    return mine & frozenset(known.candidate_actions)


def served_types() -> frozenset[str]:
    """The catalogue's types this collector names any target for."""
    return frozenset(t for t in builtin_taxonomy().incident_types if named_here(t))


@dataclass
class Behind:
    """What stands behind a scope: its workloads (with their live objects),
    every object whose Helm release counts, what was found, evidence refs."""

    workloads: list[tuple[Target, JSON]] = field(default_factory=list)
    managed: list[JSON] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


class ScopeTargetCollector(KubeCollector):
    """Names, for each of the incident type's workload and release actions,
    the targets of a kind the action accepts. Reads only; adds no signal
    (what stands behind a scope is not evidence of the problem)."""

    name = "kubernetes.scope_targets"
    incident_types = served_types()

    def _collect(self, incident: Incident) -> Evidence:
        scope = incident.resource_scope
        if not scope.namespace:
            return Evidence(summary=f"{scope.key}: no namespace to look for its workload in")
        behind = self._behind(scope.kind, scope.namespace, scope.name)
        releases = list(dict.fromkeys(r for obj in behind.managed if (r := owners.release_of(obj))))
        parts = behind.found + [f"Helm release {r.namespace}/{r.name} manages it" for r in releases]
        catalogue = builtin_taxonomy()
        targets: dict[str, tuple[Target, ...]] = {}
        for action in sorted(named_here(incident.incident_type)):
            if action in WORKLOAD_ACTIONS:
                pool = [target for target, _ in behind.workloads]
            else:
                pool = releases
            accepted = catalogue.action(action).target_kinds
            chosen = tuple(t for t in pool if t.kind in accepted)
            if chosen:
                targets[action] = chosen
        return Evidence(refs=tuple(behind.refs), summary="; ".join(parts), targets=targets)

    def _behind(self, kind: str, namespace: str, name: str) -> Behind:
        where = f"{namespace}/{name}"
        if kind == "service":
            service = owners.read_service(self.kube, namespace, name)
            if service is None:
                return Behind(found=[f"service {where} not found"])
            workloads = owners.workloads_selected_by(self.kube, service)
            text = ", ".join(f"{t.kind} {t.namespace}/{t.name}" for t, _ in workloads)
            return Behind(
                workloads=workloads,
                # the Service itself may be what the release manages (ingress types)
                managed=[service] + [obj for _, obj in workloads],
                found=[
                    f"service {where} selects "
                    + (text or "no Deployment, StatefulSet or DaemonSet")
                ],
                refs=[ref("services", name, namespace)]
                + [ref(f"{t.kind}s", t.name, namespace) for t, _ in workloads],
            )
        if kind == "ingress":
            ingress = owners.read_ingress(self.kube, namespace, name)
            if ingress is None:
                return Behind(found=[f"ingress {where} not found"])
            services = backend_services(ingress)
            behind = Behind(
                managed=[ingress],
                found=[f"ingress {where} routes to " + (", ".join(services) or "no Service")],
                refs=[ref("ingresses", name, namespace)],
            )
            for backend in services:
                found = self._behind("service", namespace, backend)
                behind.workloads += found.workloads
                behind.managed += found.managed
                behind.found += found.found
                behind.refs += found.refs
            return behind
        if kind == "pod":
            pods = self._pods(namespace, field_selector=f"metadata.name={name}")
            workload = owners.pod_workload(pods[0]) if pods else None
            if workload is None:
                return Behind(
                    found=[f"pod {where} runs under no Deployment, StatefulSet or DaemonSet"]
                )
            return self._behind(workload.kind, namespace, workload.name)
        if kind in owners.WORKLOAD_KINDS.values():
            target = Target(kind=kind, namespace=namespace, name=name)
            live = owners.read_workload(self.kube, target)
            if live is None:
                return Behind(found=[f"{kind} {where} not found"])
            return Behind(
                workloads=[(target, live)],
                managed=[live],
                found=[f"{kind} {where}"],
                refs=[ref(f"{kind}s", name, namespace)],
            )
        return Behind(found=[f"no workload behind {kind} {where}"])
