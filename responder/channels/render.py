"""The one template of every operator message. Slack, Telegram and the
in-app inbox all show these texts; a channel only adds its own buttons and
layout around them, so an approval request reads the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from responder.approvals.models import ApprovalRequest
from responder.incidents.models import Incident

#: longest text a chat message gets (Slack sections take 3000, Telegram 4096)
MAX_TEXT = 2900


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def scope_label(incident: Incident) -> str:
    scope = incident.resource_scope
    where = f"{scope.namespace}/" if scope.namespace else ""
    return f"{scope.kind} {where}{scope.name}"


def incident_text(incident: Incident, why: str) -> str:
    """The incident's message (the head of its thread), as of now."""
    lines = [
        f"Robot SRE: {incident.display_name} on {scope_label(incident)} "
        f"({incident.severity}, {incident.environment}) {why}.",
        f"State: {incident.state}; confidence: {incident.confidence}.",
    ]
    if incident.evidence_summary:
        lines.append(f"Evidence: {incident.evidence_summary}")
    lines.append(f"Incident {incident.id} ({incident.incident_type}).")
    return clip("\n".join(lines))


def incident_event(incident: Incident, why: str) -> str:
    """A reply in the incident's thread: what changed."""
    return clip(
        f"Incident {why}: {incident.state}, severity {incident.severity}, "
        f"confidence {incident.confidence}."
    )


def approval_text(approval: ApprovalRequest, now: datetime) -> str:
    """The request of spec section 14: action, target, why now, expected
    impact, rollback or fallback, expiry."""
    return clip(
        f"{approval.prompt(now)}\n"
        f"Approval {approval.id} for incident {approval.incident_id} "
        f"({approval.incident_type}, {approval.environment})."
    )


def approval_outcome(approval: ApprovalRequest, result: str) -> str:
    """The request as it was asked (its expiry as a time, no longer a
    countdown), followed by how it ended."""
    asked = approval_text(approval, approval.requested_at)
    minutes = max(0, int((approval.expires_at - approval.requested_at).total_seconds() // 60))
    asked = asked.replace(
        f"Approval expires in {minutes}m.", f"Approval expires at {_when(approval.expires_at)}."
    )
    return clip(f"{asked}\n{result}")


def answer_line(approval: ApprovalRequest, detail: str = "") -> str:
    """How the request ended, e.g. ``Approved by alice via slack at …: detail``."""
    who = f" by {approval.decided_by}" if approval.decided_by not in (None, "robot") else ""
    via = f" via {approval.decided_via}" if approval.decided_via else ""
    when = f" at {_when(approval.decided_at)}" if approval.decided_at else ""
    tail = f": {detail}" if detail else ""
    if approval.state in ("approved", "executed"):
        return f"Approved{who}{via}{when}{tail}"
    if approval.state == "denied":
        return f"Denied{who}{via}{when}{tail}"
    if approval.state == "expired":
        return f"Expired unanswered{when}{tail}"
    if approval.state == "superseded":
        return f"Answered{who}{via}{when}, not carried out{tail}"
    return f"{approval.state.capitalize()}{who}{via}{when}{tail}"


def digest_text(lines: Sequence[str], window_seconds: float, limit: int) -> str:
    """One message standing for the messages held back in a storm."""
    shown = list(lines[:20])
    more = len(lines) - len(shown)
    body = "\n".join(f"- {line}" for line in shown)
    if more:
        body += f"\n- … and {more} more"
    return clip(
        f"Robot SRE digest: {len(lines)} message(s) held back (more than {limit} in "
        f"{window_seconds:g}s). Every one is in the in-app inbox (GET /api/v1/approvals); "
        f"approval requests can be answered there.\n{body}"
    )
