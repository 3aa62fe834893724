"""Stage 6: act on decisions — executors per backend behind one protocol,
run with dry-run, cooldowns, locks, timeouts, rollback and an audit trail."""
