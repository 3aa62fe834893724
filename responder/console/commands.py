"""The console's commands, the same over Telegram and Slack: a command line
in, a reply out. Every command is audited with the person's chat identity."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from responder.console.reply import ChatUser, Reply
from responder.records.audit import audit
from responder.runtime import Runtime

Handler = Callable[["Console", ChatUser, list[str]], Reply]


def plain(text: str) -> Reply:
    """A reply without markup: the HTML is the text, escaped."""
    return Reply(text=text, html=html.escape(text))


@dataclass(eq=False)
class Console:
    runtime: Runtime
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def commands(self) -> list[tuple[str, str]]:
        """(name, what it does) of every command, in the order ``help`` lists them."""
        return [(name, about) for name, (about, _) in COMMANDS.items()]

    def run(self, user: ChatUser, text: str) -> Reply:
        """Run one command line (``"status"``, ``"incidents staging"``)."""
        words = text.split()
        if not words:
            return self._help(user, [])
        name, args = words[0].lower().lstrip("/"), words[1:]
        found = COMMANDS.get(name)
        if found is None:
            reply = plain(f"Unknown command {name!r}. Send help for the list.")
        else:
            reply = found[1](self, user, args)
        audit(
            self.runtime.store,
            actor=user.actor,
            surface=user.platform,
            action=f"chat.command.{name}" if found else "chat.command_unknown",
            subject=f"chat:{user.platform}:{user.chat_id}",
            detail=text[:200],
            at=self.clock(),
        )
        return reply

    def _help(self, user: ChatUser, args: list[str]) -> Reply:
        lines = [f"/{name} — {about}" for name, about in self.commands()]
        return plain("Robot SRE commands:\n" + "\n".join(lines))

    def _status(self, user: ChatUser, args: list[str]) -> Reply:
        runtime, now = self.runtime, self.clock()
        depth = runtime.store.queue_depth()
        pauses = runtime.automation.active_pauses(now)
        paused = "; ".join(f"{p.id} until {p.expires_at:%H:%M} UTC ({p.reason})" for p in pauses)
        lines = [
            f"Robot SRE in {runtime.settings.environment}: queue depth {depth}",
            f"pauses: {paused or 'none'}",
        ]
        return plain("\n".join(lines))


COMMANDS: dict[str, tuple[str, Handler]] = {
    "status": ("the responder: queue depth, pauses", Console._status),
    "help": ("this list", Console._help),
}
