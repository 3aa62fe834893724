"""The scheduler: incidents come back to the stages when they are due.

The store keeps when each incident is due (``PipelineIndexer``), so a round
reads only the due ones: 10,000 open incidents cost nothing until then. A
due incident that is triaged, contained or escalated is polled (evidence,
ladder, decisions, actions: a ``poll`` turn); a suppressed one whose window
has passed is lifted back to triaged and polled; a recovering one whose
quiet period has passed resolves when the type's exit criteria hold as far
as its collectors can tell (looked at again at most once per observation
interval; in between the last verdict stands). An incident whose lock is
taken is skipped until the next round; a round ends early when ``stop``
says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from responder.channels.notifier import Notifier
from responder.incidents.timing import Timings
from responder.metrics import Metrics
from responder.pipeline.indexer import POLLED_STATES, PipelineIndexer
from responder.pipeline.runner import Pipeline
from responder.pipeline.stage import Stage, run
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.update import Batch, PlannedRun, Update
from responder.store import LockBusy, Store, StoreUnavailable, held_lock

log = logging.getLogger(__name__)

#: due incidents one round reads at most (the rest wait for the next round)
ROUND = 5000
POLLED = POLLED_STATES | {IncidentState.suppressed}


class Scheduler:
    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        indexer: PipelineIndexer,
        timings: Timings,
        metrics: Metrics,
        notifier: Notifier | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.indexer = indexer
        self.timings = timings
        self.metrics = metrics
        self.notifier = notifier
        self.clock = clock
        self.poll_stages: list[Stage] = pipeline.stages.deciding()

    def run_due(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Poll and resolve what is due; the ids polled or resolved."""
        return self._round(POLLED | {IncidentState.recovering}, stop)

    def poll(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Poll the open incidents whose poll is due; the ids polled."""
        return self._round(POLLED, stop)

    def sweep(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Resolve the recovering incidents whose quiet period has passed; their ids."""
        return self._round(frozenset({IncidentState.recovering}), stop)

    def _round(self, states: frozenset[IncidentState], stop: Callable[[], bool]) -> list[str]:
        now = self.clock()
        due = self.store.due_incidents(now.timestamp(), ROUND)
        if not due:
            return []
        candidates = self.store.get_incidents(due)
        done: list[str] = []
        for incident_id in due:
            if stop():
                break
            candidate = candidates.get(incident_id)
            if candidate is None or candidate.state not in states:
                continue
            try:
                if self._turn(candidate):
                    done.append(incident_id)  # polled, or resolved
            except LockBusy:
                continue
            except StoreUnavailable:
                raise
            except Exception:
                # one incident that cannot be looked at must not starve the others
                log.exception("scheduled turn of incident %s failed", incident_id)
        return done

    def _turn(self, candidate: Incident) -> bool:
        """One scheduled turn; True when the incident was polled or resolved."""
        planned: list[PlannedRun] = []
        key = candidate.correlation_key
        with held_lock(self.store, f"incident:{key}", self.pipeline.lock_ttl):
            now = self.clock()
            incident = self.store.get_incident(candidate.id)
            if incident is None or incident.state != candidate.state:
                return False
            due = self.indexer.due(incident)
            if due is None or due > now:
                return False  # another replica looked at it a moment ago
            batch = Batch(now)
            update = Update("poll", key, batch, incident)
            if incident.state == IncidentState.recovering:
                resolved = self._resolve(update, incident)
            else:
                resolved = False
                if incident.state == IncidentState.suppressed:
                    if incident.suppressed_until is not None and now < incident.suppressed_until:
                        return False
                    incident.move_to(IncidentState.triaged, "suppression window ended", now)
                run(self.poll_stages, update)
                incident.polled_at = now
                incident.updated_at = now
                planned = update.planned
            batch.writes.save_incident(incident)
            self.store.commit(batch.writes)
        if resolved:
            self.metrics.incidents_resolved.labels(
                incident.incident_type, incident.severity, incident.environment
            ).inc()
        if planned:
            self.pipeline.act_on(incident, planned)
        return resolved or candidate.state != IncidentState.recovering

    def _resolve(self, update: Update, incident: Incident) -> bool:
        now = update.now
        quiet = timedelta(seconds=self.timings.quiet_period(incident.incident_type))
        since = incident.recovering_since or incident.updated_at
        if now - since < quiet:
            return False
        if not self._exit_criteria_hold(update, incident):
            incident.updated_at = now
            return False
        incident.move_to(
            IncidentState.resolved,
            f"alerts resolved and quiet for {int(quiet.total_seconds())}s",
            now,
        )
        if self.notifier is not None:
            self.notifier.resolved(incident, now)
        update.audit("incident.resolve", "exit criteria hold")
        return True

    def _exit_criteria_hold(self, update: Update, incident: Incident) -> bool:
        """Whether the type's exit criteria hold, as far as its collectors can
        tell (True when none can): looked at again once per observation
        interval; in between, the last verdict stands."""
        observe = self.pipeline.stages.observe
        if observe is None or not observe.serves_type(incident.incident_type):
            return True
        window = timedelta(seconds=self.timings.poll_window(incident.incident_type))
        if incident.polled_at is None or update.now - incident.polled_at >= window:
            observe(update)
            return update.exit_criteria is not False
        last = next(
            (e.detail for e in reversed(incident.timeline) if e.event == "exit_criteria"), ""
        )
        return last != "do not hold"
