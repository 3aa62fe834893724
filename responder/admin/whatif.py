"""What an unsaved rule would do: a preview over hypothetical incidents and
a backtest over stored ones. Both decide with the running policy engine
(the one behind ``/api/v1/policy/explain``) with the draft put in place of
the saved rule; nothing is executed or saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from responder.policy.engine import History, IncidentView, PolicyEngine
from responder.policy.explain import ExplainRequest, explain
from responder.policy.matrix import representative_target, target_text
from responder.policy.rules import OperatorRule
from responder.policy.severity import SeverityRules
from responder.policy.stage import DecideStage, incident_view
from responder.policy.targets import candidate_target
from responder.records.incident import Incident
from responder.records.levels import Confidence, Environment, Severity
from responder.store import IncidentFilter, Store

FIRST_PAGE = 50
PAGE = 800
#: the backtest lists at most this many incidents (the figures count all)
MAX_LISTED = 200


def with_draft(
    engine: PolicyEngine, draft: OperatorRule, current: Sequence[OperatorRule]
) -> PolicyEngine:
    """The same policies and allowlist, with ``draft`` in place of its saved version."""
    rules = [r for r in current if r.id != draft.id] + [draft]
    return PolicyEngine(engine.taxonomy, engine.policies, engine.allowlist, lambda: rules)


def candidate_actions(engine: PolicyEngine, rule: OperatorRule) -> tuple[str, ...]:
    known = engine.taxonomy.incident_types.get(rule.incident_type)
    if known is not None:
        return known.candidate_actions
    return tuple(
        dict.fromkeys(["collect_evidence", "notify_operator", *rule.allowed_action_profile])
    )


def _preview_type(engine: PolicyEngine, rule: OperatorRule) -> str:
    if rule.incident_type != "*":
        return rule.incident_type
    in_domain = [t.id for t in engine.taxonomy.incident_types.values() if t.domain == rule.domain]
    return in_domain[0] if in_domain else "unclassified"


def clamped(answer: dict[str, Any]) -> bool:
    """The hard constraints made this decision stricter than layers 1-4 said."""
    layers = answer["layers"]
    before = "approval"
    for layer in layers[:-1]:
        if layer["decision"] is not None:
            before = layer["decision"]
    return layers[-1]["decision"] is not None and answer["decision"] != before


@dataclass(frozen=True)
class PreviewCell:
    environment: str
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.before["decision"] != self.after["decision"])

    @property
    def clamped(self) -> bool:
        return clamped(self.after)


@dataclass(frozen=True)
class PreviewRow:
    action: str
    action_class: str
    target: str
    cells: list[PreviewCell]


@dataclass(frozen=True)
class Preview:
    incident_type: str
    severity: str
    confidence: str
    environments: list[str]
    applies: dict[str, bool]
    rows: list[PreviewRow]

    @property
    def changed(self) -> int:
        return sum(cell.changed for row in self.rows for cell in row.cells)


def preview(
    engine: PolicyEngine,
    draft: OperatorRule,
    current: Sequence[OperatorRule],
    now: datetime,
    severity: Severity | None = None,
    confidence: Confidence = Confidence.high,
) -> Preview:
    """Every candidate action by every environment in the draft's scope,
    decided for a hypothetical incident of the rule's type, before (the rules
    as saved) and after (with the draft)."""
    drafted = with_draft(engine, draft, current)
    incident_type = _preview_type(engine, draft)
    known = engine.taxonomy.incident_types.get(incident_type)
    chosen = severity or draft.severity or (known.default_severity if known else Severity.warning)
    environments = [e for e in Environment if e in draft.environment_scope]
    applies: dict[str, bool] = {}
    for environment in environments:
        view = IncidentView(
            incident_type=incident_type,
            environment=environment,
            severity=str(chosen),
            confidence=str(confidence),
            domain=known.domain if known else "",
        )
        applies[environment] = any(r.id == draft.id for r in drafted.matching_rules(view))
    rows = []
    for action in candidate_actions(engine, draft):
        target = representative_target(action, incident_type, engine.allowlist, engine.taxonomy)
        cells = []
        for environment in environments:
            request = ExplainRequest(
                incident_type=incident_type,
                environment=environment,
                severity=chosen,
                confidence=confidence,
                action=action,
                target=target,
                at=now,
            )
            cells.append(
                PreviewCell(str(environment), explain(engine, request), explain(drafted, request))
            )
        rows.append(
            PreviewRow(
                action=action,
                action_class=engine.taxonomy.actions[action].action_class.value,
                target=target_text(target),
                cells=cells,
            )
        )
    return Preview(
        incident_type=incident_type,
        severity=str(chosen),
        confidence=str(confidence),
        environments=[str(e) for e in environments],
        applies=applies,
        rows=rows,
    )


# backtest


@dataclass(frozen=True)
class ChangedDecision:
    action: str
    before: str
    after: str
    reason: str


@dataclass(frozen=True)
class BacktestRow:
    incident: Incident
    matched: bool
    severity_before: str
    severity_after: str
    changes: list[ChangedDecision]
    suppressed: bool

    @property
    def severity_changed(self) -> bool:
        return self.severity_before != self.severity_after


@dataclass
class Backtest:
    days: int
    since: datetime
    until: datetime
    scanned: int = 0
    matched: int = 0
    severity_changed: int = 0
    decision_changed: int = 0
    suppressed: int = 0
    rows: list[BacktestRow] = field(default_factory=list)


def _incidents(
    store: Store, since: datetime, incident_type: str | None, environments: Sequence[str]
) -> Iterator[Incident]:
    """Stored incidents created since ``since``, newest first per environment.

    Pages start small and double, so that a short window over a long
    history reads little past its start."""
    for environment in environments:
        offset, size = 0, FIRST_PAGE
        while True:
            page = store.list_incidents(
                IncidentFilter(
                    incident_type=incident_type, environment=environment, limit=size, offset=offset
                )
            )
            for incident in page:
                if incident.created_at < since:
                    break
                yield incident
            else:
                if len(page) == size:
                    offset, size = offset + size, min(size * 2, PAGE)
                    continue
            break


def _matches(engine: PolicyEngine, rule_id: str, view: IncidentView, at: datetime) -> bool:
    known = engine.taxonomy.incident_types.get(view.incident_type)
    activation = engine.engine.activation(
        {
            "incident": view.as_input(
                str(known.policy_binding.auto_contain) if known else "no", known is not None
            ),
            "history": History().as_input(),
            "environment": str(view.environment),
            "now": at.isoformat(),
        }
    )
    return any(r.id == rule_id for r in engine.matching_rules(view, activation))


def backtest(
    store: Store,
    engine: PolicyEngine,
    severity_rules: SeverityRules,
    draft: OperatorRule,
    current: Sequence[OperatorRule],
    now: datetime,
    days: int = 7,
) -> Backtest:
    """Run ``draft`` over the incidents of the last ``days``: how many it
    matches, whose severity or decisions it would change, which it would
    have kept quiet. Each incident is judged as of when it was raised."""
    saved = next((r for r in current if r.id == draft.id), None)
    drafted = with_draft(engine, draft, current)
    stage_before = DecideStage(engine, severity_rules)
    stage_after = DecideStage(drafted, severity_rules)
    since = now - timedelta(days=days)
    result = Backtest(days=days, since=since, until=now)
    scope = set(draft.environment_scope) | set(saved.environment_scope if saved else ())
    environments = [str(e) for e in Environment if e in scope]
    types = {draft.incident_type, saved.incident_type if saved else draft.incident_type}
    only_type = types.pop() if len(types) == 1 and "*" not in types else None
    named = set(draft.allowed_action_profile) | set(saved.allowed_action_profile if saved else ())
    quiet = bool(draft.suppression_schedule or (saved and saved.suppression_schedule))
    for incident in _incidents(store, since, only_type, environments):
        result.scanned += 1
        at = incident.created_at
        view = incident_view(incident, at)
        matched = _matches(drafted, draft.id, view, at)
        if not matched and not (saved and _matches(engine, saved.id, view, at)):
            continue
        result.matched += matched
        before_severity, _ = stage_before.severity(incident, at)
        after_severity, _ = stage_after.severity(incident, at)
        actions = (known := engine.taxonomy.incident_types.get(incident.incident_type)) and (
            known.candidate_actions
        )
        candidates = actions or candidate_actions(engine, draft)
        if before_severity == after_severity:
            candidates = tuple(
                a for a in candidates if a in named or (quiet and a == "notify_operator")
            )
        view_before = dataclasses.replace(view, severity=str(before_severity))
        view_after = dataclasses.replace(view, severity=str(after_severity))
        changes = []
        suppressed = False
        for action in candidates:
            target = candidate_target(action, incident)
            before = engine.decide(view_before, action, target, at=at)
            after = drafted.decide(view_after, action, target, at=at)
            if before.decision != after.decision:
                changes.append(
                    ChangedDecision(action, before.decision, after.decision, after.reason)
                )
                if action == "notify_operator" and after.decision == "off":
                    suppressed = True
        row = BacktestRow(
            incident=incident,
            matched=matched,
            severity_before=str(before_severity),
            severity_after=str(after_severity),
            changes=changes,
            suppressed=suppressed,
        )
        result.severity_changed += row.severity_changed
        result.decision_changed += bool(changes)
        result.suppressed += suppressed
        if len(result.rows) < MAX_LISTED:
            result.rows.append(row)
    result.rows.sort(key=lambda r: r.incident.created_at, reverse=True)
    return result
