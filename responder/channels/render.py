"""The one template of every operator message. Slack, Telegram and the
in-app inbox all show these texts; a channel only adds its own buttons and
layout around them, so an approval request reads the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from responder.guards.automation import Pause
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident

#: longest text a chat message gets (Slack sections take 3000, Telegram 4096)
MAX_TEXT = 2900


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when_text(at: datetime) -> str:
    """``2026-12-06 18:30 UTC``."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def scope_label(incident: Incident) -> str:
    scope = incident.resource_scope
    where = f"{scope.namespace}/" if scope.namespace else ""
    return f"{scope.kind} {where}{scope.name}"


def paused_line(until: datetime) -> str:
    return f"Automation paused until {when_text(until)}."


def incident_text(incident: Incident, why: str, paused_until: datetime | None = None) -> str:
    """The incident's message (the head of its thread), as of now;
    ``paused_until``: a pause covers the incident until then."""
    lines = [
        f"Robot SRE: {incident.display_name} on {scope_label(incident)} "
        f"({incident.severity}, {incident.environment}) {why}.",
        f"State: {incident.state}; confidence: {incident.confidence}.",
    ]
    if paused_until is not None:
        lines.append(paused_line(paused_until))
    if incident.evidence_summary:
        lines.append(f"Evidence: {incident.evidence_summary}")
    lines.append(f"Incident {incident.id} ({incident.incident_type}).")
    return clip("\n".join(lines))


def incident_event(incident: Incident, why: str, paused_until: datetime | None = None) -> str:
    """A reply in the incident's thread: what changed."""
    paused = f" {paused_line(paused_until)}" if paused_until is not None else ""
    return clip(
        f"Incident {why}: {incident.state}, severity {incident.severity}, "
        f"confidence {incident.confidence}.{paused}"
    )


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 5m``, ``2d 4h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _target(target: dict[str, str] | None) -> str:
    if not target:
        return ""
    if target.get("kind") == "node":
        return f" {target.get('name', '')}"
    namespace = target.get("namespace") or ""
    return (
        f" {target.get('kind', '')} {namespace + '/' if namespace else ''}{target.get('name', '')}"
    )


def resolved_text(incident: Incident, now: datetime) -> str:
    """The reply saying the incident resolved: how long it lasted, what the
    robot did and (shadow entries) what it would have done, and the
    question the Right / False positive buttons answer."""
    lasted = duration(((incident.resolved_at or now) - incident.created_at).total_seconds())
    lines = [
        f"Resolved: {incident.display_name} on {scope_label(incident)} "
        f"({incident.environment}) lasted {lasted}."
    ]
    done: list[str] = []
    would: list[str] = []
    for entry in incident.executed_actions:
        if entry.action == "notify_operator":
            continue
        what = f"{entry.action.replace('_', ' ')}{_target(entry.target)}"
        if entry.result == "shadow":
            if what not in would:
                would.append(what)
            continue
        line = f"{what} ({entry.result.replace('_', ' ')})"
        if line not in done:
            done.append(line)
    if done:
        lines.append("The robot did: " + "; ".join(done[:10]) + ".")
    if would:
        lines.append("The robot would have (shadow): " + "; ".join(would[:10]) + ".")
    if not done and not would:
        lines.append("The robot took no action beyond telling operators.")
    lines.append(
        f"Incident {incident.id} ({incident.incident_type}): were the classification "
        "and the action right?"
    )
    return clip("\n".join(lines))


def marked_line(mark: Mapping[str, Any], via: str, at: datetime) -> str:
    """Who marked the incident and how, e.g. ``Marked by alice via slack at …:
    classification right, action right.``"""
    parts = [
        f"{name} {str(mark[name]).replace('_', ' ')}"
        for name in ("classification", "action")
        if mark.get(name)
    ]
    if mark.get("rolled_back"):
        parts.append("rolled back")
    what = ", ".join(parts) or "marked"
    return f"Marked by {mark.get('marked_by', 'someone')} via {via} at {when_text(at)}: {what}."


def pause_text(pause: Pause, who: str, via: str, effect: str) -> str:
    """The reply to a Pause automation press."""
    meanwhile = (
        "automatic decisions ask for an approval"
        if effect == "approval"
        else "automatic decisions are only recorded (shadow)"
    )
    return clip(
        f"Automation paused for {pause.scope} by {who} via {via} until "
        f"{when_text(pause.expires_at)} (pause {pause.id}): {meanwhile} meanwhile; "
        "actions already running finish."
    )


def resumed_line(who: str, via: str, at: datetime) -> str:
    return f"Resumed by {who} via {via} at {when_text(at)}."


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
        f"Approval expires in {minutes}m.", f"Approval expires at {when_text(approval.expires_at)}."
    )
    return clip(f"{asked}\n{result}")


def answer_line(approval: ApprovalRequest, detail: str = "") -> str:
    """How the request ended, e.g. ``Approved by alice via slack at …: detail``."""
    who = f" by {approval.decided_by}" if approval.decided_by not in (None, "robot") else ""
    via = f" via {approval.decided_via}" if approval.decided_via else ""
    when = f" at {when_text(approval.decided_at)}" if approval.decided_at else ""
    tail = f": {detail}" if detail else ""
    if approval.state in ("approved", "executed"):
        return f"Approved{who}{via}{when}{tail}"
    if approval.state == "denied":
        return f"Denied{who}{via}{when}{tail}"
    if approval.state == "expired":
        return f"Expired unanswered{when}{tail}"
    if approval.state == "superseded":
        return f"Answered{who}{via}{when}, not carried out{tail}"
    if approval.state == "failed":
        return f"Approved{who}{via}{when}, could not run: {approval.failure or detail}"
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
