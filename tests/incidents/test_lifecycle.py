"""The lifecycle table of spec section 2 and how an incident moves through it."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from fixtures.clock import T0
from fixtures.incidents import make_incident

from responder.records.lifecycle import (
    OPEN_STATES,
    TRANSITIONS,
    IllegalTransition,
    IncidentState,
    check_transition,
)

S = IncidentState

ALLOWED = sorted((src, dst) for src, targets in TRANSITIONS.items() for dst in targets)
FORBIDDEN = sorted(
    (src, dst)
    for src, dst in itertools.product(IncidentState, repeat=2)
    if dst not in TRANSITIONS[src]
)


def test_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(IncidentState)


def test_normal_path_is_in_the_table() -> None:
    path = [S.observed, S.triaged, S.contained, S.recovering, S.resolved]
    for src, dst in itertools.pairwise(path):
        check_transition(src, dst)


@pytest.mark.parametrize(("src", "dst"), ALLOWED, ids=[f"{s}->{d}" for s, d in ALLOWED])
def test_allowed_transition_is_accepted(src: IncidentState, dst: IncidentState) -> None:
    check_transition(src, dst)
    incident = make_incident(state=src)
    incident.move_to(dst, "test", T0)
    assert incident.state == dst


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN, ids=[f"{s}->{d}" for s, d in FORBIDDEN])
def test_transition_outside_the_table_raises(src: IncidentState, dst: IncidentState) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(src, dst)
    assert (caught.value.current, caught.value.target) == (src, dst)
    assert f"{src} → {dst}" in str(caught.value)


def test_illegal_move_leaves_the_incident_unchanged() -> None:
    incident = make_incident(state=S.triaged)
    with pytest.raises(IllegalTransition):
        incident.move_to(S.resolved, "skipping recovery", T0 + timedelta(seconds=1))
    assert incident.state == S.triaged
    assert incident.timeline == []
    assert incident.updated_at == T0


@pytest.mark.parametrize("dst", list(IncidentState))
def test_resolved_is_terminal(dst: IncidentState) -> None:
    assert TRANSITIONS[S.resolved] == frozenset()
    with pytest.raises(IllegalTransition, match="allowed: none"):
        check_transition(S.resolved, dst)


def test_every_state_but_resolved_is_open() -> None:
    assert frozenset(IncidentState) - {S.resolved} == OPEN_STATES


def test_every_open_state_can_reach_resolved() -> None:
    for start in OPEN_STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert S.resolved in seen, f"{start} cannot reach resolved"


def test_move_to_records_a_timeline_entry() -> None:
    incident = make_incident(state=S.observed)
    at = T0 + timedelta(seconds=5)
    incident.move_to(S.triaged, "classified", at)
    assert [(e.at, e.event, e.detail) for e in incident.timeline] == [
        (at, "state:triaged", "classified")
    ]
    assert incident.updated_at == at


def test_move_to_recovering_sets_recovering_since() -> None:
    incident = make_incident(state=S.triaged)
    at = T0 + timedelta(minutes=3)
    incident.move_to(S.recovering, "all alerts resolved", at)
    assert incident.recovering_since == at
    assert incident.resolved_at is None


def test_move_to_resolved_sets_resolved_at() -> None:
    incident = make_incident(state=S.triaged)
    incident.move_to(S.recovering, "all alerts resolved", T0)
    done = T0 + timedelta(minutes=10)
    incident.move_to(S.resolved, "quiet", done)
    assert incident.resolved_at == done
    assert incident.recovering_since == T0
    assert not incident.is_open


def test_leaving_recovering_clears_recovering_since() -> None:
    incident = make_incident(state=S.triaged)
    incident.move_to(S.recovering, "all alerts resolved", T0)
    incident.move_to(S.triaged, "fired again", T0 + timedelta(seconds=30))
    assert incident.recovering_since is None
    assert incident.is_open
