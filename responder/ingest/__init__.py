"""Stage 1: accept Alertmanager's webhook, validate it, queue it durably."""
