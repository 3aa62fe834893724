"""The incident suppressor's plans: the incident's state before and after,
as the approval prompt shows them; a plan that changes nothing has no diff."""

from __future__ import annotations

from fixtures.clock import T0
from fixtures.incidents import make_incident
from fixtures.rigs import TAXONOMY

from responder.actions.incident import IncidentSuppressor
from responder.records.action import ActionRequest, Change
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.store import Store


def suppressor(store: Store) -> IncidentSuppressor:
    return IncidentSuppressor(store, TAXONOMY, lambda: T0)


def request(action: str, **params: object) -> ActionRequest:
    return ActionRequest(action, Target(kind="incident", name="i1"), "i1", dict(params))


def test_suppress_plan_shows_the_state_and_how_long(sqlite_store: Store) -> None:
    sqlite_store.save_incident(make_incident("i1", state=IncidentState.triaged))

    plan = suppressor(sqlite_store).plan(request("suppress_incident", seconds=600))

    assert plan.diff == (Change("incident state", "triaged", "suppressed for 600s"),)


def test_unsuppress_plan_shows_the_state_it_returns_to(sqlite_store: Store) -> None:
    sqlite_store.save_incident(make_incident("i1", state=IncidentState.suppressed))

    plan = suppressor(sqlite_store).plan(request("unsuppress_incident"))

    assert plan.diff == (Change("incident state", "suppressed", "triaged"),)


def test_a_plan_that_changes_nothing_has_no_diff(sqlite_store: Store) -> None:
    sqlite_store.save_incident(make_incident("i1", state=IncidentState.suppressed))

    plan = suppressor(sqlite_store).plan(request("suppress_incident"))

    assert (plan.changes, plan.diff) == ({}, ())
