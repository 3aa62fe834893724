"""The approval request (spec section 14): what the robot asks a human for.

States: pending → approved | denied | expired | superseded; an approved request
is single use and becomes executed when the runner carries it out, or failed
(with the reason) when it could not run after all. Superseded:
by the time somebody answered, the incident or the policy no longer called for
the action."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ApprovalState = Literal[
    "pending", "approved", "denied", "expired", "superseded", "executed", "failed"
]
TERMINAL: frozenset[str] = frozenset({"denied", "expired", "superseded", "executed", "failed"})


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    incident_id: str
    incident_type: str
    environment: str
    action: str
    action_class: str
    action_name: str
    target: dict[str, str]
    why_now: str
    evidence: str = ""
    expected_impact: str
    rollback: str
    policy_reason: str
    params: dict[str, Any] = {}
    """what the executor gets besides the target"""
    change: list[dict[str, str]] = []
    """the planned write as ``what``, ``before``, ``after`` lines"""
    plan_summary: str = ""
    undo: str = ""
    """what the inverse will do"""
    failure: str = ""
    """why an approved request could not run (state ``failed``)"""
    requested_at: datetime
    expires_at: datetime
    state: ApprovalState = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    decided_via: str | None = None

    @property
    def target_label(self) -> str:
        namespace = self.target.get("namespace") or ""
        kind, name = self.target.get("kind", ""), self.target.get("name", "")
        if kind == "node":
            return name
        return f"{kind} {namespace + '/' if namespace else ''}{name}"

    def state_at(self, now: datetime) -> ApprovalState:
        """The state as of ``now``: a pending request past its expiry is expired."""
        if self.state == "pending" and now >= self.expires_at:
            return "expired"
        return self.state

    def prompt(self, now: datetime) -> str:
        """The request in the words of spec section 14."""
        minutes = max(0, int((self.expires_at - now).total_seconds() // 60))
        evidence = f"Evidence: {self.evidence.rstrip('.')}. " if self.evidence else ""
        change = f"Change: {self.change_text}. " if self.change else ""
        undo = f"Undo: {self.undo.rstrip('.')}. " if self.undo else ""
        return (
            f"Robot SRE requests approval: {self.action_name.lower()} {self.target_label}. "
            f"Reason: {self.why_now}. {evidence}{change}Expected impact: {self.expected_impact} "
            f"Rollback/fallback: {self.rollback} {undo}Approval expires in {minutes}m."
        )

    @property
    def change_text(self) -> str:
        """``image of container api: a:1.4.2 → a:1.4.1; replicas: 3 → 0``"""
        return "; ".join(f"{c['what']}: {c['before']} → {c['after']}" for c in self.change)


class ApprovalError(ValueError):
    """The approval cannot make this move (unknown, already decided, expired,
    changed concurrently, or for another action)."""
