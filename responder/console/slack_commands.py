"""The ``/robot-sre <text>`` slash command: Slack's form in, the console's
reply out as Slack's answer (shown to the asker only, or to the channel for
what the team should see), either at once or later through the command's
``response_url``.

Until the console has its own ``approve``, a typed ``approve ID NODE``
answers an approval from Slack: a disruptive node action counts only with
the node's name typed, the second step the buttons cannot give."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from slack_sdk.webhook import WebhookClient

from responder.channels.slack import SlackRejected
from responder.console.commands import Console
from responder.console.markup import plain
from responder.console.reply import ChatUser, Reply
from responder.records.audit import audit

log = logging.getLogger(__name__)

#: commands whose outcome the channel should see (when they did something)
ANNOUNCED = frozenset({"ack", "silence", "unsilence", "pause", "resume", "note", "approve", "deny"})
#: answers to an approval that did nothing: only the asker is told
NOT_APPROVED = frozenset(
    {"forbidden", "unknown", "expired", "already_answered", "busy", "outside_window", "invalid"}
)


def mrkdwn(text: str) -> str:
    """``text`` with Slack's mrkdwn control characters escaped: a label
    cannot become a ``<!channel>`` mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlashCommand:
    """What Slack sends for ``/robot-sre <text>``; a channel id starting
    with ``D`` is a direct conversation with the app."""

    command: str
    text: str
    user_id: str
    channel_id: str
    channel_name: str
    response_url: str

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> SlashCommand:
        """From the form (or a Socket Mode payload); ``SlackRejected(400)``
        when a field Slack always sends is missing."""
        try:
            return cls(
                command=str(fields["command"]),
                text=str(fields.get("text") or ""),
                user_id=str(fields["user_id"]),
                channel_id=str(fields["channel_id"]),
                channel_name=str(fields.get("channel_name") or ""),
                response_url=str(fields.get("response_url") or ""),
            )
        except KeyError as exc:
            raise SlackRejected(400, f"slash command without {exc}") from exc

    @classmethod
    def parse(cls, body: bytes) -> SlashCommand:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise SlackRejected(400, "expected a form of the slash command's fields") from exc
        return cls.of({key: values[0] for key, values in form.items()})

    @property
    def user(self) -> ChatUser:
        private = self.channel_id.startswith("D") or self.channel_name == "directmessage"
        return ChatUser("slack", self.user_id, self.channel_id, private)


@dataclass(eq=False)
class SlackCommands:
    """Runs slash commands on the console and says the answer to Slack."""

    console: Console
    timeout_seconds: float = 5.0

    def answer(self, command: SlashCommand) -> dict[str, Any]:
        """The answer to ``command`` in Slack's shape; a failure to run it
        is answered too (Slack would only say "operation_timeout")."""
        user, words = command.user, command.text.split()
        name = words[0].lower().lstrip("/") if words else "help"
        try:
            if name == "approve" and "approve" not in dict(self.console.commands()):
                reply = self._approve(user, command.text, words[1:])
            else:
                reply = self.console.run(user, command.text)
        except Exception as exc:
            log.exception("slack: %s %r failed", command.command, command.text)
            reply = _refusal(f"Robot SRE could not answer that now ({type(exc).__name__}).")
        shown: Literal["in_channel", "ephemeral"] = "ephemeral"
        if name in ANNOUNCED and not reply.refused and not user.private:
            shown = "in_channel"
        return {"response_type": shown, "text": mrkdwn(reply.text)}

    def answer_later(self, command: SlashCommand) -> None:
        """Answer ``command`` through its ``response_url`` (Socket Mode, or a
        command that took longer than Slack waits)."""
        self.respond(command, self.answer(command))

    def respond(self, command: SlashCommand, body: dict[str, Any]) -> None:
        if not command.response_url:
            log.warning("slack: %s from %s has no response_url", command.command, command.user_id)
            return
        try:
            sent = WebhookClient(command.response_url, timeout=max(1, round(self.timeout_seconds)))
            response = sent.send_dict(body)
        except Exception as exc:
            log.warning(
                "slack: could not answer %s through its response_url: %s", command.command, exc
            )
            return
        if response.status_code != 200:
            log.warning(
                "slack: response_url answered %d: %s", response.status_code, response.body[:200]
            )

    def _approve(self, user: ChatUser, text: str, args: list[str]) -> Reply:
        runtime = self.console.runtime
        reply = self._approval_reply(user, args)
        audit(
            runtime.store,
            actor=user.actor,
            surface=user.platform,
            action="chat.command.approve",
            subject=f"chat:{user.platform}:{user.chat_id}",
            detail=text[:200],
            at=self.console.clock(),
        )
        return reply

    def _approval_reply(self, user: ChatUser, args: list[str]) -> Reply:
        runtime = self.console.runtime
        if not args:
            return _refusal("Usage: approve ID [NODE] (NODE: the node of a disruptive action)")
        approval = runtime.approval_requests.get(args[0])
        if approval is None:
            return _refusal(f"No approval request {args[0]!r}.")
        node = approval.target.get("name", "") if approval.target.get("kind") == "node" else ""
        if approval.action_class == "disruptive" and node:
            typed = args[1] if len(args) > 1 else ""
            if not typed:
                return _refusal(
                    f"{approval.action_name} {node} is disruptive: type the node's name to "
                    f"approve it: approve {approval.id} NODE"
                )
            if typed != node:
                return _refusal(f"{typed!r} is not the node of this request: not approved.")
        approver = self.console.identities.by_chat_user("slack", user.user_id)
        outcome = runtime.approval_answers.answer(
            approval.id, "approve", approver, "slack", f"slack user {user.user_id}"
        )
        if outcome.result in NOT_APPROVED:
            return _refusal(f"Robot SRE: {outcome.detail}")
        who = approver.name if approver else user.user_id
        label = f"{approval.action_name.lower()} {approval.target_label}"
        return plain(f"Approved by {who}: {label} ({outcome.result.replace('_', ' ')}).")


def _refusal(text: str) -> Reply:
    answer = plain(text)
    return Reply(answer.text, answer.html, refused=True)
