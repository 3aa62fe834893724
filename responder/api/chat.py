"""Button presses coming back from Slack and Telegram.

Each request is first authenticated as coming from the platform; anything
else is refused with 401 and audited. A verified press is answered at once
(the platforms want an answer within seconds) and handled right after the
response."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.openapi import Operation
from responder.api.presses import ChatPresses
from responder.channels.base import DeliveryFailed
from responder.channels.build import ChatOps
from responder.channels.buttons import BadButton
from responder.channels.slack import (
    SlackChannel,
    SlackPress,
    SlackRejected,
    interaction_press,
    parse_interaction,
    verify_signature,
)
from responder.channels.telegram import SECRET_HEADER, TelegramRejected, parse_update
from responder.console.slack_commands import SlackCommands, SlashCommand
from responder.console.telegram_bot import TelegramBot
from responder.ingest.webhook import BodyTooLarge, read_limited
from responder.metrics import Metrics
from responder.records.audit import audit
from responder.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def _not_configured(name: str, settings: str) -> JSONResponse:
    return JSONResponse({"error": f"{name} is not configured here: set {settings}"}, 404)


@dataclass(frozen=True)
class ChatCallbacks:
    presses: ChatPresses
    chatops: ChatOps
    store: Store
    metrics: Metrics
    telegram_bot: TelegramBot | None = None
    commands: SlackCommands | None = None
    #: how long a slash command may run before its answer goes to response_url
    command_reply_seconds: float = 2.5

    def _refuse(self, surface: str, status: int, reason: str) -> JSONResponse:
        self.metrics.webhook_rejections.labels(str(status)).inc()
        log.warning("%s callback refused with %d: %s", surface, status, reason)
        audit(
            self.store,
            actor=surface,
            surface=surface,
            action="chat.callback_rejected",
            subject=f"webhook:{surface}",
            after={"status": status},
            detail=reason,
        )
        return JSONResponse({"error": reason}, status_code=status)

    @Operation(
        "Slack button presses (X-Slack-Signature v0, 5 min window)",
        answers={200: "taken"},
        errors={401: "bad signature", 404: "Slack is not configured here"},
    )
    async def _slack_body(self, request: Request, ready: bool = True) -> bytes | Response:
        """The body of a request Slack signed, or the answer refusing it."""
        chatops = self.chatops
        if chatops.slack is None or not chatops.slack_signing_secret or not ready:
            return _not_configured(
                "Slack", "ROBOT_SRE_SLACK_BOT_TOKEN, ROBOT_SRE_SLACK_SIGNING_SECRET, channels.slack"
            )
        try:
            body = await read_limited(request, MAX_BODY)
        except BodyTooLarge:
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify_signature(chatops.slack_signing_secret, body, headers, time.time())
        except SlackRejected as exc:
            return await anyio.to_thread.run_sync(self._refuse, "slack", exc.status, str(exc))
        return body

    async def slack_interactions(self, request: Request) -> Response:
        body = await self._slack_body(request)
        if isinstance(body, Response):
            return body
        chatops = self.chatops
        assert chatops.slack is not None  # _slack_body checked
        try:
            press = parse_interaction(body, chatops.slack.codec)
        except SlackRejected as exc:
            return await anyio.to_thread.run_sync(self._refuse, "slack", exc.status, str(exc))
        except BadButton as exc:
            return await anyio.to_thread.run_sync(self._refuse, "slack", 400, str(exc))
        if press is None:
            return Response(status_code=200)
        task = BackgroundTask(self._answer_slack, chatops.slack, press)
        return Response(status_code=200, background=task)

    @Operation(
        "The /robot-sre slash command (X-Slack-Signature v0, 5 min window)",
        answers={200: "the answer, or empty when it follows through the response_url"},
        errors={401: "bad signature", 404: "Slack is not configured here"},
    )
    async def slack_commands(self, request: Request) -> Response:
        commands = self.commands
        body = await self._slack_body(request, ready=commands is not None)
        if isinstance(body, Response):
            return body
        assert commands is not None  # _slack_body checked
        try:
            command = SlashCommand.parse(body)
        except SlackRejected as exc:
            return await anyio.to_thread.run_sync(self._refuse, "slack", exc.status, str(exc))
        # Slack waits 3 s for this answer: a slower command answers through its response_url
        work = asyncio.ensure_future(anyio.to_thread.run_sync(commands.answer, command))
        waited = self.command_reply_seconds  # 0: always through the response_url
        if waited > 0 and (await asyncio.wait({work}, timeout=waited))[0]:
            return JSONResponse(work.result())
        return Response(status_code=200, background=BackgroundTask(_later, commands, command, work))

    def slack_socket_press(self, payload: dict[str, object]) -> None:
        """A button press that came through Socket Mode (already authenticated
        by the socket): carried out as a press on the HTTP route is."""
        slack = self.chatops.slack
        if slack is None:
            return
        try:
            press = interaction_press(payload, slack.codec)
        except SlackRejected as exc:
            self._refuse("slack", exc.status, str(exc))
            return
        except BadButton as exc:
            self._refuse("slack", 400, str(exc))
            return
        if press is not None:
            self._answer_slack(slack, press)

    def _answer_slack(self, slack: SlackChannel, press: SlackPress) -> None:
        outcome = self.presses.handle("slack", press.user, press.press)
        if outcome.refused or outcome.result == "type_to_confirm":
            try:
                slack.tell(press.chat, press.user, f"Robot SRE: {outcome.detail}")
            except DeliveryFailed as exc:
                log.warning("slack: could not tell %s why: %s", press.user, exc.detail)

    @Operation(
        "Telegram updates (X-Telegram-Bot-Api-Secret-Token)",
        answers={200: "taken"},
        errors={401: "bad secret", 404: "Telegram is not configured here"},
    )
    async def telegram_updates(self, request: Request) -> Response:
        telegram = self.chatops.telegram
        if telegram is None:
            return _not_configured(
                "Telegram",
                "ROBOT_SRE_TELEGRAM_BOT_TOKEN, ROBOT_SRE_TELEGRAM_WEBHOOK_SECRET,"
                " channels.telegram",
            )
        if not telegram.secret_matches(request.headers.get(SECRET_HEADER)):
            return await anyio.to_thread.run_sync(
                self._refuse, "telegram", 401, "X-Telegram-Bot-Api-Secret-Token does not match"
            )
        try:
            body = await read_limited(request, MAX_BODY)
            parse_update(body)  # a body that is no update is refused here
        except BodyTooLarge:
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        except TelegramRejected as exc:
            return await anyio.to_thread.run_sync(self._refuse, "telegram", 400, str(exc))
        if self.telegram_bot is None:
            return JSONResponse({})
        # Telegram delivers an update again until it gets a 2xx: the bot
        # handles it right after the answer, and tells people what it did
        task = BackgroundTask(self.telegram_bot.feed, json.loads(body))
        return JSONResponse({}, background=task)


async def _later(
    commands: SlackCommands, command: SlashCommand, work: asyncio.Future[dict[str, Any]]
) -> None:
    body = await work
    await anyio.to_thread.run_sync(commands.respond, command, body)
