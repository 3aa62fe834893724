"""The Ingress executor: ``patch_ingress`` puts a route back on an IngressClass
and a Service port that exist; ``patch_tls`` points a TLS entry at a TLS Secret
that can serve its hosts, or sets a cert-manager Certificate's ``Issuing``
condition as ``cmctl renew`` does. Plans record the spec fields they change;
the inverse sets them back (params ``restore``) without the forward checks."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from responder.actions.kube_calls import expect_kind, named, namespace_of, read_existing, undo
from responder.actions.tls_secrets import usable_certificate
from responder.kube import MERGE_PATCH, Kube, KubeError, meta
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target

DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
CERTIFICATES = ("cert-manager.io", "v1", "certificates")
RENEWAL_REASON = "ManuallyTriggered"
# the spec fields each action owns: what it patches and what its inverse restores
OWNED = {"patch_ingress": ("ingressClassName", "rules", "defaultBackend"), "patch_tls": ("tls",)}
ABSENT = "absent"


class IngressExecutor:
    actions: frozenset[str] = frozenset({"patch_ingress", "patch_tls"})

    def __init__(
        self, kube: Kube | None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """``kube`` None: no cluster is configured; plans raise and applies
        are ``not_available``."""
        self.kube = kube
        self.clock = clock

    def plan(self, request: ActionRequest) -> Plan:
        if request.action not in self.actions:
            raise ValueError(f"the Ingress executor does not serve {request.action}")
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        if request.action == "patch_tls" and request.target.kind.lower() == "certificate":
            return self._plan_renewal(self.kube, request)
        expect_kind(request, ("ingress",))
        ingress = _read_ingress(self.kube, request.target)
        spec = ingress.get("spec") or {}
        restore = request.params.get("restore")
        if restore is not None:
            return _restore_plan(request, spec, restore)
        if request.action == "patch_ingress":
            return self._plan_route(self.kube, request, spec)
        return self._plan_tls(self.kube, request, spec)

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        if plan.request.action not in self.actions:
            return ActionOutcome("failed", f"not an Ingress action: {plan.request.action}", plan)
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        try:
            if "renew" in plan.changes:
                return self._apply_renewal(self.kube, plan)
            return _apply_spec(self.kube, plan)
        except KubeError as exc:
            return ActionOutcome("failed", str(exc), plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        """The request that sets the changed spec fields back as recorded;
        None for a renewal (a certificate cannot be un-issued)."""
        if not plan.changes or "renew" in plan.changes:
            return None
        return undo(plan.request, plan.request.action, {"restore": dict(plan.previous)})

    # patch_ingress

    def _plan_route(self, kube: Kube, request: ActionRequest, spec: Mapping[str, Any]) -> Plan:
        params = request.params
        wanted_class, backend = params.get("ingress_class"), params.get("backend")
        if wanted_class is not None and not isinstance(wanted_class, str):
            raise ValueError("patch_ingress params.ingress_class must be a string")
        changed: dict[str, Any] = {}
        if wanted_class or backend is None:
            changed["ingressClassName"] = _ingress_class(kube, wanted_class or None)
        if backend is not None:
            changed.update(_rerouted(kube, request, spec, backend))
        return _spec_plan(request, spec, changed)

    # patch_tls

    def _plan_tls(self, kube: Kube, request: ActionRequest, spec: Mapping[str, Any]) -> Plan:
        target, params = request.target, request.params
        secret_name, host = params.get("secret"), params.get("host")
        if not isinstance(secret_name, str) or not secret_name:
            raise ValueError("patch_tls of an ingress needs params.secret, the TLS Secret to use")
        if host is not None and not isinstance(host, str):
            raise ValueError("patch_tls params.host must be a string")
        entries = [dict(entry) for entry in spec.get("tls") or []]
        index = _tls_entry(entries, host, named(target))
        namespace = namespace_of(target)
        where = f"secret {namespace}/{secret_name}"
        secret = read_existing(
            kube, where, kube.core.read_namespaced_secret, secret_name, namespace
        )
        hosts = entries[index].get("hosts") or ([host] if host else [])
        certificate = usable_certificate(secret, where, hosts, self.clock())
        entries[index]["secretName"] = secret_name
        plan = _spec_plan(request, spec, {"tls": entries})
        until = certificate.not_after.strftime("%Y-%m-%d")
        summary = f"{plan.summary} (its certificate is valid until {until})"
        return Plan(request, plan.previous, plan.changes, summary, plan.diff)

    # patch_tls of a cert-manager Certificate

    def _plan_renewal(self, kube: Kube, request: ActionRequest) -> Plan:
        target = request.target
        certificate = _read_certificate(kube, target)
        status = certificate.get("status") or {}
        issuing = _condition(status, "Issuing")
        previous = {"issuing": issuing.get("status"), "notAfter": status.get("notAfter")}
        if issuing.get("status") == "True":
            return Plan(request, previous, {}, f"{named(target)} is already being issued")
        until = f" (now valid until {status['notAfter']})" if status.get("notAfter") else ""
        return Plan(
            request,
            previous,
            {"renew": True},
            f"renew {named(target)} as cmctl renew does: cert-manager issues it again{until}",
            (
                Change(
                    f"condition Issuing of {named(target)}",
                    issuing.get("status") or ABSENT,
                    f"True ({RENEWAL_REASON})",
                ),
            ),
        )

    def _apply_renewal(self, kube: Kube, plan: Plan) -> ActionOutcome:
        target = plan.request.target
        # the conditions are read again: cert-manager may have changed the
        # others since the plan, and a merge patch replaces the whole list
        certificate = _read_certificate(kube, target)
        conditions = [dict(c) for c in (certificate.get("status") or {}).get("conditions") or []]
        if any(c.get("type") == "Issuing" and c.get("status") == "True" for c in conditions):
            return ActionOutcome("skipped", f"{named(target)} is already being issued", plan)
        issuing = {
            "type": "Issuing",
            "status": "True",
            "reason": RENEWAL_REASON,
            "message": "Certificate re-issuance manually triggered by Robot SRE "
            f"(incident {plan.request.incident_id})",
            "lastTransitionTime": self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if meta(certificate).get("generation") is not None:
            issuing["observedGeneration"] = meta(certificate)["generation"]
        kept = [c for c in conditions if c.get("type") != "Issuing"]
        group, version, plural = CERTIFICATES
        kube.call(
            f"patch {named(target)} status",
            kube.custom.patch_namespaced_custom_object_status,
            group,
            version,
            namespace_of(target),
            plural,
            target.name,
            {
                "metadata": {"resourceVersion": meta(certificate).get("resourceVersion")},
                "status": {"conditions": [*kept, issuing]},
            },
            _content_type=MERGE_PATCH,
        )
        return ActionOutcome("succeeded", f"issuance of {named(target)} triggered", plan)


# reading


def _read_ingress(kube: Kube, target: Target) -> dict[str, Any]:
    namespace = namespace_of(target)
    found: dict[str, Any] = kube.call(
        f"get {named(target)}", kube.networking.read_namespaced_ingress, target.name, namespace
    )
    return found


def _read_certificate(kube: Kube, target: Target) -> dict[str, Any]:
    group, version, plural = CERTIFICATES
    found: dict[str, Any] = kube.call(
        f"get {named(target)}",
        kube.custom.get_namespaced_custom_object,
        group,
        version,
        namespace_of(target),
        plural,
        target.name,
    )
    return found


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return {}


def _ingress_class(kube: Kube, wanted: str | None) -> str:
    """``wanted`` when that IngressClass exists; without one, the cluster's
    default class, or its only one."""
    if wanted:
        read_existing(kube, f"IngressClass {wanted}", kube.networking.read_ingress_class, wanted)
        return wanted
    classes = kube.items("list ingressclasses", kube.networking.list_ingress_class)
    names = sorted(str(meta(c).get("name")) for c in classes)
    defaults = [
        str(meta(c).get("name"))
        for c in classes
        if (meta(c).get("annotations") or {}).get(DEFAULT_CLASS) == "true"
    ]
    if len(defaults) == 1:
        return defaults[0]
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError("no IngressClass exists in the cluster to route the ingress through")
    raise ValueError(
        f"name params.ingress_class: the cluster has no single default IngressClass "
        f"among {', '.join(names)}"
    )


def _rerouted(
    kube: Kube, request: ActionRequest, spec: Mapping[str, Any], backend: Any
) -> dict[str, Any]:
    """The spec field (``rules`` or ``defaultBackend``) with the selected
    path pointing at ``backend``, a Service port that exists."""
    if not isinstance(backend, Mapping) or not isinstance(backend.get("service"), str):
        raise ValueError("patch_ingress params.backend needs service (a name) and port")
    service_name, port = backend["service"], backend.get("port")
    port_ref = _service_port(kube, namespace_of(request.target), service_name, port)
    new_backend = {"service": {"name": service_name, "port": port_ref}}
    host, path = request.params.get("host"), request.params.get("path")
    rules = copy.deepcopy(list(spec.get("rules") or []))
    matches = [
        (rule, entry)
        for rule in rules
        for entry in (rule.get("http") or {}).get("paths") or []
        if (host is None or rule.get("host") == host)
        and (path is None or entry.get("path") == path)
    ]
    if not matches and host is None and path is None and spec.get("defaultBackend"):
        return {"defaultBackend": new_backend}
    if len(matches) != 1:
        where = " ".join(f"{k} {v}" for k, v in (("host", host), ("path", path)) if v) or "any"
        found = "no path" if not matches else f"{len(matches)} paths"
        raise ValueError(
            f"{named(request.target)} has {found} for {where}: name params.host and params.path"
        )
    matches[0][1]["backend"] = new_backend
    return {"rules": rules}


def _service_port(kube: Kube, namespace: str, service_name: str, port: Any) -> dict[str, Any]:
    """The backend port for ``port`` (a number or a name) of the Service;
    ValueError when the Service or that port is missing."""
    where = f"service {namespace}/{service_name}"
    service = read_existing(kube, where, kube.core.read_namespaced_service, service_name, namespace)
    ports = [p for p in (service.get("spec") or {}).get("ports") or [] if isinstance(p, Mapping)]
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, int) and not isinstance(port, bool):
        if any(p.get("port") == port for p in ports):
            return {"number": port}
    elif isinstance(port, str) and port:
        if any(p.get("name") == port for p in ports):
            return {"name": port}
    else:
        raise ValueError("patch_ingress params.backend.port must be a port number or name")
    offered = ", ".join(
        f"{p.get('port')}/{p['name']}" if p.get("name") else str(p.get("port")) for p in ports
    )
    raise ValueError(f"{where} has no port {port} (it has {offered or 'none'})")


def _tls_entry(entries: list[dict[str, Any]], host: str | None, what: str) -> int:
    if host is not None:
        for index, entry in enumerate(entries):
            if host in (entry.get("hosts") or []):
                return index
        raise ValueError(f"{what} has no TLS entry for host {host}")
    if len(entries) == 1:
        return 0
    if not entries:
        raise ValueError(f"{what} has no TLS section")
    raise ValueError(f"{what} has {len(entries)} TLS entries: name params.host")


# plans of spec fields


def _spec_plan(request: ActionRequest, spec: Mapping[str, Any], changed: Mapping[str, Any]) -> Plan:
    """The plan that sets ``changed`` spec fields, recording their values now."""
    target = request.target
    changes = {field: value for field, value in changed.items() if spec.get(field) != value}
    previous = {field: copy.deepcopy(spec.get(field)) for field in changes}
    if not changes:
        return Plan(request, previous, {}, f"{named(target)} already routes as asked")
    after = {**spec, **changes}
    diff = _diff(spec, after)
    summary = f"patch {named(target)}: " + "; ".join(
        f"{c.what} {c.before} → {c.after}" for c in diff
    )
    return Plan(request, previous, changes, summary, diff)


def _restore_plan(request: ActionRequest, spec: Mapping[str, Any], restore: Any) -> Plan:
    owned = OWNED[request.action]
    if not isinstance(restore, Mapping) or not restore or not set(restore) <= set(owned):
        raise ValueError(
            f"{request.action} params.restore names the recorded fields among {', '.join(owned)}"
        )
    return _spec_plan(request, spec, restore)


def _apply_spec(kube: Kube, plan: Plan) -> ActionOutcome:
    target = plan.request.target
    ingress = _read_ingress(kube, target)
    spec = ingress.get("spec") or {}
    moved = [field for field in plan.changes if spec.get(field) != plan.previous.get(field)]
    if moved:
        return ActionOutcome(
            "failed",
            f"{named(target)} changed since the plan ({', '.join(moved)}): not patched; plan again",
            plan,
        )
    kube.call(
        f"patch {named(target)}",
        kube.networking.patch_namespaced_ingress,
        target.name,
        namespace_of(target),
        {
            # a write in between (by a person, a controller) fails it: 409
            "metadata": {"resourceVersion": meta(ingress).get("resourceVersion")},
            "spec": plan.changes,
        },
        _content_type=MERGE_PATCH,
    )
    return ActionOutcome("succeeded", f"{named(target)} patched ({plan.summary})", plan)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """Per field an approver reads: the class, each path's backend, each TLS
    entry's Secret."""
    lines: list[Change] = []
    if before.get("ingressClassName") != after.get("ingressClassName"):
        lines.append(
            Change(
                "ingressClassName",
                before.get("ingressClassName") or ABSENT,
                after.get("ingressClassName") or ABSENT,
            )
        )
    for label, values in (("backend of", _backends), ("TLS secret of", _tls_secrets)):
        old, new = values(before), values(after)
        for where in dict.fromkeys([*old, *new]):
            if old.get(where) != new.get(where):
                lines.append(
                    Change(f"{label} {where}", old.get(where, ABSENT), new.get(where, ABSENT))
                )
    return tuple(lines)


def _backends(spec: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    if spec.get("defaultBackend"):
        found["the default backend"] = _backend_text(spec["defaultBackend"])
    for rule in spec.get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            where = f"{rule.get('host') or '*'}{entry.get('path') or '/'}"
            found[where] = _backend_text(entry.get("backend") or {})
    return found


def _backend_text(backend: Mapping[str, Any]) -> str:
    service = backend.get("service")
    if isinstance(service, Mapping):
        port = service.get("port") or {}
        return f"{service.get('name')}:{port.get('number') or port.get('name') or '?'}"
    resource = backend.get("resource")
    if isinstance(resource, Mapping):
        return f"{resource.get('kind')}/{resource.get('name')}"
    return ABSENT


def _tls_secrets(spec: Mapping[str, Any]) -> dict[str, str]:
    return {
        ", ".join(entry.get("hosts") or []) or "every host": entry.get("secretName") or ABSENT
        for entry in spec.get("tls") or []
    }
