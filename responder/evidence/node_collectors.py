"""Kubernetes evidence about nodes: disk pressure (condition, taint, kubelet
events, the finished-pod backlog and the CronJobs behind it, the workloads
whose pods it evicted) and readiness.

Both collectors set the fact ``control_plane_node`` from the Node itself, so
the guard rails refuse node actions on a control-plane node even when no
alert carries the role."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from responder.evidence import kube_objects as objects
from responder.evidence.collector import Evidence
from responder.evidence.kube_objects import FINISHED_PHASES, JSON, MAX_REFS_PER_KIND, PULL_ERRORS
from responder.evidence.kubernetes import KubeCollector
from responder.evidence.noisy_workloads import noisy_workloads
from responder.kube import controller_of, labels_of, meta, parse_time, ref
from responder.records.incident import Incident, Signal
from responder.records.node_role import CONTROL_PLANE_FACT, is_control_plane_node

DISK_PRESSURE_TAINT = "node.kubernetes.io/disk-pressure"


UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


FAILING_WAIT_REASONS = PULL_ERRORS | {
    "CrashLoopBackOff",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
}


@dataclass(eq=False, kw_only=True)
class DiskPressureCollector(KubeCollector):
    """Evidence and exit criteria for ``node_disk_pressure``.

    The focus is the incident's node when the scope names one the cluster
    knows (by name, hostname label or address), else every pressured node."""

    name = "kubernetes.disk_pressure"
    incident_types = frozenset({"node_disk_pressure"})

    eviction_burst: int = 3
    backlog_threshold: int = 20
    repeated_pulls: int = 3
    lookback: timedelta = timedelta(hours=1)
    quiet: timedelta = timedelta(minutes=10)
    cronjob_backlog: int = 3
    """How many finished pods one CronJob must have left on the node(s) to
    be named as a target to suspend."""

    def _collect(self, incident: Incident) -> Evidence:
        now = self.clock()
        nodes = self._nodes()
        pressured = [
            n for n in nodes if objects.disk_pressure(n) or _has_taint(n, DISK_PRESSURE_TAINT)
        ]
        own = _focus_nodes(incident, nodes)
        focus = own or pressured
        names = {objects.node_name(n) for n in focus}
        node_events = [
            e
            for e in self._events("involvedObject.kind=Node")
            if (e.get("involvedObject") or {}).get("name") in names
        ]
        pods = self._pods()
        on_focus = [p for p in pods if objects.pod_node(p) in names]
        pod_node = {objects.key(p): objects.pod_node(p) for p in pods}
        evictions = [
            e
            for e in self._events("reason=Evicted")
            if _event_host(e, pod_node) in names and _after(e, now - self.lookback)
        ]
        pulls = [e for e in self._events("reason=Pulling") if _event_host(e, pod_node) in names]

        signals: list[Signal] = []
        refs = [ref("nodes", name) for name in sorted(names)]
        parts: list[str] = []
        with_condition = [objects.node_name(n) for n in focus if objects.disk_pressure(n)]
        if with_condition:
            signals.append(
                self._signal(
                    "disk_pressure_condition",
                    "strong",
                    "DiskPressure=True on " + objects.name_list(with_condition),
                )
            )
            parts.append("DiskPressure=True on " + objects.name_list(with_condition))
        tainted = [objects.node_name(n) for n in focus if _has_taint(n, DISK_PRESSURE_TAINT)]
        if tainted:
            signals.append(
                self._signal(
                    "disk_pressure_taint",
                    "strong",
                    f"{DISK_PRESSURE_TAINT} on {objects.name_list(tainted)}",
                )
            )
            parts.append(f"taint {DISK_PRESSURE_TAINT} on {objects.name_list(tainted)}")
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
                refs.extend(objects.event_refs(found))
                parts.append(f"{reason} x{_count(found)}")
        evicted = {
            objects.key(p) for p in on_focus if (p.get("status") or {}).get("reason") == "Evicted"
        } | {objects.involved(e) for e in evictions}
        if len(evicted) >= self.eviction_burst:
            signals.append(
                self._signal("evicted_pods_burst", "strong", f"{len(evicted)} pods evicted")
            )
            parts.append(f"{len(evicted)} pods evicted")
            refs.extend(ref("pods", name, ns) for ns, name in sorted(evicted)[:MAX_REFS_PER_KIND])
        finished = [p for p in on_focus if objects.phase(p) in FINISHED_PHASES]
        if len(finished) >= self.backlog_threshold:
            signals.append(
                self._signal(
                    "completed_pod_backlog", "weak", f"{len(finished)} finished pods on the node(s)"
                )
            )
            parts.append(f"{len(finished)} finished pods")
        behind = self._cronjobs_behind(finished)
        if behind:
            parts.append(
                "finished pods left by CronJobs " + objects.name_list(objects.keys(behind))
            )
            refs.extend(ref("cronjobs", name, ns) for ns, name in objects.pairs(behind))
        noisy = noisy_workloads(on_focus, evictions, self._is_core_pod)
        if noisy:
            parts.append("evicted most: " + ", ".join(w.describe() for w in noisy))
        repeated = _repeated_images(pulls, self.repeated_pulls)
        if repeated:
            signals.append(
                self._signal("repeated_image_pulls", "weak", "pulled again and again: " + repeated)
            )
        backoff = [p for p in on_focus if objects.waiting_reasons(p) & PULL_ERRORS]
        if backoff:
            signals.append(
                self._signal(
                    "image_pull_retries", "weak", f"{len(backoff)} pods retrying image pulls"
                )
            )
        pressured_names = {objects.node_name(n) for n in pressured}
        customer_facing = any(
            self._is_core_pod(p) and _failing(p)
            for p in pods
            if objects.pod_node(p) in pressured_names
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
            or f"no disk pressure on {objects.name_list(sorted(names)) or 'any node'}",
            exit_criteria_met=exit_met,
            targets={
                **objects.suspend_targets(behind),
                **({"scale_to_zero": tuple(w.target for w in noisy)} if noisy else {}),
            },
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
            c
            for c in cronjobs
            if objects.key(c) in wanted and not (c.get("spec") or {}).get("suspend")
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
            name = objects.node_name(node)
            condition = objects.condition(node, "Ready") or {}
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
        down_names = {objects.node_name(n) for n in down}
        customer_facing = False
        if down_names:
            customer_facing = any(
                self._is_core_pod(p) and objects.phase(p) not in FINISHED_PHASES
                for p in self._pods()
                if objects.pod_node(p) in down_names
            )
        focus_names = sorted(objects.node_name(n) for n in focus)
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
            summary="; ".join(parts) or f"{objects.name_list(focus_names) or 'every node'} Ready",
            exit_criteria_met=exit_met,
        )


def cronjob_of_job(job: str) -> str | None:
    """The CronJob that started the Job named ``job``: a CronJob names its
    Jobs ``<cronjob>-<scheduled time in minutes>``. None for other names."""
    cronjob, _, stamp = job.rpartition("-")
    return cronjob if cronjob and stamp.isdigit() else None


def _focus_nodes(incident: Incident, nodes: list[JSON]) -> list[JSON]:
    """The incident's node, matched by name, hostname label or address."""
    scope = incident.resource_scope
    if scope.kind != "node":
        return []
    for node in nodes:
        addresses = {a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
        hostname = labels_of(node).get("kubernetes.io/hostname")
        if scope.name in {objects.node_name(node), hostname} or scope.name in addresses:
            return [node]
    return []


def _role_facts(own: list[JSON]) -> dict[str, bool | int]:
    """The incident's node's role, when the cluster knows that node."""
    return {CONTROL_PLANE_FACT: is_control_plane_node(own[0])} if own else {}


def _ready_status(node: Mapping[str, Any]) -> str:
    return str((objects.condition(node, "Ready") or {}).get("status", "Unknown"))


def _has_taint(node: Mapping[str, Any], key: str) -> bool:
    return any(t.get("key") == key for t in (node.get("spec") or {}).get("taints") or [])


def _failing(pod: Mapping[str, Any]) -> bool:
    if objects.phase(pod) == "Failed":
        return True
    if objects.waiting_reasons(pod) & FAILING_WAIT_REASONS:
        return True
    ready = [
        c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"
    ]
    return objects.phase(pod) == "Running" and any(c.get("status") != "True" for c in ready)


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


def _event_host(event: Mapping[str, Any], pod_node: Mapping[tuple[str, str], str | None]) -> Any:
    """The node an event happened on: the kubelet's host, else the pod's node."""
    source = event.get("source") or {}
    return (
        source.get("host")
        or event.get("reportingInstance")
        or pod_node.get(objects.involved(event))
    )


def _repeated_images(pulls: list[JSON], threshold: int) -> str:
    """Images pulled at least ``threshold`` times, as ``image xN`` text."""
    pulled: Counter[str] = Counter()
    for event in pulls:
        message = str(event.get("message", ""))
        image = message.split('"')[1] if message.count('"') >= 2 else message
        pulled[image] += int(event.get("count") or 1)
    return ", ".join(f"{image} x{n}" for image, n in pulled.most_common() if n >= threshold)
