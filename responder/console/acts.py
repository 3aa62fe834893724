"""The console's operator commands: acknowledge an incident, note on it,
pause and resume automation. Each change is audited with the chat identity."""

from __future__ import annotations

from responder.console.context import Asked, CommandError, duration
from responder.console.markup import Bold, Code, Page
from responder.console.reply import Reply
from responder.guards.automation import AutomationError
from responder.records.incident import Acknowledgement, Incident
from responder.records.levels import Environment

MAX_NOTE = 1000
PAUSE_USAGE = "pause DURATION [ENVIRONMENT|TYPE|namespace=NAME] REASON"


def ack(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "ack ID"))
    if not found.is_open:
        raise CommandError(f"Incident {found.id} is resolved: nothing to acknowledge.")

    def take(incident: Incident) -> Acknowledgement:
        taken = Acknowledgement(
            by=asked.who, at=asked.now, state=incident.state, severity=incident.severity
        )
        incident.acknowledged = taken
        incident.record("acknowledged", f"by {asked.who}", asked.now)
        return taken

    taken = asked.change(found, take)
    asked.audit("incident.acknowledge", found.id, f"acknowledged by {asked.who}")
    return (
        Page()
        .line("Incident ", Code(found.id), " acknowledged by ", Bold(asked.who), ".")
        .line(
            f"No re-page while it stays {taken.state} at severity {taken.severity}; "
            "a change of either pages again."
        )
        .reply()
    )


def note(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "note ID TEXT"))
    text = " ".join(asked.args[1:]).strip()
    if not text:
        raise CommandError("Usage: note ID TEXT")
    if len(text) > MAX_NOTE:
        raise CommandError(f"A note is at most {MAX_NOTE} characters.")
    detail = f"{asked.who}: {text}"
    asked.change(found, lambda incident: incident.record("note", detail, asked.now))
    asked.audit("incident.note", found.id, detail)
    return Page().line("Noted on incident ", Code(found.id), ": ", text).reply()


def pause(asked: Asked) -> Reply:
    length = duration(asked.arg(0, PAUSE_USAGE))
    rest = asked.args[1:]
    body: dict[str, object] = {"duration_seconds": int(length.total_seconds())}
    if rest:
        scope = _scope(asked, rest[0])
        if scope is not None:
            body.update(scope)
            rest = rest[1:]
    body["reason"] = " ".join(rest)
    if not rest:
        raise CommandError(f"Say why. Usage: {PAUSE_USAGE}")
    try:
        made = asked.runtime.automation.pause(body, asked.user.actor, asked.user.platform)
    except AutomationError as exc:
        raise CommandError(f"Not paused: {exc}") from None
    return (
        Page()
        .line(
            Bold("Automation paused"),
            f" for {made.scope} until {made.expires_at:%Y-%m-%d %H:%M} UTC: {made.reason}",
        )
        .line("Pause ", Code(made.id), "; send resume ", Code(made.id), " to lift it.")
        .reply()
    )


def _scope(asked: Asked, word: str) -> dict[str, str] | None:
    """The pause's scope a word names: an environment, an incident type or
    ``namespace=NAME``; None when it names none (it starts the reason)."""
    name, sep, value = word.partition("=")
    if sep:
        field = {"env": "environment", "environment": "environment", "type": "incident_type"}
        key = field.get(name, "namespace" if name in ("ns", "namespace") else "")
        if not key or not value:
            raise CommandError(f"{word!r}: use env=, type= or namespace=. Usage: {PAUSE_USAGE}")
        return {key: value}
    if word in {e.value for e in Environment}:
        return {"environment": word}
    if word in asked.runtime.taxonomy.incident_types:
        return {"incident_type": word}
    return None


def resume(asked: Asked) -> Reply:
    automation = asked.runtime.automation
    if asked.args:
        pause_id = asked.args[0]
    else:
        live = automation.active_pauses(asked.now)
        if len(live) != 1:
            listed = ", ".join(p.id for p in live) or "none is on"
            raise CommandError(f"Which pause? Send resume PAUSE_ID ({listed}).")
        pause_id = live[0].id
    lifted = automation.resume(pause_id, asked.user.actor, asked.user.platform)
    if lifted is None:
        raise CommandError(f"No pause {pause_id} is on.")
    return (
        Page()
        .line(Bold("Automation resumed"), f" for {lifted.scope} (", Code(lifted.id), ").")
        .reply()
    )
