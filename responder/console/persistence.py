"""The Telegram bot's conversations and chat and user data, kept as
documents in the store: a dialog begun before a restart, or on another
replica, goes on where it stopped. Chat and user data are read again
before every update, so what another replica wrote is seen."""

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
    """``BasePersistence`` over the store's documents (collection
    ``telegram_bot``): ``chat:<id>``, ``user:<id>`` and
    ``conversation:<name>:<key>``. Bot and callback data are not kept."""

    def __init__(self, store: Store, update_interval: float = 60) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
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

    async def _all(self, prefix: str) -> list[Data]:
        found = await self._io(lambda: self.store.list_documents(COLLECTION, prefix))
        return [doc for _, doc in found]

    # chat and user data: {"id": <int>, "data": {...}}

    async def get_user_data(self) -> dict[int, Data]:
        return {int(doc["id"]): dict(doc["data"]) for doc in await self._all("user:")}

    async def get_chat_data(self) -> dict[int, Data]:
        return {int(doc["id"]): dict(doc["data"]) for doc in await self._all("chat:")}

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._write(f"user:{user_id}", {"id": user_id, "data": data})

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._write(f"chat:{chat_id}", {"id": chat_id, "data": data})

    async def drop_user_data(self, user_id: int) -> None:
        await self._drop(f"user:{user_id}")

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._drop(f"chat:{chat_id}")

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        await self._refresh(f"user:{user_id}", user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        await self._refresh(f"chat:{chat_id}", chat_data)

    async def _refresh(self, doc_id: str, data: Data) -> None:
        doc = await self._read(doc_id)
        data.clear()
        if doc is not None:
            data.update(doc["data"])

    # conversations: {"name": ..., "key": [...], "state": ...}

    async def get_conversations(self, name: str) -> ConversationDict:
        docs = await self._all(f"conversation:{name}:")
        return {tuple(doc["key"]): doc["state"] for doc in docs}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        doc_id = f"conversation:{name}:{':'.join(str(part) for part in key)}"
        if new_state is None:
            await self._drop(doc_id)
        else:
            await self._write(doc_id, {"name": name, "key": list(key), "state": new_state})

    # not kept

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
