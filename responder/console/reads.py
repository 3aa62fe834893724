"""The console's reading commands: the open incidents, one incident, why
the robot decided what it did, and the approvals a person may answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from responder.channels.render import scope_label, when_text
from responder.console.context import Asked, CommandError
from responder.console.markup import Bold, Code, Page
from responder.console.reply import Reply
from responder.records.incident import Incident
from responder.records.levels import Environment
from responder.store import IncidentFilter

#: the most incidents ``incidents`` lists
MAX_LISTED = 15
#: the open incidents looked through for the list (newest first)
SCANNED = 500


def _target(target: Mapping[str, Any] | None) -> str:
    if not target:
        return "no target"
    return "/".join(str(target[k]) for k in ("kind", "namespace", "name") if target.get(k))


def incidents(asked: Asked) -> Reply:
    environment = asked.args[0].lower() if asked.args else None
    if environment is not None and environment not in {e.value for e in Environment}:
        known = ", ".join(e.value for e in Environment)
        raise CommandError(f"No environment {environment!r}: one of {known}.")
    found = [
        i
        for i in asked.runtime.store.list_incidents(
            IncidentFilter(environment=environment, limit=SCANNED)
        )
        if i.is_open
    ]
    where = f" in {environment}" if environment else ""
    if not found:
        return Page().line(f"No open incidents{where}.").reply()
    page = Page().line(Bold(f"{len(found)} open incident(s){where}"), ", newest first:")
    for incident in found[:MAX_LISTED]:
        acked = " (acknowledged)" if incident.pages_held else ""
        page.line(
            Code(incident.id),
            " ",
            Bold(incident.display_name),
            f" [{incident.incident_type}] {incident.severity}, {incident.state}{acked}"
            f" — {scope_label(incident)} ({incident.environment})",
        )
    if len(found) > MAX_LISTED:
        page.line(f"… and {len(found) - MAX_LISTED} more: give an environment to narrow it.")
    return page.reply()


def incident(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "incident ID"))
    page = Page().line(
        Bold(found.display_name), " on ", scope_label(found), f" ({found.environment})"
    )
    page.line("Incident ", Code(found.id), f" [{found.incident_type}]")
    page.line(
        f"State {found.state}, severity {found.severity}, confidence {found.confidence}; "
        f"opened {when_text(found.created_at)}, {found.firing_alerts} alert(s) firing."
    )
    if found.acknowledged is not None:
        ack = found.acknowledged
        page.line(f"Acknowledged by {ack.by} at {when_text(ack.at)}.")
    if found.silence is not None:
        page.line(
            "Silenced in Alertmanager until ",
            f"{when_text(found.silence.ends_at)} by {found.silence.by} (silence ",
            Code(", ".join(found.silence.ids)),
            ").",
        )
    if found.evidence_summary:
        page.line(Bold("Evidence: "), found.evidence_summary)
    if found.ladder is not None:
        page.line(Bold("Ladder: "), f"step {found.ladder.step + 1} ({found.ladder.step_id})")
    if found.recommended_actions:
        page.line(Bold("Decisions:"))
        for rec in found.recommended_actions:
            page.line(f"• {rec.action} on {_target(rec.target)}: {rec.decision} — {rec.reason}")
    pending = [
        a
        for a in asked.runtime.approval_requests.for_incident(found.id)
        if a.state_at(asked.now) == "pending"
    ]
    for approval in pending:
        page.line(
            "Waiting for approval ",
            Code(approval.id),
            f": {approval.action_name.lower()} {approval.target_label}, "
            f"until {when_text(approval.expires_at)}.",
        )
    notes = [e for e in found.timeline if e.event == "note"][-5:]
    for note in notes:
        page.line(Bold("Note: "), f"{note.detail} ({when_text(note.at)})")
    return page.reply()


def latest_decisions(incident: Incident) -> list[dict[str, Any]]:
    """The last decision kept for each action and target, in the order first made."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for decision in incident.decisions:
        latest[(str(decision.get("action")), _target(decision.get("target")))] = decision
    return list(latest.values())


def _trace(page: Page, decision: Mapping[str, Any]) -> None:
    page.line(
        Bold(str(decision.get("action"))),
        f" ({decision.get('action_class')}) on {_target(decision.get('target'))}: ",
        Bold(str(decision.get("decision"))),
    )
    page.line(f"because: {decision.get('reason')}")
    for layer in decision.get("layers", []):
        page.line(f"  {layer.get('layer')}: {layer.get('decision') or '-'} — {layer.get('reason')}")
    for guard in decision.get("guards", []):
        page.line(f"  guard {guard.get('guard')}: {guard.get('decision')} — {guard.get('reason')}")
    if decision.get("cannot_run"):
        page.line(f"  cannot run here: {decision['cannot_run']}")


def why(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "why ID [ACTION]"))
    decisions = latest_decisions(found)
    if not decisions:
        return Page().line("No decision kept for incident ", Code(found.id), " yet.").reply()
    page = Page().line("Why, for incident ", Code(found.id), f" ({found.display_name}):")
    if len(asked.args) > 1:
        action = asked.args[1]
        chosen = [d for d in decisions if d.get("action") == action]
        if not chosen:
            names = ", ".join(dict.fromkeys(str(d.get("action")) for d in decisions))
            raise CommandError(f"No decision about {action} on incident {found.id}: {names}.")
    elif len(decisions) == 1:
        chosen = decisions
    else:
        for decision in decisions:
            page.line(
                f"• {decision.get('action')} on {_target(decision.get('target'))}: "
                f"{decision.get('decision')} — {decision.get('reason')}"
            )
        page.line(f"Send why {found.id} ACTION for its trace, layer by layer.")
        return page.reply()
    for decision in chosen:
        _trace(page, decision)
    return page.reply()


def approvals(asked: Asked) -> Reply:
    account = asked.account
    assert account is not None
    mine = [
        a
        for a in asked.runtime.approval_requests.pending(asked.now)
        if account.may_answer(a.environment)
    ]
    if not mine:
        return Page().line("No approval request waits for you.").reply()
    page = Page().line(Bold(f"{len(mine)} approval request(s) wait for you:"))
    for approval in mine:
        page.line(
            Code(approval.id),
            f" {approval.action_name.lower()} {approval.target_label} ({approval.environment}) "
            f"for incident ",
            Code(approval.incident_id),
            f", expires {when_text(approval.expires_at)}",
        )
    return page.reply()
