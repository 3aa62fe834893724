"""The Telegram bot's user data (a person's open dialogs), kept as
documents in the store and read again before every update: a dialog begun
before a restart, or on another replica, goes on where it stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from responder.store import Store

COLLECTION = "telegram_bot"
T = TypeVar("T")
Data = dict[str, Any]


class StorePersistence(BasePersistence[Data, Data, Data]):
    """``BasePersistence`` over the store's documents ``user:<id>``
    (collection ``telegram_bot``). Bot, chat and callback data and the
    states of conversation handlers are not kept."""

    def __init__(self, store: Store, update_interval: float = 60) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self.store = store

    async def _io(self, call: Callable[[], T]) -> T:
        return await asyncio.to_thread(call)

    async def _read(self, doc_id: str) -> Data | None:
        found = await self._io(lambda: self.store.get_document(COLLECTION, doc_id))
        return None if found is None else found[1]

    async def _write(self, doc_id: str, doc: Data) -> None:
        await self._io(lambda: self.store.put_document(COLLECTION, doc_id, doc))

    async def _drop(self, doc_id: str) -> None:
        await self._io(lambda: self.store.delete_document(COLLECTION, doc_id))

    # user data: {"id": <int>, "data": {...}}

    async def get_user_data(self) -> dict[int, Data]:
        return {}  # nothing is loaded ahead: refresh_user_data reads it per update

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._write(f"user:{user_id}", {"id": user_id, "data": data})

    async def drop_user_data(self, user_id: int) -> None:
        await self._drop(f"user:{user_id}")

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        doc = await self._read(f"user:{user_id}")
        user_data.clear()
        if doc is not None:
            user_data.update(doc["data"])

    # not kept

    async def get_chat_data(self) -> dict[int, Data]:
        return {}

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        return {}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        return None

    async def get_bot_data(self) -> Data:
        return {}

    async def update_bot_data(self, data: Data) -> None:
        return None

    async def refresh_bot_data(self, bot_data: Data) -> None:
        return None

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def flush(self) -> None:
        return None  # every update is written when it is made
