"""The executor protocol: one backend (Kubernetes, OCI, Helm) per executor.

``plan`` reads the live state and says what would change, never writing;
``apply`` performs a plan and reports the outcome, raising nothing for the
backend's own failures; ``inverse`` names the request that undoes an applied
plan, or None."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from responder.records.action import ActionOutcome, ActionRequest, Plan
from responder.records.incident import Incident


class Executor(Protocol):
    actions: frozenset[str]

    def plan(self, request: ActionRequest) -> Plan: ...

    def apply(self, plan: Plan) -> ActionOutcome: ...

    def inverse(self, plan: Plan) -> ActionRequest | None: ...


@runtime_checkable
class Configured(Protocol):
    """An executor some of whose actions need an operator's configuration."""

    def unavailable(self, action: str) -> str | None:
        """Why ``action`` cannot run as configured (e.g. "no standby
        configured for switch_db_target"), or None."""


@runtime_checkable
class PlansOnIncident(Protocol):
    """An executor acting on the responder's own record of the incident: it
    plans on the incident in hand, which may not be stored yet."""

    def plan_for(self, incident: Incident, request: ActionRequest) -> Plan: ...


@runtime_checkable
class Verifies(Protocol):
    """An executor that reads back what it wrote."""

    def verify(self, plan: Plan) -> str | None:
        """After ``plan`` was applied: what the live state shows did not
        take, or None when it all did."""
