"""Who speaks to the console, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from responder.channels.buttons import Button

Platform = Literal["telegram", "slack"]


@dataclass(frozen=True)
class ChatUser:
    """A person writing to the bot: their platform id, the chat they wrote
    in (``private``: a direct chat with the bot) and the name they show."""

    platform: Platform
    user_id: str
    chat_id: str
    private: bool = False
    name: str = ""

    @property
    def actor(self) -> str:
        """How the audit log names them: ``telegram:<id>`` / ``slack:<id>``."""
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Reply:
    """An answer: ``text`` plain, ``html`` for Telegram's HTML parse mode
    with every label escaped, and buttons. ``refused``: the command did
    nothing (no role, bad arguments); Slack shows it only to the asker."""

    text: str
    html: str
    buttons: tuple[Button, ...] = ()
    refused: bool = False
