"""Stage 4: signals about an incident and what they are worth."""
