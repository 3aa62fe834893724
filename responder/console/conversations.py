"""The Telegram dialogs behind the buttons: Deny asks for a reason, a
disruptive approval wants the target's name typed, a dialog left open past
its time ends and says so, a stale button answers with the current state.

The dialog of a person in a chat lives in the chat's data under their id,
so the persistence keeps it across restarts and replicas."""

from __future__ import annotations

import asyncio
import html
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from responder.approvals.approvers import ChatApprovers
from responder.approvals.requests import ApprovalRequests
from responder.channels.buttons import APPROVAL_VERBS, BadButton, ButtonCodec, Press
from responder.records.approval import ApprovalRequest
from responder.records.audit import audit
from responder.store import Store

log = logging.getLogger(__name__)

REASON, NODE = "reason", "node"
#: the ConversationHandler's name: the key of its states in the persistence
NAME = "approval_dialogs"
Context = ContextTypes.DEFAULT_TYPE


class Outcome(Protocol):
    """How a press ended (the API's ``PressOutcome``)."""

    @property
    def refused(self) -> bool: ...

    def short(self) -> str: ...


class Presses(Protocol):
    """Carries out verified presses (the API's ``ChatPresses``)."""

    def handle(self, surface: str, user: str, press: Press, note: str = "") -> Outcome: ...


@dataclass(eq=False)
class ApprovalDialogs:
    """The button presses of Telegram, with the dialogs some of them open."""

    presses: Presses
    requests: ApprovalRequests
    approvers: ChatApprovers
    codec: ButtonCodec
    store: Store
    clock: Callable[[], datetime]
    timeout_seconds: float

    def handler(self) -> ConversationHandler[Any]:
        text = filters.TEXT & ~filters.COMMAND
        with warnings.catch_warnings():
            # per_message=False on purpose: a dialog is a person in a chat,
            # whichever message's button opened it
            warnings.simplefilter("ignore", PTBUserWarning)
            return ConversationHandler(
                entry_points=[CallbackQueryHandler(self.pressed)],
                states={
                    REASON: [MessageHandler(text, self.reason_given)],
                    NODE: [MessageHandler(text, self.node_typed)],
                },
                fallbacks=[CommandHandler("cancel", self.cancelled)],
                allow_reentry=True,
                name=NAME,
                persistent=True,
            )

    async def pressed(self, update: Update, context: Context) -> str | int:
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or query.data is None:
            return ConversationHandler.END
        who = str(user.id)
        try:
            press = self.codec.decode(query.data)
        except BadButton as exc:
            await asyncio.to_thread(self._reject, who, str(exc))
            await query.answer("This button is not valid.")
            return ConversationHandler.END
        if press.verb in APPROVAL_VERBS:
            approval = await asyncio.to_thread(self.requests.get, press.subject_id)
            ask = self._question(who, press, approval, context) if approval else None
            if ask is not None and approval is not None:
                step, question = ask
                self._open(context, who, step, press, approval)
                await query.answer(question[:190])
                await self._say(update, _escape(question))
                return step
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press)
        if press.verb in APPROVAL_VERBS and not outcome.refused:
            self._forget(context, who, press.subject_id)
        await query.answer(outcome.short()[:190])
        return ConversationHandler.END

    def _question(
        self, who: str, press: Press, approval: ApprovalRequest, context: Context
    ) -> tuple[str, str] | None:
        """The step to ask for before ``press`` counts, or None to carry it
        out now (also when it would be refused: the refusal says why)."""
        approver = self.approvers.by_chat_user("telegram", who)
        if approver is None or not approver.may_answer(approval.environment):
            return None
        if approval.state_at(self.clock()) != "pending":
            return None  # a stale button: answered with the current state
        what = f"{approval.action_name.lower()} {approval.target_label}"
        if press.verb == "deny":
            return REASON, f"Why deny {what}? Reply with the reason, or skip."
        named = self._named(context, who)
        if approval.action_class == "disruptive" and approval.id not in named:
            noun = "node" if approval.target.get("kind") == "node" else "target"
            return NODE, f"To approve {what}, type the {noun} name."
        return None

    async def reason_given(self, update: Update, context: Context) -> str | int:
        dialog = await self._current(update, context)
        if dialog is None:
            return ConversationHandler.END
        who, text = dialog["user"], _text(update)
        note = "" if text.lower() in ("skip", "-") else text
        press = Press(dialog["approval"], "deny")
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press, note)
        await self._say(update, _escape(outcome.short()))
        return ConversationHandler.END

    async def node_typed(self, update: Update, context: Context) -> str | int:
        dialog = await self._current(update, context)
        if dialog is None:
            return ConversationHandler.END
        who, typed = dialog["user"], _text(update)
        if typed != dialog["name"]:
            await self._say(
                update,
                _escape(
                    f"{typed!r} is not the name of the target ({dialog['name']}): not approved. "
                    "Press Approve again to start over."
                ),
            )
            return ConversationHandler.END
        named = self._named(context, who)
        named.append(dialog["approval"])
        del named[:-20]
        press = Press(dialog["approval"], dialog["verb"])
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press)
        if not outcome.refused:
            self._forget(context, who, press.subject_id)
        await self._say(update, _escape(outcome.short()))
        return ConversationHandler.END

    async def cancelled(self, update: Update, context: Context) -> int:
        user = update.effective_user
        if user is not None and context.chat_data is not None:
            context.chat_data.pop(_slot(str(user.id)), None)
        await self._say(update, "Cancelled: nothing was done.")
        return ConversationHandler.END

    # the dialog of a person in a chat

    def _open(
        self, context: Context, who: str, step: str, press: Press, approval: ApprovalRequest
    ) -> None:
        assert context.chat_data is not None
        until = self.clock() + timedelta(seconds=self.timeout_seconds)
        context.chat_data[_slot(who)] = {
            "user": who,
            "step": step,
            "approval": approval.id,
            "verb": press.verb,
            "name": approval.target.get("name", ""),
            "until": until.isoformat(),
        }

    async def _current(self, update: Update, context: Context) -> dict[str, Any] | None:
        """The open dialog of the person who wrote, or None (said why) when
        there is none any more or its time ran out."""
        user = update.effective_user
        if user is None or context.chat_data is None:
            return None
        dialog: dict[str, Any] | None = context.chat_data.pop(_slot(str(user.id)), None)
        if dialog is None:
            await self._say(update, "That dialog is over. Press the button again to start anew.")
            return None
        if self.clock() >= datetime.fromisoformat(dialog["until"]):
            minutes = max(1, round(self.timeout_seconds / 60))
            await self._say(
                update,
                f"That dialog timed out after {minutes} min: nothing was done. "
                "Press the button again to start anew.",
            )
            return None
        return dialog

    def _named(self, context: Context, who: str) -> list[str]:
        """Approvals whose target ``who`` typed right: an "Approve outside
        window" press of one of them does not ask again."""
        assert context.chat_data is not None
        named: list[str] = context.chat_data.setdefault(f"named:{who}", [])
        return named

    def _forget(self, context: Context, who: str, approval_id: str) -> None:
        if context.chat_data is None:
            return
        named = context.chat_data.get(f"named:{who}", [])
        if approval_id in named:
            named.remove(approval_id)

    def _reject(self, who: str, reason: str) -> None:
        log.warning("telegram callback refused with 400: %s", reason)
        audit(
            self.store,
            actor="telegram",
            surface="telegram",
            action="chat.callback_rejected",
            subject="webhook:telegram",
            after={"status": 400},
            detail=f"callback data of user {who}: {reason}",
        )

    async def _say(self, update: Update, text: str) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        message = update.effective_message
        thread = message.message_thread_id if message and message.is_topic_message else None
        await chat.send_message(text, parse_mode=ParseMode.HTML, message_thread_id=thread)


def _escape(text: str) -> str:
    """Text for Telegram's HTML parse mode (quotes need no escaping there)."""
    return html.escape(text, quote=False)


def _slot(who: str) -> str:
    return f"dialog:{who}"


def _text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "").strip() if message else ""
