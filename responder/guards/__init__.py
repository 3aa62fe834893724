"""Guard rails of gradual automation: pauses, automation modes, blast
radius, storm cooldown, action windows and blocking alerts."""
