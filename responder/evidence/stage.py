"""The observe stage: evidence for the incident from the collectors that
serve its type, when it opens, when an alert brings news, and on every poll.

It notes what the collectors found on the timeline (once per finding) and
whether the type's exit criteria hold, and marks the incident polled."""

from __future__ import annotations

from responder.evidence.observer import Observer
from responder.records.update import Update


class ObserveStage:
    name = "observe"

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def serves_type(self, incident_type: str) -> bool:
        return bool(self.observer.collectors.for_type(incident_type))

    def __call__(self, update: Update) -> bool:
        incident = update.incident
        assert incident is not None
        if not self.observer.serves(incident):
            return True
        observation = self.observer.observe(incident, update.now)
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
        return True
