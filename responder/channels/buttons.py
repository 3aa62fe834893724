"""What a chat button carries: an opaque, signed, short token.

The token holds the verb and the id of what it acts on, with an HMAC tag over
both, and fits Telegram's 64-byte ``callback_data``. It never names the action
or the target, so a button cannot be edited into another action, and each
channel has its own key. Which buttons a message gets is decided here too."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal, get_args

Verb = Literal[
    "approve",
    "deny",
    "approve_outside_window",
    "right",
    "false_positive",
    "pause",
    "resume",
]
VERBS: tuple[Verb, ...] = get_args(Verb)
#: verbs that answer an approval request (the others act on an incident or a pause)
APPROVAL_VERBS: frozenset[str] = frozenset({"approve", "deny", "approve_outside_window"})
# the two first bytes keep the tokens of the approval buttons made before
# the other verbs existed valid
_VERB_BYTE: dict[Verb, bytes] = {
    "approve": b"A",
    "deny": b"D",
    "approve_outside_window": b"W",
    "right": b"R",
    "false_positive": b"F",
    "pause": b"P",
    "resume": b"U",
}
_BYTE_VERB: dict[bytes, Verb] = {v: k for k, v in _VERB_BYTE.items()}
_TAG_BYTES = 12
MAX_ID_BYTES = 32

LABELS: dict[Verb, str] = {
    "approve": "Approve",
    "deny": "Deny",
    "approve_outside_window": "Approve outside window",
    "right": "Right",
    "false_positive": "False positive",
    "pause": "Pause automation",
    "resume": "Resume",
}


class BadButton(ValueError):
    """A token that was not made here (or was changed on the way)."""


@dataclass(frozen=True)
class Press:
    """A verified press: ``subject_id`` is an approval request's id for the
    approval verbs, an incident's id for right / false_positive / pause and
    a pause's id for resume."""

    subject_id: str
    verb: Verb

    @property
    def approval_id(self) -> str:
        return self.subject_id


@dataclass(frozen=True)
class Button:
    """One button of a message: pressing it means ``verb`` on ``subject_id``."""

    verb: Verb
    subject_id: str

    @property
    def label(self) -> str:
        return LABELS[self.verb]


def approval_buttons(approval_id: str, outside_window: bool = False) -> tuple[Button, ...]:
    """Approve / Deny, and "Approve outside window" when the action may run
    now only with an approver's override of the action windows."""
    buttons = [Button("approve", approval_id), Button("deny", approval_id)]
    if outside_window:
        buttons.append(Button("approve_outside_window", approval_id))
    return tuple(buttons)


def incident_buttons(incident_id: str) -> tuple[Button, ...]:
    return (Button("pause", incident_id),)


def resolved_buttons(incident_id: str) -> tuple[Button, ...]:
    return (Button("right", incident_id), Button("false_positive", incident_id))


def pause_buttons(pause_id: str) -> tuple[Button, ...]:
    return (Button("resume", pause_id),)


class ButtonCodec:
    def __init__(self, secret: str, purpose: str) -> None:
        # a key of its own per purpose: the channel secret itself is never
        # used to sign anything the robot puts in a message
        self._key = hmac.new(secret.encode(), f"robot-sre/{purpose}".encode(), "sha256").digest()

    def encode(self, subject_id: str, verb: Verb) -> str:
        raw_id = subject_id.encode("ascii")
        if not 0 < len(raw_id) <= MAX_ID_BYTES:
            raise ValueError(f"id of {len(raw_id)} bytes does not fit a button")
        body = _VERB_BYTE[verb] + raw_id
        return base64.urlsafe_b64encode(body + self._tag(body)).decode().rstrip("=")

    def token(self, button: Button) -> str:
        return self.encode(button.subject_id, button.verb)

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
            subject_id = body[1:].decode("ascii")
        except UnicodeDecodeError as exc:
            raise BadButton("not a button token") from exc
        return Press(subject_id, verb)

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]
