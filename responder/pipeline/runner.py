"""The runner: a payload's alerts through the stages, one turn per incident.

Alerts are grouped by incident so each takes all its alerts in one turn; the
turns of a payload form a batch whose locks, reads, evidence and writes go
together. Actions run after the locks are released, and their outcome is
recorded in a turn of its own."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

from responder.guards.rails import is_node_incident, nodes_lock
from responder.incidents.classify import Classifier
from responder.incidents.correlate import correlate
from responder.metrics import Metrics
from responder.pipeline.stage import Stage, run, run_batch
from responder.pipeline.stages import Stages
from responder.records.alert import WebhookPayload
from responder.records.incident import Incident
from responder.records.update import Batch, Correlated, Outcome, PlannedRun, Update
from responder.store import LockBusy, Store, held_lock
from responder.taxonomy.models import Taxonomy

log = logging.getLogger(__name__)

# One turn takes milliseconds (evidence collection seconds at most, under its
# own deadline): a lock left by a dead replica blocks its incident that long.
LOCK_TTL_SECONDS = 15.0
LOCK_WAIT_SECONDS = 5.0
# Recording the outcome of actions waits longer: the actions already ran.
RECORD_WAIT_SECONDS = 15.0
#: incidents a batch holds at most: its commit holds the store (a Redis script,
#: a SQLite transaction) for milliseconds, while webhooks wait to be queued
#: (64: a 1-alert post's p99 stays near 10 ms while a storm drains)
BATCH = 64
#: before the first try none; then the pauses before trying busy locks again
RETRY_PAUSES = (0.0, 0.002, 0.004, 0.008, 0.016, 0.032)


@dataclass(frozen=True)
class AlertOutcome:
    outcome: Outcome
    incident_id: str | None


@dataclass(eq=False)
class Pipeline:
    store: Store
    taxonomy: Taxonomy
    classifier: Classifier
    metrics: Metrics
    stages: Stages
    environment: str
    clock: Callable[[], datetime]
    lock_ttl: float = LOCK_TTL_SECONDS
    """how long an incident's lock lives (evidence is collected under it)"""
    alert_stages: list[Stage] = field(init=False)
    acted_stages: list[Stage] = field(init=False)

    def __post_init__(self) -> None:
        stages = self.stages
        self.alert_stages = [stages.correlate, *stages.deciding()]
        self.acted_stages = [stages.record_runs, stages.escalate, stages.notify, stages.ask]

    def process(
        self, payload: WebhookPayload, on_batch: Callable[[], object] = lambda: None
    ) -> list[AlertOutcome]:
        """Every alert of ``payload`` through the stages (``on_batch`` called
        after each batch's commit); each alert's outcome."""
        outcomes: list[AlertOutcome] = [AlertOutcome("ignored", None)] * len(payload.alerts)
        groups: dict[str, list[tuple[int, Correlated]]] = {}
        for index, alert in enumerate(payload.alerts):
            found = correlate(self.classifier, self.taxonomy, alert)
            if found is not None:
                groups.setdefault(found.key, []).append((index, found))
        waiting = list(groups)
        # a lock another replica holds is released with its batch's commit, in
        # milliseconds: try the busy ones again together a few times, then
        # wait for each on its own
        for pause in RETRY_PAUSES:
            if not waiting:
                break
            if pause:
                time.sleep(pause)
            keys, waiting = waiting, []
            for start in range(0, len(keys), BATCH):
                batch = {k: groups[k] for k in keys[start : start + BATCH]}
                waiting += self._turns(batch, outcomes, on_batch, wait=False)
        for key in waiting:
            self._turns({key: groups[key]}, outcomes, on_batch, wait=True)
        for outcome in outcomes:
            self.metrics.alerts_processed.labels(outcome.outcome).inc()
        return outcomes

    def _turns(
        self,
        groups: dict[str, list[tuple[int, Correlated]]],
        outcomes: list[AlertOutcome],
        on_batch: Callable[[], object],
        wait: bool,
    ) -> list[str]:
        """One batch of turns; the keys whose locks were taken elsewhere (not
        waited for unless ``wait``: then ``LockBusy`` after the wait)."""
        nodes = nodes_lock(self.environment)
        with_nodes = any(is_node_incident(g[0][1].incident_type, k) for k, g in groups.items())
        names = [f"incident:{k}" for k in groups] + ([nodes] if with_nodes else [])
        with ExitStack() as held:
            if wait:
                for name in names:
                    held.enter_context(
                        held_lock(self.store, name, self.lock_ttl, LOCK_WAIT_SECONDS)
                    )
                ready, left = list(groups), []
                taken: dict[str, str] = {}
                existing = self.store.open_incidents(list(groups))
            else:
                taken, existing = self.store.lock_open_incidents(names, self.lock_ttl, list(groups))
                # released with the batch's writes; here when they were not written
                held.callback(lambda: self.store.release_locks(taken))
                ready = [
                    k
                    for k, g in groups.items()
                    if f"incident:{k}" in taken
                    and (nodes in taken or not is_node_incident(g[0][1].incident_type, k))
                ]
                left = [k for k in groups if k not in ready]
            updates: list[Update] = []
            if ready:
                updates = self._batch({k: groups[k] for k in ready}, existing, taken)
                taken = {}  # released with the writes
                on_batch()
        for key, update in zip(ready, updates, strict=True):
            for (index, _), (outcome, incident_id) in zip(
                groups[key], update.outcomes, strict=True
            ):
                outcomes[index] = AlertOutcome(outcome, incident_id)
        for update in updates:
            if update.planned and update.incident is not None:
                self.act_on(update.incident, update.planned)
        return left

    def _batch(
        self,
        groups: dict[str, list[tuple[int, Correlated]]],
        existing: Mapping[str, Incident],
        unlock: Mapping[str, str],
    ) -> list[Update]:
        batch = Batch(self.clock())
        batch.writes.unlock.update(unlock)
        updates = [
            Update("alerts", key, batch, existing.get(key), alerts=[c for _, c in items])
            for key, items in groups.items()
        ]
        run_batch(self.alert_stages, updates)
        for update in updates:
            if update.incident is not None:
                batch.writes.save_incident(update.incident)
        self.store.commit(batch.writes)
        return updates

    def act_on(self, snapshot: Incident, planned: Sequence[PlannedRun]) -> None:
        """Run ``planned`` outside the incident's lock, then record the outcome
        under it on a fresh copy of the incident (an ``acted`` turn)."""
        override = self.stages.decide.cooldown_override(snapshot, self.clock())
        runs = self.stages.act.run(snapshot, list(planned), override)
        key = snapshot.correlation_key
        try:
            with held_lock(self.store, f"incident:{key}", self.lock_ttl, RECORD_WAIT_SECONDS):
                incident = self.store.get_incident(snapshot.id)
                if incident is None:
                    return
                batch = Batch(self.clock())
                run(self.acted_stages, Update("acted", key, batch, incident, runs=runs))
                batch.writes.save_incident(incident)
                self.store.commit(batch.writes)
        except LockBusy:
            # the runs are in the audit log already; only the incident's copy is missing
            log.error(
                "incident %s stayed locked: outcome of %s not recorded on it",
                snapshot.id,
                ", ".join(r.request.action for r in runs),
            )

    def look_again(self, incident: Incident, now: datetime) -> Update:
        """A ``review`` turn of ``incident`` (the caller holds its lock and
        commits the turn's writes): fresh evidence, decisions, guard rails."""
        update = Update("review", incident.correlation_key, Batch(now), incident)
        return run(self.stages.looking(), update)

    def cooldown_override(self, incident: Incident, now: datetime) -> int | None:
        return self.stages.decide.cooldown_override(incident, now)
