"""Store URLs as they may be shown: without passwords."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit


def redact_url(url: str) -> str:
    """``url`` without its password (userinfo or ``password=`` query option)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}@{host}" if user else host
        query = urlencode(
            [(k, v) for k, v in parse_qsl(parts.query) if "password" not in k.lower()]
        )
        redacted = f"{parts.scheme}://{netloc}{parts.path}"
        return redacted + (f"?{query}" if query else "")
    except ValueError:
        return "<unparseable redis URL>"
