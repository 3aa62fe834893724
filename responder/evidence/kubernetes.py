"""Kubernetes evidence: what the cluster itself says about an incident.

One collector per question, each implementing the ``Collector`` protocol:

- :class:`DiskPressureCollector` (``node_disk_pressure``): DiskPressure
  condition and taint, the kubelet's eviction and image-GC events, the
  evicted pods, the finished-pod backlog and repeated image pulls on the
  pressured nodes, the CronJobs that left that backlog behind (named as
  ``suspend_cronjob`` targets), and the type's exit criteria;
- :class:`NodeReadinessCollector` (``node_unreachable_or_notready``): the
  Ready condition and the unreachable taint;
- both node collectors set the fact ``control_plane_node`` when they find
  the incident's node: whether the Node carries a control-plane role label
  (``node-role.kubernetes.io/control-plane`` or ``…/master``) or taint. The
  guard rails refuse node actions on such a node (``responder/guards/rails.py``),
  also when no alert carries the role;
- :class:`ImagePullCollector` (``registry_pull_failure``): pods that cannot
  pull, the registry's error classified, the pull secrets they name;
- :class:`JobBacklogCollector` (``background_job_buildup``): finished pods,
  Tekton history and the CronJobs that keep producing them (the noisy ones
  named as ``suspend_cronjob`` targets).

Strengths follow the taxonomy: its primary signals are strong, secondary
ones weak. ``direct`` marks an error the failing component reported itself
(a kubelet event, a container's waiting message). Signals carry the
collector's name as ``source``. A collector only reads; an API failure
becomes a weak ``collector_error`` signal and no facts, never an exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from responder.evidence.collector import Evidence
from responder.kube import Kube, KubeError, controller_of, labels_of, meta, parse_time, ref
from responder.records.incident import Incident, Signal
from responder.records.target import Target

Clock = Callable[[], datetime]
JSON = dict[str, Any]

COLLECTOR_ERROR = "collector_error"
DISK_PRESSURE_TAINT = "node.kubernetes.io/disk-pressure"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
CONTROL_PLANE_FACT = "control_plane_node"
DEFAULT_CORE_LABELS: Mapping[str, str] = {"tier": "core"}
FINISHED_PHASES = ("Succeeded", "Failed")
PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff"})
FAILING_WAIT_REASONS = PULL_ERRORS | {
    "CrashLoopBackOff",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
}
MAX_REFS_PER_KIND = 10

# Registry error classes, tried in order against the lower-cased message.
PULL_ERROR_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("registry_rate_limited", ("toomanyrequests", "429 too many requests", "rate limit")),
    ("registry_unauthorized", ("unauthorized", "authentication required", "401")),
    ("registry_forbidden", ("403 forbidden", "forbidden", "denied")),
    ("image_manifest_unknown", ("manifest unknown", "not found", "404")),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_core(labels: Mapping[str, str], core_labels: Mapping[str, str]) -> bool:
    """Core (customer-facing) when any of ``core_labels`` is set to its value."""
    return any(labels.get(key) == value for key, value in core_labels.items())


def classify_pull_error(message: str) -> str | None:
    """The registry error class of a pull failure message, or None."""
    text = message.lower()
    for name, needles in PULL_ERROR_CLASSES:
        if any(needle in text for needle in needles):
            return name
    return None


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
        if namespace:
            return self.kube.items(
                f"list pods in {namespace}",
                self.kube.core.list_namespaced_pod,
                namespace,
                field_selector=field_selector,
            )
        return self.kube.items(
            "list pods",
            self.kube.core.list_pod_for_all_namespaces,
            field_selector=field_selector,
        )

    def _events(self, field_selector: str, namespace: str | None = None) -> list[JSON]:
        if namespace:
            return self.kube.items(
                f"list events in {namespace} ({field_selector})",
                self.kube.core.list_namespaced_event,
                namespace,
                field_selector=field_selector,
            )
        return self.kube.items(
            f"list events ({field_selector})",
            self.kube.core.list_event_for_all_namespaces,
            field_selector=field_selector,
        )

    def _is_core_pod(self, pod: Mapping[str, Any]) -> bool:
        return is_core(labels_of(pod), self.core_labels)


class DiskPressureCollector(KubeCollector):
    """Evidence and exit criteria for ``node_disk_pressure``.

    The focus is the incident's node when the scope names one the cluster
    knows (by name, hostname label or address), else every pressured node."""

    name = "kubernetes.disk_pressure"
    incident_types = frozenset({"node_disk_pressure"})

    def __init__(
        self,
        kube: Kube,
        *,
        core_labels: Mapping[str, str] = DEFAULT_CORE_LABELS,
        clock: Clock = utcnow,
        eviction_burst: int = 3,
        backlog_threshold: int = 20,
        repeated_pulls: int = 3,
        lookback_seconds: int = 3600,
        quiet_seconds: int = 600,
        cronjob_backlog: int = 3,
    ) -> None:
        """``cronjob_backlog``: how many finished pods one CronJob must have
        left on the node(s) to be named as a target to suspend."""
        super().__init__(kube, core_labels=core_labels, clock=clock)
        self.eviction_burst = eviction_burst
        self.backlog_threshold = backlog_threshold
        self.repeated_pulls = repeated_pulls
        self.cronjob_backlog = cronjob_backlog
        self.lookback = timedelta(seconds=lookback_seconds)
        self.quiet = timedelta(seconds=quiet_seconds)

    def _collect(self, incident: Incident) -> Evidence:
        now = self.clock()
        nodes = self._nodes()
        pressured = [n for n in nodes if _disk_pressure(n) or _has_taint(n, DISK_PRESSURE_TAINT)]
        own = _focus_nodes(incident, nodes)
        focus = own or pressured
        names = {node_name(n) for n in focus}
        node_events = [
            e
            for e in self._events("involvedObject.kind=Node")
            if (e.get("involvedObject") or {}).get("name") in names
        ]
        pods = self._pods()
        on_focus = [p for p in pods if _pod_node(p) in names]
        pod_node = {_key(p): _pod_node(p) for p in pods}
        evictions = [
            e
            for e in self._events("reason=Evicted")
            if _event_host(e, pod_node) in names and _after(e, now - self.lookback)
        ]
        pulls = [e for e in self._events("reason=Pulling") if _event_host(e, pod_node) in names]

        signals: list[Signal] = []
        refs = [ref("nodes", name) for name in sorted(names)]
        parts: list[str] = []
        with_condition = [node_name(n) for n in focus if _disk_pressure(n)]
        if with_condition:
            signals.append(
                self._signal(
                    "disk_pressure_condition",
                    "strong",
                    "DiskPressure=True on " + _names(with_condition),
                )
            )
            parts.append("DiskPressure=True on " + _names(with_condition))
        tainted = [node_name(n) for n in focus if _has_taint(n, DISK_PRESSURE_TAINT)]
        if tainted:
            signals.append(
                self._signal(
                    "disk_pressure_taint", "strong", f"{DISK_PRESSURE_TAINT} on {_names(tainted)}"
                )
            )
            parts.append(f"taint {DISK_PRESSURE_TAINT} on {_names(tainted)}")
        for reason, signal_name in (
            ("EvictionThresholdMet", "eviction_threshold_met"),
            ("FreeDiskSpaceFailed", "free_disk_space_failed"),
        ):
            found = [
                e
                for e in node_events
                if e.get("reason") == reason and _after(e, now - self.lookback)
            ]
            if found:
                detail = f"{reason} x{_count(found)}: {found[-1].get('message', '')}"
                signals.append(self._signal(signal_name, "strong", detail[:300], direct=True))
                refs.extend(_event_refs(found))
                parts.append(f"{reason} x{_count(found)}")
        evicted = {
            _key(p) for p in on_focus if (p.get("status") or {}).get("reason") == "Evicted"
        } | {_involved(e) for e in evictions}
        if len(evicted) >= self.eviction_burst:
            signals.append(
                self._signal("evicted_pods_burst", "strong", f"{len(evicted)} pods evicted")
            )
            parts.append(f"{len(evicted)} pods evicted")
            refs.extend(ref("pods", name, ns) for ns, name in sorted(evicted)[:MAX_REFS_PER_KIND])
        finished = [p for p in on_focus if _phase(p) in FINISHED_PHASES]
        if len(finished) >= self.backlog_threshold:
            signals.append(
                self._signal(
                    "completed_pod_backlog", "weak", f"{len(finished)} finished pods on the node(s)"
                )
            )
            parts.append(f"{len(finished)} finished pods")
        behind = self._cronjobs_behind(finished)
        if behind:
            parts.append("finished pods left by CronJobs " + _names(_keys(behind)))
            refs.extend(ref("cronjobs", name, ns) for ns, name in _pairs(behind))
        repeated = _repeated_images(pulls, self.repeated_pulls)
        if repeated:
            signals.append(
                self._signal("repeated_image_pulls", "weak", "pulled again and again: " + repeated)
            )
        backoff = [p for p in on_focus if _waiting_reasons(p) & PULL_ERRORS]
        if backoff:
            signals.append(
                self._signal(
                    "image_pull_retries", "weak", f"{len(backoff)} pods retrying image pulls"
                )
            )
        pressured_names = {node_name(n) for n in pressured}
        customer_facing = any(
            self._is_core_pod(p) and _failing(p) for p in pods if _pod_node(p) in pressured_names
        )
        quiet_since = now - self.quiet
        exit_met = (
            not with_condition
            and not tainted
            and not any(_after(e, quiet_since) for e in evictions)
            and not any(
                e.get("reason") == "EvictionThresholdMet" and _after(e, quiet_since)
                for e in node_events
            )
        )
        facts: dict[str, bool | int] = {
            "nodes_affected": len(pressured),
            "customer_facing_failures": customer_facing,
            **_role_facts(own),
        }
        return Evidence(
            signals=tuple(signals),
            facts=facts,
            refs=tuple(dict.fromkeys(refs)),
            summary="; ".join(parts)
            or f"no disk pressure on {_names(sorted(names)) or 'any node'}",
            exit_criteria_met=exit_met,
            targets=_suspend_targets(behind),
        )

    def _cronjobs_behind(self, finished: list[JSON]) -> list[JSON]:
        """The running (unsuspended) CronJobs whose Jobs left at least
        ``cronjob_backlog`` of the ``finished`` pods behind."""
        left: Counter[tuple[str, str]] = Counter()
        for pod in finished:
            owner = controller_of(pod)
            cronjob = cronjob_of_job(owner[1]) if owner and owner[0] == "Job" else None
            if cronjob:
                left[(str(meta(pod).get("namespace") or ""), cronjob)] += 1
        wanted = {key for key, count in left.items() if count >= self.cronjob_backlog}
        if not wanted:
            return []
        cronjobs = self.kube.items(
            "list cronjobs", self.kube.batch.list_cron_job_for_all_namespaces
        )
        return [
            c for c in cronjobs if _key(c) in wanted and not (c.get("spec") or {}).get("suspend")
        ]


class NodeReadinessCollector(KubeCollector):
    """Evidence and exit criteria for ``node_unreachable_or_notready``."""

    name = "kubernetes.node_readiness"
    incident_types = frozenset({"node_unreachable_or_notready"})

    def _collect(self, incident: Incident) -> Evidence:
        nodes = self._nodes()
        down = [n for n in nodes if _ready_status(n) != "True" or _has_taint(n, UNREACHABLE_TAINT)]
        own = _focus_nodes(incident, nodes)
        focus = own or down
        signals: list[Signal] = []
        parts: list[str] = []
        for node in focus:
            name = node_name(node)
            condition = _condition(node, "Ready") or {}
            status = condition.get("status", "Unknown")
            if status != "True":
                detail = f"{name}: Ready={status} ({condition.get('reason', '')}: "
                detail += f"{condition.get('message', 'no Ready condition')})"
                # KubeletNotReady is the kubelet's own report; Unknown is the
                # node controller noticing the kubelet went silent.
                direct = condition.get("reason") == "KubeletNotReady"
                signals.append(self._signal("node_not_ready", "strong", detail[:300], direct))
                parts.append(f"{name} Ready={status}")
            if _has_taint(node, UNREACHABLE_TAINT):
                signals.append(
                    self._signal(
                        "node_unreachable_taint", "strong", f"{UNREACHABLE_TAINT} on {name}"
                    )
                )
                parts.append(f"{name} tainted unreachable")
        down_names = {node_name(n) for n in down}
        customer_facing = False
        if down_names:
            customer_facing = any(
                self._is_core_pod(p) and _phase(p) not in FINISHED_PHASES
                for p in self._pods()
                if _pod_node(p) in down_names
            )
        focus_names = sorted(node_name(n) for n in focus)
        exit_met = all(
            _ready_status(n) == "True" and not _has_taint(n, UNREACHABLE_TAINT) for n in focus
        )
        return Evidence(
            signals=tuple(signals),
            facts={
                "nodes_affected": len(down),
                "customer_facing_failures": customer_facing,
                **_role_facts(own),
            },
            refs=tuple(ref("nodes", name) for name in focus_names),
            summary="; ".join(parts) or f"{_names(focus_names) or 'every node'} Ready",
            exit_criteria_met=exit_met,
        )


class ImagePullCollector(KubeCollector):
    """Evidence and exit criteria for ``registry_pull_failure``: the pods of
    the incident's workload (or of its namespace, or of the cluster) that
    cannot pull, why, and whether their pull secrets exist."""

    name = "kubernetes.image_pulls"
    incident_types = frozenset({"registry_pull_failure"})

    def _collect(self, incident: Incident) -> Evidence:
        scope = incident.resource_scope
        namespace = scope.namespace
        pods = [p for p in self._pods(namespace) if _belongs(p, scope.kind, scope.name)]
        failing = [p for p in pods if _waiting_reasons(p) & PULL_ERRORS]
        if not failing:
            return Evidence(
                summary="no pod is failing to pull its image",
                exit_criteria_met=True,
                facts={"core_workload": any(self._is_core_pod(p) for p in pods)},
            )
        failing_keys = {_key(p) for p in failing}
        events = [
            e
            for e in self._events("involvedObject.kind=Pod,reason=Failed", namespace)
            if _involved(e) in failing_keys
        ]
        messages = [m for p in failing for m in _waiting_messages(p, PULL_ERRORS)]
        messages += [str(e.get("message", "")) for e in events]
        classes = Counter(c for c in map(classify_pull_error, messages) if c is not None)
        reasons = sorted({r for p in failing for r in _waiting_reasons(p) & PULL_ERRORS})
        signals = [
            self._signal(
                "image_pull_error",
                "strong",
                f"{len(failing)} pods in {', '.join(reasons)}: {_first(messages)}"[:300],
                direct=True,
            )
        ]
        for name in sorted(classes):
            example = next(m for m in messages if classify_pull_error(m) == name)
            signals.append(self._signal(name, "strong", example[:300], direct=True))
        missing, absent = self._pull_secrets(failing)
        if missing:
            signals.append(
                self._signal("missing_pull_secret", "strong", "not found: " + _names(missing))
            )
        auth = {"registry_unauthorized", "registry_forbidden"} & set(classes)
        if absent and auth:
            signals.append(
                self._signal(
                    "no_pull_secret", "weak", "pods name no imagePullSecrets: " + _names(absent)
                )
            )
        refs = [ref("pods", name, ns) for ns, name in sorted(failing_keys)[:MAX_REFS_PER_KIND]]
        refs += _event_refs(events)
        refs += [ref("secrets", name.split("/", 1)[1], name.split("/", 1)[0]) for name in missing]
        summary = f"{len(failing)} pods cannot pull ({', '.join(reasons)})"
        if classes:
            summary += "; registry says " + ", ".join(sorted(classes))
        if missing:
            summary += "; missing pull secrets " + _names(missing)
        return Evidence(
            signals=tuple(signals),
            facts={"core_workload": any(self._is_core_pod(p) for p in failing)},
            refs=tuple(dict.fromkeys(refs)),
            summary=summary,
            exit_criteria_met=False,
        )

    def _pull_secrets(self, pods: list[JSON]) -> tuple[list[str], list[str]]:
        """(named pull secrets that do not exist as ``ns/name``, pods naming none)."""
        wanted: set[tuple[str, str]] = set()
        absent: list[str] = []
        for pod in pods:
            namespace = str(meta(pod).get("namespace", ""))
            names = [
                s.get("name")
                for s in (pod.get("spec") or {}).get("imagePullSecrets") or []
                if s.get("name")
            ]
            if not names:
                absent.append(f"{namespace}/{meta(pod).get('name')}")
            wanted.update((namespace, str(name)) for name in names)
        missing = [
            f"{namespace}/{name}"
            for namespace, name in sorted(wanted)
            if secret_exists(self.kube, namespace, name) is False
        ]
        return missing, absent


class JobBacklogCollector(KubeCollector):
    """Evidence and exit criteria for ``background_job_buildup`` (cluster-wide:
    the allowlisted cleanup is cluster-wide too)."""

    name = "kubernetes.job_backlog"
    incident_types = frozenset({"background_job_buildup"})

    def __init__(
        self,
        kube: Kube,
        *,
        core_labels: Mapping[str, str] = DEFAULT_CORE_LABELS,
        clock: Clock = utcnow,
        backlog_threshold: int = 20,
        tekton_threshold: int = 20,
        noisy_cronjobs: Iterable[str] = ("trivy-db-warmup",),
        frequent_runs_per_hour: float = 4.0,
    ) -> None:
        super().__init__(kube, core_labels=core_labels, clock=clock)
        self.backlog_threshold = backlog_threshold
        self.tekton_threshold = tekton_threshold
        self.noisy_cronjobs = frozenset(noisy_cronjobs)
        self.frequent_runs_per_hour = frequent_runs_per_hour

    def _collect(self, incident: Incident) -> Evidence:
        now = self.clock()
        finished = [
            p
            for phase in FINISHED_PHASES
            for p in self._pods(field_selector=f"status.phase={phase}")
            if _phase(p) == phase
        ]
        phases = Counter(_phase(p) for p in finished)
        by_namespace = Counter(str(meta(p).get("namespace")) for p in finished)
        tekton = [p for p in finished if "tekton.dev/taskRun" in labels_of(p)]
        cronjobs = self.kube.items(
            "list cronjobs", self.kube.batch.list_cron_job_for_all_namespaces
        )
        active = [c for c in cronjobs if not (c.get("spec") or {}).get("suspend")]
        recent = [c for c in active if _ran_within(c, now, timedelta(hours=1))]
        noisy = [c for c in recent if meta(c).get("name") in self.noisy_cronjobs]
        frequent = [
            c
            for c in recent
            if c not in noisy
            and runs_per_hour(str((c.get("spec") or {}).get("schedule", "")))
            >= self.frequent_runs_per_hour
        ]
        nodes = self._nodes()
        pressured = {node_name(n) for n in nodes if _disk_pressure(n)}
        contributes = any(_pod_node(p) in pressured for p in finished)

        signals: list[Signal] = []
        counts = f"{phases['Succeeded']} Succeeded, {phases['Failed']} Failed"
        top = ", ".join(f"{ns} {n}" for ns, n in by_namespace.most_common(3))
        if len(finished) >= self.backlog_threshold:
            signals.append(
                self._signal("completed_pod_backlog", "strong", f"{counts} (most in {top})")
            )
        if len(tekton) >= self.tekton_threshold:
            signals.append(
                self._signal(
                    "tekton_history_growth", "strong", f"{len(tekton)} finished TaskRun pods"
                )
            )
        if noisy:
            signals.append(self._signal("noisy_cronjob", "strong", _names(_keys(noisy))))
        if frequent:
            signals.append(self._signal("frequent_cronjob", "weak", _names(_keys(frequent))))
        refs = [ref("cronjobs", name, ns) for ns, name in _pairs(noisy + frequent)]
        summary = f"{len(finished)} finished pods ({counts})"
        if noisy or frequent:
            summary += "; repeating CronJobs: " + _names(_keys(noisy + frequent))
        if contributes:
            summary += "; finished pods sit on nodes in DiskPressure: " + _names(sorted(pressured))
        return Evidence(
            signals=tuple(signals),
            facts={"contributes_to_disk_pressure": contributes},
            refs=tuple(refs),
            summary=summary,
            exit_criteria_met=len(finished) < self.backlog_threshold
            and len(tekton) < self.tekton_threshold,
            targets=_suspend_targets(noisy),
        )


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


def cronjob_of_job(job: str) -> str | None:
    """The CronJob that started the Job named ``job``: a CronJob names its
    Jobs ``<cronjob>-<scheduled time in minutes>``. None for other names."""
    cronjob, _, stamp = job.rpartition("-")
    return cronjob if cronjob and stamp.isdigit() else None


def _suspend_targets(cronjobs: list[JSON]) -> dict[str, tuple[Target, ...]]:
    if not cronjobs:
        return {}
    return {
        "suspend_cronjob": tuple(
            Target(kind="cronjob", namespace=ns, name=name) for ns, name in _pairs(cronjobs)
        )
    }


def runs_per_hour(schedule: str) -> float:
    """How often a cron schedule fires per hour, roughly (0 for schedules
    that do not run every hour)."""
    macros = {"@hourly": 1.0, "@daily": 0.0, "@midnight": 0.0, "@weekly": 0.0}
    if schedule.startswith("@"):
        return macros.get(schedule, 0.0)
    fields = schedule.split()
    if len(fields) != 5:
        return 0.0
    minute, hour = fields[0], fields[1]
    if hour != "*" and not hour.startswith("*/"):
        return 0.0
    if minute == "*":
        return 60.0
    if minute.startswith("*/") and minute[2:].isdigit() and int(minute[2:]) > 0:
        return 60.0 / int(minute[2:])
    return float(len(minute.split(",")))


# object readers


def node_name(node: Mapping[str, Any]) -> str:
    return str(meta(node).get("name", ""))


def _focus_nodes(incident: Incident, nodes: list[JSON]) -> list[JSON]:
    """The incident's node, matched by name, hostname label or address."""
    scope = incident.resource_scope
    if scope.kind != "node":
        return []
    for node in nodes:
        addresses = {a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
        hostname = labels_of(node).get("kubernetes.io/hostname")
        if scope.name in {node_name(node), hostname} or scope.name in addresses:
            return [node]
    return []


def is_control_plane_node(node: Mapping[str, Any]) -> bool:
    """A control-plane role label, or the taint kubeadm puts on control-plane
    nodes (``node-role.kubernetes.io/control-plane:NoSchedule``)."""
    labels = labels_of(node)
    return any(role in labels or _has_taint(node, role) for role in CONTROL_PLANE_ROLES)


def _role_facts(own: list[JSON]) -> dict[str, bool | int]:
    """The incident's node's role, when the cluster knows that node."""
    return {CONTROL_PLANE_FACT: is_control_plane_node(own[0])} if own else {}


def _condition(node: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _ready_status(node: Mapping[str, Any]) -> str:
    return str((_condition(node, "Ready") or {}).get("status", "Unknown"))


def _disk_pressure(node: Mapping[str, Any]) -> bool:
    return (_condition(node, "DiskPressure") or {}).get("status") == "True"


def _has_taint(node: Mapping[str, Any], key: str) -> bool:
    return any(t.get("key") == key for t in (node.get("spec") or {}).get("taints") or [])


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


def _waiting_messages(pod: Mapping[str, Any], reasons: frozenset[str]) -> list[str]:
    return [
        str(waiting.get("message", ""))
        for c in _container_statuses(pod)
        for waiting in [(c.get("state") or {}).get("waiting") or {}]
        if waiting.get("reason") in reasons and waiting.get("message")
    ]


def _failing(pod: Mapping[str, Any]) -> bool:
    if _phase(pod) == "Failed":
        return True
    if _waiting_reasons(pod) & FAILING_WAIT_REASONS:
        return True
    ready = [
        c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"
    ]
    return _phase(pod) == "Running" and any(c.get("status") != "True" for c in ready)


def _belongs(pod: Mapping[str, Any], kind: str, name: str) -> bool:
    """Whether the pod is part of the workload ``kind``/``name`` (namespace
    already matched); any pod belongs to a cluster- or namespace-wide scope."""
    if kind == "pod":
        return meta(pod).get("name") == name
    if kind not in ("deployment", "statefulset", "daemonset", "job", "cronjob", "replicaset"):
        return True
    owner = controller_of(pod)
    if owner is None:
        return False
    # Deployment pods are owned by ReplicaSet <name>-<hash>; CronJob pods by Job <name>-<n>.
    return owner[1] == name or owner[1].startswith(f"{name}-")


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    series = event.get("series") or {}
    for value in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        meta(event).get("creationTimestamp"),
    ):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def _after(event: Mapping[str, Any], since: datetime) -> bool:
    when = _event_time(event)
    return when is not None and when >= since


def _count(events: list[JSON]) -> int:
    return sum(int(e.get("count") or (e.get("series") or {}).get("count") or 1) for e in events)


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
    return str(meta(obj).get("namespace") or ""), str(meta(obj).get("name") or "")


def _involved(event: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the object an event is about."""
    involved = event.get("involvedObject") or {}
    return str(involved.get("namespace") or ""), str(involved.get("name") or "")


def _event_host(event: Mapping[str, Any], pod_node: Mapping[tuple[str, str], str | None]) -> Any:
    """The node an event happened on: the kubelet's host, else the pod's node."""
    source = event.get("source") or {}
    return source.get("host") or event.get("reportingInstance") or pod_node.get(_involved(event))


def _event_refs(events: list[JSON]) -> list[str]:
    return [f"k8s://events/{meta(e).get('uid')}" for e in events[:MAX_REFS_PER_KIND]]


def _repeated_images(pulls: list[JSON], threshold: int) -> str:
    """Images pulled at least ``threshold`` times, as ``image xN`` text."""
    pulled: Counter[str] = Counter()
    for event in pulls:
        message = str(event.get("message", ""))
        image = message.split('"')[1] if message.count('"') >= 2 else message
        pulled[image] += int(event.get("count") or 1)
    return ", ".join(f"{image} x{n}" for image, n in pulled.most_common() if n >= threshold)


def _ran_within(cronjob: Mapping[str, Any], now: datetime, window: timedelta) -> bool:
    last = parse_time((cronjob.get("status") or {}).get("lastScheduleTime"))
    return last is not None and now - last <= window


def _pairs(objects: list[JSON]) -> list[tuple[str, str]]:
    return [(str(meta(o).get("namespace", "")), str(meta(o).get("name", ""))) for o in objects]


def _keys(objects: list[JSON]) -> list[str]:
    return [f"{ns}/{name}" for ns, name in _pairs(objects)]


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    shown = ", ".join(listed[:5])
    return shown + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")


def _first(messages: list[str]) -> str:
    return next((m for m in messages if m), "no message")
