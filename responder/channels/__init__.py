"""Stage 8: operator channels (Slack, Telegram, the in-app inbox) with
routing, retries, failover and storm control."""
