"""The scheduler: incidents come back to the stages when they are due.

The store keeps when each incident is due, so a round reads only the due ones
and open incidents cost nothing until then. Due incidents are polled,
un-suppressed or resolved, in batches like the runner's; one whose lock is
taken waits for the next round."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from responder.channels.notifier import Notifier
from responder.guards.rails import is_node_incident, nodes_lock
from responder.incidents.timing import Timings
from responder.metrics import Metrics
from responder.pipeline.indexer import POLLED_STATES, PipelineIndexer
from responder.pipeline.runner import BATCH, Pipeline
from responder.pipeline.stage import Stage, run_batch
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.update import Batch, Update
from responder.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

#: due incidents one round reads at most (the rest wait for the next round)
ROUND = 5000
POLLED = POLLED_STATES | {IncidentState.suppressed}


@dataclass(eq=False)
class Scheduler:
    store: Store
    pipeline: Pipeline
    indexer: PipelineIndexer
    timings: Timings
    metrics: Metrics
    notifier: Notifier | None
    clock: Callable[[], datetime]
    poll_stages: list[Stage] = field(init=False)

    def __post_init__(self) -> None:
        self.poll_stages = self.pipeline.stages.deciding()

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
        chosen = [candidates[i] for i in due if i in candidates and candidates[i].state in states]
        # a storm takes its turn alone: its members' turns take its lock
        # while holding their own (member, then storm; never the reverse)
        members = [c for c in chosen if not c.is_storm]
        batches = [[c] for c in chosen if c.is_storm]
        batches += [members[start : start + BATCH] for start in range(0, len(members), BATCH)]
        done: list[str] = []
        for batch in batches:
            if stop():
                break
            try:
                done += self._turns(batch)
            except StoreUnavailable:
                raise
            except Exception:
                # one incident that cannot be looked at must not starve the others
                log.exception("a scheduled batch failed; its incidents one at a time")
                for candidate in batch:
                    try:
                        done += self._turns([candidate])
                    except StoreUnavailable:
                        raise
                    except Exception:
                        log.exception("scheduled turn of incident %s failed", candidate.id)
        return done

    def _turns(self, candidates: list[Incident]) -> list[str]:
        """The scheduled turns of ``candidates`` as one batch (their locks
        taken together, skipped when another holder has them; their writes
        committed together); the ids polled or resolved."""
        nodes = nodes_lock(self.pipeline.environment)
        by_key = {c.correlation_key: c for c in candidates}
        with_nodes = any(is_node_incident(c.incident_type, c.correlation_key) for c in candidates)
        names = [f"incident:{k}" for k in by_key] + ([nodes] if with_nodes else [])
        taken, fresh = self.store.lock_open_incidents(names, self.pipeline.lock_ttl, list(by_key))
        now = self.clock()
        batch = Batch(now)
        batch.writes.unlock.update(taken)  # released with the batch's writes
        polled: list[Update] = []
        done: list[str] = []
        resolved: list[Incident] = []
        try:
            for key, candidate in by_key.items():
                incident = fresh.get(key)
                node = is_node_incident(candidate.incident_type, key)
                if (
                    f"incident:{key}" not in taken
                    or (node and nodes not in taken)
                    or incident is None
                    or incident.id != candidate.id
                    or incident.state != candidate.state
                ):
                    continue
                due = self.indexer.due(incident)
                if due is None or due > now:
                    continue  # another replica looked at it a moment ago
                update = Update("poll", key, batch, incident)
                if incident.state == IncidentState.recovering:
                    if self._resolve(update, incident):
                        resolved.append(incident)
                        done.append(incident.id)
                    batch.writes.save_incident(incident)
                    continue
                if incident.state == IncidentState.suppressed:
                    if incident.suppressed_until is not None and now < incident.suppressed_until:
                        continue
                    incident.move_to(IncidentState.triaged, "suppression window ended", now)
                polled.append(update)
            run_batch(self.poll_stages, polled)
            for update in polled:
                incident = update.incident
                assert incident is not None
                incident.polled_at = now
                incident.updated_at = now
                batch.writes.save_incident(incident)
                done.append(incident.id)
            self.store.commit(batch.writes)
        except BaseException:
            self.store.release_locks(taken)
            raise
        for incident in resolved:
            self.metrics.incidents_resolved.labels(
                incident.incident_type, incident.severity, incident.environment
            ).inc()
        for update in polled:
            if update.planned and update.incident is not None:
                self.pipeline.act_on(update.incident, update.planned)
        return done

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
