"""Kubernetes evidence for ``ingress_configuration_drift``: the Ingresses of
the scope (or of the URL its alerts probed), their class, backends and
admission, the controller's Warning events, and their TLS certificates
(``tls_failure``). Names ``patch_ingress`` and ``patch_tls`` targets; a valid
TLS Secret for a failing Ingress goes in a weak ``tls_secret_available:
<namespace>/<ingress>`` signal, which ``replacement_tls_secret`` reads back,
and in the ``patch_tls`` params of that Ingress."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from responder.evidence import kube_objects as objects
from responder.evidence.collector import Evidence
from responder.evidence.kube_objects import JSON, MAX_REFS_PER_KIND
from responder.evidence.kubernetes import KubeCollector, is_core
from responder.evidence.tls_certificates import (
    TLS_SECRET_TYPE,
    Certificate,
    host_matches,
    read_tls_secret,
)
from responder.kube import KubeError, labels_of, meta, parse_time, ref
from responder.records.incident import Incident, ParamValue, Signal
from responder.records.target import Target

INGRESS_TYPE = "ingress_configuration_drift"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
REPLACEMENT_SIGNAL = "tls_secret_available"
_REPLACEMENT = re.compile(r"^secret/(?P<namespace>[^/\s]+)/(?P<name>\S+) replaces (?P<old>\S+)")


@dataclass(frozen=True)
class TlsReplacement:
    """A valid TLS Secret the evidence found for an Ingress whose TLS fails,
    and the Secret name (``None``: none) of the TLS entry it would replace."""

    ingress: Target
    secret: Target
    replaces: str | None


def replacement_tls_secret(incident: Incident, ingress: Target) -> TlsReplacement | None:
    """The replacement Secret the ingress evidence named for ``ingress``, if any."""
    wanted = f"{REPLACEMENT_SIGNAL}:{ingress.namespace}/{ingress.name}"
    for signal in incident.signals:
        found = _REPLACEMENT.match(signal.detail) if signal.name == wanted else None
        if found:
            old = found["old"]
            secret = Target(kind="secret", namespace=found["namespace"], name=found["name"])
            return TlsReplacement(ingress, secret, None if old == "-" else old)
    return None


def ingress_hosts(ingress: Mapping[str, Any]) -> list[str]:
    """The hosts of the Ingress's rules and TLS entries."""
    spec = ingress.get("spec") or {}
    hosts = [str(rule["host"]) for rule in spec.get("rules") or [] if rule.get("host")]
    hosts += [str(h) for entry in spec.get("tls") or [] for h in entry.get("hosts") or []]
    return list(dict.fromkeys(hosts))


def backend_services(ingress: Mapping[str, Any]) -> list[str]:
    """The names of the Services the Ingress routes to."""
    spec = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend") or {}]
    backends += [
        path.get("backend") or {}
        for rule in spec.get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    ]
    names = [str((b.get("service") or {}).get("name") or "") for b in backends]
    return list(dict.fromkeys(name for name in names if name))


@dataclass
class Findings:
    """What is wrong with one Ingress."""

    ingress: JSON
    routing: list[tuple[str, str]] = field(default_factory=list)
    """(signal name, sentence) of each routing problem"""
    tls: list[str] = field(default_factory=list)
    expiring: list[str] = field(default_factory=list)
    replacement: str | None = None
    """the ``tls_secret_available`` signal's detail, when a Secret was found"""
    replacement_params: dict[str, str] = field(default_factory=dict)
    """``patch_tls`` params that put the replacement in: the Secret, and the
    host of its TLS entry when the Ingress has more than one"""
    unreadable: list[str] = field(default_factory=list)
    """the TLS Secrets (``namespace/name``) the responder may not read"""

    @property
    def key(self) -> tuple[str, str]:
        return objects.key(self.ingress)

    @property
    def not_admitted(self) -> bool:
        """The controller gave it no load-balancer address."""
        status = (self.ingress.get("status") or {}).get("loadBalancer") or {}
        return not status.get("ingress")

    @property
    def target(self) -> Target:
        namespace, name = self.key
        return Target(kind="ingress", namespace=namespace, name=name)


@dataclass(eq=False, kw_only=True)
class IngressCollector(KubeCollector):
    """Evidence and exit criteria for ``ingress_configuration_drift``. Exit
    criteria hold when no Ingress served shows a routing or TLS problem."""

    name = "kubernetes.ingress"
    incident_types = frozenset({INGRESS_TYPE})

    expiry_warning_days: int = 14
    max_ingresses: int = 20
    event_window: timedelta = timedelta(hours=1)

    def _collect(self, incident: Incident) -> Evidence:
        scope = incident.resource_scope
        hosts = probed_hosts(incident)
        # a probed URL's Ingress may live in any namespace (the alert's is the prober's)
        listed = self._list(
            "ingresses",
            None if hosts else scope.namespace,
            "",
            self.kube.networking.list_namespaced_ingress,
            self.kube.networking.list_ingress_for_all_namespaces,
        )
        served = sorted(
            (
                i
                for i in listed
                if (
                    scope.namespace in (None, objects.key(i)[0])
                    and _serves(i, scope.kind, scope.name)
                )
                or any(host_matches(h, host) for h in ingress_hosts(i) for host in hosts)
            ),
            key=objects.key,
        )
        if not served:
            return self._none_served(scope.kind, scope.namespace, scope.name)
        shown, more = served[: self.max_ingresses], len(served) - self.max_ingresses
        findings = [Findings(i) for i in shown]
        namespaces = {found.key[0] for found in findings}
        self._check_class(findings)
        self._check_backends(findings)
        self._check_events(findings, namespaces.pop() if len(namespaces) == 1 else None)
        secrets: dict[tuple[str, str], JSON | None] = {}
        for found in findings:
            self._check_tls(found, secrets)
        return self._evidence(findings, more)

    # the checks

    def _check_class(self, findings: list[Findings]) -> None:
        classes = self.kube.items("list ingressclasses", self.kube.networking.list_ingress_class)
        names = {str(meta(c).get("name")) for c in classes}
        default = any(
            (meta(c).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
            for c in classes
        )
        for found in findings:
            annotations = meta(found.ingress).get("annotations") or {}
            wanted = (found.ingress.get("spec") or {}).get("ingressClassName") or annotations.get(
                CLASS_ANNOTATION
            )
            if wanted and wanted not in names:
                found.routing.append(
                    ("ingress_class_missing", f"IngressClass {wanted} does not exist")
                )
            elif not wanted and not default:
                found.routing.append(
                    ("ingress_class_missing", "names no IngressClass and none is the default")
                )

    def _check_backends(self, findings: list[Findings]) -> None:
        known: dict[tuple[str, str], bool | None] = {}
        for found in findings:
            namespace = found.key[0]
            for service in backend_services(found.ingress):
                if (namespace, service) not in known:
                    known[(namespace, service)] = self._service_exists(namespace, service)
                if known[(namespace, service)] is False:
                    found.routing.append(
                        (
                            "ingress_backend_missing",
                            f"backend Service {namespace}/{service} does not exist",
                        )
                    )

    def _check_events(self, findings: list[Findings], namespace: str | None) -> None:
        now = self.clock()
        events = self._events("involvedObject.kind=Ingress,type=Warning", namespace)
        by_ingress = {found.key: found for found in findings}
        for event in events:
            found = by_ingress.get(objects.involved(event))
            when = parse_time(event.get("lastTimestamp") or event.get("eventTime"))
            if found is None or (when is not None and now - when > self.event_window):
                continue
            component = (event.get("source") or {}).get("component") or "the controller"
            found.routing.append(
                (
                    "ingress_controller_warning",
                    f"{component}: {event.get('reason', '')}: {event.get('message', '')}"[:300],
                )
            )

    def _check_tls(self, found: Findings, secrets: dict[tuple[str, str], JSON | None]) -> None:
        now = self.clock()
        namespace = found.key[0]
        spec = found.ingress.get("spec") or {}
        rule_hosts = [str(r["host"]) for r in spec.get("rules") or [] if r.get("host")]
        for entry in spec.get("tls") or []:
            hosts = [str(h) for h in entry.get("hosts") or []] or rule_hosts
            name = entry.get("secretName")
            if name and (namespace, name) not in secrets:
                try:
                    secrets[(namespace, name)] = self._secret(namespace, name)
                except KubeError as exc:
                    if exc.status != 403:
                        raise
                    found.unreadable.append(f"{namespace}/{name}")
                    continue
            secret = secrets.get((namespace, name or ""))
            problem, expiring = self._tls_problem(namespace, name, secret, hosts, now)
            if expiring is not None:
                found.expiring.append(expiring)
            if problem is None:
                continue
            found.tls.append(problem)
            if found.replacement is None:
                candidate = self._replacement(namespace, name, hosts, now)
                if candidate is not None:
                    replacement, certificate = candidate
                    found.replacement_params = {"secret": replacement}
                    if len(spec.get("tls") or []) > 1 and entry.get("hosts"):
                        found.replacement_params["host"] = str(entry["hosts"][0])
                    found.replacement = (
                        f"secret/{namespace}/{replacement} replaces {name or '-'} "
                        f"(hosts {', '.join(hosts)}; valid until {certificate.not_after:%Y-%m-%d})"
                    )

    def _tls_problem(
        self, namespace: str, name: str | None, secret: JSON | None, hosts: list[str], now: datetime
    ) -> tuple[str | None, str | None]:
        """(why the TLS entry fails, when its certificate expires soon), each
        None when it does not."""
        if not name:
            return f"a TLS entry for {', '.join(hosts)} names no Secret", None
        where = f"Secret {namespace}/{name}"
        if secret is None:
            return f"{where} does not exist", None
        try:
            certificate = read_tls_secret(secret)
        except ValueError as exc:
            return f"{where} {exc}", None
        problem = certificate.problem(hosts, now)
        if problem is not None:
            return f"the certificate of {where} {problem}", None
        left = certificate.not_after - now
        if left >= timedelta(days=self.expiry_warning_days):
            return None, None
        return None, (
            f"the certificate of {where} expires in {left.days} days "
            f"({certificate.not_after:%Y-%m-%d})"
        )

    def _replacement(
        self, namespace: str, current: str | None, hosts: list[str], now: datetime
    ) -> tuple[str, Certificate] | None:
        """The valid TLS Secret of ``namespace`` covering ``hosts`` that stays
        valid longest, other than ``current`` (None also when the responder
        may not list them)."""
        try:
            listed = self.kube.items(
                f"list TLS secrets in {namespace}",
                self.kube.core.list_namespaced_secret,
                namespace,
                field_selector=f"type={TLS_SECRET_TYPE}",
            )
        except KubeError as exc:
            if exc.status == 403:
                return None
            raise
        usable = []
        for secret in listed:
            name = str(meta(secret).get("name", ""))
            if name == current or secret.get("type") != TLS_SECRET_TYPE:
                continue
            try:
                certificate = read_tls_secret(secret)
            except ValueError:
                continue
            if certificate.key_matches and certificate.problem(hosts, now) is None:
                usable.append((certificate.not_after, name, certificate))
        if not usable:
            return None
        _, name, certificate = max(usable)
        return name, certificate

    # reads

    def _secret(self, namespace: str, name: str) -> JSON | None:
        """The Secret (None when it does not exist)."""
        what = f"get secret {namespace}/{name}"
        found: JSON | None = self.kube.find(
            what, self.kube.core.read_namespaced_secret, name, namespace
        )
        return found

    def _service_exists(self, namespace: str, name: str) -> bool | None:
        try:
            return self.kube.exists(
                f"get service {namespace}/{name}",
                f"/api/v1/namespaces/{quote(namespace)}/services/{quote(name)}",
            )
        except KubeError as exc:
            if exc.status == 403:
                return None
            raise

    # the answer

    def _none_served(self, kind: str, namespace: str | None, name: str) -> Evidence:
        what = f"{kind} {namespace + '/' if namespace else ''}{name}"
        if kind not in ("ingress", "host", "instance"):
            return Evidence(summary=f"no Ingress routes to {what}")
        return Evidence(
            signals=(self._signal("ingress_missing", "strong", f"no Ingress serves {what}"),),
            summary=f"no Ingress serves {what}",
            exit_criteria_met=False,
        )

    def _evidence(self, findings: list[Findings], more: int) -> Evidence:
        signals: list[Signal] = []
        routing = [(f, name, text) for f in findings for name, text in f.routing]
        for name in dict.fromkeys(name for _, name, _ in routing):
            lines = [f"{_key(f)}: {text}" for f, n, text in routing if n == name]
            # the controller's own words about the Ingress are a direct error
            direct = name == "ingress_controller_warning"
            signals.append(self._signal(name, "strong", _joined(lines), direct=direct))
        failing_tls = [f for f in findings if f.tls]
        if failing_tls:
            lines = [f"{_key(f)}: {text}" for f in failing_tls for text in f.tls]
            signals.append(self._signal("tls_failure", "strong", _joined(lines)))
        expiring = [f"{_key(f)}: {text}" for f in findings for text in f.expiring]
        if expiring:
            signals.append(self._signal("tls_certificate_expiring", "weak", _joined(expiring)))
        unreadable = [name for f in findings for name in f.unreadable]
        if unreadable:
            signals.append(
                self._signal(
                    "tls_secret_unreadable",
                    "weak",
                    "no permission to read Secret " + objects.name_list(unreadable),
                )
            )
        not_admitted = [_key(f) for f in findings if f.not_admitted]
        if not_admitted:
            signals.append(
                self._signal(
                    "ingress_not_admitted",
                    "weak",
                    "no load-balancer address: " + objects.name_list(not_admitted),
                )
            )
        for found in findings:
            if found.replacement is not None:
                signals.append(
                    self._signal(f"{REPLACEMENT_SIGNAL}:{_key(found)}", "weak", found.replacement)
                )
        broken = [f for f in findings if f.routing]
        troubled = [f for f in findings if f.routing or f.tls]
        targets: dict[str, tuple[Target, ...]] = {}
        # nothing wrong in sight: the route the alerts report is one of these
        if broken or not troubled:
            targets["patch_ingress"] = tuple(f.target for f in broken or findings)
        if failing_tls:
            targets["patch_tls"] = tuple(f.target for f in failing_tls)
        params: dict[tuple[str, Target], Mapping[str, ParamValue]] = {
            ("patch_tls", f.target): f.replacement_params
            for f in failing_tls
            if f.replacement_params
        }
        refs = [ref("ingresses", f.key[1], f.key[0]) for f in findings[:MAX_REFS_PER_KIND]]
        plural = "Ingress" if len(findings) == 1 else "Ingresses"
        summary = f"{len(findings)} {plural} served ({objects.name_list(map(_key, findings))})"
        if more > 0:
            summary += f", {more} more not checked"
        if troubled:
            summary += "; " + "; ".join(
                f"{_key(f)}: " + ", ".join([t for _, t in f.routing] + f.tls) for f in troubled
            )
        else:
            summary += "; routes, classes, backends and certificates look right"
        return Evidence(
            signals=tuple(signals),
            facts={
                "core_workload": any(
                    is_core(labels_of(f.ingress), self.core_labels) for f in troubled
                )
            },
            refs=tuple(refs),
            summary=summary[:1000],
            # a certificate it may not read could be the one failing
            exit_criteria_met=False if troubled else (None if unreadable else True),
            targets=targets,
            params=params,
        )


def probed_hosts(incident: Incident) -> set[str]:
    """The hosts the incident's alerts name: the URL of a blackbox probe in
    ``instance``, or a ``host`` label."""
    hosts = set()
    for alert in incident.alerts.values():
        instance, host = alert.labels.get("instance", ""), alert.labels.get("host")
        if "://" in instance and urlsplit(instance).hostname:
            hosts.add(str(urlsplit(instance).hostname))
        if host:
            hosts.add(host)
    return hosts


def _serves(ingress: Mapping[str, Any], kind: str, name: str) -> bool:
    """Whether the Ingress serves a scope of ``kind`` named ``name`` (the
    namespace already matched): itself, a host (or a URL's host) it routes,
    a Service it routes to; any Ingress of the namespace serves other scopes."""
    if kind == "ingress":
        return meta(ingress).get("name") == name
    if kind in ("host", "instance"):
        host = urlsplit(name).hostname if "://" in name else name.rsplit(":", 1)[0]
        return any(host_matches(h, host or "") for h in ingress_hosts(ingress))
    if kind == "service":
        return name in backend_services(ingress)
    return True


def _key(found: Findings) -> str:
    return "/".join(found.key)


def _joined(lines: list[str]) -> str:
    return ("; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else ""))[:500]
