"""The chat console: commands, conversations and linked identities for the
people on call, over Telegram and Slack."""
