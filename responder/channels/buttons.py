"""What an Approve / Deny button carries: an opaque, signed, short token.

The token holds the answer (approve or deny), the approval request's id and
an HMAC-SHA256 tag over both, base64url-encoded: about 40 characters,
inside Telegram's 64-byte ``callback_data``. It never names the action or
the target, so a button cannot be edited into another action, and a token
made for one channel does not verify on another (each channel has its own
key, derived from its own secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Verb = Literal["approve", "deny"]
_VERB_BYTE: dict[Verb, bytes] = {"approve": b"A", "deny": b"D"}
_BYTE_VERB: dict[bytes, Verb] = {v: k for k, v in _VERB_BYTE.items()}
_TAG_BYTES = 12
MAX_ID_BYTES = 32


class BadButton(ValueError):
    """A token that was not made here (or was changed on the way)."""


@dataclass(frozen=True)
class Press:
    approval_id: str
    verb: Verb


class ButtonCodec:
    def __init__(self, secret: str, purpose: str) -> None:
        # a key of its own per purpose: the channel secret itself is never
        # used to sign anything the robot puts in a message
        self._key = hmac.new(secret.encode(), f"robot-sre/{purpose}".encode(), "sha256").digest()

    def encode(self, approval_id: str, verb: Verb) -> str:
        raw_id = approval_id.encode("ascii")
        if not 0 < len(raw_id) <= MAX_ID_BYTES:
            raise ValueError(f"approval id of {len(raw_id)} bytes does not fit a button")
        body = _VERB_BYTE[verb] + raw_id
        return base64.urlsafe_b64encode(body + self._tag(body)).decode().rstrip("=")

    def decode(self, token: str) -> Press:
        """The press a token stands for; raises ``BadButton``."""
        if not token or len(token) > 64:
            raise BadButton("not a button token")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise BadButton("not a button token") from exc
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(body) < 2 or not hmac.compare_digest(tag, self._tag(body)):
            raise BadButton("the button's signature does not verify")
        verb = _BYTE_VERB.get(body[:1])
        if verb is None:
            raise BadButton("unknown answer")
        try:
            approval_id = body[1:].decode("ascii")
        except UnicodeDecodeError as exc:
            raise BadButton("not a button token") from exc
        return Press(approval_id, verb)

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]
