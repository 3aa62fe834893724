"""How long things take per incident type: the catalogue's cooldowns and
quiet periods, as the settings override them."""

from __future__ import annotations

from dataclasses import dataclass

from responder.incidents.ladder import ladder_for
from responder.records.incident import Incident
from responder.sections import TimingSettings
from responder.taxonomy.models import LadderStep, Taxonomy


@dataclass(eq=False)
class Timings:
    settings: TimingSettings
    taxonomy: Taxonomy

    def poll_window(self, incident_type: str) -> float:
        """How often an open incident is looked at again."""
        if self.settings.observation_poll_seconds is not None:
            return float(self.settings.observation_poll_seconds)
        known = self.taxonomy.incident_types.get(incident_type)
        return float(known.cooldowns.observation_poll_seconds if known else 60)

    def duplicate_window(self, incident_type: str) -> float:
        """How long a repeat of the same alert is a duplicate (no operator rule)."""
        if self.settings.duplicate_window_seconds is not None:
            return float(self.settings.duplicate_window_seconds)
        known = self.taxonomy.incident_types.get(incident_type)
        return float(known.cooldowns.duplicate_suppression_seconds if known else 900)

    def quiet_period(self, incident_type: str) -> int:
        """How long a recovering incident stays quiet before it resolves."""
        quiet = self.settings.quiet_period_seconds
        if incident_type in quiet:
            return quiet[incident_type]
        if "*" in quiet:
            return quiet["*"]
        known = self.taxonomy.incident_types.get(incident_type)
        return known.quiet_period_seconds if known else 300

    def escalation_window(self, incident_type: str) -> int:
        """How long a contained problem may persist before the incident escalates."""
        if self.settings.escalation_window_seconds is not None:
            return self.settings.escalation_window_seconds
        known = self.taxonomy.incident_types.get(incident_type)
        return known.cooldowns.action_retry_seconds if known else 900

    def ladder(self, incident: Incident) -> tuple[LadderStep, ...]:
        return ladder_for(
            self.taxonomy, incident.incident_type, self.settings.escalation_window_seconds
        )
