"""The Telegram dialogs behind the buttons: Deny asks for a reason, a
disruptive approval wants the target's name typed, a dialog left open past
its time ends and says so, a stale button answers with the current state.

A person's open dialogs are in their user data, which the persistence reads
from the store before every update: any replica, or a restarted one, hears the answer."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from responder.approvals.approvers import ChatApprovers
from responder.approvals.requests import ApprovalRequests
from responder.channels.buttons import APPROVAL_VERBS, BadButton, ButtonCodec, Press
from responder.records.approval import ApprovalRequest
from responder.records.audit import audit
from responder.store import Store

log = logging.getLogger(__name__)

REASON, NODE = "reason", "node"
#: how many approvals whose target a person typed right are remembered
NAMED_KEPT = 20
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

    def handlers(self) -> list[BaseHandler[Update, Context, None]]:
        """The handlers of one group: presses, ``/cancel`` and the answers."""
        return [
            CallbackQueryHandler(self.pressed),
            CommandHandler("cancel", self.cancelled),
            MessageHandler(filters.TEXT & ~filters.COMMAND, self.answered),
        ]

    async def pressed(self, update: Update, context: Context) -> None:
        """A button: carried out, or a dialog opened first. Any press ends
        the dialog the person had open in that chat."""
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        if query is None or user is None or chat is None or query.data is None:
            return
        who, dialogs = str(user.id), _dialogs(context)
        dialogs.pop(str(chat.id), None)
        try:
            press = self.codec.decode(query.data)
        except BadButton as exc:
            await asyncio.to_thread(self._reject, who, str(exc))
            await query.answer("This button is not valid.")
            return
        if press.verb in APPROVAL_VERBS:
            approval = await asyncio.to_thread(self.requests.get, press.subject_id)
            ask = self._question(who, press, approval, context) if approval else None
            if ask is not None and approval is not None:
                step, question = ask
                dialogs[str(chat.id)] = self._dialog(step, press, approval)
                await query.answer(question[:190])
                await self._say(update, _escape(question))
                return
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press)
        if press.verb in APPROVAL_VERBS and not outcome.refused:
            self._forget(context, press.subject_id)
        await query.answer(outcome.short()[:190])

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
        if approval.action_class == "disruptive" and approval.id not in self._named(context):
            noun = "node" if approval.target.get("kind") == "node" else "target"
            return NODE, f"To approve {what}, type the {noun} name."
        return None

    def _dialog(self, step: str, press: Press, approval: ApprovalRequest) -> dict[str, Any]:
        until = self.clock() + timedelta(seconds=self.timeout_seconds)
        return {
            "step": step,
            "approval": approval.id,
            "verb": press.verb,
            "name": approval.target.get("name", ""),
            "until": until.isoformat(),
        }

    async def answered(self, update: Update, context: Context) -> None:
        """A message: when its writer has a dialog open in that chat, the
        answer to it (and no other handler sees the message)."""
        dialog = self._take(update, context)
        if dialog is None:
            return  # not an answer: left to the other handlers
        if self.clock() >= datetime.fromisoformat(dialog["until"]):
            minutes = max(1, round(self.timeout_seconds / 60))
            await self._say(
                update,
                f"That dialog timed out after {minutes} min: nothing was done. "
                "Press the button again to start anew.",
            )
        elif dialog["step"] == REASON:
            await self._reason_given(update, dialog)
        else:
            await self._node_typed(update, context, dialog)
        raise ApplicationHandlerStop

    async def _reason_given(self, update: Update, dialog: dict[str, Any]) -> None:
        who, text = _sender(update), _text(update)
        note = "" if text.lower() in ("skip", "-") else text
        press = Press(dialog["approval"], "deny")
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press, note)
        await self._say(update, _escape(outcome.short()))

    async def _node_typed(self, update: Update, context: Context, dialog: dict[str, Any]) -> None:
        who, typed = _sender(update), _text(update)
        if typed != dialog["name"]:
            await self._say(
                update,
                _escape(
                    f"{typed!r} is not the name of the target ({dialog['name']}): not approved. "
                    "Press Approve again to start over."
                ),
            )
            return
        named = self._named(context)
        named.append(dialog["approval"])
        del named[:-NAMED_KEPT]
        press = Press(dialog["approval"], dialog["verb"])
        outcome = await asyncio.to_thread(self.presses.handle, "telegram", who, press)
        if not outcome.refused:
            self._forget(context, press.subject_id)
        await self._say(update, _escape(outcome.short()))

    async def cancelled(self, update: Update, context: Context) -> None:
        if self._take(update, context) is None:
            return  # no dialog to end: the command is the console's
        await self._say(update, "Cancelled: nothing was done.")
        raise ApplicationHandlerStop

    # what is kept of a person

    def _take(self, update: Update, context: Context) -> dict[str, Any] | None:
        """The dialog the writer of ``update`` has open in its chat, ended."""
        chat = update.effective_chat
        if chat is None or context.user_data is None:
            return None
        return _dialogs(context).pop(str(chat.id), None)

    def _named(self, context: Context) -> list[str]:
        """Approvals whose target the person typed right: an "Approve outside
        window" press of one of them does not ask again."""
        assert context.user_data is not None
        named: list[str] = context.user_data.setdefault("named", [])
        return named

    def _forget(self, context: Context, approval_id: str) -> None:
        named = self._named(context)
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


def _dialogs(context: Context) -> dict[str, dict[str, Any]]:
    """The open dialogs of the person an update is from, by chat id."""
    assert context.user_data is not None
    dialogs: dict[str, dict[str, Any]] = context.user_data.setdefault("dialogs", {})
    return dialogs


def _sender(update: Update) -> str:
    user = update.effective_user
    assert user is not None
    return str(user.id)


def _text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "").strip() if message else ""
