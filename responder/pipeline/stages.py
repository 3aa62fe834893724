"""The named stages of the pipeline, and the orders a turn passes them in."""

from __future__ import annotations

from dataclasses import dataclass

from responder.actions.feasibility import FeasibilityStage
from responder.actions.stage import ActStage, RecordRunsStage
from responder.approvals.ask import AskStage
from responder.channels.stage import NotifyStage
from responder.evidence.stage import ObserveStage
from responder.guards.stage import GuardStage
from responder.incidents.correlate import CorrelateStage
from responder.incidents.escalation import EscalationStage
from responder.pipeline.stage import Stage
from responder.policy.stage import DecideStage


@dataclass(frozen=True)
class Stages:
    correlate: CorrelateStage
    observe: ObserveStage | None
    escalate: EscalationStage
    decide: DecideStage
    feasibility: FeasibilityStage
    guard: GuardStage
    notify: NotifyStage
    act: ActStage
    ask: AskStage
    record_runs: RecordRunsStage

    def looking(self) -> list[Stage]:
        """Evidence, then the decisions with the guard rails."""
        observe: list[Stage] = [self.observe] if self.observe is not None else []
        return [*observe, self.decide, self.feasibility, self.guard]

    def deciding(self) -> list[Stage]:
        """A turn that looks again: evidence, ladder, decisions, and what follows."""
        observe: list[Stage] = [self.observe] if self.observe is not None else []
        return [
            *observe,
            self.escalate,
            self.decide,
            self.feasibility,
            self.guard,
            self.notify,
            self.act,
            self.ask,
        ]
