"""The guard rails as properties (``responder/guards/rails.py``).

Hypothesis draws incidents (every type, ``unclassified`` too, any
environment, confidence and labels, control-plane ones included), every
action of the catalogue on named and node targets, the policy's decision
for it from the shipped policy files, and a state of the world: automation
modes per type and environment, pauses of any scope and time, action
windows, firing blocking alerts, unhealthy nodes against a limit and a
storm cooldown. Whatever it draws, the guarded decision is never looser
than the policy's, and nothing the state forbids is left ``auto`` (the only
decision the act stage runs without a person) or even ``approval`` where
the spec says refuse. A blast-radius breach is flagged (it opens the
storm incident and its cooldown); the incident escalates on its own for a
control-plane refusal always, for a breach only when no storm incident takes
it over (``responder/policy/stage.py``). Outside the action windows a
recover or disruptive action is never ``auto`` and always needs an
approver's window override.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.guards.automation import AutomationMode, Pause
from responder.guards.rails import (
    GUARDED_CLASSES,
    NODE_ACTIONS,
    STRICTNESS,
    WINDOWED_CLASSES,
    GuardState,
    GuardSubject,
    judge,
)
from responder.guards.stage import own_escalation
from responder.policy.allowlist import Allowlist
from responder.policy.cel import default_engine
from responder.policy.engine import DEFAULT_POLICIES_DIR, IncidentView, PolicyEngine, PolicySet
from responder.records.levels import Confidence, Environment
from responder.records.node_role import CONTROL_PLANE_LABELS
from responder.records.target import Target
from responder.records.window import SuppressionWindow
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.facts import FACT_DEFAULTS

TAXONOMY = builtin_taxonomy()
ENGINE = PolicyEngine(TAXONOMY, PolicySet(DEFAULT_POLICIES_DIR, default_engine()), Allowlist())
TYPES = [*sorted(TAXONOMY.incident_types), "unclassified", "operator_defined"]
ACTIONS = sorted(TAXONOMY.actions)
NODES = ["10.0.10.201", "10.0.10.202", "10.0.10.203", "10.0.10.204"]
NAMESPACES = ["image-factory", "trivy-system", "kube-system", None]
TARGETS: list[Target | None] = [
    None,
    Target.parse("cronjob/trivy-system/trivy-db-warmup"),
    Target.parse("deployment/image-factory/web"),
    Target.parse("deployment/data/redis-master"),
    Target.parse("cluster/cluster"),
    Target.parse("incident/0123456789abcdef"),
    *(Target(kind="node", name=n) for n in NODES),
]
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
MOMENTS = st.integers(0, 14 * 24 * 3600).map(lambda s: T0 + timedelta(seconds=s))
MODES = st.sampled_from(list(AutomationMode))
BLOCKERS = st.sampled_from(["KubeAPIErrorBudgetBurn", "etcdHighNumberOfLeaderChanges"])


@st.composite
def pauses(draw: st.DrawFn, index: int, around: datetime) -> Pause:
    # mostly around the state's moment, so that many of them are in force
    start = around + timedelta(seconds=draw(st.integers(-3 * 24 * 3600, 3600)))
    return Pause(
        id=f"pause-{index}",
        reason="drawn",
        environment=draw(st.none() | st.sampled_from(list(Environment))),
        incident_type=draw(st.none() | st.sampled_from(TYPES)),
        namespace=draw(st.none() | st.sampled_from(NAMESPACES)),
        created_by="hypothesis",
        created_at=start,
        expires_at=start + timedelta(seconds=draw(st.integers(1, 3 * 24 * 3600))),
    )


WINDOWS = st.builds(
    SuppressionWindow,
    days=st.lists(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, unique=True
    ).map(tuple),
    start=st.sampled_from([time(0), time(2), time(8), time(22)]),
    end=st.sampled_from([time(4), time(6), time(18), time(23, 59)]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
).filter(lambda w: w.start != w.end)


@st.composite
def states(draw: st.DrawFn) -> GuardState:
    table = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(TYPES), st.sampled_from([e.value for e in Environment])),
            MODES,
            max_size=10,
        )
    )
    # auto half of the time: each other guard must then hold on its own
    fallback = draw(st.sampled_from([AutomationMode.auto] * 3 + list(AutomationMode)[:3]))
    at = draw(MOMENTS)
    storm = draw(st.none() | st.integers(-3600, 3600).map(lambda s: at + timedelta(seconds=s)))
    return GuardState(
        at=at,
        mode=lambda t, e: table.get((t, e), fallback),
        pauses=tuple(draw(pauses(i, at)) for i in range(draw(st.sampled_from([0, 0, 1, 2, 3])))),
        pause_effect=draw(st.sampled_from(["approval", "shadow"])),
        windows=tuple(draw(st.lists(WINDOWS, max_size=2))),
        blocking=tuple(
            draw(st.lists(st.sampled_from(["KubeAPIErrorBudgetBurn", "X"]), max_size=1))
        ),
        unhealthy_nodes=frozenset(draw(st.lists(st.sampled_from(NODES), max_size=4))),
        node_limit=draw(st.integers(0, 3)),
        storm_until=storm,
    )


@st.composite
def decisions(draw: st.DrawFn) -> tuple[GuardSubject, str, str]:
    incident_type = draw(st.sampled_from(TYPES))
    environment = draw(st.sampled_from(list(Environment)))
    action = draw(st.sampled_from(ACTIONS))
    target = draw(st.sampled_from(TARGETS))
    known = TAXONOMY.incident_types.get(incident_type)
    labels = {"namespace": draw(st.sampled_from([n or "" for n in NAMESPACES]))}
    if draw(st.sampled_from([False, False, False, True])):
        labels[draw(st.sampled_from(CONTROL_PLANE_LABELS))] = ""
    view = IncidentView(
        incident_type=incident_type,
        environment=environment,
        severity="warning",
        confidence=str(draw(st.sampled_from(list(Confidence)))),
        domain=known.domain if known else "",
        labels=labels,
        facts=dict(FACT_DEFAULTS),
    )
    decided = ENGINE.decide(view, action, target)
    subject = GuardSubject(
        incident_type=incident_type,
        environment=environment.value,
        action=action,
        action_class=decided.action_class,
        target=target.as_dict() if target else None,
        namespace=(target.namespace if target else None) or labels["namespace"] or None,
        labels=labels,
    )
    # the shipped policy rarely says auto for a random draw: the guard rails
    # must hold for any decision they are given, so auto and approval are drawn too
    policy = draw(st.sampled_from([decided.decision.value, "auto", "approval"]))
    reason = decided.reason if policy == decided.decision.value else f"drawn {policy}"
    return subject, policy, reason


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=decisions(), state=states())
def test_nothing_runs_that_the_state_forbids(
    drawn: tuple[GuardSubject, str, str], state: GuardState
) -> None:
    subject, policy, reason = drawn
    guarded = judge(policy, reason, subject, state)
    final = guarded.decision
    where = f"{subject} / {policy} under {state}: {guarded}"

    # never looser than the policy (and so than its hard constraints)
    assert STRICTNESS[final] >= STRICTNESS[policy], where
    assert guarded.policy_decision == policy
    if subject.action_class not in GUARDED_CLASSES or policy not in ("auto", "approval"):
        assert final == policy, where
        return
    assert final in ("auto", "approval", "shadow", "off"), where

    mode = state.mode(subject.incident_type, subject.environment)
    if mode == AutomationMode.off:
        assert final == "off", where
    if mode == AutomationMode.shadow:
        assert final in ("shadow", "off"), where
    if mode == AutomationMode.approval:
        assert final != "auto", where
    covering = [
        p
        for p in state.pauses
        if p.active(state.at)
        and p.covers(subject.environment, subject.incident_type, subject.namespace)
    ]
    if covering:
        assert final != "auto", where
        if state.pause_effect == "shadow" and policy == "auto":
            assert final in ("shadow", "off"), where
    if state.storm_until is not None and state.at < state.storm_until:
        assert final != "auto", where
    if state.blocking:
        assert final != "auto", where
    outside = bool(state.windows) and not any(w.active(state.at) for w in state.windows)
    if subject.action_class in WINDOWED_CLASSES and outside:
        assert final != "auto", where
        assert guarded.needs_window_override, where
    if subject.action in NODE_ACTIONS:
        node = (subject.target or {}).get("name", "")
        affected = set(state.unhealthy_nodes) | ({node} if node else set())
        control_plane = any(k in subject.labels for k in CONTROL_PLANE_LABELS)
        breach = len(affected) > state.node_limit
        if control_plane or breach:
            # refused outright: not even an approval may run it
            assert final == "off", where
            assert guarded.escalate, where
        assert guarded.breach == breach, where
        # a storm pages once: a breach alone does not escalate a member of a
        # storm incident; a control-plane node escalates its own incident
        assert (own_escalation(guarded, in_storm=True) is not None) == control_plane, where
        assert (own_escalation(guarded, in_storm=False) is not None) == (control_plane or breach), (
            where
        )
    else:
        assert guarded.escalate is None and not guarded.breach, where
    if not (subject.action_class in WINDOWED_CLASSES and outside):
        assert not guarded.needs_window_override, where
    # and when nothing forbids it, the policy stands
    if (
        mode == AutomationMode.auto
        and not covering
        and not (state.storm_until is not None and state.at < state.storm_until)
        and not state.blocking
        and not (subject.action_class in WINDOWED_CLASSES and outside)
        and guarded.escalate is None
    ):
        assert final == policy, where
    if final != policy:
        assert guarded.reason != reason and guarded.notes, where
