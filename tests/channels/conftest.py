"""The channel tests' fixtures (``fixtures/chatops.py``): local Slack and
Telegram APIs spoken to by the real SDKs, and a responder wired to them.

This directory is a package so that this conftest does not take the module
name ``conftest`` from ``tests/conftest.py``."""

from fixtures.chatops import (  # noqa: F401  (fixtures, registered here)
    harness,
    make_harness,
    slack_api,
    telegram_api,
)
