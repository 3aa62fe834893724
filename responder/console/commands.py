"""The console's commands, the same over Telegram and Slack: a command line
in, a reply out. Each command needs a role of the account linked to the chat
identity (viewers read, operators act, approvers answer approvals); every
command is audited with the person's chat identity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from responder.accounts.models import Role
from responder.console import acts, reads, silences
from responder.console.context import Asked, CommandError
from responder.console.identity import HOW_TO_LINK, Identities, LinkRefused
from responder.console.markup import Bold, Code, Page, plain
from responder.console.reply import ChatUser, Reply
from responder.records.audit import audit
from responder.records.levels import Environment
from responder.runtime import Runtime

Handler = Callable[[Asked], Reply]
#: the set automation modes ``status`` lists one by one
MAX_MODES_LISTED = 10


@dataclass(frozen=True)
class Command:
    """What a command does (one line), the role it needs (None: anyone) and
    its handler."""

    about: str
    role: Role | None
    handler: Handler
    listed: bool = True


@dataclass(eq=False)
class Console:
    runtime: Runtime
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    identities: Identities = field(init=False)

    def __post_init__(self) -> None:
        runtime = self.runtime
        self.identities = Identities(
            runtime.store, runtime.accounts.users, runtime.approvers, self.clock
        )

    def commands(self) -> list[tuple[str, str]]:
        """(name, what it does) of every command, in the order ``help`` lists them."""
        return [(name, command.about) for name, command in COMMANDS.items() if command.listed]

    def run(self, user: ChatUser, text: str) -> Reply:
        """Run one command line (``"status"``, ``"incidents staging"``)."""
        words = text.split()
        name, args = (words[0].lower().lstrip("/"), words[1:]) if words else ("help", [])
        name = name.split("@", 1)[0]  # Telegram's /cmd@botname in groups
        command = COMMANDS.get(name)
        action = f"chat.command.{name}"
        if command is None:
            reply, action = (
                refusal(f"Unknown command {name!r}. Send help for the list."),
                "chat.command_unknown",
            )
        else:
            reply, refused = self._answer(user, name, command, args)
            action = "chat.command_refused" if refused else action
        audit(
            self.runtime.store,
            actor=user.actor,
            surface=user.platform,
            action=action,
            subject=f"chat:{user.platform}:{user.chat_id}",
            # a link code is a secret until it is spent: never in the log
            detail=f"{name} …" if name in LINKING and args else text[:200],
            at=self.clock(),
        )
        return reply

    def _answer(
        self, user: ChatUser, name: str, command: Command, args: list[str]
    ) -> tuple[Reply, bool]:
        """The reply, and whether the person was refused for who they are."""
        account = self.identities.account_of(user)
        if command.role is not None:
            if account is None:
                return refusal(f"Sorry, I do not know you yet. {HOW_TO_LINK}"), True
            if not account.can(command.role):
                return (
                    refusal(
                        f"Sorry, {name} needs the {command.role} role; "
                        f"{account.name} is {account.role}."
                    ),
                    True,
                )
        asked = Asked(self.runtime, self.identities, user, account, args, self.clock())
        try:
            return command.handler(asked), False
        except CommandError as exc:
            return refusal(str(exc)), False


def refusal(text: str) -> Reply:
    """A reply saying the command did nothing (Slack shows it only to the asker)."""
    return replace(plain(text), refused=True)


def _help(asked: Asked) -> Reply:
    page = Page().line(Bold("Robot SRE commands:"))
    for name, command in COMMANDS.items():
        if command.listed:
            page.line(f"/{name} — {command.about}")
    if asked.account is None:
        page.line(HOW_TO_LINK)
    return page.reply()


def _status(asked: Asked) -> Reply:
    runtime, now = asked.runtime, asked.now
    depth = runtime.store.queue_depth()
    pauses = runtime.automation.active_pauses(now)
    page = Page().line(
        Bold(f"Robot SRE in {runtime.settings.environment}"), f": queue depth {depth}"
    )
    if not pauses:
        page.line("pauses: none")
    for pause in pauses:
        page.line(
            "pause ",
            Code(pause.id),
            f" of {pause.scope} until {pause.expires_at:%H:%M} UTC ({pause.reason})",
        )
    rows = runtime.automation.modes(runtime.taxonomy.incident_types)["modes"]
    for environment in Environment:
        counted = Counter(r["mode"] for r in rows if r["environment"] == environment.value)
        shown = ", ".join(f"{mode} {n}" for mode, n in sorted(counted.items()))
        page.line(f"modes in {environment.value}: {shown} (incident types)")
    chosen = [r for r in rows if r["source"] == "set"]
    for row in chosen[:MAX_MODES_LISTED]:
        page.line(f"• {row['incident_type']} in {row['environment']}: {row['mode']}")
    if len(chosen) > MAX_MODES_LISTED:
        page.line(f"… and {len(chosen) - MAX_MODES_LISTED} more set on the Automation page")
    return page.reply()


def _link(asked: Asked) -> Reply:
    if not asked.args:
        return plain(HOW_TO_LINK)
    try:
        account = asked.identities.redeem(asked.user, asked.args[0])
    except LinkRefused as exc:
        return plain(f"Not linked: {exc}. Make a new code on the Account page.")
    return (
        Page()
        .line("Linked: you are ", Bold(account.name), f" ({account.role}) to Robot SRE.")
        .line("Send help for the commands.")
        .reply()
    )


#: the names that link a chat identity: Telegram's /start CODE, Slack's link CODE
LINKING = ("start", "link")

COMMANDS: dict[str, Command] = {
    "incidents": Command(
        "open incidents [environment], newest first", Role.viewer, reads.incidents
    ),
    "incident": Command(
        "one incident: state, evidence, decisions, ladder", Role.viewer, reads.incident
    ),
    "why": Command("why ID [ACTION]: the decision trace, layer by layer", Role.viewer, reads.why),
    "approvals": Command("the approval requests you may answer", Role.viewer, reads.approvals),
    "ack": Command("ack ID: acknowledge, no re-page until it changes", Role.operator, acts.ack),
    "note": Command("note ID TEXT: a note on the incident's timeline", Role.operator, acts.note),
    "silence": Command(
        "silence ID DURATION: silence its alerts in Alertmanager", Role.operator, silences.silence
    ),
    "unsilence": Command("unsilence ID: expire that silence", Role.operator, silences.unsilence),
    "pause": Command(
        "pause DURATION [env|type|namespace=NS] REASON: pause automation", Role.operator, acts.pause
    ),
    "resume": Command("resume [PAUSE_ID]: lift a pause", Role.operator, acts.resume),
    "status": Command("the responder: queue depth, pauses, modes", Role.viewer, _status),
    "help": Command("this list", None, _help),
    "start": Command(
        "start CODE: link this chat identity to your account", None, _link, listed=False
    ),
    "link": Command(
        "link CODE: link this chat identity to your account", None, _link, listed=False
    ),
}
