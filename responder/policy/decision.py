"""Decisions and the layer-by-layer trace that explains them.

From least to most strict: ``auto`` (the robot acts), ``approval`` (the
robot asks, a human approves, the robot acts), ``off`` (switched off: the
robot neither acts nor asks), ``human_only`` (only a person does it, outside
the robot; the robot may only recommend it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from responder.records.levels import RankedEnum


class Decision(RankedEnum):
    """Ranked by strictness."""

    auto = "auto"
    approval = "approval"
    off = "off"
    human_only = "human_only"


def stricter(a: Decision, b: Decision) -> Decision:
    return a if a.rank >= b.rank else b


class Layer(StrEnum):
    taxonomy = "taxonomy"
    defaults = "defaults"
    environment = "environment"
    operator = "operator"
    hard_constraints = "hard_constraints"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerResult:
    """One layer's contribution; ``decision`` is None when it has no opinion."""

    layer: Layer
    decision: Decision | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecision:
    action: str
    action_class: str
    decision: Decision
    reason: str
    layers: tuple[LayerResult, ...]
    target: dict[str, str] | None = None

    def explain(self) -> dict[str, object]:
        """The explain contract's answer."""
        return {
            "decision": self.decision.value,
            "action": self.action,
            "action_class": self.action_class,
            "reason": self.reason,
            "target": self.target,
            "layers": [
                {
                    "layer": r.layer.value,
                    "decision": r.decision.value if r.decision else None,
                    "reason": r.reason,
                }
                for r in self.layers
            ],
        }
