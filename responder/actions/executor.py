"""The executor protocol: one backend (Kubernetes, OCI, Helm) per executor.

``plan`` reads the live state and says what would change, never writing;
``apply`` performs a plan and reports the outcome, raising nothing for the
backend's own failures; ``inverse`` names the request that undoes an applied
plan, or None."""

from __future__ import annotations

from typing import Protocol

from responder.records.action import ActionOutcome, ActionRequest, Plan


class Executor(Protocol):
    actions: frozenset[str]

    def plan(self, request: ActionRequest) -> Plan: ...

    def apply(self, plan: Plan) -> ActionOutcome: ...

    def inverse(self, plan: Plan) -> ActionRequest | None: ...
