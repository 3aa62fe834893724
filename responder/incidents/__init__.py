"""Stages 2 and 3: classify alerts, correlate them into incidents, keep the lifecycle."""
