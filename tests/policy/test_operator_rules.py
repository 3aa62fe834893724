"""Operator rules (spec section 10): the schema, the boundaries ``validate_rule``
holds, and the operator layer's effect on decisions, severity and the
duplicate window, with rules kept in the store (``store``: SQLite and Redis).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures.alerts import payload
from fixtures.clock import Clock
from fixtures.quiet import tie_hands
from fixtures.rigs import Responder

from responder.pipeline.runner import AlertOutcome
from responder.pipeline.runner import Pipeline as RunnerPipeline
from responder.policy.allowlist import Allowlist
from responder.policy.cel import CelError, CelExprEngine, default_engine
from responder.policy.decision import Decision, Layer, PolicyDecision
from responder.policy.engine import DEFAULT_POLICIES_DIR, IncidentView, PolicyEngine, PolicySet
from responder.policy.rulebook import RuleBook
from responder.policy.rules import OperatorRule, RuleRejected, validate_rule
from responder.policy.stage import DecideStage
from responder.records.levels import Environment, Severity
from responder.records.target import Target
from responder.settings import Settings
from responder.store import Store
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.models import ActionClass

TAXONOMY = builtin_taxonomy()
ENGINE = default_engine()
POLICIES = PolicySet(DEFAULT_POLICIES_DIR, ENGINE)

#: spec section 10's rule schema
SPEC_FIELDS = (
    "id",
    "name",
    "enabled",
    "domain",
    "incident_type",
    "environment_scope",
    "signal_selector",
    "threshold_expression",
    "severity",
    "notification_policy",
    "allowed_action_profile",
    "cooldown_seconds",
    "suppression_schedule",
    "owner",
    "version",
)

HUMAN_ONLY = sorted(a for a, s in TAXONOMY.actions.items() if s.action_class == "human_only")
DISRUPTIVE = sorted(a for a, s in TAXONOMY.actions.items() if s.action_class == "disruptive")
RECOVER = sorted(a for a, s in TAXONOMY.actions.items() if s.action_class == "recover")
CONTAIN = sorted(a for a, s in TAXONOMY.actions.items() if s.action_class == "contain")

TRIVY = Target.parse("cronjob/x/trivy-db-warmup")
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
assert len(TELEGRAM_TOKEN.split(":")[1]) == 35


def body(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "ops-rule",
        "name": "ops rule",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "owner": "alice",
    }
    rule.update(overrides)
    return rule


def rejected(raw: Mapping[str, Any]) -> RuleRejected:
    with pytest.raises(RuleRejected) as caught:
        validate_rule(raw, TAXONOMY, ENGINE)
    assert caught.value.boundary
    assert caught.value.as_json() == {
        "error": caught.value.message,
        "field": caught.value.field,
        "boundary": caught.value.boundary,
    }
    return caught.value


# the schema


def test_the_rule_schema_has_every_field_of_the_spec() -> None:
    assert set(SPEC_FIELDS) <= set(OperatorRule.model_fields)


def test_a_rule_using_every_field_validates() -> None:
    rule = validate_rule(
        body(
            enabled=True,
            environment_scope=["staging", "production"],
            signal_selector={"namespace": "tekton-.*"},
            threshold_expression="incident.facts.nodes_affected > 1",
            severity="critical",
            notification_policy={"channels": ["telegram", "in_app"], "min_severity": "warning"},
            allowed_action_profile={
                "suspend_cronjob": "auto",
                "cordon_node": "approval",
                "reboot_worker": "off",
                "notify_operator": "auto",
            },
            cooldown_seconds=600,
            suppression_schedule=[
                {"days": ["sat", "sun"], "start": "22:00", "end": "06:00", "timezone": "UTC"}
            ],
            version=7,
        ),
        TAXONOMY,
        ENGINE,
    )
    assert rule.environment_scope == (Environment.staging, Environment.production)
    assert rule.severity == Severity.critical
    assert rule.cooldown_seconds == 600
    assert rule.allowed_action_profile["reboot_worker"] == "off"


# the boundaries


@pytest.mark.parametrize("decision", ["auto", "approval", "off"])
@pytest.mark.parametrize("action", HUMAN_ONLY)
def test_a_human_only_action_cannot_be_set_to_anything(action: str, decision: str) -> None:
    refused = rejected(body(allowed_action_profile={action: decision}))
    assert refused.boundary == "human-only actions stay human-only"
    assert refused.field == f"allowed_action_profile.{action}"


@pytest.mark.parametrize("action", DISRUPTIVE)
def test_a_disruptive_action_cannot_be_made_auto(action: str) -> None:
    refused = rejected(body(allowed_action_profile={action: "auto"}))
    assert refused.boundary == "destructive actions are never auto-allowed"
    assert refused.field == f"allowed_action_profile.{action}"


@pytest.mark.parametrize("action", RECOVER)
def test_a_recover_action_cannot_be_made_auto(action: str) -> None:
    refused = rejected(body(allowed_action_profile={action: "auto"}))
    assert refused.boundary == "recover actions need approval"
    assert refused.field == f"allowed_action_profile.{action}"


@pytest.mark.parametrize("decision", ["approval", "off"])
@pytest.mark.parametrize("action", DISRUPTIVE + RECOVER)
def test_recover_and_disruptive_actions_may_be_made_stricter(action: str, decision: str) -> None:
    """Including the catalogue ids that contain "secret" (patch_pull_secret):
    an action id is not a secret value."""
    rule = validate_rule(body(allowed_action_profile={action: decision}), TAXONOMY, ENGINE)
    assert rule.allowed_action_profile == {action: decision}


@pytest.mark.parametrize("action", [*CONTAIN, "collect_evidence", "notify_operator"])
def test_contain_observe_and_notify_actions_may_be_made_auto(action: str) -> None:
    rule = validate_rule(body(allowed_action_profile={action: "auto"}), TAXONOMY, ENGINE)
    assert rule.allowed_action_profile == {action: "auto"}


SECRETS = {
    "password": "password=hunter2",
    "password with colon": "db password: s3cr3t!",
    "slack bot token": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "aws access key": "AKIAIOSFODNN7EXAMPLE",
    "pem private key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    ),
    "openssh private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==",
    "telegram bot token": TELEGRAM_TOKEN,
}


@pytest.mark.parametrize("value", SECRETS.values(), ids=SECRETS.keys())
@pytest.mark.parametrize(
    "where",
    ["name", "owner", "channel", "selector"],
)
def test_a_secret_value_anywhere_is_refused(where: str, value: str) -> None:
    placed = {
        "name": body(name=value),
        "owner": body(owner=value),
        "channel": body(notification_policy={"channels": [f"telegram:{value}"]}),
        "selector": body(signal_selector={"team": value}),
    }[where]
    refused = rejected(placed)
    assert refused.boundary == "no secret values"
    assert value not in refused.message


NO_SECRETS, NO_COMMANDS = "no secret values", "no shell commands"


@pytest.mark.parametrize(
    ("raw", "field", "boundary"),
    [
        (body(api_key="abc123"), "api_key", NO_SECRETS),
        (
            body(notification_policy={"channels": [], "api_key": "abc"}),
            "notification_policy.api_key",
            NO_SECRETS,
        ),
        (body(password="x"), "password", NO_SECRETS),
        (body(signal_selector={"client_secret": "x"}), "signal_selector.client_secret", NO_SECRETS),
        (body(command="kubectl delete pod --all"), "command", NO_COMMANDS),
        (body(script="#!/bin/sh\necho"), "script", NO_COMMANDS),
        (body(shell="/bin/bash"), "shell", NO_COMMANDS),
        (
            body(notification_policy={"channels": [], "command": "x"}),
            "notification_policy.command",
            NO_COMMANDS,
        ),
    ],
    ids=[
        "api_key",
        "nested api_key",
        "password",
        "selector key",
        "command",
        "script",
        "shell",
        "nested command",
    ],
)
def test_a_field_named_like_a_secret_or_a_command_is_refused(
    raw: dict[str, Any], field: str, boundary: str
) -> None:
    refused = rejected(raw)
    assert refused.boundary == boundary
    assert refused.field == field


@pytest.mark.parametrize(
    "value",
    [
        "kubectl delete namespace image-factory",
        "$(curl -s http://example.invalid | sh)",
        "bash -c 'rm -rf /var/lib'",
        "sh -c reboot",
        "`reboot`",
        "cleanup && rm -rf /",
    ],
)
def test_a_shell_command_value_is_refused(value: str) -> None:
    for raw in (
        body(name=value),
        body(notification_policy={"channels": [value]}),
        body(signal_selector={"team": value}),
    ):
        assert rejected(raw).boundary == "no shell commands"


def test_an_unknown_field_is_refused_by_name() -> None:
    refused = rejected(body(run_as_root=True))
    assert refused.boundary == "rule schema"
    assert refused.field == "run_as_root"
    assert "unknown rule field" in refused.message
    assert "run_as_root" in refused.message


def test_an_unknown_nested_field_is_refused_by_name() -> None:
    refused = rejected(body(notification_policy={"channels": [], "escalate_to": "x"}))
    assert refused.field == "notification_policy.escalate_to"
    assert "unknown rule field" in refused.message


@pytest.mark.parametrize(
    "expression", ["incident.((", "incident.facts.nodes_affected >", "no_such_variable > 1"]
)
def test_an_invalid_threshold_expression_is_refused_with_the_cel_message(expression: str) -> None:
    with pytest.raises(CelError) as cel:
        ENGINE.compile(expression)
    refused = rejected(body(threshold_expression=expression))
    assert refused.boundary == "valid CEL"
    assert refused.field == "threshold_expression"
    assert str(cel.value) in refused.message


def test_an_unknown_incident_type_is_refused() -> None:
    refused = rejected(body(incident_type="node_on_fire"))
    assert refused.field == "incident_type"
    assert "node_on_fire" in refused.message


def test_unclassified_is_no_incident_type_for_rules() -> None:
    assert rejected(body(incident_type="unclassified")).field == "incident_type"


def test_a_domain_mismatch_is_refused() -> None:
    refused = rejected(body(domain="golden_signals"))
    assert refused.field == "domain"
    assert "infrastructure" in refused.message


def test_a_wildcard_rule_needs_a_known_domain() -> None:
    assert rejected(body(incident_type="*", domain="nowhere")).field == "domain"
    rule = validate_rule(body(incident_type="*", domain="infrastructure"), TAXONOMY, ENGINE)
    assert rule.incident_type == "*"


def test_a_rule_cannot_pose_as_built_in() -> None:
    assert rejected(body(id="builtin.node_disk_pressure")).boundary == (
        "built-in rules are versioned in code"
    )
    assert rejected(body(builtin=True)).boundary == "built-in rules are versioned in code"


def test_an_unknown_action_in_the_profile_is_refused() -> None:
    refused = rejected(body(allowed_action_profile={"format_disk": "approval"}))
    assert refused.field == "allowed_action_profile.format_disk"


# the operator layer, with rules in the store


@dataclass
class Rig:
    book: RuleBook
    policy: PolicyEngine

    def add(self, **overrides: Any) -> OperatorRule:
        return self.book.create(body(**overrides), "alice", "test")

    def decide(
        self,
        action: str,
        target: Target | None = None,
        *,
        environment: Environment = Environment.demo,
        incident_type: str = "node_disk_pressure",
        confidence: str = "high",
        labels: Mapping[str, str] | None = None,
        facts: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> PolicyDecision:
        view = IncidentView(
            incident_type=incident_type,
            environment=environment,
            severity="warning",
            confidence=confidence,
            domain=TAXONOMY.incident_types[incident_type].domain,
            labels=dict(labels or {}),
            facts={**FACT_DEFAULTS, **(facts or {})},
        )
        return self.policy.decide(view, action, target, at=at)


def _layer(decision: PolicyDecision, layer: Layer) -> Any:
    [found] = [r for r in decision.layers if r.layer == layer]
    return found


@pytest.fixture
def rig(store: Store) -> Rig:
    book = RuleBook(store, TAXONOMY, ENGINE, refresh_seconds=0)
    return Rig(book, PolicyEngine(TAXONOMY, POLICIES, Allowlist(), book.active))


def test_without_rules_the_operator_layer_has_no_opinion(rig: Rig) -> None:
    decision = rig.decide("suspend_cronjob", TRIVY)
    assert decision.decision == Decision.auto
    operator = _layer(decision, Layer.operator)
    assert operator.decision is None
    assert operator.reason == "no operator rule applies"


def test_a_production_only_rule_changes_production_only(rig: Rig) -> None:
    before = {
        env: rig.decide("suspend_cronjob", TRIVY, environment=env).decision for env in Environment
    }
    rule = rig.add(
        environment_scope=["production"], allowed_action_profile={"suspend_cronjob": "off"}
    )
    production = rig.decide("suspend_cronjob", TRIVY, environment=Environment.production)
    assert production.decision == Decision.off
    assert _layer(production, Layer.operator).decision == Decision.off
    assert rule.id in _layer(production, Layer.operator).reason
    for env in (Environment.demo, Environment.staging):
        unchanged = rig.decide("suspend_cronjob", TRIVY, environment=env)
        assert unchanged.decision == before[env]
        assert _layer(unchanged, Layer.operator).decision is None
    assert before[Environment.demo] == Decision.auto


def test_a_disabled_rule_does_not_apply(rig: Rig) -> None:
    rule = rig.add(allowed_action_profile={"suspend_cronjob": "off"})
    assert rig.decide("suspend_cronjob", TRIVY).decision == Decision.off
    rig.book.update(rule.id, {**rule.model_dump(mode="json"), "enabled": False}, "alice", "test")
    assert rig.decide("suspend_cronjob", TRIVY).decision == Decision.auto
    assert _layer(rig.decide("suspend_cronjob", TRIVY), Layer.operator).decision is None


def test_a_rule_for_another_incident_type_does_not_apply(rig: Rig) -> None:
    rig.add(
        domain="runtime_services",
        incident_type="background_job_buildup",
        allowed_action_profile={"suspend_cronjob": "off"},
    )
    assert rig.decide("suspend_cronjob", TRIVY).decision == Decision.auto
    assert (
        rig.decide("suspend_cronjob", TRIVY, incident_type="background_job_buildup").decision
        == Decision.off
    )


@pytest.mark.parametrize(
    ("labels", "applies"),
    [
        ({"namespace": "tekton-pipelines"}, True),
        ({"namespace": "tekton-pipelines-resolvers"}, True),
        ({"namespace": "default"}, False),
        ({"namespace": "my-tekton-pipelines"}, False),
        ({}, False),
    ],
)
def test_the_signal_selector_is_a_full_regex_match_on_labels(
    rig: Rig, labels: dict[str, str], applies: bool
) -> None:
    rig.add(
        signal_selector={"namespace": "tekton-.*"},
        allowed_action_profile={"suspend_cronjob": "approval"},
    )
    decision = rig.decide("suspend_cronjob", TRIVY, labels=labels)
    assert decision.decision == (Decision.approval if applies else Decision.auto)


@pytest.mark.parametrize(
    ("threshold", "facts", "applies"),
    [
        ("false", {}, False),
        ("true", {}, True),
        ("incident.facts.nodes_affected > 1", {"nodes_affected": 2}, True),
        ("incident.facts.nodes_affected > 1", {"nodes_affected": 1}, False),
        ("incident.confidence == 'high' && action.allowlisted", {}, True),
    ],
)
def test_the_threshold_expression_decides_whether_the_rule_applies(
    rig: Rig, threshold: str, facts: dict[str, Any], applies: bool
) -> None:
    rig.add(threshold_expression=threshold, allowed_action_profile={"suspend_cronjob": "off"})
    decision = rig.decide("suspend_cronjob", TRIVY, facts=facts)
    assert decision.decision == (Decision.off if applies else Decision.auto)


@pytest.mark.parametrize(
    ("first", "second", "wins"),
    [
        ("approval", "off", Decision.off),
        ("off", "approval", Decision.off),
        ("auto", "approval", Decision.approval),
        ("approval", "auto", Decision.approval),
        ("auto", "off", Decision.off),
    ],
)
def test_of_two_matching_rules_the_stricter_wins(
    rig: Rig, first: str, second: str, wins: Decision
) -> None:
    a = rig.add(id="rule-a", allowed_action_profile={"suspend_cronjob": first})
    b = rig.add(id="rule-b", allowed_action_profile={"suspend_cronjob": second})
    decision = rig.decide("suspend_cronjob", TRIVY)
    operator = _layer(decision, Layer.operator)
    assert operator.decision == wins
    assert decision.decision == wins
    assert a.id in operator.reason and b.id in operator.reason


def test_an_operator_rule_cannot_loosen_what_the_hard_constraints_hold(rig: Rig) -> None:
    """Validation lets contain → auto through; the hard constraints still
    hold a low-confidence incident and a non-allowlisted target."""
    rig.add(allowed_action_profile={"suspend_cronjob": "auto"})
    assert rig.decide("suspend_cronjob", TRIVY, confidence="medium").decision == Decision.approval
    other = Target.parse("cronjob/platform/nightly-report")
    assert rig.decide("suspend_cronjob", other).decision == Decision.approval


# suppression schedules

THU = datetime(2026, 1, 15, tzinfo=UTC)
FRI = datetime(2026, 1, 16, tzinfo=UTC)
SAT = datetime(2026, 1, 17, tzinfo=UTC)


def _at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


def test_the_days_are_what_the_tests_say() -> None:
    assert [d.strftime("%a") for d in (THU, FRI, SAT)] == ["Thu", "Fri", "Sat"]


@pytest.mark.parametrize(
    ("at", "suppressed"),
    [
        (_at(FRI, 23), True),  # Friday night, inside
        (_at(FRI, 22), True),  # the start is inclusive
        (_at(SAT, 2), True),  # after midnight: still Friday's window
        (_at(SAT, 5, 59), True),
        (_at(SAT, 6), False),  # the end is exclusive
        (_at(SAT, 23), False),  # Saturday night: not a listed day
        (_at(FRI, 2), False),  # Friday early morning belongs to Thursday
        (_at(FRI, 12), False),
        (None, False),  # no moment, no schedule
    ],
)
def test_a_suppression_window_crossing_midnight(
    rig: Rig, at: datetime | None, suppressed: bool
) -> None:
    rig.add(
        suppression_schedule=[
            {"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": "UTC"}
        ]
    )
    decision = rig.decide("notify_operator", at=at)
    assert decision.decision == (Decision.off if suppressed else Decision.auto)
    if suppressed:
        assert "suppression schedule" in decision.reason
    # nothing else is touched by a schedule
    assert rig.decide("collect_evidence", at=at).decision == Decision.auto


@pytest.mark.parametrize(
    ("at", "suppressed"),
    [
        (_at(THU, 14), True),  # 09:00 in New York (UTC-5 in January)
        (_at(THU, 21, 59), True),  # 16:59 in New York
        (_at(THU, 22), False),  # 17:00 in New York
        (_at(THU, 13, 59), False),  # 08:59 in New York
        (_at(THU, 9), False),  # 09:00 UTC is 04:00 in New York
    ],
)
def test_a_suppression_window_in_a_time_zone(rig: Rig, at: datetime, suppressed: bool) -> None:
    rig.add(
        suppression_schedule=[{"start": "09:00", "end": "17:00", "timezone": "America/New_York"}]
    )
    decision = rig.decide("notify_operator", at=at)
    assert decision.decision == (Decision.off if suppressed else Decision.auto)


@pytest.mark.parametrize(
    ("at", "suppressed"),
    [
        (_at(THU, 21), True),  # 22:00 in Berlin (UTC+1 in January)
        (_at(THU, 20, 59), False),
        (_at(THU, 23, 30), True),  # 00:30 Friday in Berlin
        (_at(FRI, 4, 59), True),  # 05:59 in Berlin
        (_at(FRI, 5), False),  # 06:00 in Berlin
    ],
)
def test_a_window_crossing_midnight_in_a_time_zone(
    rig: Rig, at: datetime, suppressed: bool
) -> None:
    rig.add(
        suppression_schedule=[
            {"days": ["thu"], "start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}
        ]
    )
    assert rig.decide("notify_operator", at=at).decision == (
        Decision.off if suppressed else Decision.auto
    )


def test_an_unknown_time_zone_is_refused() -> None:
    refused = rejected(
        body(suppression_schedule=[{"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}])
    )
    assert refused.field.startswith("suppression_schedule")


# cooldown and severity, through the pipeline's decide stage

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
DISK_201 = {
    "alertname": "KubeNodePressure",
    "condition": "DiskPressure",
    "node": "10.0.10.201",
    "severity": "warning",
}


@dataclass
class Pipeline:
    rig: Rig
    stage: DecideStage
    pipeline: RunnerPipeline
    store: Store
    clock: Clock

    def fire(self, labels: Mapping[str, str] = DISK_201) -> AlertOutcome:
        [outcome] = self.pipeline.process(payload(labels))
        return outcome


@pytest.fixture
def pipeline(rig: Rig, store: Store) -> Pipeline:
    """The pipeline as ``build_runtime`` wires it, reading the rig's rules from
    the same store (hands tied: nothing runs, nobody is asked)."""
    clock = Clock(T0)
    runtime = Responder(store, settings=Settings(rules_refresh_seconds=0), clock=clock).runtime
    tie_hands(runtime.pipeline)
    return Pipeline(rig, runtime.pipeline.stages.decide, runtime.pipeline, store, clock)


def test_without_a_rule_the_type_cooldown_holds(pipeline: Pipeline) -> None:
    assert pipeline.fire().outcome == "opened"
    pipeline.clock.advance(120)
    assert pipeline.fire().outcome == "duplicate"
    pipeline.clock.advance(800)  # 920 s > 900 s
    assert pipeline.fire().outcome == "updated"


#: thresholds that hold for a demo node_disk_pressure incident, written
#: against each policy input the decide stage must provide as the engine does
HOLDING = [
    "true",
    "incident.environment == 'demo'",
    "environment == 'demo'",
    "incident.known_type && incident.auto_contain == 'allowlist_only'",
]


@pytest.mark.parametrize("threshold", HOLDING)
def test_a_shorter_cooldown_override_shortens_the_duplicate_window(
    pipeline: Pipeline, threshold: str
) -> None:
    pipeline.rig.add(cooldown_seconds=60, threshold_expression=threshold)
    assert pipeline.fire().outcome == "opened"
    pipeline.clock.advance(30)
    assert pipeline.fire().outcome == "duplicate"
    pipeline.clock.advance(60)  # 90 s after the first
    assert pipeline.fire().outcome == "updated"


def test_a_longer_cooldown_override_lengthens_the_duplicate_window(pipeline: Pipeline) -> None:
    pipeline.rig.add(cooldown_seconds=3600)
    assert pipeline.fire().outcome == "opened"
    pipeline.clock.advance(1000)
    assert pipeline.fire().outcome == "duplicate"
    pipeline.clock.advance(2700)
    assert pipeline.fire().outcome == "updated"


def test_a_cooldown_rule_scoped_elsewhere_does_not_apply(pipeline: Pipeline) -> None:
    pipeline.rig.add(cooldown_seconds=60, environment_scope=["production"])
    pipeline.rig.add(
        id="other-type",
        domain="golden_signals",
        incident_type="http_error_rate_spike",
        cooldown_seconds=30,
    )
    assert pipeline.fire().outcome == "opened"
    pipeline.clock.advance(120)
    assert pipeline.fire().outcome == "duplicate"


def test_the_shortest_matching_cooldown_wins(pipeline: Pipeline) -> None:
    pipeline.rig.add(id="long", cooldown_seconds=3600)
    pipeline.rig.add(id="short", cooldown_seconds=60)
    pipeline.fire()
    pipeline.clock.advance(90)
    assert pipeline.fire().outcome == "updated"


@pytest.mark.parametrize("threshold", HOLDING)
def test_a_rule_severity_escalates_the_incident(pipeline: Pipeline, threshold: str) -> None:
    rule = pipeline.rig.add(severity="critical", threshold_expression=threshold)
    # the engine's decisions see the rule match ...
    operator = _layer(pipeline.rig.decide("notify_operator"), Layer.operator)
    assert operator.reason == "1 matching rule(s), none names notify_operator"
    # ... and so does the severity the decide stage gives the incident
    outcome = pipeline.fire()
    incident = pipeline.store.get_incident(outcome.incident_id or "")
    assert incident is not None
    assert incident.severity == Severity.critical
    as_alerted = incident.model_copy(update={"severity": Severity.warning})
    severity, why = pipeline.stage.severity(as_alerted, pipeline.clock())
    assert severity == Severity.critical
    assert rule.id in why
    assert any(e.event == "severity" and rule.id in e.detail for e in incident.timeline)


def test_without_a_rule_the_severity_rule_of_the_type_holds(pipeline: Pipeline) -> None:
    incident = pipeline.store.get_incident(pipeline.fire().incident_id or "")
    assert incident is not None
    assert incident.severity == Severity.warning


def test_a_rule_severity_never_lowers_the_incident(pipeline: Pipeline) -> None:
    pipeline.rig.add(severity="info")
    incident = pipeline.store.get_incident(
        pipeline.fire({**DISK_201, "severity": "critical"}).incident_id or ""
    )
    assert incident is not None
    assert incident.severity == Severity.critical
    assert pipeline.stage.severity(incident, pipeline.clock())[0] == Severity.critical


def test_a_severity_rule_under_a_false_threshold_does_not_escalate(pipeline: Pipeline) -> None:
    pipeline.rig.add(severity="critical", threshold_expression="incident.facts.nodes_affected > 1")
    incident = pipeline.store.get_incident(pipeline.fire().incident_id or "")
    assert incident is not None
    assert incident.severity == Severity.warning


def test_a_suppression_rule_holds_the_pipelines_notification(pipeline: Pipeline) -> None:
    pipeline.rig.add(suppression_schedule=[{"start": "07:00", "end": "09:00", "timezone": "UTC"}])
    incident = pipeline.store.get_incident(pipeline.fire().incident_id or "")
    assert incident is not None
    notify = [r for r in incident.recommended_actions if r.action == "notify_operator"]
    assert [r.decision for r in notify] == ["off"]
    assert not [a for a in incident.executed_actions if a.action == "notify_operator"]


def test_every_action_class_is_covered() -> None:
    """The parametrised boundaries above cover every class of the catalogue."""
    covered = set(
        HUMAN_ONLY + DISRUPTIVE + RECOVER + CONTAIN + ["collect_evidence", "notify_operator"]
    )
    assert covered == set(TAXONOMY.actions)
    assert {TAXONOMY.actions[a].action_class for a in covered} == set(ActionClass)


def test_selector_with_nested_quantifier_is_refused() -> None:
    raw = body(id="slow", name="backtracking", signal_selector={"node": "(a+)+$"})
    with pytest.raises(RuleRejected) as caught:
        validate_rule(raw, builtin_taxonomy(), CelExprEngine())
    assert caught.value.field == "signal_selector.node"


def test_threshold_comparing_a_token_label_is_not_a_secret() -> None:
    raw = body(
        id="token-label",
        name="label named token",
        threshold_expression="incident.labels.token == 'x'",
    )
    assert validate_rule(raw, builtin_taxonomy(), CelExprEngine()).id == "token-label"
