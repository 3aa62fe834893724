"""Resolution of one (incident, action) into a decision with its trace.

Five layers (taxonomy, defaults, environment, operator rules, hard constraints);
the last only tightens, and a layer that fails counts as ``approval``. A code
backstop holds the safety invariants even against a broken file. Decisions are
memoised by what the layers read: a storm costs a handful of evaluations."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from responder.policy.allowlist import Allowlist, never_auto_reason
from responder.policy.cel import CelError, Engine, Program, default_engine
from responder.policy.decision import Decision, Layer, LayerResult, PolicyDecision, stricter
from responder.policy.files import CompiledPolicy, compile_policy
from responder.policy.reads import Path as ReadPath
from responder.policy.reads import frozen, paths_read, value_at
from responder.policy.rules import OperatorRule
from responder.records.levels import Environment
from responder.records.target import Target
from responder.taxonomy.models import ActionClass, AutoContain, Taxonomy

log = logging.getLogger(__name__)

DEFAULT_POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies.cel"

#: contain actions production may run on its own: clearly safe and idempotent
PRODUCTION_SAFE = frozenset({"delete_completed_pods", "suppress_incident", "failover_channel"})


@dataclass(frozen=True)
class IncidentView:
    """What the policy sees of an incident (real or hypothetical)."""

    incident_type: str
    environment: Environment
    severity: str
    confidence: str
    domain: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    scope: Mapping[str, str] = field(default_factory=dict)
    signals: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    age_seconds: int = 0
    firing_alerts: int = 1

    def as_input(self, auto_contain: str, known_type: bool) -> dict[str, Any]:
        return {
            "type": self.incident_type,
            "known_type": known_type,
            "domain": self.domain,
            "environment": str(self.environment),
            "severity": str(self.severity),
            "confidence": str(self.confidence),
            "labels": dict(self.labels),
            "scope": dict(self.scope),
            "signals": {k: dict(v) for k, v in self.signals.items()},
            "facts": dict(self.facts),
            "age_seconds": int(self.age_seconds),
            "firing_alerts": int(self.firing_alerts),
            "auto_contain": auto_contain,
        }


@dataclass(frozen=True)
class History:
    """Recent runs of the action on this target (from the executors)."""

    runs_last_hour: int = 0
    last_run_age_seconds: int = -1
    in_cooldown: bool = False

    def as_input(self) -> dict[str, Any]:
        return {
            "runs_last_hour": self.runs_last_hour,
            "last_run_age_seconds": self.last_run_age_seconds,
            "in_cooldown": self.in_cooldown,
        }


class PolicySet:
    """The compiled files of one ``policies.cel/`` directory for one engine."""

    def __init__(self, directory: Path, engine: Engine) -> None:
        self.directory = directory
        self.engine = engine

        def load(relative: str) -> CompiledPolicy:
            return compile_policy(directory / relative, engine, label=f"policies.cel/{relative}")

        self.defaults = load("defaults.yaml")
        self.environments = {env: load(f"environments/{env.value}.yaml") for env in Environment}
        self.hard_constraints = load("hard_constraints.yaml")


#: decisions kept at most; beyond it the memo starts again
MEMO_SIZE = 50_000
_INPUTS = ("incident", "action", "history", "environment", "now")
#: the fields of the action input besides its target (plain values)
ACTION_FIELDS = (
    "id",
    "class",
    "listing",
    "has_target",
    "allowlisted",
    "allowlist_reason",
    "never_auto",
    "never_auto_reason",
    "shared",
    "idempotent",
    "production_safe",
)


class _Memo:
    """Decisions by what decided them, for one set of operator rules."""

    def __init__(self, rules: tuple[OperatorRule, ...], reads: set[ReadPath]) -> None:
        self.rules = rules
        self.incident_paths = sorted(p[1:] for p in reads if p[0] == "incident")
        self.reads_now = any(p[0] == "now" for p in reads)
        self.reads_history = any(p[0] == "history" for p in reads)
        self.reads_target = any(p[0] == "action" and p[1:2] in (("target",), ()) for p in reads)
        self.decisions: dict[tuple[object, ...], tuple[PolicyDecision, dict[str, object]]] = {}

    def action_key(self, action: Mapping[str, Any]) -> tuple[object, ...]:
        """What of the action decides: every field, its target only when read
        (the Python layers read the other fields, never the target)."""
        key = tuple(action[name] for name in ACTION_FIELDS)
        return (*key, frozen(action["target"])) if self.reads_target else key

    def incident_key(
        self,
        view: IncidentView,
        incident_input: Mapping[str, Any],
        at: datetime | None,
        history: History | None,
    ) -> tuple[tuple[object, ...], tuple[OperatorRule, ...]]:
        """What of the incident decides, and the operator rules that apply to it."""
        applicable = tuple(
            rule
            for rule in self.rules
            if rule.applies_to(view.incident_type, view.environment, view.labels)
        )
        history_input = (history or History()).as_input()
        key = (
            view.incident_type,
            str(view.environment),
            str(view.confidence),
            tuple(value_at(incident_input, path) for path in self.incident_paths),
            tuple(rule.id for rule in applicable),
            at.isoformat() if at is not None and self.reads_now else None,
            tuple(sorted(history_input.items())) if self.reads_history else None,
        )
        return key, applicable


class PolicyEngine:
    def __init__(
        self,
        taxonomy: Taxonomy,
        policies: PolicySet,
        allowlist: Allowlist | None = None,
        rules: Callable[[], Sequence[OperatorRule]] = lambda: (),
        keep: bool = True,
    ) -> None:
        """``keep``: keep decisions by what decided them (off: every layer is
        evaluated every time, as the benchmark measures it)."""
        self.taxonomy = taxonomy
        self.policies = policies
        self.keep = keep
        self.engine = policies.engine
        self.allowlist = allowlist or Allowlist()
        self._rules = rules
        self._thresholds: dict[str, Program] = {}
        self._file_reads = self._reads(
            p.expression
            for p in (policies.defaults, policies.hard_constraints, *policies.environments.values())
        )
        self._memo: _Memo | None = None

    @classmethod
    def load(
        cls,
        taxonomy: Taxonomy,
        directory: Path = DEFAULT_POLICIES_DIR,
        engine: Engine | None = None,
        allowlist: Allowlist | None = None,
        rules: Callable[[], Sequence[OperatorRule]] = lambda: (),
    ) -> PolicyEngine:
        return cls(taxonomy, PolicySet(directory, engine or default_engine()), allowlist, rules)

    # inputs

    def action_input(
        self, incident: IncidentView, action_id: str, target: Target | None
    ) -> dict[str, Any]:
        spec = self.taxonomy.actions[action_id]
        listing = self._listing(incident.incident_type, action_id)
        allowed = self.allowlist.allowing(action_id, target, incident.environment)
        never = never_auto_reason(action_id, target)
        shared = self.allowlist.is_shared(target) or bool(incident.facts.get("shared_dependency"))
        return {
            "id": action_id,
            "class": spec.action_class.value,
            "listing": listing,
            "target": target.as_dict() if target else {"kind": "", "namespace": "", "name": ""},
            "has_target": target is not None,
            "allowlisted": allowed is not None,
            "allowlist_reason": allowed.reason if allowed else "",
            "never_auto": never is not None,
            "never_auto_reason": never or "",
            "shared": shared,
            "idempotent": spec.idempotent,
            "production_safe": action_id in PRODUCTION_SAFE,
        }

    @functools.lru_cache(maxsize=1024)  # noqa: B019  (the engine lives as long as the process)
    def _listing(self, incident_type: str, action_id: str) -> str:
        """Under which of the type's lists ``action_id`` stands (the last that names it)."""
        known = self.taxonomy.incident_types.get(incident_type)
        listing = "unlisted"
        if known is not None:
            for name in ("auto_allowed", "approval_required", "human_only"):
                if action_id in getattr(known, name):
                    listing = name
        return listing

    # resolution

    def has_rules(self) -> bool:
        return bool(self._rules())

    def decide(
        self,
        incident: IncidentView,
        action_id: str,
        target: Target | None = None,
        history: History | None = None,
        at: datetime | None = None,
    ) -> PolicyDecision:
        return self.decide_all(incident, [(action_id, target)], history, at)[0]

    def decide_all(
        self,
        incident: IncidentView,
        wanted: Iterable[tuple[str, Target | None]],
        history: History | None = None,
        at: datetime | None = None,
    ) -> list[PolicyDecision]:
        """The decision for each (action, target) of ``wanted`` on ``incident``."""
        return [
            decision if decision.target == answer["target"] else replace(decision, target=target)
            for decision, answer in self.explain_all(incident, wanted, history, at)
            for target in [cast(dict[str, str] | None, answer["target"])]
        ]

    def explain_all(
        self,
        incident: IncidentView,
        wanted: Iterable[tuple[str, Target | None]],
        history: History | None = None,
        at: datetime | None = None,
    ) -> list[tuple[PolicyDecision, dict[str, object]]]:
        """The decision for each (action, target) of ``wanted`` on ``incident``,
        with its explain answer (a fresh dict; the layers in it are shared).
        The decision is the one kept for whatever decided it: its ``target``
        may be another's; the answer's is this one's."""
        memo = self._current_memo()
        known = self.taxonomy.incident_types.get(incident.incident_type)
        auto_contain = str(known.policy_binding.auto_contain) if known else "no"
        incident_input = incident.as_input(auto_contain, known is not None)
        base, applicable = memo.incident_key(incident, incident_input, at, history)
        suppressed = tuple(r.suppressed_at(at) for r in applicable) if at else ()
        decisions = []
        for action_id, target in wanted:
            if action_id not in self.taxonomy.actions:
                raise KeyError(f"unknown action {action_id!r}")
            action = self.action_input(incident, action_id, target)
            key = (
                base,
                memo.action_key(action),
                suppressed if action_id == "notify_operator" else (),
            )
            found = memo.decisions.get(key) if self.keep else None
            if found is None:
                decision = self._decide(incident, action_id, target, history, at, action)
                found = (decision, decision.explain())
                if len(memo.decisions) >= MEMO_SIZE:
                    memo.decisions.clear()
                if self.keep:
                    memo.decisions[key] = found
            decision, answer = found
            decisions.append((decision, {**answer, "target": target.as_dict() if target else None}))
        return decisions

    def _current_memo(self) -> _Memo:
        rules = tuple(self._rules())
        memo = self._memo
        if memo is None or memo.rules != rules:
            reads = self._file_reads | self._reads(r.threshold_expression for r in rules)
            memo = self._memo = _Memo(rules, reads)
        return memo

    @staticmethod
    def _reads(expressions: Iterable[str]) -> set[ReadPath]:
        return {path for e in expressions for path in paths_read(e, _INPUTS)}

    def _decide(
        self,
        incident: IncidentView,
        action_id: str,
        target: Target | None,
        history: History | None,
        at: datetime | None,
        action: dict[str, Any],
    ) -> PolicyDecision:
        incident_type = self.taxonomy.incident_types.get(incident.incident_type)
        auto_contain = incident_type.policy_binding.auto_contain if incident_type else "no"
        incident_input = incident.as_input(str(auto_contain), incident_type is not None)
        data = {
            "incident": incident_input,
            "action": action,
            "history": (history or History()).as_input(),
            "environment": str(incident.environment),
            "now": (at.isoformat() if at else ""),
        }
        activation = self.engine.activation(data)
        layers: list[LayerResult] = [self._taxonomy_layer(incident, action)]
        for layer, policy in (
            (Layer.defaults, self.policies.defaults),
            (Layer.environment, self.policies.environments[incident.environment]),
        ):
            layers.append(self._file_layer(layer, policy, activation))
        layers.append(self._operator_layer(incident, action_id, activation, at))

        current: Decision | None = None
        reason = "no layer had an opinion; approval by default"
        for result in layers:
            if result.decision is not None:
                current, reason = result.decision, result.reason
        decided = current or Decision.approval

        hard = self._file_layer(Layer.hard_constraints, self.policies.hard_constraints, activation)
        final = decided
        if hard.decision is not None and hard.decision.rank > decided.rank:
            final, reason = hard.decision, hard.reason
        backstop = _invariants(final, action, incident_input)
        if backstop is not None:
            final, why = backstop
            reason = why
            hard = LayerResult(
                layer=Layer.hard_constraints,
                decision=final,
                reason=f"{hard.reason}; built-in invariant: {why}".lstrip("; "),
            )
        layers.append(hard)
        return PolicyDecision(
            action=action_id,
            action_class=action["class"],
            decision=final,
            reason=reason,
            layers=tuple(layers),
            target=target.as_dict() if target else None,
        )

    def _taxonomy_layer(self, incident: IncidentView, action: Mapping[str, Any]) -> LayerResult:
        name = incident.incident_type
        if action["class"] == ActionClass.human_only:
            return LayerResult(
                layer=Layer.taxonomy,
                decision=Decision.human_only,
                reason=f"{action['id']} is a human-only action (spec section 6)",
            )
        if name not in self.taxonomy.incident_types:
            if action["class"] in (ActionClass.observe, ActionClass.notify):
                return LayerResult(
                    layer=Layer.taxonomy,
                    decision=Decision.auto,
                    reason=f"{name}: observe and notify only",
                )
            return LayerResult(
                layer=Layer.taxonomy,
                decision=Decision.off,
                reason=f"{name} incidents are recorded and notified, never acted on",
            )
        listing = action["listing"]
        if listing == "auto_allowed":
            return LayerResult(
                layer=Layer.taxonomy,
                decision=Decision.auto,
                reason=f"{name} lists {action['id']} as auto-allowed",
            )
        if listing == "approval_required":
            return LayerResult(
                layer=Layer.taxonomy,
                decision=Decision.approval,
                reason=f"{name} lists {action['id']} as approval-required",
            )
        if listing == "human_only":
            return LayerResult(
                layer=Layer.taxonomy,
                decision=Decision.human_only,
                reason=f"{name} lists {action['id']} as human-only",
            )
        return LayerResult(
            layer=Layer.taxonomy, decision=None, reason=f"{name} does not name {action['id']}"
        )

    def _file_layer(self, layer: Layer, policy: CompiledPolicy, activation: Any) -> LayerResult:
        try:
            result = policy.evaluate(activation)
        except CelError as exc:
            log.error("policy %s failed to evaluate: %s", policy.file, exc)
            return LayerResult(
                layer=layer,
                decision=Decision.approval,
                reason=f"{policy.file} failed to evaluate ({exc}); failing closed",
            )
        if result is None:
            reason = (
                "no hard constraint applies"
                if layer == Layer.hard_constraints
                else f"{policy.name}: no opinion"
            )
            return LayerResult(layer=layer, decision=None, reason=reason)
        decision, reason = result
        return LayerResult(layer=layer, decision=Decision(decision), reason=reason)

    def _threshold(self, rule: OperatorRule) -> Program:
        key = f"{rule.id}@{rule.version}:{rule.threshold_expression}"
        program = self._thresholds.get(key)
        if program is None:
            program = self.engine.compile(rule.threshold_expression)
            self._thresholds[key] = program
        return program

    def matching_rules(self, incident: IncidentView, activation: Any = None) -> list[OperatorRule]:
        """Operator rules that apply to the incident (a threshold that fails
        to evaluate does not apply; see ``rule_notes``)."""
        return self._match(incident, activation)[0]

    def _match(
        self, incident: IncidentView, activation: Any
    ) -> tuple[list[OperatorRule], list[str]]:
        matched: list[OperatorRule] = []
        notes: list[str] = []
        for rule in self._rules():
            if not rule.applies_to(incident.incident_type, incident.environment, incident.labels):
                continue
            if activation is None:
                activation = self.engine.activation({"incident": incident.as_input("", True)})
            try:
                holds = self._threshold(rule).evaluate(activation)
            except CelError as exc:
                notes.append(f"rule {rule.id}: threshold failed ({exc})")
                continue
            if holds is True:
                matched.append(rule)
        return matched, notes

    def _operator_layer(
        self, incident: IncidentView, action_id: str, activation: Any, at: datetime | None
    ) -> LayerResult:
        matched, notes = self._match(incident, activation)
        decision: Decision | None = None
        reasons: list[str] = []
        for rule in matched:
            wanted: Decision | None = None
            if action_id == "notify_operator" and at is not None and rule.suppressed_at(at):
                wanted, why = Decision.off, f"rule {rule.id}: inside its suppression schedule"
            elif action_id in rule.allowed_action_profile:
                wanted = Decision(rule.allowed_action_profile[action_id])
                why = f"rule {rule.id} v{rule.version} sets {action_id} to {wanted}"
            if wanted is not None:
                decision = wanted if decision is None else stricter(decision, wanted)
                reasons.append(why)
        if decision is None:
            detail = "; ".join(notes) or (
                f"{len(matched)} matching rule(s), none names {action_id}"
                if matched
                else "no operator rule applies"
            )
            return LayerResult(layer=Layer.operator, decision=None, reason=detail)
        return LayerResult(
            layer=Layer.operator, decision=decision, reason="; ".join(reasons + notes)
        )


def _invariants(
    decision: Decision, action: Mapping[str, Any], incident: Mapping[str, Any]
) -> tuple[Decision, str] | None:
    """The spec's safety invariants, enforced in code beneath the policy files."""
    klass = action["class"]
    if klass == ActionClass.human_only and decision != Decision.human_only:
        return Decision.human_only, "human-only actions are never anything but human_only"
    if decision != Decision.auto or klass in (ActionClass.observe, ActionClass.notify):
        return None
    if klass == ActionClass.disruptive:
        return Decision.approval, "disruptive actions always need an approval"
    if incident["confidence"] != "high":
        return Decision.approval, "the robot auto-acts only on high-confidence incidents"
    if action["never_auto"]:
        return Decision.approval, action["never_auto_reason"]
    if not action["allowlisted"]:
        return Decision.approval, "the robot auto-acts only on allowlisted targets"
    if klass == ActionClass.contain:
        if action["id"] == "scale_to_zero" and action["shared"]:
            return Decision.approval, "scaling a shared workload down needs an approval"
        if incident["auto_contain"] == AutoContain.no:
            return Decision.approval, "the policy matrix allows no automatic containment here"
        if incident["environment"] == "production" and not (
            action["production_safe"] and action["idempotent"]
        ):
            return Decision.approval, "production runs only clearly safe idempotent containment"
    if klass == ActionClass.recover and not (
        incident["auto_contain"] == AutoContain.limited_restart_demo_staging
        and action["id"] == "rollout_restart"
        and incident["environment"] in ("demo", "staging")
        and not action["shared"]
    ):
        return Decision.approval, "recover actions need an approval"
    if not incident["known_type"]:
        return Decision.off, "unclassified incidents are never acted on"
    return None
