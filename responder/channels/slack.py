"""Slack through ``slack_sdk``: Block Kit messages with their buttons
(Approve / Deny, Pause automation, Right / False positive, Resume), threads
per incident, edits, and the verification of the interaction callbacks
Slack signs (v0 HMAC-SHA256 of ``v0:{ts}:{body}`` with the app's signing
secret; requests older than five minutes are refused, so a captured request
cannot be replayed later)."""

from __future__ import annotations

import json
import time
import urllib.error
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import Clock, SignatureVerifier

from responder.channels.base import DeliveryFailed, MessageRef, OutgoingMessage
from responder.channels.buttons import VERBS, Button, ButtonCodec, Press, Verb
from responder.channels.markup import slack_escape, slack_links

#: Slack API errors worth another attempt (anything else will fail again)
RETRYABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: how old a signed request may be (Slack's own recommendation)
MAX_AGE_SECONDS = 5 * 60
_STYLES: dict[Verb, str] = {
    "approve": "primary",
    "deny": "danger",
    "approve_outside_window": "danger",
    "right": "primary",
    "resume": "primary",
}
_BLOCK_IDS: dict[Verb, str] = {
    "approve": "robot-sre-approval",
    "right": "robot-sre-resolved",
    "pause": "robot-sre-incident",
    "resume": "robot-sre-pause",
}


def _fallback(message: OutgoingMessage) -> str:
    """The mrkdwn ``text`` (notifications, screen readers): escaped, with
    the links."""
    links = slack_links(message)
    return slack_escape(message.text) + (f"\n{links}" if links else "")


@dataclass(eq=False)
class SlackChannel:
    name = "slack"

    client: WebClient
    codec: ButtonCodec

    @classmethod
    def connect(
        cls, token: str, signing_secret: str, api_url: str, timeout_seconds: float
    ) -> SlackChannel:
        # The SDK's own retry handlers are off: the notifier owns the retries.
        client = WebClient(
            token=token,
            base_url=api_url if api_url.endswith("/") else api_url + "/",
            timeout=max(1, round(timeout_seconds)),
            retry_handlers=[],
        )
        return cls(client, ButtonCodec(signing_secret, "slack-button"))

    def blocks(self, message: OutgoingMessage) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "plain_text", "text": message.text}}
        ]
        links = slack_links(message)
        if links:
            blocks.append(
                {
                    "type": "context",
                    "block_id": "robot-sre-links",
                    "elements": [{"type": "mrkdwn", "text": links}],
                }
            )
        if message.buttons:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": _BLOCK_IDS.get(message.buttons[0].verb, "robot-sre"),
                    "elements": [self._button(button) for button in message.buttons],
                }
            )
        return blocks

    def _button(self, button: Button) -> dict[str, Any]:
        # the action_id is the verb: a press is checked against the signed token
        element: dict[str, Any] = {
            "type": "button",
            "action_id": button.verb,
            "text": {"type": "plain_text", "text": button.label},
            "value": self.codec.token(button),
        }
        style = _STYLES.get(button.verb)
        if style is not None:
            element["style"] = style
        return element

    def send(self, message: OutgoingMessage) -> MessageRef:
        try:
            answer = self.client.chat_postMessage(
                channel=message.chat,
                text=_fallback(message),
                blocks=self.blocks(message),
                thread_ts=message.thread,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as exc:
            raise _failure(exc) from exc
        return MessageRef(self.name, str(answer.get("channel") or message.chat), str(answer["ts"]))

    def update(self, ref: MessageRef, message: OutgoingMessage) -> None:
        try:
            self.client.chat_update(
                channel=ref.chat,
                ts=ref.id,
                text=_fallback(message),
                blocks=self.blocks(message),
            )
        except Exception as exc:
            raise _failure(exc) from exc

    def tell(self, chat: str, user: str, text: str) -> None:
        """A message only ``user`` sees (why their press was refused)."""
        try:
            self.client.chat_postEphemeral(channel=chat, user=user, text=slack_escape(text))
        except Exception as exc:
            raise _failure(exc) from exc

    def close(self) -> None:
        pass


def _failure(exc: Exception) -> DeliveryFailed:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 0)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or "")
        if not error or error.startswith("Received a response in a non-JSON format"):
            error = "no answer from the Web API"
        retry_after: float | None = None
        headers = getattr(exc.response, "headers", {}) or {}
        raw = headers.get("Retry-After") or headers.get("retry-after")
        if raw is not None:
            try:
                retry_after = float(raw[0] if isinstance(raw, list) else raw)
            except ValueError:
                retry_after = None
        retry = status == 429 or status >= 500 or error in RETRYABLE
        return DeliveryFailed(
            f"slack: {error} (HTTP {status})", retry=retry, retry_after=retry_after
        )
    if isinstance(exc, urllib.error.URLError | OSError | TimeoutError | SlackClientError):
        return DeliveryFailed(f"slack: {type(exc).__name__}: {exc}"[:500], retry=True)
    return DeliveryFailed(f"slack: {type(exc).__name__}: {exc}"[:500], retry=False)


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@dataclass(frozen=True)
class SlackPress:
    press: Press
    user: str
    chat: str
    message_ts: str


class SlackRejected(ValueError):
    """An interaction that is not answered: ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def verify_signature(
    signing_secret: str, body: bytes, headers: dict[str, str], now: float | None = None
) -> None:
    """Raise ``SlackRejected(401)`` unless ``body`` carries Slack's signature
    made with ``signing_secret`` within the last five minutes."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise SlackRejected(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SlackRejected(401, "X-Slack-Request-Timestamp is not a number") from exc
    moment = time.time() if now is None else now
    if abs(moment - sent) > MAX_AGE_SECONDS:
        raise SlackRejected(401, "stale request: signed more than five minutes ago")
    verifier = SignatureVerifier(signing_secret, clock=_FixedClock(moment))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise SlackRejected(401, "X-Slack-Signature does not verify")


def parse_interaction(body: bytes, codec: ButtonCodec) -> SlackPress | None:
    """The button press of a (verified) ``block_actions`` callback, None for
    any other interaction; raises ``SlackRejected(400)`` for a malformed one."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        raise SlackRejected(400, "expected a form field payload holding JSON") from exc
    return interaction_press(payload, codec)


def interaction_press(payload: object, codec: ButtonCodec) -> SlackPress | None:
    """The button press of an interaction ``payload`` (the form's JSON, or a
    Socket Mode ``interactive`` envelope's payload), as ``parse_interaction``."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    try:
        action = payload["actions"][0]
        user = str(payload["user"]["id"])
        container = payload.get("container") or {}
        chat = str((payload.get("channel") or {}).get("id") or container["channel_id"])
        message_ts = str(container.get("message_ts") or payload["message"]["ts"])
        token = str(action["value"])
        action_id = str(action["action_id"])
    except (KeyError, IndexError, TypeError) as exc:
        raise SlackRejected(400, f"block_actions payload without {exc}") from exc
    if action_id not in VERBS:
        return None
    press = codec.decode(token)  # BadButton: the caller refuses it
    if press.verb != action_id:
        raise SlackRejected(400, "the button's value does not match its action")
    return SlackPress(press, user, chat, message_ts)
