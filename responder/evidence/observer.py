"""The observer: runs the collectors that serve an incident's type and merges
what they saw into the incident.

A collector's signals replace its earlier ones (a cleared condition stops
counting); a signal seen again counts one more check, which raises confidence
(a re-sent alert does not). Collectors run in parallel under one deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from responder.evidence.collector import Collector, Evidence
from responder.evidence.confidence import confidence_band
from responder.records.incident import Incident, NamedTarget, Signal

log = logging.getLogger(__name__)

ALERT_SOURCE = "alertmanager"
MAX_REFS = 200


class CollectorRegistry:
    """The collectors this responder has, looked up by incident type
    (a collector serving ``"*"`` serves every type)."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._collectors: list[Collector] = []
        for collector in collectors:
            self.register(collector)

    def register(self, collector: Collector) -> None:
        if any(c.name == collector.name for c in self._collectors):
            raise ValueError(f"a collector named {collector.name!r} is already registered")
        self._collectors.append(collector)

    def for_type(self, incident_type: str) -> list[Collector]:
        return [
            c
            for c in self._collectors
            if incident_type in c.incident_types or "*" in c.incident_types
        ]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._collectors]


@dataclass(frozen=True)
class Observation:
    collectors: tuple[str, ...]
    exit_criteria_met: bool | None
    summaries: tuple[str, ...] = ()


def owns(collector: str, signal: Signal) -> bool:
    return signal.source == collector or signal.source.startswith(collector + ":")


class Observer:
    """Runs collectors, at most ``concurrency`` at once across the incidents
    it observes together, each under ``timeout_seconds``."""

    def __init__(
        self, collectors: CollectorRegistry, timeout_seconds: float = 10.0, concurrency: int = 8
    ) -> None:
        self.collectors = collectors
        self.timeout_seconds = timeout_seconds
        self._slots = threading.BoundedSemaphore(concurrency)

    def serves(self, incident: Incident) -> bool:
        return bool(self.collectors.for_type(incident.incident_type))

    def observe(self, incident: Incident, now: datetime) -> Observation:
        """Collect, merge into ``incident`` and recompute its confidence."""
        return self.observe_all([incident], now)[0]

    def observe_all(self, incidents: Sequence[Incident], now: datetime) -> list[Observation]:
        """``observe`` for several incidents, their collectors run together
        (one deadline for all): a batch waits for its slowest answer, not
        for the sum of them."""
        wanted = [
            (incident, self.collectors.for_type(incident.incident_type)) for incident in incidents
        ]
        found = self._collect([(i, c) for i, collectors in wanted for c in collectors])
        observations = []
        for incident, collectors in wanted:
            verdicts: list[bool] = []
            summaries: list[str] = []
            for collector in collectors:
                evidence = found.pop(0)
                self._merge(incident, collector.name, evidence, now)
                if evidence.exit_criteria_met is not None:
                    verdicts.append(evidence.exit_criteria_met)
                if evidence.summary:
                    summaries.append(f"{collector.name}: {evidence.summary}")
            if collectors:
                incident.confidence = confidence_band(incident.signals).confidence
            exit_met = None if not verdicts else all(verdicts)
            observations.append(
                Observation(tuple(c.name for c in collectors), exit_met, tuple(summaries))
            )
        return observations

    def _collect(self, work: list[tuple[Incident, Collector]]) -> list[Evidence]:
        boxes: list[dict[str, Evidence]] = [{} for _ in work]
        threads = []
        for (incident, collector), box in zip(work, boxes, strict=True):
            thread = threading.Thread(
                target=self._collect_into,
                args=(collector, incident, box),
                name=f"collect-{collector.name}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + self.timeout_seconds  # one deadline for all of them
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        found: list[Evidence] = []
        for (_, collector), box in zip(work, boxes, strict=True):
            evidence = box.get("evidence")
            if evidence is None:
                evidence = _error(collector, f"no answer within {self.timeout_seconds:g}s")
            found.append(evidence)
        return found

    def _collect_into(
        self, collector: Collector, incident: Incident, box: dict[str, Evidence]
    ) -> None:
        with self._slots:
            try:
                box["evidence"] = collector.collect(incident)
            except Exception as exc:  # a collector must never take the worker down
                log.warning("collector %s failed: %s", collector.name, exc)
                box["evidence"] = _error(collector, f"{type(exc).__name__}: {exc}")

    def _merge(self, incident: Incident, collector: str, evidence: Evidence, now: datetime) -> None:
        previous = {s.name: s for s in incident.signals}
        fresh: dict[str, Signal] = {}
        for signal in evidence.signals:
            if signal.name in fresh:
                continue
            prior = previous.get(signal.name)
            checks = prior.checks + 1 if prior and prior.source != ALERT_SOURCE else 1
            fresh[signal.name] = replace(signal, checks=checks, observed_at=now)
        kept = [s for s in incident.signals if not owns(collector, s) and s.name not in fresh]
        incident.signals = kept + list(fresh.values())
        incident.facts.update(evidence.facts)
        named = [
            NamedTarget(
                action=action,
                kind=target.kind,
                namespace=target.namespace,
                name=target.name,
                source=collector,
                params=dict(evidence.params.get((action, target), {})),
            )
            for action, targets in sorted(evidence.targets.items())
            for target in targets
        ]
        kept_targets = [t for t in incident.named_targets if t.source != collector]
        incident.named_targets = kept_targets + list(dict.fromkeys(named))
        for ref in evidence.refs:
            if ref not in incident.raw_evidence_refs and len(incident.raw_evidence_refs) < MAX_REFS:
                incident.raw_evidence_refs.append(ref)
        source = f"collector:{collector}"
        if source not in incident.signal_sources:
            incident.signal_sources = sorted({*incident.signal_sources, source})


def _error(collector: Collector, detail: str) -> Evidence:
    return Evidence(
        signals=(
            Signal(
                name="collector_error",
                strength="weak",
                source=collector.name,
                detail=detail[:500],
            ),
        )
    )
