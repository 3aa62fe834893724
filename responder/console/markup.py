"""Replies built once for both forms: plain text, and Telegram's HTML with
every label escaped (only <b>, <i>, <code>, <a href>, <pre> are made)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from responder.channels.buttons import Button
from responder.console.reply import Reply


@dataclass(frozen=True)
class Bold:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Link:
    text: str
    url: str


Part = str | Bold | Code | Link


def _text(part: Part) -> str:
    if isinstance(part, Link):
        return f"{part.text} ({part.url})"
    return part if isinstance(part, str) else part.text


def _html(part: Part) -> str:
    if isinstance(part, Bold):
        return f"<b>{html.escape(part.text)}</b>"
    if isinstance(part, Code):
        return f"<code>{html.escape(part.text)}</code>"
    if isinstance(part, Link):
        return f'<a href="{html.escape(part.url, quote=True)}">{html.escape(part.text)}</a>'
    return html.escape(part)


class Page:
    """Lines of parts, rendered to a ``Reply``."""

    def __init__(self) -> None:
        self.lines: list[tuple[Part, ...]] = []

    def line(self, *parts: Part) -> Page:
        self.lines.append(parts)
        return self

    def reply(self, buttons: tuple[Button, ...] = ()) -> Reply:
        return Reply(
            text="\n".join("".join(_text(p) for p in line) for line in self.lines),
            html="\n".join("".join(_html(p) for p in line) for line in self.lines),
            buttons=buttons,
        )


def plain(text: str) -> Reply:
    """A reply without markup: the HTML is the text, escaped."""
    return Reply(text=text, html=html.escape(text))
