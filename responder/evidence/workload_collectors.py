"""Kubernetes evidence about workloads: pods that cannot pull their image
(the registry's error classified), and the finished pods and what keeps
producing them: CronJobs (named as ``suspend_cronjob`` targets) and the
configured shared controllers (``pause_shared_controller`` targets)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from responder.evidence import kube_objects as objects
from responder.evidence import owners
from responder.evidence.collector import Evidence
from responder.evidence.kube_objects import FINISHED_PHASES, JSON, MAX_REFS_PER_KIND, PULL_ERRORS
from responder.evidence.kubernetes import KubeCollector, pull_secret_names, secret_exists
from responder.evidence.pull_targets import failing_workloads, pull_targets
from responder.kube import controller_of, labels_of, meta, parse_time, ref
from responder.records.incident import Incident, Signal
from responder.records.target import Target

# Registry error classes, tried in order against the lower-cased message;
# whole words only, so that a digest's hex ("sha256:ab403f") is no status.
PULL_ERROR_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("registry_rate_limited", ("toomanyrequests", "429", "rate limit")),
    ("registry_unauthorized", ("unauthorized", "authentication required", "401")),
    ("registry_forbidden", ("403", "forbidden", "denied")),
    ("image_manifest_unknown", ("manifest unknown", "not found", "404")),
)
_PULL_ERROR_PATTERNS = tuple(
    (name, re.compile(r"\b(?:" + "|".join(map(re.escape, needles)) + r")\b"))
    for name, needles in PULL_ERROR_CLASSES
)


def classify_pull_error(message: str) -> str | None:
    """The registry error class of a pull failure message, or None."""
    text = message.lower()
    return next((name for name, pattern in _PULL_ERROR_PATTERNS if pattern.search(text)), None)


@dataclass(eq=False, kw_only=True)
class ImagePullCollector(KubeCollector):
    """Evidence and exit criteria for ``registry_pull_failure``: the pods of
    the incident's workload (or of its namespace, or of the cluster) that
    cannot pull, why, and whether their pull secrets exist; the targets of
    the actions the pull errors support (see ``pull_targets``)."""

    name = "kubernetes.image_pulls"
    incident_types = frozenset({"registry_pull_failure"})

    registry_mirror: str | None = None
    """named as the way out of a registry's rate limit, when configured"""

    def _collect(self, incident: Incident) -> Evidence:
        scope = incident.resource_scope
        namespace = scope.namespace
        pods = [p for p in self._pods(namespace) if _belongs(p, scope.kind, scope.name)]
        failing = [p for p in pods if objects.waiting_reasons(p) & PULL_ERRORS]
        if not failing:
            return Evidence(
                summary="no pod is failing to pull its image",
                exit_criteria_met=True,
                facts={"core_workload": any(self._is_core_pod(p) for p in pods)},
            )
        failing_keys = {objects.key(p) for p in failing}
        events = [
            e
            for e in self._events("involvedObject.kind=Pod,reason=Failed", namespace)
            if objects.involved(e) in failing_keys
        ]
        said: dict[tuple[str, str], list[str]] = {
            objects.key(p): _waiting_messages(p, PULL_ERRORS) for p in failing
        }
        for e in events:
            said[objects.involved(e)].append(str(e.get("message", "")))
        messages = [m for pod_messages in said.values() for m in pod_messages]
        classes = Counter(c for c in map(classify_pull_error, messages) if c is not None)
        reasons = sorted({r for p in failing for r in objects.waiting_reasons(p) & PULL_ERRORS})
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
                self._signal(
                    "missing_pull_secret", "strong", "not found: " + objects.name_list(missing)
                )
            )
        auth = {"registry_unauthorized", "registry_forbidden"} & set(classes)
        if absent and auth:
            signals.append(
                self._signal(
                    "no_pull_secret",
                    "weak",
                    "pods name no imagePullSecrets: " + objects.name_list(absent),
                )
            )
        refs = [ref("pods", name, ns) for ns, name in sorted(failing_keys)[:MAX_REFS_PER_KIND]]
        refs += objects.event_refs(events)
        refs += [ref("secrets", name.split("/", 1)[1], name.split("/", 1)[0]) for name in missing]
        summary = f"{len(failing)} pods cannot pull ({', '.join(reasons)})"
        if classes:
            summary += "; registry says " + ", ".join(sorted(classes))
        if missing:
            summary += "; missing pull secrets " + objects.name_list(missing)
        named = pull_targets(
            failing_workloads(
                failing,
                pods,
                lambda pod: {
                    c for m in said[objects.key(pod)] if (c := classify_pull_error(m)) is not None
                },
            ),
            lambda target: owners.read_workload(self.kube, target),
            lambda namespace: pull_secret_names(self.kube, namespace),
            self.registry_mirror,
        )
        if named.notes:
            summary += "; " + "; ".join(named.notes)
        return Evidence(
            signals=tuple(signals),
            facts={"core_workload": any(self._is_core_pod(p) for p in failing)},
            refs=tuple(dict.fromkeys(refs)),
            summary=summary,
            exit_criteria_met=False,
            targets=named.targets,
            params=named.params,
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


@dataclass(eq=False, kw_only=True)
class JobBacklogCollector(KubeCollector):
    """Evidence and exit criteria for ``background_job_buildup`` (cluster-wide:
    the allowlisted cleanup is cluster-wide too)."""

    name = "kubernetes.job_backlog"
    incident_types = frozenset({"background_job_buildup"})

    backlog_threshold: int = 20
    tekton_threshold: int = 20
    noisy_cronjobs: Collection[str] = ("trivy-db-warmup",)
    frequent_runs_per_hour: float = 4.0
    shared_controllers: Collection[str] = ()
    """``kind/namespace/name`` of the shared controllers the operator
    configured (settings remedies); one that made pods of the backlog is
    named as the ``pause_shared_controller`` target while it runs"""

    def _collect(self, incident: Incident) -> Evidence:
        now = self.clock()
        finished = [
            p
            for phase in FINISHED_PHASES
            for p in self._pods(field_selector=f"status.phase={phase}")
            if objects.phase(p) == phase
        ]
        phases = Counter(objects.phase(p) for p in finished)
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
        pressured = {objects.node_name(n) for n in nodes if objects.disk_pressure(n)}
        contributes = any(objects.pod_node(p) in pressured for p in finished)

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
            signals.append(
                self._signal("noisy_cronjob", "strong", objects.name_list(objects.keys(noisy)))
            )
        if frequent:
            signals.append(
                self._signal("frequent_cronjob", "weak", objects.name_list(objects.keys(frequent)))
            )
        refs = [ref("cronjobs", name, ns) for ns, name in objects.pairs(noisy + frequent)]
        summary = f"{len(finished)} finished pods ({counts})"
        if noisy or frequent:
            summary += "; repeating CronJobs: " + objects.name_list(objects.keys(noisy + frequent))
        if contributes:
            summary += "; finished pods sit on nodes in DiskPressure: " + objects.name_list(
                sorted(pressured)
            )
        cleared = len(finished) < self.backlog_threshold and len(tekton) < self.tekton_threshold
        targets = objects.suspend_targets(noisy)
        producing = [] if cleared else self._producing_controllers(finished)
        if producing:
            targets["pause_shared_controller"] = tuple(target for target, _ in producing)
            summary += "; made by running shared controllers: " + ", ".join(
                f"{t.kind} {t.namespace}/{t.name} ({count} pods)" for t, count in producing
            )
        return Evidence(
            signals=tuple(signals),
            facts={"contributes_to_disk_pressure": contributes},
            refs=tuple(refs),
            summary=summary,
            exit_criteria_met=cleared,
            targets=targets,
        )

    def _producing_controllers(self, finished: list[JSON]) -> list[tuple[Target, int]]:
        """The configured shared controllers that run (replicas above 0) and
        made finished pods: a pod's ``app.kubernetes.io/managed-by`` names
        the controller's ``app.kubernetes.io/part-of``, its name or its
        namespace (Tekton: ``tekton-pipelines``). With how many pods each."""
        makers = Counter(labels_of(p).get(owners.MANAGED_BY_LABEL) for p in finished)
        found = []
        for configured in sorted(self.shared_controllers):
            kind, namespace, name = configured.split("/")
            target = Target(kind=kind, namespace=namespace, name=name)
            live = owners.read_workload(self.kube, target)
            if live is None or (live.get("spec") or {}).get("replicas", 1) == 0:
                continue
            part_of = labels_of(live).get("app.kubernetes.io/part-of")
            count = sum(makers[n] for n in {part_of, name, namespace} if n)
            if count:
                found.append((target, count))
        return found


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


def _waiting_messages(pod: Mapping[str, Any], reasons: frozenset[str]) -> list[str]:
    return [
        str(waiting.get("message", ""))
        for c in objects.container_statuses(pod)
        for waiting in [(c.get("state") or {}).get("waiting") or {}]
        if waiting.get("reason") in reasons and waiting.get("message")
    ]


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


def _ran_within(cronjob: Mapping[str, Any], now: datetime, window: timedelta) -> bool:
    last = parse_time((cronjob.get("status") or {}).get("lastScheduleTime"))
    return last is not None and now - last <= window


def _first(messages: list[str]) -> str:
    return next((m for m in messages if m), "no message")
