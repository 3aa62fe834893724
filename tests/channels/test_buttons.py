"""Button tokens: short, opaque, signed, bound to one channel's key."""

from __future__ import annotations

import base64

import pytest

from responder.channels.buttons import (
    MAX_ID_BYTES,
    VERBS,
    BadButton,
    ButtonCodec,
    Press,
    Verb,
    approval_buttons,
    resolved_buttons,
)


def test_a_token_decodes_to_its_answer_and_request() -> None:
    codec = ButtonCodec("secret", "telegram-callback")
    token = codec.encode("0123456789abcdef", "deny")
    assert codec.decode(token) == Press("0123456789abcdef", "deny")
    assert len(token) <= 64


def test_a_token_of_another_key_does_not_verify() -> None:
    token = ButtonCodec("secret", "slack-button").encode("0123456789abcdef", "approve")
    with pytest.raises(BadButton, match="signature"):
        ButtonCodec("secret", "telegram-callback").decode(token)


@pytest.mark.parametrize("token", ["", "not base64!", "QUJD", "x" * 65])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(BadButton):
        ButtonCodec("secret", "p").decode(token)


def test_an_overlong_request_id_does_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        ButtonCodec("secret", "p").encode("x" * 40, "approve")


def test_approval_buttons_made_before_the_other_verbs_still_verify() -> None:
    # a token as the codec made it when it knew only approve and deny
    made_then = "QTAxMjM0NTY3ODlhYmNkZWYtMDEyM2FiY2ROXyU2xtfqCjImqEY"
    codec = ButtonCodec("secret", "slack-button")
    assert codec.decode(made_then) == Press("0123456789abcdef-0123abcd", "approve")
    assert codec.encode("0123456789abcdef-0123abcd", "approve") == made_then


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_fits_telegram_callback_data_with_the_longest_id(verb: Verb) -> None:
    codec = ButtonCodec("secret", "telegram-callback")
    longest = "p" * MAX_ID_BYTES
    token = codec.encode(longest, verb)
    assert len(token.encode()) <= 64
    assert codec.decode(token) == Press(longest, verb)


def test_the_verb_is_signed_a_right_button_is_no_approve_button() -> None:
    codec = ButtonCodec("secret", "slack-button")
    token = codec.encode("0123456789abcdef", "right")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    approve = base64.urlsafe_b64encode(b"A" + raw[1:]).decode().rstrip("=")
    with pytest.raises(BadButton, match="signature"):
        codec.decode(approve)


def test_the_buttons_each_message_gets() -> None:
    assert [b.label for b in approval_buttons("a1")] == ["Approve", "Deny"]
    assert [b.label for b in approval_buttons("a1", outside_window=True)] == [
        "Approve",
        "Deny",
        "Approve outside window",
    ]
    assert [(b.verb, b.subject_id) for b in resolved_buttons("i1")] == [
        ("right", "i1"),
        ("false_positive", "i1"),
    ]
