"""What every story test shares: a responder assembled as ``robot-sre serve``
assembles it (``build_runtime`` from settings: the Kubernetes, Helm, probe
and OCI backends come from the settings), pointed at kmock's kubeconfig
with dry-run off, fed Alertmanager v4 payloads through
``POST /webhooks/alertmanager`` and drained by its queue worker, with a
clock the story moves forward to cross cooldowns, quiet periods and exit
criteria. The worker's background task is not started: the story drains
the queue, polls and sweeps itself, so every step happens when it says.

The clock starts at the wall clock's now, because the objects seeded into
kmock carry timestamps relative to it (events "2 minutes ago").
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fixtures.clock import Clock
from fixtures.kube import KubeCluster, Seen
from fixtures.processes import port_answers, require_binary, wait_until
from fixtures.rigs import Responder

from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.settings import Settings
from responder.store import IncidentFilter
from responder.taxonomy.models import ActionClass

Labels = Mapping[str, str]


def fingerprint(labels: Labels) -> str:
    """A stable per-alert fingerprint, as Alertmanager sends one."""
    text = json.dumps(sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Story:
    """One responder under test, seen from the outside."""

    def __init__(self, cluster: KubeCluster, tmp: Path, **settings: Any) -> None:
        values: dict[str, Any] = {
            "environment": "demo",
            "dry_run": False,
            "kubeconfig": str(cluster.kubeconfig),
            "store_url": f"sqlite:///{tmp}/robot-sre.db",
            "action_timeout_seconds": 3.0,
            "collector_timeout_seconds": 5.0,
            # the story polls and sweeps itself, at the times it says
            "sweep_interval_seconds": 3600.0,
        }
        values.update(settings)
        self.responder = Responder(settings=Settings.model_validate(values), clock=Clock.from_now())
        self.settings, self.clock = self.responder.settings, self.responder.clock
        self.runtime, self.client = self.responder.runtime, self.responder.client
        self.cluster = cluster
        self._started: dict[str, datetime] = {}

    def close(self) -> None:
        self.responder.close()
        self.runtime.store.close()

    def __enter__(self) -> Story:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Alertmanager's side, through the webhook and the queue

    def fire(self, *alerts: Labels) -> None:
        self._send("firing", alerts)

    def resolve(self, *alerts: Labels) -> None:
        self._send("resolved", alerts)

    def _send(self, status: str, alerts: tuple[Labels, ...]) -> None:
        now = self.clock.now.isoformat().replace("+00:00", "Z")
        body = {
            "version": "4",
            "status": status,
            "receiver": "robot-sre",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.test",
            "groupKey": '{}:{alertname="story"}',
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": status,
                    "labels": dict(labels),
                    "annotations": {"summary": f"{labels['alertname']} ({status})"},
                    "startsAt": self._started.setdefault(fingerprint(labels), self.clock.now)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                    "generatorURL": f"http://prometheus.test/graph?alert={labels['alertname']}",
                    "fingerprint": fingerprint(labels),
                }
                for labels in alerts
            ],
        }
        answer = self.client.post("/webhooks/alertmanager", json=body)
        assert answer.status_code == 200, answer.text
        while self.runtime.worker.drain_once():
            pass
        assert self.runtime.store.queue_depth() == 0, "an entry was not processed"

    # the responder's own clockwork

    def poll(self) -> list[str]:
        return self.runtime.scheduler.poll()

    def sweep(self) -> list[str]:
        return self.runtime.scheduler.sweep()

    def next_step(self, minutes: float) -> str:
        """Let ``minutes`` pass and poll: the newest ladder event."""
        self.clock.advance(minutes=minutes)
        self.poll()
        return self.events("ladder")[-1]

    def resolve_for_good(self, *alerts: Labels) -> None:
        """Resolve ``alerts``: after the 5-minute quiet period the sweep
        resolves the incident, its exit criteria holding, and nothing was
        written to the cluster meanwhile."""
        incident = self.incident()
        written = len(self.writes())
        self.resolve(*alerts)
        self.clock.advance(minutes=5)
        assert self.sweep() == [incident.id]
        assert self.incident().state == IncidentState.resolved
        assert self.events("exit_criteria")[-1] == "hold"
        assert self.writes()[written:] == []

    # what the responder recorded

    def incident(self) -> Incident:
        [found] = self.runtime.store.list_incidents(IncidentFilter())
        return found

    def approvals(self) -> list[ApprovalRequest]:
        return self.runtime.approval_requests.for_incident(self.incident().id)

    def asked(self) -> set[tuple[str, str]]:
        """(action, KIND/NAMESPACE/NAME) of every approval request."""
        return {(a.action, target(a.target)) for a in self.approvals()}

    def ran(self, *results: str) -> list[tuple[str, str, str]]:
        """(action, target, result) of the executed actions other than notify."""
        return [
            (a.action, target(a.target), a.result)
            for a in self.incident().executed_actions
            if a.action != "notify_operator" and (not results or a.result in results)
        ]

    def decisions(self) -> dict[tuple[str, str], str]:
        return {
            (r.action, target(r.target)): r.decision for r in self.incident().recommended_actions
        }

    def decided(self, action: str) -> set[str]:
        """The decisions on ``action``, whatever its targets."""
        return {r.decision for r in self.incident().recommended_actions if r.action == action}

    def metric(self, name: str, **labels: str) -> float:
        value = self.runtime.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    def writes(self) -> list[Seen]:
        return self.cluster.writes()

    def events(self, kind: str) -> list[str]:
        return [e.detail for e in self.incident().timeline if e.event == kind]

    # the safety contract, visible in every story

    def assert_guard_rails(self, *, approved: frozenset[str] = frozenset()) -> None:
        """Human-only actions were never executed nor asked for; disruptive
        ones never ran without an approval; nothing was written to what the
        never-auto list protects (ingress-nginx, cert-manager, PVCs,
        namespaces). ``approved``: actions a person approved in the story."""
        taxonomy = self.runtime.taxonomy
        human = {a for a, s in taxonomy.actions.items() if s.action_class == ActionClass.human_only}
        disruptive = {
            a for a, s in taxonomy.actions.items() if s.action_class == ActionClass.disruptive
        }
        for incident in self.runtime.store.list_incidents(IncidentFilter()):
            for executed in incident.executed_actions:
                assert executed.action not in human, executed
                if executed.action in disruptive and executed.result not in ("skipped", "shadow"):
                    assert executed.approval_id, executed
                    assert executed.action in approved, executed
            for recommendation in incident.recommended_actions:
                if recommendation.action in human:
                    assert recommendation.decision == "human_only", recommendation
            asked = {a.action for a in self.runtime.approval_requests.for_incident(incident.id)}
            assert not asked & human
        for entry in self.runtime.store.list_audit():
            if entry.action in ("action.succeeded", "action.failed", "action.dry_run"):
                assert entry.after["action"] not in human, entry
        for seen in self.writes():
            path = seen.path
            assert "/namespaces/ingress-nginx/" not in path, seen
            assert "/namespaces/cert-manager/" not in path, seen
            assert "persistentvolumeclaims" not in path, seen
            assert not re.fullmatch(r"/api/v1/namespaces/[^/]+/?", path), seen
            assert not path.endswith("/eviction"), seen  # drain is disruptive


def target(found: Mapping[str, str] | None) -> str:
    """``KIND/NAMESPACE/NAME`` (``KIND/NAME`` when cluster-scoped), ``-`` for none."""
    if not found:
        return "-"
    namespace = found.get("namespace") or ""
    where = f"{namespace}/" if namespace else ""
    return f"{found['kind']}/{where}{found['name']}"


def write_paths(writes: list[Seen], method: str) -> list[str]:
    return sorted(w.path for w in writes if w.method == method)


@dataclass
class RedisServer:
    """A real redis-server the story starts on a port it chose (the runtime
    dependency coming back)."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = require_binary("redis-server", "apt-get install redis-server")
        self.proc = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_answers("127.0.0.1", self.port), 10, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
