"""The policy matrix (spec section 11), as the engine actually resolves it.

Every cell is an answer of the policy engine, never read off the taxonomy's
lists, and every catalogue action is tried, so a policy that auto-allows
something unexpected shows up here. Rows are for the type's default severity
with default facts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from responder.policy.allowlist import Allowlist, never_auto_reason
from responder.policy.decision import Decision, PolicyDecision
from responder.policy.engine import IncidentView, PolicyEngine
from responder.records.levels import Confidence, Environment
from responder.records.target import Target, TargetPattern
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.loader import builtin_taxonomy
from responder.taxonomy.models import ActionClass, Taxonomy

#: target kinds that have no namespace
CLUSTER_SCOPED = frozenset(
    {"cluster", "namespace", "node", "incident", "channel", "persistentvolume", "helmchart"}
)
_GLOB = str.maketrans("", "", "*?[]")

COLUMNS = (
    "incident class",
    "auto observe",
    "auto notify",
    "auto contain",
    "approval required",
    "human only",
)


@dataclass(frozen=True, kw_only=True)
class Row:
    """One incident type's row of the resolved matrix in one environment."""

    incident_type: str
    auto_observe: bool
    auto_notify: bool
    auto_contain: tuple[str, ...]
    approval_required: tuple[str, ...]
    approval_if_shared: tuple[str, ...] = ()
    human_only: tuple[str, ...] = ()
    off: tuple[str, ...] = ()
    #: class of every action in auto_contain
    classes: Mapping[str, str] = field(default_factory=dict)
    #: the representative target each evaluated action was decided on
    targets: Mapping[str, str] = field(default_factory=dict)

    @property
    def auto_contain_kind(self) -> str:
        """The spec's vocabulary for the column: ``no``, ``yes, allowlist
        only``, ``limited restart`` or ``alternate-channel retry``."""
        if not self.auto_contain:
            return "no"
        if all(self.classes.get(a) == ActionClass.recover for a in self.auto_contain):
            return "limited restart"
        if set(self.auto_contain) == {"failover_channel"}:
            return "alternate-channel retry"
        return "yes, allowlist only"

    @property
    def auto_contain_summary(self) -> str:
        if not self.auto_contain:
            return "no"
        return f"{self.auto_contain_kind}: {', '.join(self.auto_contain)}"

    def approval_cell(self) -> str:
        items = [*self.approval_required, *(f"{a} (shared)" for a in self.approval_if_shared)]
        return ", ".join(items) or "none"

    def as_json(self) -> dict[str, Any]:
        return {
            "incident_type": self.incident_type,
            "auto_observe": self.auto_observe,
            "auto_notify": self.auto_notify,
            "auto_contain": {
                "summary": self.auto_contain_kind,
                "actions": list(self.auto_contain),
            },
            "approval_required": list(self.approval_required),
            "approval_if_shared": list(self.approval_if_shared),
            "human_only": list(self.human_only),
            "off": list(self.off),
            "targets": dict(self.targets),
        }


# representative targets


def _concrete(pattern: TargetPattern, kinds: tuple[str, ...], incident_type: str) -> Target:
    kind = pattern.kind if pattern.kind.translate(_GLOB) == pattern.kind else ""
    kind = kind or (kinds[0] if kinds else "deployment")
    namespace: str | None = None
    if kind not in CLUSTER_SCOPED:
        namespace = pattern.namespace.translate(_GLOB).strip("-") or "default"
    name = pattern.name.translate(_GLOB).strip("-")
    if not name:
        if kind == "incident":
            name = incident_type
        elif kind == "channel":
            name = "alternate"
        elif namespace and namespace != "default":
            name = namespace
        else:
            name = kind
    return Target(kind=kind, namespace=namespace, name=name)


def representative_target(
    action_id: str,
    incident_type: str,
    allowlist: Allowlist | None = None,
    taxonomy: Taxonomy | None = None,
) -> Target | None:
    """A concrete target to decide ``action_id`` on for the matrix.

    Where the allowlist has an entry for the action: a target made from the
    entry's first pattern that the allowlist allows (in one of the entry's
    environments) and that is not on the never-auto list — e.g.
    ``cluster/cluster`` for delete_completed_pods, ``cronjob/default/trivy-db-warmup``
    for suspend_cronjob. Otherwise a plain target of the action's first
    target kind, or None for actions that take none (observe, notify)."""
    allowlist = allowlist or Allowlist()
    taxonomy = taxonomy or builtin_taxonomy()
    spec = taxonomy.actions[action_id]
    for entry in allowlist.entries:
        if entry.action != action_id:
            continue
        for pattern in entry.targets:
            target = _concrete(pattern, spec.target_kinds, incident_type)
            allowed = any(allowlist.allowing(action_id, target, env) for env in entry.environments)
            if allowed and never_auto_reason(action_id, target) is None:
                return target
    if not spec.target_kinds:
        return None
    return _concrete(TargetPattern(name="example"), spec.target_kinds, incident_type)


def target_text(target: Target | None) -> str:
    if target is None:
        return "-"
    if target.namespace:
        return f"{target.kind}/{target.namespace}/{target.name}"
    return f"{target.kind}/{target.name}"


# resolution


def _decide(
    engine: PolicyEngine,
    incident_type: str,
    environment: Environment,
    confidence: Confidence,
    action_id: str,
    target: Target | None,
    shared: bool = False,
) -> PolicyDecision:
    known = engine.taxonomy.incident_types.get(incident_type)
    incident = IncidentView(
        incident_type=incident_type,
        environment=environment,
        severity=known.default_severity if known else "warning",
        confidence=confidence,
        domain=known.domain if known else "",
        facts={**FACT_DEFAULTS, "shared_dependency": shared},
    )
    return engine.decide(incident, action_id, target)


def resolve_row(engine: PolicyEngine, incident_type: str, environment: Environment) -> Row:
    """The matrix row of one incident type in one environment."""
    taxonomy = engine.taxonomy
    known = taxonomy.incident_types.get(incident_type)
    named = set(known.candidate_actions) if known else set()
    targets: dict[str, Target | None] = {
        action_id: representative_target(action_id, incident_type, engine.allowlist, taxonomy)
        for action_id in taxonomy.actions
    }

    def always_auto(klass: ActionClass) -> bool:
        ids = [a for a, spec in taxonomy.actions.items() if spec.action_class == klass]
        return bool(ids) and all(
            _decide(engine, incident_type, environment, confidence, a, targets[a]).decision
            == Decision.auto
            for a in ids
            for confidence in Confidence
        )

    auto: list[str] = []
    if_shared: list[str] = []
    columns: dict[Decision, list[str]] = {d: [] for d in Decision}
    classes: dict[str, str] = {}
    for action_id, spec in taxonomy.actions.items():
        if spec.action_class in (ActionClass.observe, ActionClass.notify):
            continue
        decided = _decide(
            engine, incident_type, environment, Confidence.high, action_id, targets[action_id]
        ).decision
        if decided == Decision.auto:
            auto.append(action_id)
            classes[action_id] = spec.action_class.value
            shared = _decide(
                engine,
                incident_type,
                environment,
                Confidence.high,
                action_id,
                targets[action_id],
                shared=True,
            ).decision
            if shared != Decision.auto and action_id in named:
                if_shared.append(action_id)
        elif action_id in named:
            columns[decided].append(action_id)
    return Row(
        incident_type=incident_type,
        auto_observe=always_auto(ActionClass.observe),
        auto_notify=always_auto(ActionClass.notify),
        auto_contain=tuple(auto),
        approval_required=tuple(columns[Decision.approval]),
        approval_if_shared=tuple(if_shared),
        human_only=tuple(columns[Decision.human_only]),
        off=tuple(columns[Decision.off]),
        classes=classes,
        targets={a: target_text(t) for a, t in targets.items() if a in named or a in auto},
    )


def resolved_matrix(engine: PolicyEngine) -> dict[Environment, list[Row]]:
    """Every environment's matrix: one row per incident type, in catalogue order."""
    return {
        environment: [
            resolve_row(engine, incident_type, environment)
            for incident_type in engine.taxonomy.incident_types
        ]
        for environment in Environment
    }


# presentation


def format_matrix(matrix: Mapping[Environment, list[Row]]) -> str:
    """A plain-text table per environment, in the spec's column order."""
    out: list[str] = []
    for environment, rows in matrix.items():
        cells = [
            (
                row.incident_type,
                "yes" if row.auto_observe else "no",
                "yes" if row.auto_notify else "no",
                row.auto_contain_summary,
                row.approval_cell(),
                ", ".join(row.human_only) or "none",
            )
            for row in rows
        ]
        widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]

        def line(values: tuple[str, ...], widths: list[int] = widths) -> str:
            return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

        out.append(f"## {environment.value}")
        out.append("")
        out.append(line(COLUMNS))
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        out.extend(line(c) for c in cells)
        offs = [f"{row.incident_type}: {', '.join(row.off)}" for row in rows if row.off]
        if offs:
            out.append("")
            out.append("switched off: " + "; ".join(offs))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def matrix_as_json(matrix: Mapping[Environment, list[Row]]) -> dict[str, list[dict[str, Any]]]:
    return {
        environment.value: [row.as_json() for row in rows] for environment, rows in matrix.items()
    }


def matrix_json_text(matrix: Mapping[Environment, list[Row]]) -> str:
    return json.dumps(matrix_as_json(matrix), indent=2) + "\n"
