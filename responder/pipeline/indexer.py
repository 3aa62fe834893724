"""What the store keeps beside each incident for the guard rails and the
scheduler: the guard rails' entries and when the incident is due next.

Open incidents are due at their next poll, suppressed ones when the
suppression ends, recovering ones when the quiet period ends or the
collectors look again; observed and resolved ones never."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from responder.guards.rails import guard_entries
from responder.incidents.timing import Timings
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import IncidentIndex

POLLED_STATES = frozenset({IncidentState.triaged, IncidentState.contained, IncidentState.escalated})


class PipelineIndexer:
    def __init__(
        self,
        blocking_alerts: Sequence[Mapping[str, str]],
        timings: Timings,
        serves: Callable[[str], bool],
    ) -> None:
        self.selectors = tuple(blocking_alerts)
        self.timings = timings
        self.serves = serves
        types = sorted(timings.taxonomy.incident_types)
        described = {
            "blocking": [dict(s) for s in self.selectors],
            "taxonomy": timings.taxonomy.version,
            "poll": {t: timings.poll_window(t) for t in types},
            "quiet": {t: timings.quiet_period(t) for t in types},
            "quiet_settings": timings.settings.quiet_period_seconds,
            "poll_setting": timings.settings.observation_poll_seconds,
            "observed": [t for t in types if serves(t)],
        }
        text = json.dumps(described, sort_keys=True, default=str)
        self.signature = "v1:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def __call__(self, incident: Incident) -> IncidentIndex:
        due = self.due(incident)
        return IncidentIndex(
            guard_entries(incident, self.selectors), due.timestamp() if due else None
        )

    def due(self, incident: Incident) -> datetime | None:
        window = timedelta(seconds=self.timings.poll_window(incident.incident_type))
        if incident.state in POLLED_STATES:
            return (incident.polled_at or incident.created_at) + window
        if incident.state == IncidentState.suppressed:
            return incident.suppressed_until or incident.updated_at
        if incident.state == IncidentState.recovering:
            since = incident.recovering_since or incident.updated_at
            quiet = since + timedelta(seconds=self.timings.quiet_period(incident.incident_type))
            if incident.polled_at is not None and self.serves(incident.incident_type):
                return max(quiet, incident.polled_at + window)
            return quiet
        return None
