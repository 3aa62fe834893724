"""A message's text in each platform's markup: Telegram's HTML parse mode
and Slack's mrkdwn. Everything that comes from an alert (labels,
annotations, values) is escaped, so ``<b>``, ``&`` or ``*_[`` in a label
arrive as the characters they are; only our own bold title and links are
markup."""

from __future__ import annotations

import html

from responder.channels.base import Link, OutgoingMessage


def _html(text: str) -> str:
    # the entities Telegram knows: &lt; &gt; &amp; &quot;
    return html.escape(text, quote=False).replace('"', "&quot;")


def telegram_html(message: OutgoingMessage) -> str:
    """The text for ``parse_mode=HTML``: escaped, its title bold (first
    occurrence), its links on a last line."""
    title = message.meta.title
    before, found, after = message.text.partition(title) if title else ("", "", "")
    bold = f"{_html(before)}<b>{_html(title)}</b>{_html(after)}"
    body = bold if found else _html(message.text)
    if message.meta.links:
        links = " · ".join(
            f'<a href="{_html(link.url)}">{_html(link.text)}</a>' for link in message.meta.links
        )
        body = f"{body}\n{links}"
    return body


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters: a value cannot become a
    ``<!channel>`` mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(link: Link) -> str:
    """``<url|text>``, both escaped (and ``|`` kept out of the URL)."""
    url = slack_escape(link.url).replace("|", "%7C")
    return f"<{url}|{slack_escape(link.text).replace('|', '/')}>"


def slack_links(message: OutgoingMessage) -> str:
    """The message's links in mrkdwn, ``""`` when it has none."""
    return " · ".join(slack_link(link) for link in message.meta.links)
