"""Severity rules per incident type (spec section 9) on both CEL engines, as
the decide stage feeds them; and the confidence gate (spec section 8): the
robot auto-acts only on high-confidence incidents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from fixtures.incidents import make_incident

from responder.evidence.confidence import confidence_band
from responder.policy.cel import Engine, available_engines, default_engine
from responder.policy.decision import Decision
from responder.policy.engine import IncidentView, PolicyEngine
from responder.policy.severity import SeverityRules
from responder.policy.stage import DecideStage, incident_view
from responder.records.incident import Incident, Signal
from responder.records.levels import Confidence, Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.facts import FACT_DEFAULTS

TAXONOMY = builtin_taxonomy()
ENGINES = {engine.name: engine for engine in available_engines()}
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _view(
    incident_type: str,
    *,
    facts: Mapping[str, Any] | None = None,
    age_seconds: int = 60,
    signals: Mapping[str, Mapping[str, Any]] | None = None,
    confidence: str = "high",
    environment: Environment = Environment.demo,
) -> IncidentView:
    return IncidentView(
        incident_type=incident_type,
        environment=environment,
        severity="warning",
        confidence=confidence,
        domain=TAXONOMY.incident_types[incident_type].domain,
        facts={**FACT_DEFAULTS, **(facts or {})},
        signals=dict(signals or {}),
        age_seconds=age_seconds,
    )


@pytest.fixture(params=sorted(ENGINES))
def rules(request: pytest.FixtureRequest) -> SeverityRules:
    engine: Engine = ENGINES[request.param]
    return SeverityRules(TAXONOMY, engine)


def _severity(rules: SeverityRules, view: IncidentView) -> Severity | None:
    found = rules.evaluate(view.incident_type, view.as_input("", True))
    return found[0] if found else None


# node_disk_pressure


def test_disk_pressure_on_one_node_for_under_ten_minutes_is_a_warning(
    rules: SeverityRules,
) -> None:
    view = _view("node_disk_pressure", facts={"nodes_affected": 1}, age_seconds=300)
    assert _severity(rules, view) == Severity.warning


def test_disk_pressure_on_two_nodes_is_critical(rules: SeverityRules) -> None:
    view = _view("node_disk_pressure", facts={"nodes_affected": 2}, age_seconds=30)
    assert _severity(rules, view) == Severity.critical


@pytest.mark.parametrize(
    ("age", "severity"), [(599, "warning"), (600, "warning"), (601, "critical"), (7200, "critical")]
)
def test_disk_pressure_persisting_over_ten_minutes_is_critical(
    rules: SeverityRules, age: int, severity: str
) -> None:
    view = _view("node_disk_pressure", facts={"nodes_affected": 1}, age_seconds=age)
    assert _severity(rules, view) == Severity(severity)


def test_disk_pressure_with_customer_facing_failures_is_critical(rules: SeverityRules) -> None:
    view = _view(
        "node_disk_pressure", facts={"nodes_affected": 1, "customer_facing_failures": True}
    )
    assert _severity(rules, view) == Severity.critical


def test_the_first_matching_rule_gives_its_description(rules: SeverityRules) -> None:
    found = rules.evaluate(
        "node_disk_pressure",
        _view("node_disk_pressure", facts={"nodes_affected": 3}).as_input("", True),
    )
    assert found is not None
    assert found[0] == Severity.critical
    assert "multiple nodes" in found[1]


# database_connectivity_degraded: always critical


@pytest.mark.parametrize(
    "facts",
    [{}, {"nodes_affected": 0}, {"core_workload": False, "impact_cascades": False}],
)
@pytest.mark.parametrize("age", [0, 30, 100_000])
def test_database_connectivity_degraded_is_always_critical(
    rules: SeverityRules, facts: dict[str, Any], age: int
) -> None:
    view = _view("database_connectivity_degraded", facts=facts, age_seconds=age)
    assert _severity(rules, view) == Severity.critical


# the other types' conditions


@pytest.mark.parametrize(
    ("incident_type", "kwargs", "severity"),
    [
        ("node_unreachable_or_notready", {"facts": {"nodes_affected": 1}}, "warning"),
        ("node_unreachable_or_notready", {"facts": {"nodes_affected": 2}}, "critical"),
        ("node_unreachable_or_notready", {"age_seconds": 900}, "critical"),
        ("registry_pull_failure", {}, "warning"),
        ("registry_pull_failure", {"facts": {"core_workload": True}}, "critical"),
        ("registry_pull_failure", {"facts": {"shared_dependency": True}}, "critical"),
        ("runtime_dependency_outage", {}, "warning"),
        ("runtime_dependency_outage", {"facts": {"impact_cascades": True}}, "critical"),
        ("ingress_configuration_drift", {}, "warning"),
        (
            "ingress_configuration_drift",
            {"signals": {"tls_failure": {"strength": "strong", "count": 1}}},
            "critical",
        ),
        ("identity_provider_unreachable", {"age_seconds": 120}, "warning"),
        ("identity_provider_unreachable", {"age_seconds": 601}, "critical"),
        ("http_error_rate_spike", {}, "warning"),
        ("http_error_rate_spike", {"facts": {"rising": True}}, "critical"),
        ("release_drift_or_partial_apply", {"facts": {"rollout_blocked": True}}, "warning"),
        (
            "release_drift_or_partial_apply",
            {"facts": {"rollout_blocked": True, "workloads_unhealthy": True}},
            "critical",
        ),
        ("background_job_buildup", {}, "warning"),
        (
            "background_job_buildup",
            {"facts": {"contributes_to_disk_pressure": True}},
            "critical",
        ),
        ("chatops_delivery_failure", {"facts": {"channels_down": 1}}, "warning"),
        ("chatops_delivery_failure", {"facts": {"all_channels_down": True}}, "warning"),
        (
            "chatops_delivery_failure",
            {"facts": {"all_channels_down": True, "active_incident": True}},
            "critical",
        ),
    ],
)
def test_each_types_severity_rule(
    rules: SeverityRules, incident_type: str, kwargs: dict[str, Any], severity: str
) -> None:
    assert _severity(rules, _view(incident_type, **kwargs)) == Severity(severity)


def test_every_type_has_a_severity_rule_for_every_input(rules: SeverityRules) -> None:
    for incident_type in TAXONOMY.incident_types:
        assert _severity(rules, _view(incident_type)) is not None, incident_type


def test_unclassified_has_no_severity_rule(rules: SeverityRules) -> None:
    assert rules.evaluate("unclassified", _view("node_disk_pressure").as_input("", True)) is None


# through the decide stage's view of a stored incident


def _incident(
    incident_type: str,
    *,
    age: timedelta,
    facts: Mapping[str, bool | int] | None = None,
    severity: Severity = Severity.warning,
    signals: list[Signal] | None = None,
) -> Incident:
    known = TAXONOMY.incident_types[incident_type]
    return make_incident(
        "0123456789abcdef",
        node="10.0.10.201",
        key=f"{incident_type}|node//10.0.10.201",
        created_at=NOW - age,
        state=IncidentState.observed,
        incident_type=incident_type,
        domain=known.domain,
        display_name=known.display_name,
        severity=severity,
        confidence=confidence_band(signals or []).confidence,
        facts=dict(facts or {}),
        signals=signals or [],
        updated_at=NOW,
    )


def test_the_stage_view_fills_every_fact_and_measures_age() -> None:
    view = incident_view(_incident("node_disk_pressure", age=timedelta(minutes=11)), NOW)
    assert view.age_seconds == 660
    assert set(view.facts) == set(FACT_DEFAULTS)
    assert view.as_input("", True)["facts"] == FACT_DEFAULTS


@pytest.mark.parametrize(
    ("age", "facts", "severity"),
    [
        (timedelta(minutes=5), {"nodes_affected": 1}, Severity.warning),
        (timedelta(minutes=11), {"nodes_affected": 1}, Severity.critical),
        (timedelta(minutes=1), {"nodes_affected": 2}, Severity.critical),
    ],
)
def test_disk_pressure_severity_from_a_stored_incident(
    rules: SeverityRules, age: timedelta, facts: dict[str, int], severity: Severity
) -> None:
    view = incident_view(_incident("node_disk_pressure", age=age, facts=facts), NOW)
    assert _severity(rules, view) == severity


@pytest.fixture
def stage() -> DecideStage:
    engine = default_engine()
    return DecideStage(PolicyEngine.load(TAXONOMY, engine=engine), SeverityRules(TAXONOMY, engine))


def test_the_stage_raises_severity_by_the_types_rule(stage: DecideStage) -> None:
    incident = _incident("node_disk_pressure", age=timedelta(minutes=15))
    severity, why = stage.severity(incident, NOW)
    assert severity == Severity.critical
    assert why.startswith("severity rule:")


def test_the_stage_never_lowers_the_alerts_severity(stage: DecideStage) -> None:
    incident = _incident("node_disk_pressure", age=timedelta(minutes=1), severity=Severity.critical)
    assert stage.severity(incident, NOW)[0] == Severity.critical


def test_the_stage_records_the_severity_change(stage: DecideStage) -> None:
    incident = _incident("database_connectivity_degraded", age=timedelta(seconds=5))
    stage.recommend(incident, NOW)
    assert incident.severity == Severity.critical
    assert any(e.event == "severity" for e in incident.timeline)


# the confidence gate

#: (incident type, environment, action, target) the robot may run on its own
AUTO_AT_HIGH = [
    ("node_disk_pressure", Environment.demo, "delete_completed_pods", "cluster/cluster"),
    ("node_disk_pressure", Environment.demo, "suspend_cronjob", "cronjob/x/trivy-db-warmup"),
    ("node_disk_pressure", Environment.demo, "scale_to_zero", "deployment/image-factory/web"),
    ("node_disk_pressure", Environment.production, "delete_completed_pods", "cluster/cluster"),
    ("background_job_buildup", Environment.demo, "suspend_cronjob", "cronjob/x/trivy-db-warmup"),
    ("background_job_buildup", Environment.staging, "delete_completed_pods", "namespace/ci"),
    ("chatops_delivery_failure", Environment.production, "failover_channel", "channel/alternate"),
    ("runtime_dependency_outage", Environment.demo, "rollout_restart", "deployment/data/redis"),
    ("runtime_dependency_outage", Environment.staging, "rollout_restart", "statefulset/mq/nats"),
]


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(TAXONOMY)


@pytest.mark.parametrize(("incident_type", "environment", "action", "target"), AUTO_AT_HIGH)
def test_only_a_high_confidence_incident_gets_auto(
    engine: PolicyEngine, incident_type: str, environment: Environment, action: str, target: str
) -> None:
    where = Target.parse(target)
    for confidence in Confidence:
        view = _view(incident_type, confidence=str(confidence), environment=environment)
        decision = engine.decide(view, action, where)
        if confidence == Confidence.high:
            assert decision.decision == Decision.auto, decision.explain()
        else:
            assert decision.decision == Decision.approval, decision.explain()
            assert "high-confidence" in decision.reason
            assert str(confidence) in decision.reason


@pytest.mark.parametrize("confidence", list(Confidence))
@pytest.mark.parametrize("incident_type", sorted(TAXONOMY.incident_types))
def test_observe_and_notify_do_not_wait_for_confidence(
    engine: PolicyEngine, incident_type: str, confidence: Confidence
) -> None:
    view = _view(incident_type, confidence=str(confidence))
    assert engine.decide(view, "collect_evidence").decision == Decision.auto
    assert engine.decide(view, "notify_operator").decision == Decision.auto


def _signal(
    name: str, strength: Literal["strong", "weak"] = "strong", checks: int = 1, direct: bool = False
) -> Signal:
    return Signal(
        name=name, strength=strength, source="test", checks=checks, direct=direct, observed_at=NOW
    )


@pytest.mark.parametrize(
    ("signals", "decision"),
    [
        ([_signal("KubeNodePressure")], Decision.approval),
        ([_signal("KubeNodePressure"), _signal("Evicted", "weak")], Decision.approval),
        ([_signal("KubeNodePressure"), _signal("NodeFilesystemAlmostOutOfSpace")], Decision.auto),
        ([_signal("KubeNodePressure", checks=2)], Decision.auto),
        ([_signal("KubeNodePressure", direct=True)], Decision.auto),
    ],
    ids=["single", "strong+weak", "corroborated", "repeated", "direct"],
)
def test_evidence_to_confidence_to_decision(
    stage: DecideStage, signals: list[Signal], decision: Decision
) -> None:
    """The decide stage acts on the incident's own band: containment runs on
    its own only once the evidence reaches high confidence."""
    incident = _incident("node_disk_pressure", age=timedelta(minutes=1), signals=signals)
    recommended = {r.action: r for r in stage.recommend(incident, NOW)}
    assert recommended["delete_completed_pods"].decision == decision.value
    assert recommended["notify_operator"].decision == "auto"
