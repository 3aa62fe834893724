"""The Telegram bot: a python-telegram-bot ``Application`` with the
console's commands, the button dialogs and a hint for anything else.

Updates come from the ``/webhooks/telegram`` route (``feed``) or, in
``polling`` mode, from ``getUpdates``: then one replica polls, the one
holding the lease ``telegram:poller`` in the store, renewed while it polls.
The bot runs its own event loop in a daemon thread, like the channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from telegram import BotCommand, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from responder.channels.telegram import SecretFilter, TelegramChannel
from responder.chat_settings import TelegramSettings
from responder.console.commands import Console
from responder.console.conversations import ApprovalDialogs, Presses
from responder.console.persistence import StorePersistence
from responder.console.reply import ChatUser
from responder.runtime import Runtime
from responder.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE
LEASE_KEY = "telegram:poller"
UPDATES = ["message", "callback_query"]
HINT = "Send /help for what I can do."
# the loggers of the framework that can see a Bot API URL (records of child
# loggers do not pass their parents' filters)
_LOGGERS = ("telegram.ext.Application", "telegram.ext.Updater", "telegram.ext.ExtBot")


class TelegramBot:
    def __init__(
        self,
        token: str,
        settings: TelegramSettings,
        channel: TelegramChannel,
        console: Console,
        dialogs: ApprovalDialogs,
        store: Store,
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.console = console
        self.dialogs = dialogs
        self.store = store
        self.replica = f"{socket.gethostname()}/{uuid.uuid4().hex[:8]}"
        self._filter = SecretFilter(token)
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._initialized = False
        self._polling: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="telegram-console", daemon=True
        )
        self._thread.start()
        self.application = self._run(self._build(token), 30)

    def __repr__(self) -> str:
        return f"TelegramBot({self.settings.mode}, <token>)"

    async def _build(self, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        seconds = self.settings.timeout_seconds
        request = HTTPXRequest(
            connect_timeout=seconds,
            read_timeout=seconds,
            write_timeout=seconds,
            pool_timeout=seconds,
        )
        polling = HTTPXRequest(
            connect_timeout=seconds, read_timeout=self.settings.poll_timeout_seconds + seconds
        )
        self._requests = (request, polling)
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(self.settings.api_url)
            .request(request)
            .get_updates_request(polling)
            .persistence(StorePersistence(self.store))
        )
        if self.settings.mode == "webhook":
            builder = builder.updater(None)
        application = builder.build()
        application.add_handlers(self.dialogs.handlers(), group=0)
        names = [name for name, _ in self.console.commands()]
        application.add_handler(CommandHandler([*names, "start"], self.command), group=1)
        private = filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(filters.COMMAND & private, self.command), group=1)
        text = filters.TEXT & ~filters.COMMAND & private
        application.add_handler(MessageHandler(text, self.hint), group=1)
        return application

    # handlers

    async def command(self, update: Update, context: Context) -> None:
        """Any ``/command args`` (``/start CODE`` too), run by the console and
        answered in the chat it was written in."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None or not message.text:
            return
        first, _, rest = message.text.partition(" ")
        name, _, bot = first.lstrip("/").partition("@")
        if bot and bot.lower() != (context.bot.username or "").lower():
            return  # a command for another bot in the group
        private = chat.type == ChatType.PRIVATE
        who = ChatUser("telegram", str(user.id), str(chat.id), private, user.full_name)
        reply = await asyncio.to_thread(self.console.run, who, f"{name} {rest}".strip())
        await message.reply_text(
            reply.html,
            parse_mode=ParseMode.HTML,
            reply_markup=self.channel.keyboard(reply.buttons),
            do_quote=False,
        )

    async def hint(self, update: Update, context: Context) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(HINT, do_quote=False)

    # life cycle

    def start(self) -> None:
        """Set the command menu; in polling mode, start polling when this
        replica holds (or takes) the lease. A Bot API failure is logged."""
        self._run(self._start(), 4 * self.settings.timeout_seconds + 5)

    async def _start(self) -> None:
        try:
            await self._ready()
            commands = [BotCommand(name, about[:256]) for name, about in self.console.commands()]
            await self.application.bot.set_my_commands(commands)
        except Exception as exc:
            log.error("telegram: the bot did not start: %s", exc)
        if self.settings.mode == "polling":
            self._polling = asyncio.create_task(self._poll_while_leader(), name="telegram-poller")

    def feed(self, data: dict[str, Any]) -> None:
        """Handle one update the webhook received (verified by the caller)."""
        self._run(self._handle(data), 300)

    async def _ready(self) -> None:
        async with self._lock:
            if not self._initialized:
                await self.application.initialize()
                self._initialized = True

    async def _handle(self, data: dict[str, Any] | Update) -> None:
        await self._ready()
        try:
            bot = self.application.bot
            update = data if isinstance(data, Update) else Update.de_json(data, bot)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("telegram: not an update we understand: %s", exc)
            return
        await self.application.process_update(update)
        # written at once: the next step may reach another replica, or a restarted one
        await self.application.update_persistence()

    async def _poll_while_leader(self) -> None:
        updater = self.application.updater
        assert updater is not None
        consumer: asyncio.Task[None] | None = None
        while not self._stopping.is_set():
            try:
                held = await asyncio.to_thread(self._hold_lease)
                if held and consumer is None:
                    await self._ready()
                    await updater.start_polling(
                        poll_interval=0,
                        timeout=self.settings.poll_timeout_seconds,
                        allowed_updates=UPDATES,
                    )
                    consumer = asyncio.create_task(self._consume(), name="telegram-updates")
                    log.info("telegram: polling for updates (replica %s)", self.replica)
                elif not held and consumer is not None:
                    await self._stop_polling(consumer)
                    consumer = None
            except Exception as exc:
                log.error("telegram: polling: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.poll_lease_seconds / 3)
        if consumer is not None:
            await self._stop_polling(consumer)
            await asyncio.to_thread(self.store.delete_key, LEASE_KEY, self.replica)

    async def _consume(self) -> None:
        while True:
            update = await self.application.update_queue.get()
            if not isinstance(update, Update):
                continue
            try:
                await self._handle(update)
            except Exception:
                log.exception("telegram: an update failed")

    async def _stop_polling(self, consumer: asyncio.Task[None]) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        log.info("telegram: stopped polling (replica %s)", self.replica)

    def _hold_lease(self) -> bool:
        """Take the polling lease, or renew it when this replica holds it."""
        ttl = self.settings.poll_lease_seconds
        if self.store.set_if_absent(LEASE_KEY, self.replica, ttl):
            return True
        if self.store.get_key(LEASE_KEY) != self.replica:
            return False
        # no TTL refresh in the store contract: delete ours and take it again
        self.store.delete_key(LEASE_KEY, expected=self.replica)
        return self.store.set_if_absent(LEASE_KEY, self.replica, ttl)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._close(), 30)
        except Exception as exc:
            log.debug("telegram bot shutdown: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    async def _close(self) -> None:
        self._stopping.set()
        if self._polling is not None:
            await self._polling
        if self._initialized:
            await self.application.shutdown()
            return
        # never initialize()d: its connection pools are closed here
        for request in self._requests:
            await request.shutdown()

    def _run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=timeout)


def telegram_bot(runtime: Runtime, presses: Presses, console: Console) -> TelegramBot | None:
    """The bot of the runtime's Telegram channel (None without one) over
    ``console``, closed with the channels."""
    settings = runtime.settings
    channel, config = runtime.chatops.telegram, settings.channels.telegram
    token = settings.telegram_bot_token
    if channel is None or config is None or not token:
        return None
    clock = runtime.automation.clock
    dialogs = ApprovalDialogs(
        presses,
        runtime.approval_requests,
        console.identities,
        channel.codec,
        runtime.store,
        clock,
        config.dialog_timeout_seconds,
    )
    bot = TelegramBot(token, config, channel, console, dialogs, runtime.store)
    runtime.chatops.closers.append(bot.close)
    return bot
