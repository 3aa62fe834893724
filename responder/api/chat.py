"""``POST /webhooks/slack/interactions`` and ``POST /webhooks/telegram``:
button presses coming back from the chat platforms.

Each request is authenticated as coming from the platform first (Slack's
signature and timestamp, Telegram's secret-token header): anything else is
refused with 401 and audited. A verified press is answered at once (the
platforms want an answer within seconds) and handled right after the
response (``presses.py``: approval answers through the
desk, marks, pauses): only an approver of the environment concerned may
press; the channel messages are edited with the outcome, and a refused
press is explained to the person who pressed.
"""

from __future__ import annotations

import logging
import time

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.presses import handle_press
from responder.channels.base import DeliveryFailed
from responder.channels.buttons import BadButton
from responder.channels.slack import (
    SlackChannel,
    SlackPress,
    SlackRejected,
    parse_interaction,
    verify_signature,
)
from responder.channels.telegram import (
    SECRET_HEADER,
    TelegramChannel,
    TelegramPress,
    TelegramRejected,
    parse_update,
)
from responder.ingest.webhook import BodyTooLarge, read_limited
from responder.records.audit import AuditEntry
from responder.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def _refuse(runtime: Runtime, surface: str, status: int, reason: str) -> JSONResponse:
    runtime.metrics.webhook_rejections.labels(str(status)).inc()
    log.warning("%s callback refused with %d: %s", surface, status, reason)
    runtime.store.append_audit(
        AuditEntry(
            actor=surface,
            surface=surface,
            action="chat.callback_rejected",
            subject=f"webhook:{surface}",
            after={"status": status},
            detail=reason,
        )
    )
    return JSONResponse({"error": reason}, status_code=status)


def _not_configured(name: str, settings: str) -> JSONResponse:
    return JSONResponse({"error": f"{name} is not configured here: set {settings}"}, 404)


async def slack_interactions(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    chatops = runtime.chatops
    if chatops.slack is None or not chatops.slack_signing_secret:
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
        press = parse_interaction(body, chatops.slack.codec)
    except SlackRejected as exc:
        return await anyio.to_thread.run_sync(_refuse, runtime, "slack", exc.status, str(exc))
    except BadButton as exc:
        return await anyio.to_thread.run_sync(_refuse, runtime, "slack", 400, str(exc))
    if press is None:
        return Response(status_code=200)
    task = BackgroundTask(_answer_slack, runtime, chatops.slack, press)
    return Response(status_code=200, background=task)


def _answer_slack(runtime: Runtime, slack: SlackChannel, press: SlackPress) -> None:
    outcome = handle_press(runtime, "slack", press.user, press.press)
    if outcome.refused:
        try:
            slack.tell(press.chat, press.user, f"Robot SRE: {outcome.detail}")
        except DeliveryFailed as exc:
            log.warning("slack: could not tell %s why: %s", press.user, exc.detail)


async def telegram_updates(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    chatops = runtime.chatops
    if chatops.telegram is None:
        return _not_configured(
            "Telegram",
            "ROBOT_SRE_TELEGRAM_BOT_TOKEN, ROBOT_SRE_TELEGRAM_WEBHOOK_SECRET, channels.telegram",
        )
    telegram = chatops.telegram
    if not telegram.secret_matches(request.headers.get(SECRET_HEADER)):
        return await anyio.to_thread.run_sync(
            _refuse, runtime, "telegram", 401, "X-Telegram-Bot-Api-Secret-Token does not match"
        )
    try:
        body = await read_limited(request, MAX_BODY)
        press = parse_update(body)
    except BodyTooLarge:
        return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
    except TelegramRejected as exc:
        return await anyio.to_thread.run_sync(_refuse, runtime, "telegram", 400, str(exc))
    if press is None:
        return JSONResponse({})  # messages and other updates: nothing to do
    # Telegram delivers an update again until it gets a 2xx: even a refused
    # press is answered 200 and explained to the person who pressed
    return JSONResponse({}, background=BackgroundTask(_answer_telegram, runtime, telegram, press))


def _answer_telegram(runtime: Runtime, telegram: TelegramChannel, press: TelegramPress) -> None:
    try:
        decoded = press.decode(telegram.codec)
    except BadButton as exc:
        _refuse(runtime, "telegram", 400, f"callback data of user {press.user}: {exc}")
        _tell(telegram, press, "This button is not valid.")
        return
    outcome = handle_press(runtime, "telegram", press.user, decoded)
    _tell(telegram, press, outcome.short())


def _tell(telegram: TelegramChannel, press: TelegramPress, text: str) -> None:
    try:
        telegram.answer_press(press.callback_query_id, text)
    except DeliveryFailed as exc:
        log.warning("telegram: could not answer the press of %s: %s", press.user, exc.detail)
