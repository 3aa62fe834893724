"""Button tokens: short, opaque, signed, bound to one channel's key."""

from __future__ import annotations

import pytest

from responder.channels.buttons import BadButton, ButtonCodec, Press


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
