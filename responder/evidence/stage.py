"""The observe stage: evidence from the collectors that serve the incident's
type, when it opens, when an alert brings news, and on every poll.

The incidents of a batch are observed together, so a batch waits for the
cluster's slowest answer once."""

from __future__ import annotations

from collections.abc import Sequence

from responder.evidence.observer import Observation, Observer
from responder.records.update import Update


class ObserveStage:
    name = "observe"

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def serves_type(self, incident_type: str) -> bool:
        return bool(self.observer.collectors.for_type(incident_type))

    def __call__(self, update: Update) -> bool:
        return self.batch([update])[0]

    def batch(self, updates: Sequence[Update]) -> list[bool]:
        """Observe the updates' incidents together (their collectors run in parallel)."""
        served = [u for u in updates if u.incident is not None and self.observer.serves(u.incident)]
        if served:
            incidents = [u.incident for u in served if u.incident is not None]
            observations = self.observer.observe_all(incidents, served[0].now)
            for update, observation in zip(served, observations, strict=True):
                self._noted(update, observation)
        return [True] * len(updates)

    def _noted(self, update: Update, observation: Observation) -> None:
        incident = update.incident
        assert incident is not None
        incident.polled_at = update.now
        update.observed = True
        for summary in observation.summaries:
            incident.note("evidence", summary[:1000], update.now)
        if observation.exit_criteria_met is not None:
            wanted = "hold" if observation.exit_criteria_met else "do not hold"
            last = next(
                (e for e in reversed(incident.timeline) if e.event == "exit_criteria"), None
            )
            if last is None or last.detail != wanted:
                incident.record("exit_criteria", wanted, update.now)
        update.exit_criteria = observation.exit_criteria_met
