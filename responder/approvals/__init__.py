"""Stage 6b: approval requests for the actions policy says a human must approve."""
