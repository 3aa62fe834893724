"""Telegram through ``python-telegram-bot``: messages with inline buttons,
replies, edits, and the callback queries Telegram posts back.

The bot is asynchronous and its callers are not, so the channel runs its own
event loop in a daemon thread. The bot token is part of every Bot API URL:
the ``httpx`` and ``telegram`` loggers and error texts are cleaned of it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from responder.channels.base import DeliveryFailed, MessageRef, OutgoingMessage
from responder.channels.buttons import Button, ButtonCodec, Press
from responder.channels.markup import telegram_html

# python-telegram-bot 22 warns whenever a RetryAfter is made unless its
# durations are timedeltas: this module reads either kind
os.environ.setdefault("PTB_TIMEDELTA", "true")
T = TypeVar("T")
SECRET_HEADER = "x-telegram-bot-api-secret-token"
# Logger filters do not apply to records propagated from child loggers: the
# loggers that can see a Bot API URL are named one by one.
_LOGGERS = ("httpx", "telegram", "telegram.Bot", "telegram.HTTPXRequest", "telegram.BaseRequest")
#: links in a message are for clicking, not for a preview card under it
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: buttons that share the row of the one before them
_SECOND_OF_A_PAIR = frozenset({"deny", "false_positive"})


class SecretFilter(logging.Filter):
    """Blanks ``secret`` in every record that passes (formatted first)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "<token>"), None
        return True


class TelegramChannel:
    name = "telegram"

    def __init__(
        self,
        token: str,
        webhook_secret: str,
        api_url: str,
        timeout_seconds: float,
        topics: Mapping[str, int] | None = None,
    ) -> None:
        self._token = token
        self.topics = dict(topics or {})
        self.timeout_seconds = timeout_seconds
        self.codec = ButtonCodec(webhook_secret, "telegram-callback")
        self._webhook_secret = webhook_secret
        self._filter = SecretFilter(token)
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="telegram-bot", daemon=True
        )
        self._thread.start()

        async def make() -> tuple[Bot, HTTPXRequest]:
            request = HTTPXRequest(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                write_timeout=timeout_seconds,
                pool_timeout=timeout_seconds,
            )
            return Bot(token, base_url=api_url, request=request), request

        self._bot, self._request = self._run(make)

    def __repr__(self) -> str:
        return "TelegramChannel(<token>)"

    def secret_matches(self, presented: str | None) -> bool:
        """The webhook's secret-token header, compared in constant time."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._webhook_secret.encode())

    def keyboard(self, buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
        """One row per button, but Approve / Deny and Right / False positive
        side by side."""
        if not buttons:
            return None
        rows: list[list[InlineKeyboardButton]] = []
        for button in buttons:
            key = InlineKeyboardButton(button.label, callback_data=self.codec.token(button))
            if rows and button.verb in _SECOND_OF_A_PAIR:
                rows[-1].append(key)
            else:
                rows.append([key])
        return InlineKeyboardMarkup(rows)

    def topic(self, message: OutgoingMessage) -> int | None:
        """The forum topic of ``message``: its first topic key that has one."""
        return next((self.topics[k] for k in message.meta.topics if k in self.topics), None)

    def send(self, message: OutgoingMessage) -> MessageRef:
        reply = (
            ReplyParameters(message_id=int(message.thread), allow_sending_without_reply=True)
            if message.thread and message.thread.isdigit()
            else None
        )

        async def call() -> Any:
            return await self._bot.send_message(
                chat_id=message.chat,
                text=telegram_html(message),
                parse_mode=ParseMode.HTML,
                reply_markup=self.keyboard(message.buttons),
                reply_parameters=reply,
                message_thread_id=self.topic(message),
                link_preview_options=_NO_PREVIEW,
            )

        sent = self._call(call)
        return MessageRef(self.name, str(sent.chat.id), str(sent.message_id))

    def update(self, ref: MessageRef, message: OutgoingMessage) -> None:
        async def call() -> Any:
            return await self._bot.edit_message_text(
                text=telegram_html(message),
                chat_id=ref.chat,
                message_id=int(ref.id),
                parse_mode=ParseMode.HTML,
                reply_markup=self.keyboard(message.buttons),
                link_preview_options=_NO_PREVIEW,
            )

        try:
            self._call(call)
        except DeliveryFailed as exc:
            if "message is not modified" in exc.detail.lower():
                return  # the message already says this
            raise

    def set_webhook(self, url: str) -> None:
        """Point Telegram at ``url`` with the secret-token header set."""

        async def call() -> Any:
            return await self._bot.set_webhook(
                url,
                secret_token=self._webhook_secret,
                allowed_updates=["message", "callback_query"],
            )

        self._call(call)

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            # Bot.shutdown closes nothing for a bot never initialize()d (which
            # would cost a getMe call): close its connection pool ourselves
            await self._request.shutdown()

        try:
            self._run(shutdown)
        except Exception as exc:
            logging.getLogger(__name__).debug("telegram shutdown: %s", self._clean(str(exc)))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    # the bot's own loop

    def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(wrapped(), self._loop)
        return future.result(timeout=4 * self.timeout_seconds + 5)

    def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return self._run(make)
        except concurrent.futures.TimeoutError as exc:
            raise DeliveryFailed("telegram: no answer in time", retry=True) from exc
        except Exception as exc:
            raise self._failure(exc) from exc

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    def _failure(self, exc: Exception) -> DeliveryFailed:
        detail = self._clean(f"telegram: {type(exc).__name__}: {exc}")[:500]
        if isinstance(exc, RetryAfter):
            # __reduce__ gives the seconds as an int without the deprecation warning
            seconds = float(exc.__reduce__()[1][0])
            return DeliveryFailed(detail, retry=True, retry_after=seconds)
        if isinstance(exc, BadRequest | Forbidden | InvalidToken | ChatMigrated):
            return DeliveryFailed(detail, retry=False)
        if isinstance(exc, NetworkError):
            return DeliveryFailed(detail, retry=True)
        if isinstance(exc, TelegramError):
            return DeliveryFailed(detail, retry=False)
        return DeliveryFailed(detail, retry=isinstance(exc, OSError | TimeoutError))


# the callbacks Telegram posts


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int


class _Chat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message_id: int
    chat: _Chat


class _CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    from_user: _User = Field(alias="from")
    message: _Message | None = None
    data: str | None = None


class _Update(BaseModel):
    model_config = ConfigDict(extra="ignore")
    update_id: int
    callback_query: _CallbackQuery | None = None


@dataclass(frozen=True)
class TelegramPress:
    callback_query_id: str
    user: str
    chat: str
    message_id: str
    data: str

    def decode(self, codec: ButtonCodec) -> Press:
        return codec.decode(self.data)


class TelegramRejected(ValueError):
    pass


def parse_update(body: bytes) -> TelegramPress | None:
    """The button press of an update, None for any other update; raises
    ``TelegramRejected`` for a body that is not an update."""
    try:
        update = _Update.model_validate_json(body)
    except ValidationError as exc:
        raise TelegramRejected(f"not a Telegram update: {exc.errors()[0]['msg']}") from exc
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return None
    return TelegramPress(
        callback_query_id=query.id,
        user=str(query.from_user.id),
        chat=str(query.message.chat.id),
        message_id=str(query.message.message_id),
        data=query.data,
    )
