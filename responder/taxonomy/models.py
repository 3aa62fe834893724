"""Typed models of the built-in catalogue: domains, actions, incident types.

The catalogue is data (the taxonomy package's YAML files); these models are
what the rest of the responder reads. They are frozen: nothing changes the
catalogue at run time (operator rules live in the store, on top of it).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from responder.records.levels import Severity


class ActionClass(StrEnum):
    """Spec section 5, plus ``human_only`` for the actions of section 6 that
    only a person may carry out."""

    observe = "observe"
    notify = "notify"
    contain = "contain"
    recover = "recover"
    disruptive = "disruptive"
    human_only = "human_only"


#: the classes of the actions that change something: the guard rails tighten
#: their decisions and an ``approval`` decision asks a person
CHANGING_CLASSES = frozenset({ActionClass.contain, ActionClass.recover, ActionClass.disruptive})


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Domain(Frozen):
    id: str
    display_name: str
    covers: str


class ActionParam(Frozen):
    """One parameter an action's executor needs (the action contract)."""

    type: Literal["string", "integer", "boolean", "object", "list"] = "string"
    required: bool = False
    description: str = ""


class ActionSpec(Frozen):
    """One action identifier of the catalogue (architecture guide section 2).
    ``target_kinds`` and ``params`` are its contract: what it acts on and what
    its executor needs besides the target."""

    id: str
    action_class: ActionClass
    display_name: str
    description: str
    target_kinds: tuple[str, ...] = ()
    idempotent: bool = False
    inverse: str | None = None
    expected_impact: str = ""
    rollback: str = ""
    params: dict[str, ActionParam] = {}


class SeverityRule(Frozen):
    """A severity the type takes when ``condition`` (CEL over the incident)
    holds. Rules are tried in order; the first match wins."""

    severity: Severity
    when: str
    condition: str


class Cooldowns(Frozen):
    """Spec section 7; an incident type may override any of them."""

    observation_poll_seconds: int = 60
    duplicate_suppression_seconds: int = 900
    action_retry_seconds: int = 900
    disruptive_retry_seconds: int = 3600


class AutoContain(StrEnum):
    """The "auto contain" column of the policy matrix (spec section 11)."""

    no = "no"
    allowlist_only = "allowlist_only"
    limited_restart_demo_staging = "limited_restart_demo_staging"
    alternate_channel_retry = "alternate_channel_retry"


class PolicyBinding(Frozen):
    """The type's row of the policy matrix, as written in the spec."""

    auto_contain: AutoContain
    approval_required: str
    human_only: str


class ScopeKind(StrEnum):
    """What identifies "the same problem" for correlation."""

    node = "node"
    workload = "workload"
    service = "service"
    cluster = "cluster"


class LadderStep(Frozen):
    """One rung of a type's escalation ladder: the actions the robot runs or
    asks for, how long the step gets, and where a failure leads. A step fails
    when its actions all failed or were denied, or when its wait passes while
    the problem persists; ``next`` then climbs to the following step,
    ``escalate`` escalates the incident and ends the climb."""

    id: str
    actions: tuple[str, ...]
    wait_seconds: int
    on_failure: Literal["next", "escalate"]


#: the ladder of a type the catalogue does not know (unclassified alerts,
#: operator-defined types): tell people, and escalate when that does not do it
DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep(id="notify", actions=("notify_operator",), wait_seconds=900, on_failure="escalate"),
)


class IncidentType(Frozen):
    id: str
    domain: str
    display_name: str
    description: str
    default_severity: Severity
    scope_kind: ScopeKind
    primary_signals: tuple[str, ...]
    secondary_signals: tuple[str, ...] = ()
    severity_rules: tuple[SeverityRule, ...] = ()
    root_cause_hypotheses: tuple[str, ...] = ()
    auto_allowed: tuple[str, ...]
    approval_required: tuple[str, ...] = ()
    human_only: tuple[str, ...] = ()
    cooldowns: Cooldowns = Field(default_factory=Cooldowns)
    exit_criteria: tuple[str, ...] = ()
    quiet_period_seconds: int = 300
    policy_binding: PolicyBinding
    escalation_ladder: tuple[LadderStep, ...] = ()

    @property
    def candidate_actions(self) -> tuple[str, ...]:
        """Every action the type names, in catalogue order of strictness."""
        return self.auto_allowed + self.approval_required + self.human_only


class Taxonomy(Frozen):
    """The validated catalogue. Build it with ``responder.taxonomy.load``."""

    version: str
    domains: dict[str, Domain]
    actions: dict[str, ActionSpec]
    incident_types: dict[str, IncidentType]

    def incident_type(self, type_id: str) -> IncidentType:
        return self.incident_types[type_id]

    def action(self, action_id: str) -> ActionSpec:
        return self.actions[action_id]

    @cached_property
    def node_actions(self) -> frozenset[str]:
        """The actions that act on a node (``target_kinds`` names ``node``)."""
        return frozenset(a.id for a in self.actions.values() if "node" in a.target_kinds)

    @cached_property
    def untargeted_actions(self) -> frozenset[str]:
        """The observe and notify actions: they act on nothing in the cluster."""
        return frozenset(
            a.id
            for a in self.actions.values()
            if a.action_class in (ActionClass.observe, ActionClass.notify)
        )

    def ladder(self, type_id: str) -> tuple[LadderStep, ...]:
        """The type's escalation ladder; ``DEFAULT_LADDER`` for a type the
        catalogue does not know."""
        known = self.incident_types.get(type_id)
        return known.escalation_ladder if known is not None else DEFAULT_LADDER
